/*
 * Calls: helpers checked against their prototypes (bpfvm_helper_proto, the
 * same the loader registers), results typed, r1-r5 clobbered; bpf-to-bpf
 * calls with a frame each (at most 8); helper callbacks (bpf_loop,
 * bpf_for_each_map_elem) verified as frames that may run repeatedly.
 */
#include "vfy.h"

#include <stdlib.h>
#include <string.h>

struct call_meta {
	struct bpfvm_map *map;
	int mem_regno;         /* pending PTR_TO_MEM waiting for its size */
	bool mem_write, mem_uninit, mem_or_null_zero;
	bool key_const;        /* the map key is a known constant on the stack */
	uint64_t key;
	int func;              /* callback subprogram, -1 none */
	uint64_t alloc_size;
	bool have_alloc;
	uint32_t release_ref;
	struct vfy_reg ctx_arg; /* callback context argument */
};

static bool map_is_inner_holder(const struct bpfvm_map *m)
{
	return m->type == BPFVM_MAP_ARRAY_OF_MAPS || m->type == BPFVM_MAP_HASH_OF_MAPS;
}

/* Which helpers may take which maps (as Linux's check_map_func_compatibility). */
static int map_func_compat(struct vfy_env *env, uint32_t idx, const struct vm_helper *h, const struct bpfvm_map *m)
{
	uint32_t id = h->id, t = m->type;
	bool ok = true;
	switch (t) {
	case BPFVM_MAP_PROG_ARRAY:
		ok = h->kind == VM_HELPER_TAIL_CALL;
		break;
	case BPFVM_MAP_RINGBUF:
		ok = id == BPFVM_FN_ringbuf_output || id == BPFVM_FN_ringbuf_reserve || id == BPFVM_FN_ringbuf_query;
		break;
	case BPFVM_MAP_QUEUE: case BPFVM_MAP_STACK:
		ok = id == BPFVM_FN_map_push_elem || id == BPFVM_FN_map_pop_elem || id == BPFVM_FN_map_peek_elem;
		break;
	case BPFVM_MAP_ARRAY_OF_MAPS: case BPFVM_MAP_HASH_OF_MAPS:
		ok = id == BPFVM_FN_map_lookup_elem;
		break;
	default:
		break;
	}
	if (ok) {
		if (id == BPFVM_FN_map_lookup_percpu_elem)
			ok = t == BPFVM_MAP_PERCPU_ARRAY || t == BPFVM_MAP_PERCPU_HASH || t == BPFVM_MAP_LRU_PERCPU_HASH;
		else if (h->kind == VM_HELPER_TAIL_CALL)
			ok = t == BPFVM_MAP_PROG_ARRAY;
		else if (id == BPFVM_FN_ringbuf_output || id == BPFVM_FN_ringbuf_reserve || id == BPFVM_FN_ringbuf_query)
			ok = t == BPFVM_MAP_RINGBUF;
		else if (id == BPFVM_FN_map_push_elem || id == BPFVM_FN_map_pop_elem || id == BPFVM_FN_map_peek_elem)
			ok = t == BPFVM_MAP_QUEUE || t == BPFVM_MAP_STACK;
	}
	if (!ok)
		return vfy_err(env, -EINVAL, idx, "cannot pass map_type %u into func %s#%u", t, h->name, id);
	/* As Linux: a map programs may only read (.rodata) takes no helper
	 * that changes it. */
	if ((m->map_flags & BPFVM_F_RDONLY_PROG) &&
	    (id == BPFVM_FN_map_update_elem || id == BPFVM_FN_map_delete_elem || id == BPFVM_FN_map_push_elem ||
	     id == BPFVM_FN_map_pop_elem))
		return vfy_err(env, -EACCES, idx, "write into map forbidden: map '%s' is read-only to programs "
		               "(BPF_F_RDONLY_PROG), %s would change it", m->name, h->name);
	return 0;
}

static bool is_null_const(const struct vfy_reg *r)
{
	return r->type == VT_SCALAR && tnum_equals_const(r->var_off, 0);
}

static int check_arg(struct vfy_env *env, uint32_t idx, const struct vm_helper *h, unsigned regno, uint32_t kind,
                     struct call_meta *meta)
{
	struct vfy_reg *r = &vfy_regs(env)[regno];
	int err;

	if (kind == BPFVM_ARG_NONE)
		return 0;
	if ((err = vfy_check_reg_read(env, idx, regno)))
		return err;
	switch (kind) {
	case BPFVM_ARG_ANYTHING:
		return 0;
	case BPFVM_ARG_SCALAR:
		if (r->type != VT_SCALAR)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=scalar", regno, vfy_type_name(r));
		return 0;
	case BPFVM_ARG_PTR_TO_MEM_OR_NULL:
		if (is_null_const(r)) {
			meta->mem_regno = (int)regno;
			meta->mem_or_null_zero = true;
			return 0;
		}
		/* fall through */
	case BPFVM_ARG_PTR_TO_MEM:
	case BPFVM_ARG_PTR_TO_UNINIT_MEM:
		meta->mem_regno = (int)regno;
		meta->mem_or_null_zero = false;
		meta->mem_write = kind == BPFVM_ARG_PTR_TO_UNINIT_MEM;
		meta->mem_uninit = kind == BPFVM_ARG_PTR_TO_UNINIT_MEM;
		if (!vfy_is_ptr(r))
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=fp, pkt, map_value, mem", regno,
			               vfy_type_name(r));
		return 0;
	case BPFVM_ARG_CONST_SIZE:
	case BPFVM_ARG_CONST_SIZE_OR_ZERO: {
		if (meta->mem_regno < 0)
			return vfy_bug(env, idx, "helper proto has a size without a memory argument before it");
		if (r->type != VT_SCALAR)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=scalar (a size)", regno, vfy_type_name(r));
		if (meta->mem_or_null_zero) {
			if (!tnum_equals_const(r->var_off, 0))
				return vfy_err(env, -EACCES, idx, "R%u must be 0 when R%d is NULL", regno, meta->mem_regno);
			meta->mem_regno = -1;
			return 0;
		}
		if (kind == BPFVM_ARG_CONST_SIZE && r->umin == 0 && r->umax == 0)
			return vfy_err(env, -EACCES, idx, "invalid zero-sized read: R%u must be > 0", regno);
		if (kind == BPFVM_ARG_CONST_SIZE && r->umin == 0 && r->smin >= 0 && r->umax > 0) {
			/* as Linux: a size that may be 0 where 0 is not allowed */
			return vfy_err(env, -EACCES, idx, "R%u min value is zero: %s needs a size of at least 1; check "
			               "the size against 0 first", regno, h->name);
		}
		struct vfy_reg sz = *r;
		err = vfy_check_helper_mem(env, idx, (unsigned)meta->mem_regno, &sz, 0, meta->mem_write, meta->mem_uninit);
		meta->mem_regno = -1;
		return err;
	}
	case BPFVM_ARG_CONST_MAP_PTR:
		if (r->type != VT_MAP_PTR || r->maybe_null)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=map_ptr: pass a map (lddw of a map, or a "
			               "null-checked inner map)", regno, vfy_type_name(r));
		meta->map = r->map;
		return map_func_compat(env, idx, h, r->map);
	case BPFVM_ARG_PTR_TO_MAP_KEY:
	case BPFVM_ARG_PTR_TO_MAP_VALUE:
	case BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE: {
		if (!meta->map)
			return vfy_bug(env, idx, "helper proto has a key/value argument without a map before it");
		uint32_t sz = kind == BPFVM_ARG_PTR_TO_MAP_KEY ? meta->map->key_size : meta->map->value_size;
		if (kind != BPFVM_ARG_PTR_TO_MAP_KEY && map_is_inner_holder(meta->map))
			sz = 4;
		bool w = kind == BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE;
		if ((err = vfy_check_helper_mem(env, idx, regno, NULL, sz, w, w)))
			return err;
		if (kind == BPFVM_ARG_PTR_TO_MAP_KEY && h->id == BPFVM_FN_map_lookup_elem &&
		    (meta->map->type == BPFVM_MAP_ARRAY || meta->map->type == BPFVM_MAP_PERCPU_ARRAY))
			meta->key_const = vfy_stack_const_key(env, idx, r, sz, &meta->key);
		return 0;
	}
	case BPFVM_ARG_PTR_TO_CTX:
		if (r->type == VT_CTX || (env->ctx_is_mem && r->type == VT_PKT)) {
			if (r->off || !tnum_equals_const(r->var_off, 0))
				return vfy_err(env, -EACCES, idx, "dereference of modified ctx ptr R%u off=%d disallowed: pass "
				               "the context itself", regno, r->off);
			return 0;
		}
		return vfy_err(env, -EACCES, idx, "R%u type=%s expected=ctx", regno, vfy_type_name(r));
	case BPFVM_ARG_PTR_TO_STACK_OR_NULL:
		if (is_null_const(r)) {
			meta->ctx_arg = *r;
			return 0;
		}
		/* fall through */
	case BPFVM_ARG_PTR_TO_STACK:
		if (r->type != VT_STACK)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=fp", regno, vfy_type_name(r));
		meta->ctx_arg = *r;
		return 0;
	case BPFVM_ARG_PTR_TO_SPIN_LOCK:
		return vfy_spin_lock(env, idx, r, h->id == BPFVM_FN_spin_lock || !(h->proto.flags & BPFVM_HELPER_LOCK_SAFE));
	case BPFVM_ARG_PTR_TO_FUNC:
		if (r->type != VT_FUNC)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=func: pass a callback (lddw src=4)", regno,
			               vfy_type_name(r));
		meta->func = (int)r->subprog;
		return 0;
	case BPFVM_ARG_PTR_TO_ALLOC_MEM:
		if (r->type != VT_MEM || r->maybe_null || !r->ref_obj_id)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=alloc_mem (the non-NULL result of the "
			               "acquiring helper)", regno, vfy_type_name(r));
		if (r->off || !tnum_equals_const(r->var_off, 0))
			return vfy_err(env, -EACCES, idx, "R%u must point to the start of the allocated memory", regno);
		meta->release_ref = r->ref_obj_id;
		return 0;
	case BPFVM_ARG_CONST_ALLOC_SIZE_OR_ZERO:
		if (r->type != VT_SCALAR || !tnum_is_const(r->var_off))
			return vfy_err(env, -EACCES, idx, "R%u is not a known constant: the allocation size must be "
			               "constant", regno);
		meta->alloc_size = r->var_off.value;
		meta->have_alloc = true;
		return 0;
	case BPFVM_ARG_PTR_TO_CONST_STR:
		return vfy_check_helper_mem(env, idx, regno, NULL, 1, false, false);
	case BPFVM_ARG_PTR_TO_LONG: {
		/* As Linux's ARG_PTR_TO_LONG: the helper stores a result there, so
		 * the bytes may be uninitialized before and are written after;
		 * the store is a plain 8-byte one, hence always 8-aligned. */
		if (r->type != VT_STACK && r->type != VT_MAP_VALUE && r->type != VT_PKT && r->type != VT_MEM)
			return vfy_err(env, -EACCES, idx, "R%u type=%s expected=fp, pkt, map_value, mem (where the helper "
			               "stores a long)", regno, vfy_type_name(r));
		if ((err = vfy_check_helper_mem(env, idx, regno, NULL, 8, true, true)))
			return err;
		int64_t o = (int64_t)r->off + (int64_t)r->var_off.value;
		if (o % 8 || !tnum_is_aligned(r->var_off, 8))
			return vfy_err(env, -EACCES, idx, "misaligned %s access off (0x%llx; 0x%llx)+%d size 8: R%u must "
			               "be 8-byte aligned for %s's result", r->type == VT_STACK ? "stack" : vfy_type_name(r),
			               (unsigned long long)r->var_off.value, (unsigned long long)r->var_off.mask, r->off,
			               regno, h->name);
		return 0;
	}
	default:
		return vfy_err(env, -EINVAL, idx, "helper %s: unknown argument kind %u in its prototype", h->name, kind);
	}
}

/* Enters a callback frame for helper h at the callback subprogram. */
static int enter_callback(struct vfy_env *env, uint32_t idx, const struct vm_helper *h, const struct call_meta *meta)
{
	struct vfy_state *st = env->cur;
	if (st->curframe + 1 >= BPF_MAX_CALL_FRAMES)
		return vfy_err(env, -E2BIG, idx, "the call stack of %u frames is too deep (at most %d)", st->curframe + 2,
		               BPF_MAX_CALL_FRAMES);
	uint32_t k = (uint32_t)meta->func;
	struct vfy_frame *f = vfy_frame_new(st->curframe + 1, (int32_t)idx, k);
	if (!f)
		return -ENOMEM;
	env->subprogs[k].is_callback = true;
	f->in_callback = true;
	f->cb_helper = h->id;
	struct vfy_reg *r = f->regs;
	if (h->id == BPFVM_FN_loop) {
		vfy_mark_unknown(&r[1]);
		r[1].umax = UINT32_MAX - 1;
		vfy_bounds_sync(&r[1]);
		r[2] = meta->ctx_arg;
	} else if (h->id == BPFVM_FN_for_each_map_elem && meta->map) {
		vfy_mark_ptr(env, &r[1], VT_MAP_PTR);
		r[1].map = meta->map;
		vfy_mark_ptr(env, &r[2], VT_MAP_KEY);
		r[2].map = meta->map;
		vfy_mark_ptr(env, &r[3], VT_MAP_VALUE);
		r[3].map = meta->map;
		r[4] = meta->ctx_arg;
	} else {
		for (unsigned i = 1; i <= 5; i++)
			vfy_mark_unknown(&r[i]);
	}
	vfy_mark_ptr(env, &r[10], VT_STACK);
	r[10].frameno = (uint8_t)f->frameno;
	memcpy(f->cb_args, r, sizeof(f->cb_args));
	st->curframe++;
	st->frame[st->curframe] = f;
	return 0;
}

static void clobber_caller_regs(struct vfy_reg *regs)
{
	for (unsigned r = 1; r <= 5; r++)
		regs[r] = (struct vfy_reg){ 0 };
}

int vfy_check_helper_call(struct vfy_env *env, uint32_t idx, uint32_t *next)
{
	const struct vm_helper *h = env->prog->aux ? env->prog->aux[idx].helper : NULL;
	struct call_meta meta = { .mem_regno = -1, .func = -1 };
	int err;

	*next = idx + 1;
	if (!h)
		return vfy_err(env, -EINVAL, idx, "unknown func %d: no helper is registered under that id", env->insns[idx].imm);
	if (env->cur->lock_id && !(h->proto.flags & BPFVM_HELPER_LOCK_SAFE) && h->id != BPFVM_FN_spin_unlock)
		return vfy_err(env, -EINVAL, idx, "function calls are not allowed while holding a lock (%s): unlock first",
		               h->name);
	for (unsigned i = 0; i < 5; i++)
		if ((err = check_arg(env, idx, h, i + 1, h->proto.args[i], &meta)))
			return err;
	if (meta.mem_regno >= 0 && !meta.mem_or_null_zero)
		return vfy_bug(env, idx, "helper proto has a memory argument without a size after it");

	struct vfy_state *st = env->cur;
	struct vfy_reg *regs = vfy_regs(env);
	if (h->kind == VM_HELPER_TAIL_CALL) {
		if ((err = vfy_check_refs_at_exit(env, idx, "tail call")))
			return err;
		struct vfy_insn_info *info = &env->info[idx];
		const struct vfy_reg *ix = &regs[3];
		bool c = ix->type == VT_SCALAR && tnum_is_const(ix->var_off);
		if (!info->tail_seen) {
			info->tail_seen = true;
			info->tail_const = c;
			info->tail_index = c ? (uint32_t)ix->var_off.value : 0;
			info->tail_map = meta.map;
		} else {
			if (!c || info->tail_index != (uint32_t)ix->var_off.value)
				info->tail_const = false;
			if (info->tail_map != meta.map)
				info->tail_map_multi = true;
		}
		/* remember every prog array this program may tail-call through */
		bool have = false;
		for (uint32_t i = 0; i < env->ntail_maps; i++)
			have |= env->tail_maps[i] == meta.map;
		if (!have) {
			struct bpfvm_map **m = realloc(env->tail_maps, (env->ntail_maps + 1) * sizeof(*m));
			if (!m)
				return -ENOMEM;
			env->tail_maps = m;
			env->tail_maps[env->ntail_maps++] = meta.map;
		}
		env->subprogs[vfy_curframe(env)->subprog].has_tail_call = true;
	}
	if (h->proto.flags & BPFVM_HELPER_RELEASE) {
		if (!meta.release_ref)
			return vfy_err(env, -EINVAL, idx, "%s releases a reference but none was passed", h->name);
		if ((err = vfy_ref_release(env, idx, meta.release_ref)))
			return err;
	}

	/* The result. */
	struct vfy_reg r0;
	switch (h->proto.ret) {
	case BPFVM_RET_VOID:
		r0 = (struct vfy_reg){ 0 };
		break;
	case BPFVM_RET_MAP_VALUE_OR_NULL:
		if (!meta.map)
			return vfy_bug(env, idx, "helper returns a map value but takes no map");
		if (map_is_inner_holder(meta.map)) {
			if (!meta.map->inner_meta)
				return vfy_err(env, -EINVAL, idx, "map-in-map '%s' has no inner map template", meta.map->name);
			vfy_mark_ptr(env, &r0, VT_MAP_PTR);
			r0.map = meta.map->inner_meta;
		} else {
			vfy_mark_ptr(env, &r0, VT_MAP_VALUE);
			r0.map = meta.map;
		}
		/* As Linux: an array lookup with a constant key below
		 * max_entries can't fail, so it needs no null check.  An inner
		 * array has the template's type and max_entries (unless
		 * BPF_F_INNER_MAP, then only key 0 is sure).  The value still
		 * gets an id: it names the value for spin locks, and two inner
		 * arrays with one template are different values (id 0 would
		 * make them the same lock). */
		r0.maybe_null = !(meta.key_const && (meta.key == 0 || (meta.key < meta.map->max_entries &&
		                                                        !(meta.map->map_flags & BPFVM_F_INNER_MAP))));
		r0.id = vfy_new_id(env);
		break;
	case BPFVM_RET_ALLOC_MEM_OR_NULL:
		if (!meta.have_alloc)
			return vfy_bug(env, idx, "helper returns memory but takes no allocation size");
		vfy_mark_ptr(env, &r0, VT_MEM);
		r0.mem_size = (uint32_t)meta.alloc_size;
		r0.maybe_null = true;
		r0.id = vfy_new_id(env);
		break;
	default:
		vfy_mark_unknown(&r0);
		break;
	}
	if (h->proto.flags & BPFVM_HELPER_ACQUIRE) {
		if (!vfy_is_ptr(&r0))
			return vfy_err(env, -EINVAL, idx, "helper %s acquires a reference but returns no pointer", h->name);
		if ((err = vfy_ref_acquire(env, idx, &r0.ref_obj_id)))
			return err;
		r0.id = r0.ref_obj_id;
	}
	regs = vfy_regs(env);
	clobber_caller_regs(regs);
	regs[0] = r0;
	(void)st;

	if (meta.func >= 0) {
		vfy_mark_unknown(&regs[0]); /* what the helper returns after its callbacks */
		if ((err = enter_callback(env, idx, h, &meta)))
			return err;
		*next = env->subprogs[meta.func].start;
	}
	return 0;
}

int vfy_check_subprog_call(struct vfy_env *env, uint32_t idx, uint32_t *next)
{
	struct vfy_state *st = env->cur;
	int64_t t = (int64_t)idx + 1 + env->insns[idx].imm;
	int k = vfy_find_subprog(env, (uint32_t)t);
	if (k < 0)
		return vfy_bug(env, idx, "call target is not a subprogram");
	if (st->lock_id)
		return vfy_err(env, -EINVAL, idx, "function calls are not allowed while holding a lock");
	if (st->curframe + 1 >= BPF_MAX_CALL_FRAMES)
		return vfy_err(env, -E2BIG, idx, "the call stack of %u frames is too deep (at most %d)", st->curframe + 2,
		               BPF_MAX_CALL_FRAMES);
	struct vfy_frame *f = vfy_frame_new(st->curframe + 1, (int32_t)idx, (uint32_t)k);
	if (!f)
		return -ENOMEM;
	struct vfy_reg *caller = vfy_regs(env);
	for (unsigned r = 1; r <= 5; r++)
		f->regs[r] = caller[r];
	vfy_mark_ptr(env, &f->regs[10], VT_STACK);
	f->regs[10].frameno = (uint8_t)f->frameno;
	st->curframe++;
	st->frame[st->curframe] = f;
	*next = (uint32_t)t;
	return 0;
}

/* Caller stack slots a callback may change on a later run: forget their
 * scalar values so repeated runs reach a fixpoint quickly. */
static void widen_callers(struct vfy_state *st)
{
	for (uint32_t fr = 0; fr < st->curframe; fr++) {
		struct vfy_frame *f = st->frame[fr];
		for (uint32_t s = 0; s < f->nslots; s++) {
			struct vfy_slot *sl = &f->stack[s];
			if (sl->type[0] == SLOT_SPILL && sl->spilled.type == VT_SCALAR)
				vfy_mark_unknown(&sl->spilled);
			for (int i = 0; i < VFY_SLOT; i++)
				if (sl->type[i] == SLOT_ZERO)
					sl->type[i] = SLOT_MISC;
			sl->key4_set = false;
		}
	}
}

int vfy_check_subprog_exit(struct vfy_env *env, uint32_t idx, uint32_t *next)
{
	struct vfy_state *st = env->cur;
	struct vfy_frame *callee = st->frame[st->curframe];
	struct vfy_reg r0 = callee->regs[0];
	int err;

	/* As Linux: a subprogram may return nothing (void); the caller's
	 * r0 is then uninitialized. */
	if (r0.type == VT_STACK)
		return vfy_err(env, -EACCES, idx, "cannot return stack pointer to the caller: its frame is gone after "
		               "the return");
	if (callee->in_callback) {
		if (r0.type == VT_NOT_INIT)
			return vfy_err(env, -EACCES, idx, "R0 !read_ok: a callback must return 0 or 1");
		if (r0.type != VT_SCALAR || r0.umax > 1 || r0.smin < 0)
			return vfy_err(env, -EACCES, idx, "At callback return the register R0 has value (%lld..%lld) should "
			               "have been in (0x0; 0x1): return 0 or 1", (long long)r0.smin, (long long)r0.smax);
		/* The helper may call the callback again: explore that too,
		 * from the same arguments and the callers' state so far. */
		struct vfy_state *again = vfy_state_copy(env, st);
		if (!again)
			return -ENOMEM;
		widen_callers(again);
		again->cb_iter++;
		struct vfy_frame *af = again->frame[again->curframe];
		struct vfy_reg fp = af->regs[10];
		memset(af->regs, 0, sizeof(af->regs));
		memcpy(af->regs, af->cb_args, sizeof(af->cb_args));
		af->regs[10] = fp;
		free(af->stack);
		af->stack = NULL;
		af->nslots = 0;
		again->insn_idx = env->subprogs[af->subprog].start;
		if ((err = vfy_push_branch(env, again))) {
			vfy_state_free(env, again);
			return err;
		}
	}
	/* Pointers into the returning frame's stack left in a caller (spilled
	 * or in a register of an outer frame) would dangle: they become plain
	 * numbers. */
	for (uint32_t fr = 0; fr < st->curframe; fr++) {
		struct vfy_frame *f = st->frame[fr];
		for (unsigned r = 0; r < BPF_MAX_REG; r++)
			if (f->regs[r].type == VT_STACK && f->regs[r].frameno >= callee->frameno)
				vfy_mark_unknown(&f->regs[r]);
		for (uint32_t s = 0; s < f->nslots; s++)
			if (f->stack[s].type[0] == SLOT_SPILL && f->stack[s].spilled.type == VT_STACK &&
			    f->stack[s].spilled.frameno >= callee->frameno)
				vfy_mark_unknown(&f->stack[s].spilled);
	}
	uint32_t cs = (uint32_t)callee->callsite;
	bool cb = callee->in_callback;
	vfy_frame_free(callee);
	st->frame[st->curframe] = NULL;
	st->curframe--;
	struct vfy_reg *regs = vfy_regs(env);
	clobber_caller_regs(regs);
	if (cb)
		vfy_mark_unknown(&regs[0]);
	else
		regs[0] = r0;
	(void)err;
	*next = cs + 1;
	return 0;
}

int vfy_check_main_exit(struct vfy_env *env, uint32_t idx)
{
	struct vfy_reg *regs = vfy_regs(env);
	int err;
	if (regs[0].type == VT_NOT_INIT)
		return vfy_err(env, -EACCES, idx, "R0 !read_ok: set a return value before exit");
	if ((err = vfy_check_refs_at_exit(env, idx, "exit")))
		return err;
	return 0;
}
