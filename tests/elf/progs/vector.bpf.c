/*
 * Loops the JIT vectorizes (jit/x86_64_vec.c), as clang writes them, in a
 * verified program: element-wise arithmetic over arrays in a map value and
 * a byte fill from the loop index.  tests/elf/test_vector.c runs it on the
 * interpreter and the JIT and compares the map afterwards.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define N 256

struct vec_data {
	__u32 a[N], b[N], out[N];
	__u16 h[N], h2[N];
	__u8 bytes[2 * N];
	__u64 q[N], q2[N];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vec_data);
} data SEC(".maps");

SEC("mem")
__u64 vector_loops(void *ctx, __u64 len)
{
	__u32 zero = 0;
	struct vec_data *d = bpf_map_lookup_elem(&data, &zero);
	if (!d)
		return 0;
	__u32 k = d->a[0] | 1;
	for (int i = 0; i < N; i++) /* u32 lanes: mul, add */
		d->out[i] = d->a[i] * k + d->b[i];
	for (int i = 0; i < N; i++) /* u16 lanes: shift, xor */
		d->h[i] = (__u16)((d->h[i] << 3) ^ d->h2[i]);
	for (int i = 0; i < 2 * N; i++) /* byte lanes from the index */
		d->bytes[i] = (__u8)(i * 7 + 3) ^ 0x5a;
	for (int i = 0; i < N; i++) /* u64 lanes */
		d->q[i] += d->q2[i] - 5;
	for (int i = 0; i < N; i++) /* u32 and u64 accesses: left scalar */
		d->q2[i] ^= d->a[i];
	return d->out[N - 1] + d->bytes[2 * N - 1] + d->h[7] + d->q[N - 1] + d->q2[3];
}

char LICENSE[] SEC("license") = "GPL";
