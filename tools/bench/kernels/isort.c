/* isort: insertion sort of n u32 values.  The input array (after the
 * header) is copied to a scratch array right after it and sorted there, so
 * every run sorts the same unsorted data; returns a position-weighted sum
 * of the sorted array, which changes if any element is misplaced. */
#include "kernel.h"

KERNEL(isort)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t n = kparam(mem, 0);
	uint64_t max = kfit(len, KERNEL_HDR, 2 * sizeof(uint32_t));
	if (n > max)
		n = max;
	if (n > 4096)
		n = 4096;
	const uint32_t *in = (const uint32_t *)(mem + KERNEL_HDR);
	uint32_t *a = (uint32_t *)(mem + KERNEL_HDR) + n;
	for (uint64_t i = 0; i < n; i++)
		a[i] = in[i];
	for (uint64_t i = 1; i < n; i++) {
		uint32_t v = a[i];
		uint64_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
	uint64_t sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += (uint64_t)a[i] * (i + 1);
	return sum;
}
