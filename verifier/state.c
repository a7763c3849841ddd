/*
 * Verifier states: allocation, copies, and pruning.
 *
 * Pruning (as Linux's is_state_visited): at a prune point the current state
 * is compared with the states already explored from there.  If an explored
 * state whose every path finished is at least as general as the current
 * one, the current path is safe and is dropped.  "At least as general" is
 * states_equal below: registers that are live (static liveness, cfg.c) and
 * stack bytes the old path initialised must each describe a superset of the
 * current values, except that scalars of the current frame whose values
 * nothing later depends on match any scalar (precision, cfg.c).
 *
 * A stored state still being explored (branches > 0) lies on the current
 * path: meeting an identical state there again means the loop makes no
 * progress, and the program is rejected as an infinite loop.
 */
#include "vfy.h"

#include <stdlib.h>
#include <string.h>

struct vfy_frame *vfy_frame_new(uint32_t frameno, int32_t callsite, uint32_t subprog)
{
	struct vfy_frame *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->frameno = frameno;
	f->callsite = callsite;
	f->subprog = subprog;
	return f;
}

void vfy_frame_free(struct vfy_frame *f)
{
	if (!f)
		return;
	free(f->stack);
	free(f);
}

static struct vfy_frame *frame_copy(const struct vfy_frame *src)
{
	struct vfy_frame *f = malloc(sizeof(*f));
	if (!f)
		return NULL;
	*f = *src;
	f->stack = NULL;
	if (src->nslots) {
		f->stack = malloc(src->nslots * sizeof(*f->stack));
		if (!f->stack) {
			free(f);
			return NULL;
		}
		memcpy(f->stack, src->stack, src->nslots * sizeof(*f->stack));
	}
	return f;
}

int vfy_stack_grow(struct vfy_frame *f, uint32_t bytes)
{
	uint32_t n = (bytes + VFY_SLOT - 1) / VFY_SLOT;
	if (n <= f->nslots)
		return 0;
	struct vfy_slot *s = realloc(f->stack, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + f->nslots, 0, (n - f->nslots) * sizeof(*s));
	f->stack = s;
	f->nslots = n;
	return 0;
}

struct vfy_state *vfy_state_new(struct vfy_env *env)
{
	struct vfy_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	env->states_cur++;
	if (env->states_cur > env->states_peak)
		env->states_peak = env->states_cur;
	return st;
}

void vfy_state_free(struct vfy_env *env, struct vfy_state *st)
{
	if (!st)
		return;
	for (uint32_t i = 0; i <= st->curframe && i < BPF_MAX_CALL_FRAMES; i++)
		vfy_frame_free(st->frame[i]);
	free(st);
	env->states_cur--;
}

struct vfy_state *vfy_state_copy(struct vfy_env *env, const struct vfy_state *src)
{
	struct vfy_state *st = vfy_state_new(env);
	if (!st)
		return NULL;
	*st = *src;
	memset(st->frame, 0, sizeof(st->frame));
	for (uint32_t i = 0; i <= src->curframe; i++) {
		st->frame[i] = frame_copy(src->frame[i]);
		if (!st->frame[i]) {
			st->curframe = i ? i - 1 : 0;
			if (!i)
				st->frame[0] = NULL;
			vfy_state_free(env, st);
			return NULL;
		}
	}
	return st;
}

int vfy_push_branch(struct vfy_env *env, struct vfy_state *st)
{
	if (env->nqueue == env->queue_cap) {
		uint32_t cap = env->queue_cap ? env->queue_cap * 2 : 64;
		struct vfy_state **q = realloc(env->queue, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		env->queue = q;
		env->queue_cap = cap;
	}
	if (st->parent)
		st->parent->branches++;
	env->queue[env->nqueue++] = st;
	return 0;
}

void vfy_path_done(struct vfy_env *env, struct vfy_state *st)
{
	(void)env;
	for (struct vfy_state *p = st->parent; p; p = p->parent)
		if (--p->branches)
			break;
}

/* ---- states_equal ---- */

#define IDMAP_MAX (BPF_MAX_CALL_FRAMES * (BPF_MAX_REG + BPF_STACK_SIZE / VFY_SLOT) + VFY_MAX_REFS + 1)

struct idmap {
	uint32_t n;
	uint32_t old[IDMAP_MAX], cur[IDMAP_MAX];
};

/* Ids are names: the old state's id must always correspond to the same
 * current id (and vice versa for the ones seen so far). */
static bool check_ids(struct idmap *m, uint32_t old, uint32_t cur)
{
	if (!old)
		return true;
	if (!cur)
		return false;
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->old[i] == old)
			return m->cur[i] == cur;
		if (m->cur[i] == cur)
			return false;
	}
	if (m->n == IDMAP_MAX)
		return false;
	m->old[m->n] = old;
	m->cur[m->n] = cur;
	m->n++;
	return true;
}

static bool range_within(const struct vfy_reg *o, const struct vfy_reg *c)
{
	return o->umin <= c->umin && o->umax >= c->umax && o->smin <= c->smin && o->smax >= c->smax &&
	       o->u32_min <= c->u32_min && o->u32_max >= c->u32_max &&
	       o->s32_min <= c->s32_min && o->s32_max >= c->s32_max;
}

/* Does old (explored, proven safe) describe every value cur may hold? */
static bool regsafe(const struct vfy_reg *o, const struct vfy_reg *c, struct idmap *m)
{
	if (o->type == VT_NOT_INIT)
		return true; /* the old path never read it */
	if (c->type == VT_NOT_INIT || o->type != c->type)
		return false;
	switch (o->type) {
	case VT_SCALAR:
		/* an old path that relied on the mem_len mark needs it in cur */
		return (!o->mem_len || c->mem_len) && range_within(o, c) && tnum_in(o->var_off, c->var_off) &&
		       check_ids(m, o->id, c->id);
	case VT_MAP_VALUE:
	case VT_MEM:
	case VT_MAP_KEY:
		if (o->map != c->map || o->off != c->off || o->maybe_null != c->maybe_null ||
		    o->rdonly != c->rdonly || o->mem_size != c->mem_size)
			return false;
		if (o->maybe_null && !check_ids(m, o->id, c->id))
			return false;
		if (!check_ids(m, o->ref_obj_id, c->ref_obj_id))
			return false;
		return range_within(o, c) && tnum_in(o->var_off, c->var_off);
	case VT_PKT:
	case VT_PKT_META:
		/* a longer verified range in cur is fine */
		if (c->range < o->range || o->off != c->off || !check_ids(m, o->id, c->id))
			return false;
		return range_within(o, c) && tnum_in(o->var_off, c->var_off);
	case VT_STACK:
		return o->frameno == c->frameno && o->off == c->off &&
		       range_within(o, c) && tnum_in(o->var_off, c->var_off);
	case VT_MAP_PTR:
		return o->map == c->map && o->maybe_null == c->maybe_null &&
		       (!o->maybe_null || check_ids(m, o->id, c->id));
	case VT_CTX:
		return o->off == c->off && tnum_in(o->var_off, c->var_off) && range_within(o, c);
	case VT_FUNC:
		return o->subprog == c->subprog;
	case VT_PKT_END:
		return true;
	default:
		return false;
	}
}

static bool is_scalar_spill(const struct vfy_slot *s)
{
	return s->type[0] == SLOT_SPILL && s->spilled.type == VT_SCALAR;
}

/* A stack byte holding a number: misc, zero, or part of a spilled scalar. */
static bool scalar_byte(const struct vfy_slot *s, uint8_t t)
{
	return t == SLOT_MISC || t == SLOT_ZERO || (t == SLOT_SPILL && is_scalar_spill(s));
}

/* srel: slots whose values matter from here (precision); elsewhere any
 * number matches any number. */
static bool stacksafe(const struct vfy_frame *o, const struct vfy_frame *c, struct idmap *m, uint64_t srel)
{
	for (uint32_t spi = 0; spi < o->nslots; spi++) {
		const struct vfy_slot *os = &o->stack[spi];
		const struct vfy_slot *cs = spi < c->nslots ? &c->stack[spi] : NULL;
		bool old_spill = false, relevant = spi >= 64 || (srel >> spi & 1);
		for (int i = 0; i < VFY_SLOT; i++) {
			uint8_t ot = os->type[i], ct = cs ? cs->type[i] : SLOT_INVALID;
			if (ot == SLOT_INVALID)
				continue;
			if (!relevant && scalar_byte(os, ot) && cs && scalar_byte(cs, ct))
				continue;
			if (ot == SLOT_SPILL) {
				old_spill = true;
				if (ct != SLOT_SPILL)
					return false;
				continue;
			}
			if (ot == SLOT_MISC && (ct == SLOT_MISC || ct == SLOT_ZERO ||
			                        (ct == SLOT_SPILL && is_scalar_spill(cs))))
				continue;
			if (ot != ct)
				return false;
		}
		if (old_spill && !regsafe(&os->spilled, &cs->spilled, m))
			return false;
	}
	return true;
}

static uint16_t frame_live(const struct vfy_env *env, const struct vfy_state *st, uint32_t fr, uint32_t insn)
{
	if (fr == st->curframe)
		return env->info[insn].live_in;
	/* A caller frame resumes after its call: r0-r5 are then rewritten. */
	int32_t cs = st->frame[fr + 1]->callsite;
	if (cs < 0 || (uint32_t)cs + 1 >= env->len)
		return 0xffff;
	return env->info[cs + 1].live_in & ~0x3fu;
}

/* exact: compare every scalar, whatever precision says (the loop check:
 * a state repeating only in values that don't matter is still progress). */
static bool states_equal(const struct vfy_env *env, const struct vfy_state *o, const struct vfy_state *c,
                         uint32_t insn, bool exact)
{
	static __thread struct idmap m;

	if (o->curframe != c->curframe)
		return false;
	m.n = 0;
	if ((o->lock_id != 0) != (c->lock_id != 0))
		return false;
	if (o->lock_id && (o->lock_map != c->lock_map || o->lock_off != c->lock_off ||
	                   !check_ids(&m, o->lock_id, c->lock_id)))
		return false;
	if (o->nrefs != c->nrefs)
		return false;
	for (uint32_t i = 0; i < o->nrefs; i++)
		if (!check_ids(&m, o->refs[i].id, c->refs[i].id))
			return false;
	for (uint32_t fr = 0; fr <= o->curframe; fr++) {
		const struct vfy_frame *of = o->frame[fr], *cf = c->frame[fr];
		if (of->callsite != cf->callsite)
			return false;
		uint16_t live = frame_live(env, o, fr, insn);
		/* Imprecise scalars (cfg.c, "Precision") of the current frame:
		 * the old path never depended on their values. */
		uint16_t rel = 0xffff;
		uint64_t srel = ~0ull;
		if (exact) {
			/* every value counts */
		} else if (env->relax && fr == o->curframe) {
			rel = env->info[insn].rel_in;
			srel = env->info[insn].srel_in;
		} else if (env->relax) {
			/* A caller frame: its registers matter as after its call
			 * returns, its stack as at the call (which includes what the
			 * callee reads through pointers). */
			int32_t cs = o->frame[fr + 1]->callsite;
			if (cs >= 0 && (uint32_t)cs + 1 < env->len) {
				rel = env->info[cs + 1].rel_in;
				srel = env->info[cs].srel_in;
			}
		}
		for (unsigned r = 0; r < BPF_MAX_REG; r++) {
			if (r != BPF_MAX_REG - 1 && !(live & (1u << r)))
				continue;
			const struct vfy_reg *orr = &of->regs[r], *crr = &cf->regs[r];
			if (!(rel & (1u << r)) && orr->type == VT_SCALAR && crr->type == VT_SCALAR &&
			    (!orr->mem_len || crr->mem_len))
				continue;
			if (!regsafe(&of->regs[r], &cf->regs[r], &m))
				return false;
		}
		if (!stacksafe(of, cf, &m, srel))
			return false;
	}
	return true;
}

/* The loop check: registers of the current frame bit-for-bit the same. */
static bool states_maybe_looping(const struct vfy_state *o, const struct vfy_state *c)
{
	if (o->curframe != c->curframe || o->cb_iter != c->cb_iter)
		return false;
	const struct vfy_frame *of = o->frame[o->curframe], *cf = c->frame[c->curframe];
	for (unsigned r = 0; r < BPF_MAX_REG; r++) {
		const struct vfy_reg *a = &of->regs[r], *b = &cf->regs[r];
		if (a->type != b->type || a->off != b->off || a->var_off.value != b->var_off.value ||
		    a->var_off.mask != b->var_off.mask || a->smin != b->smin || a->smax != b->smax ||
		    a->umin != b->umin || a->umax != b->umax || a->s32_min != b->s32_min ||
		    a->s32_max != b->s32_max || a->u32_min != b->u32_min || a->u32_max != b->u32_max ||
		    a->map != b->map || a->range != b->range || a->maybe_null != b->maybe_null ||
		    a->mem_len != b->mem_len)
			return false;
	}
	return true;
}

int vfy_is_state_visited(struct vfy_env *env, uint32_t insn)
{
	struct vfy_insn_info *info = &env->info[insn];
	struct vfy_state *cur = env->cur;
	bool add = true;

	if (!info->prune_point)
		return 0;
	for (struct vfy_stored *sl = info->states; sl; sl = sl->next) {
		if (sl->st->branches) {
			/* In progress: we are inside a loop through this insn. */
			if (info->callback_entry && cur->frame[cur->curframe]->in_callback) {
				/* A helper calls its callback a bounded number of
				 * times; a covered state adds nothing (fixpoint). */
				if (states_equal(env, sl->st, cur, insn, false))
					return 1;
			} else if (states_maybe_looping(sl->st, cur) && states_equal(env, sl->st, cur, insn, true)) {
				return vfy_err(env, -EACCES, insn,
				               "infinite loop detected: the state repeats unchanged; make the loop "
				               "condition depend on a value that changes every iteration");
			}
			/* As Linux: inside a loop, don't store a state at every pass;
			 * but a callback's entry keeps every run's state, or the runs
			 * after the first could never be found covered. */
			if (env->jmps - env->prev_jmps < 20 && env->insns_processed - env->prev_insns < 100 &&
			    !(info->callback_entry && cur->frame[cur->curframe]->in_callback))
				add = false;
			continue;
		}
		if (states_equal(env, sl->st, cur, insn, false)) {
			sl->hit++;
			return 1;
		}
		sl->miss++;
	}
	if (!add)
		return 0;
	env->prev_jmps = env->jmps;
	env->prev_insns = env->insns_processed;

	/* Drop explored states that keep missing (as Linux's heuristic); a
	 * finished state is nobody's live ancestor, so freeing it is safe. */
	if (info->nstates >= VFY_MAX_STATES_PER_INSN) {
		struct vfy_stored **pp = &info->states;
		while (*pp) {
			struct vfy_stored *sl = *pp;
			if (!sl->st->branches && sl->miss > sl->hit * 3 + 3) {
				*pp = sl->next;
				/* freed at the end: stored descendants may name it as parent */
				sl->next = env->graveyard;
				env->graveyard = sl;
				info->nstates--;
				continue;
			}
			pp = &sl->next;
		}
		if (info->nstates >= VFY_MAX_STATES_PER_INSN * 4)
			return 0;
	}

	struct vfy_stored *sl = calloc(1, sizeof(*sl));
	struct vfy_state *st = sl ? vfy_state_copy(env, cur) : NULL;
	if (!st) {
		free(sl);
		return -ENOMEM;
	}
	st->insn_idx = insn;
	st->branches = 1;
	st->parent = cur->parent;
	cur->parent = st;
	sl->st = st;
	sl->next = info->states;
	info->states = sl;
	info->nstates++;
	env->states_total++;
	return 0;
}

void vfy_free_stored(struct vfy_env *env)
{
	if (!env->info)
		return;
	for (uint32_t i = 0; i < env->len; i++) {
		struct vfy_stored *sl = env->info[i].states;
		while (sl) {
			struct vfy_stored *n = sl->next;
			vfy_state_free(env, sl->st);
			free(sl);
			sl = n;
		}
		env->info[i].states = NULL;
	}
	while (env->graveyard) {
		struct vfy_stored *n = env->graveyard->next;
		vfy_state_free(env, env->graveyard->st);
		free(env->graveyard);
		env->graveyard = n;
	}
}
