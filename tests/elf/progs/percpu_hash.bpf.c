/* Per-CPU hash counters, preallocated and not: each run adds 1 to key 7's
 * value on its CPU in both maps (the first run inserts it with
 * BPF_NOEXIST), then sums key 7's value over every CPU with
 * bpf_map_lookup_percpu_elem (NULL past the last CPU). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} hits_np SEC(".maps");

static __u64 count_in(void *map)
{
	__u32 k = 7;
	__u64 *v = bpf_map_lookup_elem(map, &k);
	if (v) {
		__sync_fetch_and_add(v, 1);
	} else {
		__u64 one = 1;
		/* Two runs may race to insert: the loser adds to the winner's. */
		if (bpf_map_update_elem(map, &k, &one, BPF_NOEXIST)) {
			v = bpf_map_lookup_elem(map, &k);
			if (!v)
				return -1;
			__sync_fetch_and_add(v, 1);
		}
	}
	__u64 sum = 0;
	for (__u32 cpu = 0; cpu < 4096; cpu++) {
		__u64 *c = bpf_map_lookup_percpu_elem(map, &k, cpu);
		if (!c)
			break;
		sum += *c;
	}
	return sum;
}

SEC("mem")
__u64 count(void *ctx)
{
	__u64 a = count_in(&hits), b = count_in(&hits_np);
	return a == b ? a : -2;
}

char LICENSE[] SEC("license") = "GPL";
