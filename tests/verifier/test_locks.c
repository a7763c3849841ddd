/*
 * Spin-lock identity, as Linux tracks it: (map, offset, id).  Each case is
 * assembly where $A, $B ... stand for the handles of the maps below; the
 * verdict and, for rejections, a substring of the log.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"

/* $A, $B: single-value arrays (as .bss/.data are) with a lock at 0;
 * $C: a 4-entry array with a lock at 8; $D: an array of maps whose inner
 * template is $C-shaped; $E: a single-value array without a lock; $P: a
 * prog array. */
enum { MA, MB, MC, MD, ME, MP, NMAPS };

struct lcase {
	const char *name;
	const char *text;
	bool accept;
	const char *msg;
};

#define LOOKUP_C "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd($C)\ncall 1\n"
#define LOOKUP_D "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd($D)\ncall 1\n"

static const struct lcase cases[] = {
	{ "global data: every lddw of one map is the same value", "lddw %r1, map_value($A, 0)\ncall 93\n"
	  "lddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\n", true, NULL },
	{ "global data: two maps are two locks", "lddw %r1, map_value($A, 0)\ncall 93\n"
	  "lddw %r1, map_value($B, 0)\ncall 94\nmov %r0, 0\nexit\n", false, "different lock" },
	{ "global data: a copy of the pointer is the same lock", "lddw %r6, map_value($A, 0)\nmov %r1, %r6\ncall 93\n"
	  "mov %r1, %r6\ncall 94\nmov %r0, 0\nexit\n", true, NULL },
	{ "lock not at the declared offset", LOOKUP_C "jeq %r0, 0, +5\nmov %r6, %r0\nmov %r1, %r0\ncall 93\n"
	  "mov %r1, %r6\ncall 94\nmov %r0, 0\nexit\n", false, "that is at 8" },
	{ "lock at the declared offset", LOOKUP_C "jeq %r0, 0, +7\nmov %r6, %r0\nadd %r6, 8\nmov %r1, %r6\ncall 93\n"
	  "mov %r1, %r6\ncall 94\nmov %r0, 0\nexit\n", true, NULL },
	{ "a map without a lock", "lddw %r1, map_value($E, 0)\ncall 93\nmov %r0, 0\nexit\n", false,
	  "has no valid bpf_spin_lock" },
	{ "two locks at once", "lddw %r1, map_value($A, 0)\ncall 93\nlddw %r1, map_value($B, 0)\ncall 93\n"
	  "mov %r0, 0\nexit\n", false, "while holding a lock (bpf_spin_lock)" },
	{ "unlock without lock", "lddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\n", false, "without taking a lock" },
	{ "exit with a lock held", "lddw %r1, map_value($A, 0)\ncall 93\nmov %r0, 0\nexit\n", false,
	  "bpf_spin_unlock is missing" },
	{ "lock held on one path only", "call 7\nmov %r6, %r0\nlddw %r1, map_value($A, 0)\ncall 93\njeq %r6, 0, +3\n"
	  "lddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\n", false, "bpf_spin_unlock is missing" },
	{ "tail call with a lock held", "mov %r6, %r1\nlddw %r1, map_value($A, 0)\ncall 93\nmov %r1, %r6\n"
	  "lddw %r2, map_fd($P)\nmov %r3, 0\ncall 12\nlddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\n", false,
	  "while holding a lock (bpf_tail_call)" },
	{ "bpf-to-bpf call with a lock held", "lddw %r1, map_value($A, 0)\ncall 93\ncall local +5\n"
	  "lddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\nmov %r0, 0\nexit\n", false,
	  "function calls are not allowed while holding a lock" },
	{ "store to the lock word", "lddw %r1, map_value($A, 0)\nstw [%r1+0], 0\nmov %r0, 0\nexit\n", false,
	  "bpf_spin_lock cannot be accessed directly" },
	{ "atomic on the lock word", "lddw %r1, map_value($A, 0)\nmov %r2, 1\nlock add32 [%r1+0], %r2\n"
	  "mov %r0, 0\nexit\n", false, "bpf_spin_lock cannot be accessed directly" },
	{ "the rest of the value is free to use", "lddw %r1, map_value($A, 8)\nstdw [%r1+0], 1\nmov %r0, 0\nexit\n",
	  true, NULL },
	{ "inner map: lock through one inner lookup", LOOKUP_D "jeq %r0, 0, +12\nmov %r1, %r0\nmov %r2, %r10\n"
	  "add %r2, -4\ncall 1\njeq %r0, 0, +7\nmov %r6, %r0\nadd %r6, 8\nmov %r1, %r6\ncall 93\nmov %r1, %r6\ncall 94\n"
	  "mov %r0, 0\nexit\n", true, NULL },
	{ "inner map: two inner lookups are two locks", LOOKUP_D "jeq %r0, 0, +19\nmov %r7, %r0\nmov %r1, %r7\n"
	  "mov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +14\nmov %r8, %r0\nmov %r1, %r7\nmov %r2, %r10\nadd %r2, -4\n"
	  "call 1\njeq %r0, 0, +8\nmov %r6, %r0\nadd %r8, 8\nadd %r6, 8\nmov %r1, %r8\ncall 93\nmov %r1, %r6\ncall 94\n"
	  "mov %r0, 0\nexit\n", false, "different lock" },
	{ "helper call while locked (global data)", "lddw %r1, map_value($A, 0)\ncall 93\ncall 7\nmov %r6, %r0\n"
	  "lddw %r1, map_value($A, 0)\ncall 94\nmov %r0, 0\nexit\n", false, "while holding a lock" },
};

static bpfvm_map *make(bpfvm *vm, uint32_t type, uint32_t max, int32_t lock, bpfvm_map *tmpl)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = type, .key_size = 4, .value_size = type == BPFVM_MAP_ARRAY ? 16 : 4,
	                            .max_entries = max, .spin_lock_off = lock, .name = "m", .inner_template = tmpl };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0);
	return m;
}

/* Replaces each $X by the handle of map X. */
static void subst(char *out, size_t size, const char *in, bpfvm_map *const *maps)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 16 < size; p++) {
		if (*p == '$' && ((p[1] >= 'A' && p[1] <= 'E') || p[1] == 'P')) {
			int k = p[1] == 'P' ? MP : p[1] - 'A';
			o += (size_t)snprintf(out + o, size - o, "%d", bpfvm_map_fd(maps[k]));
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

Test(locks, identity)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lcase *c = &cases[i];
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_map *maps[NMAPS];
		maps[MA] = make(vm, BPFVM_MAP_ARRAY, 1, 0, NULL);
		maps[MB] = make(vm, BPFVM_MAP_ARRAY, 1, 0, NULL);
		maps[MC] = make(vm, BPFVM_MAP_ARRAY, 4, 8, NULL);
		maps[MD] = make(vm, BPFVM_MAP_ARRAY_OF_MAPS, 2, -1, maps[MC]);
		maps[ME] = make(vm, BPFVM_MAP_ARRAY, 1, -1, NULL);
		maps[MP] = make(vm, BPFVM_MAP_PROG_ARRAY, 2, -1, NULL);
		char text[4096], err[256], log[8192] = "";
		subst(text, sizeof(text), c->text, maps);
		struct bpf_insn *insns;
		size_t n;
		cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", c->name, err);
		struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log),
		                             .log_level = BPFVM_LOG_ERRORS, .mem_size = 16 };
		bpfvm_prog *prog = NULL;
		int rc = bpfvm_prog_load(vm, insns, n, &o, &prog);
		if (c->accept) {
			cr_expect_eq(rc, 0, "%s: expected accept, got %d: %s", c->name, rc, log);
		} else {
			cr_expect_neq(rc, 0, "%s: expected reject", c->name);
			if (c->msg)
				cr_expect(strstr(log, c->msg) != NULL, "%s: log lacks '%s': %s", c->name, c->msg, log);
		}
		if (prog)
			bpfvm_prog_put(prog);
		for (int k = 0; k < NMAPS; k++)
			bpfvm_map_put(maps[k]);
		free(insns);
		bpfvm_destroy(vm);
	}
}
