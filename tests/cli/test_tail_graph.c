/*
 * `bpfvm verify --tail-calls` on tests/elf/progs/tailcalls.bpf.c (a chain
 * entry -> stage1 -> stage2 -> ping, a cycle ping <-> pong, a self-loop
 * again -> again, tail calls from subprograms in entry and stage1): the
 * JSON is parsed and its content checked; the text form names the same.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "json.h"
#include "run_bpfvm.h"

static const struct json *find_named(const struct json *arr, const char *name)
{
	for (const struct json *e = arr ? arr->child : NULL; e; e = e->next)
		if (!strcmp(json_str(json_get(e, "name"), ""), name))
			return e;
	return NULL;
}

static const struct json *find_edge(const struct json *edges, const char *from, const char *to)
{
	for (const struct json *e = edges ? edges->child : NULL; e; e = e->next)
		if (!strcmp(json_str(json_get(e, "from"), ""), from) && !strcmp(json_str(json_get(e, "to"), ""), to))
			return e;
	return NULL;
}

static int jbool(const struct json *j)
{
	return j && j->kind == JSON_BOOL ? j->boolean : -1;
}

/* "a,b,c" from an array of strings. */
static void join(const struct json *arr, char *buf, size_t len)
{
	buf[0] = 0;
	for (const struct json *e = arr ? arr->child : NULL; e; e = e->next) {
		if (buf[0])
			strncat(buf, ",", len - strlen(buf) - 1);
		strncat(buf, json_str(e, "?"), len - strlen(buf) - 1);
	}
}

Test(cli_tail_graph, json_content)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "verify --tail-calls --json %s/tailcalls.o", ELF_TEST_DIR), 0, "%s", out);
	struct json *doc = json_parse(out);
	cr_assert(doc, "not JSON: %s", out);
	cr_expect_eq(jbool(json_get(doc, "accepted")), 1);
	const struct json *tc = json_get(doc, "tail_calls");
	cr_assert(tc && tc->kind == JSON_OBJ, "no tail_calls: %s", out);

	const struct json *progs = json_get(tc, "programs");
	cr_expect_eq(json_len(progs), 6);
	static const struct { const char *name; double stack, frames; int cycle; } want[] = {
		{ "entry", 96, 2, 0 }, { "stage1", 128, 2, 0 }, { "stage2", 32, 1, 0 },
		{ "ping", 32, 1, 1 }, { "pong", 128, 1, 1 }, { "again", 32, 1, 1 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct json *p = find_named(progs, want[i].name);
		cr_assert(p, "program %s missing", want[i].name);
		cr_expect_eq(json_num(json_get(p, "stack"), -1), want[i].stack, "%s stack", want[i].name);
		cr_expect_eq(json_num(json_get(p, "frames"), -1), want[i].frames, "%s frames", want[i].name);
		cr_expect_eq(jbool(json_get(p, "in_cycle")), want[i].cycle, "%s in_cycle", want[i].name);
		cr_expect_eq(jbool(json_get(p, "verified")), 1);
	}

	const struct json *arrays = json_get(tc, "arrays");
	cr_expect_eq(json_len(arrays), 2);
	const struct json *jmp = find_named(arrays, "jmp");
	cr_assert(jmp);
	cr_expect_eq(json_num(json_get(jmp, "max_entries"), 0), 8);
	cr_expect_eq(json_len(json_get(jmp, "slots")), 4, "initial slots 1-4");

	const struct json *edges = json_get(tc, "edges");
	cr_expect_eq(json_len(edges), 6);
	static const struct { const char *from, *to, *array; double slot, caller_stack, caller_frames; int cycle; } we[] = {
		{ "entry", "stage1", "jmp", 1, 64, 1, 0 },   /* from hop: entry's frame stays */
		{ "stage1", "stage2", "jmp", 2, 96, 1, 0 },
		{ "stage2", "ping", "jmp", 3, 0, 0, 0 },
		{ "ping", "pong", "jmp", 4, 0, 0, 1 },
		{ "pong", "ping", "jmp", 3, 0, 0, 1 },
		{ "again", "again", "self", 0, 0, 0, 1 },
	};
	for (size_t i = 0; i < sizeof(we) / sizeof(we[0]); i++) {
		const struct json *e = find_edge(edges, we[i].from, we[i].to);
		cr_assert(e, "edge %s -> %s missing", we[i].from, we[i].to);
		cr_expect_str_eq(json_str(json_get(e, "array"), ""), we[i].array);
		cr_expect_eq(json_num(json_get(e, "slot"), -1), we[i].slot, "%s slot", we[i].from);
		cr_expect_eq(jbool(json_get(e, "const_index")), 1, "%s: constant index", we[i].from);
		cr_expect_eq(json_num(json_get(e, "caller_stack"), -1), we[i].caller_stack, "%s caller_stack", we[i].from);
		cr_expect_eq(json_num(json_get(e, "caller_frames"), -1), we[i].caller_frames, "%s", we[i].from);
		cr_expect_eq(jbool(json_get(e, "in_cycle")), we[i].cycle, "%s -> %s in_cycle", we[i].from, we[i].to);
	}

	const struct json *cycles = json_get(tc, "cycles");
	cr_expect_eq(json_len(cycles), 2);
	char buf[256];
	join(cycles ? cycles->child : NULL, buf, sizeof(buf));
	cr_expect_str_eq(buf, "ping,pong");
	join(cycles && cycles->child ? cycles->child->next : NULL, buf, sizeof(buf));
	cr_expect_str_eq(buf, "again");
	cr_expect_eq(json_num(json_get(tc, "max_tail_calls"), 0), 33);

	/* entry's 64 + stage1's 96 bytes left below pong's 128 */
	const struct json *ds = json_get(tc, "deepest_stack");
	cr_expect_eq(json_num(json_get(ds, "bytes"), -1), 288);
	join(json_get(ds, "chain"), buf, sizeof(buf));
	cr_expect_str_eq(buf, "entry,stage1,stage2,ping,pong");
	cr_expect_eq(json_len(json_get(ds, "via")), 4);
	const struct json *df = json_get(tc, "deepest_frames");
	cr_expect_eq(json_num(json_get(df, "frames"), -1), 3, "entry's frame left below stage1's 2");
	json_free(doc);
	free(out);
}

Test(cli_tail_graph, text_and_run)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "verify --tail-calls %s/tailcalls.o", ELF_TEST_DIR), 0, "%s", out);
	cr_expect(strstr(out, "6 programs, 2 prog arrays, 6 edges, 2 cycles"), "%s", out);
	cr_expect(strstr(out, "  1: ping pong\n  2: again\n"), "%s", out);
	cr_expect(strstr(out, "deepest stack: 288 bytes: entry -> jmp[1] -> stage1 -> jmp[2] -> stage2 -> jmp[3] -> ping "
	                      "-> jmp[4] -> pong"), "%s", out);
	free(out);
	/* and the graph runs: 33 tail calls end in ping, which returns 4 into
	 * stage1's frame (+4), then entry's (+2) */
	for (int jit = 0; jit < 2; jit++) {
		cr_assert_eq(run_bpfvm(&out, "run %s/tailcalls.o --prog entry --engine %s", ELF_TEST_DIR, jit ? "jit" : "interp"), 0);
		cr_expect(strstr(out, "r0 = 10 "), "%s", out);
		free(out);
	}
	/* --tail-calls wants an ELF object */
	cr_expect_eq(run_bpfvm(&out, "verify --tail-calls %s/examples/hello.s", SOURCE_ROOT), 2);
	free(out);
}

/* An initial slot the insertion checks refuse fails the load, naming the
 * array, both types and the slot. */
Test(cli_tail_graph, incompatible_initial_slot)
{
	char *out;
	cr_assert_eq(run_bpfvm(&out, "verify --tail-calls %s/tailcalls_bad.o", ELF_TEST_DIR), 1, "%s", out);
	cr_expect(strstr(out, "prog array 'jmp' holds programs of type 'mem'"), "%s", out);
	cr_expect(strstr(out, "'xdp_target' of type 'xdp' can't be put in"), "%s", out);
	cr_expect(strstr(out, "can't put program 'xdp_target' in slot 0"), "%s", out);
	cr_expect(!strstr(out, "tail-call graph of"), "no graph for a rejected object: %s", out);
	free(out);
}
