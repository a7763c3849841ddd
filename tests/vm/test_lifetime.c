/*
 * Program lifetime: a program whose last reference goes while it runs on
 * some thread (reached through a prog array) must stay valid until that run
 * ends, as Linux's bpf_prog_put defers the free past an RCU grace period.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "bpfvm.h"
#include "insn.h"

static bpfvm_map *g_array;

/* Embedder helper: empties slot 0 of the prog array, dropping the last
 * reference to the program that is running right now. */
static uint64_t drop_slot0(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	uint32_t key = 0;
	return (uint64_t)bpfvm_map_delete(g_array, &key);
}

/* Regression: vm_prog_release freed a program at once, so a tail-called
 * program whose slot was cleared mid-run went on executing freed code
 * (ASan: heap-use-after-free in the interpreter). */
Test(lifetime, prog_freed_while_running_after_tail_call)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_helper_proto hp = { .sz = sizeof(hp), .name = "drop_slot0", .ret = BPFVM_RET_INTEGER };
	cr_assert_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, drop_slot0, &hp), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 1, .spin_lock_off = -1 };
	cr_assert_eq(bpfvm_map_create(vm, &a, &g_array), 0);

	for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
		/* target: drop itself, then keep executing its own code */
		struct bpf_insn target[] = {
			CALL(BPFVM_HELPER_USER_BASE),
			MOV64_K(0, 0), ALU64_K(OP_ADD, 0, 40), ALU64_K(OP_ADD, 0, 2), EXIT,
		};
		struct bpf_insn entry[] = {
			LDDW_SRC(2, 1, bpfvm_map_fd(g_array), 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
			MOV64_K(0, 7), EXIT,
		};
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = f };
		bpfvm_prog *t, *e;
		cr_assert_eq(bpfvm_prog_load(vm, target, N(target), &po, &t), 0);
		cr_assert_eq(bpfvm_prog_load(vm, entry, N(entry), &po, &e), 0);
		uint32_t key = 0;
		int tfd = bpfvm_prog_fd(t);
		cr_assert_eq(bpfvm_map_update(g_array, &key, &tfd, BPFVM_ANY), 0);
		bpfvm_prog_put(t); /* the array holds the only reference now */

		uint64_t mem = 0, r0 = 0;
		cr_expect_eq(bpfvm_prog_run(e, &mem, sizeof(mem), &r0), 0);
		cr_expect_eq(r0, 42, "the tail-called program finished its run (r0 %llu)", (unsigned long long)r0);
		/* the slot is empty now: the tail call falls through */
		cr_expect_eq(bpfvm_prog_run(e, &mem, sizeof(mem), &r0), 0);
		cr_expect_eq(r0, 7);
		/* the handle is gone with the program */
		cr_expect_eq(bpfvm_map_update(g_array, &key, &tfd, BPFVM_ANY), -EBADF);
		bpfvm_prog_put(e);
	}
	bpfvm_map_put(g_array);
	bpfvm_destroy(vm);
}

/* Regression: a program run without the verifier could tail-call a
 * verified (or trusted) program, which then ran on the fast loop with
 * registers the unchecked program chose (a fake ctx in r1). */
Test(lifetime, checked_program_cannot_tail_call_fast_program)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 1, .spin_lock_off = -1 };
	bpfvm_map *arr;
	cr_assert_eq(bpfvm_map_create(vm, &a, &arr), 0);
	/* target: trusts r1 and reads through it */
	struct bpf_insn target[] = { LDXDW(0, 1, 0), EXIT };
	struct bpfvm_prog_opts fast = { .sz = sizeof(fast), .flags = BPFVM_PROG_UNCHECKED };
	bpfvm_prog *t;
	cr_assert_eq(bpfvm_prog_load(vm, target, N(target), &fast, &t), 0);
	uint32_t key = 0;
	int tfd = bpfvm_prog_fd(t);
	cr_assert_eq(bpfvm_map_update(arr, &key, &tfd, BPFVM_ANY), 0);
	/* attacker: r1 = 0x1000, then tail call */
	struct bpf_insn entry[] = {
		MOV64_K(1, 0x1000), LDDW_SRC(2, 1, bpfvm_map_fd(arr), 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
		MOV64_K(0, 7), EXIT,
	};
	struct bpfvm_prog_opts checked = { .sz = sizeof(checked), .flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_prog *e;
	cr_assert_eq(bpfvm_prog_load(vm, entry, N(entry), &checked, &e), 0);
	char err[256] = "";
	uint64_t mem = 0;
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &mem, .len = sizeof(mem), .err_buf = err, .err_size = sizeof(err) };
	cr_expect_eq(bpfvm_prog_run_opts(e, &ro), -EINVAL);
	cr_expect(strstr(err, "BPFVM_PROG_NO_VERIFY") != NULL, "message: %s", err);
	bpfvm_prog_put(e);
	bpfvm_prog_put(t);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}
