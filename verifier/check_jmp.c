/*
 * Conditional jumps: decide the branch when the abstract values allow it,
 * otherwise explore both with each copy refined by what the comparison
 * implies (ranges for scalars, non-NULL for checked pointers, proven
 * packet ranges for comparisons with data_end).
 */
#include "vfy.h"

static void mark_one(struct vfy_reg *r, uint32_t id, bool is_null)
{
	if (!r->maybe_null || r->id != id)
		return;
	if (is_null) {
		vfy_mark_const(r, 0);
		return;
	}
	r->maybe_null = false;
	/* The id stays where it names a lock-holding value (locks.c). */
	if (r->type == VT_MAP_VALUE && r->map && r->map->spin_lock_off < 0 && !r->ref_obj_id)
		r->id = 0;
}

void vfy_mark_ptr_or_null(struct vfy_env *env, struct vfy_state *st, uint32_t id, bool is_null)
{
	(void)env;
	for (uint32_t fr = 0; fr <= st->curframe; fr++) {
		struct vfy_frame *f = st->frame[fr];
		for (unsigned r = 0; r < BPF_MAX_REG; r++)
			mark_one(&f->regs[r], id, is_null);
		for (uint32_t s = 0; s < f->nslots; s++)
			if (f->stack[s].type[0] == SLOT_SPILL)
				mark_one(&f->stack[s].spilled, id, is_null);
	}
	/* A NULL result acquired nothing. */
	if (is_null)
		for (uint32_t i = 0; i < st->nrefs; i++)
			if (st->refs[i].id == id) {
				st->refs[i] = st->refs[--st->nrefs];
				break;
			}
}

/* Copies the refined bounds of a scalar to every copy sharing its id. */
static void find_equal_scalars(struct vfy_state *st, const struct vfy_reg *known)
{
	if (!known->id || known->type != VT_SCALAR)
		return;
	for (uint32_t fr = 0; fr <= st->curframe; fr++) {
		struct vfy_frame *f = st->frame[fr];
		for (unsigned r = 0; r < BPF_MAX_REG; r++)
			if (f->regs[r].type == VT_SCALAR && f->regs[r].id == known->id)
				f->regs[r] = *known;
		for (uint32_t s = 0; s < f->nslots; s++)
			if (f->stack[s].type[0] == SLOT_SPILL && f->stack[s].spilled.type == VT_SCALAR &&
			    f->stack[s].spilled.id == known->id)
				f->stack[s].spilled = *known;
	}
}

static void set_pkt_range(struct vfy_state *st, const struct vfy_reg *pkt)
{
	if (pkt->off < 0 || pkt->umax > 0xffff)
		return;
	uint32_t range = (uint32_t)pkt->off;
	for (uint32_t fr = 0; fr <= st->curframe; fr++) {
		struct vfy_frame *f = st->frame[fr];
		for (unsigned r = 0; r < BPF_MAX_REG; r++)
			if (f->regs[r].type == pkt->type && f->regs[r].id == pkt->id && f->regs[r].range < range)
				f->regs[r].range = range;
		for (uint32_t s = 0; s < f->nslots; s++) {
			struct vfy_reg *sp = &f->stack[s].spilled;
			if (f->stack[s].type[0] == SLOT_SPILL && sp->type == pkt->type && sp->id == pkt->id &&
			    sp->range < range)
				sp->range = range;
		}
	}
}

/* pkt OP pkt_end: in which branch (1 taken, 0 fall-through) is the packet
 * proven to extend past the pointer?  -1: neither. */
static int pkt_good_branch(uint8_t op, bool pkt_is_dst)
{
	if (!pkt_is_dst)
		op = vfy_jmp_swap(op);
	switch (op) {
	case 0x20: return 0; /* pkt > end: fall-through has pkt <= end */
	case 0x30: return 0; /* pkt >= end: fall-through has pkt < end */
	case 0xa0: return 1; /* pkt < end */
	case 0xb0: return 1; /* pkt <= end */
	default: return -1;
	}
}

int vfy_check_cond_jmp(struct vfy_env *env, uint32_t idx, uint32_t *next)
{
	const struct bpf_insn *in = &env->insns[idx];
	enum vm_op vop = env->ops[idx];
	const struct vm_opinfo *oi = &vm_opinfo[vop];
	uint8_t op = oi->code & 0xf0;
	bool is32 = vm_op_is_jmp32(vop), is_x = oi->fmt == FMT_JCOND_X;
	uint32_t target = (uint32_t)((int64_t)idx + 1 + in->off);
	struct vfy_reg *regs = vfy_regs(env);
	int err;

	if ((err = vfy_check_reg_read(env, idx, in->dst_reg)) || (is_x && (err = vfy_check_reg_read(env, idx, in->src_reg))))
		return err;
	struct vfy_reg *dst = &regs[in->dst_reg];
	struct vfy_reg srcv;
	if (is_x)
		srcv = regs[in->src_reg];
	else
		vfy_mark_const(&srcv, is32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm);

	int taken = -1;
	bool src_const = srcv.type == VT_SCALAR && tnum_is_const(srcv.var_off);
	/* As Linux: only a constant source decides a branch (a constant
	 * destination still refines the source below). */
	if (dst->type == VT_SCALAR && src_const) {
		taken = vfy_branch_taken(dst, srcv.var_off.value, op, is32);
	} else if (vfy_is_ptr(dst) && !dst->maybe_null && src_const && srcv.var_off.value == 0 && !is32 &&
	           (dst->type == VT_MAP_VALUE || dst->type == VT_MAP_KEY)) {
		/* as Linux's reg_type_not_null: only these are known non-NULL */
		if (op == 0x10)
			taken = 0;
		else if (op == 0x50)
			taken = 1;
	}
	if (taken == 1) {
		*next = target;
		return 0;
	}
	if (taken == 0) {
		*next = idx + 1;
		return 0;
	}

	/* Both ways: the taken copy is queued, the fall-through continues. */
	struct vfy_state *other = vfy_state_copy(env, env->cur);
	if (!other)
		return -ENOMEM;
	other->insn_idx = target;
	struct vfy_state *cur = env->cur;
	struct vfy_reg *tregs = other->frame[other->curframe]->regs;
	struct vfy_reg *fregs = regs;
	bool t_dead = false, f_dead = false;

	if (dst->type == VT_SCALAR && srcv.type == VT_SCALAR) {
		if (src_const) {
			vfy_refine_const(&tregs[in->dst_reg], &fregs[in->dst_reg], srcv.var_off.value, op, is32);
			t_dead = !vfy_bounds_sane(&tregs[in->dst_reg]);
			f_dead = !vfy_bounds_sane(&fregs[in->dst_reg]);
			find_equal_scalars(other, &tregs[in->dst_reg]);
			find_equal_scalars(cur, &fregs[in->dst_reg]);
		} else if (tnum_is_const(dst->var_off)) {
			vfy_refine_const(&tregs[in->src_reg], &fregs[in->src_reg], dst->var_off.value, vfy_jmp_swap(op), is32);
			t_dead = !vfy_bounds_sane(&tregs[in->src_reg]);
			f_dead = !vfy_bounds_sane(&fregs[in->src_reg]);
			find_equal_scalars(other, &tregs[in->src_reg]);
			find_equal_scalars(cur, &fregs[in->src_reg]);
		} else if (op == 0x10 && !is32) {
			vfy_refine_eq(&tregs[in->dst_reg], &tregs[in->src_reg]);
			t_dead = !vfy_bounds_sane(&tregs[in->dst_reg]);
			find_equal_scalars(other, &tregs[in->dst_reg]);
			find_equal_scalars(other, &tregs[in->src_reg]);
		} else if (op == 0x50 && !is32) {
			vfy_refine_eq(&fregs[in->dst_reg], &fregs[in->src_reg]);
			f_dead = !vfy_bounds_sane(&fregs[in->dst_reg]);
			find_equal_scalars(cur, &fregs[in->dst_reg]);
			find_equal_scalars(cur, &fregs[in->src_reg]);
		}
	} else if (dst->maybe_null && src_const && srcv.var_off.value == 0 && !is32 && (op == 0x10 || op == 0x50)) {
		uint32_t id = dst->id;
		/* jeq: taken branch is the NULL one */
		vfy_mark_ptr_or_null(env, op == 0x10 ? other : cur, id, true);
		vfy_mark_ptr_or_null(env, op == 0x10 ? cur : other, id, false);
	} else if (is_x && !is32) {
		const struct vfy_reg *s = &srcv;
		int good = -1;
		const struct vfy_reg *pkt = NULL;
		if ((dst->type == VT_PKT || dst->type == VT_PKT_META) && s->type == VT_PKT_END) {
			good = pkt_good_branch(op, true);
			pkt = dst;
		} else if (dst->type == VT_PKT_END && (s->type == VT_PKT || s->type == VT_PKT_META)) {
			good = pkt_good_branch(op, false);
			pkt = s;
		}
		if (good >= 0) {
			struct vfy_reg p = *pkt;
			set_pkt_range(good ? other : cur, &p);
		}
	}

	if (t_dead) {
		vfy_state_free(env, other);
		if (f_dead)
			return vfy_bug(env, idx, "both branches infeasible");
		*next = idx + 1;
		return 0;
	}
	if (f_dead) {
		/* continue on the taken side only */
		struct vfy_state *old = env->cur;
		other->parent = old->parent;
		env->cur = other;
		vfy_state_free(env, old);
		*next = target;
		return 0;
	}
	if ((err = vfy_push_branch(env, other))) {
		vfy_state_free(env, other);
		return err;
	}
	*next = idx + 1;
	return 0;
}
