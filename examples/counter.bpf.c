/*
 * counter.bpf.c: maps and global variables.
 *
 * Counts how often each first input byte was seen, in a BTF-defined hash
 * map, and keeps a running total in a global variable (which lives in the
 * .bss map).  `bpfvm show build/examples/counter.o` lists both; run it with
 *   build/tools/cli/bpfvm run build/examples/counter.o --mem /tmp/in.bin
 * r0 is the number of times this first byte has been seen in this run's
 * maps (1 on a fresh run).   The input is
 * read only after the bounds check against `end = data + len`, which is
 * what lets the verifier accept it (see docs/verifier.md, "mem").
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

__u64 total; /* global: a single-element array map named .bss */

SEC("mem")
__u64 count_first_byte(const unsigned char *data, __u64 len)
{
	const unsigned char *end = data + len;
	/* Hide end's origin from clang, which would otherwise fold the check
	 * below into `len < 1`: a test of the length the verifier cannot tie
	 * to the pointer.  The empty asm emits nothing. */
	asm volatile("" : "+r"(end));
	if (data + 1 > end) /* proves data[0] readable to the verifier */
		return 0;
	__u32 key = data[0];
	__u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);
	total++;
	if (v) {
		__sync_fetch_and_add(v, 1);
		return *v;
	}
	bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
