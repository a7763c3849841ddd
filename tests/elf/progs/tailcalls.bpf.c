/*
 * A tail-call graph for `bpfvm verify --tail-calls` (tests/cli): prog
 * arrays whose initial slots form a chain entry -> stage1 -> stage2 -> ping,
 * a cycle ping <-> pong, and a program (again) tail-calling itself.  entry
 * and stage1 tail-call from subprograms, so their callers' frames stay on
 * the stack below the next program: the deepest stack is entry's frame +
 * stage1's frame (96) + pong's 128 bytes = 288.  Run from entry, the 33rd
 * tail call enters ping, whose own then falls through: ping returns 4 into
 * stage1's frame (4 + 4), which returns into entry's (8 + 2): r0 = 10.
 */
#include "common.h"

/* The buffer's address escapes, so clang keeps all of it on the stack. */
#define USE_STACK(buf) asm volatile("" : : "r"(buf) : "memory")

int stage1(void *ctx);
int stage2(void *ctx);
int ping(void *ctx);
int pong(void *ctx);
int again(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, int (void *));
} jmp SEC(".maps") = { .values = { [1] = (void *)&stage1, [2] = (void *)&stage2, [3] = (void *)&ping,
                                   [4] = (void *)&pong } };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int (void *));
} self SEC(".maps") = { .values = { [0] = (void *)&again } };

/* A tail call from a subprogram: the caller's frame stays below, and the
 * target's r0 comes back to it.  (The fall-through value depends on slot
 * so clang can't fold hop's result into its callers.) */
static __attribute__((noinline)) int hop(void *ctx, __u32 slot)
{
	bpf_tail_call(ctx, &jmp, slot);
	return slot + 40;
}

SEC("mem/entry") int entry(void *ctx)
{
	volatile __u64 buf[8]; /* 64 bytes of stack */
	buf[0] = 1;
	buf[7] = 1;
	USE_STACK(buf);
	return hop(ctx, 1) + buf[0] + buf[7];
}

SEC("mem/stage1") int stage1(void *ctx)
{
	volatile __u64 buf[12]; /* 96 bytes */
	buf[0] = 2;
	buf[11] = 2;
	USE_STACK(buf);
	return hop(ctx, 2) + buf[0] + buf[11];
}

SEC("mem/stage2") int stage2(void *ctx)
{
	bpf_tail_call(ctx, &jmp, 3);
	return 3;
}

SEC("mem/ping") int ping(void *ctx)
{
	bpf_tail_call(ctx, &jmp, 4);
	return 4;
}

SEC("mem/pong") int pong(void *ctx)
{
	volatile __u64 buf[16]; /* 128 bytes */
	buf[0] = 5;
	buf[15] = 5;
	USE_STACK(buf);
	bpf_tail_call(ctx, &jmp, 3);
	return buf[0] + buf[15];
}

SEC("mem/again") int again(void *ctx)
{
	bpf_tail_call(ctx, &self, 0);
	return 6;
}

char LICENSE[] SEC("license") = "GPL";
