/*
 * Review of the loop vectorizer (jit/x86_64_vec.c): hand-written loops
 * aimed at its corners, and a second random generator with more loop
 * shapes (several induction variables and steps, every compare form and
 * operand order, derived and 32-bit compared values, JA back edges, side
 * exits anywhere, shifts past the lane width) than test_jit_vec.c's.
 *
 * Every program runs on the interpreter, the JIT and the JIT with
 * BPFVM_PROG_JIT_NO_VECTOR over copies of a 4 KiB buffer that has a
 * PROT_NONE page on each side (an access past the buffer faults), and
 * they must agree on r0 and every byte.  Random programs are first run on
 * the checked interpreter (insn budget, bounds checks) and skipped if they
 * run away or touch memory outside the buffer.
 *
 * review_random runs seeds 1..3000, or 1..$VEC_SEEDS; VEC_SEED=N runs only
 * seed N and prints its program.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "asm.h"
#include "vgen.h" /* the jump and memory macros */

#define MEM 4096

#define MOV32_X(d, s) INS(0xbc, d, s, 0, 0)
#define NEG64(d) INS(0x87, d, 0, 0, 0)
#define NEG32(d) INS(0x84, d, 0, 0, 0)

static bpfvm *vm;
static uint8_t *bufs[4]; /* interp, jit, jit no-vector, checked interp */

static uint8_t *guarded(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)(MEM + 2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	cr_assert_eq(mprotect(m, (size_t)pg, PROT_NONE), 0);
	cr_assert_eq(mprotect(m + pg + MEM, (size_t)pg, PROT_NONE), 0);
	return m + pg;
}

static void setup(void)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	for (int k = 0; k < 4; k++)
		bufs[k] = guarded();
}

static void teardown(void)
{
	bpfvm_destroy(vm);
}

TestSuite(vec_review, .init = setup, .fini = teardown);

static bpfvm_prog *load(const struct bpf_insn *insns, size_t n, uint32_t engine, uint32_t flags)
{
	char log[4096] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = flags ? flags : BPFVM_PROG_UNCHECKED, .engine = engine,
	                              .log_buf = log, .log_size = sizeof(log), .insn_budget = 200000 };
	if (flags & BPFVM_PROG_JIT_NO_VECTOR)
		po.flags |= BPFVM_PROG_UNCHECKED;
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	if (engine == BPFVM_ENGINE_JIT)
		cr_assert_eq(bpfvm_prog_engine(p), BPFVM_ENGINE_JIT, "not JIT'd: %s", log);
	return p;
}

static void dump(const struct bpf_insn *insns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char t[128];
		vm_disasm_insn(insns, n, i, t, sizeof(t));
		fprintf(stderr, "%3zu: %s\n", i, t);
	}
}

/* Checked interpreter run: false when the program faults or runs away. */
static bool runs_clean(const struct bpf_insn *insns, size_t n, const uint8_t *mem)
{
	bpfvm_prog *p = load(insns, n, BPFVM_ENGINE_INTERP, BPFVM_PROG_NO_VERIFY);
	memcpy(bufs[3], mem, MEM);
	uint64_t r0;
	int rc = bpfvm_prog_run(p, bufs[3], MEM, &r0);
	bpfvm_prog_put(p);
	return rc == 0;
}

/* Runs insns on the three engines over copies of mem; returns how many
 * loops the JIT vectorized.  soft: report a difference with cr_expect and
 * return UINT32_MAX rather than stop. */
static unsigned diff3x(const struct bpf_insn *insns, size_t n, const uint8_t *mem, const char *what, bool soft)
{
	uint64_t r[3] = { 0 };
	bpfvm_prog *p[3] = { load(insns, n, BPFVM_ENGINE_INTERP, 0), load(insns, n, BPFVM_ENGINE_JIT, 0),
		             load(insns, n, BPFVM_ENGINE_JIT, BPFVM_PROG_JIT_NO_VECTOR) };
	for (int k = 0; k < 3; k++) {
		memcpy(bufs[k], mem, MEM);
		cr_assert_eq(bpfvm_prog_run(p[k], bufs[k], MEM, &r[k]), 0, "%s: engine %d failed", what, k);
	}
	const struct jit_image *img = p[1]->jit;
	unsigned nv = img->nvloops;
	bool bad = false;
	for (int k = 1; k < 3 && !bad; k++) {
		if (r[0] != r[k]) {
			bad = true;
			cr_expect_eq(r[0], r[k], "%s: r0 interp %#llx, %s %#llx (%u loops vectorized)", what,
			             (unsigned long long)r[0], k == 1 ? "jit" : "jit (no vector)", (unsigned long long)r[k], nv);
		}
		for (size_t i = 0; i < MEM && !bad; i++)
			if (bufs[0][i] != bufs[k][i]) {
				bad = true;
				cr_expect_eq(bufs[0][i], bufs[k][i], "%s: byte %zu: interp %#x, %s %#x (%u loops vectorized)",
				             what, i, bufs[0][i], k == 1 ? "jit" : "jit (no vector)", bufs[k][i], nv);
			}
	}
	for (int k = 0; k < 3; k++)
		bpfvm_prog_put(p[k]);
	if (bad && !soft)
		cr_assert_fail("%s: engines differ", what);
	return bad ? UINT32_MAX : nv;
}

static unsigned diff3(const struct bpf_insn *insns, size_t n, const uint8_t *mem, const char *what)
{
	return diff3x(insns, n, mem, what, false);
}

static void fill_mem(uint8_t *mem, uint64_t seed)
{
	for (size_t i = 0; i < MEM; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		mem[i] = (uint8_t)(seed >> 56);
	}
}

#define EXPECT_VEC(nv, want, what)                                                                          \
	do {                                                                                                \
		if (jit_x86_vec_supported())                                                               \
			cr_expect_eq((nv), (want), "%s: %u loops vectorized, expected %u", (what), (nv), (want)); \
	} while (0)

/* ---- hand-written loops ---- */

/*
 * BUG (fails): the trip check's span a*(W-1) overflows int64 and the
 * overflow test `span / x.f.a != lanes - 1` in plan_jump is undefined
 * behaviour that gcc -O2 folds away (no idiv in the object).  Three
 * induction variables with steps 0x15555555, 0x1555 and 0x55556 make
 * x = (r2 << 34) + (r3 << 20) + r5 advance by a = 0x5555555555555556 per
 * iteration; 3a wraps to 2, so the exit is planned with span 2: the chunk
 * thinks x stays in [X, X+2] and runs 4 iterations where the scalar loop
 * stops after 2.
 */
Test(vec_review, span_overflow_wraps_into_imm32)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 11);
	struct bpf_insn prog[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), MOV64_K(2, 0), MOV64_K(3, 0), MOV64_K(5, 0),
		LDDW(9, 0x6000000000000000ull),
		/* loop (7): */
		LDX(SZ_DW, 0, 6, 0), ALU64_K(OP_ADD, 0, 1), STX(SZ_DW, 6, 0, 0), ALU64_K(OP_ADD, 6, 8),
		ALU64_K(OP_ADD, 2, 0x15555555), ALU64_K(OP_ADD, 3, 0x1555), ALU64_K(OP_ADD, 5, 0x55556),
		MOV64_X(4, 2), ALU64_K(OP_LSH, 4, 34), MOV64_X(7, 3), ALU64_K(OP_LSH, 7, 20), ALU64_X(OP_ADD, 4, 7),
		ALU64_X(OP_ADD, 4, 5), JX(J_LT, 4, 9, -14),
		/* out: how many iterations ran */
		MOV64_X(0, 5), EXIT,
	};
	diff3(prog, N(prog), mem, "span overflow");
}

/* ---- random loops, more shapes ---- */

struct rv {
	uint64_t s;
	bool wild;
	struct bpf_insn p[200];
	size_t n;
};

static uint64_t rv_next(struct rv *g)
{
	g->s += 0x9e3779b97f4a7c15ull;
	uint64_t z = g->s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rv_pick(struct rv *g, unsigned n)
{
	return (unsigned)(rv_next(g) % n);
}

static void rv_emit(struct rv *g, struct bpf_insn in)
{
	cr_assert_lt(g->n, N(g->p));
	g->p[g->n++] = in;
}

static void emit_lddw(struct rv *g, uint8_t r, uint64_t v)
{
	struct bpf_insn l[] = { LDDW(r, v) };
	rv_emit(g, l[0]);
	rv_emit(g, l[1]);
}

static const uint8_t jops[10] = { J_EQ, J_NE, J_GT, J_GE, J_LT, J_LE, J_SGT, J_SGE, J_SLT, J_SLE };

/* A compare `if rD op (rS|imm) goto +0` (patched later); 32-bit
 * sometimes, operands sometimes swapped (the bound in dst). */
static struct bpf_insn rv_cmp(struct rv *g, uint8_t op, uint8_t xr, uint8_t br, int32_t imm, bool use_reg, bool j32,
                              bool swap)
{
	static const uint8_t sw[256] = {
		[J_EQ] = J_EQ, [J_NE] = J_NE, [J_GT] = J_LT, [J_LT] = J_GT, [J_GE] = J_LE, [J_LE] = J_GE,
		[J_SGT] = J_SLT, [J_SLT] = J_SGT, [J_SGE] = J_SLE, [J_SLE] = J_SGE,
	};
	(void)g;
	if (use_reg && swap)
		return j32 ? JX32(sw[op], br, xr, 0) : JX(sw[op], br, xr, 0);
	if (use_reg)
		return j32 ? JX32(op, xr, br, 0) : JX(op, xr, br, 0);
	return j32 ? JK32(op, xr, imm, 0) : JK(op, xr, imm, 0);
}

/*
 * Registers: r2 a counter (step s), r3 bound / invariant, r9 invariant,
 * r6-r8 streams (pointer IVs of step E, or bases with index addressing
 * through r1), r0 r4 r5 data temporaries.  The loop's controlling test
 * is on r2 or on a value derived from it (scaled, offset, 32-bit), as a
 * back edge or as `if !cond goto out; goto head`; side exits anywhere.
 * Programs the checked interpreter rejects (runaway, out of bounds) are
 * skipped.
 */
static void vg2_loop(struct rv *g)
{
	static const uint8_t szcode[4] = { SZ_B, SZ_H, SZ_W, SZ_DW };
	unsigned lg = rv_pick(g, 4), E = 1u << lg;
	bool ptr = rv_pick(g, 2) == 0;
	static const int32_t steps[] = { 1, 1, 1, 2, 3, -1, -1, -2, 5, 1 };
	int32_t s = steps[rv_pick(g, N(steps))];
	int32_t iters = (int32_t)rv_pick(g, 90);
	/* where the counter starts: small, near 2^32, near 2^63, near 2^64 */
	static const uint64_t starts[] = { 0, 7, 0xfffffff0ull, 0x7ffffffffffffff0ull, 0xfffffffffffffff0ull,
		                           0x80000000ull - 16, 0xffffffff00000000ull };
	uint64_t i0 = starts[rv_pick(g, N(starts))] + rv_pick(g, 40) - 20;
	uint64_t end = i0 + (uint64_t)(int64_t)s * (uint64_t)iters;
	int32_t span = (iters + 8) * (int32_t)E;
	int32_t base[3];
	for (int k = 0; k < 3; k++) {
		unsigned where = rv_pick(g, 6);
		if (k && where == 0)
			base[k] = base[rv_pick(g, (unsigned)k)] + (int32_t)rv_pick(g, 81) - 40;
		else if (where == 1) /* flush with the end of the buffer */
			base[k] = MEM - span + 7 * (int32_t)E - (int32_t)E;
		else if (where == 2) /* at the start */
			base[k] = (int32_t)E;
		else
			base[k] = 64 + (int32_t)rv_pick(g, (unsigned)(MEM - 128 - span > 0 ? MEM - 128 - span : 1));
		if (base[k] < (int32_t)E)
			base[k] = (int32_t)E;
	}
	g->n = 0;
	rv_emit(g, STXDW(10, 1, -8));
	for (int k = 0; k < 3; k++) {
		rv_emit(g, MOV64_X(6 + k, 1));
		rv_emit(g, ALU64_K(OP_ADD, 6 + k, base[k]));
	}
	emit_lddw(g, 9, rv_next(g));
	emit_lddw(g, 2, i0);
	emit_lddw(g, 3, end);
	rv_emit(g, MOV64_K(0, (int32_t)rv_next(g)));
	rv_emit(g, MOV64_K(4, (int32_t)rv_next(g)));
	rv_emit(g, MOV64_K(5, (int32_t)rv_next(g)));
	size_t head = g->n;
	bool def[11] = { false };
	bool carried = rv_pick(g, 10) == 0;
	static const uint8_t temps[3] = { 0, 4, 5 };
	unsigned items = 1 + rv_pick(g, 8), nstores = 0;
	size_t sides[5]; /* up to 4 side exits in the body, and the JA form's exit */
	unsigned nsides = 0;
	bool ctr_done = false;
	unsigned ctr_at = rv_pick(g, items + 2); /* where r2 is stepped */
	for (unsigned it = 0; it < items + 1 || !nstores; it++) {
		if (it == ctr_at && !ctr_done) {
			rv_emit(g, ALU64_K(s > 0 ? OP_ADD : OP_SUB, 2, s > 0 ? s : -s));
			ctr_done = true;
		}
		bool last = it >= items;
		unsigned kind = last ? 2 : rv_pick(g, 4);
		int k = (int)rv_pick(g, 3);
		int16_t off = (int16_t)(((int)rv_pick(g, 3) - 1) * (int)E);
		int areg = 6 + k;
		if ((kind == 0 || kind == 2) && !ptr) {
			rv_emit(g, MOV64_X(1, 2));
			if (s < 0 || rv_pick(g, 4) == 0) /* a falling index: refused, still must run right */
				rv_emit(g, ALU64_K(OP_MUL, 1, (int32_t)E));
			else
				rv_emit(g, ALU64_K(OP_LSH, 1, (int32_t)lg));
			rv_emit(g, ALU64_X(OP_ADD, 1, 6 + k));
			areg = 1;
			int64_t ie = (int64_t)(i0 * (uint64_t)E); /* wraps as the register does; often not 16-bit */
			off = (int16_t)(off - (int16_t)ie);
			if (ie != (int16_t)ie)
				off = 0;
		}
		uint8_t t = temps[rv_pick(g, 3)];
		if (kind == 0) {
			rv_emit(g, LDX(szcode[lg], t, areg, off));
			def[t] = true;
		} else if (kind == 1 || kind == 3) {
			static const uint8_t ops[] = { OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_OR, OP_XOR, OP_LSH, OP_RSH,
				                       OP_ARSH, OP_NEG, 0xb0, 0xb0 };
			uint8_t op = ops[rv_pick(g, N(ops))];
			bool w32 = rv_pick(g, 2);
			if (!def[t] && !carried && op != 0xb0)
				op = 0xb0;
			unsigned src = rv_pick(g, 6);
			uint8_t sreg = src == 0 ? 9 : src == 1 || src == 2 ? 2 : src == 3 ? 3 : temps[rv_pick(g, 3)];
			if (src >= 4 && !def[sreg] && !carried)
				sreg = 9;
			uint8_t cls = w32 ? 0x04 : 0x07;
			if (op == OP_NEG)
				rv_emit(g, INS(cls | OP_NEG, t, 0, 0, 0));
			else if (op == OP_LSH || op == OP_RSH || op == OP_ARSH)
				rv_emit(g, INS(cls | op, t, 0, 0, (int32_t)rv_pick(g, 70)));
			else if (rv_pick(g, 3) == 0)
				rv_emit(g, INS(cls | op, t, 0, 0, (int32_t)rv_next(g) >> rv_pick(g, 32)));
			else
				rv_emit(g, INS(cls | 0x08 | op, t, sreg, 0, 0));
			def[t] = true;
		} else {
			if (rv_pick(g, 4) == 0) {
				rv_emit(g, ST(szcode[lg], areg, off, (int32_t)rv_next(g)));
			} else {
				uint8_t v = def[t] || carried ? t : (rv_pick(g, 2) ? 9 : 2);
				rv_emit(g, STX(szcode[lg], areg, v, off));
			}
			nstores++;
		}
		if (nsides < N(sides) - 1 && rv_pick(g, 5) == 0 && !last) {
			/* a side exit on r2 (or r2 derived into r1) */
			uint8_t op = jops[rv_pick(g, 10)];
			uint64_t k2 = i0 + (uint64_t)(int64_t)s * rv_pick(g, (unsigned)iters + 3);
			uint8_t xr = 2;
			if (rv_pick(g, 3) == 0) {
				rv_emit(g, rv_pick(g, 2) ? MOV32_X(1, 2) : MOV64_X(1, 2));
				rv_emit(g, ALU64_K(OP_ADD, 1, (int32_t)rv_pick(g, 100)));
				xr = 1;
			}
			bool use_reg = rv_pick(g, 2);
			if (use_reg) {
				rv_emit(g, rv_pick(g, 3) ? MOV64_X(1, 2) : MOV64_X(1, 3));
				/* the bound: an invariant register holding k2 is r3 itself
				 * in half the cases, else r9 */
			}
			sides[nsides++] = g->n;
			rv_emit(g, rv_cmp(g, op, xr, use_reg ? (rv_pick(g, 2) ? 3 : 9) : 0, (int32_t)k2, use_reg,
			               rv_pick(g, 3) == 0, rv_pick(g, 2)));
		}
	}
	if (!ctr_done)
		rv_emit(g, ALU64_K(s > 0 ? OP_ADD : OP_SUB, 2, s > 0 ? s : -s));
	if (ptr)
		for (int k = 0; k < 3; k++)
			rv_emit(g, ALU64_K(OP_ADD, 6 + k, (int32_t)E));
	/* the controlling test: continue while r2 P end */
	uint8_t xr = 2;
	int32_t bias = 0;
	unsigned form = rv_pick(g, 8);
	if (g->wild) {
		/* x = c * r2 + d (maybe 32-bit), bound = c * end + d + small, any
		 * compare: the checked interpreter drops the runaways */
		static const int32_t cs[] = { 1, 2, 3, -1, -2, 4, 8, 16, 1 << 20, 5 };
		int32_t c = cs[rv_pick(g, N(cs))], d = (int32_t)rv_pick(g, 64) - 32;
		bool w = rv_pick(g, 3) == 0;
		rv_emit(g, w ? MOV32_X(4, 2) : MOV64_X(4, 2));
		rv_emit(g, ALU64_K(OP_MUL, 4, c));
		rv_emit(g, ALU64_K(OP_ADD, 4, d));
		rv_emit(g, MOV64_X(1, 3));
		rv_emit(g, ALU64_K(OP_MUL, 1, c));
		rv_emit(g, ALU64_K(OP_ADD, 1, d + (int32_t)rv_pick(g, 8) - 4));
		uint8_t op = jops[rv_pick(g, 10)];
		bool j32 = rv_pick(g, 2) == 0, swap = rv_pick(g, 2), ja = rv_pick(g, 3) == 0, imm = rv_pick(g, 4) == 0;
		static const uint8_t neg[256] = {
			[J_EQ] = J_NE, [J_NE] = J_EQ, [J_LT] = J_GE, [J_GE] = J_LT, [J_GT] = J_LE, [J_LE] = J_GT,
			[J_SLT] = J_SGE, [J_SGE] = J_SLT, [J_SGT] = J_SLE, [J_SLE] = J_SGT,
		};
		int32_t bimm = (int32_t)((uint64_t)end * (uint64_t)(int64_t)c + (uint64_t)(int64_t)d);
		if (ja) {
			sides[nsides++] = g->n;
			rv_emit(g, rv_cmp(g, neg[op], 4, 1, bimm, !imm, j32, swap));
			rv_emit(g, JA(-(int16_t)(g->n + 1 - head)));
		} else {
			struct bpf_insn be = rv_cmp(g, op, 4, 1, bimm, !imm, j32, swap);
			be.off = (int16_t)-(int16_t)(g->n + 1 - head);
			rv_emit(g, be);
		}
		goto tail;
	}
	if (form == 0) { /* a derived value: r4 = r2 * 3 + 11 (or 32-bit) */
		bool w = rv_pick(g, 2);
		rv_emit(g, w ? MOV32_X(4, 2) : MOV64_X(4, 2));
		bias = 11;
		rv_emit(g, ALU64_K(OP_ADD, 4, bias));
		xr = 4;
		rv_emit(g, MOV64_X(1, 3));
		rv_emit(g, ALU64_K(OP_ADD, 1, bias));
	}
	uint8_t br = form == 0 ? 1 : 3;
	uint8_t op;
	unsigned pick = rv_pick(g, 4);
	if (pick == 0)
		op = J_NE;
	else if (s > 0)
		op = pick == 1 ? J_LT : pick == 2 ? J_SLT : J_LT;
	else
		op = pick == 1 ? J_GT : pick == 2 ? J_SGT : J_GT;
	bool j32 = rv_pick(g, 3) == 0;
	bool swap = rv_pick(g, 2);
	bool ja = rv_pick(g, 3) == 0;
	if (ja) {
		/* if !(x P b) goto out; goto head */
		static const uint8_t neg[256] = {
			[J_NE] = J_EQ, [J_LT] = J_GE, [J_SLT] = J_SGE, [J_GT] = J_LE, [J_SGT] = J_SLE,
		};
		sides[nsides++] = g->n;
		rv_emit(g, rv_cmp(g, neg[op], xr, br, 0, true, j32, swap));
		rv_emit(g, JA(-(int16_t)(g->n + 1 - head)));
	} else {
		struct bpf_insn be = rv_cmp(g, op, xr, br, 0, true, j32, swap);
		be.off = (int16_t)-(int16_t)(g->n + 1 - head);
		rv_emit(g, be);
	}
tail:
	for (unsigned k = 0; k < nsides; k++)
		g->p[sides[k]].off = (int16_t)(g->n - sides[k] - 1);
	rv_emit(g, ALU64_X(OP_XOR, 0, 4));
	rv_emit(g, ALU64_K(OP_LSH, 0, 1));
	rv_emit(g, ALU64_X(OP_XOR, 0, 5));
	rv_emit(g, ALU64_K(OP_LSH, 0, 1));
	rv_emit(g, ALU64_X(OP_XOR, 0, 2));
	rv_emit(g, LDXDW(4, 10, -8));
	rv_emit(g, ALU64_X(OP_SUB, 6, 4));
	rv_emit(g, ALU64_K(OP_LSH, 0, 1));
	rv_emit(g, ALU64_X(OP_XOR, 0, 6));
	rv_emit(g, EXIT);
}

static void random_run(bool wild, unsigned deflt)
{
	static uint8_t mem[MEM];
	unsigned vectorized = 0, ran = 0, bad = 0;
	unsigned total = getenv("VEC_SEEDS") ? (unsigned)atoi(getenv("VEC_SEEDS")) : deflt;
	unsigned first = getenv("VEC_FIRST") ? (unsigned)atoi(getenv("VEC_FIRST")) : 1;
	const char *only = getenv("VEC_SEED");
	for (unsigned seed = first; seed < first + total; seed++) {
		struct rv g = { .s = seed * 0x2545f4914f6cdd1dull + 77, .wild = wild };
		vg2_loop(&g);
		if (only && (unsigned)atoi(only) != seed)
			continue;
		if (only)
			dump(g.p, g.n);
		fill_mem(mem, seed);
		if (!runs_clean(g.p, g.n, mem))
			continue;
		ran++;
		char what[64];
		snprintf(what, sizeof(what), "seed %u", seed);
		unsigned nv = diff3x(g.p, g.n, mem, what, true);
		if (nv == UINT32_MAX) {
			bad++;
			if (bad <= 5 && !only)
				fprintf(stderr, "seed %u differs\n", seed);
		} else {
			vectorized += nv != 0;
		}
	}
	cr_log_info("random loops (%s): %u run, %u vectorized, %u differ", wild ? "wild" : "plain", ran, vectorized, bad);
	fprintf(stderr, "random loops (%s): %u run, %u vectorized, %u differ\n", wild ? "wild" : "plain", ran, vectorized,
	        bad);
}

Test(vec_review, random_loops_2, .timeout = 600)
{
	random_run(false, 3000);
}

/* Derived controlling values (c * r2 + d, 32-bit sometimes) and every
 * compare, operand order, imm or register bound. */
Test(vec_review, random_loops_wild, .timeout = 600)
{
	random_run(true, 3000);
}

/* A loop at a subprogram's first instruction (calls land on the
 * prologue, which falls into the vector block), called three times. */
Test(vec_review, loop_at_subprogram_start)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 12);
	static const int32_t ns[] = { 1, 7, 8, 9, 33, 64 };
	for (unsigned t = 0; t < N(ns); t++) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), MOV64_K(7, 0),
			MOV64_X(1, 6), ALU64_K(OP_ADD, 1, 512), MOV64_K(2, ns[t]), CALL_LOCAL(13), ALU64_X(OP_XOR, 7, 0),
			MOV64_X(1, 6), ALU64_K(OP_ADD, 1, 520), MOV64_K(2, ns[t] + 3), CALL_LOCAL(8), ALU64_X(OP_XOR, 7, 0),
			MOV64_X(1, 6), ALU64_K(OP_ADD, 1, 1000), MOV64_K(2, 1), CALL_LOCAL(3), ALU64_X(OP_XOR, 7, 0),
			MOV64_X(0, 7), EXIT,
			/* sub (19): the loop head */
			LDX(SZ_W, 0, 1, 0), ALU32_K(OP_ADD, 0, 7), STX(SZ_W, 1, 0, 1024), ALU64_K(OP_ADD, 1, 4),
			ALU64_K(OP_SUB, 2, 1), JK(J_NE, 2, 0, -6), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "n=%d", ns[t]);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* An inner loop entered ten times by a scalar outer loop, its store
 * sliding over its load (the alias check once per entry: rows 5-9
 * overlap within a chunk). */
Test(vec_review, inner_loop_reentered)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 13);
	for (int32_t n = 1; n <= 70; n += 23) {
		struct bpf_insn prog[] = {
			MOV64_X(8, 1), MOV64_K(7, 0),
			/* outer (2): */
			MOV64_K(2, 0), MOV64_X(4, 7), ALU64_K(OP_MUL, 4, 5), ALU64_X(OP_ADD, 4, 8), ALU64_K(OP_ADD, 4, 40),
			MOV64_X(5, 8), ALU64_K(OP_ADD, 5, 64),
			/* inner (9): */
			LDX(SZ_B, 0, 5, 0), ALU64_X(OP_ADD, 0, 7), STX(SZ_B, 4, 0, 0), ALU64_K(OP_ADD, 4, 1),
			ALU64_K(OP_ADD, 5, 1), ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, n, -7),
			ALU64_K(OP_ADD, 7, 1), JK(J_LT, 7, 10, -16),
			MOV64_X(0, 2), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "n=%d", n);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* Loop A's side exit jumps to loop B's head (B's vector block), and A's
 * normal exit falls into B. */
Test(vec_review, side_exit_into_another_loop)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 14);
	for (int32_t k = 0; k < 80; k += 9) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 2048), MOV64_K(2, 0), MOV64_K(3, 0),
			/* A (5): */
			LDX(SZ_H, 0, 6, 0), JK(J_EQ, 2, k, 5), ALU32_K(OP_XOR, 0, 0x1234), STX(SZ_H, 6, 0, 1024),
			ALU64_K(OP_ADD, 6, 2), ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 64, -7),
			/* B (12): */
			LDX(SZ_H, 0, 7, 0), ALU64_K(OP_LSH, 0, 3), STX(SZ_H, 7, 0, 0), ALU64_K(OP_ADD, 7, 2),
			ALU64_K(OP_ADD, 3, 1), JK(J_LT, 3, 50, -6),
			ALU64_X(OP_XOR, 0, 2), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "k=%d", k);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 2u, what);
	}
}

/* matmul's clang shape with every temporary dead after the loop, so the
 * peephole plan folds `r1 = r8; r1 += r2` into the read-modify-write
 * `add dword [r8 + r2], r9d` (no register write at all in the body but
 * r2's), and a while loop (exit test first, JA back edge) that writes
 * only induction variables. */
Test(vec_review, planned_sequences_in_the_body)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 15);
	for (int32_t n = 0; n <= 160; n += 17) {
		struct bpf_insn rmw[] = {
			MOV64_X(8, 1), ALU64_K(OP_ADD, 8, 1000), MOV64_K(9, 0x01020304), MOV64_K(2, 0),
			MOV64_X(1, 8), ALU64_X(OP_ADD, 1, 2), LDX(SZ_W, 0, 1, 0), ALU32_X(OP_ADD, 0, 9), STX(SZ_W, 1, 0, 0),
			ALU64_K(OP_ADD, 2, 4), JK(J_LT, 2, n * 4, -7),
			MOV64_X(0, 2), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "rmw n=%d", n);
		EXPECT_VEC(diff3(rmw, N(rmw), mem, what), 1u, what);
		struct bpf_insn wh[] = {
			MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 3), MOV64_K(2, 0), LDDW(9, 0x1122334455667788ull),
			/* head (5): */
			JK(J_GE, 2, n, 5), STX(SZ_DW, 6, 9, 0), ALU64_K(OP_ADD, 6, 8), ALU64_K(OP_ADD, 2, 1),
			ALU64_K(OP_SUB, 9, 0), JA(-6),
			MOV64_X(0, 2), EXIT,
		};
		snprintf(what, sizeof(what), "while n=%d", n);
		EXPECT_VEC(diff3(wh, N(wh), mem, what), 1u, what);
	}
}

/* u64 read-modify-write of one stream from another at every byte
 * distance in [-40, 40]: partial overlaps. */
Test(vec_review, u64_partial_overlaps)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 16);
	for (int32_t d = -40; d <= 40; d++) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 1024), MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 1024 + d), MOV64_K(2, 0),
			LDX(SZ_DW, 0, 6, 0), LDX(SZ_DW, 4, 7, 0), ALU64_X(OP_XOR, 4, 0), ALU64_K(OP_ADD, 4, 3),
			STX(SZ_DW, 7, 4, 0), ALU64_K(OP_ADD, 6, 8), ALU64_K(OP_ADD, 7, 8), ALU64_K(OP_ADD, 2, 1),
			JK(J_LT, 2, 21, -9),
			MOV64_X(0, 4), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "d=%d", d);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* Two addresses with the same registers whose constant parts are near
 * INT64_MAX and INT64_MIN: 8 bytes apart modulo 2^64 (a carried
 * dependence a[i+1] = a[i] + 1), but c_y - c_x overflows int64 in
 * plan_loop's same-terms distance. */
Test(vec_review, same_terms_distance_across_int64_wrap)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 17);
	struct bpf_insn prog[] = {
		MOV64_X(6, 1), LDDW(9, 0x8000000000000008ull), ALU64_X(OP_ADD, 6, 9), ALU64_K(OP_ADD, 6, 1024),
		MOV64_K(2, 0),
		/* loop (6): */
		MOV64_K(4, 1), ALU64_K(OP_LSH, 4, 60), ALU64_K(OP_SUB, 4, 1),
		MOV64_X(3, 2), ALU64_X(OP_ADD, 3, 4), ALU64_K(OP_LSH, 3, 3), ALU64_X(OP_ADD, 3, 6),
		LDX(SZ_DW, 0, 3, 0), ALU64_K(OP_ADD, 0, 1),
		MOV64_K(5, 1), ALU64_K(OP_LSH, 5, 63),
		MOV64_X(4, 2), ALU64_K(OP_LSH, 4, 3), ALU64_X(OP_ADD, 4, 6), ALU64_X(OP_ADD, 4, 5),
		STX(SZ_DW, 4, 0, 0),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 20, -18),
		MOV64_X(0, 2), EXIT,
	};
	EXPECT_VEC(diff3(prog, N(prog), mem, "int64 wrap distance 8"), 0u, "int64 wrap distance 8");
	/* 40 bytes apart across the wrap: no dependence within a chunk */
	struct bpf_insn p2[N(prog) + 1];
	memcpy(p2, prog, 17 * sizeof(prog[0]));
	p2[17] = ALU64_K(OP_ADD, 5, 32);
	memcpy(p2 + 18, prog + 17, (N(prog) - 17) * sizeof(prog[0]));
	p2[24].off = -19;
	EXPECT_VEC(diff3(p2, N(p2), mem, "int64 wrap distance 40"), 1u, "int64 wrap distance 40");
}

/* Many lane-offset constants (one per distinct a: a*k for k < W) and
 * many vector values (ymm8-14 need VEX.R/B): u16 lanes, a[i] = b[i] ^
 * 3i + 5i ^ 7i ..., with nconst multipliers (each takes two of the 15
 * ymm values: 7 fit, 8 and 9 stay scalar). */
Test(vec_review, many_constants_and_values)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 18);
	for (unsigned nconst = 1; nconst <= 9; nconst++) {
		struct bpf_insn p[80];
		size_t n = 0;
		p[n++] = MOV64_X(6, 1);
		p[n++] = ALU64_K(OP_ADD, 6, 128);
		p[n++] = MOV64_X(7, 1);
		p[n++] = ALU64_K(OP_ADD, 7, 2048);
		p[n++] = MOV64_K(2, 0);
		size_t head = n;
		p[n++] = LDX(SZ_H, 0, 6, 0);
		for (unsigned c = 0; c < nconst; c++) {
			p[n++] = MOV64_X(4, 2);
			p[n++] = ALU64_K(OP_MUL, 4, (int32_t)(3 + 2 * c));
			p[n++] = ALU64_X(c & 1 ? OP_ADD : OP_XOR, 0, 4);
		}
		p[n++] = STX(SZ_H, 7, 0, 0);
		p[n++] = ALU64_K(OP_ADD, 6, 2);
		p[n++] = ALU64_K(OP_ADD, 7, 2);
		p[n++] = ALU64_K(OP_ADD, 2, 1);
		p[n] = JK(J_LT, 2, 77, 0);
		p[n].off = (int16_t)(head - n - 1);
		n++;
		p[n++] = MOV64_X(0, 2);
		p[n++] = EXIT;
		char what[64];
		snprintf(what, sizeof(what), "nconst=%u", nconst);
		EXPECT_VEC(diff3(p, n, mem, what), nconst <= 7 ? 1u : 0u, what); /* 1 + 2 * nconst ymm values of 15 */
	}
}

/* Entries other than the fall-through: a gotol (JA32) to the head, and a
 * side exit that jumps back before the head and falls into the loop again
 * (a fresh entry: the alias checks and broadcasts run again). */
Test(vec_review, other_entries)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 19);
	for (int32_t k = 3; k < 90; k += 11) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 100), MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 1500), MOV64_K(2, 0),
			MOV64_K(3, 0),
			INS(0x06, 0, 0, 0, 2), /* gotol +2: to the head (9) */
			/* re-entry point (7): count the re-entries, then fall into the loop */
			ALU64_K(OP_ADD, 3, 1), ALU64_K(OP_ADD, 2, 1),
			/* head (9): */
			LDX(SZ_W, 0, 6, 0), ALU32_K(OP_MUL, 0, 0x9e3779b1), STX(SZ_W, 7, 0, 0),
			MOV64_X(4, 2), ALU64_K(OP_AND, 4, 0), /* r4 = 0: an affine constant */
			JX(J_EQ, 2, 5, -8), /* r2 == r5 (set below): back to 7 */
			ALU64_K(OP_ADD, 6, 4), ALU64_K(OP_ADD, 7, 4), ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 100, -10),
			MOV64_X(0, 2), ALU64_K(OP_LSH, 0, 8), ALU64_X(OP_OR, 0, 3), EXIT,
		};
		/* r5 = k before the loop: put it in the unused slot's place */
		struct bpf_insn p2[N(prog) + 1];
		p2[0] = MOV64_K(5, k);
		memcpy(p2 + 1, prog, sizeof(prog));
		char what[64];
		snprintf(what, sizeof(what), "k=%d", k);
		EXPECT_VEC(diff3(p2, N(p2), mem, what), 1u, what);
	}
}
