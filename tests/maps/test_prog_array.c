/*
 * Prog array insertion checks (maps/prog_array.c), through the host API:
 * program type fixed by the array's owner, the checked/unchecked mix, slot
 * and argument errors.  The call-frame bound along tail-call chains is
 * tested in tests/verifier/test_tailcalls.c.
 */
#include <stdlib.h>

#include "mt.h"

static bpfvm_prog *load_flags(bpfvm *vm, const char *name, const struct bpf_insn *insns, size_t n, uint32_t flags,
                              const char *type)
{
	char log[1024] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .name = name, .flags = flags, .type = type, .log_buf = log,
	                              .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load %s: %d %s", name, rc, log);
	return p;
}

static const struct bpf_insn ret1[] = { MOV64_K(0, 1), EXIT };

/* Modes of the program put in the array vs. the mode of a program that
 * loads the array: only a checked user with a non-checked member is
 * refused (a checked run may only tail-call checked programs). */
static const struct {
	uint32_t user, member;
	int err;
} mixes[] = {
	{ BPFVM_PROG_NO_VERIFY, 0, -EINVAL },
	{ BPFVM_PROG_NO_VERIFY, BPFVM_PROG_UNCHECKED, -EINVAL },
	{ BPFVM_PROG_NO_VERIFY, BPFVM_PROG_NO_VERIFY, 0 },
	{ 0, BPFVM_PROG_NO_VERIFY, 0 },             /* runs on the checked loop */
	{ BPFVM_PROG_UNCHECKED, BPFVM_PROG_NO_VERIFY, 0 },
	{ 0, 0, 0 },
	{ BPFVM_PROG_UNCHECKED, 0, 0 },
};

Test(prog_array, checked_mix_refused_at_insertion)
{
	for (size_t i = 0; i < sizeof(mixes) / sizeof(mixes[0]); i++) {
		bpfvm *vm = t_vm();
		bpfvm_map *pa = t_map(vm, BPFVM_MAP_PROG_ARRAY, 4, 4, 2, 0);
		struct bpf_insn user[] = { MAPFD(2, pa), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 2), EXIT };
		bpfvm_prog *u = load_flags(vm, "user", user, sizeof(user) / sizeof(user[0]), mixes[i].user, NULL);
		bpfvm_prog *m = load_flags(vm, "member", ret1, 2, mixes[i].member, NULL);
		char log[1024] = "";
		int rc = bpfvm_prog_array_update(pa, 0, m, log, sizeof(log));
		cr_expect_eq(rc, mixes[i].err, "case %zu: %d %s", i, rc, log);
		if (rc)
			cr_expect(strstr(log, "'user', loaded with BPFVM_PROG_NO_VERIFY") && strstr(log, "'member'"),
			          "case %zu: %s", i, log);
		/* the fd path gives the same answer */
		uint32_t k = 1;
		int fd = bpfvm_prog_fd(m);
		cr_expect_eq(bpfvm_map_update(pa, &k, &fd, BPFVM_ANY), mixes[i].err, "case %zu (fd)", i);
		if (!rc) {
			uint64_t r0 = 0;
			cr_expect_eq(bpfvm_prog_run(u, NULL, 0, &r0), 0, "case %zu", i);
			cr_expect_eq(r0, 1, "case %zu: the member ran", i);
		}
		bpfvm_prog_put(m);
		bpfvm_prog_put(u);
		bpfvm_map_put(pa);
		bpfvm_destroy(vm);
	}
}

/* The first program put in fixes the type; programs of it still go in. */
Test(prog_array, type_fixed_by_first_member)
{
	bpfvm *vm = t_vm();
	bpfvm_map *pa = t_map(vm, BPFVM_MAP_PROG_ARRAY, 4, 4, 2, 0);
	bpfvm_prog *x = load_flags(vm, "xdp_prog", ret1, 2, 0, "xdp");
	bpfvm_prog *x2 = load_flags(vm, "xdp_prog2", ret1, 2, 0, "xdp");
	bpfvm_prog *m = load_flags(vm, "mem_prog", ret1, 2, 0, NULL);
	char log[1024] = "";
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, x, log, sizeof(log)), 0, "%s", log);
	cr_expect_eq(bpfvm_prog_array_update(pa, 1, m, log, sizeof(log)), -EINVAL);
	cr_expect(strstr(log, "prog array 't' holds programs of type 'xdp'") && strstr(log, "'mem_prog' of type 'mem'"),
	          "%s", log);
	cr_expect_eq(bpfvm_prog_array_update(pa, 1, x2, log, sizeof(log)), 0, "%s", log);
	/* emptying the array does not reset the owner (as Linux) */
	uint32_t k = 0;
	cr_expect_eq(bpfvm_map_delete(pa, &k), 0);
	k = 1;
	cr_expect_eq(bpfvm_map_delete(pa, &k), 0);
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, m, log, sizeof(log)), -EINVAL);
	bpfvm_prog_put(m);
	bpfvm_prog_put(x2);
	bpfvm_prog_put(x);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
}

Test(prog_array, slot_and_argument_errors)
{
	bpfvm *vm = t_vm(), *vm2 = t_vm();
	bpfvm_map *pa = t_map(vm, BPFVM_MAP_PROG_ARRAY, 4, 4, 2, 0);
	bpfvm_map *arr = t_map(vm, BPFVM_MAP_ARRAY, 4, 4, 2, 0);
	bpfvm_prog *p = load_flags(vm, "p", ret1, 2, 0, NULL);
	bpfvm_prog *other = load_flags(vm2, "other_vm", ret1, 2, 0, NULL);
	char log[512] = "";
	cr_expect_eq(bpfvm_prog_array_update(pa, 2, p, log, sizeof(log)), -E2BIG);
	cr_expect(strstr(log, "slot 2 is beyond max_entries 2"), "%s", log);
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, other, log, sizeof(log)), -EINVAL);
	cr_expect(strstr(log, "belongs to another VM"), "%s", log);
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, p, log, sizeof(log)), -EINVAL);
	cr_expect(strstr(log, "not a prog array"), "%s", log);
	cr_expect_eq(bpfvm_prog_array_update(NULL, 0, p, log, sizeof(log)), -EINVAL);
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, NULL, NULL, 0), -EINVAL);
	/* replacing a slot drops the old program's reference: both free cleanly */
	bpfvm_prog *q = load_flags(vm, "q", ret1, 2, 0, NULL);
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, p, NULL, 0), 0);
	cr_expect_eq(bpfvm_prog_array_update(pa, 0, q, NULL, 0), 0);
	uint32_t k = 0;
	int32_t fd = -1;
	cr_expect_eq(bpfvm_map_lookup(pa, &k, &fd, 0), 0);
	cr_expect_eq(fd, bpfvm_prog_fd(q));
	bpfvm_prog_put(q);
	bpfvm_prog_put(p);
	bpfvm_prog_put(other);
	bpfvm_map_put(arr);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm2);
	bpfvm_destroy(vm);
}
