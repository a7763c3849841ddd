/*
 * A ring buffer declared and used as libbpf users do (test_ringbuf.c
 * consumes what it produces): a reserved record submitted, one discarded,
 * one written with bpf_ringbuf_output.
 */
#include "common.h"

struct event {
	__u64 seq;
	__u64 avail; /* bytes in the ring when the record was reserved */
	char tag[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u64 seq;

/* returns 0 when every step worked */
SEC("mem") int produce(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 1;
	e->seq = ++seq;
	e->avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__builtin_memcpy(e->tag, "reserve", 8);
	bpf_ringbuf_submit(e, 0);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 2;
	e->seq = 999;
	bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);

	struct event out = { .seq = ++seq, .avail = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) };
	__builtin_memcpy(out.tag, "output", 7);
	if (bpf_ringbuf_output(&events, &out, sizeof(out), 0))
		return 3;
	return 0;
}
