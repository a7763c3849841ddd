/*
 * The bpfvm command, run as a user would: exit codes, --help everywhere,
 * --json shape, asm/disasm round trip, the project's own .data files, and
 * the public conformance suite (when ../shared/conformance exists).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "run_bpfvm.h"

static const char *conformance_dir(void)
{
	static char dir[1024];
	const char *root = getenv("BPFVM_CONFORMANCE");
	snprintf(dir, sizeof(dir), "%s", root ? root : SOURCE_ROOT "/../shared/conformance");
	return dir;
}

static const char *last_line(char *s)
{
	size_t l = strlen(s);
	while (l && s[l - 1] == '\n')
		s[--l] = '\0';
	char *nl = strrchr(s, '\n');
	return nl ? nl + 1 : s;
}

Test(cli, help_on_every_subcommand)
{
	const char *cmds[] = { "run", "asm", "disasm", "conformance", "plugin" };
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		char *out;
		cr_assert_eq(run_bpfvm(&out, "%s --help", cmds[k]), 0, "%s --help", cmds[k]);
		cr_assert(strstr(out, "usage: bpfvm"), "%s --help prints no usage", cmds[k]);
		free(out);
		cr_assert_eq(run_bpfvm(NULL, "%s --no-such-option", cmds[k]), 2, "%s with a bad option", cmds[k]);
	}
	cr_assert_eq(run_bpfvm(NULL, "--help"), 0);
	cr_assert_eq(run_bpfvm(NULL, "%s", ""), 2);
	cr_assert_eq(run_bpfvm(NULL, "frobnicate"), 2);
}

Test(cli, usage_errors_exit_2)
{
	cr_assert_eq(run_bpfvm(NULL, "run"), 2);
	cr_assert_eq(run_bpfvm(NULL, "run a b"), 2);
	cr_assert_eq(run_bpfvm(NULL, "run %s/examples/hello.s --repeat 0", SOURCE_ROOT), 2);
	cr_assert_eq(run_bpfvm(NULL, "run %s/examples/hello.s --engine warp", SOURCE_ROOT), 2);
	cr_assert_eq(run_bpfvm(NULL, "run %s/examples/hello.s --type skb", SOURCE_ROOT), 2);
	cr_assert_eq(run_bpfvm(NULL, "conformance"), 2);
	cr_assert_eq(run_bpfvm(NULL, "disasm"), 2);
}

Test(cli, errors_exit_1)
{
	cr_assert_eq(run_bpfvm(NULL, "run /nonexistent/prog.s"), 1);
	cr_assert_eq(run_bpfvm(NULL, "run %s/tests/cli/bad.s --no-verify", SOURCE_ROOT), 1);
	cr_assert_eq(run_bpfvm(NULL, "disasm %s/examples/hello.s", SOURCE_ROOT), 1); /* text: size not 8k */
	cr_assert_eq(run_bpfvm(NULL, "conformance /nonexistent"), 1);
	cr_assert_eq(run_bpfvm(NULL, "verify /nonexistent/prog.s"), 1);
	cr_assert_eq(run_bpfvm(NULL, "show /nonexistent/prog.o"), 1);
	cr_assert_eq(run_bpfvm(NULL, "jit-dump /nonexistent/prog.s"), 1);
}

Test(cli, run_prints_r0)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "run --no-verify %s/examples/hello.s", SOURCE_ROOT), 0);
	cr_assert(strstr(out, "r0 = 42"), "got: %s", out);
	free(out);
	/* Input bytes: "hi\n" = 104 + 105 + 10, plus 1000. */
	cr_assert_eq(run_bpfvm(&out, "run --unchecked %s/examples/hello.s --mem %s/tests/cli/hi.txt", SOURCE_ROOT,
	                   SOURCE_ROOT), 0);
	cr_assert(strstr(out, "r0 = 1219"), "got: %s", out);
	free(out);
}

#ifdef EXAMPLES_DIR
/* README's first command: an ELF example, verified, then run. */
Test(cli, elf_example_verified_and_run)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "run %s/sum.o --mem %s/tests/cli/hi.txt", EXAMPLES_DIR, SOURCE_ROOT), 0);
	cr_assert(strstr(out, "r0 = 219"), "'h'+'i'+'\\n' expected, got: %s", out);
	free(out);
	cr_assert_eq(run_bpfvm(&out, "verify %s/sum.o", EXAMPLES_DIR), 0);
	cr_assert(strstr(out, "sum: accepted (") && strstr(out, "sum.o: accepted"), "got: %s", out);
	free(out);
	cr_assert_eq(run_bpfvm(&out, "verify --json %s/counter.o", EXAMPLES_DIR), 0);
	const char *want = "{\"accepted\": true, \"error\": \"\", \"programs\": [{\"name\": \"count_first_byte\"";
	cr_assert(!strncmp(out, want, strlen(want)), "got: %s", out);
	free(out);
	/* a rejection exits 1 and says why */
	cr_assert_eq(run_bpfvm(&out, "verify %s/examples/hello.s", SOURCE_ROOT), 1);
	cr_assert(strstr(out, "insn 3: invalid access to packet"), "got: %s", out);
	free(out);
}
#endif

Test(cli, json_shape)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "run --no-verify --json --repeat 5 %s/examples/hello.s", SOURCE_ROOT), 0);
	cr_assert(!strncmp(out, "{\"r0\": 42, \"runs\": 5, \"ns_per_run_median\": ", 43), "got: %s", out);
	cr_assert(strstr(out, "\"ns_per_run_min\": "), "got: %s", out);
	cr_assert(strstr(out, "\"engine\": \"interp\""), "got: %s", out);
	cr_assert(strstr(out, "\"error\": null}"), "got: %s", out);
	free(out);
	/* Errors in JSON too, r0 null, exit 1. */
	cr_assert_eq(run_bpfvm(&out, "run --no-verify --json %s/tests/cli/oob.s", SOURCE_ROOT), 1);
	cr_assert(!strncmp(out, "{\"r0\": null, \"runs\": 0", 22), "got: %s", out);
	cr_assert(strstr(out, "\"error\": \"run failed"), "got: %s", out);
	free(out);
}

Test(cli, asm_disasm_round_trip)
{
	char *out, t[] = "/tmp/bpfvm-cli-XXXXXX";
	cr_assert(mkdtemp(t));
	cr_assert_eq(run_bpfvm(NULL, "asm %s/examples/hello.s -o %s/hello.bin", SOURCE_ROOT, t), 0);
	cr_assert_eq(run_bpfvm(&out, "disasm %s/hello.bin > %s/hello2.s && %s asm %s/hello2.s -o %s/hello2.bin && "
	                   "cmp %s/hello.bin %s/hello2.bin && echo same", t, t, BPFVM_EXE, t, t, t, t), 0);
	cr_assert(strstr(out, "same"));
	free(out);
	cr_assert_eq(run_bpfvm(&out, "run --no-verify %s/hello.bin", t), 0);
	cr_assert(strstr(out, "r0 = 42"));
	free(out);
	char rm[200];
	snprintf(rm, sizeof(rm), "rm -rf %s", t);
	cr_assert_eq(system(rm), 0);
}

Test(cli, plugin_protocol)
{
	char *out;
	/* mov32 %r0, 0x2a; exit */
	cr_assert_eq(run_bpfvm(&out, "plugin < %s/tests/cli/plugin_prog.hex", SOURCE_ROOT), 0);
	cr_assert_str_eq(out, "2a\n");
	free(out);
	/* ldxb %r0, [%r1+1]; exit with memory "aa bb", as the runner passes it. */
	cr_assert_eq(run_bpfvm(&out, "plugin --program '71 10 01 00 00 00 00 00 95 00 00 00 00 00 00 00' 'aa  bb ' ''"), 0);
	cr_assert_str_eq(out, "bb\n");
	free(out);
	/* An out-of-bounds read fails with a message and exit 1. */
	cr_assert_eq(run_bpfvm(&out, "plugin --program '71 10 08 00 00 00 00 00 95 00 00 00 00 00 00 00' 'aa'"), 1);
	cr_assert(strlen(out) > 0);
	free(out);
	cr_assert_eq(run_bpfvm(NULL, "plugin --program 'zz'"), 1);
}

/* The project's own .data files, on every engine this build has. */
Test(cli, own_data_files)
{
	const char *engines[] = { "interp", "jit" };
	const char *modes[] = { "--unchecked", "--checked" };
	for (size_t e = 0; e < 2; e++) {
		for (size_t m = 0; m < 2; m++) {
			char *out;
			int rc = run_bpfvm(&out, "conformance --engine %s %s %s/tests/data", engines[e], modes[m], SOURCE_ROOT);
			cr_assert_eq(rc, 0, "%s %s:\n%s", engines[e], modes[m], out);
			cr_assert(strstr(last_line(out), " passed, 0 failed"), "%s", out);
			free(out);
		}
	}
}

/* The public bpf_conformance suite: all 313 pass unchecked and checked. */
Test(cli, conformance_suite_313)
{
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/tests", conformance_dir());
	DIR *d = opendir(dir);
	if (!d)
		cr_skip_test("%s not present", dir);
	closedir(d);
	const char *modes[] = { "--unchecked", "--checked" };
	for (size_t m = 0; m < 2; m++) {
		char *out;
		int rc = run_bpfvm(&out, "conformance %s %s", modes[m], dir);
		cr_assert_str_eq(last_line(out), "313 passed, 0 failed", "%s:\n%s", modes[m], out);
		cr_assert_eq(rc, 0);
		free(out);
	}
}

/* Every negative file of the suite is rejected (exit 1, never a crash). */
Test(cli, conformance_negative_rejected)
{
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/negative", conformance_dir());
	DIR *d = opendir(dir);
	if (!d)
		cr_skip_test("%s not present", dir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".data"))
			continue;
		cr_assert_eq(run_bpfvm(NULL, "conformance %s/%s", dir, de->d_name), 1, "%s was not rejected", de->d_name);
		files++;
	}
	closedir(d);
	cr_assert_gt(files, 50);
}

#ifdef ELF_TEST_DIR
/* --dump-maps prints a ring buffer's committed records (consuming them). */
Test(cli, dump_maps_ringbuf_records)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "run --dump-maps %s/ringbuf.o", ELF_TEST_DIR), 0);
	cr_expect(strstr(out, "map events (type 27, key 0, value 0):\n"
	                      "  record 24 bytes  010000000000000020000000000000007265736572766500\n"), "%s", out);
	free(out);
	cr_assert_eq(run_bpfvm(&out, "run --dump-maps --json %s/ringbuf.o", ELF_TEST_DIR), 0);
	cr_expect(strstr(out, "\"entries\": [], \"records\": [\"0100000000000000200000000000000072657365727665"
	                      "00\", \"020000000000000000100000000000006f75747075740000\"]}"), "%s", out);
	free(out);
}

/* --dump-maps pops queues and stacks empty, in pop order. */
Test(cli, dump_maps_queue_stack_values)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "run --dump-maps --json %s/queue_stack.o", ELF_TEST_DIR), 0);
	cr_expect(strstr(out, "{\"name\": \"fifo\", \"type\": 22, \"key_size\": 0, \"value_size\": 8, \"entries\": [], "
	                      "\"values\": [\"0300000000000000\", \"0400000000000000\", \"0500000000000000\"]}"), "%s", out);
	cr_expect(strstr(out, "\"values\": [\"0400000000000000\", \"0300000000000000\", \"0200000000000000\"]}"), "%s", out);
	free(out);
}
#endif

/* jit-dump on assembly: every BPF instruction heads its x86-64 block. */
Test(cli, jit_dump_assembly)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "jit-dump %s/examples/hello.s", SOURCE_ROOT), 0);
	cr_expect(strstr(out, "; entry trampoline and abort stub\n") != NULL, "%s", out);
	cr_expect(strstr(out, "    0: mov %r0, 42\n") != NULL, "%s", out);
	cr_expect(strstr(out, " ret") != NULL, "%s", out);
	free(out);
	cr_assert_eq(run_bpfvm(NULL, "jit-dump --prog x %s/examples/hello.s", SOURCE_ROOT), 2);
}

#ifdef ELF_TEST_DIR
/* jit-dump on an ELF object: each program verified and printed under its
 * name; --prog prints that one only. */
Test(cli, jit_dump_elf)
{
	char *out;
	static const char *names[] = { "stage1", "stage2", "ping", "pong", "again", "entry" };
	cr_assert_eq(run_bpfvm(&out, "jit-dump %s/tailcalls.o", ELF_TEST_DIR), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "; program %s\n", names[i]);
		cr_expect(strstr(out, want) != NULL, "no %s in:\n%s", want, out);
	}
	free(out);
	cr_assert_eq(run_bpfvm(&out, "jit-dump --prog stage2 %s/tailcalls.o", ELF_TEST_DIR), 0);
	cr_expect(strstr(out, "; program stage2\n") != NULL, "%s", out);
	cr_expect(strstr(out, "; program stage1\n") == NULL, "%s", out);
	free(out);
	cr_assert_eq(run_bpfvm(NULL, "jit-dump --prog nope %s/tailcalls.o", ELF_TEST_DIR), 1);
	cr_assert_eq(run_bpfvm(NULL, "jit-dump %s/tailcalls_bad.o", ELF_TEST_DIR), 1);
}
#endif
