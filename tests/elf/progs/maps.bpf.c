/*
 * Maps and global data at run time (test_maps.c checks every result):
 * BTF array/hash, a hash value with a spin lock, array- and hash-of-maps
 * with initial inner maps, a prog array with initial programs, a legacy
 * map, and variables (global and static) in every global data section.
 */
#include "common.h"

struct lk { long a; struct bpf_spin_lock lock; long v; };
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } in1 SEC(".maps"), in2 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 3); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &in1, [2] = &in2 } };
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 8); __type(key, __u32); __array(values, struct inner); } houter SEC(".maps") = { .values = { [1] = &in2 } };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u64); __type(value, struct lk); } locked SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } arr SEC(".maps");

int tail_a(void *ctx);
int tail_b(void *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __array(values, int (void *)); } jmp SEC(".maps") = { .values = { [1] = (void *)&tail_a, [2] = (void *)&tail_b } };

struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") legacy = { .type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 8, .max_entries = 10 };

int g_data = 5;
static int s_data = 9;
int g_bss;
static volatile int s_bss;
const volatile int g_ro = 7;
static const volatile int s_ro = 11;
int named[4] SEC(".data.named") = { 1, 2, 3, 4 };
const volatile long named_ro[2] SEC(".rodata.named") = { 20, 30 };
struct bpf_spin_lock glock SEC(".data.lock");
long gcount SEC(".data.lock");

/* expect 5+9+7+11+3+30 = 65; afterwards .data holds g_data = 100, s_data = 10,
 * .bss g_bss = 1, s_bss = 2, .data.named[3] = 44, .data.lock gcount = 1 */
SEC("mem/globals") int globals(void *ctx)
{
	int r = g_data + s_data + g_ro + s_ro + named[2] + named_ro[1];
	g_data = 100;
	s_data++;
	g_bss++;
	s_bss += 2;
	named[3] = 44;
	bpf_spin_lock(&glock);
	gcount++;
	bpf_spin_unlock(&glock);
	return r;
}

/* expect 42 + 3 = 45: array update/lookup, hash with a spin-locked value */
SEC("mem/maps") int maps_prog(void *ctx)
{
	__u32 k = 1;
	__u64 v = 42, *p;
	bpf_map_update_elem(&arr, &k, &v, BPF_ANY);
	p = bpf_map_lookup_elem(&arr, &k);
	if (!p)
		return -1;
	__u64 hk = 7;
	struct lk init = { .a = 1, .v = 0 }, *l;
	bpf_map_update_elem(&locked, &hk, &init, BPF_NOEXIST);
	l = bpf_map_lookup_elem(&locked, &hk);
	if (!l)
		return -2;
	bpf_spin_lock(&l->lock);
	l->v += 3;
	bpf_spin_unlock(&l->lock);
	return *p + l->v;
}

/* The host stores 1234 in in2[0] first.  expect 1234 + 1234 + 0 (outer[1] empty) = 2468 */
SEC("mem/mim") int mim(void *ctx)
{
	__u32 k0 = 0, k1 = 1, k2 = 2;
	__u64 r = 0, *v;
	void *m = bpf_map_lookup_elem(&outer, &k2);
	if (m && (v = bpf_map_lookup_elem(m, &k0)))
		r += *v;
	m = bpf_map_lookup_elem(&houter, &k1);
	if (m && (v = bpf_map_lookup_elem(m, &k0)))
		r += *v;
	if (bpf_map_lookup_elem(&outer, &k1))
		r += 1000000;
	return r;
}

/* Input byte 0 picks the slot: 1 -> 77, 2 -> 88, other -> falls through to 1 */
SEC("mem/tail") int tail(unsigned char *data)
{
	bpf_tail_call(data, &jmp, data[0]);
	return 1;
}
SEC("mem/tail_a") int tail_a(void *ctx) { return 77; }
SEC("mem/tail_b") int tail_b(void *ctx) { return 88; }

/* expect 2 on the first run (1 stored, then incremented) */
SEC("mem/legacy") int legacy_prog(void *ctx)
{
	__u32 k = 3;
	__u64 one = 1, *v;
	bpf_map_update_elem(&legacy, &k, &one, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&legacy, &k);
	if (!v)
		return -1;
	*v += 1;
	return *v;
}

char LICENSE[] SEC("license") = "GPL";
