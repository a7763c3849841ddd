/*
 * ALU instructions: scalar arithmetic through bounds.c, and Linux's rules
 * for arithmetic on pointers: only 64-bit add/sub of a scalar, never on a
 * pointer that may be NULL, on a map handle or packet end; offsets kept
 * within +-2^29 so that later bounds checks cannot overflow.
 */
#include "vfy.h"

#define MAX_VAR_OFF (1LL << 29)

bool vfy_is_ptr(const struct vfy_reg *r)
{
	return r->type != VT_NOT_INIT && r->type != VT_SCALAR;
}

void vfy_mark_ptr(struct vfy_env *env, struct vfy_reg *r, enum vfy_type t)
{
	(void)env;
	*r = (struct vfy_reg){ .type = (uint8_t)t };
	vfy_bounds_zero(r);
}

int vfy_check_reg_read(struct vfy_env *env, uint32_t idx, unsigned regno)
{
	if (vfy_regs(env)[regno].type == VT_NOT_INIT)
		return vfy_err(env, -EACCES, idx, "R%u !read_ok: the register is read before anything was written to "
		               "it on this path; initialize it first", regno);
	return 0;
}

static const char *alu_name(uint8_t op)
{
	static const char *const n[16] = { "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=",
	                                   "s>>=", "endian", "?", "?" };
	return n[op >> 4];
}

static bool sane_offset(struct vfy_env *env, uint32_t idx, const struct vfy_reg *r, const struct vfy_reg *ptr)
{
	const char *tn = vfy_type_name(ptr);
	if (tnum_is_const(r->var_off) && ((int64_t)r->var_off.value >= MAX_VAR_OFF ||
	                                  (int64_t)r->var_off.value <= -MAX_VAR_OFF)) {
		vfy_err(env, -EACCES, idx, "math between %s pointer and %lld is not allowed: offsets must stay within "
		        "+-2^29", tn, (long long)r->var_off.value);
		return false;
	}
	if (r->off >= MAX_VAR_OFF || r->off <= -MAX_VAR_OFF) {
		vfy_err(env, -EACCES, idx, "%s pointer offset %d is not allowed (limit +-2^29)", tn, r->off);
		return false;
	}
	if (r->smin == INT64_MIN) {
		vfy_err(env, -EACCES, idx, "math between %s pointer and register with unbounded min value is not "
		        "allowed: bound the register with a comparison first", tn);
		return false;
	}
	if (r->smin >= MAX_VAR_OFF || r->smin <= -MAX_VAR_OFF) {
		vfy_err(env, -EACCES, idx, "value %lld makes %s pointer be out of bounds", (long long)r->smin, tn);
		return false;
	}
	return true;
}

/* dst = ptr op off (op is add or sub); ptr and dst may alias. */
static bool is_pkt_family(const struct vfy_reg *r)
{
	return r->type == VT_PKT || r->type == VT_PKT_META || r->type == VT_PKT_END;
}

static int ptr_arith(struct vfy_env *env, uint32_t idx, unsigned dregno, struct vfy_reg *dst,
                     const struct vfy_reg *ptr, const struct vfy_reg *off, uint8_t op)
{
	struct vfy_reg p = *ptr, o = *off;

	if (p.maybe_null)
		return vfy_err(env, -EACCES, idx, "R%u pointer arithmetic on %s prohibited, null-check it first", dregno,
		               vfy_type_name(&p));
	/* As Linux: a map handle only tolerates adding a known 0. */
	if (p.type == VT_MAP_PTR && op == 0x00 && tnum_equals_const(o.var_off, 0)) {
		*dst = p;
		return 0;
	}
	switch (p.type) {
	case VT_MAP_PTR: case VT_PKT_END: case VT_FUNC:
		return vfy_err(env, -EACCES, idx, "R%u pointer arithmetic on %s prohibited", dregno, vfy_type_name(&p));
	default:
		break;
	}
	if (p.type == VT_STACK && op == 0x10)
		return vfy_err(env, -EACCES, idx, "R%u subtraction from stack pointer prohibited: add a negative "
		               "constant instead (as Linux)", dregno);
	if (op != 0x00 && op != 0x10)
		return vfy_err(env, -EACCES, idx, "R%u pointer arithmetic with %s operator prohibited: only 64-bit add "
		               "and sub of a scalar", dregno, alu_name(op));
	/* Bounds that contradict themselves come from a dead branch. */
	if (!vfy_bounds_sane(&o)) {
		vfy_mark_unknown(dst);
		return 0;
	}
	if (!sane_offset(env, idx, &o, &p) || !sane_offset(env, idx, &p, &p))
		return -EACCES;

	bool known = tnum_is_const(o.var_off);
	struct vfy_reg r = p;
	if (known) {
		int64_t v = (int64_t)o.var_off.value;
		int64_t n = op == 0x00 ? (int64_t)p.off + v : (int64_t)p.off - v;
		if (n >= MAX_VAR_OFF || n <= -MAX_VAR_OFF)
			return vfy_err(env, -EACCES, idx, "%s pointer offset %lld is not allowed (limit +-2^29)",
			               vfy_type_name(&p), (long long)n);
		r.off = (int32_t)n;
	} else {
		/* The variable part moves like a scalar; the fixed part stays. */
		struct vfy_reg var = p;
		var.type = VT_SCALAR;
		vfy_scalar_alu(&var, &o, op, false);
		r.var_off = var.var_off;
		r.smin = var.smin; r.smax = var.smax; r.umin = var.umin; r.umax = var.umax;
		r.s32_min = var.s32_min; r.s32_max = var.s32_max; r.u32_min = var.u32_min; r.u32_max = var.u32_max;
		if (p.type == VT_PKT || p.type == VT_PKT_META) {
			r.id = vfy_new_id(env);
			r.range = 0;
		}
	}
	if (!sane_offset(env, idx, &r, &r))
		return -EACCES;
	*dst = r;
	return 0;
}

/* Is r exactly the start of the "mem" input?  A packet pointer with no
 * fixed offset and a variable part known to be 0 (whatever its id: every
 * such pointer points at the first byte). */
static bool is_mem_start(const struct vfy_reg *r)
{
	return r->type == VT_PKT && !r->maybe_null && r->off == 0 && tnum_equals_const(r->var_off, 0) &&
	       r->smin == 0 && r->smax == 0 && r->umin == 0 && r->umax == 0;
}

static int check_alu(struct vfy_env *env, uint32_t idx)
{
	const struct bpf_insn *in = &env->insns[idx];
	enum vm_op vop = env->ops[idx];
	const struct vm_opinfo *oi = &vm_opinfo[vop];
	uint8_t op = oi->code & 0xf0;
	bool alu32 = vm_op_is_alu32(vop);
	bool is_x = oi->fmt == FMT_ALU_X;
	struct vfy_reg *regs = vfy_regs(env);
	struct vfy_reg *dst = &regs[in->dst_reg];
	int err;

	if (in->dst_reg == 10)
		return vfy_err(env, -EACCES, idx, "frame pointer is read only: copy r10 to another register first");

	if (oi->fmt == FMT_NEG || oi->fmt == FMT_END) {
		if ((err = vfy_check_reg_read(env, idx, in->dst_reg)))
			return err;
		if (vfy_is_ptr(dst))
			return vfy_err(env, -EACCES, idx, "R%u pointer arithmetic prohibited (%s on a pointer)",
			               in->dst_reg, oi->mnemonic);
		vfy_mark_unknown(dst);
		return 0;
	}

	if (op == 0xb0) { /* mov */
		if (!is_x) {
			vfy_mark_const(dst, alu32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm);
			return 0;
		}
		if ((err = vfy_check_reg_read(env, idx, in->src_reg)))
			return err;
		struct vfy_reg *src = &regs[in->src_reg];
		if (in->off) { /* movsx */
			if (vfy_is_ptr(src)) {
				vfy_mark_unknown(dst);
				return 0;
			}
			struct vfy_reg s = *src;
			vfy_scalar_movsx(dst, &s, (unsigned)in->off, alu32);
			return 0;
		}
		if (!alu32) {
			if (src->type == VT_SCALAR && !src->id && !tnum_is_const(src->var_off))
				src->id = vfy_new_id(env); /* copies refine together */
			*dst = *src;
			return 0;
		}
		if (vfy_is_ptr(src)) {
			/* As Linux (privileged): a partial copy of a pointer is a number. */
			vfy_mark_unknown(dst);
			dst->var_off = tnum_subreg(dst->var_off);
			vfy_zext_32(dst);
			vfy_bounds_sync(dst);
			return 0;
		}
		if (src->type == VT_SCALAR && src->umax <= UINT32_MAX) {
			/* As Linux: the zero-extended copy of a value that fits in 32
			 * bits is the same value, so the copies refine together
			 * (w7 = w8; if w8 == 1 ... tells w7 too). */
			if (!src->id && !tnum_is_const(src->var_off))
				src->id = vfy_new_id(env);
			*dst = *src;
			return 0;
		}
		struct vfy_reg s = *src;
		vfy_scalar_alu(dst, &s, 0xb0, true);
		return 0;
	}

	if ((err = vfy_check_reg_read(env, idx, in->dst_reg)))
		return err;
	struct vfy_reg srcv;
	if (is_x) {
		if ((err = vfy_check_reg_read(env, idx, in->src_reg)))
			return err;
		srcv = regs[in->src_reg];
	} else {
		vfy_mark_const(&srcv, alu32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm);
	}
	if (!is_x && (op == 0x30 || op == 0x90) && in->imm == 0)
		return vfy_err(env, -EINVAL, idx, "division by zero: %s by the constant 0", oi->mnemonic);
	if (!is_x && (op == 0x60 || op == 0x70 || op == 0xc0) && (uint32_t)in->imm >= (alu32 ? 32u : 64u))
		return vfy_err(env, -EINVAL, idx, "invalid shift %d: the shift amount must be below %u", in->imm,
		               alu32 ? 32 : 64);

	bool dptr = vfy_is_ptr(dst), sptr = vfy_is_ptr(&srcv);
	if (!dptr && !sptr) {
		vfy_scalar_alu(dst, &srcv, op, alu32);
		return 0;
	}
	if (alu32)
		return vfy_err(env, -EACCES, idx, "R%u 32-bit pointer arithmetic prohibited: use 64-bit add/sub",
		               dptr ? in->dst_reg : in->src_reg);
	if (dptr && sptr) {
		if (op == 0x10 && (dst->type == srcv.type || (is_pkt_family(dst) && is_pkt_family(&srcv))) &&
		    dst->type != VT_MAP_PTR) {
			/* ptr - ptr: a distance, as Linux allows the privileged, here
			 * only inside one object (data_end - data is the packet's
			 * length); across objects it would leak the address layout. */
			vfy_mark_unknown(dst);
			return 0;
		}
		return vfy_err(env, -EACCES, idx, "R%u pointer %s pointer prohibited", in->dst_reg, alu_name(op));
	}
	/* "mem" programs: input start + input length is the input's end. */
	/* The scalar operand becomes (part of) a pointer: its value matters. */
	vfy_need_precise(env, idx, dptr ? (is_x ? in->src_reg : BPF_MAX_REG) : in->dst_reg);
	if (op == 0x00 && ((dptr && is_mem_start(dst) && srcv.type == VT_SCALAR && srcv.mem_len) ||
	                   (sptr && is_mem_start(&srcv) && dst->type == VT_SCALAR && dst->mem_len))) {
		vfy_mark_ptr(env, dst, VT_PKT_END);
		return 0;
	}
	if (sptr) {
		if (op == 0x10)
			return vfy_err(env, -EACCES, idx, "R%u tried to subtract pointer from scalar", in->dst_reg);
		if (op != 0x00)
			return vfy_err(env, -EACCES, idx, "R%u pointer arithmetic with %s operator prohibited",
			               in->src_reg, alu_name(op));
		struct vfy_reg s = *dst;
		return ptr_arith(env, idx, in->dst_reg, dst, &srcv, &s, op);
	}
	if (op == 0x50 || op == 0x40 || op == 0xa0)
		return vfy_err(env, -EACCES, idx, "R%u bitwise operator %s on pointer prohibited", in->dst_reg,
		               alu_name(op));
	struct vfy_reg p = *dst;
	return ptr_arith(env, idx, in->dst_reg, dst, &p, &srcv, op);
}

int vfy_check_alu(struct vfy_env *env, uint32_t idx)
{
	int err = check_alu(env, idx);
	const struct bpf_insn *in = &env->insns[idx];
	enum vm_op vop = env->ops[idx];
	const struct vm_opinfo *oi = &vm_opinfo[vop];
	/* Only a plain 64-bit register copy keeps the value, so the mark;
	 * everything else computes something new. */
	bool copy = oi->fmt == FMT_ALU_X && (oi->code & 0xf0) == 0xb0 && !vm_op_is_alu32(vop) && !in->off;
	if (!err && !copy && in->dst_reg < BPF_MAX_REG)
		vfy_regs(env)[in->dst_reg].mem_len = false;
	return err;
}
