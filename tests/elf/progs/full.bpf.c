/* Every kind of map definition and global data, for the parse tests. */
#include "common.h"

struct lk { long a; struct bpf_spin_lock lock; long v; };
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } in1 SEC(".maps"), in2 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 3); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &in1, [2] = &in2 } };
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 8); __type(key, __u32); __array(values, struct inner); } houter SEC(".maps") = { .values = { [1] = &in2 } };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u64); __type(value, struct lk); __uint(map_flags, BPF_F_NO_PREALLOC); } locked SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __uint(key_size, 4); __uint(value_size, 8); } pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 2); __type(key, __u32); __type(value, __u32); __uint(pinning, LIBBPF_PIN_BY_NAME); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 8); __type(value, __u32); } q SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");

int tail_a(void *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __array(values, int (void *)); } jmp SEC(".maps") = { .values = { [1] = (void *)&tail_a } };

struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") legacy = { .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 10 };

int g_data = 5;
static int s_data = 9;
int g_bss;
static int s_bss;
const volatile int g_ro = 7;
static const volatile int s_ro = 11;
int arr[4] SEC(".data.named") = { 1, 2, 3, 4 };
const volatile long named_ro[2] SEC(".rodata.named") = { 20, 30 };
struct bpf_spin_lock glock SEC(".data.lock");
long gcount SEC(".data.lock");

SEC("mem") int main_prog(void *ctx)
{
	__u32 k = 0;
	s_data++; s_bss++;
	bpf_map_lookup_elem(&legacy, &k);
	bpf_map_lookup_elem(&locked, &k);
	bpf_tail_call(ctx, &jmp, 1);
	return g_data + s_data + g_bss + s_bss + g_ro + s_ro + arr[2] + named_ro[1];
}

SEC("mem/tail") int tail_a(void *ctx) { return 77; }

char LICENSE[] SEC("license") = "GPL";
