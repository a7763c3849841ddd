/*
 * The verifier, data-driven: each case is a program in assembly (with
 * "%d" standing for the case's map handle), the verdict, and a substring
 * the log must contain.  Loaded through the public API, so the loader,
 * resolver and verifier run as they do for users.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"

enum { NOMAP, HASH8, ARRAY48, LOCKED, PROGS, INMAP, RODATA };

struct vcase {
	const char *name;
	int map;
	const char *text;
	bool accept;
	const char *msg; /* rejection: substring of the log */
	const char *type;
};

#define LOOKUP(map) \
	"stdw [%%r10-8], 0\n mov %%r2, %%r10\n add %%r2, -8\n lddw %%r1, map_fd(%d)\n call 1\n"

static const struct vcase cases[] = {
	{ "exit with r0", NOMAP, "mov %r0, 0\nexit\n", true, NULL, NULL },
	{ "r0 never written", NOMAP, "exit\n", false, "R0 !read_ok", NULL },
	{ "uninit register read", NOMAP, "mov %r0, %r3\nexit\n", false, "R3 !read_ok", NULL },
	{ "write to r10", NOMAP, "mov %r10, 0\nmov %r0, 0\nexit\n", false, "r10", NULL },
	{ "unreachable insn", NOMAP, "mov %r0, 0\nexit\nmov %r0, 1\nexit\n", false, "unreachable insn 2", NULL },
	{ "falls off the end", NOMAP, "mov %r0, 0\n", false, "", NULL },
	{ "stack spill and fill keeps pointer", NOMAP,
	  "stxdw [%r10-8], %r10\nldxdw %r1, [%r10-8]\nstdw [%r1-16], 7\nldxdw %r0, [%r10-16]\nexit\n", true, NULL, NULL },
	{ "stack write above fp", NOMAP, "stdw [%r10+0], 0\nmov %r0, 0\nexit\n", false, "invalid write to stack", NULL },
	{ "stack below 512", NOMAP, "stdw [%r10-520], 0\nmov %r0, 0\nexit\n", false, "stack", NULL },
	{ "misaligned stack access", NOMAP, "stdw [%r10-12], 0\nmov %r0, 0\nexit\n", false, "misaligned stack access", NULL },
	{ "subtraction from fp", NOMAP, "mov %r1, %r10\nsub %r1, 8\nstdw [%r1+0], 0\nmov %r0, 0\nexit\n", false,
	  "subtraction from stack pointer", NULL },
	{ "scalar deref", NOMAP, "mov %r1, 42\nldxdw %r0, [%r1+0]\nexit\n", false, "invalid mem access 'scalar'", NULL },
	{ "division by zero constant", NOMAP, "mov %r0, 1\ndiv %r0, 0\nexit\n", false, "division by zero", NULL },
	{ "division by register is fine", NOMAP, "mov %r0, 1\nmov %r1, 0\ndiv %r0, %r1\nexit\n", true, NULL, NULL },
	{ "32-bit pointer arithmetic", NOMAP, "mov %r1, %r10\nadd32 %r1, 8\nmov %r0, 0\nexit\n", false,
	  "32-bit pointer arithmetic", NULL },
	{ "bounded loop", NOMAP, "mov %r0, 0\nmov %r1, 0\nadd %r1, 1\nadd %r0, 2\njlt %r1, 10, -3\nexit\n", true, NULL, NULL },
	{ "infinite loop", NOMAP, "mov %r0, 0\njeq %r0, 0, -1\nexit\n", false, "infinite loop detected", NULL },
	{ "unbounded loop hits the limit or repeats", NOMAP, "mov %r0, 0\nadd %r0, 1\nja -2\nexit\n", false, "", NULL },
	{ "lookup and use without null check", HASH8, LOOKUP() "ldxdw %%r0, [%%r0+0]\nexit\n", false,
	  "map_value_or_null", NULL },
	{ "lookup with null check", HASH8, LOOKUP() "jeq %%r0, 0, +1\nldxdw %%r0, [%%r0+0]\nexit\n", true, NULL, NULL },
	{ "null check propagates to copies", HASH8,
	  LOOKUP() "mov %%r6, %%r0\njeq %%r0, 0, +2\nldxdw %%r0, [%%r6+0]\nexit\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "value out of bounds", HASH8, LOOKUP() "jeq %%r0, 0, +1\nldxdw %%r0, [%%r0+4]\nexit\n", false,
	  "invalid access to map value", NULL },
	{ "variable index checked", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +5\ncall 7\nand %%r0, 7\nmov %%r1, %%r0\nmov %%r0, 0\nexit\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "variable index bounded", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +6\nmov %%r6, %%r0\ncall 7\nand %%r0, 31\nadd %%r6, %%r0\nldxdw %%r0, [%%r6+0]\nexit\nmov %%r0, 0\nexit\n",
	  true, NULL, NULL },
	{ "variable index too large", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +6\nmov %%r6, %%r0\ncall 7\nand %%r0, 63\nadd %%r6, %%r0\nldxdw %%r0, [%%r6+0]\nexit\nmov %%r0, 0\nexit\n",
	  false, "max value is outside", NULL },
	{ "variable index unchecked", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +5\nmov %%r6, %%r0\ncall 7\nadd %%r6, %%r0\nldxdw %%r0, [%%r6+0]\nexit\nmov %%r0, 0\nexit\n",
	  false, "unbounded min value", NULL },
	{ "key not initialized is read as unknown (privileged Linux)", HASH8,
	  "mov %%r2, %%r10\nadd %%r2, -8\nlddw %%r1, map_fd(%d)\ncall 1\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "key pointer out of the stack", HASH8,
	  "mov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, map_fd(%d)\ncall 1\nmov %%r0, 0\nexit\n", false, "stack", NULL },
	{ "scalar as map", HASH8, "mov %%r1, 1\nmov %%r2, %%r10\nadd %%r2, -8\nstdw [%%r10-8], 0\ncall 1\nmov %%r0, 0\nexit\n",
	  false, "expected=map_ptr", NULL },
	{ "r1-r5 clobbered by calls", NOMAP, "mov %r1, 1\ncall 7\nmov %r0, %r1\nexit\n", false, "R1 !read_ok", NULL },
	{ "unknown helper", NOMAP, "call 9999\nmov %r0, 0\nexit\n", false, "", NULL },
	{ "spin lock paired", LOCKED,
	  LOOKUP() "jeq %%r0, 0, +5\nmov %%r6, %%r0\nmov %%r1, %%r0\ncall 93\nmov %%r1, %%r6\ncall 94\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "spin lock not released", LOCKED,
	  LOOKUP() "jeq %%r0, 0, +2\nmov %%r1, %%r0\ncall 93\nmov %%r0, 0\nexit\n", false, "bpf_spin_unlock is missing", NULL },
	{ "spin lock through two lookups", LOCKED,
	  LOOKUP() "jeq %%r0, 0, +11\nmov %%r6, %%r0\n" LOOKUP() "jeq %%r0, 0, +5\nmov %%r7, %%r0\nmov %%r1, %%r6\ncall 93\nmov %%r1, %%r7\ncall 94\nmov %%r0, 0\nexit\n",
	  false, "different lock", NULL },
	{ "call while locked", LOCKED,
	  LOOKUP() "jeq %%r0, 0, +6\nmov %%r6, %%r0\nmov %%r1, %%r0\ncall 93\ncall 7\nmov %%r1, %%r6\ncall 94\nmov %%r0, 0\nexit\n",
	  false, "while holding a lock", NULL },
	{ "direct access to the lock word", LOCKED, LOOKUP() "jeq %%r0, 0, +1\nldxw %%r0, [%%r0+0]\nmov %%r0, 0\nexit\n",
	  false, "bpf_spin_lock cannot be accessed directly", NULL },
	{ "bpf-to-bpf call", NOMAP, "mov %r1, 5\ncall local +1\nexit\nmov %r0, %r1\nexit\n", true, NULL, NULL },
	{ "recursion", NOMAP, "call local -1\nmov %r0, 0\nexit\n", false, "", NULL },
	{ "return stack pointer", NOMAP, "call local +2\nmov %r0, 0\nexit\nmov %r0, %r10\nexit\n", false,
	  "cannot return stack pointer", NULL },
	{ "combined stack too large", NOMAP,
	  "stdw [%r10-512], 0\ncall local +2\nmov %r0, 0\nexit\nstdw [%r10-512], 0\nmov %r0, 0\nexit\n", false,
	  "combined stack size", NULL },
	{ "tail call", PROGS, "mov %%r3, 0\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "prog array in lookup", PROGS, LOOKUP() "mov %%r0, 0\nexit\n", false, "cannot pass map_type 3", NULL },
	{ "map-in-map lookup typed from template", INMAP,
	  LOOKUP() "jeq %%r0, 0, +6\nmov %%r1, %%r0\nmov %%r2, %%r10\nadd %%r2, -8\ncall 1\njeq %%r0, 0, +1\nldxw %%r0, [%%r0+0]\nmov %%r0, 0\nexit\n",
	  true, NULL, NULL },
	{ "map-in-map inner without null check", INMAP,
	  LOOKUP() "mov %%r1, %%r0\nmov %%r2, %%r10\nadd %%r2, -8\ncall 1\nmov %%r0, 0\nexit\n", false, "expected=map_ptr", NULL },
	{ "xdp packet access checked", NOMAP,
	  "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2+13]\nexit\nmov %r0, 1\nexit\n",
	  true, NULL, "xdp" },
	{ "xdp packet access unchecked", NOMAP, "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit\n", false,
	  "invalid access to packet", "xdp" },
	{ "xdp packet access past the check", NOMAP,
	  "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2+14]\nexit\nmov %r0, 1\nexit\n",
	  false, "invalid access to packet", "xdp" },
	/* "mem" programs: r1 + r2 is the end of the input, as XDP's data_end.
	 * The table loads with mem_size 16, so reads at 16 and above need a
	 * check against the end. */
	{ "mem read within a checked range", NOMAP,
	  "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\nexit\n"
	  "mov %r0, 0\nexit\n", true, NULL, NULL },
	{ "mem end as r2 + r1", NOMAP,
	  "mov %r3, %r2\nadd %r3, %r1\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\nexit\n"
	  "mov %r0, 0\nexit\n", true, NULL, NULL },
	{ "mem read past the check", NOMAP,
	  "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\nldxdw %r0, [%r1+20]\nexit\n"
	  "mov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	{ "mem read past mem_size unchecked", NOMAP, "ldxdw %r0, [%r1+16]\nexit\n", false, "invalid access to packet",
	  NULL },
	{ "mem read in the mem_size prefix unchecked", NOMAP, "ldxdw %r0, [%r1+8]\nexit\n", true, NULL, NULL },
	{ "mem end from a modified r2", NOMAP,
	  "add %r2, 1\nmov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\n"
	  "exit\nmov %r0, 0\nexit\n", false, NULL, NULL },
	{ "mem end from r2 after a no-op alu", NOMAP,
	  "and %r2, -1\njgt %r2, 4096, +7\nmov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\n"
	  "ldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	{ "mem end from a 32-bit copy of r2", NOMAP,
	  "mov32 %r5, %r2\nmov %r3, %r1\nadd %r3, %r5\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\n"
	  "exit\nmov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	{ "mem end from a pointer with an offset", NOMAP,
	  "jgt %r2, 4096, +8\nmov %r3, %r1\nadd %r3, 8\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\n"
	  "ldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	{ "mem end from a pointer moved back to the start", NOMAP,
	  "mov %r3, %r1\nadd %r3, 8\nadd %r3, -8\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njgt %r4, %r3, +2\n"
	  "ldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", true, NULL, NULL },
	{ "mem length mark survives a spill and fill", NOMAP,
	  "stxdw [%r10-8], %r2\nmov %r2, 0\nldxdw %r5, [%r10-8]\nmov %r3, %r1\nadd %r3, %r5\nmov %r4, %r1\nadd %r4, 24\n"
	  "jgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", true, NULL, NULL },
	{ "mem length mark lost by a partial fill", NOMAP,
	  "stxdw [%r10-8], %r2\nldxw %r5, [%r10-8]\nmov %r3, %r1\nadd %r3, %r5\nmov %r4, %r1\nadd %r4, 24\n"
	  "jgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	{ "mem compare end < pkt", NOMAP,
	  "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njlt %r3, %r4, +2\nldxdw %r0, [%r1+16]\nexit\n"
	  "mov %r0, 0\nexit\n", true, NULL, NULL },
	{ "mem compare pkt <= end", NOMAP,
	  "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njle %r4, %r3, +2\nmov %r0, 0\nexit\n"
	  "ldxdw %r0, [%r1+16]\nexit\n", true, NULL, NULL },
	{ "mem compare end >= pkt, read on the wrong side", NOMAP,
	  "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 24\njge %r3, %r4, +2\nldxdw %r0, [%r1+16]\nexit\n"
	  "mov %r0, 0\nexit\n", false, "invalid access to packet", NULL },
	/* The marked path reaches the join (insn 9) first; the unmarked one
	 * must not be pruned against it. */
	{ "mem length mark is part of state pruning", NOMAP,
	  "mov %r5, %r2\nldxb %r6, [%r1+0]\njne %r6, 0, +4\nmov %r6, 0\njeq %r6, 0, +4\nmov %r0, 0\nexit\n"
	  "add %r5, 0\nmov %r7, %r5\nmov %r6, 0\nmov %r3, %r1\nadd %r3, %r5\nmov %r4, %r1\nadd %r4, 24\n"
	  "jgt %r4, %r3, +2\nldxdw %r0, [%r1+16]\nexit\nmov %r0, 0\nexit\n", false, NULL, NULL },
	/* regressions found against the Linux corpus */
	{ "atomic fetch returns the spilled constant", NOMAP,
	  "mov %r0, 0\nstxdw [%r10-8], %r0\nmov %r1, 1\nlock fetch add [%r10-8], %r1\njne %r1, 0, -1\nexit\n", true, NULL, NULL },
	{ "void subprogram", NOMAP, "call local +2\nmov %r0, 0\nexit\nmov %r1, 1\nexit\n", true, NULL, NULL },
	{ "unaligned atomic", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +2\nmov %%r1, 1\nlock add32 [%%r0+3], %%r1\nmov %%r0, 0\nexit\n", false, "misaligned", NULL },
	{ "ctx is not known non-NULL", NOMAP,
	  "jeq %r1, 0, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\n", true, NULL, "xdp" },
	{ "callee stack pointer left in the caller's stack dies at return", NOMAP,
	  "mov %r1, %r10\nadd %r1, -8\ncall local +3\nldxdw %r2, [%r10-8]\nldxdw %r0, [%r2+0]\nexit\n"
	  "stdw [%r10-8], 0\nmov %r3, %r10\nadd %r3, -8\nstxdw [%r1+0], %r3\nmov %r0, 0\nexit\n", false,
	  "invalid mem access 'scalar'", NULL },
	{ "loop through a subprogram that is also a callback", NOMAP,
	  "lddw %r2, func(+7)\nmov %r1, 1\nmov %r3, 0\nmov %r4, 0\ncall 181\ncall local +1\nja -2\nmov %r0, 0\nexit\n",
	  false, "infinite loop detected", NULL },
	{ "bpf_loop callback", NOMAP,
	  "mov %r1, 10\nlddw %r2, func(+6)\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\nmov %r0, 0\nexit\n", true, NULL, NULL },
	/* regressions found by verifier_maps_fuzz */
	{ "map_update_elem on a map read-only to programs", RODATA,
	  "stw [%%r10-4], 0\nmov %%r2, %%r10\nadd %%r2, -4\nstdw [%%r10-16], 1\nmov %%r3, %%r10\nadd %%r3, -16\n"
	  "mov %%r4, 0\nlddw %%r1, map_fd(%d)\ncall 2\nmov %%r0, 0\nexit\n", false, "write into map forbidden", NULL },
	{ "map_delete_elem on a map read-only to programs", RODATA,
	  "stw [%%r10-4], 0\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, map_fd(%d)\ncall 3\nmov %%r0, 0\nexit\n",
	  false, "write into map forbidden", NULL },
	{ "map_lookup_elem on a map read-only to programs", RODATA,
	  "stw [%%r10-4], 0\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, map_fd(%d)\ncall 1\nmov %%r0, 0\nexit\n",
	  true, NULL, NULL },
	/* bpf_tail_call returns nothing (as Linux's RET_VOID): after a tail
	 * call that falls through r0 holds no value the verifier knows. */
	{ "r0 after a tail call that falls through", PROGS,
	  "lddw %%r2, map_fd(%d)\nmov %%r3, 3\ncall 12\nexit\n", false, "R0 !read_ok", NULL },
	{ "part of a pointer spilled", NOMAP, "stxw [%r10-8], %r10\nmov %r0, 0\nexit\n", false,
	  "invalid size of register spill", NULL },
	{ "a whole pointer spilled", NOMAP, "stxdw [%r10-8], %r10\nmov %r0, 0\nexit\n", true, NULL, NULL },
	{ "sign-extending load of xdp_md data", NOMAP, "ldxsw %r2, [%r1+0]\nmov %r0, 0\nexit\n", false,
	  "invalid bpf_context access", "xdp" },
	{ "load of xdp_md data", NOMAP, "ldxw %r2, [%r1+0]\nmov %r0, 0\nexit\n", true, NULL, "xdp" },
	{ "r0 set after a tail call", PROGS,
	  "lddw %%r2, map_fd(%d)\nmov %%r3, 3\ncall 12\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	/* bpf_strtoul's result pointer (ARG_PTR_TO_LONG): may be uninitialized, must be 8 aligned bytes. */
#define STRTOUL(res) "stdw [%r10-16], 0x3231\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 2\nmov %r3, 0\n" res "call 106\n"
	{ "strtoul into uninitialized stack", NOMAP,
	  STRTOUL("mov %r4, %r10\nadd %r4, -8\n") "ldxdw %r0, [%r10-8]\nexit\n", true, NULL, NULL },
	{ "strtoul result misaligned", NOMAP, STRTOUL("mov %r4, %r10\nadd %r4, -12\n") "mov %r0, 0\nexit\n", false,
	  "misaligned stack access", NULL },
	{ "strtoul result past the frame", NOMAP, STRTOUL("mov %r4, %r10\nadd %r4, -4\n") "mov %r0, 0\nexit\n", false,
	  "invalid indirect access to stack R4 off=-4 size=8", NULL },
	{ "strtoul result to a scalar", NOMAP, STRTOUL("mov %r4, 64\n") "mov %r0, 0\nexit\n", false,
	  "R4 type=scalar expected=fp", NULL },
	{ "strtoul result in a map value", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +8\nmov %%r4, %%r0\nadd %%r4, 40\nmov %%r1, %%r10\nadd %%r1, -8\nmov %%r2, 1\n"
	  "mov %%r3, 10\ncall 105\nmov %%r0, 0\nexit\n", true, NULL, NULL },
	{ "strtoul result misaligned in a map value", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +8\nmov %%r4, %%r0\nadd %%r4, 36\nmov %%r1, %%r10\nadd %%r1, -8\nmov %%r2, 1\n"
	  "mov %%r3, 10\ncall 105\nmov %%r0, 0\nexit\n", false, "must be 8-byte aligned", NULL },
	{ "strtoul result past the map value", ARRAY48,
	  LOOKUP() "jeq %%r0, 0, +8\nmov %%r4, %%r0\nadd %%r4, 44\nmov %%r1, %%r10\nadd %%r1, -8\nmov %%r2, 1\n"
	  "mov %%r3, 10\ncall 105\nmov %%r0, 0\nexit\n", false, "invalid access to map value", NULL },
	{ "packet length as data_end - data", NOMAP,
	  "ldxw %r2, [%r1+4]\nldxw %r3, [%r1+0]\nsub %r2, %r3\nmov %r0, %r2\nexit\n", true, NULL, "xdp" },
	{ "stack minus packet leaks the layout", NOMAP,
	  "ldxw %r3, [%r1+0]\nmov %r2, %r10\nsub %r2, %r3\nmov %r0, 0\nexit\n", false, "pointer -= pointer", "xdp" },
	{ "a 32-bit copy refines with its source", NOMAP,
	  "call 7\nand %r0, 255\nmov32 %r7, %r0\njne %r0, 1, +4\nmov %r1, %r10\nadd %r1, -9\nadd %r1, %r7\n"
	  "stdw [%r1+0], 0\nmov %r0, 0\nexit\n", true, NULL, NULL },
	{ "a 32-bit copy of a 64-bit value is another value", NOMAP,
	  "call 7\nlsh %r0, 8\nmov32 %r7, %r0\njne %r0, 256, +4\nmov %r1, %r10\nadd %r1, -264\nadd %r1, %r7\n"
	  "stdw [%r1+0], 0\nmov %r0, 0\nexit\n", false, "stack", NULL },
	{ "bpf_loop callback bad return", NOMAP,
	  "mov %r1, 10\nlddw %r2, func(+6)\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\nmov %r0, 7\nexit\n", false,
	  "callback return", NULL },
};

static int make_map(bpfvm *vm, int kind, bpfvm_map **out)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .spin_lock_off = -1, .name = "t", .max_entries = 4 };
	bpfvm_map *inner = NULL;
	int err;
	switch (kind) {
	case HASH8: a.type = BPFVM_MAP_HASH; a.key_size = 8; a.value_size = 8; break;
	case ARRAY48: a.type = BPFVM_MAP_ARRAY; a.key_size = 4; a.value_size = 48; break;
	case LOCKED: a.type = BPFVM_MAP_ARRAY; a.key_size = 4; a.value_size = 8; a.spin_lock_off = 0; break;
	case PROGS: a.type = BPFVM_MAP_PROG_ARRAY; a.key_size = 4; a.value_size = 4; break;
	case RODATA: a.type = BPFVM_MAP_ARRAY; a.key_size = 4; a.value_size = 8; a.max_entries = 1;
		a.map_flags = BPFVM_F_RDONLY_PROG; break;
	case INMAP: {
		struct bpfvm_map_attr ia = { .sz = sizeof(ia), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 4,
		                             .max_entries = 1, .spin_lock_off = -1, .name = "inner" };
		if ((err = bpfvm_map_create(vm, &ia, &inner)))
			return err;
		a.type = BPFVM_MAP_ARRAY_OF_MAPS; a.key_size = 4; a.value_size = 4; a.inner_template = inner;
		break;
	}
	default: return -EINVAL;
	}
	err = bpfvm_map_create(vm, &a, out);
	if (inner)
		bpfvm_map_put(inner);
	return err;
}

Test(verifier, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *c = &cases[i];
		bpfvm *vm;
		bpfvm_map *map = NULL;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		if (c->map)
			cr_assert_eq(make_map(vm, c->map, &map), 0, "%s: map", c->name);
		char text[4096], err[256], log[8192];
		if (c->map)
			snprintf(text, sizeof(text), c->text, bpfvm_map_fd(map), bpfvm_map_fd(map), bpfvm_map_fd(map));
		else
			snprintf(text, sizeof(text), "%s", c->text);
		struct bpf_insn *insns;
		size_t n;
		cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", c->name, err);
		struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = c->type, .log_buf = log, .log_size = sizeof(log),
		                             .log_level = BPFVM_LOG_ERRORS, .mem_size = 16 };
		bpfvm_prog *prog = NULL;
		log[0] = 0;
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
		if (map)
			bpfvm_map_put(map);
		free(insns);
		bpfvm_destroy(vm);
	}
}

/* A verified program with a null-checked lookup also runs. */
Test(verifier, stats_filled)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	const char *t = "mov %r0, 0\nmov %r1, 0\nadd %r1, 1\nadd %r0, 2\njlt %r1, 10, -3\nexit\n";
	struct bpf_insn *insns;
	size_t n;
	char err[128];
	cr_assert_eq(vm_asm(t, strlen(t), &insns, &n, err, sizeof(err)), 0);
	bpfvm_prog *prog;
	struct bpfvm_prog_opts o = { .sz = sizeof(o) };
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &o, &prog), 0);
	struct bpfvm_verify_stats st = { .sz = sizeof(st) };
	cr_assert_eq(bpfvm_prog_verify_stats(prog, &st), 0);
	cr_expect(st.insns_processed >= 30, "processed %llu", (unsigned long long)st.insns_processed);
	uint64_t r0;
	cr_assert_eq(bpfvm_prog_run(prog, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 20);
	bpfvm_prog_put(prog);
	free(insns);
	bpfvm_destroy(vm);
}

/* A verified "mem" program builds the input's end from r2, so a tail call
 * into one must enter it with r2 = the input length (not the prog array
 * the caller passed in r2), on every engine. */
static bpfvm_prog *load_text(bpfvm *vm, const char *text, uint32_t engine)
{
	struct bpf_insn *insns;
	size_t n;
	char err[256], log[4096];
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "asm: %s", err);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .engine = engine, .log_buf = log, .log_size = sizeof(log),
	                             .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	log[0] = 0;
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &o, &p), 0, "load: %s", log);
	free(insns);
	return p;
}

Test(verifier, mem_tail_call_target_gets_length)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		bpfvm_map *pa;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		cr_assert_eq(make_map(vm, PROGS, &pa), 0);
		/* the target returns r2, and reads the third byte only when present */
		bpfvm_prog *t = load_text(vm, "mov %r3, %r1\nadd %r3, %r2\nmov %r4, %r1\nadd %r4, 3\njgt %r4, %r3, +3\n"
		                              "ldxb %r0, [%r1+2]\nadd %r0, 1000\nexit\nmov %r0, %r2\nexit\n", engine);
		char text[256];
		snprintf(text, sizeof(text), "lddw %%r2, map_fd(%d)\nmov %%r3, 0\ncall 12\nmov %%r0, 7\nexit\n",
		         bpfvm_map_fd(pa));
		bpfvm_prog *e = load_text(vm, text, engine);
		uint32_t key = 0;
		int tfd = bpfvm_prog_fd(t);
		cr_assert_eq(bpfvm_map_update(pa, &key, &tfd, BPFVM_ANY), 0);
		uint64_t r0 = 0;
		cr_expect_eq(bpfvm_prog_run(e, "ab", 2, &r0), 0);
		cr_expect_eq(r0, 2, "engine %u: target saw r2 = %llu", engine, (unsigned long long)r0);
		cr_expect_eq(bpfvm_prog_run(e, "abc", 3, &r0), 0);
		cr_expect_eq(r0, 1000 + 'c', "engine %u: r0 = %llu", engine, (unsigned long long)r0);
		bpfvm_prog_put(t);
		bpfvm_prog_put(e);
		bpfvm_map_put(pa);
		bpfvm_destroy(vm);
	}
}

/* Found by verifier_maps_fuzz against Linux: as Linux, ANY_ALIGNMENT
 * relaxes map value and packet accesses but never stack ones (spill
 * tracking works on whole 8-byte slots). */
Test(verifier, any_alignment_keeps_stack_aligned)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 16,
	                            .max_entries = 1, .spin_lock_off = -1 };
	bpfvm_map *map;
	cr_assert_eq(bpfvm_map_create(vm, &a, &map), 0);
	const struct bpf_insn stack[] = {
		{ .code = 0x7a, .dst_reg = 10, .off = -12 },  /* *(u64 *)(r10 - 12) = 0 */
		{ .code = 0xb7 },                              /* r0 = 0 */
		{ .code = 0x95 },
	};
	const struct bpf_insn value[] = {
		{ .code = 0x18, .dst_reg = 1, .src_reg = 2, .imm = bpfvm_map_fd(map) }, /* r1 = &value + 3 */
		{ .imm = 3 },
		{ .code = 0x7a, .dst_reg = 1, .off = 0 },      /* *(u64 *)(r1 + 0) = 0 */
		{ .code = 0xb7 },
		{ .code = 0x95 },
	};
	char log[4096] = "";
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log),
	                             .log_level = BPFVM_LOG_ERRORS, .flags = BPFVM_PROG_ANY_ALIGNMENT };
	bpfvm_prog *prog = NULL;
	cr_expect_neq(bpfvm_prog_load(vm, stack, 3, &o, &prog), 0);
	cr_expect(strstr(log, "misaligned stack access") != NULL, "%s", log);
	cr_expect_eq(bpfvm_prog_load(vm, value, 5, &o, &prog), 0, "%s", log);
	if (prog)
		bpfvm_prog_put(prog);
	bpfvm_map_put(map);
	bpfvm_destroy(vm);
}
