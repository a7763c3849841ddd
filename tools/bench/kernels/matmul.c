/* matmul: C = A * B for n x n matrices of u32 (arithmetic modulo 2^32),
 * A and B after the header, C after them; returns a position-weighted
 * checksum of C.  The i-k-j loop order keeps the inner loop sequential. */
#include "kernel.h"

KERNEL(matmul)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t n = kparam(mem, 0);
	if (n > 64)
		n = 64;
	while (n > 0 && 3 * n * n * sizeof(uint32_t) > len - KERNEL_HDR)
		n--;
	const uint32_t *A = (const uint32_t *)(mem + KERNEL_HDR);
	const uint32_t *B = A + n * n;
	uint32_t *C = (uint32_t *)(A + 2 * n * n);
	if (n == 0)
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		/* Row i starts as A[i][0] * B[0] rather than zero: a zeroing
		 * loop would become a memset call, which BPF cannot make. */
		uint32_t ai0 = A[i * n];
		for (uint64_t j = 0; j < n; j++)
			C[i * n + j] = ai0 * B[j];
		for (uint64_t k = 1; k < n; k++) {
			uint32_t aik = A[i * n + k];
			for (uint64_t j = 0; j < n; j++)
				C[i * n + j] += aik * B[k * n + j];
		}
	}
	uint64_t sum = 0;
	for (uint64_t i = 0; i < n * n; i++)
		sum += (uint64_t)C[i] * (i + 1);
	return sum;
}
