/* Helper registry, libffi binding, built-ins, callbacks, threads. */
#include <math.h>
#include <pthread.h>

#include <errno.h>

#include "util.h"

static uint64_t h_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c; (void)d; (void)e;
	return a + b;
}
static uint64_t h_stop(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b; (void)c; (void)d; (void)e;
	bpfvm_run_stop(a);
	return 0;
}
static uint64_t h_fill(uint64_t p, uint64_t n, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c; (void)d; (void)e;
	memset((void *)(uintptr_t)p, 0xab, n);
	return 0;
}

static const struct bpfvm_helper_proto any2 = { .sz = sizeof(any2), .name = "add",
                                                .args = { BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING } };

Test(helpers, registry_rules)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	cr_expect_eq(bpfvm_helper_register(vm, 5, h_add, &any2), -EINVAL, "ids below USER_BASE are reserved");
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, h_add, &any2), 0);
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, h_add, &any2), -EEXIST);
	struct bpfvm_helper_proto bad = { .sz = sizeof(bad), .args = { BPFVM_ARG_CONST_SIZE } };
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + 1, h_add, &bad), -EINVAL, "size without memory");
	struct bpfvm_helper_proto gap = { .sz = sizeof(gap), .args = { 0, BPFVM_ARG_ANYTHING } };
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + 1, h_add, &gap), -EINVAL);
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + 1, NULL, &any2), -EINVAL);
	struct bpf_insn p[] = { MOV64_K(1, 40), MOV64_K(2, 2), CALL(BPFVM_HELPER_USER_BASE), EXIT };
	uint64_t r0;
	cr_expect_eq(t_run(vm, p, N(p), BPFVM_PROG_NO_VERIFY, NULL, 0, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 42);
	bpfvm_destroy(vm);
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	cr_expect_eq(bpfvm_helper_register(vm, 5, h_add, &any2), 0, "bare VMs own the whole id space");
	bpfvm_destroy(vm);
}

Test(helpers, callx_and_stop)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	cr_assert_eq(bpfvm_helper_register(vm, 3, h_add, &any2), 0);
	cr_assert_eq(bpfvm_helper_register(vm, 4, h_stop, &any2), 0);
	struct bpf_insn p[] = { MOV64_K(1, 1), MOV64_K(2, 2), MOV64_K(7, 3), CALLX(7), EXIT };
	uint64_t r0;
	for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
		cr_expect_eq(t_run(vm, p, N(p), f, NULL, 0, &r0, NULL, 0), 0);
		cr_expect_eq(r0, 3);
	}
	struct bpf_insn q[] = { MOV64_K(1, 9), CALL(4), MOV64_K(0, 1), EXIT };
	cr_expect_eq(t_run(vm, q, N(q), BPFVM_PROG_UNCHECKED, NULL, 0, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 9);
	char err[256];
	struct bpf_insn u[] = { MOV64_K(7, 99), CALLX(7), EXIT };
	cr_expect_eq(t_run(vm, u, N(u), BPFVM_PROG_NO_VERIFY, NULL, 0, &r0, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "insn 1: call %r7: r7 = 99 is not a helper id"), "%s", err);
	bpfvm_destroy(vm);
}

Test(helpers, checked_pointer_args)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	struct bpfvm_helper_proto fp = { .sz = sizeof(fp), .name = "fill",
	                                 .args = { BPFVM_ARG_PTR_TO_UNINIT_MEM, BPFVM_ARG_CONST_SIZE } };
	cr_assert_eq(bpfvm_helper_register(vm, 1, h_fill, &fp), 0);
	uint8_t mem[16] = { 0 };
	struct bpf_insn ok[] = { MOV64_K(2, 16), CALL(1), LDXB(0, 10, -1), EXIT };
	struct bpf_insn ok2[] = { MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -8), MOV64_K(2, 8), CALL(1), LDXB(0, 10, -1), EXIT };
	struct bpf_insn bad[] = { MOV64_K(2, 17), CALL(1), EXIT };
	uint64_t r0;
	char err[256];
	cr_expect_eq(t_run(vm, ok, N(ok), BPFVM_PROG_NO_VERIFY, mem, 16, &r0, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(mem[15], 0xab);
	cr_expect_eq(t_run(vm, ok2, N(ok2), BPFVM_PROG_NO_VERIFY, mem, 16, &r0, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r0, 0xab);
	cr_expect_eq(t_run(vm, bad, N(bad), BPFVM_PROG_NO_VERIFY, mem, 16, &r0, err, sizeof(err)), -EFAULT);
	cr_expect(strstr(err, "insn 1: helper fill: argument r1"), "%s", err);
	bpfvm_destroy(vm);
}

static int32_t c_mix(int8_t a, uint16_t b, int32_t c) { return a * 1000 + b + c; }
static double c_hyp(double x, double y) { return sqrt(x * x + y * y); }
static uint8_t c_u8(uint64_t x) { return (uint8_t)(x + 1); }

Test(helpers, ffi_bind)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	const uint32_t B = BPFVM_HELPER_USER_BASE;
	enum bpfvm_ctype m[] = { BPFVM_CT_S8, BPFVM_CT_U16, BPFVM_CT_S32 };
	struct bpfvm_helper_proto p3 = { .sz = sizeof(p3), .name = "mix",
	                                 .args = { BPFVM_ARG_SCALAR, BPFVM_ARG_SCALAR, BPFVM_ARG_SCALAR } };
	cr_assert_eq(bpfvm_helper_bind(vm, B, (void (*)(void))c_mix, BPFVM_CT_S32, m, 3, &p3), 0);
	enum bpfvm_ctype d[] = { BPFVM_CT_DOUBLE_BITS, BPFVM_CT_DOUBLE_BITS };
	cr_assert_eq(bpfvm_helper_bind(vm, B + 1, (void (*)(void))c_hyp, BPFVM_CT_DOUBLE_BITS, d, 2, &any2), 0);
	enum bpfvm_ctype u[] = { BPFVM_CT_U64 };
	struct bpfvm_helper_proto p1 = { .sz = sizeof(p1), .args = { BPFVM_ARG_SCALAR } };
	cr_assert_eq(bpfvm_helper_bind(vm, B + 2, (void (*)(void))c_u8, BPFVM_CT_U8, u, 1, &p1), 0);
	cr_expect_eq(bpfvm_helper_bind(vm, B + 3, (void (*)(void))c_u8, BPFVM_CT_U8, u, 6, &p1), -EINVAL);
	cr_expect_eq(bpfvm_helper_bind(vm, B, (void (*)(void))c_u8, BPFVM_CT_U8, u, 1, &p1), -EEXIST);

	/* mix(-2 (as 0x1fe: truncated to s8), 0x10005 (truncated to 5), 7) = -2000 + 5 + 7, sign-extended */
	struct bpf_insn p[] = { MOV64_K(1, 0x1fe), MOV64_K(2, 0x10005), MOV64_K(3, 7), CALL(B), EXIT };
	uint64_t r0;
	cr_expect_eq(t_run(vm, p, N(p), BPFVM_PROG_UNCHECKED, NULL, 0, &r0, NULL, 0), 0);
	cr_expect_eq((int64_t)r0, -1988);
	double x = 3, y = 4, z;
	uint64_t xb, yb;
	memcpy(&xb, &x, 8);
	memcpy(&yb, &y, 8);
	struct bpf_insn q[] = { LDDW(1, xb), LDDW(2, yb), CALL(B + 1), EXIT };
	cr_expect_eq(t_run(vm, q, N(q), BPFVM_PROG_UNCHECKED, NULL, 0, &r0, NULL, 0), 0);
	memcpy(&z, &r0, 8);
	cr_expect(z == 5.0, "hypot = %f", z);
	struct bpf_insn s[] = { MOV64_K(1, 255), CALL(B + 2), EXIT };
	cr_expect_eq(t_run(vm, s, N(s), BPFVM_PROG_NO_VERIFY, NULL, 0, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 0, "u8 return is zero-extended after wrapping");
	bpfvm_destroy(vm);
}

static char printed[256];
static void on_print(void *user, const char *line)
{
	(void)user;
	snprintf(printed, sizeof(printed), "%s", line);
}

Test(helpers, trace_printk_and_snprintf)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .print = on_print };
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	char mem[64] = "v=%d %s x=%lx\n\0abc";
	struct bpf_insn p[] = { MOV64_X(6, 1), MOV64_K(2, 15), MOV64_K(3, -5), MOV64_X(4, 6), ALU64_K(OP_ADD, 4, 15),
	                        MOV64_K(5, 255), CALL(BPFVM_FN_trace_printk), EXIT };
	uint64_t r0;
	char err[256];
	cr_expect_eq(t_run(vm, p, N(p), BPFVM_PROG_NO_VERIFY, mem, sizeof(mem), &r0, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(printed, "v=-5 abc x=ff\n");
	cr_expect_eq(r0, strlen("v=-5 abc x=ff\n"));
	bpfvm_destroy(vm);
}

Test(helpers, bpf_loop_callback)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	/* sum = 0; bpf_loop(10, cb, &sum, 0); cb(i, ctx): *ctx += i */
	struct bpf_insn p[] = {
		STDW(10, -8, 0), MOV64_K(1, 10), LDDW_SRC(2, 4, 9, 0), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -8),
		MOV64_K(4, 0), CALL(BPFVM_FN_loop), LDXDW(1, 10, -8), ALU64_K(OP_LSH, 0, 8), ALU64_X(OP_ADD, 0, 1), EXIT,
		/* cb at 12 */ LDXDW(3, 2, 0), ALU64_X(OP_ADD, 3, 1), STXDW(2, 3, 0), MOV64_K(0, 0), EXIT,
	};
	uint64_t r0;
	char err[256];
	for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
		cr_expect_eq(t_run(vm, p, N(p), f, NULL, 0, &r0, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(r0, (10 << 8) + 45, "r0 = %llx", (unsigned long long)r0);
	}
	bpfvm_destroy(vm);
}

static bpfvm_prog *shared_prog;
static void *thread_main(void *arg)
{
	uintptr_t bad = 0;
	for (int i = 0; i < 2000; i++) {
		uint64_t in = (uintptr_t)arg + (uint64_t)i, r0 = 0;
		if (bpfvm_prog_run(shared_prog, &in, sizeof(in), &r0) || r0 != in * 3 + 1)
			bad++;
	}
	return (void *)bad;
}

Test(helpers, many_threads_one_program)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	/* r0 = *(u64 *)r1 * 3 + 1, with a local call and stack traffic */
	struct bpf_insn p[] = { LDXDW(1, 1, 0), CALL_LOCAL(2), ALU64_K(OP_ADD, 0, 1), EXIT,
	                        STXDW(10, 1, -8), LDXDW(0, 10, -8), ALU64_K(OP_MUL, 0, 3), EXIT };
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY };
	cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &shared_prog), 0);
	pthread_t t[8];
	for (uintptr_t i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(i << 20));
	for (int i = 0; i < 8; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		cr_expect_eq((uintptr_t)bad, 0);
	}
	bpfvm_prog_put(shared_prog);
	bpfvm_destroy(vm);
}

Test(helpers, strerror)
{
	cr_expect_str_eq(bpfvm_strerror(-ELOOP), "instruction budget exhausted");
	cr_expect_str_eq(bpfvm_strerror(-12345), "unknown error");
}

Test(helpers, snprintf_and_strncmp)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	/* mem: [0..31] output, [32..] "n=%u\0", [48..55] the u64 argument */
	uint8_t mem[64] = { 0 };
	memcpy(mem + 32, "n=%u", 5);
	uint64_t arg = 1234;
	memcpy(mem + 48, &arg, 8);
	struct bpf_insn p[] = { MOV64_X(6, 1), MOV64_K(2, 32), MOV64_X(3, 6), ALU64_K(OP_ADD, 3, 32), MOV64_X(4, 6),
	                        ALU64_K(OP_ADD, 4, 48), MOV64_K(5, 8), CALL(BPFVM_FN_snprintf), EXIT };
	uint64_t r0;
	char err[256];
	for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
		cr_expect_eq(t_run(vm, p, N(p), f, mem, sizeof(mem), &r0, err, sizeof(err)), 0, "%s", err);
		cr_expect_str_eq((char *)mem, "n=1234");
		cr_expect_eq(r0, 7, "bytes needed, NUL included");
	}
	/* strncmp("n=12", 4, "n=%u") > 0 ('1' > '%') */
	struct bpf_insn q[] = { MOV64_X(3, 1), ALU64_K(OP_ADD, 3, 32), MOV64_K(2, 4), CALL(BPFVM_FN_strncmp),
	                        ALU64_K(OP_ARSH, 0, 63), EXIT };
	cr_expect_eq(t_run(vm, q, N(q), BPFVM_PROG_NO_VERIFY, mem, sizeof(mem), &r0, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r0, 0, "positive result");
	bpfvm_destroy(vm);
}

struct pair_ctx { uint32_t len, magic; };
static int make_pair(void *ctx, void *data, size_t len, void *user)
{
	(void)data;
	struct pair_ctx *c = ctx;
	c->len = (uint32_t)len;
	c->magic = (uint32_t)(uintptr_t)user;
	return 0;
}

Test(helpers, custom_program_type)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	static const struct bpfvm_ctx_field f[] = { { 0, 4, BPFVM_CTX_READ, 0 }, { 4, 4, BPFVM_CTX_READ, 4 } };
	struct bpfvm_prog_type t = { .sz = sizeof(t), .name = "pair", .ctx_size = 8, .fields = f, .nfields = 2,
	                             .make_ctx = make_pair, .user = (void *)(uintptr_t)1000 };
	cr_assert_eq(bpfvm_prog_type_register(vm, &t), 0);
	cr_expect_eq(bpfvm_prog_type_register(vm, &t), -EEXIST);
	struct bpfvm_ctx_field badf[] = { { 6, 4, BPFVM_CTX_READ, 6 } };
	struct bpfvm_prog_type bad = t;
	bad.name = "bad";
	bad.fields = badf;
	bad.nfields = 1;
	cr_expect_eq(bpfvm_prog_type_register(vm, &bad), -EINVAL, "field past the context");
	/* r0 = ctx->len + ctx->magic; reading past the 8-byte ctx faults */
	struct bpf_insn p[] = { LDXW(0, 1, 0), LDXW(2, 1, 4), ALU64_X(OP_ADD, 0, 2), EXIT };
	struct bpf_insn q[] = { LDXW(0, 1, 8), EXIT };
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .type = "pair", .flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_prog *prog;
	cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0);
	uint8_t data[5];
	uint64_t r0;
	cr_expect_eq(bpfvm_prog_run(prog, data, sizeof(data), &r0), 0);
	cr_expect_eq(r0, 1005);
	cr_expect_str_eq(bpfvm_prog_name(prog), "prog");
	cr_expect_gt(bpfvm_prog_fd(prog), 0);
	cr_expect_eq(bpfvm_prog_engine(prog), BPFVM_ENGINE_INTERP);
	bpfvm_prog_put(prog);
	cr_assert_eq(bpfvm_prog_load(vm, q, N(q), &po, &prog), 0);
	cr_expect_eq(bpfvm_prog_run(prog, data, sizeof(data), &r0), -EFAULT);
	bpfvm_prog_put(prog);
	bpfvm_destroy(vm);
}

Test(helpers, api_misuse)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpf_insn p[] = { MOV64_K(0, 1), EXIT };
	bpfvm_prog *prog;
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED };
	cr_expect_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), -EINVAL);
	po.flags = 1u << 20;
	cr_expect_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), -EINVAL);
	po.flags = BPFVM_PROG_NO_VERIFY;
	po.engine = 7;
	cr_expect_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), -EINVAL);
	cr_expect_eq(bpfvm_prog_load(vm, NULL, 2, NULL, &prog), -EINVAL);
	cr_expect_eq(bpfvm_prog_load(NULL, p, 2, NULL, &prog), -EINVAL);
	po.engine = BPFVM_ENGINE_JIT; /* falls back to the interpreter when the build has no JIT */
	cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0);
	uint64_t r0;
	cr_expect_eq(bpfvm_prog_run(prog, NULL, 5, &r0), -EINVAL);
	cr_expect_eq(bpfvm_prog_run(prog, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 1);
	struct bpfvm_run_opts small = { .sz = 4 };
	cr_expect_eq(bpfvm_prog_run_opts(prog, &small), -EINVAL);
	bpfvm_prog_put(prog);
	struct bpfvm_opts bad = { .sz = sizeof(bad), .flags = 1u << 9 };
	bpfvm *vm2;
	cr_expect_eq(bpfvm_create(&bad, &vm2), -EINVAL);
	po.engine = 0;
	cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0);
	bpfvm_destroy(vm); /* also frees programs the caller never put (ASan checks) */
}

/* bpf_strtol/bpf_strtoul, Linux's semantics, through checked and unchecked
 * runs.  The input is [res slot][r0 slot][string]; res starts as a
 * sentinel to show it is written only on success. */
struct strto_case {
	bool is_signed;
	const char *s;
	int64_t len;  /* -1: strlen(s) */
	uint32_t flags;
	int64_t ret;
	uint64_t res;
};

static const struct strto_case strto_cases[] = {
	{ false, "123", -1, 0, 3, 123 },
	{ false, "123", -1, 10, 3, 123 },
	{ true, "  -42x", -1, 10, 5, (uint64_t)-42 },
	{ false, "-42", -1, 10, -EINVAL, 0 },
	{ false, "\t\n 7", -1, 0, 4, 7 },
	{ false, "0x1f", -1, 0, 4, 31 },
	{ false, "0X1F", -1, 16, 4, 31 },
	{ false, "1f", -1, 16, 2, 31 },
	{ false, "0x", -1, 0, 1, 0 },     /* base 0: "0x" without a hex digit is octal 0 */
	{ false, "0x", -1, 16, -EINVAL, 0 },
	{ false, "017", -1, 0, 3, 15 },
	{ false, "019", -1, 0, 2, 1 },
	{ false, "019", -1, 8, 2, 1 },
	{ false, "12345", 3, 10, 3, 123 }, /* only buf_len bytes count */
	{ false, "", 0, 0, -EINVAL, 0 },
	{ false, "   ", -1, 0, -EINVAL, 0 },
	{ true, "-", -1, 0, -EINVAL, 0 },
	{ false, "abc", -1, 10, -EINVAL, 0 },
	{ false, "+5", -1, 10, -EINVAL, 0 },
	{ false, "5", -1, 7, -EINVAL, 0 },
	{ false, "5", -1, 0x20 | 10, -EINVAL, 0 },
	{ false, "18446744073709551615", -1, 0, 20, UINT64_MAX },
	{ false, "18446744073709551616", -1, 0, -ERANGE, 0 },
	{ true, "9223372036854775807", -1, 0, 19, INT64_MAX },
	{ true, "9223372036854775808", -1, 0, -ERANGE, 0 },
	{ true, "-9223372036854775808", -1, 0, 20, (uint64_t)INT64_MIN },
	{ true, "-9223372036854775809", -1, 0, -ERANGE, 0 },
	/* 70 digits: Linux looks at 63 of them. */
	{ false, "0000000000000000000000000000000000000000000000000000000000000000000001", -1, 10, 63, 0 },
};

Test(helpers, strtol_strtoul)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	for (size_t i = 0; i < N(strto_cases); i++) {
		const struct strto_case *c = &strto_cases[i];
		size_t sl = strlen(c->s);
		uint64_t len = c->len < 0 ? sl : (uint64_t)c->len;
		struct bpf_insn p[] = {
			MOV64_X(6, 1), MOV64_X(1, 6), ALU64_K(OP_ADD, 1, 16), MOV64_K(2, (int32_t)len),
			MOV64_K(3, (int32_t)c->flags), MOV64_X(4, 6), CALL(c->is_signed ? BPFVM_FN_strtol : BPFVM_FN_strtoul),
			STXDW(6, 0, 8), MOV64_K(0, 0), EXIT,
		};
		for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
			uint8_t mem[16 + 80] = { 0 };
			uint64_t sentinel = 0x5a5a5a5a5a5a5a5aull, res, ret;
			memcpy(mem, &sentinel, 8);
			memcpy(mem + 16, c->s, sl);
			uint64_t r0;
			char err[256] = "";
			cr_assert_eq(t_run(vm, p, N(p), f, mem, 16 + (sl > len ? sl : len), &r0, err, sizeof(err)), 0,
			             "case %zu: %s", i, err);
			memcpy(&res, mem, 8);
			memcpy(&ret, mem + 8, 8);
			cr_expect_eq((int64_t)ret, c->ret, "case %zu '%s': returned %lld, want %lld", i, c->s, (long long)ret,
			             (long long)c->ret);
			cr_expect_eq(res, c->ret < 0 ? sentinel : c->res, "case %zu '%s': *res = 0x%llx", i, c->s,
			             (unsigned long long)res);
		}
	}
	/* Checked mode: the result pointer must be 8 writable, aligned bytes of the run. */
	uint8_t mem[32] = "12";
	char err[256] = "";
	struct bpf_insn bad[] = { MOV64_X(6, 1), MOV64_K(2, 2), MOV64_K(3, 0), MOV64_X(4, 6), ALU64_K(OP_ADD, 4, 4),
	                          CALL(BPFVM_FN_strtoul), EXIT };
	cr_expect_eq(t_run(vm, bad, N(bad), BPFVM_PROG_NO_VERIFY, mem, sizeof(mem), NULL, err, sizeof(err)), -EFAULT);
	cr_expect(strstr(err, "bpf_strtoul: argument r4") && strstr(err, "8 writable, 8-aligned bytes"), "%s", err);
	bpfvm_destroy(vm);
}
