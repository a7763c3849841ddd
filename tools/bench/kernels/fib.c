/* fib: the n-th Fibonacci number, iteratively, modulo 2^64 (it wraps after
 * n = 93).  One dependent 64-bit add per step: measures the bare loop. */
#include "kernel.h"

KERNEL(fib)
{
	if (len < KERNEL_HDR)
		return 0;
	uint32_t n = kparam(mem, 0);
	if (n > (1u << 24))
		n = 1u << 24;
	uint64_t a = kparam(mem, 1), b = kparam(mem, 2); /* 0, 1 */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}
