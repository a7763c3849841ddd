/*
 * Every helper bpfvm provides, called from C through bpf_helper_defs.h as a
 * libbpf user would.  Each step adds a bit to r0 when the helper behaved;
 * expect 0x3ff (test_maps.c).
 */
#include "common.h"

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } h SEC(".maps");

static long add_cb(__u32 i, void *ctx) { *(__u64 *)ctx += i; return 0; }
static long each_cb(void *map, __u32 *key, __u64 *val, void *ctx) { *(__u64 *)ctx += *val; return 0; }

SEC("mem") int helpers(void *ctx)
{
	__u64 r = 0, sum = 0, v = 5;
	__u32 k = 1;
	if (bpf_ktime_get_ns() > 0) r |= 1;
	if (bpf_ktime_get_boot_ns() > 0 && bpf_ktime_get_coarse_ns() > 0) r |= 2;
	bpf_get_prandom_u32();
	if (bpf_get_smp_processor_id() < 4096) r |= 4;
	if (bpf_jiffies64() > 0) r |= 8;
	if (bpf_printk("helpers test %d", 1) > 0) r |= 0x10;
	bpf_loop(4, add_cb, &sum, 0);
	if (sum == 6) r |= 0x20;
	if (bpf_strncmp("abc", 3, "abd") != 0 && bpf_strncmp("abc", 3, "abc") == 0) r |= 0x40;
	bpf_map_update_elem(&arr, &k, &v, BPF_ANY);
	bpf_map_update_elem(&h, &k, &v, BPF_ANY);
	__u64 *p = bpf_map_lookup_elem(&h, &k);
	if (p && *p == 5) r |= 0x80;
	sum = 0;
	bpf_for_each_map_elem(&arr, each_cb, &sum, 0);
	if (sum == 5) r |= 0x100;
	if (bpf_map_delete_elem(&h, &k) == 0 && !bpf_map_lookup_elem(&h, &k)) r |= 0x200;
	return r;
}

char LICENSE[] SEC("license") = "GPL";
