/* An XDP flow counter: VLAN tags, IPv4, TCP/UDP ports, a hash map of
 * per-flow packets and bytes, an array of counters.
 * Part of tests/verifier/test_real.c: verified by bpfvm and, where the
 * kernel allows bpf(), by Linux; both must accept it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow { __u32 saddr, daddr; __u16 sport, dport; __u8 proto; __u8 pad[3]; };
struct stats { __u64 pkts, bytes; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, struct flow); __type(value, struct stats); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } counters SEC(".maps");

static __always_inline void bump(__u32 i) { __u64 *c = bpf_map_lookup_elem(&counters, &i); if (c) __sync_fetch_and_add(c, 1); }

SEC("xdp")
int flowstat(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end) { bump(0); return XDP_PASS; }
	__u16 proto = eth->h_proto;
	void *nh = eth + 1;
	/* up to two VLAN tags */
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
		__u16 *vh = nh;
		if ((void *)(vh + 2) > end) return XDP_DROP;
		proto = vh[1];
		nh = vh + 2;
	}
	if (proto != bpf_htons(ETH_P_IP)) { bump(1); return XDP_PASS; }
	struct iphdr *ip = nh;
	if ((void *)(ip + 1) > end) return XDP_DROP;
	int hl = ip->ihl * 4;
	if (hl < sizeof(*ip)) return XDP_DROP;
	if ((void *)ip + hl > end) return XDP_DROP;
	struct flow f = { .saddr = ip->saddr, .daddr = ip->daddr, .proto = ip->protocol };
	void *l4 = (void *)ip + hl;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end) return XDP_DROP;
		f.sport = th->source; f.dport = th->dest;
		if (th->syn && !th->ack) bump(3);
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end) return XDP_DROP;
		f.sport = uh->source; f.dport = uh->dest;
	} else {
		bump(2);
	}
	struct stats *s = bpf_map_lookup_elem(&flows, &f);
	if (s) {
		__sync_fetch_and_add(&s->pkts, 1);
		__sync_fetch_and_add(&s->bytes, end - data);
	} else {
		struct stats ns = { 1, end - data };
		bpf_map_update_elem(&flows, &f, &ns, BPF_NOEXIST);
	}
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
