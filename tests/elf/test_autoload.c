/*
 * Loading some of an object's programs (bpfvm_obj_set_autoload, `bpfvm run
 * --prog`): progs/autoload.bpf.c holds a program with an unresolved extern
 * and one the verifier rejects next to good ones.  Selecting `entry` must
 * load it and the program in its prog array's initial slot (so its tail
 * call works) and leave the others alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "run_bpfvm.h"
#include "util.h"

static bpfvm_obj *open_obj(bpfvm *vm, const char *file, char *log, size_t logsz)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ELF_TEST_DIR, file);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = logsz };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s", log);
	return obj;
}

static uint64_t run(bpfvm_prog *p)
{
	char mem[16] = { 0 }, err[256] = "";
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = sizeof(mem), .err_buf = err, .err_size = sizeof(err) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0, "%s", err);
	return ro.r0;
}

Test(elf_autoload, all_programs_by_default)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	bpfvm_obj *obj = open_obj(vm, "autoload.o", log, sizeof(log));
	cr_expect_eq(bpfvm_obj_prog_count(obj), 4);
	cr_expect_eq(bpfvm_obj_load(obj), -ENOENT, "%s", log);
	cr_expect(strstr(log, "no_such_helper"), "%s", log);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_autoload, selected_program_and_its_tail_call_targets)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	bpfvm_obj *obj = open_obj(vm, "autoload.o", log, sizeof(log));
	cr_assert_eq(bpfvm_obj_set_autoload(obj, NULL, 0), 0);
	cr_assert_eq(bpfvm_obj_set_autoload(obj, "entry", 1), 0);
	cr_expect_eq(bpfvm_obj_set_autoload(obj, "nope", 1), -ENOENT);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s", log);
	cr_expect_eq(bpfvm_obj_set_autoload(obj, "entry", 0), -EBUSY);
	cr_assert(bpfvm_obj_prog(obj, "entry"));
	cr_assert(bpfvm_obj_prog(obj, "target"), "jt's initial slot program was not loaded");
	cr_expect_null(bpfvm_obj_prog(obj, "rejected"));
	cr_expect_null(bpfvm_obj_prog(obj, "unresolved"));
	cr_expect_eq(run(bpfvm_obj_prog(obj, "entry")), 42);
	/* The slot is filled: entry's tail call reached target. */
	uint32_t key = 1;
	int fd = 0;
	cr_expect_eq(bpfvm_map_lookup(bpfvm_obj_map(obj, "jt"), &key, &fd, 0), 0);
	cr_expect_eq(fd, bpfvm_prog_fd(bpfvm_obj_prog(obj, "target")));
	/* `other` (only used by unloaded programs) keeps its slot empty. */
	key = 0;
	cr_expect_neq(bpfvm_map_lookup(bpfvm_obj_map(obj, "other"), &key, &fd, 0), 0);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

/* Selecting a program that can't load still fails, with its own reason. */
Test(elf_autoload, selected_bad_program_fails)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	bpfvm_obj *obj = open_obj(vm, "autoload.o", log, sizeof(log));
	cr_assert_eq(bpfvm_obj_set_autoload(obj, NULL, 0), 0);
	cr_assert_eq(bpfvm_obj_set_autoload(obj, "unresolved", 1), 0);
	cr_expect_eq(bpfvm_obj_load(obj), -ENOENT, "%s", log);
	cr_expect(strstr(log, "no_such_helper"), "%s", log);
	bpfvm_obj_close(obj);

	obj = open_obj(vm, "autoload.o", log, sizeof(log));
	cr_assert_eq(bpfvm_obj_set_autoload(obj, NULL, 0), 0);
	cr_assert_eq(bpfvm_obj_set_autoload(obj, "mem/rejected", 1), 0); /* by section name */
	cr_expect_eq(bpfvm_obj_load(obj), -EACCES, "%s", log);
	cr_expect(strstr(log, "BAD:rejected"), "%s", log);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

/* ---- the command ---- */


Test(elf_autoload, cli_run_prog)
{
	static char out[1 << 16];
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "run %s/autoload.o --prog entry", ELF_TEST_DIR), 0, "%s", out);
	cr_expect(strstr(out, "r0 = 42"), "%s", out);
	/* Without --prog every program loads, and one can't. */
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "run %s/autoload.o", ELF_TEST_DIR), 1, "%s", out);
	cr_expect(strstr(out, "no_such_helper"), "%s", out);
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "run %s/autoload.o --prog nope", ELF_TEST_DIR), 1, "%s", out);
	cr_expect(strstr(out, "no program named 'nope'"), "%s", out);
}

/* The command shows the verifier's source line for ELF objects. */
Test(elf_autoload, cli_errors_name_the_source_line)
{
	static char out[1 << 16];
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "run %s/autoload.o --prog rejected", ELF_TEST_DIR), 1, "%s", out);
	cr_expect(strstr(out, "/* BAD:rejected */ @ autoload.bpf.c:"), "%s", out);
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "verify %s/lines.o --prog sub_oob", ELF_TEST_DIR), 1, "%s", out);
	cr_expect(strstr(out, "; in subprogram sum_past()"), "%s", out);
	cr_expect(strstr(out, "/* BAD:sum_past */ @ lines.bpf.c:"), "%s", out);
	cr_expect(strstr(out, "rejected"), "%s", out);
	cr_expect_eq(bpfvm_cmd(out, sizeof(out), "verify %s/autoload.o --prog entry", ELF_TEST_DIR), 0, "%s", out);
	cr_expect(strstr(out, "entry: accepted") && strstr(out, "target: accepted"), "%s", out);
	cr_expect(!strstr(out, "rejected: accepted"), "%s", out);
}

Test(elf_autoload, api_misuse)
{
	cr_expect_eq(bpfvm_obj_set_autoload(NULL, "x", 1), -EINVAL);
	cr_expect_eq(bpfvm_obj_set_autoload(NULL, NULL, 0), -EINVAL);
	cr_expect_eq(bpfvm_obj_prog_count(NULL), 0);
}
