/* Copies packet bytes into a struct on the stack, stores it in a hash map,
 * sums it with bpf_loop and counts capitals in a subprogram.
 * Part of tests/verifier/test_real.c: verified by bpfvm and, where the
 * kernel allows bpf(), by Linux; both must accept it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct rec { char name[32]; __u32 len; __u32 hits; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 128); __type(key, __u32); __type(value, struct rec); } recs SEC(".maps");

struct loop_ctx { struct rec *r; __u32 sum; };

static long sum_chars(__u32 i, struct loop_ctx *c)
{
	if (i >= sizeof(c->r->name)) return 1;
	if (c->r->name[i] == 0) return 1;
	c->sum += (unsigned char)c->r->name[i];
	return 0;
}

static __noinline int count_upper(const char *s, int n)
{
	int k = 0;
	for (int i = 0; i < 32; i++) {
		if (i >= n) break;
		if (s[i] >= 'A' && s[i] <= 'Z') k++;
	}
	return k;
}

SEC("xdp")
int strings(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct rec r = {};
	unsigned char *p = data;
	/* copy up to 31 bytes of the packet into r.name */
	for (int i = 0; i < 31; i++) {
		if (p + i + 1 > (unsigned char *)end) break;
		r.name[i] = p[i];
		r.len = i + 1;
	}
	r.hits = 1;
	bpf_map_update_elem(&recs, &key, &r, BPF_ANY);
	struct rec *v = bpf_map_lookup_elem(&recs, &key);
	if (!v) return 0;
	struct loop_ctx lc = { .r = v };
	bpf_loop(64, sum_chars, &lc, 0);
	int up = count_upper(v->name, v->len);
	return lc.sum * 100 + up;
}
char LICENSE[] SEC("license") = "GPL";
