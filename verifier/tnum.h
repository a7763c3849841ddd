/*
 * Tristate numbers: a 64-bit value where each bit is known 0, known 1 or
 * unknown.  (value, mask): a bit set in mask is unknown; value holds the
 * known bits and is 0 where mask is 1.  Pure value functions, as Linux's
 * kernel/bpf/tnum.c; each is sound: for every concrete x in a and y in b,
 * op(x, y) is in tnum_op(a, b).  Prefix: tnum_ (internal to the verifier).
 */
#ifndef BPFVM_VFY_TNUM_H
#define BPFVM_VFY_TNUM_H

#include <stdbool.h>
#include <stdint.h>

struct tnum {
	uint64_t value;
	uint64_t mask;
};

#define TNUM(v, m) ((struct tnum){ .value = (v), .mask = (m) })

extern const struct tnum tnum_unknown;

struct tnum tnum_const(uint64_t v);
/* Smallest tnum containing every value of [min, max]. */
struct tnum tnum_range(uint64_t min, uint64_t max);
struct tnum tnum_lshift(struct tnum a, uint8_t shift);
struct tnum tnum_rshift(struct tnum a, uint8_t shift);
/* Arithmetic shift of the low insn_bitness (32 or 64) bits. */
struct tnum tnum_arshift(struct tnum a, uint8_t shift, uint8_t insn_bitness);
struct tnum tnum_add(struct tnum a, struct tnum b);
struct tnum tnum_sub(struct tnum a, struct tnum b);
struct tnum tnum_and(struct tnum a, struct tnum b);
struct tnum tnum_or(struct tnum a, struct tnum b);
struct tnum tnum_xor(struct tnum a, struct tnum b);
struct tnum tnum_mul(struct tnum a, struct tnum b);
struct tnum tnum_neg(struct tnum a);
/* Values in both a and b (a and b must overlap). */
struct tnum tnum_intersect(struct tnum a, struct tnum b);
/* The low `size` bytes of a, upper bits known zero. */
struct tnum tnum_cast(struct tnum a, uint8_t size);
/* Every value of b is a value of a. */
bool tnum_in(struct tnum a, struct tnum b);
bool tnum_is_aligned(struct tnum a, uint64_t size);
static inline bool tnum_is_const(struct tnum a) { return !a.mask; }
static inline bool tnum_equals_const(struct tnum a, uint64_t b) { return !a.mask && a.value == b; }
static inline bool tnum_is_unknown(struct tnum a) { return !~a.mask; }
static inline uint64_t tnum_umin(struct tnum a) { return a.value; }
static inline uint64_t tnum_umax(struct tnum a) { return a.value | a.mask; }
/* Low 32 bits / clear the low 32 / replace the low 32. */
struct tnum tnum_subreg(struct tnum a);
struct tnum tnum_clear_subreg(struct tnum a);
struct tnum tnum_with_subreg(struct tnum reg, struct tnum subreg);
struct tnum tnum_const_subreg(struct tnum a, uint32_t v);
/* Does concrete x agree with a's known bits? */
static inline bool tnum_contains(struct tnum a, uint64_t x) { return (x & ~a.mask) == a.value; }
/* "(0x1;0xf0)"-style text for logs; buf of 48 bytes. */
char *tnum_str(struct tnum a, char *buf, unsigned size);

#endif
