/* LRU hashes from clang.  churn: fill one, look some keys up (marking
 * them), insert past max_entries, and report which keys are left.  r0:
 * bits 0-7 for keys 0-7 present, bits 8-11 for keys 100-103, bit 16 set if
 * any insert failed (a full LRU evicts, it never returns -E2BIG).
 * count: a per-CPU counter in an LRU per-CPU hash with per-CPU LRU lists
 * (BPF_F_NO_COMMON_LRU); returns the sum over CPUs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct conn {
	__u64 key;
	__u64 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

static __u64 present(__u64 k)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	return c && c->key == k;
}

SEC("mem")
__u64 churn(void *ctx)
{
	__u64 failed = 0, r = 0;
	for (__u64 k = 0; k < 8; k++) {
		struct conn c = { .key = k };
		failed |= bpf_map_update_elem(&conns, &k, &c, BPF_NOEXIST) != 0;
	}
	/* Keys 0, 2 and 4 are in use. */
	for (__u64 k = 0; k < 6; k += 2) {
		struct conn *c = bpf_map_lookup_elem(&conns, &k);
		if (c)
			c->hits++;
	}
	for (__u64 k = 100; k < 104; k++) {
		struct conn c = { .key = k };
		failed |= bpf_map_update_elem(&conns, &k, &c, BPF_NOEXIST) != 0;
	}
	for (__u64 k = 0; k < 8; k++)
		r |= present(k) << k;
	for (__u64 k = 100; k < 104; k++)
		r |= present(k) << (k - 92);
	return r | failed << 16;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("mem")
__u64 count(void *ctx)
{
	__u32 k = 1;
	__u64 one = 1, *v = bpf_map_lookup_elem(&counters, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else if (bpf_map_update_elem(&counters, &k, &one, BPF_NOEXIST))
		return -1;
	__u64 sum = 0;
	for (__u32 cpu = 0; cpu < 4096; cpu++) {
		__u64 *c = bpf_map_lookup_percpu_elem(&counters, &k, cpu);
		if (!c)
			break;
		sum += *c;
	}
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
