/*
 * An object whose initial prog-array slot can't be filled: the "mem"
 * program tail-calling through jmp makes it an array of "mem" programs (as
 * Linux's owner rule), so the XDP program in its slot 0 is refused at load
 * with a message naming both (tests/cli/test_tail_graph.c).
 */
#include "common.h"

int xdp_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jmp SEC(".maps") = { .values = { [0] = (void *)&xdp_target } };

SEC("mem/caller") int caller(void *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return 1;
}

SEC("xdp") int xdp_target(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
