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

#include "asm.h"
#include "vgen.h"

#define MEM VGEN_MEM

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

/* Runs insns on the three engines (vgen.h); returns how many loops the
 * JIT vectorized. */
static unsigned diff3(const struct bpf_insn *insns, size_t n, const uint8_t *mem, const char *what)
{
	char msg[2048];
	unsigned nv = 0;
	cr_assert_eq(vgen_diff(vm, insns, n, mem, &nv, msg, sizeof(msg)), 0, "%s: %s", what, msg);
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

Test(jit_vec, random_loops)
{
	static uint8_t mem[MEM];
	unsigned vectorized = 0, total = getenv("VEC_SEEDS") ? (unsigned)atoi(getenv("VEC_SEEDS")) : 4000;
	for (unsigned seed = 1; seed <= total; seed++) {
		struct vg g = { .r.s = seed * 0x2545f4914f6cdd1dull };
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
