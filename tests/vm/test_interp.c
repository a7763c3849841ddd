/* Interpreter semantics: tables of edge cases, run on both loops. */
#include <limits.h>
#include <pthread.h>

#include "util.h"

struct sem_case {
	const char *name;
	struct bpf_insn insns[24];
	uint64_t r0;
};

#define I64MIN_LO 0
#define CASE(nm, res, ...) { nm, { __VA_ARGS__ }, res }

static const struct sem_case cases[] = {
	CASE("div64 by zero gives 0", 0, MOV64_K(0, 7), MOV64_K(1, 0), ALU64_X(OP_DIV, 0, 1), EXIT),
	CASE("mod64 by zero leaves dst", 7, MOV64_K(0, 7), MOV64_K(1, 0), ALU64_X(OP_MOD, 0, 1), EXIT),
	CASE("mod32 by zero truncates dst", 0x5, LDDW(0, 0x1200000005ull), MOV64_K(1, 0), ALU32_X(OP_MOD, 0, 1), EXIT),
	CASE("div32 by zero gives 0", 0, MOV64_K(0, 7), ALU32_K(OP_DIV, 0, 0), EXIT),
	CASE("sdiv64 INT_MIN/-1 wraps", 0x8000000000000000ull, LDDW(0, 0x8000000000000000ull), MOV64_K(1, -1),
	     SALU64_X(OP_DIV, 0, 1), EXIT),
	CASE("smod64 INT_MIN%-1 is 0", 0, LDDW(0, 0x8000000000000000ull), MOV64_K(1, -1), SALU64_X(OP_MOD, 0, 1), EXIT),
	CASE("sdiv32 INT_MIN/-1 wraps, zext", 0x80000000ull, MOV32_K(0, INT32_MIN), MOV64_K(1, -1),
	     SALU32_X(OP_DIV, 0, 1), EXIT),
	CASE("smod32 by zero keeps low half", 0xfffffff9ull, MOV64_K(0, -7), MOV64_K(1, 0), SALU32_X(OP_MOD, 0, 1), EXIT),
	CASE("smod64 sign follows dividend", (uint64_t)-1, MOV64_K(0, -7), MOV64_K(1, 3), SALU64_X(OP_MOD, 0, 1), EXIT),
	CASE("sdiv64 truncates toward zero", (uint64_t)-2, MOV64_K(0, -7), MOV64_K(1, 3), SALU64_X(OP_DIV, 0, 1), EXIT),
	CASE("lsh64 amount masked to 63", 2, MOV64_K(0, 1), MOV64_K(1, 65), ALU64_X(OP_LSH, 0, 1), EXIT),
	CASE("lsh32 amount masked to 31", 2, MOV64_K(0, 1), MOV64_K(1, 33), ALU32_X(OP_LSH, 0, 1), EXIT),
	CASE("arsh32 sign of low half, zext", 0xffffffffull, MOV32_K(0, INT32_MIN), ALU32_K(OP_ARSH, 0, 31), EXIT),
	CASE("arsh64", (uint64_t)-1, MOV64_K(0, -8), ALU64_K(OP_ARSH, 0, 40), EXIT),
	CASE("add32 zero-extends", 0, MOV64_K(0, -1), ALU32_K(OP_ADD, 0, 1), EXIT),
	CASE("mov32 zero-extends", 0xffffffffull, MOV64_K(0, -1), INS(0xbc, 0, 0, 0, 0), EXIT),
	CASE("neg32", 0xffffffffull, MOV64_K(0, 1), INS(0x84, 0, 0, 0, 0), EXIT),
	CASE("alu64 imm sign-extends", 0xfffffffffffffffeull, MOV64_K(0, 0), ALU64_K(OP_SUB, 0, 2), EXIT),
	CASE("movsx8 64", (uint64_t)-128, MOV64_K(1, 0x180), INS(0xbf, 0, 1, 8, 0), EXIT),
	CASE("movsx16 32 zext", 0xffff8000ull, MOV64_K(1, 0x8000), INS(0xbc, 0, 1, 16, 0), EXIT),
	CASE("movsx32 64", (uint64_t)(int64_t)INT32_MIN, MOV32_K(1, INT32_MIN), INS(0xbf, 0, 1, 32, 0), EXIT),
	CASE("be16", 0x3412, LDDW(0, 0xffff1234ull), INS(0xdc, 0, 0, 0, 16), EXIT),
	CASE("le32 truncates", 0x89abcdefull, LDDW(0, 0x0123456789abcdefull), INS(0xd4, 0, 0, 0, 32), EXIT),
	CASE("bswap64", 0xefcdab8967452301ull, LDDW(0, 0x0123456789abcdefull), INS(0xd7, 0, 0, 0, 64), EXIT),
	CASE("bswap32 zext", 0xefcdab89ull, LDDW(0, 0x0123456789abcdefull), INS(0xd7, 0, 0, 0, 32), EXIT),
	CASE("stack store/load and ldxsb", (uint64_t)-1, MOV64_K(1, 0xff), STXB(10, 1, -1), LDXSB(0, 10, -1), EXIT),
	CASE("atomic fetch add64: mem 15, src gets old 10", 25, STDW(10, -8, 10), MOV64_K(1, 5), ATOMIC64(10, 1, -8, 0x01), LDXDW(0, 10, -8),
	     ALU64_X(OP_ADD, 0, 1), EXIT),
	CASE("atomic fetch or32 zero-extends src", 0xf0000001ull, STDW(10, -8, -1), INS(0x62, 10, 0, -8, 0xf0000000),
	     MOV64_K(1, -1 ^ 0xffff), ALU64_K(OP_OR, 1, 0), MOV64_K(1, 1), ATOMIC32(10, 1, -8, 0x41), LDXW(0, 10, -8),
	     EXIT),
	CASE("cmpxchg64 success puts old in r0", 0x107, STDW(10, -8, 7), MOV64_K(0, 7), MOV64_K(1, 1),
	     ATOMIC64(10, 1, -8, 0xf1), LDXDW(2, 10, -8), ALU64_K(OP_LSH, 2, 8), ALU64_X(OP_OR, 0, 2), EXIT),
	CASE("cmpxchg32 failure keeps memory", 0x707, STDW(10, -8, 7), MOV64_K(0, 3), MOV64_K(1, 9),
	     ATOMIC32(10, 1, -8, 0xf1), LDXW(2, 10, -8), ALU64_K(OP_LSH, 2, 8), ALU64_X(OP_OR, 0, 2), EXIT),
	CASE("xchg64", 0x22, STDW(10, -8, 0x11), MOV64_K(1, 0x22), ATOMIC64(10, 1, -8, 0xe1), LDXDW(0, 10, -8), EXIT),
	CASE("jslt signed", 1, MOV64_K(1, -5), MOV64_K(0, 0), JSLT_K(1, 0, 1), EXIT, MOV64_K(0, 1), EXIT),
	CASE("jmp32 compares low half", 1, LDDW(1, 0x100000005ull), MOV64_K(0, 0), INS(0x16, 1, 0, 1, 5), EXIT,
	     MOV64_K(0, 1), EXIT),
	CASE("ja32 (gotol)", 3, MOV64_K(0, 1), INS(0x06, 0, 0, 0, 1), EXIT, MOV64_K(0, 3), EXIT),
	CASE("local call: args, r6-r9 preserved, r0 returned", 0x6789 + 3,
	     MOV64_K(6, 6), MOV64_K(7, 7), MOV64_K(8, 8), MOV64_K(9, 9), MOV64_K(1, 1), MOV64_K(2, 2), CALL_LOCAL(8),
	     ALU64_K(OP_LSH, 6, 12), ALU64_K(OP_LSH, 7, 8), ALU64_K(OP_LSH, 8, 4), ALU64_X(OP_ADD, 0, 6),
	     ALU64_X(OP_ADD, 0, 7), ALU64_X(OP_ADD, 0, 8), ALU64_X(OP_ADD, 0, 9), EXIT,
	     /* callee */ MOV64_X(0, 1), ALU64_X(OP_ADD, 0, 2), MOV64_K(6, 0), MOV64_K(7, 0), MOV64_K(8, 0),
	     MOV64_K(9, 0), EXIT),
	CASE("local call frame: callee stack is separate", 42, STDW(10, -8, 42), CALL_LOCAL(2), LDXDW(0, 10, -8), EXIT,
	     STDW(10, -8, 99), EXIT),
};

static void run_case(const struct sem_case *c, uint32_t flags)
{
	size_t n = 0;
	while (n < N(c->insns) && !(c->insns[n].code == 0 && c->insns[n].imm == 0 && c->insns[n].dst_reg == 0 &&
	                            (n == 0 || c->insns[n - 1].code != 0x18)))
		n++;
	uint64_t r0 = 0xdead;
	char err[256] = "";
	int rc = t_run(NULL, c->insns, n, flags, NULL, 0, &r0, err, sizeof(err));
	cr_expect_eq(rc, 0, "%s (flags %u): rc %d: %s", c->name, flags, rc, err);
	cr_expect_eq(r0, c->r0, "%s (flags %u): r0 = 0x%llx, want 0x%llx", c->name, flags, (unsigned long long)r0,
	             (unsigned long long)c->r0);
}

Test(interp, semantics_fast)
{
	for (size_t i = 0; i < N(cases); i++)
		run_case(&cases[i], BPFVM_PROG_UNCHECKED);
}

Test(interp, semantics_checked)
{
	for (size_t i = 0; i < N(cases); i++)
		run_case(&cases[i], BPFVM_PROG_NO_VERIFY);
}
