/*
 * sum.bpf.c: the smallest useful bpfvm program in C.
 *
 * A "mem" program gets the input bytes in r1 and their length in r2 (here
 * the `data` and `len` arguments).  It adds the first 64 bytes with a
 * helper function, which the loader links in as a bpf-to-bpf call.
 *
 * The verifier accepts reads of the input that are proven in bounds, as
 * with XDP's data/data_end: `end = data + len` is the end of the input, and
 * a read of p[0] is allowed after `if (p + 1 > end)` bailed out.
 *
 * Build and run (from the repository root, after `meson setup build`):
 *   ninja -C build                       # builds build/examples/sum.o too
 *   printf 'hello' > /tmp/in.bin
 *   build/tools/cli/bpfvm run build/examples/sum.o --mem /tmp/in.bin
 * or compile it by hand:
 *   clang-19 -O2 -g -mcpu=v3 -target bpf -I/usr/include/$(gcc -print-multiarch) \
 *       -c examples/sum.bpf.c -o sum.o
 * Prints r0 = 532 ('h'+'e'+'l'+'l'+'o').
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* A subprogram: static functions are linked into every program calling them. */
static __attribute__((noinline)) __u64 add_bytes(const unsigned char *p, const unsigned char *end)
{
	__u64 sum = 0;
	for (int i = 0; i < 64; i++) {
		if (p + 1 > end) /* the check that makes the read below verifiable */
			break;
		sum += *p++;
	}
	return sum;
}

SEC("mem")
__u64 sum(const unsigned char *data, __u64 len)
{
	const unsigned char *end = data + len;
	return add_bytes(data, end);
}

char LICENSE[] SEC("license") = "GPL";
