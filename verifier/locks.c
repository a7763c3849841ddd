/*
 * Spin locks and acquired references.
 *
 * The held lock is the triple (map, offset, id): id names the pointer the
 * lock was taken through (one map lookup, and its copies).  A value reached
 * by a direct value-address lddw (.bss/.data: single-element arrays) has
 * id 0 and is identified by its map alone, as Linux learned to do.
 */
#include "vfy.h"

#define VFY_GLOBAL_LOCK_ID UINT32_MAX

int vfy_spin_lock(struct vfy_env *env, uint32_t idx, const struct vfy_reg *r, bool lock)
{
	const char *fn = lock ? "bpf_spin_lock" : "bpf_spin_unlock";
	struct vfy_state *st = env->cur;

	if (r->type != VT_MAP_VALUE || r->maybe_null)
		return vfy_err(env, -EACCES, idx, "R1 type=%s expected=map_value: %s takes a pointer to the lock inside "
		               "a map value", vfy_type_name(r), fn);
	if (!tnum_is_const(r->var_off))
		return vfy_err(env, -EACCES, idx, "R1 doesn't have constant offset. bpf_spin_lock has to be at the "
		               "constant offset");
	if (r->map->spin_lock_off < 0)
		return vfy_err(env, -EINVAL, idx, "map '%s' has no valid bpf_spin_lock: declare one in the value type",
		               r->map->name);
	int64_t off = r->off + (int64_t)r->var_off.value;
	if (off != r->map->spin_lock_off)
		return vfy_err(env, -EINVAL, idx, "off %lld doesn't point to 'struct bpf_spin_lock' that is at %d",
		               (long long)off, r->map->spin_lock_off);
	uint32_t id = r->id ? r->id : VFY_GLOBAL_LOCK_ID;
	if (lock) {
		if (st->lock_id)
			return vfy_err(env, -EINVAL, idx, "Locking two bpf_spin_locks are not allowed: unlock the first "
			               "before taking another");
		st->lock_id = id;
		st->lock_map = r->map;
		st->lock_off = (int32_t)off;
		return 0;
	}
	if (!st->lock_id)
		return vfy_err(env, -EINVAL, idx, "bpf_spin_unlock without taking a lock");
	if (st->lock_id != id || st->lock_map != r->map || st->lock_off != off)
		return vfy_err(env, -EINVAL, idx, "bpf_spin_unlock of different lock: unlock through the same pointer "
		               "(same lookup) the lock was taken through");
	st->lock_id = 0;
	st->lock_map = NULL;
	st->lock_off = 0;
	return 0;
}

int vfy_ref_acquire(struct vfy_env *env, uint32_t idx, uint32_t *id)
{
	struct vfy_state *st = env->cur;
	if (st->nrefs == VFY_MAX_REFS)
		return vfy_err(env, -E2BIG, idx, "too many references held at once (at most %d)", VFY_MAX_REFS);
	*id = vfy_new_id(env);
	st->refs[st->nrefs].id = *id;
	st->refs[st->nrefs].insn = idx;
	st->nrefs++;
	return 0;
}

static void invalidate(struct vfy_reg *r, uint32_t ref)
{
	if (r->ref_obj_id == ref && r->type != VT_SCALAR && r->type != VT_NOT_INIT)
		vfy_mark_unknown(r);
}

int vfy_ref_release(struct vfy_env *env, uint32_t idx, uint32_t id)
{
	struct vfy_state *st = env->cur;
	for (uint32_t i = 0; i < st->nrefs; i++) {
		if (st->refs[i].id != id)
			continue;
		st->refs[i] = st->refs[--st->nrefs];
		/* Every copy of the released pointer is dead now. */
		for (uint32_t fr = 0; fr <= st->curframe; fr++) {
			struct vfy_frame *f = st->frame[fr];
			for (unsigned r = 0; r < BPF_MAX_REG; r++)
				invalidate(&f->regs[r], id);
			for (uint32_t s = 0; s < f->nslots; s++)
				if (f->stack[s].type[0] == SLOT_SPILL)
					invalidate(&f->stack[s].spilled, id);
		}
		return 0;
	}
	return vfy_err(env, -EINVAL, idx, "release of reference id=%u that is not held (already released?)", id);
}

int vfy_check_refs_at_exit(struct vfy_env *env, uint32_t idx, const char *what)
{
	struct vfy_state *st = env->cur;
	if (st->lock_id)
		return vfy_err(env, -EINVAL, idx, "bpf_spin_unlock is missing: %s with a lock held", what);
	if (st->nrefs)
		return vfy_err(env, -EINVAL, idx, "Unreleased reference id=%u alloc_insn=%u: %s without releasing what "
		               "insn %u acquired", st->refs[0].id, st->refs[0].insn, what, st->refs[0].insn);
	return 0;
}
