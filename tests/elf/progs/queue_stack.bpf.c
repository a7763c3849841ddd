/*
 * A queue and a stack declared as libbpf users do (no key; test_ringbuf.c
 * checks the results): the program pushes 1..5 into each (the last push
 * with BPF_EXIST overwriting the oldest), then pops one from each.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u64);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__uint(value_size, 8);
} lifo SEC(".maps");

/* returns popped(fifo) * 100 + popped(lifo) * 10 + peeked(lifo) */
SEC("mem") int qs(void *ctx)
{
	__u64 v, a = 0, b = 0, c = 0;
	for (v = 1; v <= 5; v++) {
		__u64 flags = v == 5 ? BPF_EXIST : BPF_ANY;
		if (bpf_map_push_elem(&fifo, &v, flags) || bpf_map_push_elem(&lifo, &v, flags))
			return 1000 + v;
	}
	if (bpf_map_pop_elem(&fifo, &a) || bpf_map_pop_elem(&lifo, &b) || bpf_map_peek_elem(&lifo, &c))
		return 2000;
	return a * 100 + b * 10 + c;
}
