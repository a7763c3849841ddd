/* fnv1a: the 64-bit FNV-1a hash of the data bytes: a byte load, an xor and
 * a 64-bit multiply by the FNV prime per byte, all on one dependency chain. */
#include "kernel.h"

KERNEL(fnv1a)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t n = kparam(mem, 0);
	uint64_t max = kfit(len, KERNEL_HDR, 1);
	if (n > max)
		n = max;
	const uint8_t *p = mem + KERNEL_HDR;
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint64_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
