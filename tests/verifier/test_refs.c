/*
 * Acquired references from embedder helpers (BPFVM_HELPER_ACQUIRE /
 * BPFVM_HELPER_RELEASE), the rule Linux applies to ring-buffer records and
 * kernel objects: what is acquired is released on every path, and a
 * released pointer (or any copy of it) is dead.  Accepted programs also
 * run, and the host side checks nothing leaked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"

#define OBJ_NEW (BPFVM_HELPER_USER_BASE + 1)
#define OBJ_PUT (BPFVM_HELPER_USER_BASE + 2)

static atomic_long live;

/* obj_new(size): zeroed memory of size bytes, or NULL for size 0. */
static uint64_t obj_new(uint64_t size, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b; (void)c; (void)d; (void)e;
	if (!size || size > 4096)
		return 0;
	atomic_fetch_add(&live, 1);
	return (uintptr_t)calloc(1, size);
}

static uint64_t obj_put(uint64_t p, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b; (void)c; (void)d; (void)e;
	atomic_fetch_sub(&live, 1);
	free((void *)(uintptr_t)p);
	return 0;
}

struct rcase {
	const char *name;
	const char *text;
	bool accept;
	const char *msg; /* rejection: substring of the log */
};

/* r6 = obj_new(16), null-checked (the jeq skips to a plain exit). */
#define NEW16(skip) "mov %r1, 16\ncall 65537\nmov %r6, %r0\njeq %r0, 0, +" #skip "\n"

static const struct rcase cases[] = {
	{ "acquire, check, release", NEW16(2) "mov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", true, NULL },
	{ "use the object before releasing it", NEW16(4) "stdw [%r6+8], 7\nldxdw %r7, [%r6+8]\nmov %r1, %r6\n"
	  "call 65538\nmov %r0, 0\nexit\n", true, NULL },
	{ "leak: exit without release", NEW16(0) "mov %r0, 0\nexit\n", false,
	  "Unreleased reference id=2 alloc_insn=1: exit without releasing what insn 1 acquired" },
	{ "leak on one path", NEW16(5) "call 7\njeq %r0, 0, +2\nmov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", false,
	  "alloc_insn=1" },
	{ "release before the null check", "mov %r1, 16\ncall 65537\nmov %r1, %r0\ncall 65538\nmov %r0, 0\nexit\n", false,
	  "expected=alloc_mem" },
	{ "use after release", NEW16(3) "mov %r1, %r6\ncall 65538\nldxdw %r0, [%r6+0]\nexit\n", false, "R6 invalid mem access 'scalar'" },
	{ "use of a copy after release", NEW16(4) "mov %r7, %r6\nmov %r1, %r6\ncall 65538\nldxdw %r0, [%r7+0]\nexit\n",
	  false, "R7 invalid mem access 'scalar'" },
	{ "use of a spilled copy after release", NEW16(5) "stxdw [%r10-8], %r6\nmov %r1, %r6\ncall 65538\n"
	  "ldxdw %r7, [%r10-8]\nldxdw %r0, [%r7+0]\nexit\n", false, "R7 invalid mem access 'scalar'" },
	{ "release through a spilled copy", NEW16(4) "stxdw [%r10-8], %r6\nldxdw %r1, [%r10-8]\ncall 65538\n"
	  "mov %r0, 0\nexit\n", true, NULL },
	{ "double release", NEW16(4) "mov %r1, %r6\ncall 65538\nmov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", false,
	  "R1 type=scalar expected=alloc_mem" },
	{ "release of a moved pointer", NEW16(3) "mov %r1, %r6\nadd %r1, 8\ncall 65538\nmov %r0, 0\nexit\n", false,
	  "start of the allocated memory" },
	{ "access past the object", NEW16(3) "stdw [%r6+16], 1\nmov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", false,
	  "invalid access to mem, value_size=16 off=16 size=8" },
	{ "size not constant", "call 7\nand %r0, 15\nmov %r1, %r0\ncall 65537\njeq %r0, 0, +2\nmov %r1, %r0\n"
	  "call 65538\nmov %r0, 0\nexit\n", false, "must be constant" },
	{ "tail call with a reference held", "mov %r9, %r1\n" NEW16(5) "mov %r1, %r9\nlddw %r2, map_fd($P)\nmov %r3, 0\n"
	  "call 12\nmov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", false, "tail call without releasing" },
	{ "acquire and release in a bounded loop", "mov %r8, 0\nmov %r1, 16\ncall 65537\njeq %r0, 0, +2\nmov %r1, %r0\n"
	  "call 65538\nadd %r8, 1\njlt %r8, 4, -7\nmov %r0, 0\nexit\n", true, NULL },
	{ "two references, both released", NEW16(8) "mov %r1, 8\ncall 65537\nmov %r7, %r0\njeq %r0, 0, +2\n"
	  "mov %r1, %r7\ncall 65538\nmov %r1, %r6\ncall 65538\nmov %r0, 0\nexit\n", true, NULL },
	{ "two references, the second leaked", NEW16(8) "mov %r1, 8\ncall 65537\nmov %r7, %r0\nmov %r1, %r6\n"
	  "call 65538\njeq %r7, 0, +2\nmov %r0, 0\nexit\nmov %r0, 0\nexit\n", false, "alloc_insn=5" },
	{ "released in a subprogram", NEW16(2) "mov %r1, %r6\ncall local +2\nmov %r0, 0\nexit\ncall 65538\nmov %r0, 0\n"
	  "exit\n", true, NULL },
};

static void setup_vm(bpfvm **vm, bpfvm_map **pa)
{
	cr_assert_eq(bpfvm_create(NULL, vm), 0);
	struct bpfvm_helper_proto pn = { .sz = sizeof(pn), .name = "obj_new", .ret = BPFVM_RET_ALLOC_MEM_OR_NULL,
	                                 .flags = BPFVM_HELPER_ACQUIRE, .args = { BPFVM_ARG_CONST_ALLOC_SIZE_OR_ZERO } };
	struct bpfvm_helper_proto pp = { .sz = sizeof(pp), .name = "obj_put", .ret = BPFVM_RET_VOID,
	                                 .flags = BPFVM_HELPER_RELEASE, .args = { BPFVM_ARG_PTR_TO_ALLOC_MEM } };
	cr_assert_eq(bpfvm_helper_register(*vm, OBJ_NEW, obj_new, &pn), 0);
	cr_assert_eq(bpfvm_helper_register(*vm, OBJ_PUT, obj_put, &pp), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 2, .spin_lock_off = -1, .name = "pa" };
	cr_assert_eq(bpfvm_map_create(*vm, &a, pa), 0);
}

Test(refs, acquire_release)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		bpfvm *vm;
		bpfvm_map *pa;
		setup_vm(&vm, &pa);
		char text[4096], err[256], log[8192] = "";
		const char *d = strstr(c->text, "$P");
		if (d)
			snprintf(text, sizeof(text), "%.*s%d%s", (int)(d - c->text), c->text, bpfvm_map_fd(pa), d + 2);
		else
			snprintf(text, sizeof(text), "%s", c->text);
		struct bpf_insn *insns;
		size_t n;
		cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", c->name, err);
		for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
			struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log),
			                             .log_level = BPFVM_LOG_ERRORS, .mem_size = 16, .engine = engine };
			bpfvm_prog *prog = NULL;
			int rc = bpfvm_prog_load(vm, insns, n, &o, &prog);
			if (!c->accept) {
				cr_expect_neq(rc, 0, "%s: expected reject", c->name);
				cr_expect(strstr(log, c->msg) != NULL, "%s: log lacks '%s': %s", c->name, c->msg, log);
				break;
			}
			cr_assert_eq(rc, 0, "%s: expected accept, got %d: %s", c->name, rc, log);
			uint8_t mem[16] = { 0 };
			struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = sizeof(mem) };
			long before = atomic_load(&live);
			cr_expect_eq(bpfvm_prog_run_opts(prog, &ro), 0, "%s: run", c->name);
			cr_expect_eq(atomic_load(&live), before, "%s: %ld objects leaked by a run", c->name,
			             atomic_load(&live) - before);
			bpfvm_prog_put(prog);
		}
		free(insns);
		bpfvm_map_put(pa);
		bpfvm_destroy(vm);
	}
}

/* The flags must come with results and arguments that carry a reference. */
Test(refs, proto_rules)
{
	bpfvm *vm;
	bpfvm_map *pa;
	setup_vm(&vm, &pa);
	/* An "acquiring" helper that returns a number: rejected when called. */
	struct bpfvm_helper_proto bad = { .sz = sizeof(bad), .name = "bad_acq", .ret = BPFVM_RET_INTEGER,
	                                  .flags = BPFVM_HELPER_ACQUIRE };
	cr_assert_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + 3, obj_new, &bad), 0);
	const char *t = "call 65539\nmov %r0, 0\nexit\n";
	struct bpf_insn *insns;
	size_t n;
	char err[256], log[2048] = "";
	cr_assert_eq(vm_asm(t, strlen(t), &insns, &n, err, sizeof(err)), 0);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *prog = NULL;
	cr_expect_neq(bpfvm_prog_load(vm, insns, n, &o, &prog), 0);
	cr_expect(strstr(log, "acquires a reference but returns no pointer"), "%s", log);
	free(insns);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
}
