/*
 * The JIT's loop vectorizer (jit/x86_64_vec.c): loops it must vectorize,
 * loops it must leave scalar (dependences, overlaps found at run time,
 * wrap-around, temporaries read after a side exit), and random loops of
 * the shapes it plans, each run on the interpreter, the JIT and the JIT
 * with BPFVM_PROG_JIT_NO_VECTOR, which must agree on r0 and every byte of
 * memory.  "Was it vectorized" is asserted only where the CPU has AVX2.
 *
 * random_loops runs seeds 1..4000, or 1..$VEC_SEEDS; VEC_SEED=N runs only
 * seed N and prints its program.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vm/insn.h"
#include "asm.h"
#include "jit_int.h"
#include "vm.h"

#define MEM 4096

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

static bpfvm *vm;

static void setup(void)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
}

static void teardown(void)
{
	bpfvm_destroy(vm);
}

TestSuite(jit_vec, .init = setup, .fini = teardown);

static bpfvm_prog *load(const struct bpf_insn *insns, size_t n, uint32_t engine, uint32_t flags)
{
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED | flags, .engine = engine,
	                              .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	if (engine == BPFVM_ENGINE_JIT)
		cr_assert_eq(bpfvm_prog_engine(p), BPFVM_ENGINE_JIT, "not JIT'd: %s", log);
	return p;
}

/* Runs insns on the three engines over copies of mem; returns how many
 * loops the JIT vectorized.  Expects equal r0 and memory. */
static unsigned diff3(const struct bpf_insn *insns, size_t n, const uint8_t *mem, const char *what)
{
	static uint8_t m[3][MEM];
	uint64_t r[3] = { 0 };
	bpfvm_prog *p[3] = { load(insns, n, BPFVM_ENGINE_INTERP, 0), load(insns, n, BPFVM_ENGINE_JIT, 0),
		             load(insns, n, BPFVM_ENGINE_JIT, BPFVM_PROG_JIT_NO_VECTOR) };
	for (int k = 0; k < 3; k++) {
		memcpy(m[k], mem, MEM);
		cr_assert_eq(bpfvm_prog_run(p[k], m[k], MEM, &r[k]), 0, "%s: engine %d failed", what, k);
	}
	const struct jit_image *img = p[1]->jit;
	unsigned nv = img->nvloops;
	cr_assert_eq(((const struct jit_image *)p[2]->jit)->nvloops, 0);
	for (int k = 1; k < 3; k++) {
		cr_assert_eq(r[0], r[k], "%s: r0 interp %#llx, %s %#llx", what, (unsigned long long)r[0],
		             k == 1 ? "jit" : "jit (no vector)", (unsigned long long)r[k]);
		for (size_t i = 0; i < MEM; i++)
			cr_assert_eq(m[0][i], m[k][i], "%s: byte %zu: interp %#x, %s %#x (%u loops vectorized)", what, i,
			             m[0][i], m[k][i], k == 1 ? "jit" : "jit (no vector)", m[k][i], nv);
	}
	for (int k = 0; k < 3; k++)
		bpfvm_prog_put(p[k]);
	return nv;
}

static void fill_mem(uint8_t *mem, uint64_t seed)
{
	for (size_t i = 0; i < MEM; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		mem[i] = (uint8_t)(seed >> 56);
	}
}

static bool have_avx2(void)
{
	return jit_x86_vec_supported();
}

#define EXPECT_VEC(nv, want, what)                                                                          \
	do {                                                                                                \
		if (have_avx2())                                                                           \
			cr_expect_eq((nv), (want), "%s: %u loops vectorized, expected %u", (what), (nv), (want)); \
	} while (0)

/* The sieve's fill: s[i] = (u8)(i | 1), byte lanes from the induction
 * variable; every trip count from 0 to 100 (chunks of 32 and remainders). */
Test(jit_vec, byte_fill_from_the_index)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 1);
	for (int32_t n = 0; n <= 100; n++) {
		struct bpf_insn prog[] = {
			MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 64), MOV64_K(2, n), MOV64_K(4, 0), MOV64_K(5, 0),
			JK(J_EQ, 2, 0, 8),
			/* loop (6): */
			MOV64_X(3, 7), ALU64_X(OP_ADD, 3, 4), MOV64_X(5, 4), ALU32_K(OP_OR, 5, 1), STX(SZ_B, 3, 5, 0),
			ALU64_K(OP_ADD, 4, 1), JX(J_GE, 4, 2, 1), JK(J_LT, 4, 0x1000000, -8),
			/* out (14): */
			MOV64_X(0, 4), ALU64_K(OP_LSH, 0, 8), ALU64_X(OP_XOR, 0, 5), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "n=%d", n);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* matmul's inner loop, C[j] += a * B[j] over u32, with B at every
 * distance from C in [-48, 48] bytes: the alias check must send the
 * overlapping ones (0 < C - B < 32) to the scalar loop. */
Test(jit_vec, rmw_u32_at_every_overlap)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 2);
	for (int32_t d = -48; d <= 48; d += 4) {
		for (int32_t n = 1; n <= 40; n += 13) {
			struct bpf_insn prog[] = {
				MOV64_X(8, 1), ALU64_K(OP_ADD, 8, 1024),         /* B */
				MOV64_X(5, 1), ALU64_K(OP_ADD, 5, 1024 + d),     /* C */
				MOV64_K(3, 0x9e3779b1), MOV64_K(7, 0), MOV64_K(2, 0), MOV64_K(4, n),
				/* loop (8): */
				MOV64_X(1, 8), ALU64_X(OP_ADD, 1, 7), LDX(SZ_W, 1, 1, 0), ALU32_X(OP_MUL, 1, 3),
				MOV64_X(0, 5), ALU64_X(OP_ADD, 0, 7), LDX(SZ_W, 9, 0, 0), ALU32_X(OP_ADD, 9, 1),
				STX(SZ_W, 0, 9, 0), ALU64_K(OP_ADD, 7, 4), ALU64_K(OP_ADD, 2, 1), JX(J_LT, 2, 4, -12),
				MOV64_X(0, 9), ALU64_X(OP_XOR, 0, 1), ALU64_X(OP_XOR, 0, 2), EXIT,
			};
			char what[64];
			snprintf(what, sizeof(what), "d=%d n=%d", d, n);
			EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
		}
	}
}

/* Pointer induction variables with a `!=` end test, u16 lanes, shifts,
 * xor with an invariant, sub and neg. */
Test(jit_vec, pointer_ivs_u16_ops)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 3);
	for (int32_t n = 1; n <= 70; n += 3) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 512),          /* src */
			MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 2048),         /* dst */
			MOV64_X(8, 7), ALU64_K(OP_ADD, 8, 2 * n),        /* end */
			MOV64_K(9, 0x5a5a),
			/* loop (7): */
			LDX(SZ_H, 0, 6, 0), MOV64_X(1, 0), ALU64_K(OP_LSH, 1, 3), ALU64_X(OP_XOR, 1, 9),
			ALU32_K(OP_SUB, 1, 7), INS(0x87, 1, 0, 0, 0) /* neg */, LDX(SZ_H, 3, 6, 2), ALU32_K(OP_RSH, 3, 1),
			ALU64_X(OP_ADD, 1, 3), STX(SZ_H, 7, 1, 0),
			ALU64_K(OP_ADD, 6, 2), ALU64_K(OP_ADD, 7, 2), JX(J_NE, 7, 8, -13),
			MOV64_X(0, 1), ALU64_X(OP_XOR, 0, 3), ALU64_X(OP_SUB, 7, 8), ALU64_X(OP_XOR, 0, 7), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "n=%d", n);
		/* the 32-bit rsh on u16 lanes needs the upper half: not vectorized */
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 0u, what);
		prog[14] = ALU64_K(OP_AND, 3, 0x3ff); /* now every op works on u16 lanes */
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* u64 lanes: a[i] = b[i] + 3*i + k and a store of a constant; 64-bit rsh. */
Test(jit_vec, u64_affine_data_and_constants)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 4);
	for (int32_t n = 1; n <= 30; n++) {
		struct bpf_insn prog[] = {
			MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), MOV64_X(7, 1), ALU64_K(OP_ADD, 7, 1024),
			MOV64_X(8, 1), ALU64_K(OP_ADD, 8, 2048), MOV64_K(2, 3), LDDW(9, 0x123456789abcdefull),
			/* loop (9): */
			MOV64_X(4, 2), ALU64_K(OP_LSH, 4, 3), MOV64_X(3, 4), ALU64_X(OP_ADD, 3, 6), LDX(SZ_DW, 0, 3, 0),
			MOV64_X(5, 2), ALU64_K(OP_MUL, 5, 3), ALU64_X(OP_ADD, 5, 9), ALU64_X(OP_ADD, 0, 5),
			ALU64_K(OP_RSH, 0, 5), MOV64_X(3, 4), ALU64_X(OP_ADD, 3, 7), STX(SZ_DW, 3, 0, 0),
			MOV64_X(3, 4), ALU64_X(OP_ADD, 3, 8), ST(SZ_DW, 3, 8, -77),
			ALU64_K(OP_ADD, 2, 1), JK(J_LE, 2, n + 2, -18),
			ALU64_X(OP_XOR, 0, 2), ALU64_X(OP_XOR, 0, 5), EXIT,
		};
		char what[64];
		snprintf(what, sizeof(what), "n=%d", n);
		EXPECT_VEC(diff3(prog, N(prog), mem, what), 1u, what);
	}
}

/* Loops that must stay scalar, and still run right. */
Test(jit_vec, left_scalar)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 5);
	/* a[i+1] = a[i] + 1: a dependence carried to the next iteration */
	struct bpf_insn carried[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 512), MOV64_K(2, 0),
		LDX(SZ_W, 0, 6, 0), ALU32_K(OP_ADD, 0, 1), STX(SZ_W, 6, 0, 4), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 100, -6), EXIT,
	};
	EXPECT_VEC(diff3(carried, N(carried), mem, "carried"), 0u, "carried");
	/* an accumulator read before it is written (a reduction) */
	struct bpf_insn sum[] = {
		MOV64_X(6, 1), MOV64_K(2, 0), MOV64_K(0, 0),
		LDX(SZ_W, 3, 6, 0), ALU64_X(OP_ADD, 0, 3), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 100, -6), EXIT,
	};
	EXPECT_VEC(diff3(sum, N(sum), mem, "sum"), 0u, "sum");
	/* a temporary written after the side exit: the exit could see it stale */
	struct bpf_insn stale[] = {
		MOV64_X(6, 1), MOV64_K(2, 0), MOV64_K(5, 0),
		JK(J_EQ, 2, 37, 5), LDX(SZ_B, 5, 6, 0), STX(SZ_B, 6, 5, 1024), ALU64_K(OP_ADD, 6, 1),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 100, -6), MOV64_X(0, 5), EXIT,
	};
	EXPECT_VEC(diff3(stale, N(stale), mem, "stale"), 0u, "stale");
	/* the same with the load before the exit: vectorized, exits at 37 */
	struct bpf_insn early[] = {
		MOV64_X(6, 1), MOV64_K(2, 0), MOV64_K(5, 0),
		LDX(SZ_B, 5, 6, 0), JK(J_EQ, 2, 37, 4), STX(SZ_B, 6, 5, 1024), ALU64_K(OP_ADD, 6, 1),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 100, -6), MOV64_X(0, 5), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(early, N(early), mem, "early"), 1u, "early");
	/* addresses going down: not consecutive lanes */
	struct bpf_insn down[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 400), MOV64_K(2, 0),
		LDX(SZ_W, 0, 6, 0), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_SUB, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 90, -5), EXIT,
	};
	EXPECT_VEC(diff3(down, N(down), mem, "down"), 0u, "down");
	/* a multiply of bytes (no vpmullb) */
	struct bpf_insn mulb[] = {
		MOV64_X(6, 1), MOV64_K(2, 0),
		LDX(SZ_B, 0, 6, 0), ALU32_K(OP_MUL, 0, 3), STX(SZ_B, 6, 0, 2048), ALU64_K(OP_ADD, 6, 1),
		ALU64_K(OP_ADD, 2, 1), JK(J_LT, 2, 90, -6), EXIT,
	};
	EXPECT_VEC(diff3(mulb, N(mulb), mem, "mulb"), 0u, "mulb");
}

/* Counters that wrap inside the loop (unsigned 64 and 32 bits, signed):
 * the chunk that would wrap must go to the scalar loop. */
Test(jit_vec, counters_that_wrap)
{
	static uint8_t mem[MEM];
	fill_mem(mem, 6);
	/* r2 from 2^64-20 up to 5 by `!=`: crosses zero */
	struct bpf_insn ne[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), MOV64_K(2, -20),
		LDX(SZ_W, 0, 6, 0), ALU32_K(OP_XOR, 0, 0x55), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JK(J_NE, 2, 5, -6), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(ne, N(ne), mem, "ne"), 1u, "ne");
	/* 32-bit compare of a counter whose low half wraps: w2 from 0xfffffff0,
	 * loop while w2 != 12 */
	struct bpf_insn w32[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), LDDW(2, 0x7fffffff0ull),
		LDX(SZ_W, 0, 6, 0), ALU32_K(OP_ADD, 0, 9), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JK32(J_NE, 2, 12, -6), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(w32, N(w32), mem, "w32 ne"), 1u, "w32 ne");
	/* unsigned 32-bit `<` on a counter that passes 2^32 (stops there) */
	struct bpf_insn w32lt[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), LDDW(2, 0xffffffc0ull),
		LDX(SZ_W, 0, 6, 0), ALU32_K(OP_ADD, 0, 9), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 3), JK32(J_GT, 2, 0x7fffffff, -6), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(w32lt, N(w32lt), mem, "w32 gt"), 1u, "w32 gt");
	/* signed: r2 from INT64_MAX - 40 while r2 s> 5, stopped by a side exit
	 * 10 past the signed overflow */
	struct bpf_insn sgt[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), LDDW(2, 0x7fffffffffffffd7ull), LDDW(9, 0x800000000000000aull),
		LDX(SZ_W, 0, 6, 0), ALU32_K(OP_ADD, 0, 9), STX(SZ_W, 6, 0, 2048), ALU64_K(OP_ADD, 6, 4),
		ALU64_K(OP_ADD, 2, 1), JX(J_EQ, 2, 9, 1), JK(J_SGT, 2, 5, -7), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(sgt, N(sgt), mem, "sgt"), 1u, "sgt");
	/* a falling counter with a signed bound and a rising pointer */
	struct bpf_insn fall[] = {
		MOV64_X(6, 1), ALU64_K(OP_ADD, 6, 256), MOV64_K(2, 50),
		LDX(SZ_H, 0, 6, 0), ALU32_K(OP_ADD, 0, 9), STX(SZ_H, 6, 0, 2048), ALU64_K(OP_ADD, 6, 2),
		ALU64_K(OP_SUB, 2, 1), JK(J_SGE, 2, -30, -6), ALU64_X(OP_XOR, 0, 2), EXIT,
	};
	EXPECT_VEC(diff3(fall, N(fall), mem, "fall"), 1u, "fall");
}

/* ---- random loops of the planned shapes ---- */

struct vg {
	uint64_t s;
	struct bpf_insn p[160];
	size_t n;
};

static uint64_t vg_next(struct vg *g)
{
	g->s += 0x9e3779b97f4a7c15ull;
	uint64_t z = g->s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned vg_pick(struct vg *g, unsigned n)
{
	return (unsigned)(vg_next(g) % n);
}

static void emit(struct vg *g, struct bpf_insn in)
{
	cr_assert_lt(g->n, N(g->p));
	g->p[g->n++] = in;
}

/*
 * One random loop: streams at r6, r7, r8 (some overlapping by a few
 * bytes), addressed by a scaled index r2 (`r4 = r2 << lg; r4 += rS`) or
 * advanced as pointers; data in r0, r1, r5; invariants r9 and constants;
 * r2 counts from i0 to the bound r3 by <, <=, !=, s<, s<= (64 or 32
 * bits); sometimes a side exit.  Accesses stay in MEM for every
 * iteration.  The ops include some the vectorizer refuses (div, byte
 * multiplies, right shifts narrower than the op), so refusals are covered too.
 */
static void vg_loop(struct vg *g)
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
			base[s] = 64 + (int32_t)vg_pick(g, (unsigned)(MEM - 128 - span));
		if (base[s] < 64 || base[s] + span > MEM - 64)
			base[s] = 64 + (int32_t)vg_pick(g, (unsigned)(MEM - 128 - span));
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
			/* a side exit on the counter, somewhere past i0 */
			side = (int)g->n;
			emit(g, JK(J_EQ, 2, i0 + 1 + (int32_t)vg_pick(g, 60), 0)); /* patched to `out` */
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

Test(jit_vec, random_loops)
{
	static uint8_t mem[MEM];
	unsigned vectorized = 0, total = getenv("VEC_SEEDS") ? (unsigned)atoi(getenv("VEC_SEEDS")) : 4000;
	for (unsigned seed = 1; seed <= total; seed++) {
		struct vg g = { .s = seed * 0x2545f4914f6cdd1dull };
		vg_loop(&g);
		if (getenv("VEC_SEED") && (unsigned)atoi(getenv("VEC_SEED")) != seed)
			continue;
		if (getenv("VEC_SEED"))
			for (size_t i = 0; i < g.n; i++) {
				char t[128];
				vm_disasm_insn(g.p, g.n, i, t, sizeof(t));
				fprintf(stderr, "%3zu: %s\n", i, t);
			}
		fill_mem(mem, seed);
		char what[64];
		snprintf(what, sizeof(what), "seed %u", seed);
		vectorized += diff3(g.p, g.n, mem, what) != 0;
	}
	cr_log_info("random loops: %u of %u vectorized", vectorized, total);
	if (have_avx2() && !getenv("VEC_SEED"))
		cr_expect_gt(vectorized, total / 5, "only %u of %u random loops vectorized", vectorized, total);
}
