/*
 * Per-operation semantics shared by every engine (the interpreter's two
 * loops, and the JIT's tests as a reference).  RFC 9669 exactly:
 *  - unsigned div by 0 gives 0, mod by 0 leaves dst (32-bit: truncated);
 *  - signed INT_MIN / -1 wraps to INT_MIN, INT_MIN % -1 is 0: never a trap;
 *  - shift amounts are masked to 63 / 31;
 *  - 32-bit results are zero-extended into the 64-bit register.
 * Operands are uint64_t; results are uint64_t.
 */
#ifndef BPFVM_INTERP_OPS_H
#define BPFVM_INTERP_OPS_H

#include <stdint.h>

static inline uint64_t vm_op_div64(uint64_t a, uint64_t b) { return b ? a / b : 0; }
static inline uint64_t vm_op_mod64(uint64_t a, uint64_t b) { return b ? a % b : a; }
static inline uint64_t vm_op_div32(uint64_t a, uint64_t b)
{
	return (uint32_t)b ? (uint32_t)a / (uint32_t)b : 0;
}
static inline uint64_t vm_op_mod32(uint64_t a, uint64_t b)
{
	return (uint32_t)b ? (uint32_t)a % (uint32_t)b : (uint32_t)a;
}
static inline uint64_t vm_op_sdiv64(uint64_t a, uint64_t b)
{
	int64_t x = (int64_t)a, y = (int64_t)b;
	if (y == 0)
		return 0;
	if (y == -1) /* INT64_MIN / -1 overflows in C: negate with wraparound */
		return -a;
	return (uint64_t)(x / y);
}
static inline uint64_t vm_op_smod64(uint64_t a, uint64_t b)
{
	int64_t x = (int64_t)a, y = (int64_t)b;
	if (y == 0)
		return a;
	if (y == -1)
		return 0;
	return (uint64_t)(x % y);
}
static inline uint64_t vm_op_sdiv32(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;
	if (y == 0)
		return 0;
	if (y == -1)
		return (uint32_t)-(uint32_t)a;
	return (uint32_t)(x / y);
}
static inline uint64_t vm_op_smod32(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;
	if (y == 0)
		return (uint32_t)a;
	if (y == -1)
		return 0;
	return (uint32_t)(x % y);
}
static inline uint64_t vm_op_arsh64(uint64_t a, uint64_t b) { return (uint64_t)((int64_t)a >> (b & 63)); }
static inline uint64_t vm_op_arsh32(uint64_t a, uint64_t b) { return (uint32_t)((int32_t)a >> (b & 31)); }
/* Byte order ops on a little-endian host: le truncates, be and bswap swap. */
static inline uint64_t vm_op_bswap16(uint64_t a) { return __builtin_bswap16((uint16_t)a); }
static inline uint64_t vm_op_bswap32(uint64_t a) { return __builtin_bswap32((uint32_t)a); }
static inline uint64_t vm_op_bswap64(uint64_t a) { return __builtin_bswap64(a); }

/* Unaligned, aliasing-safe memory access. */
typedef uint16_t __attribute__((aligned(1), may_alias)) vm_u16u;
typedef uint32_t __attribute__((aligned(1), may_alias)) vm_u32u;
typedef uint64_t __attribute__((aligned(1), may_alias)) vm_u64u;
typedef uint8_t __attribute__((may_alias)) vm_u8u;

#endif
