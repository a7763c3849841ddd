/* crc32: CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320) over the data
 * bytes, one bit at a time with a branch-free mask: shifts, xors and a
 * dependent chain of eight steps per byte. */
#include "kernel.h"

KERNEL(crc32)
{
	if (len < KERNEL_HDR)
		return 0;
	uint64_t n = kparam(mem, 0);
	uint64_t max = kfit(len, KERNEL_HDR, 1);
	if (n > max)
		n = max;
	const uint8_t *p = mem + KERNEL_HDR;
	uint32_t crc = 0xffffffffu;
	for (uint64_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}
