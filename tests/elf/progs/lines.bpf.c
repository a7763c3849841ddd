/* Programs the verifier rejects, for source line info in its errors
 * (.BTF.ext, built with -g).  Each offending line carries a marker
 * comment "BAD:<name>"; test_lines.c finds the marker's line number in
 * this file and expects the error to name it.  Keep each marker on the
 * line whose code fails. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

/* A lookup's result used without the NULL check. */
SEC("mem/null_deref")
int null_deref(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&vals, &k);
	return *v + 1; /* BAD:null_deref */
}

/* Reads past the caller's 16-byte stack buffer: the error is inside this
 * .text subprogram, appended after the program that calls it. */
static __attribute__((noinline)) int sum_past(int *p, int n)
{
	int s = 0;
	s += p[0];
	s += p[n] * 3;
	s += p[12]; /* BAD:sum_past */
	return s;
}

SEC("mem/sub_oob")
int sub_oob(void *ctx)
{
	volatile int buf[4] = { 1, 2, 3, 4 };
	int a = buf[0] + buf[3];
	return a + sum_past((int *)buf, 2);
}

/* A global .text function called from another program: same check. */
__attribute__((noinline)) int global_past(int *p)
{
	return p[40]; /* BAD:global_past */
}

SEC("mem/global_oob")
int global_oob(void *ctx)
{
	volatile int buf[2] = { 5, 6 };
	return global_past((int *)buf) + buf[1];
}

char LICENSE[] SEC("license") = "GPL";
