/* Subprograms: static and global .text functions, a call into another
 * program's section, a callback (bpf_loop), an extern helper.
 * Each program's expected r0 is in its comment (checked by test_elf_run.c). */
#include "common.h"

extern long bpfvm_test_mul(long a, long b); /* registered by the test, resolved by name */

static __attribute__((noinline)) int add3(int x) { return x + 3; }
__attribute__((noinline)) int twice(int x) { return add3(x) * 2; }   /* global, calls static */
static __attribute__((noinline)) int deep(int x) { return x > 0 ? twice(x) + 1 : 0; }

static long count_cb(__u32 i, void *ctx) { *(long *)ctx += i; return 0; }

/* expect 2*(4+3) + 1 = 15 */
SEC("mem") int calls(void *ctx) { return deep(4); }

/* Another section holding a global function called from elsewhere. */
SEC("mem/helper") __attribute__((noinline)) int other_sec(int x) { return x + 100; }

/* expect 100 + 5 = 105: call into another program's section */
SEC("mem/cross") int cross(void *ctx) { return other_sec(5); }

/* expect 0+1+2+3+4 = 10 */
SEC("mem/loop") int loop(void *ctx) { long sum = 0; bpf_loop(5, count_cb, &sum, 0); return sum; }

/* expect 6*7 = 42 */
SEC("mem/extern") int ext(void *ctx) { return bpfvm_test_mul(6, 7); }

char LICENSE[] SEC("license") = "GPL";
