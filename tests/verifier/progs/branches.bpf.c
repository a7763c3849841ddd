/* 32 independent branches changing an accumulator nothing checks: without
 * precision a verifier walks 2^32 paths.
 * Part of tests/verifier/test_real.c: verified by bpfvm and, where the
 * kernel allows bpf(), by Linux; both must accept it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define D(i) if (data + (i) + 1 <= end && data[i] & 1) acc += (i) * 3; else acc ^= (i);
SEC("xdp")
int branches(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 64 > end) return 0;
	unsigned long acc = 0;
	D(0) D(1) D(2) D(3) D(4) D(5) D(6) D(7) D(8) D(9) D(10) D(11) D(12) D(13) D(14) D(15)
	D(16) D(17) D(18) D(19) D(20) D(21) D(22) D(23) D(24) D(25) D(26) D(27) D(28) D(29) D(30) D(31)
	return acc & 3;
}
char LICENSE[] SEC("license") = "GPL";
