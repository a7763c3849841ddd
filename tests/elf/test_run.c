/*
 * Objects through the public API: open, link, load (unverified, checked
 * mode, until the verifier lands) and run, each program with its expected
 * r0 (see the comments in progs/).  -mcpu v1..v4 builds must agree.
 */
#include <errno.h>
#include <string.h>

#include "util.h"

static uint64_t test_mul(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c; (void)d; (void)e;
	return a * b;
}

static bpfvm *vm_with_helper(void)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_helper_proto p = { .sz = sizeof(p), .name = "bpfvm_test_mul", .ret = BPFVM_RET_INTEGER,
	                                .args = { BPFVM_ARG_SCALAR, BPFVM_ARG_SCALAR } };
	cr_assert_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + 7, test_mul, &p), 0);
	return vm;
}

static void run_expect(bpfvm_obj *obj, const char *name, uint64_t want)
{
	bpfvm_prog *p = bpfvm_obj_prog(obj, name);
	cr_assert(p, "no program %s", name);
	char mem[16] = { 0 }, err[256] = "";
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = sizeof(mem), .err_buf = err, .err_size = sizeof(err) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0, "%s: %s", name, err);
	cr_expect_eq(ro.r0, want, "%s: r0 = %llu, expected %llu", name, (unsigned long long)ro.r0, (unsigned long long)want);
}

static void subprogs(const char *file)
{
	bpfvm *vm = vm_with_helper();
	char log[4096] = "";
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ELF_TEST_DIR, file);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .prog_flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s", log);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s", log);
	cr_expect_eq(bpfvm_obj_load(obj), -EALREADY);
	run_expect(obj, "calls", 15);
	run_expect(obj, "cross", 105);
	run_expect(obj, "mem/cross", 105);  /* by section name too */
	run_expect(obj, "loop", 10);
	run_expect(obj, "ext", 42);
	cr_expect_null(bpfvm_obj_prog(obj, "nope"));
	cr_expect_null(bpfvm_obj_prog_at(obj, 99));
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_run, subprogs_v1) { subprogs("subprogs_v1.o"); }
Test(elf_run, subprogs_v2) { subprogs("subprogs_v2.o"); }
Test(elf_run, subprogs_v3) { subprogs("subprogs_v3.o"); }
Test(elf_run, subprogs_v4) { subprogs("subprogs_v4.o"); }

/* Without the helper registered, loading names the missing extern. */
Test(elf_run, missing_extern)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "", path[512];
	snprintf(path, sizeof(path), "%s/subprogs_v3.o", ELF_TEST_DIR);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .prog_flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s", log);
	cr_expect_eq(bpfvm_obj_load(obj), -ENOENT);
	cr_expect(strstr(log, "extern function 'bpfvm_test_mul'"), "%s", log);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_run, missing_file)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_obj *obj;
	cr_expect_eq(bpfvm_obj_open_file(vm, "/nonexistent/x.o", NULL, &obj), -ENOENT);
	cr_expect_eq(bpfvm_obj_open_mem(vm, NULL, 4, NULL, &obj), -EINVAL);
	bpfvm_destroy(vm);
}

/* examples/sum.bpf.c, as its header comment promises: 'hello' sums to 532. */
Test(elf_run, example_sum)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .prog_flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(vm, EXAMPLES_DIR "/sum.o", &oo, &obj), 0, "%s", log);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s", log);
	char in[] = "hello";
	uint64_t r0 = 0;
	cr_assert_eq(bpfvm_prog_run(bpfvm_obj_prog(obj, "sum"), in, 5, &r0), 0);
	cr_expect_eq(r0, 532);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}
