/*
 * The JIT against the interpreter: inline programs covering every op and
 * its edge cases, random programs generated from the opcode table, W^X,
 * fallback reasons, blinding and threads running one image at once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../vm/insn.h"
#include "diff.h"
#include "gen.h"
#include "vm.h"
#include "jit_int.h"
#include "log.h"
#include "map.h"

static bpfvm *new_vm(void)
{
	bpfvm *vm = NULL;
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	return vm;
}

static bpfvm_prog *load(bpfvm *vm, const struct bpf_insn *insns, size_t n, uint32_t engine, uint32_t flags,
                        char *log, size_t logsz)
{
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = flags, .engine = engine,
	                              .log_buf = log, .log_size = logsz };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

/* Runs insns on both engines over copies of mem; expects equal results. */
static void diff(bpfvm *vm, const struct bpf_insn *insns, size_t n, const uint8_t *mem, size_t len, uint32_t flags,
                 const char *what)
{
	char log[1024] = "";
	bpfvm_prog *pi = load(vm, insns, n, BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED | flags, log, sizeof(log));
	bpfvm_prog *pj = load(vm, insns, n, BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED | flags, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(pj), BPFVM_ENGINE_JIT, "%s: not JIT'd: %s", what, log);
	uint8_t mi[256], mj[256];
	memcpy(mi, mem, len);
	memcpy(mj, mem, len);
	uint64_t ri = 0, rj = 0;
	int ei = bpfvm_prog_run(pi, mi, len, &ri);
	int ej = bpfvm_prog_run(pj, mj, len, &rj);
	cr_expect_eq(ei, ej, "%s: run result %d vs %d", what, ei, ej);
	cr_expect_eq(ri, rj, "%s: r0 interp %#llx jit %#llx", what, (unsigned long long)ri, (unsigned long long)rj);
	cr_expect(memcmp(mi, mj, len) == 0, "%s: memory differs", what);
	bpfvm_prog_put(pi);
	bpfvm_prog_put(pj);
}

static int checked_run(uint32_t engine, const struct bpf_insn *insns, size_t n, uint8_t *mem, size_t len,
                       uint64_t *r0, uint64_t budget);

static uint64_t jit_run(bpfvm *vm, const struct bpf_insn *insns, size_t n, void *mem, size_t len, uint32_t flags)
{
	char log[1024] = "";
	bpfvm_prog *p = load(vm, insns, n, BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED | flags, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(p), BPFVM_ENGINE_JIT, "not JIT'd: %s", log);
	uint64_t r0 = 0;
	cr_assert_eq(bpfvm_prog_run(p, mem, len, &r0), 0);
	bpfvm_prog_put(p);
	return r0;
}

/* Every binary ALU op (from the table), both widths, K and X, over
 * operand pairs that hit the RFC 9669 edge cases. */
Test(jit, every_alu_op_edge_values)
{
	static const uint64_t vals[] = { 0, 1, 2, 3, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull,
	                                 0x80000000ull, 0xffffffffull, 0x1234567890abcdefull, 31, 32, 63, 64,
	                                 (uint64_t)-7, 0xffffffff80000000ull };
	const size_t nv = sizeof(vals) / sizeof(vals[0]);
	bpfvm *vm = new_vm();
	uint8_t mem[8] = { 0 };
	int tested = 0;
	for (unsigned op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		if (oi->fmt != FMT_ALU_K && oi->fmt != FMT_ALU_X && oi->fmt != FMT_NEG && oi->fmt != FMT_END)
			continue;
		/* Each op over all value pairs in one program per (dst reg, src reg)
		 * choice: r4 and r0/r3 exercise the shift and div shuffles. */
		static const int regs[][2] = { { 1, 2 }, { 4, 2 }, { 2, 4 }, { 4, 4 }, { 0, 3 }, { 3, 0 }, { 0, 0 }, { 7, 9 } };
		for (size_t rp = 0; rp < sizeof(regs) / sizeof(regs[0]); rp++) {
			int d = regs[rp][0], s = regs[rp][1];
			struct bpf_insn prog[16 * 16 * 8 + 8];
			size_t n = 0;
			prog[n++] = MOV64_K(6, 0);
			for (size_t a = 0; a < nv; a++)
				for (size_t b = 0; b < nv; b++) {
					struct bpf_insn l1[] = { LDDW(d, vals[a]) }, l2[] = { LDDW(s, vals[b]) };
					if (oi->fmt == FMT_ALU_X && d != s) {
						prog[n++] = l2[0];
						prog[n++] = l2[1];
					}
					prog[n++] = l1[0];
					prog[n++] = l1[1];
					int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
					int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : (int32_t)vals[b];
					prog[n++] = INS(oi->code, d, oi->fmt == FMT_ALU_X ? s : 0, off, oi->fmt == FMT_ALU_X ? 0 : imm);
					/* r6 = r6 * 31 + result */
					prog[n++] = ALU64_K(OP_MUL, 6, 31);
					prog[n++] = ALU64_X(OP_ADD, 6, d);
					if (oi->fmt != FMT_ALU_X)
						break; /* K forms: imm varies with b below */
				}
			if (oi->fmt != FMT_ALU_X) {
				/* K forms: every (value, imm) pair */
				n = 1;
				for (size_t a = 0; a < nv; a++)
					for (size_t b = 0; b < nv; b++) {
						struct bpf_insn l1[] = { LDDW(d, vals[a]) };
						prog[n++] = l1[0];
						prog[n++] = l1[1];
						int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
						int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : (int32_t)vals[b];
						prog[n++] = INS(oi->code, d, 0, off, imm);
						prog[n++] = ALU64_K(OP_MUL, 6, 31);
						prog[n++] = ALU64_X(OP_ADD, 6, d);
					}
			}
			prog[n++] = MOV64_X(0, 6);
			prog[n++] = EXIT;
			cr_assert_leq(n, sizeof(prog) / sizeof(prog[0]));
			char what[64];
			snprintf(what, sizeof(what), "%s r%d,r%d", oi->name, d, s);
			diff(vm, prog, n, mem, sizeof(mem), 0, what);
			diff(vm, prog, n, mem, sizeof(mem), BPFVM_PROG_JIT_BLIND, what);
			tested++;
		}
	}
	cr_expect_gt(tested, 60 * 8);
	bpfvm_destroy(vm);
}

/*
 * Every op with a 32-bit result (ALU32, le/be 16/32, bswap16/32, 32-bit
 * loads, the 32-bit atomics' fetched values) leaves the upper half of its
 * destination zero, checked directly rather than against the interpreter:
 * the JIT relies on x86 zero-extending 32-bit register writes and emits an
 * explicit mov only where no instruction writes the register (docs/jit.md,
 * "Zero-extension").  Destinations start with a non-zero upper half;
 * sources include the shift counts that x86 masks to 0 (0, 32, 64) and the
 * special divisors (0, -1); register pairs include r4 (the shift shuffle
 * through cl) and r0/r3 (rax/rdx of the division).
 */
Test(jit, every_32bit_result_is_zero_extended)
{
	static const uint64_t dsts[] = { 0xa5a5a5a500000000ull, 0xa5a5a5a580000000ull, 0xffffffffffffffffull,
	                                 0x123456789abcdef0ull };
	static const int32_t srcs[] = { 0, 1, 7, 31, 32, 33, 63, 64, -1, INT32_MIN, 0x7fffffff };
	static const int regs[][2] = { { 1, 2 }, { 4, 2 }, { 2, 4 }, { 4, 4 }, { 0, 3 }, { 3, 0 }, { 0, 0 } };
	bpfvm *vm = new_vm();
	uint8_t m[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	int tested = 0;
	for (unsigned op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		bool end = oi->fmt == FMT_END;
		if (oi->fmt != FMT_ALU_K && oi->fmt != FMT_ALU_X && oi->fmt != FMT_NEG && !end)
			continue;
		if (end ? oi->selval == 64 : !vm_op_is_alu32((enum vm_op)op))
			continue; /* 64-bit results */
		for (size_t rp = 0; rp < N(regs); rp++) {
			int d = regs[rp][0], s = regs[rp][1];
			struct bpf_insn prog[N(dsts) * N(srcs) * 7 + 8];
			size_t n = 0;
			prog[n++] = MOV64_K(6, 0);
			for (size_t a = 0; a < N(dsts); a++)
				for (size_t b = 0; b < N(srcs); b++) {
					struct bpf_insn ld[] = { LDDW(d, dsts[a]) };
					if (oi->fmt == FMT_ALU_X && d != s) /* src's upper half set too */
						prog[n++] = MOV64_K(s, srcs[b]);
					prog[n++] = ld[0];
					prog[n++] = ld[1];
					int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
					int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : srcs[b];
					prog[n++] = INS(oi->code, d, oi->fmt == FMT_ALU_X ? s : 0, off, oi->fmt == FMT_ALU_X ? 0 : imm);
					prog[n++] = ALU64_K(OP_RSH, d, 32); /* r6 |= d >> 32 */
					prog[n++] = ALU64_X(OP_OR, 6, d);
				}
			prog[n++] = MOV64_X(0, 6);
			prog[n++] = EXIT;
			cr_assert_leq(n, N(prog));
			for (int blind = 0; blind < 2; blind++)
				cr_expect_eq(jit_run(vm, prog, n, m, sizeof(m), blind ? BPFVM_PROG_JIT_BLIND : 0), 0,
				             "%s r%d, r%d%s: upper half not zero", oi->name, d, s, blind ? " (blinded)" : "");
			tested++;
		}
	}
	cr_expect_geq(tested, 35 * 7); /* 31 ALU32 ops, le/be 16/32, bswap16/32 */
	/* loads of 1, 2, 4 bytes, and the 32-bit atomics that write a register:
	 * fetch-ops and xchg the source, cmpxchg r0 (when it succeeds, x86
	 * leaves rax alone: the case that needs an explicit mov) */
	static const uint8_t lds[] = { 0x71, 0x69, 0x61 };
	for (size_t i = 0; i < N(lds); i++) {
		struct bpf_insn prog[] = { LDDW(0, ~0ull), INS(lds[i], 0, 1, 0, 0), ALU64_K(OP_RSH, 0, 32), EXIT };
		cr_expect_eq(jit_run(vm, prog, N(prog), m, sizeof(m), 0), 0, "load %#x", lds[i]);
	}
	static const int32_t fetch[] = { 0x01, 0x41, 0x51, 0xa1, 0xe1 };
	for (size_t i = 0; i < N(fetch); i++)
		for (int s = 0; s <= 2; s += 2) {
			struct bpf_insn prog[] = { LDDW(0, ~0ull), LDDW(2, ~0ull), ATOMIC32(1, s, 0, fetch[i]),
			                           ALU64_K(OP_RSH, s, 32), MOV64_X(0, s), EXIT };
			cr_expect_eq(jit_run(vm, prog, N(prog), m, sizeof(m), 0), 0, "atomic %#x src r%d", fetch[i], s);
		}
	for (int hit = 0; hit < 2; hit++) {
		uint32_t cur;
		memcpy(&cur, m + 8, 4);
		uint64_t r0 = 0xdeadbeef00000000ull | (hit ? cur : cur ^ 1);
		struct bpf_insn prog[] = { LDDW(0, r0), LDDW(2, 0xfeedface12345678ull), ATOMIC32(1, 2, 8, 0xf1),
		                           ALU64_K(OP_RSH, 0, 32), EXIT };
		uint8_t mm[16];
		memcpy(mm, m, sizeof(mm));
		cr_expect_eq(jit_run(vm, prog, N(prog), mm, sizeof(mm), 0), 0, "cmpxchg32 %s", hit ? "succeeds" : "fails");
		uint32_t after;
		memcpy(&after, mm + 8, 4);
		cr_expect_eq(after, hit ? 0x12345678u : cur, "cmpxchg32 %s: memory", hit ? "succeeds" : "fails");
	}
	bpfvm_destroy(vm);
}

/* The RFC's rules spelled out, independent of the interpreter. */
Test(jit, division_rules)
{
	bpfvm *vm = new_vm();
	uint8_t m[8];
	struct bpf_insn p1[] = { LDDW(0, 0x8000000000000000ull), MOV64_K(1, -1), SALU64_X(OP_DIV, 0, 1), EXIT };
	cr_expect_eq(jit_run(vm, p1, N(p1), m, 8, 0), 0x8000000000000000ull);
	struct bpf_insn p2[] = { LDDW(0, 0x8000000000000000ull), MOV64_K(1, -1), SALU64_X(OP_MOD, 0, 1), EXIT };
	cr_expect_eq(jit_run(vm, p2, N(p2), m, 8, 0), 0);
	struct bpf_insn p3[] = { MOV64_K(0, 77), MOV64_K(1, 0), ALU64_X(OP_DIV, 0, 1), EXIT };
	cr_expect_eq(jit_run(vm, p3, N(p3), m, 8, 0), 0);
	struct bpf_insn p4[] = { LDDW(0, 0x100000005ull), MOV64_K(1, 0), ALU32_X(OP_MOD, 0, 1), EXIT };
	cr_expect_eq(jit_run(vm, p4, N(p4), m, 8, 0), 5);
	struct bpf_insn p5[] = { MOV32_K(0, INT32_MIN), MOV32_K(3, -1), SALU32_X(OP_DIV, 0, 3), EXIT };
	cr_expect_eq(jit_run(vm, p5, N(p5), m, 8, 0), 0x80000000u);
	struct bpf_insn p6[] = { MOV64_K(0, 100), MOV64_K(3, 7), MOV64_K(4, 9), ALU64_X(OP_DIV, 3, 4),
	                         ALU64_X(OP_ADD, 0, 3), EXIT }; /* r0 and r3 survive a div into r3 */
	cr_expect_eq(jit_run(vm, p6, N(p6), m, 8, 0), 100);
	bpfvm_destroy(vm);
}

Test(jit, atomics_and_memory)
{
	bpfvm *vm = new_vm();
	for (unsigned op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		if (oi->fmt != FMT_ATOMIC)
			continue;
		static const int srcs[] = { 0, 2, 4 };
		for (int si = 0; si < 3; si++) {
			int s = srcs[si];
			struct bpf_insn prog[] = {
				LDDW(0, 0x1111222233334444ull),
				LDDW(2, 0xf0f0f0f0f0f0f0f0ull),
				LDDW(4, 0x0123456789abcdefull),
				INS(oi->code, 1, s, 8, oi->selval),
				LDXDW(3, 1, 8),
				ALU64_X(OP_XOR, 0, s),
				ALU64_X(OP_XOR, 0, 3),
				ALU64_K(OP_LSH, 0, 1),
				ALU64_X(OP_XOR, 0, 2),
				ALU64_X(OP_XOR, 0, 4),
				EXIT,
			};
			uint8_t mem[24];
			for (int i = 0; i < 24; i++)
				mem[i] = (uint8_t)(i * 37 + 0x11);
			mem[8] = 0x44; mem[9] = 0x44; mem[10] = 0x33; mem[11] = 0x33; /* cmpxchg32 can succeed */
			char what[64];
			snprintf(what, sizeof(what), "%s src r%d", oi->name, s);
			diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
		}
	}
	bpfvm_destroy(vm);
}

static uint64_t add3(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + 2 * b + 3 * c + 4 * d + 5 * e;
}

Test(jit, helpers_callx_and_subprograms)
{
	bpfvm *vm = new_vm();
	struct bpfvm_helper_proto proto = { .sz = sizeof(proto), .name = "add3",
	                                    .args = { BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING,
	                                              BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING } };
	cr_assert_eq(bpfvm_helper_register(vm, 1, add3, &proto), 0);
	struct bpf_insn prog[] = {
		MOV64_K(6, 1000), MOV64_K(1, 1), MOV64_K(2, 2), MOV64_K(3, 3), MOV64_K(4, 4), MOV64_K(5, 5),
		CALL(1),                 /* 1+4+9+16+25 = 55 */
		ALU64_X(OP_ADD, 6, 0),
		MOV64_K(7, 1), MOV64_K(1, 10), MOV64_K(2, 0), MOV64_K(3, 0), MOV64_K(4, 0), MOV64_K(5, 0),
		CALLX(7),                /* 10 */
		ALU64_X(OP_ADD, 6, 0),
		MOV64_K(1, 5),
		CALL_LOCAL(3),           /* sub(5) = 5*5 + 1 */
		ALU64_X(OP_ADD, 0, 6),
		EXIT,
		EXIT,
		/* sub: r6 is the callee's own; stack frame of its own */
		MOV64_X(6, 1), ALU64_X(OP_MUL, 6, 1), STXDW(10, 6, -8), LDXDW(0, 10, -8), ALU64_K(OP_ADD, 0, 1), EXIT,
	};
	uint8_t m[8];
	cr_expect_eq(jit_run(vm, prog, N(prog), m, 8, 0), 1000 + 55 + 10 + 26);
	/* callx of an unknown id fails the run, as the interpreter does */
	struct bpf_insn bad[] = { MOV64_K(7, 99), CALLX(7), MOV64_K(0, 1), EXIT };
	char log[512] = "";
	bpfvm_prog *p = load(vm, bad, N(bad), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	uint64_t r0;
	cr_expect_eq(bpfvm_prog_run(p, m, 8, &r0), -EINVAL);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

Test(jit, ld_abs_ind)
{
	bpfvm *vm = new_vm();
	uint8_t m[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct bpf_insn p1[] = { MOV64_X(6, 1), INS(0x20, 0, 0, 0, 2), MOV64_X(7, 0), MOV64_K(2, 1),
	                         INS(0x48, 0, 2, 0, 5), ALU64_K(OP_LSH, 7, 16), ALU64_X(OP_OR, 0, 7), EXIT };
	diff(vm, p1, N(p1), m, 8, 0, "ldabsw/ldindh");
	cr_expect_eq(jit_run(vm, p1, N(p1), m, 8, 0), 0x030405060000ull | 0x0708);
	struct bpf_insn p2[] = { MOV64_K(0, 5), INS(0x20, 0, 0, 0, 6), MOV64_K(0, 9), EXIT }; /* out of bounds */
	cr_expect_eq(jit_run(vm, p2, N(p2), m, 8, 0), 0);
	bpfvm_destroy(vm);
}

Test(jit, random_programs_match_interpreter)
{
	bpfvm *vm = new_vm();
	static struct bpf_insn prog[600];
	for (uint64_t seed = 1; seed <= 400; seed++) {
		struct gen_rng r = { .s = seed * 7919 };
		size_t n = gen_prog(&r, prog, 600);
		uint8_t mem[GEN_MEM];
		for (int i = 0; i < GEN_MEM; i++)
			mem[i] = (uint8_t)(gen_next(&r));
		char what[32];
		snprintf(what, sizeof(what), "seed %llu", (unsigned long long)seed);
		diff(vm, prog, n, mem, sizeof(mem), seed & 1 ? BPFVM_PROG_JIT_BLIND : 0, what);
		/* and in checked mode: same results, no false alarms */
		uint8_t mi[GEN_MEM], mj[GEN_MEM];
		memcpy(mi, mem, GEN_MEM);
		memcpy(mj, mem, GEN_MEM);
		uint64_t ri = 0, rj = 0;
		int ei = checked_run(BPFVM_ENGINE_INTERP, prog, n, mi, GEN_MEM, &ri, 0);
		int ej = checked_run(BPFVM_ENGINE_JIT, prog, n, mj, GEN_MEM, &rj, 0);
		cr_expect(ei == 0 && ej == 0, "%s checked: %d %d", what, ei, ej);
		cr_expect_eq(ri, rj, "%s checked: r0", what);
		cr_expect(memcmp(mi, mj, GEN_MEM) == 0, "%s checked: memory", what);
	}
	bpfvm_destroy(vm);
}

/*
 * Regression: seed 2287 (first seen as a checked JIT / unchecked
 * interpreter mismatch in a differential run) made gen.h store the low
 * byte of a stack pointer (`r0 = r10; r0 += -64; *(u8 *)(r0 + 44) = r0`),
 * so its result depended on where each engine's stack lives.  A generated
 * program's result must not depend on any address: the interpreter gives
 * the same r0 and memory with its stack and input moved.
 */
Test(jit, generated_programs_do_not_depend_on_addresses)
{
	bpfvm *vm = new_vm();
	static struct bpf_insn prog[600];
	for (uint64_t seed = 1; seed <= 3000; seed++) {
		struct gen_rng r = { .s = seed * 7919 };
		size_t n = gen_prog(&r, prog, 600);
		uint8_t mem[GEN_MEM], ma[GEN_MEM], mb[GEN_MEM];
		for (int i = 0; i < GEN_MEM; i++)
			mem[i] = (uint8_t)(gen_next(&r));
		char log[256] = "";
		bpfvm_prog *p = load(vm, prog, n, BPFVM_ENGINE_INTERP, BPFVM_PROG_NO_VERIFY, log, sizeof(log));
		uint64_t ra = 0, rb = 0;
		memcpy(ma, mem, GEN_MEM);
		int ea = bpfvm_prog_run(p, ma, GEN_MEM, &ra);
		memcpy(mb, mem, GEN_MEM);
		int eb = diff_run_moved(p, mb, &rb);
		cr_expect(ea == 0 && eb == 0, "seed %llu: run %d %d", (unsigned long long)seed, ea, eb);
		cr_expect(ra == rb && memcmp(ma, mb, GEN_MEM) == 0, "seed %llu: r0 %#llx / %#llx, memory %s",
		          (unsigned long long)seed, (unsigned long long)ra, (unsigned long long)rb,
		          memcmp(ma, mb, GEN_MEM) ? "differs" : "same");
		bpfvm_prog_put(p);
	}
	/* the two seeds that did depend on an address, on all engines */
	static const uint64_t seeds[] = { 1175, 2287 };
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct gen_rng r = { .s = seeds[i] * 7919 };
		size_t n = gen_prog(&r, prog, 600);
		uint8_t mem[GEN_MEM];
		for (int j = 0; j < GEN_MEM; j++)
			mem[j] = (uint8_t)(gen_next(&r));
		char msg[512] = "";
		cr_expect_eq(diff_prog(vm, prog, n, mem, msg, sizeof(msg)), DIFF_SAME, "seed %llu: %s",
		             (unsigned long long)seeds[i], msg);
	}
	bpfvm_destroy(vm);
}

/*
 * gen.h's full repertoire (maps, loops, bpf-to-bpf calls, tail calls) on
 * the 7 runs of diff.h, comparing the maps too: the first 300 seeds of
 * diff_seeds (which runs them for 20 s in the stress suite); and a map
 * value that differs between two dumps is reported with its map and key.
 */
Test(jit, generated_programs_with_maps_calls_and_loops_match)
{
	bpfvm *vm = NULL;
	struct bpfvm_opts vo = { .sz = sizeof(vo) }; /* built-in helpers */
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	struct diff_env env;
	cr_assert_eq(diff_env_init(&env, vm), 0);
	static struct diff_gen g;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct gen_rng r = { .s = seed * 7919 };
		diff_gen(&r, &g, 600, GEN_F_ALL);
		char msg[512] = "";
		cr_expect_eq(diff_case(&env, &g.c, msg, sizeof(msg)), DIFF_SAME, "seed %llu: %s", (unsigned long long)seed,
		             msg);
	}
	struct gen_map_init mi;
	struct gen_rng r = { .s = 1 };
	gen_map_init(&r, &mi);
	struct diff_dump a, b;
	cr_assert_eq(diff_maps_reset(env.maps[0], &mi), 0);
	cr_assert_eq(diff_maps_dump(env.maps[0], &a), 0);
	uint32_t k = 1;
	mi.val[GEN_MAP_ARRAY][k][3] ^= 7;
	cr_assert_eq(diff_maps_reset(env.maps[0], &mi), 0);
	cr_assert_eq(diff_maps_dump(env.maps[0], &b), 0);
	char what[160] = "";
	cr_expect(diff_dumps_differ(&a, &b, what, sizeof(what)));
	cr_expect(strstr(what, "map array key 1: value byte 3") != NULL, "%s", what);
	diff_env_fini(&env);
	bpfvm_destroy(vm);
}

/* Jumps of every distance around the rel8/rel32 boundary, and a program
 * of 150,000 instructions: no fixed image size. */
Test(jit, jump_sizes_and_large_programs)
{
	bpfvm *vm = new_vm();
	size_t big = 150000;
	struct bpf_insn *prog = calloc(big, sizeof(*prog));
	for (size_t dist = 0; dist < 80; dist++) {
		size_t n = 0;
		prog[n++] = MOV64_K(0, 0);
		prog[n++] = JEQ_K(0, 0, (int16_t)dist);
		for (size_t i = 0; i < dist; i++)
			prog[n++] = ALU64_K(OP_ADD, 0, 1000);
		prog[n++] = ALU64_K(OP_ADD, 0, 1);
		/* backward loop: r1 counts down over dist adds */
		prog[n++] = MOV64_K(1, 3);
		size_t head = n;
		for (size_t i = 0; i < dist; i++)
			prog[n++] = ALU64_K(OP_ADD, 0, 2);
		prog[n++] = ALU64_K(OP_SUB, 1, 1);
		prog[n] = JNE_K(1, 0, (int16_t)((int64_t)head - (int64_t)(n + 1)));
		n++;
		prog[n++] = EXIT;
		uint8_t m[8];
		cr_expect_eq(jit_run(vm, prog, n, m, 8, 0), 1 + 6 * dist, "dist %zu", dist);
	}
	size_t n = 0;
	prog[n++] = MOV64_K(0, 0);
	while (n < big - 3)
		prog[n++] = ALU64_K(OP_ADD, 0, 3);
	prog[n++] = JA(-((int16_t)100)); /* never taken twice: see below */
	prog[n - 1] = JA(0);
	prog[n++] = EXIT;
	uint8_t m[8];
	cr_expect_eq(jit_run(vm, prog, n, m, 8, 0), 3ull * (big - 4));
	free(prog);
	bpfvm_destroy(vm);
}

Test(jit, image_is_never_writable_and_executable)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = { MOV64_K(0, 42), EXIT };
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	struct bpfvm_prog *ip = p;
	cr_assert_not_null(ip->jit_entry);
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert_not_null(f);
	char line[512];
	bool found = false;
	uintptr_t at = (uintptr_t)ip->jit_entry;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (at >= lo && at < hi) {
			found = true;
			cr_expect_str_eq(perms, "r-xp");
		}
		cr_expect(!(strchr(perms, 'w') && strchr(perms, 'x') && at >= lo && at < hi));
	}
	fclose(f);
	cr_expect(found);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/*
 * Regression (jit_diff_fuzz crashed at once under -fsanitize=undefined):
 * clang's -fsanitize=function makes the C caller read the 8 bytes before
 * an indirect call target for a type signature.  The entry used to start
 * the mapping, so that read hit an unmapped page.  The bytes in front of
 * the entry must be mapped and must not hold the signature's magic.
 */
Test(jit, entry_is_preceded_by_int3)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = { MOV64_K(0, 42), EXIT };
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	struct bpfvm_prog *ip = p;
	cr_assert_not_null(ip->jit_entry);
	const struct jit_image *img = ip->jit;
	const uint8_t *entry = (const uint8_t *)ip->jit_entry;
	cr_assert_eq((const void *)entry, img->mem);
	cr_assert((uintptr_t)entry - (uintptr_t)img->map >= 8, "entry at offset %zu of its mapping",
	          (size_t)((uintptr_t)entry - (uintptr_t)img->map));
	cr_expect_eq((uintptr_t)entry % 16, 0);
	for (int i = 1; i <= 8; i++)
		cr_expect_eq(entry[-i], 0xcc, "byte %d before the entry is %#x", -i, entry[-i]);
	uint64_t r0 = 0;
	cr_expect_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 42);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* What the backend cannot translate is named in the log, with the
 * instruction (an opcode slot corrupted after load stands in for a
 * construct the backend lacks: every real one is translated). */
Test(jit, fallback_names_the_reason)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = { MOV64_K(0, 42), MOV64_K(1, 1), EXIT };
	char buf[512] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, buf, sizeof(buf));
	struct bpfvm_prog *ip = p;
	uint16_t saved = ip->ops[1];
	ip->ops[1] = VM_OP_INVALID;
	struct vm_log log;
	vm_log_init(&log, buf, sizeof(buf), 0);
	buf[0] = '\0';
	cr_expect_eq(jit_compile(ip, &log), -EOPNOTSUPP);
	cr_expect(strstr(buf, "insn 1: jit: invalid instruction") != NULL, "log: %s", buf);
	cr_expect_null(ip->jit);
	ip->ops[1] = saved;
	uint64_t r0 = 0;
	cr_expect_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 42);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* Blinding keeps program constants out of the image. */
Test(jit, blinding_hides_constants)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = { MOV64_K(0, 0x3c3c3c3c), ALU64_K(OP_ADD, 0, 0x5a5a5a5a), EXIT };
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED | BPFVM_PROG_JIT_BLIND, log,
	                     sizeof(log));
	struct bpfvm_prog *ip = p;
	const uint8_t *code = (const uint8_t *)ip->jit_entry;
	size_t size = ((const struct jit_image *)ip->jit)->code_size;
	static const uint8_t k1[4] = { 0x3c, 0x3c, 0x3c, 0x3c }, k2[4] = { 0x5a, 0x5a, 0x5a, 0x5a };
	cr_expect_null(memmem(code, size, k1, 4));
	cr_expect_null(memmem(code, size, k2, 4));
	uint64_t r0 = 0;
	cr_assert_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 0x3c3c3c3cull + 0x5a5a5a5aull);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

struct thr {
	bpfvm_prog *p;
	uint64_t sum;
	int err;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	for (int i = 1; i < 2000; i++) {
		uint8_t m[8];
		uint64_t x = (uint64_t)i;
		memcpy(m, &x, 8);
		uint64_t r0 = 0;
		t->err |= bpfvm_prog_run(t->p, m, 8, &r0);
		t->sum += r0;
	}
	return NULL;
}

Test(jit, threads_share_one_image)
{
	bpfvm *vm = new_vm();
	/* r0 = sum of 0..input via a loop that uses its stack */
	struct bpf_insn prog[] = {
		LDXDW(2, 1, 0), MOV64_K(0, 0), STXDW(10, 0, -8),
		LDXDW(0, 10, -8), ALU64_X(OP_ADD, 0, 2), STXDW(10, 0, -8), ALU64_K(OP_SUB, 2, 1), JNE_K(2, 0, -5),
		LDXDW(0, 10, -8), EXIT,
	};
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(p), BPFVM_ENGINE_JIT);
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ .p = p };
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	}
	uint64_t want = 0;
	for (uint64_t i = 1; i < 2000; i++)
		want += i * (i + 1) / 2;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(t[i].err, 0);
		cr_expect_eq(t[i].sum, want);
	}
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* The mov+add -> lea and lsh 32 + rsh 32 -> mov r32 peepholes, over every
 * register pair (r7 = r13 and r10 = rbp need special addressing forms),
 * and never across a jump target. */
Test(jit, fused_pairs_match_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[8] = { 0 };
	for (int d = 0; d <= 9; d++)
		for (int s = 0; s <= 10; s++)
			for (int x = 0; x <= 10; x++) {
				if (d == 6 || s == 6 || x == 6 || s == 10 || x == 10)
					continue; /* pointers differ per run: compared below without them */
				struct bpf_insn prog[] = {
					LDDW(1, 0x1111111111ull), LDDW(2, 0x2222222222ull), LDDW(3, 0x3333333333ull),
					MOV64_K(4, 0x4444), MOV64_K(5, 0x5555), MOV64_K(0, 0x7), MOV64_K(7, 0x777),
					MOV64_K(8, -8), MOV64_K(9, 0x999),
					MOV64_X(d, s), ALU64_X(OP_ADD, d, x),
					MOV64_X(d, s), ALU64_K(OP_ADD, d, -3000),
					ALU64_K(OP_LSH, d, 32), ALU64_K(OP_RSH, d, 32),
					JEQ_K(d, 12345, 1),   /* lands on the add: no fusion */
					MOV64_X(d, s), ALU64_X(OP_ADD, d, x),
					MOV64_X(6, d), ALU64_X(OP_XOR, 6, 1), ALU64_X(OP_XOR, 6, 2), ALU64_X(OP_XOR, 6, 3),
					ALU64_X(OP_XOR, 6, 4), ALU64_X(OP_XOR, 6, 5), ALU64_X(OP_XOR, 6, 7),
					ALU64_X(OP_XOR, 6, 8), ALU64_X(OP_XOR, 6, 9), ALU64_X(OP_XOR, 6, 0),
					MOV64_X(0, 6), EXIT,
				};
				char what[32];
				snprintf(what, sizeof(what), "d%d s%d x%d", d, s, x);
				diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
			}
	/* r10 as a source: the difference to r10 is the same on both engines */
	struct bpf_insn p10[] = { MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -16), MOV64_X(3, 10), ALU64_X(OP_ADD, 3, 10),
	                          MOV64_X(0, 10), ALU64_X(OP_SUB, 0, 2), ALU64_X(OP_SUB, 3, 10), ALU64_X(OP_SUB, 3, 10),
	                          ALU64_X(OP_ADD, 0, 3), EXIT };
	cr_expect_eq(jit_run(vm, p10, N(p10), mem, 8, 0), 16);
	bpfvm_destroy(vm);
}

/* Tail calls: a chain through a prog array, the 33-call limit on a program
 * that tail-calls itself, empty slots falling through, a tail call from a
 * subprogram (the target replaces that frame only), and a target left on
 * the interpreter.  Results must match the interpreter's. */
static int run_tail(uint32_t engine_main, uint32_t engine_target, uint32_t target_flags, uint64_t *r0, uint8_t *mem)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr ma = { .sz = sizeof(ma), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                             .max_entries = 4, .spin_lock_off = -1 };
	bpfvm_map *pa = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &ma, &pa), 0);
	int fd = bpfvm_map_fd(pa);
	/* self: mem[0]++, tail call slot 0 (itself) until the limit */
	struct bpf_insn self[] = {
		LDXDW(2, 1, 0), ALU64_K(OP_ADD, 2, 1), STXDW(1, 2, 0),
		LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
		MOV64_K(0, 500), EXIT,
	};
	/* target at slot 1: r0 = mem[0] * 1000 + r6 garbage check (r6 set fresh) */
	struct bpf_insn target[] = { MOV64_K(6, 7), LDXDW(0, 1, 0), ALU64_K(OP_MUL, 0, 1000), ALU64_X(OP_ADD, 0, 6), EXIT };
	/* main: subprogram tail-calls slot 1; the caller adds r6 afterwards;
	 * then slot 3 (empty) falls through */
	struct bpf_insn mainp[] = {
		MOV64_K(6, 40000), MOV64_X(7, 1),
		CALL_LOCAL(7),
		ALU64_X(OP_ADD, 0, 6),
		MOV64_X(1, 7), LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 3), CALL(BPFVM_FN_tail_call), /* empty: falls through */
		EXIT,
		/* sub: */
		MOV64_K(6, 1), LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 1), CALL(BPFVM_FN_tail_call), MOV64_K(0, 9), EXIT,
	};
	char log[1024] = "";
	bpfvm_prog *ps = load(vm, self, N(self), engine_main, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	bpfvm_prog *pt = load(vm, target, N(target), engine_target, target_flags, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(pt), engine_target, "%s", log);
	bpfvm_prog *pm = load(vm, mainp, N(mainp), engine_main, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(pm), engine_main, "%s", log);
	uint32_t k = 0;
	int v = bpfvm_prog_fd(ps);
	cr_assert_eq(bpfvm_map_update(pa, &k, &v, BPFVM_ANY), 0);
	k = 1;
	v = bpfvm_prog_fd(pt);
	cr_assert_eq(bpfvm_map_update(pa, &k, &v, BPFVM_ANY), 0);
	memset(mem, 0, 16);
	uint64_t a = 0, b = 0;
	int rc = bpfvm_prog_run(ps, mem, 16, &a);
	if (!rc)
		rc = bpfvm_prog_run(pm, mem, 16, &b);
	*r0 = a * 1000000 + b;
	bpfvm_prog_put(ps);
	bpfvm_prog_put(pt);
	bpfvm_prog_put(pm);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
	return rc;
}

Test(jit, tail_calls)
{
	uint8_t mi[16], mj[16], mx[16];
	uint64_t ri, rj, rx;
	uint8_t mc[16];
	uint64_t rc;
	cr_assert_eq(run_tail(BPFVM_ENGINE_INTERP, BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, &ri, mi), 0);
	cr_assert_eq(run_tail(BPFVM_ENGINE_JIT, BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, &rj, mj), 0);
	cr_assert_eq(run_tail(BPFVM_ENGINE_JIT, BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, &rx, mx), 0);
	/* a checked-mode JIT'd target of an unchecked JIT'd caller */
	cr_assert_eq(run_tail(BPFVM_ENGINE_JIT, BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY, &rc, mc), 0);
	cr_expect_eq(rc, ri, "jit->checked jit %llu", (unsigned long long)rc);
	cr_expect(memcmp(mi, mc, 16) == 0);
	/* self ran 1 + 33 times, then fell through with 500; main: 34*1000 + 7 + 40000 */
	cr_expect_eq(ri, 500ull * 1000000 + 34 * 1000 + 7 + 40000, "interp %llu", (unsigned long long)ri);
	cr_expect_eq(rj, ri, "jit %llu", (unsigned long long)rj);
	cr_expect_eq(rx, ri, "jit->interp %llu", (unsigned long long)rx);
	cr_expect(memcmp(mi, mj, 16) == 0 && memcmp(mi, mx, 16) == 0);
}

Test(jit, tail_entry_skips_push_rbp_mov_rbp_rsp)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = { MOV64_K(0, 1), EXIT };
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	struct bpfvm_prog *ip = p;
	const struct jit_image *img = ip->jit;
	const uint8_t *body = (const uint8_t *)img->mem + img->subs[0];
	static const uint8_t want[JIT_TAIL_ENTRY_SKIP] = { 0x55, 0x48, 0x89, 0xe5 };
	cr_expect(memcmp(body, want, JIT_TAIL_ENTRY_SKIP) == 0);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* Array lookups are inlined (no call to the helper in the image) and give
 * the helper's results; BPF_F_INNER_MAP arrays keep the call. */
static void lookup_case(uint32_t map_flags, bool want_inline)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr ma = { .sz = sizeof(ma), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 12,
	                             .max_entries = 5, .map_flags = map_flags, .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &ma, &m), 0);
	int fd = bpfvm_map_fd(m);
	/* for key in mem[0..8) as u32 keys k: v = lookup(k); if v: v[1] += k + 1, r0 = r0*10 + v[1] else r0 = r0*10 + 9 */
	struct bpf_insn prog[] = {
		MOV64_X(6, 1), MOV64_K(7, 0), MOV64_K(8, 0),
		/* loop head (3) */
		MOV64_X(2, 6), ALU64_X(OP_ADD, 2, 8), LDXW(3, 2, 0), STXW(10, 3, -4),
		LDDW_SRC(1, 1, fd, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -4), CALL(BPFVM_FN_map_lookup_elem),
		ALU64_K(OP_MUL, 7, 10),
		JEQ_K(0, 0, 7),
		LDXW(3, 10, -4), ALU64_K(OP_ADD, 3, 1), LDXW(4, 0, 4), ALU64_X(OP_ADD, 4, 3), STXW(0, 4, 4),
		ALU64_X(OP_ADD, 7, 4),
		JA(1),
		ALU64_K(OP_ADD, 7, 9),
		ALU64_K(OP_ADD, 8, 4), JNE_K(8, 24, -21),
		MOV64_X(0, 7), EXIT,
	};
	char log[1024] = "";
	bpfvm_prog *pi = load(vm, prog, N(prog), BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	bpfvm_prog *pj = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	cr_assert_eq(bpfvm_prog_engine(pj), BPFVM_ENGINE_JIT, "%s", log);
	struct bpfvm_prog *jp = pj;
	const struct jit_image *img = jp->jit;
	uint64_t fnaddr = (uint64_t)(uintptr_t)map_helper_lookup;
	bool has_call = memmem(img->mem, img->code_size, &fnaddr, 8) != NULL;
	cr_expect_eq(has_call, !want_inline, "inlined: want %d", want_inline);
	uint32_t keys[6] = { 0, 4, 5, 2, 0xffffffffu, 4 };
	uint64_t ri = 0, rj = 0;
	cr_assert_eq(bpfvm_prog_run(pi, keys, sizeof(keys), &ri), 0);
	uint32_t vals_i[5][3], vals_j[5][3];
	for (uint32_t k = 0; k < 5; k++)
		cr_assert_eq(bpfvm_map_lookup(m, &k, vals_i[k], 0), 0);
	cr_assert_eq(bpfvm_prog_run(pj, keys, sizeof(keys), &rj), 0);
	for (uint32_t k = 0; k < 5; k++)
		cr_assert_eq(bpfvm_map_lookup(m, &k, vals_j[k], 0), 0);
	/* keys 0:1, 4:5, 5:miss, 2:3, -1:miss, 4:5+5=10 */
	cr_expect_eq(ri, 159400, "interp r0 %llu", (unsigned long long)ri);
	/* the JIT ran second, on the values the interpreter left */
	cr_expect_eq(rj, 359710, "jit r0 %llu", (unsigned long long)rj);
	cr_expect_eq(vals_i[4][1], 10);
	cr_expect_eq(vals_j[4][1], 20);
	cr_expect_eq(vals_j[2][1], 6);
	cr_expect_eq(vals_j[0][1], 2);
	bpfvm_prog_put(pi);
	bpfvm_prog_put(pj);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(jit, array_lookup_inlined)
{
	lookup_case(0, true);
}

Test(jit, inner_map_array_lookup_keeps_the_call)
{
	lookup_case(BPFVM_F_INNER_MAP, false);
}

/* Checked mode, JIT'd: the interpreter's errors for the same faults, and
 * accesses that are allowed (caller frames, the input) still work. */
static int checked_run(uint32_t engine, const struct bpf_insn *insns, size_t n, uint8_t *mem, size_t len,
                       uint64_t *r0, uint64_t budget)
{
	bpfvm *vm = new_vm();
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .engine = engine,
	                              .log_buf = log, .log_size = sizeof(log), .insn_budget = budget };
	bpfvm_prog *p = NULL;
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &po, &p), 0, "%s", log);
	cr_assert_eq(bpfvm_prog_engine(p), engine, "%s", log);
	char err[256] = "";
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = len, .err_buf = err, .err_size = sizeof(err) };
	int rc = bpfvm_prog_run_opts(p, &ro);
	*r0 = ro.r0;
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
	return rc;
}

static void checked_same(const struct bpf_insn *insns, size_t n, int want_rc, const char *what)
{
	uint8_t mi[16], mj[16];
	for (int i = 0; i < 16; i++)
		mi[i] = mj[i] = (uint8_t)(i + 1);
	uint64_t ri = 0, rj = 0;
	int ei = checked_run(BPFVM_ENGINE_INTERP, insns, n, mi, 16, &ri, 100000);
	int ej = checked_run(BPFVM_ENGINE_JIT, insns, n, mj, 16, &rj, 100000);
	cr_expect_eq(ei, want_rc, "%s: interp %d", what, ei);
	cr_expect_eq(ej, want_rc, "%s: jit %d", what, ej);
	if (!want_rc) {
		cr_expect_eq(ri, rj, "%s: r0 %llu vs %llu", what, (unsigned long long)ri, (unsigned long long)rj);
		cr_expect(memcmp(mi, mj, 16) == 0, "%s: memory", what);
	}
}

Test(jit, checked_mode)
{
	struct bpf_insn oob_load[] = { LDXDW(0, 1, 16), EXIT };
	checked_same(oob_load, N(oob_load), -EFAULT, "load past the input");
	struct bpf_insn oob_stack[] = { STDW(10, -520, 1), MOV64_K(0, 0), EXIT };
	checked_same(oob_stack, N(oob_stack), -EFAULT, "store below the frame");
	struct bpf_insn above[] = { STDW(10, 0, 1), MOV64_K(0, 0), EXIT };
	checked_same(above, N(above), -EFAULT, "store above the frame");
	struct bpf_insn wild[] = { LDDW(1, 0x1000), LDXB(0, 1, 0), EXIT };
	checked_same(wild, N(wild), -EFAULT, "wild pointer");
	struct bpf_insn loop[] = { MOV64_K(0, 0), ALU64_K(OP_ADD, 0, 1), JA(-2), EXIT };
	checked_same(loop, N(loop), -ELOOP, "runaway loop");
	struct bpf_insn deep[] = { CALL_LOCAL(-1), EXIT };
	checked_same(deep, N(deep), -E2BIG, "unbounded recursion");
	struct bpf_insn misaligned[] = { MOV64_K(2, 1), ATOMIC64(1, 2, 1, 0x00), MOV64_K(0, 0), EXIT };
	checked_same(misaligned, N(misaligned), -EFAULT, "misaligned atomic");
	/* fine: the input, the frame, and a caller's frame through a pointer */
	struct bpf_insn ok[] = {
		LDXDW(2, 1, 8), STXDW(10, 2, -8), STDW(10, -512, 5), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -8),
		CALL_LOCAL(3), LDXDW(3, 10, -512), ALU64_X(OP_ADD, 0, 3), EXIT,
		/* sub(r1 = &caller's slot): r0 = *r1 + own stack; *r1 = 7 */
		STDW(10, -8, 100), LDXDW(0, 1, 0), LDXDW(2, 10, -8), ALU64_X(OP_ADD, 0, 2), STDW(1, 0, 7), EXIT,
	};
	checked_same(ok, N(ok), 0, "allowed accesses");
	/* uninitialized stack reads as zero on both engines */
	struct bpf_insn zero[] = { LDXDW(0, 10, -16), EXIT };
	checked_same(zero, N(zero), 0, "fresh stack");
}

static uint64_t stopper(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b; (void)c; (void)d; (void)e;
	if (a == 1)
		bpfvm_run_stop(77);
	return 3;
}

/* bpfvm_run_stop() in a helper ends the run when the helper returns, even
 * from a subprogram: nothing after the call runs. */
Test(jit, run_stop_from_helper)
{
	bpfvm *vm = new_vm();
	struct bpfvm_helper_proto proto = { .sz = sizeof(proto), .name = "stopper",
	                                    .args = { BPFVM_ARG_ANYTHING } };
	cr_assert_eq(bpfvm_helper_register(vm, 1, stopper, &proto), 0);
	struct bpf_insn prog[] = {
		MOV64_X(6, 1), LDXB(1, 6, 1), CALL_LOCAL(3), STDW(6, 8, 0x55), MOV64_K(0, 5), EXIT,
		/* sub: */
		CALL(1), STDW(6, 0, 0x66), EXIT,
	};
	for (int stop = 0; stop <= 1; stop++) {
		uint8_t mem[16] = { 0 };
		mem[1] = (uint8_t)stop;
		diff(vm, prog, N(prog), mem, sizeof(mem), 0, stop ? "stop" : "no stop");
		uint8_t m2[16] = { 0 };
		m2[1] = (uint8_t)stop;
		cr_expect_eq(jit_run(vm, prog, N(prog), m2, 16, 0), stop ? 77u : 5u);
		cr_expect_eq(m2[0], stop ? 0 : 0x66);
		cr_expect_eq(m2[8], stop ? 0 : 0x55);
	}
	bpfvm_destroy(vm);
}

/*
 * The peephole plan (jit/x86_64_opt.c) against the interpreter: every
 * fused sequence with its temporary dead (fused) and live (not fused, or
 * fused only where the value is not needed), every access size, op and
 * width, and compare constants at the edges of the loaded value's range.
 */
#define JMP_K(code, d, i, o) INS((code) | 0x05, d, 0, o, i)
#define JMP32_K(code, d, i, o) INS((code) | 0x06, d, 0, o, i)

static const uint8_t ldx_code[4] = { 0x71, 0x69, 0x61, 0x79 };  /* b h w dw */
static const uint8_t stx_code[4] = { 0x73, 0x6b, 0x63, 0x7b };
static const uint8_t st_code[4] = { 0x72, 0x6a, 0x62, 0x7a };

static void peephole_mem(uint8_t *mem)
{
	for (int i = 0; i < 64; i++)
		mem[i] = (uint8_t)(0x80 + 37 * i); /* both signs in every size */
}

Test(jit, peephole_rmw_matches_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[64];
	static const uint8_t ops[5] = { OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR };
	static const int32_t ks[4] = { 1, -1, 0x7fffffff, (int32_t)0x80000000 };
	for (int sz = 0; sz < 4; sz++)
		for (int o = 0; o < 5; o++)
			for (int w64 = 0; w64 < 2; w64++)
				for (int form = 0; form < 5; form++)
					for (int live = 0; live < 3; live++) {
						peephole_mem(mem);
						struct bpf_insn alu = form < 4 ? (w64 ? ALU64_K(ops[o], 4, ks[form]) : ALU32_K(ops[o], 4, ks[form]))
						                               : (w64 ? ALU64_X(ops[o], 4, 5) : ALU32_X(ops[o], 4, 5));
						/* live 0: r4 overwritten (fused); 1: r4 returned; 2: the
						 * store is a jump target (not fused) */
						struct bpf_insn prog[] = {
							LDDW(5, 0x8123456789abcdefull),
							MOV64_K(0, 0),
							MOV64_K(4, 0x55),
							JEQ_K(4, live == 2 ? 0x55 : 0x56, 2),
							INS(ldx_code[sz], 4, 1, 8, 0),
							alu,
							INS(stx_code[sz], 1, 4, 8, 0),
							live == 1 ? MOV64_X(0, 4) : MOV64_K(4, 0),
							LDXDW(6, 1, 8),
							ALU64_X(OP_XOR, 0, 6),
							EXIT,
						};
						char what[64];
						snprintf(what, sizeof(what), "rmw sz%d op%#x w%d form%d live%d", 1 << sz, ops[o], 32 << w64,
						         form, live);
						diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
					}
	bpfvm_destroy(vm);
}

Test(jit, peephole_cmp_and_test_match_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[64];
	static const uint8_t jcodes[11] = { 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0 };
	static const int32_t ks[] = { 0, 1, 127, 128, 200, 255, 256, 0x7fff, 0x8000, 65535, 65536, -1, 0x7fffffff,
	                              (int32_t)0x80000000, 0x25 };
	for (int sz = 0; sz < 3; sz++)
		for (int j = 0; j < 11; j++)
			for (size_t k = 0; k < N(ks); k++)
				for (int w = 0; w < 2; w++)
					for (int live = 0; live < 2; live++)
						for (int off = 0; off < 40; off += 13) {
							peephole_mem(mem);
							struct bpf_insn prog[] = {
								MOV64_K(0, 1),
								INS(ldx_code[sz], 4, 1, (int16_t)off, 0),
								w ? JMP32_K(jcodes[j], 4, ks[k], 1) : JMP_K(jcodes[j], 4, ks[k], 1),
								MOV64_K(0, 2),
								live ? ALU64_X(OP_ADD, 0, 4) : MOV64_K(4, 7),
								EXIT,
							};
							char what[64];
							snprintf(what, sizeof(what), "cmp sz%d j%#x k%d w%d live%d off%d", 1 << sz, jcodes[j],
							         ks[k], w, live, off);
							diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
						}
	/* [mov] and K; jeq/jne 0 */
	static const int32_t masks[] = { 1, 0x80, 0x7f, (int32_t)0x80000000, -1, 0x100, -256 };
	static const uint64_t vals[] = { 0, 1, 0x80, 0xff00, 0x80000000ull, 0x100000000ull, 0xffffffff00000000ull, ~0ull };
	for (size_t m = 0; m < N(masks); m++)
		for (size_t v = 0; v < N(vals); v++)
			for (int variant = 0; variant < 16; variant++) {
				int mov = variant & 3; /* 0 none, 1 mov64, 2 mov32, 3 mov of the same register */
				int and32 = (variant >> 2) & 1, j32 = (variant >> 3) & 1;
				struct bpf_insn prog[] = {
					LDDW(6, vals[v]),
					MOV64_X(3, 6),
					mov == 1 ? MOV64_X(3, 6) : mov == 2 ? INS(0xbc, 3, 6, 0, 0) : MOV64_X(3, 3),
					and32 ? ALU32_K(OP_AND, 3, masks[m]) : ALU64_K(OP_AND, 3, masks[m]),
					j32 ? JMP32_K(0x10, 3, 0, 2) : JMP_K(0x10, 3, 0, 2),
					MOV64_K(0, 1),
					EXIT,
					MOV64_K(0, 2),
					EXIT,
				};
				char what[64];
				snprintf(what, sizeof(what), "test m%d v%d variant%d", masks[m], (int)v, variant);
				diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
			}
	bpfvm_destroy(vm);
}

/* rA = rB; rA += rC|K; [gap]; memory user at rA: folded into one address
 * only when the gap leaves rA, rB and rC alone and rA is dead after. */
Test(jit, peephole_address_fold_matches_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[64];
	for (int user = 0; user < 6; user++)
		for (int gap = 0; gap < 6; gap++)
			for (int kform = 0; kform < 2; kform++)
				for (int live = 0; live < 2; live++)
					for (int sz = 0; sz < 4; sz++) {
						peephole_mem(mem);
						/* r1 = mem, r3 = 8 (index), r2 = the temporary */
						struct bpf_insn gaps[6] = {
							MOV64_K(7, 1),                /* unrelated */
							ALU64_K(OP_ADD, 3, 8),        /* writes the index: no fold */
							STXB(2, 3, 20),               /* reads the temporary: no fold */
							MOV64_X(5, 1),                /* reads the base: fine */
							LDXB(7, 1, 3),                /* unrelated load */
							STXB(1, 3, 60),               /* unrelated store */
						};
						struct bpf_insn users[6] = {
							INS(ldx_code[sz], 4, 2, 4, 0),  /* load */
							INS(ldx_code[sz], 2, 2, 4, 0),  /* load into the temporary */
							INS(stx_code[sz], 2, 6, 4, 0),  /* store */
							INS(st_code[sz], 2, 0, 4, -3),  /* store imm */
							INS(stx_code[sz], 2, 3, 4, 0),  /* store the index */
							INS(0x91, 4, 2, 4, 0),          /* sign-extending load */
						};
						struct bpf_insn prog[] = {
							MOV64_K(3, 8), MOV64_K(7, 0), MOV64_K(4, 0), LDDW(6, 0xfedcba9876543210ull),
							MOV64_X(2, 1),
							kform ? ALU64_K(OP_ADD, 2, 8) : ALU64_X(OP_ADD, 2, 3),
							gaps[gap],
							users[user],
							/* r2 still read: minus mem (no pointer in r0) */
							!live ? MOV64_K(2, 0) : user == 1 ? ALU64_K(OP_ADD, 2, 1) : ALU64_X(OP_SUB, 2, 1),
							LDXDW(0, 1, 8), LDXDW(5, 1, 16), ALU64_X(OP_XOR, 0, 5), ALU64_X(OP_XOR, 0, 4),
							ALU64_X(OP_XOR, 0, 7), ALU64_X(OP_ADD, 0, 3), ALU64_X(OP_ADD, 0, 2),
							EXIT,
						};
						char what[64];
						snprintf(what, sizeof(what), "fold user%d gap%d k%d live%d sz%d", user, gap, kform, live,
						         1 << sz);
						diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
					}
	bpfvm_destroy(vm);
}

/* mul by 2^n, 3, 5, 9, and mul + add, as lea/shl, at both widths. */
Test(jit, peephole_mul_matches_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[8] = { 0 };
	static const int32_t ks[] = { 2, 3, 4, 5, 8, 9, 16, 1 << 30, 6, -3 };
	static const uint64_t vals[] = { 1, 7, 0x7fffffff, 0x80000000ull, 0x5555555555555555ull, ~0ull };
	for (size_t k = 0; k < N(ks); k++)
		for (size_t v = 0; v < N(vals); v++)
			for (int w = 0; w < 2; w++)
				for (int add = 0; add < 2; add++) {
					struct bpf_insn prog[] = {
						LDDW(6, vals[v]),
						w ? ALU64_K(OP_MUL, 6, ks[k]) : ALU32_K(OP_MUL, 6, ks[k]),
						add ? (w ? ALU64_K(OP_ADD, 6, -5) : ALU32_K(OP_ADD, 6, -5)) : MOV64_K(7, 0),
						MOV64_X(0, 6),
						EXIT,
					};
					char what[64];
					snprintf(what, sizeof(what), "mul k%d v%zu w%d add%d", ks[k], v, w, add);
					diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
				}
	bpfvm_destroy(vm);
}

/* The image of a[i] += b[i] * k holds one `add dword [base + index], reg`:
 * the five-instruction BPF sequence became one x86 instruction. */
Test(jit, peephole_rmw_is_one_instruction)
{
	bpfvm *vm = new_vm();
	struct bpf_insn prog[] = {
		MOV64_K(7, 0),
		MOV64_X(0, 1), ALU64_X(OP_ADD, 0, 7), LDXW(9, 0, 0), ALU32_X(OP_ADD, 9, 3), STXW(0, 9, 0),
		MOV64_K(0, 0), EXIT,
	};
	char log[256] = "";
	bpfvm_prog *p = load(vm, prog, N(prog), BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
	const struct jit_image *img = p->jit;
	cr_assert_not_null(img);
	/* add dword ptr [rdi + r13], edx */
	static const uint8_t want[] = { 0x42, 0x01, 0x14, 0x2f };
	const uint8_t *code = img->mem;
	uint32_t at = img->addrs[1];
	cr_expect_eq(img->addrs[6] - at, sizeof(want), "the sequence is %u bytes", img->addrs[6] - at);
	cr_expect(memcmp(code + at, want, sizeof(want)) == 0);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* d op= x; if d ==/!= 0: the jump reuses the op's flags (a 64-bit jump
 * after a 32-bit op too, never a 32-bit jump after a 64-bit op); and
 * w = ws; w += wx|K as a 32-bit lea.  Values make the 32- and 64-bit
 * results differ in zero-ness. */
Test(jit, peephole_flags_and_lea32_match_interpreter)
{
	bpfvm *vm = new_vm();
	uint8_t mem[8] = { 0 };
	static const uint8_t ops[5] = { OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR };
	static const uint64_t vals[] = { 0, 1, 0x100000000ull, 0xffffffffull, ~0ull, 0xffffffff00000001ull };
	for (int o = 0; o < 5; o++)
		for (size_t a = 0; a < N(vals); a++)
			for (size_t b = 0; b < N(vals); b++)
				for (int v = 0; v < 8; v++) {
					bool w64 = v & 1, x = v & 2, j32 = v & 4;
					struct bpf_insn op = x ? (w64 ? ALU64_X(ops[o], 3, 4) : ALU32_X(ops[o], 3, 4))
					                       : (w64 ? ALU64_K(ops[o], 3, (int32_t)vals[b]) : ALU32_K(ops[o], 3, (int32_t)vals[b]));
					struct bpf_insn prog[] = {
						LDDW(3, vals[a]), LDDW(4, vals[b]), MOV64_K(0, 1),
						op,
						j32 ? INS(0x16, 3, 0, 2, 0) : JEQ_K(3, 0, 2),
						ALU64_K(OP_ADD, 0, 10),
						j32 ? INS(0x56, 3, 0, 1, 0) : JNE_K(3, 0, 1),
						ALU64_K(OP_ADD, 0, 100),
						ALU64_X(OP_ADD, 0, 3),
						EXIT,
					};
					char what[64];
					snprintf(what, sizeof(what), "flags op%#x a%zu b%zu v%d", ops[o], a, b, v);
					diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
				}
	for (size_t a = 0; a < N(vals); a++)
		for (size_t b = 0; b < N(vals); b++)
			for (int v = 0; v < 3; v++) {
				struct bpf_insn add = v == 0 ? ALU32_X(OP_ADD, 3, 4) : v == 1 ? ALU32_X(OP_ADD, 3, 3)
				                                                            : ALU32_K(OP_ADD, 3, (int32_t)vals[b]);
				struct bpf_insn prog[] = {
					LDDW(5, vals[a]), LDDW(4, vals[b]), LDDW(3, 0x123456789ull),
					INS(0xbc, 3, 5, 0, 0), add,
					MOV64_X(0, 3), EXIT,
				};
				char what[64];
				snprintf(what, sizeof(what), "lea32 a%zu b%zu v%d", a, b, v);
				diff(vm, prog, N(prog), mem, sizeof(mem), 0, what);
			}
	bpfvm_destroy(vm);
}

/* Every loop head (backward-jump target) starts JIT_LOOP_ALIGN_AT bytes
 * into a JIT_LOOP_ALIGN-byte line, also with jumps of every size around
 * it; the nops in front keep the results unchanged. */
Test(jit, loop_heads_are_aligned)
{
	bpfvm *vm = new_vm();
	for (int pre = 0; pre < 40; pre++) {
		struct bpf_insn prog[64];
		size_t n = 0;
		prog[n++] = MOV64_K(0, 0);
		prog[n++] = MOV64_K(1, 5);
		for (int k = 0; k < pre; k++)
			prog[n++] = ALU64_K(OP_ADD, 0, k + 1000); /* shifts the loop by 4-7 bytes each */
		size_t head = n;
		prog[n++] = ALU64_K(OP_ADD, 0, 3);
		prog[n++] = ALU64_K(OP_SUB, 1, 1);
		prog[n] = JNE_K(1, 0, (int16_t)((int)head - (int)n - 1));
		n++;
		prog[n++] = EXIT;
		char log[256] = "";
		bpfvm_prog *p = load(vm, prog, n, BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, log, sizeof(log));
		const struct jit_image *img = p->jit;
		cr_assert_not_null(img);
		cr_expect_eq((img->addrs[head] + JIT_ENTRY_GUARD) % JIT_LOOP_ALIGN, JIT_LOOP_ALIGN_AT, "pre %d: head at %#x",
		             pre, img->addrs[head]);
		uint64_t r0 = 0;
		uint8_t mem[8];
		cr_expect_eq(bpfvm_prog_run(p, mem, 8, &r0), 0);
		uint64_t want = 15;
		for (int k = 0; k < pre; k++)
			want += (uint64_t)(k + 1000);
		cr_expect_eq(r0, want);
		bpfvm_prog_put(p);
	}
	bpfvm_destroy(vm);
}
