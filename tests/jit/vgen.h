/*
 * Random loops of the shapes the JIT's loop vectorizer plans
 * (jit/x86_64_vec.c), and the three-engine check they go through: shared
 * by tests/jit/test_jit_vec.c (seeds) and tools/fuzz/jit_vec_fuzz.c (the
 * fuzzer's bytes drive the choices, through gen.h's rng).
 */
#ifndef BPFVM_TEST_JIT_VGEN_H
#define BPFVM_TEST_JIT_VGEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vm/insn.h"
#include "gen.h"
#include "jit_int.h"
#include "vm.h"

#define VGEN_MEM 4096 /* the input every loop works in */
#define VGEN_MAX 160  /* instructions */

/* jumps: op | class (JMP 0x05, JMP32 0x06) | X (0x08) */
#define J_EQ 0x10
#define J_GT 0x20
#define J_GE 0x30
#define J_NE 0x50
#define J_SGT 0x60
#define J_SGE 0x70
#define J_LT 0xa0
#define J_LE 0xb0
#define J_SLT 0xc0
#define J_SLE 0xd0
#define JK(op, d, i, o) INS((op) | 0x05, d, 0, o, i)
#define JX(op, d, s, o) INS((op) | 0x0d, d, s, o, 0)
#define JK32(op, d, i, o) INS((op) | 0x06, d, 0, o, i)
#define JX32(op, d, s, o) INS((op) | 0x0e, d, s, o, 0)
#define LDX(sz, d, s, o) INS(0x61 | (sz), d, s, o, 0)
#define STX(sz, d, s, o) INS(0x63 | (sz), d, s, o, 0)
#define ST(sz, d, o, i) INS(0x62 | (sz), d, 0, o, i)
#define SZ_W 0x00
#define SZ_H 0x08
#define SZ_B 0x10
#define SZ_DW 0x18

struct vg {
	struct gen_rng r;
	struct bpf_insn p[VGEN_MAX];
	size_t n;
};

static inline uint64_t vg_next(struct vg *g)
{
	return gen_next(&g->r);
}

static inline unsigned vg_pick(struct vg *g, unsigned n)
{
	return (unsigned)(vg_next(g) % n);
}

static inline void emit(struct vg *g, struct bpf_insn in)
{
	if (g->n < VGEN_MAX) /* vg_loop stays far below; a full buffer is a generator bug */
		g->p[g->n++] = in;
	else
		abort();
}

/*
 * One random loop: streams at r6, r7, r8 (some overlapping by a few
 * bytes), addressed by a scaled index r2 (`r4 = r2 << lg; r4 += rS`) or
 * advanced as pointers; data in r0, r1, r5; invariants r9 and constants;
 * r2 counts from i0 to the bound r3 by <, <=, !=, s<, s<= (64 or 32
 * bits); sometimes a side exit.  Accesses stay in VGEN_MEM for every
 * iteration.  The ops include some the vectorizer refuses (div, byte
 * multiplies, right shifts narrower than the op), so refusals are covered too.
 */
static inline void vg_loop(struct vg *g)
{
	static const uint8_t szcode[4] = { SZ_B, SZ_H, SZ_W, SZ_DW };
	unsigned lg = vg_pick(g, 4), E = 1u << lg;
	bool ptr = vg_pick(g, 3) == 0;
	int32_t i0 = (int32_t)vg_pick(g, 4), n = (int32_t)vg_pick(g, 120);
	int32_t iters = n > i0 ? n - i0 : 1;
	int32_t span = (iters + 8) * (int32_t)E;
	int32_t base[3];
	for (int s = 0; s < 3; s++) {
		if (s && vg_pick(g, 2) == 0) /* close to another stream */
			base[s] = base[vg_pick(g, (unsigned)s)] + (int32_t)vg_pick(g, 81) - 40;
		else
			base[s] = 64 + (int32_t)vg_pick(g, (unsigned)(VGEN_MEM - 128 - span));
		if (base[s] < 64 || base[s] + span > VGEN_MEM - 64)
			base[s] = 64 + (int32_t)vg_pick(g, (unsigned)(VGEN_MEM - 128 - span));
	}
	g->n = 0;
	emit(g, STXDW(10, 1, -8)); /* the memory's address: r0 folds in offsets, not pointers */
	for (int s = 0; s < 3; s++) {
		emit(g, MOV64_X(6 + s, 1));
		/* pointer streams start at i0's element */
		emit(g, ALU64_K(OP_ADD, 6 + s, base[s] + (ptr ? i0 * (int32_t)E : 0)));
	}
	uint64_t inv = vg_next(g);
	struct bpf_insn lddw[] = { LDDW(9, inv) };
	emit(g, lddw[0]);
	emit(g, lddw[1]);
	emit(g, MOV64_K(0, (int32_t)vg_next(g)));
	emit(g, MOV64_K(1, (int32_t)vg_next(g)));
	emit(g, MOV64_K(5, (int32_t)vg_next(g)));
	emit(g, MOV64_K(2, i0));
	emit(g, MOV64_K(3, n));
	size_t head = g->n;
	bool def[11] = { false };
	bool carried = vg_pick(g, 8) == 0; /* allow reads of not-yet-written temps */
	int side = vg_pick(g, 4) == 0 ? -1 : 0;
	unsigned items = 1 + vg_pick(g, 7), nstores = 0;
	static const uint8_t temps[3] = { 0, 1, 5 };
	for (unsigned it = 0; it < items + 1 || !nstores; it++) {
		bool last = it >= items;
		unsigned kind = last ? 2 : vg_pick(g, 3);
		int s = (int)vg_pick(g, 3);
		int16_t off = (int16_t)(((int)vg_pick(g, 4) - 1) * (int)E);
		int areg = 6 + s;
		if ((kind == 0 || kind == 2) && !ptr) {
			emit(g, MOV64_X(4, 2));
			if (vg_pick(g, 2))
				emit(g, ALU64_K(OP_LSH, 4, (int32_t)lg));
			else
				emit(g, ALU64_K(OP_MUL, 4, (int32_t)E));
			emit(g, ALU64_X(OP_ADD, 4, 6 + s));
			areg = 4;
		}
		uint8_t t = temps[vg_pick(g, 3)];
		if (kind == 0) { /* load */
			emit(g, LDX(szcode[lg], t, areg, off));
			def[t] = true;
		} else if (kind == 1) { /* alu */
			static const uint8_t ops[] = { OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_OR, OP_XOR, OP_LSH, OP_RSH,
				                       OP_ARSH, OP_NEG, 0xb0 /* mov */, OP_DIV };
			uint8_t op = ops[vg_pick(g, N(ops))];
			bool w32 = vg_pick(g, 2);
			if (!def[t] && !carried && op != 0xb0)
				op = 0xb0;
			unsigned src = vg_pick(g, 5);
			uint8_t sreg = src == 0 ? 9 : src == 1 ? 2 : temps[vg_pick(g, 3)];
			if (src >= 2 && !def[sreg] && !carried)
				sreg = 9;
			uint8_t cls = w32 ? 0x04 : 0x07;
			if (op == OP_NEG)
				emit(g, INS(cls | OP_NEG, t, 0, 0, 0));
			else if (op == OP_LSH || op == OP_RSH || op == OP_ARSH || vg_pick(g, 3) == 0)
				emit(g, INS(cls | op, t, 0, 0, op == OP_DIV ? 7 : (int32_t)vg_pick(g, w32 ? 32 : 64)));
			else
				emit(g, INS(cls | 0x08 | op, t, op == OP_DIV ? 9 : sreg, 0, 0));
			def[t] = true;
		} else { /* store */
			if (vg_pick(g, 4) == 0) {
				emit(g, ST(szcode[lg], areg, off, (int32_t)vg_next(g)));
			} else {
				uint8_t v = def[t] || carried ? t : (vg_pick(g, 2) ? 9 : 2);
				emit(g, STX(szcode[lg], areg, v, off));
			}
			nstores++;
		}
		if (side == 0 && vg_pick(g, 3) == 0 && it < items) {
			if (vg_pick(g, 2)) {
				/* a side exit on the counter, somewhere past i0 */
				side = (int)g->n;
				emit(g, JK(J_EQ, 2, i0 + 1 + (int32_t)vg_pick(g, 60), 0)); /* patched to `out` */
			} else {
				/* on an affine function of the counter, t = r2 * m + c (in r4,
				 * which index addressing recomputes before every access),
				 * 64- or 32-bit, compared any way with a constant or r9 */
				static const int32_t mul[] = { 1, 2, 3, -1, -2, 5, 1 << 20 };
				static const uint8_t ops[] = { J_EQ, J_NE, J_GT, J_GE, J_LT, J_LE, J_SGT, J_SGE, J_SLT, J_SLE };
				bool w = vg_pick(g, 3) == 0;
				emit(g, w ? INS(0xbc, 4, 2, 0, 0) /* w4 = w2 */ : MOV64_X(4, 2));
				emit(g, INS((w ? 0x04 : 0x07) | OP_MUL, 4, 0, 0, mul[vg_pick(g, N(mul))]));
				emit(g, INS((w ? 0x04 : 0x07) | OP_ADD, 4, 0, 0, (int32_t)vg_next(g) >> vg_pick(g, 32)));
				uint8_t op = ops[vg_pick(g, N(ops))], cls = vg_pick(g, 2) ? 0x05 : 0x06;
				side = (int)g->n;
				if (vg_pick(g, 3))
					emit(g, INS(op | cls, 4, 0, 0, (int32_t)vg_next(g) >> vg_pick(g, 32)));
				else
					emit(g, INS(op | cls | 0x08, 4, 9, 0, 0));
			}
		}
	}
	if (ptr)
		for (int s = 0; s < 3; s++)
			emit(g, ALU64_K(OP_ADD, 6 + s, (int32_t)E));
	emit(g, ALU64_K(OP_ADD, 2, 1));
	/* r2 < n in the forms a compiler writes */
	unsigned form = vg_pick(g, 7);
	if (form == 1 && n == 0)
		form = 0; /* r2 <= -1 unsigned: forever */
	bool j32 = vg_pick(g, 3) == 0;
	int32_t rel = -(int32_t)(g->n + 1 - head);
	struct bpf_insn be;
	switch (form) {
	case 0: be = j32 ? JX32(J_LT, 2, 3, rel) : JX(J_LT, 2, 3, rel); break;
	case 1: be = j32 ? JK32(J_LE, 2, n - 1, rel) : JK(J_LE, 2, n - 1, rel); break;
	case 2: be = j32 ? JX32(J_SLT, 2, 3, rel) : JX(J_SLT, 2, 3, rel); break;
	case 3: be = j32 ? JK32(J_SLE, 2, n - 1, rel) : JK(J_SLE, 2, n - 1, rel); break;
	case 4: be = JX(J_GT, 3, 2, rel); break; /* n > r2 */
	case 5: /* `if r2 >= n goto out; goto head`, as clang often writes it */
		emit(g, j32 ? JX32(J_GE, 2, 3, 1) : JX(J_GE, 2, 3, 1));
		be = JA(rel - 1);
		break;
	default: /* != needs the bound ahead of the start */
		be = n > i0 ? (j32 ? JX32(J_NE, 2, 3, rel) : JX(J_NE, 2, 3, rel)) : JX(J_LT, 2, 3, rel);
		break;
	}
	emit(g, be);
	if (side > 0)
		g->p[side].off = (int16_t)(g->n - (size_t)side - 1);
	emit(g, ALU64_X(OP_XOR, 0, 1));
	emit(g, ALU64_X(OP_XOR, 0, 5));
	emit(g, ALU64_X(OP_XOR, 0, 2));
	emit(g, LDXDW(4, 10, -8));
	emit(g, ALU64_X(OP_SUB, 6, 4));
	emit(g, ALU64_X(OP_XOR, 0, 6));
	emit(g, EXIT);
}

/* Runs insns on the interpreter, the JIT and the JIT without the
 * vectorizer, each over its own copy of mem (VGEN_MEM bytes).  0: all
 * agree (*nvloops: loops the JIT vectorized); -1: they differ or a run
 * failed, with what in msg. */
static inline int vgen_diff(bpfvm *vm, const struct bpf_insn *insns, size_t n, const uint8_t *mem,
                            unsigned *nvloops, char *msg, size_t msgsz)
{
	static uint8_t m[3][VGEN_MEM];
	static const char *const name[3] = { "interp", "jit", "jit (no vector)" };
	uint64_t r[3] = { 0 };
	bpfvm_prog *p[3] = { NULL, NULL, NULL };
	int ret = -1;
	for (int k = 0; k < 3; k++) {
		char log[1024] = "";
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log),
		                              .flags = BPFVM_PROG_UNCHECKED | (k == 2 ? BPFVM_PROG_JIT_NO_VECTOR : 0),
		                              .engine = k ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP };
		int err = bpfvm_prog_load(vm, insns, n, &po, &p[k]);
		if (err || (k && bpfvm_prog_engine(p[k]) != BPFVM_ENGINE_JIT)) {
			snprintf(msg, msgsz, "%s: load failed or not JIT'd (%d): %s", name[k], err, log);
			goto out;
		}
		memcpy(m[k], mem, VGEN_MEM);
		if ((err = bpfvm_prog_run(p[k], m[k], VGEN_MEM, &r[k]))) {
			snprintf(msg, msgsz, "%s: run failed (%d)", name[k], err);
			goto out;
		}
	}
	*nvloops = ((const struct jit_image *)p[1]->jit)->nvloops;
	if (((const struct jit_image *)p[2]->jit)->nvloops) {
		snprintf(msg, msgsz, "BPFVM_PROG_JIT_NO_VECTOR: a loop was vectorized");
		goto out;
	}
	for (int k = 1; k < 3; k++) {
		if (r[0] != r[k]) {
			snprintf(msg, msgsz, "r0: interp %#llx, %s %#llx (%u loops vectorized)", (unsigned long long)r[0],
			         name[k], (unsigned long long)r[k], *nvloops);
			goto out;
		}
		for (size_t i = 0; i < VGEN_MEM; i++)
			if (m[0][i] != m[k][i]) {
				snprintf(msg, msgsz, "byte %zu: interp %#x, %s %#x (%u loops vectorized)", i, m[0][i],
				         name[k], m[k][i], *nvloops);
				goto out;
			}
	}
	ret = 0;
out:
	for (int k = 0; k < 3; k++)
		if (p[k])
			bpfvm_prog_put(p[k]);
	return ret;
}

#endif
