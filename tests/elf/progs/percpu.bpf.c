/* A per-CPU counter: each run adds 1 to its CPU's slot, then sums every
 * CPU's slot with bpf_map_lookup_percpu_elem (NULL past the last CPU). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("mem")
__u64 count(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &k);
	if (!v)
		return -1;
	__sync_fetch_and_add(v, 1);
	__u64 sum = 0;
	for (__u32 cpu = 0; cpu < 4096; cpu++) {
		__u64 *c = bpf_map_lookup_percpu_elem(&hits, &k, cpu);
		if (!c)
			break;
		sum += *c;
	}
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
