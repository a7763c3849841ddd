/* collatz: the total number of Collatz steps (n -> n/2 or 3n+1 until 1)
 * over `count` starting values from `start`; data-dependent branches with
 * a short dependent chain.  Each walk is capped at 10,000 steps. */
#include "kernel.h"

KERNEL(collatz)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t start = kparam(mem, 0), count = kparam(mem, 1);
	if (start == 0)
		start = 1;
	if (count > (1u << 20))
		count = 1u << 20;
	uint64_t total = 0;
	for (uint64_t s = start; s < start + count; s++) {
		uint64_t x = s;
		uint32_t steps = 0;
		while (x != 1 && steps < 10000) {
			x = (x & 1) ? 3 * x + 1 : x >> 1;
			steps++;
		}
		total += steps;
	}
	return total;
}
