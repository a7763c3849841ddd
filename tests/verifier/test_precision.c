/*
 * Precision (verifier/cfg.c): pruning ignores scalars whose values nothing
 * later depends on, and must never ignore one that something does.  Each
 * unsafe program below reaches a join with a scalar that is 0 on one path
 * and 100 on the other, and only the 100 path misbehaves later, through a
 * different kind of dependence each time: if pruning wrongly matched the
 * two paths, the program would be accepted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"

/* r7 = 0 or 100 from a random bit; r6 = a 48-byte map value.  The walk
 * goes down the fall-through first, so each case runs twice: with the safe
 * value first (the unsafe path then meets the join as a candidate for
 * pruning) and with the unsafe one first. */
#define PROLOGUE_MAP                                                                              \
	"stw [%%r10-4], 0\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, map_fd(%d)\ncall 1\n"          \
	"jne %%r0, 0, +2\nmov %%r0, 0\nexit\nmov %%r6, %%r0\ncall 7\nand %%r0, 1\n"
static const char *const prologues[2] = {
	PROLOGUE_MAP "mov %%r7, 100\njeq %%r0, 0, +1\nmov %%r7, 0\n",
	PROLOGUE_MAP "mov %%r7, 0\njeq %%r0, 0, +1\nmov %%r7, 100\n",
};

struct pcase {
	const char *name;
	const char *text;  /* after PROLOGUE; %%r for registers, %d for the map */
	bool accept;
	const char *msg;
};

static const struct pcase cases[] = {
	{ "scalar added to a pointer", "add %%r6, %%r7\nldxdw %%r0, [%%r6+0]\nexit\n", false, "invalid access to map value" },
	{ "pointer added to a scalar", "add %%r7, %%r6\nldxdw %%r0, [%%r7+0]\nexit\n", false, "invalid access to map value" },
	{ "spilled through r10", "stxdw [%%r10-16], %%r7\nldxdw %%r8, [%%r10-16]\nadd %%r6, %%r8\nldxdw %%r0, [%%r6+0]\nexit\n",
	  false, "invalid access to map value" },
	{ "spilled through another pointer", "mov %%r9, %%r10\nadd %%r9, -16\nstxdw [%%r9+0], %%r7\nldxdw %%r8, [%%r10-16]\n"
	  "add %%r6, %%r8\nldxdw %%r0, [%%r6+0]\nexit\n", false, "invalid access to map value" },
	{ "copied, shifted, then added", "mov %%r8, %%r7\nlsh %%r8, 1\nadd %%r6, %%r8\nldxdw %%r0, [%%r6+0]\nexit\n",
	  false, "invalid access to map value" },
	{ "decides a branch", "jgt %%r7, 50, +2\nmov %%r0, 0\nexit\nldxdw %%r0, [%%r7+0]\nexit\n", false,
	  "invalid mem access 'scalar'" },
	{ "a helper's size argument", "mov %%r1, %%r10\nadd %%r1, -64\nmov %%r2, %%r7\nadd %%r2, 1\nmov %%r3, 0\ncall 6\n"
	  "mov %%r0, 0\nexit\n", false, "" },
	{ "returned by a subprogram", "mov %%r1, %%r7\ncall local +3\nadd %%r6, %%r0\nldxdw %%r0, [%%r6+0]\nexit\n"
	  "mov %%r0, %%r1\nexit\n", false, "invalid access to map value" },
	{ "through a 32-bit move", "mov32 %%r8, %%r7\nadd %%r6, %%r8\nldxdw %%r0, [%%r6+0]\nexit\n", false,
	  "invalid access to map value" },
	{ "spilled through r10, filled through another pointer", "stxdw [%%r10-16], %%r7\nmov %%r9, %%r10\n"
	  "add %%r9, -16\nldxdw %%r8, [%%r9+0]\nadd %%r6, %%r8\nldxdw %%r0, [%%r6+0]\nexit\n", false,
	  "invalid access to map value" },
	{ "in the caller's stack, returned by a subprogram", "stxdw [%%r10-16], %%r7\nmov %%r1, %%r10\nadd %%r1, -16\n"
	  "call local +3\nadd %%r6, %%r0\nldxdw %%r0, [%%r6+0]\nexit\nldxdw %%r0, [%%r1+0]\nexit\n", false,
	  "invalid access to map value" },
	{ "in the caller's stack, used by a subprogram", "stxdw [%%r10-16], %%r7\nmov %%r1, %%r10\nadd %%r1, -16\n"
	  "mov %%r2, %%r6\ncall local +2\nmov %%r0, 0\nexit\nldxdw %%r3, [%%r1+0]\nadd %%r2, %%r3\n"
	  "ldxdw %%r0, [%%r2+0]\nmov %%r0, 0\nexit\n", false, "invalid access to map value" },
	{ "in a spilled stack slot nothing reads back", "stxdw [%%r10-16], %%r7\nmov %%r0, 0\nexit\n", true, NULL },
	{ "a scalar nothing depends on is merged", "mov %%r0, %%r7\nexit\n", true, NULL },
};

static void make_map(bpfvm *vm, bpfvm_map **m)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 48,
	                            .max_entries = 1, .spin_lock_off = -1, .name = "v" };
	cr_assert_eq(bpfvm_map_create(vm, &a, m), 0);
}

static int load_text(bpfvm *vm, const char *text, char *log, size_t logsz, bpfvm_prog **out,
                     struct bpfvm_verify_stats *st)
{
	struct bpf_insn *insns;
	size_t n;
	char err[256];
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "asm: %s\n%s", err, text);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = logsz, .log_level = BPFVM_LOG_ERRORS };
	log[0] = 0;
	int rc = bpfvm_prog_load(vm, insns, n, &o, out);
	if (!rc && st) {
		st->sz = sizeof(*st);
		cr_assert_eq(bpfvm_prog_verify_stats(*out, st), 0);
	}
	free(insns);
	return rc;
}

Test(precision, unsafe_values_are_never_merged)
{
	for (size_t k = 0; k < 2 * sizeof(cases) / sizeof(cases[0]); k++) {
		const struct pcase *c = &cases[k / 2];
		bpfvm *vm;
		bpfvm_map *m;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		make_map(vm, &m);
		char fmt[2048], text[4096], log[8192];
		snprintf(fmt, sizeof(fmt), "%s%s", prologues[k % 2], c->text);
		snprintf(text, sizeof(text), fmt, bpfvm_map_fd(m));
		bpfvm_prog *p = NULL;
		int rc = load_text(vm, text, log, sizeof(log), &p, NULL);
		if (c->accept) {
			cr_expect_eq(rc, 0, "%s (%zu): expected accept: %s", c->name, k % 2, log);
		} else {
			cr_expect_neq(rc, 0, "%s (%zu): accepted, so pruning merged a value that matters", c->name, k % 2);
			cr_expect(strstr(log, c->msg), "%s (%zu): log lacks '%s': %s", c->name, k % 2, c->msg, log);
		}
		if (p)
			bpfvm_prog_put(p);
		bpfvm_map_put(m);
		bpfvm_destroy(vm);
	}
}

/* A callback must return 0 or 1: r0 at its exit is a value that matters. */
Test(precision, callback_return_value)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	const char *t = "mov %r1, 4\nlddw %r2, func(+6)\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\n"
	                "call 7\nand %r0, 1\nmov %r6, 2\njeq %r0, 0, +1\nmov %r6, 0\nmov %r0, %r6\nexit\n";
	char log[8192];
	bpfvm_prog *p = NULL;
	cr_expect_neq(load_text(vm, t, log, sizeof(log), &p, NULL), 0, "a callback returning 2 was accepted");
	if (p)
		bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* The pattern precision exists for: 32 independent branches each changing
 * an accumulator nothing checks.  Exact comparison would walk 2^32 paths;
 * Linux walks a few hundred insns, and so must bpfvm. */
Test(precision, independent_branches_stay_linear)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char text[16384];
	size_t o = (size_t)snprintf(text, sizeof(text), "mov %%r6, 0\nmov %%r7, 0\n");
	for (int i = 0; i < 32; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		                      "call 7\njset %%r0, 1, +2\nadd %%r6, %d\nja +1\nxor %%r6, %d\n", 3 * i + 1, i);
	snprintf(text + o, sizeof(text) - o, "mov %%r0, %%r6\nexit\n");
	char log[8192];
	bpfvm_prog *p = NULL;
	struct bpfvm_verify_stats st;
	cr_assert_eq(load_text(vm, text, log, sizeof(log), &p, &st), 0, "%s", log);
	cr_expect_lt(st.insns_processed, 2000, "%llu insns processed", (unsigned long long)st.insns_processed);
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}
