/*
 * Acquired references (issue 7, "References"), data-driven: ring buffer
 * records from bpf_ringbuf_reserve must be submitted or discarded on every
 * path, never used after that, and reserved with a constant size; leaks
 * name the acquiring instruction.  map_fd(RB) in a case stands for the ring
 * buffer's handle, map_fd(HASH), map_fd(PA) and map_fd(Q) for a hash map, a
 * prog array and a queue.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"

struct rcase {
	const char *name;
	const char *text;
	bool accept;
	const char *msg; /* rejection: substring of the log */
};

/* r0 = bpf_ringbuf_reserve(rb, SZ, 0): insns 1-5 (the table runner puts
 * "mov %r9, %r1" first, keeping the context for the tail-call case) */
#define RESERVE(sz) "lddw %r1, map_fd(RB)\nmov %r2, " #sz "\nmov %r3, 0\ncall 131\n"
#define SUBMIT "mov %r2, 0\ncall 132\n"
#define DISCARD "mov %r2, 0\ncall 133\n"
#define RET0 "mov %r0, 0\nexit\n"

static const struct rcase cases[] = {
	{ "reserve, write, submit", RESERVE(16) "jeq %r0, 0, +4\nstdw [%r0+8], 1\nmov %r1, %r0\n" SUBMIT RET0, true, NULL },
	{ "reserve, discard", RESERVE(16) "jeq %r0, 0, +3\nmov %r1, %r0\n" DISCARD RET0, true, NULL },
	{ "zero-sized reservation", RESERVE(0) "jeq %r0, 0, +3\nmov %r1, %r0\n" SUBMIT RET0, true, NULL },
	{ "submit on one path, discard on the other",
	  RESERVE(16) "jeq %r0, 0, +9\nmov %r6, %r0\ncall 7\nmov %r1, %r6\njeq %r0, 0, +3\n" SUBMIT "ja +2\n" DISCARD RET0,
	  true, NULL },
	{ "the record survives a spill and fill",
	  RESERVE(16) "stxdw [%r10-8], %r0\njeq %r0, 0, +4\nldxdw %r1, [%r10-8]\n" SUBMIT "ja +0\n" RET0, true, NULL },
	{ "null branch holds nothing", RESERVE(16) "jne %r0, 0, +1\nexit\nmov %r1, %r0\n" SUBMIT RET0, true, NULL },
	{ "leak on one path", RESERVE(16) "jeq %r0, 0, +6\nmov %r6, %r0\ncall 7\njeq %r0, 0, +3\nmov %r1, %r6\n" SUBMIT RET0,
	  false, "Unreleased reference id=" },
	{ "leak names the acquiring insn", RESERVE(16) "jeq %r0, 0, +6\nmov %r6, %r0\ncall 7\njeq %r0, 0, +3\nmov %r1, %r6\n" SUBMIT RET0,
	  false, "alloc_insn=5" },
	{ "never released", RESERVE(16) RET0, false, "Unreleased reference" },
	{ "use after submit", RESERVE(16) "jeq %r0, 0, +5\nmov %r6, %r0\nmov %r1, %r0\n" SUBMIT "stdw [%r6+0], 1\n" RET0,
	  false, "invalid mem access 'scalar'" },
	{ "use of a spilled copy after submit",
	  RESERVE(16) "jeq %r0, 0, +6\nstxdw [%r10-8], %r0\nmov %r1, %r0\n" SUBMIT "ldxdw %r6, [%r10-8]\nstdw [%r6+0], 1\n" RET0,
	  false, "invalid mem access 'scalar'" },
	{ "double submit", RESERVE(16) "jeq %r0, 0, +7\nmov %r6, %r0\nmov %r1, %r0\n" SUBMIT "mov %r1, %r6\n" SUBMIT RET0,
	  false, "expected=alloc_mem" },
	{ "discard after submit", RESERVE(16) "jeq %r0, 0, +7\nmov %r6, %r0\nmov %r1, %r0\n" SUBMIT "mov %r1, %r6\n" DISCARD RET0,
	  false, "expected=alloc_mem" },
	{ "non-constant size",
	  "call 7\nmov %r2, %r0\nand %r2, 63\nlddw %r1, map_fd(RB)\nmov %r3, 0\ncall 131\njeq %r0, 0, +3\nmov %r1, %r0\n" SUBMIT RET0,
	  false, "allocation size must be constant" },
	{ "submit without a null check", RESERVE(16) "mov %r1, %r0\n" SUBMIT RET0, false, "expected=alloc_mem" },
	{ "write past the reserved size", RESERVE(16) "jeq %r0, 0, +4\nstdw [%r0+16], 1\nmov %r1, %r0\n" SUBMIT RET0,
	  false, "invalid access to mem, value_size=16 off=16 size=8" },
	{ "submit a moved pointer", RESERVE(16) "jeq %r0, 0, +4\nmov %r1, %r0\nadd %r1, 8\n" SUBMIT RET0,
	  false, "start of the allocated memory" },
	{ "submit a stack pointer", "mov %r1, %r10\nadd %r1, -8\n" SUBMIT RET0, false, "expected=alloc_mem" },
	{ "reserve from a hash map", "lddw %r1, map_fd(HASH)\nmov %r2, 8\nmov %r3, 0\ncall 131\n" RET0, false,
	  "cannot pass map_type 1 into func bpf_ringbuf_reserve" },
	{ "map lookup in a ring buffer",
	  "stdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_fd(RB)\ncall 1\n" RET0, false,
	  "cannot pass map_type 27 into func bpf_map_lookup_elem" },
	{ "tail call with a record held",
	  RESERVE(16) "jeq %r0, 0, +9\nmov %r6, %r0\nmov %r1, %r9\nlddw %r2, map_fd(PA)\nmov %r3, 0\ncall 12\nmov %r1, %r6\n" SUBMIT RET0,
	  false, "tail call without releasing" },
	{ "output from the stack",
	  "stdw [%r10-8], 5\nlddw %r1, map_fd(RB)\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\nmov %r4, 0\ncall 130\nexit\n",
	  true, NULL },
	{ "output past the stack",
	  "stdw [%r10-8], 5\nlddw %r1, map_fd(RB)\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 16\nmov %r4, 0\ncall 130\nexit\n",
	  false, "stack" },
	{ "query", "lddw %r1, map_fd(RB)\nmov %r2, 0\ncall 134\nexit\n", true, NULL },
	/* Queue/stack helpers (not references, the same table runner): Q is a
	 * queue of 8-byte values.  As Linux: push reads value_size initialized
	 * bytes, pop and peek write value_size bytes of (uninit) memory. */
	{ "queue push from the stack",
	  "stdw [%r10-8], 1\nlddw %r1, map_fd(Q)\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 0\ncall 87\nexit\n", true, NULL },
	{ "queue pop into uninitialized stack",
	  "lddw %r1, map_fd(Q)\nmov %r2, %r10\nadd %r2, -8\ncall 88\nldxdw %r0, [%r10-8]\nexit\n", true, NULL },
	{ "queue peek into uninitialized stack",
	  "lddw %r1, map_fd(Q)\nmov %r2, %r10\nadd %r2, -8\ncall 89\nexit\n", true, NULL },
	{ "queue pop into too little stack",
	  "lddw %r1, map_fd(Q)\nmov %r2, %r10\nadd %r2, -4\ncall 88\nexit\n", false, "stack" },
	{ "queue pop into a scalar", "lddw %r1, map_fd(Q)\nmov %r2, 0\ncall 88\nexit\n", false, "R2" },
	{ "queue lookup", "stdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_fd(Q)\ncall 1\n" RET0, false,
	  "cannot pass map_type 22 into func bpf_map_lookup_elem" },
	{ "push into a hash map",
	  "stdw [%r10-8], 1\nlddw %r1, map_fd(HASH)\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 0\ncall 87\nexit\n", false,
	  "cannot pass map_type 1 into func bpf_map_push_elem" },
	{ "ringbuf output into a queue",
	  "stdw [%r10-8], 5\nlddw %r1, map_fd(Q)\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\nmov %r4, 0\ncall 130\nexit\n",
	  false, "cannot pass map_type 22 into func bpf_ringbuf_output" },
};

static bpfvm_map *mk(bpfvm *vm, uint32_t type, uint32_t ks, uint32_t vs, uint32_t max)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = type, .key_size = ks, .value_size = vs,
	                            .max_entries = max, .spin_lock_off = -1, .name = "t" };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0, "map type %u", type);
	return m;
}

/* "mov %r9, %r1" then text with map_fd(RB/HASH/PA) replaced by handles. */
static void subst(char *out, size_t size, const char *text, int rb, int hash, int pa, int q)
{
	size_t o = (size_t)snprintf(out, size, "mov %%r9, %%r1\n");
	while (*text && o + 16 < size) {
		int fd = -1;
		size_t skip = 0;
		if (!strncmp(text, "map_fd(RB)", 10)) fd = rb, skip = 10;
		else if (!strncmp(text, "map_fd(HASH)", 12)) fd = hash, skip = 12;
		else if (!strncmp(text, "map_fd(PA)", 10)) fd = pa, skip = 10;
		else if (!strncmp(text, "map_fd(Q)", 9)) fd = q, skip = 9;
		if (fd >= 0) {
			o += (size_t)snprintf(out + o, size - o, "map_fd(%d)", fd);
			text += skip;
		} else {
			out[o++] = *text++;
		}
	}
	out[o] = '\0';
}

Test(verifier_refs, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_map *rb = mk(vm, BPFVM_MAP_RINGBUF, 0, 0, 4096);
		bpfvm_map *h = mk(vm, BPFVM_MAP_HASH, 8, 8, 4);
		bpfvm_map *pa = mk(vm, BPFVM_MAP_PROG_ARRAY, 4, 4, 4);
		bpfvm_map *q = mk(vm, BPFVM_MAP_QUEUE, 0, 8, 4);
		char full[4096], err[256], log[8192];
		subst(full, sizeof(full), c->text, bpfvm_map_fd(rb), bpfvm_map_fd(h), bpfvm_map_fd(pa), bpfvm_map_fd(q));
		struct bpf_insn *insns;
		size_t n;
		cr_assert_eq(vm_asm(full, strlen(full), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", c->name, err);
		struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log),
		                             .log_level = BPFVM_LOG_ERRORS, .mem_size = 16 };
		bpfvm_prog *prog = NULL;
		log[0] = 0;
		int rc = bpfvm_prog_load(vm, insns, n, &o, &prog);
		if (c->accept) {
			cr_expect_eq(rc, 0, "%s: expected accept, got %d: %s", c->name, rc, log);
		} else {
			cr_expect_neq(rc, 0, "%s: expected reject", c->name);
			cr_expect(strstr(log, c->msg) != NULL, "%s: log lacks '%s': %s", c->name, c->msg, log);
		}
		if (prog)
			bpfvm_prog_put(prog);
		free(insns);
		bpfvm_map_put(q);
		bpfvm_map_put(pa);
		bpfvm_map_put(h);
		bpfvm_map_put(rb);
		bpfvm_destroy(vm);
	}
}
