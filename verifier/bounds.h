/*
 * Scalar ranges: signed and unsigned 64- and 32-bit bounds kept alongside
 * the tnum of a register, refined against each other after every change
 * (as Linux's reg_bounds_sync) and on every conditional jump.  Pure
 * functions of struct vfy_reg; only the scalar fields are touched.
 */
#ifndef BPFVM_VFY_BOUNDS_H
#define BPFVM_VFY_BOUNDS_H

#include "regstate.h"

/* Scalar with no knowledge / a known constant. */
void vfy_mark_unknown(struct vfy_reg *r);
void vfy_mark_const(struct vfy_reg *r, uint64_t v);
/* Bounds of a pointer's variable offset reset to "exactly zero". */
void vfy_bounds_zero(struct vfy_reg *r);
void vfy_bounds_unbounded(struct vfy_reg *r);
/* Makes the four ranges and the tnum agree with each other. */
void vfy_bounds_sync(struct vfy_reg *r);
/* Keeps the low 32 bits only: upper bits known zero (ALU32 results). */
void vfy_zext_32(struct vfy_reg *r);
/* Does r describe exactly one value? */
static inline bool vfy_reg_is_const(const struct vfy_reg *r) { return tnum_is_const(r->var_off); }
/* Is the abstract value consistent (some concrete value exists)? */
bool vfy_bounds_sane(const struct vfy_reg *r);

/* Scalar ALU: dst = dst op src, op is the BPF ALU opcode (code & 0xf0),
 * alu32 for class ALU.  Both scalars.  Unknown result where Linux gives up. */
void vfy_scalar_alu(struct vfy_reg *dst, const struct vfy_reg *src, uint8_t op, bool alu32);
/* movsx: sign-extends the low `bits` of src. */
void vfy_scalar_movsx(struct vfy_reg *dst, const struct vfy_reg *src, unsigned bits, bool alu32);

/*
 * Conditional jumps.  op is the jump opcode (code & 0xf0).
 * vfy_branch_taken: 1 always taken, 0 never, -1 unknown, for scalar r
 * against the constant val (only low 32 bits compared when is32).
 */
int vfy_branch_taken(const struct vfy_reg *r, uint64_t val, uint8_t op, bool is32);
/* Refines r for the taken (t) and fall-through (f) copies when compared
 * against constant val. */
void vfy_refine_const(struct vfy_reg *t, struct vfy_reg *f, uint64_t val, uint8_t op, bool is32);
/* Both non-constant scalars compared with JEQ: each takes what both know. */
void vfy_refine_eq(struct vfy_reg *a, struct vfy_reg *b);
/* Op with operands swapped: (a OP b) == (b swap(OP) a). */
uint8_t vfy_jmp_swap(uint8_t op);

#endif
