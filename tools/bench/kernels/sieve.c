/* sieve: counts the primes below n with the sieve of Eratosthenes, one
 * byte per number in the buffer after the header; returns the count times
 * 2^32 plus the sum of the primes' low bits (a checksum of which numbers
 * survived).  The sieve is reset at the start of every run. */
#include "kernel.h"

KERNEL(sieve)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t n = kparam(mem, 0);
	uint64_t max = kfit(len, KERNEL_HDR, 1);
	if (n > max)
		n = max;
	if (n > (1u << 24))
		n = 1u << 24;
	uint8_t *s = mem + KERNEL_HDR;
	/* Any nonzero byte means "not crossed out".  A constant fill would
	 * become a memset call, which a lone BPF function cannot make. */
	for (uint64_t i = 0; i < n; i++)
		s[i] = (uint8_t)(i | 1);
	uint64_t count = 0, sum = 0;
	for (uint64_t i = 2; i < n; i++) {
		if (!s[i])
			continue;
		count++;
		sum += i & 0xffff;
		for (uint64_t j = i * i; j < n; j += i)
			s[j] = 0;
	}
	return (count << 32) + (sum & 0xffffffffu);
}
