/*
 * Checked mode, JIT'd, with helper calls, callbacks and tail calls: every
 * case runs on the checked interpreter and the checked JIT, which must
 * agree on the result, the error text (addresses masked: each engine runs
 * in its own VM), r0, the input memory and the map contents.  Good and
 * misbehaving pointer arguments alike.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../vm/insn.h"
#include "jit_int.h"
#include "map.h"
#include "vm.h"

#define MAXI 48

/* fds of the maps every case's VM holds: an 8-byte-value array with 4
 * entries holding 1, 2, 3, 4, and a prog array whose slot 0 holds the
 * case's target program when it has one. */
struct fds {
	int arr, pa;
};

struct ck_case {
	const char *name;
	int rc;             /* expected run result */
	const char *msg;    /* expected substring of the error, or NULL */
	uint64_t r0;        /* expected r0 when rc == 0 */
	size_t (*build)(struct bpf_insn *p, struct fds f);
	size_t (*target)(struct bpf_insn *p, struct fds f); /* tail-call target, or NULL */
};

struct outcome {
	int rc;
	uint64_t r0;
	char err[256];
	uint8_t mem[16];
	uint64_t vals[4];
	uint32_t engine, target_engine;
};

#define COPY(arr) (memcpy(p, (arr), sizeof(arr)), N(arr))

/* key 2 on the stack; v = lookup(arr, &key); *v = 77; return *v */
static size_t b_lookup(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 2), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 3), STDW(0, 0, 77), LDXDW(0, 0, 0), EXIT,
		MOV64_K(0, 1), EXIT,
	};
	return COPY(a);
}

/* the returned value is 8 bytes: a store at offset 8 is outside it */
static size_t b_past_value(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 1), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 2), STDW(0, 8, 5), EXIT, MOV64_K(0, 1), EXIT,
	};
	return COPY(a);
}

static size_t b_wild_key(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		LDDW_SRC(1, 1, f.arr, 0), MOV64_K(2, 0x1000), CALL(BPFVM_FN_map_lookup_elem), MOV64_K(0, 3), EXIT,
	};
	return COPY(a);
}

static size_t b_not_a_map(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -8, 0), MOV64_K(1, 0x1234), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), MOV64_K(0, 3), EXIT,
	};
	return COPY(a);
}

/* update(arr, &1, &55, 0); return *lookup(arr, &1) */
static size_t b_update(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 1), STDW(10, -16, 55), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -16), MOV64_K(4, 0), CALL(BPFVM_FN_map_update_elem),
		MOV64_X(6, 0), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 2), LDXDW(0, 0, 0), ALU64_X(OP_ADD, 0, 6), EXIT,
	};
	return COPY(a);
}

/* The key lives in the caller's frame, the call is made from a subprogram. */
static size_t b_key_in_caller_frame(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 3), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -8), CALL_LOCAL(1), EXIT,
		/* sub */
		MOV64_X(2, 1), LDDW_SRC(1, 1, f.arr, 0), CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 1),
		LDXDW(0, 0, 0), EXIT,
	};
	return COPY(a);
}

/* sum = 0; bpf_loop(10, cb, &sum, 0); cb(i, ctx): *ctx += i */
static size_t b_loop(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -8, 0), MOV64_K(1, 10), LDDW_SRC(2, 4, 9, 0), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -8),
		MOV64_K(4, 0), CALL(BPFVM_FN_loop), LDXDW(1, 10, -8), ALU64_K(OP_LSH, 0, 8), ALU64_X(OP_ADD, 0, 1), EXIT,
		/* cb at 12 */ LDXDW(3, 2, 0), ALU64_X(OP_ADD, 3, 1), STXDW(2, 3, 0), MOV64_K(0, 0), EXIT,
	};
	return COPY(a);
}

/* the callback writes above the caller's frame through its ctx */
static size_t b_loop_cb_oob(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		MOV64_K(1, 3), LDDW_SRC(2, 4, 6, 0), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -8),
		MOV64_K(4, 0), CALL(BPFVM_FN_loop), EXIT,
		/* cb at 8 */ STDW(2, 16, 1), MOV64_K(0, 0), EXIT,
	};
	return COPY(a);
}

/* the callback never ends: the run's budget covers callbacks too */
static size_t b_loop_runaway(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		MOV64_K(1, 1000), LDDW_SRC(2, 4, 5, 0), MOV64_K(3, 0), MOV64_K(4, 0), CALL(BPFVM_FN_loop), EXIT,
		/* cb at 7: spins on one instruction (the engines charge the budget at
		 * different points, so only a one-instruction loop fails at the same
		 * instruction on both) */
		JA(-1), EXIT,
	};
	return COPY(a);
}

/* bpf_loop's ctx must be stack or NULL memory the program may touch */
static size_t b_loop_wild_ctx(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		MOV64_K(1, 3), LDDW_SRC(2, 4, 5, 0), MOV64_K(3, 0x2000), MOV64_K(4, 0), CALL(BPFVM_FN_loop), EXIT,
		/* cb at 7 */ MOV64_K(0, 0), EXIT,
	};
	return COPY(a);
}

/* not a callback: r2 is a plain number */
static size_t b_loop_wild_cb(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		MOV64_K(1, 3), MOV64_K(2, 0x40), MOV64_K(3, 0), MOV64_K(4, 0), CALL(BPFVM_FN_loop), EXIT,
	};
	return COPY(a);
}

/* sum of every value through for_each_map_elem: 1 + 2 + 3 + 4 */
static size_t b_for_each(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 0), LDDW_SRC(1, 1, f.arr, 0), LDDW_SRC(2, 4, 7, 0), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -8),
		MOV64_K(4, 0), CALL(BPFVM_FN_for_each_map_elem), LDXDW(0, 10, -8), EXIT,
		/* cb at 11 (map, key, value, ctx) */
		LDXDW(0, 4, 0), LDXDW(5, 3, 0), ALU64_X(OP_ADD, 0, 5), STXDW(4, 0, 0), MOV64_K(0, 0), EXIT,
	};
	return COPY(a);
}

static size_t b_callx_bad(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = { MOV64_K(5, 12345), CALLX(5), MOV64_K(0, 1), EXIT };
	return COPY(a);
}

/* callx of map_lookup_elem (id 1): the same checks and the same region */
static size_t b_callx_lookup(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(10, -8, 3), MOV64_K(6, BPFVM_FN_map_lookup_elem), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10),
		ALU64_K(OP_ADD, 2, -8), CALLX(6), JEQ_K(0, 0, 3), LDXDW(1, 0, 0), ALU64_K(OP_ADD, 1, 40), STXDW(0, 1, 0),
		LDXDW(0, 0, 0), EXIT,
	};
	return COPY(a);
}

/* strncmp("ab", 2, "ab") on the stack; then a string with no NUL in reach */
static size_t b_strncmp(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -8, 0x6261), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -8), MOV64_K(2, 2), MOV64_X(3, 1),
		CALL(BPFVM_FN_strncmp), ALU64_K(OP_ADD, 0, 40), EXIT,
	};
	return COPY(a);
}

static size_t b_strncmp_bad(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -8, -1), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -8), MOV64_K(2, 2), MOV64_X(3, 10),
		ALU64_K(OP_ADD, 3, -1), CALL(BPFVM_FN_strncmp), EXIT,
	};
	return COPY(a);
}

/* strtoul("42", 2, 0, &res): res on the stack (ARG_PTR_TO_LONG); r0 = consumed * 1000 + res */
static size_t b_strtoul(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -16, 0x3234), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -16), MOV64_K(2, 2), MOV64_K(3, 0),
		MOV64_X(4, 10), ALU64_K(OP_ADD, 4, -8), CALL(BPFVM_FN_strtoul), ALU64_K(OP_MUL, 0, 1000),
		LDXDW(1, 10, -8), ALU64_X(OP_ADD, 0, 1), EXIT,
	};
	return COPY(a);
}

/* the result pointer is not 8-aligned */
static size_t b_strtoul_misaligned(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = {
		STDW(10, -16, 0x3234), MOV64_X(1, 10), ALU64_K(OP_ADD, 1, -16), MOV64_K(2, 2), MOV64_K(3, 0),
		MOV64_X(4, 10), ALU64_K(OP_ADD, 4, -7), CALL(BPFVM_FN_strtoul), EXIT,
	};
	return COPY(a);
}

/* tail call through a map that is no prog array */
static size_t b_tail_not_pa(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		LDDW_SRC(2, 1, f.arr, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 9), EXIT,
	};
	return COPY(a);
}

/* empty slot 1 falls through (r1-r5 kept), then slot 0 replaces this program */
static size_t b_tail(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		MOV64_X(6, 1), LDDW_SRC(2, 1, f.pa, 0), MOV64_K(3, 1), MOV64_K(0, 5), CALL(BPFVM_FN_tail_call),
		STXB(6, 3, 0), MOV64_X(1, 6), LDDW_SRC(2, 1, f.pa, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
		MOV64_K(0, 9), EXIT,
	};
	return COPY(a);
}

/* the target: stores to the input, looks up the array (its own map) */
static size_t t_target(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		STDW(1, 8, 0x4242), STDW(10, -8, 1), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 2), LDXDW(0, 0, 0), ALU64_K(OP_ADD, 0, 1000), EXIT,
	};
	return COPY(a);
}

/*
 * Regression (jit_diff_fuzz / diff_seeds with tail calls from
 * subprograms): a subprogram tail-calls a target that loaded no array;
 * back in the caller, the checked JIT checked the caller's lookup against
 * the target's maps ("argument r1 = 0x... is not a map this program
 * loaded") because run->prog still named the target.  r0 = 7 + arr[2].
 */
static size_t b_tail_from_sub(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		CALL_LOCAL(11), MOV64_X(7, 0), STDW(10, -8, 2), LDDW_SRC(1, 1, f.arr, 0), MOV64_X(2, 10),
		ALU64_K(OP_ADD, 2, -8), CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 2), LDXDW(0, 0, 0),
		ALU64_X(OP_ADD, 0, 7), EXIT,
		/* 12: the subprogram */
		LDDW_SRC(2, 1, f.pa, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 99), EXIT,
	};
	return COPY(a);
}

/*
 * The same, then a callback: the checked interpreter checked bpf_loop's
 * callback against the tail-call target's subprograms ("not a callback")
 * because run->prog still named the target after the subprogram returned.
 * r0 = (bpf_loop's 3 iterations) << 8 + sum 0+1+2 = 0x303.
 */
static size_t b_tail_from_sub_cb(struct bpf_insn *p, struct fds f)
{
	struct bpf_insn a[] = {
		CALL_LOCAL(12), STDW(10, -8, 0), MOV64_K(1, 3), LDDW_SRC(2, 4, 15, 0), MOV64_X(3, 10),
		ALU64_K(OP_ADD, 3, -8), MOV64_K(4, 0), CALL(BPFVM_FN_loop), LDXDW(1, 10, -8), ALU64_K(OP_LSH, 0, 8),
		ALU64_X(OP_ADD, 0, 1), EXIT,
		/* 13: the subprogram */
		LDDW_SRC(2, 1, f.pa, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 99), EXIT,
		/* 19: the callback */
		LDXDW(3, 2, 0), ALU64_X(OP_ADD, 3, 1), STXDW(2, 3, 0), MOV64_K(0, 0), EXIT,
	};
	return COPY(a);
}

/* a target that uses no map */
static size_t t_plain(struct bpf_insn *p, struct fds f)
{
	(void)f;
	struct bpf_insn a[] = { MOV64_K(0, 7), EXIT };
	return COPY(a);
}

static const struct ck_case cases[] = {
	{ "lookup", 0, NULL, 77, b_lookup, NULL },
	{ "store past the value", -EFAULT, "insn 7: 8-byte store to 0x", 0, b_past_value, NULL },
	{ "wild key", -EFAULT, "helper bpf_map_lookup_elem: argument r2 = 0x1000 is not memory", 0, b_wild_key, NULL },
	{ "not a map", -EFAULT, "argument r1 = 0x1234 is not a map this program loaded", 0, b_not_a_map, NULL },
	{ "update then lookup", 0, NULL, 55, b_update, NULL },
	{ "key in the caller's frame", 0, NULL, 4, b_key_in_caller_frame, NULL },
	{ "bpf_loop", 0, NULL, (10 << 8) + 45, b_loop, NULL },
	{ "bpf_loop callback out of bounds", -EFAULT, "insn 8: 8-byte store to 0x", 0, b_loop_cb_oob, NULL },
	{ "bpf_loop runaway callback", -ELOOP, "instruction budget of 20000 exhausted", 0, b_loop_runaway, NULL },
	{ "bpf_loop wild ctx", -EFAULT, "helper bpf_loop: argument r3 = 0x2000 is not memory", 0, b_loop_wild_ctx, NULL },
	{ "bpf_loop wild callback", -EFAULT, "argument r2 = 0x40 is not a callback", 0, b_loop_wild_cb, NULL },
	{ "for_each_map_elem", 0, NULL, 10, b_for_each, NULL },
	{ "callx unknown id", -EINVAL, "insn 1: call %r5: r5 = 12345 is not a helper id", 0, b_callx_bad, NULL },
	{ "callx lookup", 0, NULL, 44, b_callx_lookup, NULL },
	{ "strncmp", 0, NULL, 40, b_strncmp, NULL },
	{ "strncmp without NUL", -EFAULT, "argument r3 = 0x", 0, b_strncmp_bad, NULL },
	{ "strtoul", 0, NULL, 2042, b_strtoul, NULL },
	{ "strtoul misaligned result", -EFAULT, "argument r4 = 0x", 0, b_strtoul_misaligned, NULL },
	{ "tail call through an array", -EINVAL, "insn 3: tail call: r2 is not a prog array", 0, b_tail_not_pa, NULL },
	{ "tail call", 0, NULL, 1002, b_tail, t_target },
	{ "tail call from a subprogram, then a lookup in the caller", 0, NULL, 10, b_tail_from_sub, t_plain },
	{ "tail call from a subprogram, then a callback of the caller", 0, NULL, 0x303, b_tail_from_sub_cb, t_plain },
};

/* Addresses differ between the two runs' VMs: mask hex numbers. */
static void mask_hex(char *s)
{
	char *o = s;
	for (const char *i = s; *i;) {
		if (i[0] == '0' && i[1] == 'x' && isxdigit((unsigned char)i[2])) {
			for (i += 2; isxdigit((unsigned char)*i); i++)
				; /* skip first: o never passes i */
			*o++ = '0';
			*o++ = 'x';
			*o++ = '?';
			continue;
		}
		*o++ = *i++;
	}
	*o = '\0';
}

static void run_case(const struct ck_case *c, uint32_t engine, struct outcome *out)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr aa = { .sz = sizeof(aa), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 8,
	                             .max_entries = 4, .spin_lock_off = -1 };
	struct bpfvm_map_attr pa = { .sz = sizeof(pa), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                             .max_entries = 4, .spin_lock_off = -1 };
	bpfvm_map *arr = NULL, *pam = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &aa, &arr), 0);
	cr_assert_eq(bpfvm_map_create(vm, &pa, &pam), 0);
	for (uint32_t k = 0; k < 4; k++) {
		uint64_t v = k + 1;
		cr_assert_eq(bpfvm_map_update(arr, &k, &v, BPFVM_ANY), 0);
	}
	struct fds f = { bpfvm_map_fd(arr), bpfvm_map_fd(pam) };
	char log[1024] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .engine = engine,
	                              .log_buf = log, .log_size = sizeof(log), .insn_budget = 20000 };
	struct bpf_insn insns[MAXI];
	bpfvm_prog *t = NULL, *p = NULL;
	out->target_engine = 0;
	if (c->target) {
		size_t n = c->target(insns, f);
		cr_assert_eq(bpfvm_prog_load(vm, insns, n, &po, &t), 0, "%s: target: %s", c->name, log);
		out->target_engine = bpfvm_prog_engine(t);
		uint32_t k = 0;
		int32_t fd = bpfvm_prog_fd(t);
		cr_assert_eq(bpfvm_map_update(pam, &k, &fd, BPFVM_ANY), 0);
	}
	size_t n = c->build(insns, f);
	cr_assert(n <= MAXI);
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &po, &p), 0, "%s: %s", c->name, log);
	out->engine = bpfvm_prog_engine(p);
	for (int i = 0; i < 16; i++)
		out->mem[i] = (uint8_t)(i + 1);
	out->err[0] = '\0';
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = out->mem, .len = 16, .err_buf = out->err,
	                             .err_size = sizeof(out->err) };
	out->rc = bpfvm_prog_run_opts(p, &ro);
	out->r0 = ro.r0;
	for (uint32_t k = 0; k < 4; k++)
		cr_assert_eq(bpfvm_map_lookup(arr, &k, &out->vals[k], 0), 0);
	bpfvm_prog_put(p);
	bpfvm_prog_put(t);
	bpfvm_map_put(pam);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

Test(jit_checked, helpers_callbacks_and_tail_calls_match_the_interpreter)
{
	for (size_t i = 0; i < N(cases); i++) {
		const struct ck_case *c = &cases[i];
		struct outcome oi, oj;
		run_case(c, BPFVM_ENGINE_INTERP, &oi);
		run_case(c, BPFVM_ENGINE_JIT, &oj);
		cr_expect_eq(oj.engine, BPFVM_ENGINE_JIT, "%s: not JIT'd", c->name);
		if (c->target)
			cr_expect_eq(oj.target_engine, BPFVM_ENGINE_JIT, "%s: target not JIT'd", c->name);
		cr_expect_eq(oi.rc, c->rc, "%s: interp rc %d (%s)", c->name, oi.rc, oi.err);
		cr_expect_eq(oj.rc, c->rc, "%s: jit rc %d (%s)", c->name, oj.rc, oj.err);
		if (c->msg)
			cr_expect(strstr(oj.err, c->msg) != NULL, "%s: jit error '%s'", c->name, oj.err);
		mask_hex(oi.err);
		mask_hex(oj.err);
		cr_expect_str_eq(oj.err, oi.err, "%s: errors differ: jit \"%s\" interp \"%s\"", c->name, oj.err, oi.err);
		if (!c->rc) {
			cr_expect_eq(oi.r0, c->r0, "%s: interp r0 %llu", c->name, (unsigned long long)oi.r0);
			cr_expect_eq(oj.r0, c->r0, "%s: jit r0 %llu", c->name, (unsigned long long)oj.r0);
		}
		cr_expect(memcmp(oi.mem, oj.mem, 16) == 0, "%s: input memory differs", c->name);
		cr_expect(memcmp(oi.vals, oj.vals, sizeof(oi.vals)) == 0, "%s: map contents differ", c->name);
	}
}

/* A checked image calls helpers through the shim, never directly, and
 * does not inline array lookups (their result must become a region). */
Test(jit_checked, helper_calls_go_through_the_shim)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr aa = { .sz = sizeof(aa), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 8,
	                             .max_entries = 4, .spin_lock_off = -1 };
	bpfvm_map *arr = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &aa, &arr), 0);
	struct fds f = { bpfvm_map_fd(arr), 0 };
	struct bpf_insn insns[MAXI];
	size_t n = b_lookup(insns, f);
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .engine = BPFVM_ENGINE_JIT,
	                              .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &po, &p), 0, "%s", log);
	cr_assert_eq(bpfvm_prog_engine(p), BPFVM_ENGINE_JIT, "%s", log);
	const struct jit_image *img = ((struct bpfvm_prog *)p)->jit;
	uint64_t shim = (uint64_t)(uintptr_t)jit_rt_helper_checked;
	uint64_t direct = (uint64_t)(uintptr_t)map_helper_lookup;
	cr_expect(memmem(img->mem, img->code_size, &shim, 8) != NULL);
	cr_expect(memmem(img->mem, img->code_size, &direct, 8) == NULL);
	bpfvm_prog_put(p);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}
