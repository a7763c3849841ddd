/* Walks TCP options in a bounded loop to find the MSS: a loop whose step
 * is a byte from the packet.
 * Part of tests/verifier/test_real.c: verified by bpfvm and, where the
 * kernel allows bpf(), by Linux; both must accept it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } mss_seen SEC(".maps");

SEC("xdp")
int tcpopt(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl != 5) return XDP_PASS;
	struct tcphdr *th = (void *)(ip + 1);
	if ((void *)(th + 1) > end) return XDP_PASS;
	__u8 *opt = (__u8 *)(th + 1);
	__u32 optlen = th->doff * 4 - sizeof(*th);
	if (optlen > 40) return XDP_DROP;
	__u32 mss = 0;
	for (__u32 i = 0; i < 40; ) {
		if (i >= optlen) break;
		__u8 *p = opt + i;
		if ((void *)(p + 1) > end) break;
		__u8 kind = *p;
		if (kind == 0) break;
		if (kind == 1) { i++; continue; }
		if ((void *)(p + 2) > end) break;
		__u8 len = p[1];
		if (len < 2) break;
		if (kind == 2 && len == 4) {
			if ((void *)(p + 4) > end) break;
			mss = (p[2] << 8) | p[3];
		}
		i += len;
	}
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&mss_seen, &k);
	if (v) *v = mss;
	return mss ? XDP_PASS : XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
