/*
 * xdp_ipv4.bpf.c: an XDP program run on packet bytes, no kernel or root
 * needed.  SEC("xdp") gives it the "xdp" program type: r1 is a struct
 * xdp_md whose data/data_end span the --mem bytes.  It passes IPv4 frames
 * and drops everything else, with the bounds checks the verifier demands.
 *   build/tools/cli/bpfvm run build/examples/xdp_ipv4.o --mem frame.bin
 * r0 is XDP_PASS (2) for IPv4, XDP_DROP (1) otherwise.  XDP context access
 * is rewritten by the verifier, so this example cannot run with --no-verify.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int pass_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	return eth->h_proto == bpf_htons(ETH_P_IP) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
