/*
 * sum.bpf.c: the smallest useful bpfvm program in C.
 *
 * A "mem" program gets the input bytes in r1 and their length in r2 (here
 * the `data` and `len` arguments).  It adds the first 64 bytes with a
 * helper function, which the loader links in as a bpf-to-bpf call.
 *
 * Build and run (from the repository root, after `meson setup build`):
 *   ninja -C build                       # builds build/examples/sum.o too
 *   printf 'hello' > /tmp/in.bin
 *   build/tools/cli/bpfvm run --no-verify build/examples/sum.o --mem /tmp/in.bin
 * or compile it by hand:
 *   clang-19 -O2 -g -mcpu=v3 -target bpf -I/usr/include/$(gcc -print-multiarch) \
 *       -c examples/sum.bpf.c -o sum.o
 * Prints r0 = 532 ('h'+'e'+'l'+'l'+'o').
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* A subprogram: static functions are linked into every program calling them. */
static __attribute__((noinline)) __u64 add_bytes(const unsigned char *p, __u64 n)
{
	__u64 sum = 0;
	for (__u64 i = 0; i < n && i < 64; i++)
		sum += p[i];
	return sum;
}

SEC("mem")
__u64 sum(const unsigned char *data, __u64 len)
{
	return add_bytes(data, len);
}

char LICENSE[] SEC("license") = "GPL";
