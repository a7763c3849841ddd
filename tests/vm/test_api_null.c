/*
 * Misuse of the public API: every function given NULL (or zero, or a
 * too-small struct size) where it takes a pointer or handle returns
 * -EINVAL (or NULL, or does nothing for void functions) and never crashes.
 * Each check is one call, so a crash names the function.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "bpfvm.h"

static uint64_t h(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b; (void)c; (void)d; (void)e;
	return a;
}

Test(api_null, vm_helpers_programs)
{
	bpfvm *vm;
	cr_expect_eq(bpfvm_create(NULL, NULL), -EINVAL);
	struct bpfvm_opts small = { .sz = 1 };
	cr_expect_eq(bpfvm_create(&small, &vm), -EINVAL);
	bpfvm_destroy(NULL);
	cr_expect_not_null(bpfvm_strerror(0));
	cr_expect_not_null(bpfvm_strerror(-99999));
	cr_expect_not_null(bpfvm_strerror(12345));
	struct bpfvm_helper_proto pr = { .sz = sizeof(pr) };
	cr_expect_eq(bpfvm_helper_register(NULL, BPFVM_HELPER_USER_BASE, h, &pr), -EINVAL);
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, h, NULL), -EINVAL);
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, NULL, &pr), -EINVAL);
	struct bpfvm_helper_proto prs = { .sz = 2 };
	cr_expect_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, h, &prs), -EINVAL);
	cr_expect_eq(bpfvm_helper_bind(NULL, BPFVM_HELPER_USER_BASE, (void (*)(void))h, BPFVM_CT_U64, NULL, 0, &pr), -EINVAL);
	cr_expect_eq(bpfvm_helper_bind(vm, BPFVM_HELPER_USER_BASE, NULL, BPFVM_CT_U64, NULL, 0, &pr), -EINVAL);
	cr_expect_eq(bpfvm_helper_bind(vm, BPFVM_HELPER_USER_BASE, (void (*)(void))h, BPFVM_CT_U64, NULL, 2, &pr), -EINVAL);
	cr_expect_eq(bpfvm_helper_bind(vm, BPFVM_HELPER_USER_BASE, (void (*)(void))h, BPFVM_CT_U64, NULL, 9, &pr), -EINVAL);
	bpfvm_run_stop(1); /* outside any run: no effect */
	cr_expect_eq(bpfvm_prog_type_register(NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_prog_type_register(vm, NULL), -EINVAL);
	struct bpfvm_prog_type pt = { .sz = 1 };
	cr_expect_eq(bpfvm_prog_type_register(vm, &pt), -EINVAL);
	struct bpf_insn ins[2] = { { .code = 0xb7 }, { .code = 0x95 } };
	cr_expect_eq(bpfvm_prog_load(vm, ins, 2, NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_prog_load(vm, ins, 0, NULL, NULL), -EINVAL);
	bpfvm_prog *p = NULL;
	cr_expect_eq(bpfvm_prog_load(vm, ins, 0, NULL, &p), -EINVAL);
	struct bpfvm_prog_opts po = { .sz = 3 };
	cr_expect_eq(bpfvm_prog_load(vm, ins, 2, &po, &p), -EINVAL);
	cr_expect_null(p);
	bpfvm_prog_put(NULL);
	cr_expect_lt(bpfvm_prog_fd(NULL), 0);
	cr_expect_null(bpfvm_prog_name(NULL));
	(void)bpfvm_prog_engine(NULL);
	cr_expect_eq(bpfvm_prog_run_opts(NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_prog_run(NULL, NULL, 0, NULL), -EINVAL);
	cr_expect_eq(bpfvm_prog_verify_stats(NULL, NULL), -EINVAL);
	cr_assert_eq(bpfvm_prog_load(vm, ins, 2, NULL, &p), 0);
	cr_expect_eq(bpfvm_prog_run_opts(p, NULL), -EINVAL);
	cr_expect_eq(bpfvm_prog_verify_stats(p, NULL), -EINVAL);
	struct bpfvm_verify_stats vs = { .sz = 1 };
	cr_expect_eq(bpfvm_prog_verify_stats(p, &vs), -EINVAL);
	uint64_t r0;
	cr_expect_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	cr_expect_eq(bpfvm_prog_run(p, NULL, 0, NULL), 0, "r0 is optional");
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

Test(api_null, maps_pins_objects)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *m = NULL;
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_HASH, .key_size = 4, .value_size = 4,
	                            .max_entries = 4, .spin_lock_off = -1 };
	cr_expect_eq(bpfvm_map_create(NULL, &a, &m), -EINVAL);
	cr_expect_eq(bpfvm_map_create(vm, NULL, &m), -EINVAL);
	cr_expect_eq(bpfvm_map_create(vm, &a, NULL), -EINVAL);
	struct bpfvm_map_attr as = { .sz = 4 };
	cr_expect_eq(bpfvm_map_create(vm, &as, &m), -EINVAL);
	bpfvm_map_put(NULL);
	cr_expect_lt(bpfvm_map_fd(NULL), 0);
	cr_expect_null(bpfvm_map_from_fd(NULL, 0));
	cr_expect_null(bpfvm_map_from_fd(vm, -1));
	cr_expect_null(bpfvm_map_from_fd(vm, 123456));
	cr_expect_eq(bpfvm_map_info(NULL, NULL), -EINVAL);
	uint32_t k = 1, v = 2;
	cr_expect_eq(bpfvm_map_lookup(NULL, &k, &v, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_update(NULL, &k, &v, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_delete(NULL, &k), -EINVAL);
	cr_expect_eq(bpfvm_map_get_next_key(NULL, NULL, &k), -EINVAL);
	cr_expect_eq(bpfvm_map_freeze(NULL), -EINVAL);
	cr_expect_eq(bpfvm_synchronize(NULL), -EINVAL);
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0);
	cr_expect_eq(bpfvm_map_info(m, NULL), -EINVAL);
	cr_expect_eq(bpfvm_map_lookup(m, NULL, &v, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_lookup(m, &k, NULL, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_update(m, NULL, &v, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_update(m, &k, NULL, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, 99), -EINVAL);
	cr_expect_eq(bpfvm_map_delete(m, NULL), -EINVAL);
	cr_expect_eq(bpfvm_map_get_next_key(m, NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, 0), 0, "nothing above changed the map");
	cr_expect_eq(bpfvm_map_lookup(m, &k, &v, 0), 0);
	cr_expect_eq(v, 2);
	cr_expect_eq(bpfvm_pin_map(NULL, "/a", m), -EINVAL);
	cr_expect_eq(bpfvm_pin_map(vm, NULL, m), -EINVAL);
	cr_expect_eq(bpfvm_pin_map(vm, "/a", NULL), -EINVAL);
	cr_expect_eq(bpfvm_pin_prog(vm, "/a", NULL), -EINVAL);
	cr_expect_eq(bpfvm_pin_prog(NULL, NULL, NULL), -EINVAL);
	bpfvm_map *gm = NULL;
	bpfvm_prog *gp = NULL;
	cr_expect_eq(bpfvm_pin_get_map(NULL, "/a", &gm), -EINVAL);
	cr_expect_eq(bpfvm_pin_get_map(vm, NULL, &gm), -EINVAL);
	cr_expect_eq(bpfvm_pin_get_map(vm, "/a", NULL), -EINVAL);
	cr_expect_eq(bpfvm_pin_get_prog(vm, NULL, &gp), -EINVAL);
	cr_expect_eq(bpfvm_pin_get_prog(vm, "/a", NULL), -EINVAL);
	cr_expect_eq(bpfvm_unpin(NULL, "/a"), -EINVAL);
	cr_expect_eq(bpfvm_unpin(vm, NULL), -EINVAL);
	bpfvm_obj *o = NULL;
	cr_expect_eq(bpfvm_obj_open_mem(NULL, "x", 1, NULL, &o), -EINVAL);
	cr_expect_eq(bpfvm_obj_open_mem(vm, NULL, 1, NULL, &o), -EINVAL);
	cr_expect_eq(bpfvm_obj_open_mem(vm, "x", 1, NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_obj_open_file(NULL, "x", NULL, &o), -EINVAL);
	cr_expect_eq(bpfvm_obj_open_file(vm, NULL, NULL, &o), -EINVAL);
	cr_expect_eq(bpfvm_obj_open_file(vm, "x", NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_obj_load(NULL), -EINVAL);
	bpfvm_obj_close(NULL);
	cr_expect_null(bpfvm_obj_prog(NULL, "x"));
	cr_expect_null(bpfvm_obj_prog_at(NULL, 0));
	cr_expect_null(bpfvm_obj_map(NULL, "x"));
	cr_expect_null(bpfvm_obj_map_at(NULL, 0));
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
