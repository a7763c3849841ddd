/*
 * Loads, stores, atomics and helper memory arguments: every access is
 * checked against its region (stack slots with per-byte state, map values,
 * map keys, memory of a known size, packet data up to the range proven by
 * a comparison with data_end, context fields of the program type).
 */
#include "vfy.h"

#include <string.h>

#define MAX_VAR_OFF (1LL << 29)

static bool is_pkt_field(const struct bpfvm_ctx_field *f)
{
	return f->access & (BPFVM_CTX_PKT_DATA | BPFVM_CTX_PKT_END | BPFVM_CTX_PKT_META);
}

/* A value loaded from memory: unknown, bounded by the access width. */
static void loaded_scalar(struct vfy_reg *out, unsigned size, bool sext)
{
	vfy_mark_unknown(out);
	if (size >= 8)
		return;
	if (sext) {
		int64_t lim = (int64_t)1 << (size * 8 - 1);
		out->smin = -lim;
		out->smax = lim - 1;
	} else {
		out->var_off = tnum_cast(tnum_unknown, (uint8_t)size);
		out->umax = (1ULL << (size * 8)) - 1;
	}
	vfy_bounds_sync(out);
}

/* [reg + off, + size) within [0, limit): fixed and variable parts. */
static int region_check(struct vfy_env *env, uint32_t idx, unsigned regno, const struct vfy_reg *reg, int32_t off,
                        uint64_t size, uint64_t limit, const char *what)
{
	int64_t base = (int64_t)reg->off + off;
	if (tnum_is_const(reg->var_off)) {
		int64_t o = base + (int64_t)reg->var_off.value;
		if (o < 0 || size == 0 || (uint64_t)o + size > limit)
			return vfy_err(env, -EACCES, idx, "invalid access to %s, value_size=%llu off=%lld size=%llu (R%u): "
			               "keep the access inside the region", what, (unsigned long long)limit, (long long)o,
			               (unsigned long long)size, regno);
		return 0;
	}
	if (reg->smin < 0 && (reg->smin == INT64_MIN || base + reg->smin < 0))
		return vfy_err(env, -EACCES, idx, "R%u min value is negative, either use unsigned index or do a if "
		               "(index >=0) check.", regno);
	if (base + reg->smin < 0)
		return vfy_err(env, -EACCES, idx, "R%u min value is outside of the allowed memory range", regno);
	if (reg->umax >= (uint64_t)MAX_VAR_OFF)
		return vfy_err(env, -EACCES, idx, "R%u unbounded memory access, make sure to bounds check any such "
		               "access", regno);
	if (base + (int64_t)reg->umax + (int64_t)size > (int64_t)limit)
		return vfy_err(env, -EACCES, idx, "R%u max value is outside of the allowed memory range of %s (%llu "
		               "bytes): compare the index against the size first", regno, what,
		               (unsigned long long)limit);
	return 0;
}

static struct vfy_frame *stack_frame(struct vfy_env *env, const struct vfy_reg *reg)
{
	if (reg->frameno > env->cur->curframe)
		return NULL;
	return env->cur->frame[reg->frameno];
}

static int stack_touch(struct vfy_env *env, struct vfy_frame *f, int64_t lowest)
{
	uint32_t depth = (uint32_t)-lowest;
	if (vfy_stack_grow(f, depth))
		return -ENOMEM;
	struct vfy_subprog *sp = &env->subprogs[f->subprog];
	if (depth > sp->stack_depth)
		sp->stack_depth = depth;
	return 0;
}

/* Byte at fp+o (o < 0) of frame f. */
static inline uint8_t *slot_byte(struct vfy_frame *f, int64_t o, struct vfy_slot **slot)
{
	uint32_t spi = (uint32_t)((-o - 1) / VFY_SLOT);
	int64_t slot_lo = -(int64_t)(spi + 1) * VFY_SLOT;
	*slot = &f->stack[spi];
	return &f->stack[spi].type[o - slot_lo];
}

/* Turns a (partly overwritten) spill into plain initialized bytes. */
static void scrub_spill(struct vfy_slot *s)
{
	if (s->type[0] != SLOT_SPILL && s->type[7] != SLOT_SPILL)
		return;
	for (int i = 0; i < VFY_SLOT; i++)
		if (s->type[i] == SLOT_SPILL)
			s->type[i] = SLOT_MISC;
	memset(&s->spilled, 0, sizeof(s->spilled));
}

static void stack_write_bytes(struct vfy_frame *f, int64_t lo, int64_t hi, uint8_t kind)
{
	for (int64_t o = lo; o < hi; o++) {
		struct vfy_slot *s;
		slot_byte(f, o, &s);
		scrub_spill(s);
		*slot_byte(f, o, &s) = kind;
	}
}

static int stack_access(struct vfy_env *env, uint32_t idx, unsigned regno, const struct vfy_reg *reg, int32_t off,
                        unsigned size, bool write, const struct vfy_reg *val, struct vfy_reg *out, bool sext)
{
	struct vfy_frame *f = stack_frame(env, reg);
	if (!f)
		return vfy_bug(env, idx, "stack pointer into a frame that returned");
	if (!tnum_is_const(reg->var_off)) {
		int64_t lo = (int64_t)reg->off + off + reg->smin, hi = (int64_t)reg->off + off + reg->smax + size;
		if (reg->smin <= -MAX_VAR_OFF || reg->smax >= MAX_VAR_OFF || lo < -BPF_STACK_SIZE || hi > 0)
			return vfy_err(env, -EACCES, idx, "invalid variable-offset %s stack R%u var_off=(%lld..%lld)+%d size %u: "
			               "bound the offset to stay inside the 512-byte stack", write ? "write to" : "read from",
			               regno, (long long)reg->smin, (long long)reg->smax, reg->off + off, size);
		if (stack_touch(env, f, lo))
			return -ENOMEM;
		if (write) {
			stack_write_bytes(f, lo, hi, SLOT_MISC);
			return 0;
		}
		if (out)
			loaded_scalar(out, size, sext);
		return 0;
	}
	int64_t o = (int64_t)reg->off + off + (int64_t)reg->var_off.value;
	/* As Linux: stack accesses are aligned even with ANY_ALIGNMENT, since
	 * spill tracking works on whole 8-byte slots. */
	if (o % (int64_t)size)
		return vfy_err(env, -EACCES, idx, "misaligned stack access off (0x%llx; 0x0)+%d+%d size %u: align it to "
		               "its size", (unsigned long long)reg->var_off.value, reg->off, off, size);
	if (o < -BPF_STACK_SIZE || o + size > 0)
		return vfy_err(env, -EACCES, idx, "invalid %s stack R%u off=%lld size=%u: the stack is [r10-512, r10)",
		               write ? "write to" : "read from", regno, (long long)o, size);
	if (stack_touch(env, f, o))
		return -ENOMEM;
	struct vfy_slot *s;
	slot_byte(f, o, &s);
	bool whole = size == 8 && !(o % 8);
	if (write) {
		if (val && whole && val->type != VT_NOT_INIT) {
			s->spilled = *val;
			memset(s->type, SLOT_SPILL, VFY_SLOT);
			return 0;
		}
		bool zero = val && val->type == VT_SCALAR && tnum_equals_const(val->var_off, 0);
		stack_write_bytes(f, o, o + size, zero ? SLOT_ZERO : SLOT_MISC);
		return 0;
	}
	/* read: a fill through a pointer other than r10 is a use of these
	 * slots that precision (cfg.c) can't see before the walk; in a caller's
	 * frame, a use by the call that is running there. */
	if (regno != 10) {
		struct vfy_state *st = env->cur;
		uint32_t at = f == vfy_curframe(env) ? idx : (uint32_t)st->frame[f->frameno + 1]->callsite;
		vfy_need_precise_stack(env, at, o, o + size);
	}
	if (s->type[0] == SLOT_SPILL || s->type[7] == SLOT_SPILL) {
		if (whole) {
			if (out)
				*out = s->spilled;
			return 0;
		}
		if (s->spilled.type != VT_SCALAR)
			return vfy_err(env, -EACCES, idx, "invalid size of register fill: R%u reads %u bytes of a spilled "
			               "%s; read all 8 bytes", regno, size, vfy_type_name(&s->spilled));
		if (out)
			loaded_scalar(out, size, sext);
		return 0;
	}
	bool all_zero = true;
	for (int64_t b = o; b < o + size; b++) {
		struct vfy_slot *bs;
		uint8_t t = *slot_byte(f, b, &bs);
		/* As Linux for privileged programs (allow_uninit_stack): an
		 * uninitialized byte reads as an unknown value.  The stack is
		 * the program's own, so this is no memory-safety issue. */
		if (t != SLOT_ZERO)
			all_zero = false;
	}
	if (out) {
		if (all_zero)
			vfy_mark_const(out, 0);
		else
			loaded_scalar(out, size, sext);
	}
	return 0;
}

static int ctx_access(struct vfy_env *env, uint32_t idx, unsigned regno, const struct vfy_reg *reg, int32_t off,
                      unsigned size, bool write, struct vfy_reg *out, bool atomic, bool sext)
{
	const struct bpfvm_prog_type *t = env->ptype;
	if (!tnum_is_const(reg->var_off) || reg->var_off.value)
		return vfy_err(env, -EACCES, idx, "variable ctx access var_off disallowed (R%u): use a constant offset",
		               regno);
	if (atomic)
		return vfy_err(env, -EACCES, idx, "BPF_ATOMIC stores into R%u ctx is not allowed", regno);
	int64_t o = (int64_t)reg->off + off;
	for (uint32_t i = 0; t && i < t->nfields; i++) {
		const struct bpfvm_ctx_field *fd = &t->fields[i];
		if (o < fd->off || o + size > (int64_t)fd->off + fd->size)
			continue;
		if (!(fd->access & (write ? BPFVM_CTX_WRITE : BPFVM_CTX_READ)))
			break;
		struct vfy_insn_info *info = &env->info[idx];
		if (is_pkt_field(fd)) {
			/* as Linux: no sign-extending load of a packet pointer */
			if (write || sext || o != fd->off || size != fd->size)
				break;
			if (out) {
				enum vfy_type ty = (fd->access & BPFVM_CTX_PKT_DATA) ? VT_PKT :
				                   (fd->access & BPFVM_CTX_PKT_END) ? VT_PKT_END : VT_PKT_META;
				vfy_mark_ptr(env, out, ty);
			}
			if (info->ctx_field >= 0 && info->ctx_field != (int32_t)i)
				return vfy_err(env, -EACCES, idx, "same insn cannot be used with different ctx fields");
			info->ctx_field = (int32_t)i;
		} else if (out) {
			loaded_scalar(out, size, false);
		}
		return 0;
	}
	return vfy_err(env, -EACCES, idx, "invalid bpf_context access off=%lld size=%u (R%u): the program type '%s' "
	               "has no %s field there", (long long)o, size, regno, t ? t->name : "?", write ? "writable" : "readable");
}

int vfy_check_mem_access(struct vfy_env *env, uint32_t idx, unsigned regno, int32_t off, unsigned size,
                         bool write, const struct vfy_reg *val, struct vfy_reg *out, bool atomic, bool sext)
{
	struct vfy_reg *reg = &vfy_regs(env)[regno];
	int err;
	struct vfy_insn_info *info = &env->info[idx];

	/* The engines and the ctx rewrite rely on one pointer kind per insn. */
	if (reg->type == VT_CTX || reg->type != VT_SCALAR) {
		bool is_ctx = reg->type == VT_CTX;
		if (info->seen && info->ctx_access != is_ctx && (info->ctx_access || is_ctx))
			return vfy_err(env, -EACCES, idx, "same insn cannot be used with different pointers (ctx and %s)",
			               is_ctx ? "other memory" : vfy_type_name(reg));
	}
	if (reg->maybe_null)
		return vfy_err(env, -EACCES, idx, "R%u invalid mem access '%s': compare it with 0 first", regno,
		               vfy_type_name(reg));
	switch (reg->type) {
	case VT_STACK:
		return stack_access(env, idx, regno, reg, off, size, write, val, out, sext);
	case VT_CTX:
		info->ctx_access = true;
		return ctx_access(env, idx, regno, reg, off, size, write, out, atomic, sext);
	case VT_MAP_VALUE: {
		struct bpfvm_map *m = reg->map;
		if (write && (m->map_flags & BPFVM_F_RDONLY_PROG))
			return vfy_err(env, -EACCES, idx, "write into map forbidden, value_size=%u off=%d size=%u: the map "
			               "is read-only to programs", m->value_size, reg->off + off, size);
		if ((err = region_check(env, idx, regno, reg, off, size, m->value_size, "map value")))
			return err;
		if (m->spin_lock_off >= 0) {
			int64_t lo = (int64_t)reg->off + off + reg->smin, hi = (int64_t)reg->off + off + (int64_t)reg->umax + size;
			if (!tnum_is_const(reg->var_off) || lo == hi - size) {
				if (lo < m->spin_lock_off + 4 && hi > m->spin_lock_off)
					return vfy_err(env, -EACCES, idx, "bpf_spin_lock cannot be accessed directly by load/store "
					               "(R%u off %lld): use bpf_spin_lock/unlock", regno, (long long)lo);
			}
		}
		if (out)
			loaded_scalar(out, size, sext);
		return 0;
	}
	case VT_MEM:
		if (write && reg->rdonly)
			return vfy_err(env, -EACCES, idx, "cannot write into rdonly mem (R%u)", regno);
		if ((err = region_check(env, idx, regno, reg, off, size, reg->mem_size, "mem")))
			return err;
		if (out)
			loaded_scalar(out, size, sext);
		return 0;
	case VT_MAP_KEY:
		if (write)
			return vfy_err(env, -EACCES, idx, "R%u cannot write into map key", regno);
		if ((err = region_check(env, idx, regno, reg, off, size, reg->map->key_size, "map key")))
			return err;
		if (out)
			loaded_scalar(out, size, sext);
		return 0;
	case VT_PKT:
		if (atomic)
			return vfy_err(env, -EACCES, idx, "BPF_ATOMIC stores into R%u pkt is not allowed", regno);
		{
			/* range counts bytes from the shared (base + variable) point,
			 * as the fixed offsets do: reg->off is part of the access. */
			int64_t total = (int64_t)reg->off + off;
			if (reg->smin >= 0 && total >= 0 && total + (int64_t)size <= (int64_t)reg->range) {
				if (out)
					loaded_scalar(out, size, sext);
				return 0;
			}
		}
		return vfy_err(env, -EACCES, idx, "invalid access to packet, off=%d size=%u, R%u(id=%u,off=%d,r=%u): "
		               "compare the pointer plus the access size against data_end first", off, size, regno, reg->id,
		               reg->off, reg->range);
	case VT_SCALAR:
		return vfy_err(env, -EACCES, idx, "R%u invalid mem access 'scalar': the register holds a number, not "
		               "a pointer", regno);
	default:
		return vfy_err(env, -EACCES, idx, "R%u invalid mem access '%s'", regno, vfy_type_name(reg));
	}
}

int vfy_check_load_store(struct vfy_env *env, uint32_t idx)
{
	struct bpf_insn *in = &env->prog->insns[idx];
	enum vm_op op = env->ops[idx];
	const struct vm_opinfo *oi = &vm_opinfo[op];
	unsigned size = vm_op_access_size(op);
	struct vfy_reg *regs = vfy_regs(env);
	int err;

	switch (oi->fmt) {
	case FMT_LDX: {
		if ((err = vfy_check_reg_read(env, idx, in->src_reg)))
			return err;
		if (in->dst_reg == 10)
			return vfy_err(env, -EACCES, idx, "frame pointer is read only");
		struct vfy_reg v;
		bool sext = op == VM_OP_LDXSB || op == VM_OP_LDXSH || op == VM_OP_LDXSW;
		bool was_ctx = regs[in->src_reg].type == VT_CTX;
		if ((err = vfy_check_mem_access(env, idx, in->src_reg, in->off, size, false, NULL, &v, false, sext)))
			return err;
		regs = vfy_regs(env);
		regs[in->dst_reg] = v;
		if (was_ctx)
			env->info[idx].ctx_access = true;
		return 0;
	}
	case FMT_ST: {
		if ((err = vfy_check_reg_read(env, idx, in->dst_reg)))
			return err;
		struct vfy_reg v;
		vfy_mark_const(&v, (uint64_t)(int64_t)in->imm);
		if (size < 8)
			v.type = VT_NOT_INIT, v.var_off = tnum_const(in->imm & ((1ULL << (size * 8)) - 1));
		if (size < 8 && !(in->imm & ((1LL << (size * 8)) - 1)))
			vfy_mark_const(&v, 0), v.type = VT_SCALAR;
		return vfy_check_mem_access(env, idx, in->dst_reg, in->off, size, true, size < 8 && v.type != VT_SCALAR ? NULL : &v,
		                            NULL, false, false);
	}
	case FMT_STX: {
		if ((err = vfy_check_reg_read(env, idx, in->dst_reg)) || (err = vfy_check_reg_read(env, idx, in->src_reg)))
			return err;
		struct vfy_reg v = regs[in->src_reg];
		const struct vfy_reg *pv = &v;
		/* A store into the stack through another pointer than r10: which
		 * slot it fills is known only now, so the stored value counts
		 * (stores through r10 are followed by precision, cfg.c). */
		if (regs[in->dst_reg].type == VT_STACK && in->dst_reg != 10)
			vfy_need_precise(env, idx, in->src_reg);
		/* As Linux: part of a pointer is never spilled (those bytes
		 * would be a number made of an address). */
		if (regs[in->dst_reg].type == VT_STACK && size < 8 && vfy_is_ptr(&v))
			return vfy_err(env, -EACCES, idx, "invalid size of register spill: R%u is a pointer (%s), spill it "
			               "whole: 8 bytes to an 8-aligned slot", in->src_reg, vfy_type_name(&v));
		if (size < 8 && !(v.type == VT_SCALAR && tnum_equals_const(tnum_cast(v.var_off, (uint8_t)size), 0)))
			pv = NULL;
		return vfy_check_mem_access(env, idx, in->dst_reg, in->off, size, true, pv, NULL, false, false);
	}
	case FMT_ATOMIC: {
		if ((err = vfy_check_reg_read(env, idx, in->dst_reg)) || (err = vfy_check_reg_read(env, idx, in->src_reg)))
			return err;
		bool cmpxchg = op == VM_OP_ACMPXCHG32 || op == VM_OP_ACMPXCHG64;
		if (cmpxchg && (err = vfy_check_reg_read(env, idx, 0)))
			return err;
		/* As Linux: atomics are always aligned to their size. */
		{
			const struct vfy_reg *d = &regs[in->dst_reg];
			int64_t o = (int64_t)d->off + in->off;
			if (vfy_is_ptr(d) && (o % (int64_t)size || !tnum_is_aligned(d->var_off, size)))
				return vfy_err(env, -EACCES, idx, "misaligned %s access off %lld size %u: atomics must be "
				               "aligned to their size", vfy_type_name(d), (long long)o, size);
		}
		enum vfy_type dt = regs[in->dst_reg].type;
		if (dt == VT_CTX || dt == VT_PKT || dt == VT_PKT_META)
			return vfy_err(env, -EACCES, idx, "BPF_ATOMIC stores into R%u %s is not allowed", in->dst_reg,
			               vfy_type_name(&regs[in->dst_reg]));
		struct vfy_reg old;
		if ((err = vfy_check_mem_access(env, idx, in->dst_reg, in->off, size, false, NULL, &old, true, false)))
			return err;
		regs = vfy_regs(env);
		if ((err = vfy_check_mem_access(env, idx, in->dst_reg, in->off, size, true, NULL, NULL, true, false)))
			return err;
		regs = vfy_regs(env);
		/* The fetched value is what was there (a spilled value keeps its
		 * state, as Linux's load of a fill). */
		if (size < 8 && old.type == VT_SCALAR && !tnum_is_const(old.var_off))
			loaded_scalar(&old, size, false);
		if (cmpxchg)
			regs[0] = old;
		else if (in->imm & 1)
			regs[in->src_reg] = old;
		return 0;
	}
	default:
		return vfy_bug(env, idx, "not a load or store");
	}
}

int vfy_check_lddw(struct vfy_env *env, uint32_t idx)
{
	const struct bpf_insn *in = &env->insns[idx];
	struct vfy_reg *dst = &vfy_regs(env)[in->dst_reg];
	uint64_t imm64 = (uint32_t)in[0].imm | ((uint64_t)(uint32_t)in[1].imm << 32);
	struct bpfvm_map *map = env->prog->aux ? env->prog->aux[idx].map : NULL;

	if (in->dst_reg == 10)
		return vfy_err(env, -EACCES, idx, "frame pointer is read only");
	switch (in->src_reg) {
	case 0:
		vfy_mark_const(dst, imm64);
		return 0;
	case BPF_PSEUDO_MAP_FD:
	case BPF_PSEUDO_MAP_IDX:
		if (!map)
			return vfy_err(env, -EINVAL, idx, "fd %d is not pointing to valid bpf_map", in->imm);
		vfy_mark_ptr(env, dst, VT_MAP_PTR);
		dst->map = map;
		return 0;
	case BPF_PSEUDO_MAP_VALUE:
	case BPF_PSEUDO_MAP_IDX_VALUE: {
		if (!map)
			return vfy_err(env, -EINVAL, idx, "fd %d is not pointing to valid bpf_map", in->imm);
		if (map->type != BPFVM_MAP_ARRAY || !map->ops || !map->ops->lookup)
			return vfy_err(env, -EINVAL, idx, "only read from bpf_array is supported (direct value access)");
		uint32_t zero = 0;
		uint8_t *base = map->ops->lookup(map, &zero);
		if (!base || imm64 < (uintptr_t)base || imm64 - (uintptr_t)base >= map->value_size)
			return vfy_bug(env, idx, "direct value address outside its map value");
		vfy_mark_ptr(env, dst, VT_MAP_VALUE);
		dst->map = map;
		dst->off = (int32_t)(imm64 - (uintptr_t)base);
		return 0;
	}
	case BPF_PSEUDO_FUNC: {
		uint32_t start;
		if (env->prog->subprogs)
			start = ((const struct vm_subprog *)(uintptr_t)imm64)->start;
		else
			start = (uint32_t)((int64_t)idx + 1 + in->imm);
		int k = vfy_find_subprog(env, start);
		if (k < 0)
			return vfy_bug(env, idx, "callback is not a subprogram");
		vfy_mark_ptr(env, dst, VT_FUNC);
		dst->subprog = (uint32_t)k;
		return 0;
	}
	default:
		return vfy_err(env, -EINVAL, idx, "lddw src=%u is not supported in userspace", in->src_reg);
	}
}

int vfy_check_ld_abs(struct vfy_env *env, uint32_t idx)
{
	const struct bpf_insn *in = &env->insns[idx];
	struct vfy_reg *regs = vfy_regs(env);
	int err;
	if (env->cur->curframe)
		return vfy_err(env, -EINVAL, idx, "BPF_LD_[ABS|IND] cannot be used in subprograms");
	if (env->cur->lock_id)
		return vfy_err(env, -EINVAL, idx, "BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region");
	if ((err = vfy_check_reg_read(env, idx, 6)))
		return err;
	if (regs[6].type != VT_CTX && regs[6].type != VT_MEM)
		return vfy_err(env, -EINVAL, idx, "at the time of BPF_LD_ABS|IND R6 != pointer to skb: keep the context "
		               "in r6");
	if (vm_opinfo[env->ops[idx]].fmt == FMT_LDIND && (err = vfy_check_reg_read(env, idx, in->src_reg)))
		return err;
	for (unsigned r = 1; r <= 5; r++)
		regs[r] = (struct vfy_reg){ 0 };
	loaded_scalar(&regs[0], vm_op_access_size(env->ops[idx]), false);
	return 0;
}

/* Helper memory arguments. */
int vfy_check_helper_mem(struct vfy_env *env, uint32_t idx, unsigned regno, const struct vfy_reg *sizereg,
                         uint64_t size, bool write, bool uninit_ok)
{
	struct vfy_reg *reg = &vfy_regs(env)[regno];
	int err;
	if (sizereg) {
		unsigned sr = regno + 1;
		if (sizereg->type != VT_SCALAR)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=scalar (a size)", sr, vfy_type_name(sizereg));
		if (sizereg->smin < 0)
			return vfy_err(env, -EACCES, idx, "R%u min value is negative, either use unsigned or 'var &= const'", sr);
		if (sizereg->umax >= (uint64_t)MAX_VAR_OFF)
			return vfy_err(env, -EACCES, idx, "R%u unbounded memory access, use 'var &= const' or 'if (var < const)'",
			               sr);
		size = sizereg->umax;
	}
	if (!size)
		return 0;
	if (reg->type == VT_STACK) {
		struct vfy_frame *f = stack_frame(env, reg);
		if (!f)
			return vfy_bug(env, idx, "stack pointer into a frame that returned");
		int64_t lo = (int64_t)reg->off + reg->smin, hi = (int64_t)reg->off + reg->smax + (int64_t)size;
		if (!tnum_is_const(reg->var_off) && (reg->smin <= -MAX_VAR_OFF || reg->smax >= MAX_VAR_OFF))
			return vfy_err(env, -EACCES, idx, "R%u unbounded indirect variable offset stack access", regno);
		if (lo < -BPF_STACK_SIZE || hi > 0)
			return vfy_err(env, -EACCES, idx, "invalid indirect access to stack R%u off=%lld size=%llu: the "
			               "stack is [r10-512, r10)", regno, (long long)lo, (unsigned long long)size);
		if (stack_touch(env, f, lo))
			return -ENOMEM;
		(void)uninit_ok; /* uninitialized bytes read as unknown (see stack_access) */
		if (write)
			stack_write_bytes(f, lo, hi, SLOT_MISC);
		return 0;
	}
	if (reg->maybe_null)
		return vfy_err(env, -EACCES, idx, "R%u type=%s expected=memory: null-check it first", regno,
		               vfy_type_name(reg));
	switch (reg->type) {
	case VT_MAP_VALUE:
		if (write && (reg->map->map_flags & BPFVM_F_RDONLY_PROG))
			return vfy_err(env, -EACCES, idx, "write into map forbidden (R%u)", regno);
		return region_check(env, idx, regno, reg, 0, size, reg->map->value_size, "map value");
	case VT_MAP_KEY:
		if (write)
			return vfy_err(env, -EACCES, idx, "R%u cannot write into map key", regno);
		return region_check(env, idx, regno, reg, 0, size, reg->map->key_size, "map key");
	case VT_MEM:
		if (write && reg->rdonly)
			return vfy_err(env, -EACCES, idx, "cannot write into rdonly mem (R%u)", regno);
		return region_check(env, idx, regno, reg, 0, size, reg->mem_size, "mem");
	case VT_PKT:
		if (reg->smin < 0 || reg->off < 0 || (uint64_t)reg->off + size > reg->range)
			return vfy_err(env, -EACCES, idx, "invalid access to packet through R%u: compare against data_end "
			               "first", regno);
		(void)err;
		return 0;
	default:
		return vfy_err(env, -EACCES, idx, "R%u type=%s expected=fp, pkt, map_value, mem", regno, vfy_type_name(reg));
	}
}
