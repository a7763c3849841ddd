/* xorshift: n steps of Marsaglia's 32-bit xorshift generator, folding each
 * output through a 32-bit division and a modulo by divisors that change
 * every step (so no compiler can turn them into multiplications). */
#include "kernel.h"

KERNEL(xorshift)
{
	if (len < KERNEL_HDR)
		return 0;
	uint32_t n = kparam(mem, 0);
	uint32_t x = kparam(mem, 1);
	if (n > (1u << 24))
		n = 1u << 24;
	if (x == 0)
		x = 2463534242u;
	uint64_t acc = 0;
	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		uint32_t d = (i & 0xff) + 3;
		acc += x / d + (x % (d + 1)) * 7;
	}
	return acc ^ x;
}
