/* An LRU hash from clang: fill it, look some keys up (marking them), insert
 * past max_entries, and report which keys are left.  r0: bits 0-7 for keys
 * 0-7 present, bits 8-11 for keys 100-103, bit 16 set if any insert failed
 * (a full LRU evicts, it never returns -E2BIG). */
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

char LICENSE[] SEC("license") = "GPL";
