/* bpfvm_obj_set_autoload / `bpfvm run --prog`: one object whose programs
 * can't all load.  `entry` tail-calls `target` through a prog array's
 * initial slot, so loading `entry` alone must bring `target`; the others
 * (an unresolved extern, a program the verifier rejects, and the program
 * in the slot of a prog array only they use) must not be touched. */
#include "common.h"

extern long no_such_helper(long x); /* deliberately never registered */

SEC("mem/target") int target(void *ctx) { return 42; }

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, long);
} vals SEC(".maps");

SEC("mem/rejected")
int rejected(void *ctx)
{
	__u32 k = 0;
	return *(long *)bpf_map_lookup_elem(&vals, &k); /* BAD:rejected */
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jt SEC(".maps") = { .values = { [1] = (void *)&target } };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} other SEC(".maps") = { .values = { [0] = (void *)&rejected } };

/* expect 42 (from target) */
SEC("mem/entry")
int entry(void *ctx)
{
	bpf_tail_call(ctx, &jt, 1);
	return 1;
}

SEC("mem/unresolved")
int unresolved(void *ctx)
{
	bpf_tail_call(ctx, &other, 0);
	return no_such_helper(3);
}

char LICENSE[] SEC("license") = "GPL";
