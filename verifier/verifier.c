/*
 * vfy_verify: the exploration loop.  Walks every path of the program from
 * the entry state, depth first, with a queue of branches still to explore;
 * each insn is checked by the file that owns its kind.  Pruning
 * (state.c) keeps the walk near-linear for real programs; a budget of
 * 1,000,000 processed insns bounds it, as Linux.
 */
#include "vfy.h"
#include "tailgraph.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int init_state(struct vfy_env *env)
{
	struct vfy_state *st = vfy_state_new(env);
	if (!st)
		return -ENOMEM;
	st->frame[0] = vfy_frame_new(0, -1, 0);
	if (!st->frame[0]) {
		free(st);
		env->states_cur--;
		return -ENOMEM;
	}
	struct vfy_reg *r = st->frame[0]->regs;
	vfy_mark_ptr(env, &r[10], VT_STACK);
	if (env->ctx_is_mem) {
		/* "mem": r1 = the input bytes, r2 = their length.  As XDP's
		 * data/data_end: r1 is a packet pointer, r1 + r2 (r2 carrying the
		 * mem_len mark) is its end, and comparisons against that end prove
		 * accesses.  The load option mem_size (checked by bpfvm_prog_run)
		 * is a prefix known readable without a comparison. */
		vfy_mark_ptr(env, &r[1], VT_PKT);
		r[1].range = env->mem_size;
		vfy_mark_unknown(&r[2]);
		r[2].umin = env->mem_size;
		vfy_bounds_sync(&r[2]);
		r[2].mem_len = true;
	} else {
		vfy_mark_ptr(env, &r[1], VT_CTX);
	}
	st->insn_idx = 0;
	env->cur = st;
	return 0;
}

static int do_insn(struct vfy_env *env, uint32_t idx, uint32_t *next, bool *path_end)
{
	enum vm_op op = env->ops[idx];
	const struct vm_opinfo *oi = &vm_opinfo[op];
	*next = idx + 1;
	*path_end = false;
	switch (oi->fmt) {
	case FMT_ALU_K: case FMT_ALU_X: case FMT_NEG: case FMT_END:
		return vfy_check_alu(env, idx);
	case FMT_LDDW:
		*next = idx + 2;
		return vfy_check_lddw(env, idx);
	case FMT_LDABS: case FMT_LDIND:
		return vfy_check_ld_abs(env, idx);
	case FMT_LDX: case FMT_ST: case FMT_STX: case FMT_ATOMIC:
		return vfy_check_load_store(env, idx);
	case FMT_JA:
		*next = (uint32_t)((int64_t)idx + 1 + env->insns[idx].off);
		env->jmps++;
		return 0;
	case FMT_JA32:
		*next = (uint32_t)((int64_t)idx + 1 + env->insns[idx].imm);
		env->jmps++;
		return 0;
	case FMT_JCOND_K: case FMT_JCOND_X:
		env->jmps++;
		return vfy_check_cond_jmp(env, idx, next);
	case FMT_CALL:
		return vfy_check_helper_call(env, idx, next);
	case FMT_CALL_LOCAL:
		return vfy_check_subprog_call(env, idx, next);
	case FMT_CALLX:
		return vfy_err(env, -EINVAL, idx, "call %%r%u: calls through a register are not supported by the "
		               "verifier; call the helper by id", env->insns[idx].dst_reg);
	case FMT_EXIT:
		if (env->cur->curframe)
			return vfy_check_subprog_exit(env, idx, next);
		*path_end = true;
		return vfy_check_main_exit(env, idx);
	default:
		return vfy_bug(env, idx, "unhandled instruction format");
	}
}

static int explore(struct vfy_env *env)
{
	int err;
	for (;;) {
		struct vfy_state *cur = env->cur;
		uint32_t idx = cur->insn_idx;
		if (idx >= env->len || env->ops[idx] == VM_OP_INVALID)
			return vfy_bug(env, idx, "exploration left the program");
		if (++env->insns_processed > VFY_COMPLEXITY_LIMIT)
			return vfy_err(env, -E2BIG, idx, "BPF program is too large. Processed %llu insn: the verifier's "
			               "limit is %u; simplify loops or split the program",
			               (unsigned long long)env->insns_processed, VFY_COMPLEXITY_LIMIT);
		err = vfy_is_state_visited(env, idx);
		if (err < 0)
			return err;
		bool end = err == 1;
		if (!end) {
			vfy_log_state(env, env->cur, idx);
			uint32_t next;
			if ((err = do_insn(env, idx, &next, &end)))
				return err;
			env->info[idx].seen = true;
			env->cur->insn_idx = next;
		}
		if (!end)
			continue;
		vfy_path_done(env, env->cur);
		vfy_state_free(env, env->cur);
		env->cur = NULL;
		if (!env->nqueue)
			return 0;
		env->cur = env->queue[--env->nqueue];
	}
}

/* Rewrites context loads of packet pointer fields to the run-time layout:
 * programs see a 4-byte field, the context holds an 8-byte pointer. */
static void convert_ctx_access(struct vfy_env *env)
{
	const struct bpfvm_prog_type *t = env->ptype;
	for (uint32_t i = 0; t && i < env->len; i++) {
		int32_t fi = env->info[i].ctx_field;
		if (fi < 0 || (uint32_t)fi >= t->nfields)
			continue;
		const struct bpfvm_ctx_field *f = &t->fields[fi];
		struct bpf_insn *in = &env->prog->insns[i];
		in->code = vm_opinfo[VM_OP_LDXDW].code;
		in->off = (int16_t)f->real_off;
		if (env->prog->ops)
			env->prog->ops[i] = VM_OP_LDXDW;
	}
}

static void publish(struct vfy_env *env, uint64_t t0)
{
	struct bpfvm_prog *prog = env->prog;
	for (uint32_t k = 0; k < env->nsubprogs; k++) {
		for (uint32_t j = 0; prog->subprogs && j < prog->nsubprogs; j++)
			if (prog->subprogs[j].start == env->subprogs[k].start)
				prog->subprogs[j].stack_depth = (env->subprogs[k].stack_depth + 7) & ~7u;
	}
	for (uint32_t i = 0; prog->aux && i < env->len; i++) {
		struct vfy_insn_info *info = &env->info[i];
		prog->aux[i].const_tail_index = info->tail_seen && info->tail_const && !info->tail_map_multi;
		prog->aux[i].tail_index = info->tail_index;
		prog->aux[i].tail_map = info->tail_seen && !info->tail_map_multi ? info->tail_map : NULL;
	}
	free(prog->tail_maps);
	prog->tail_maps = env->tail_maps;
	prog->ntail_maps = env->ntail_maps;
	env->tail_maps = NULL;
	prog->max_tail_stack = env->max_tail_stack;
	prog->vstats.sz = sizeof(prog->vstats);
	prog->vstats.insns_processed = env->insns_processed;
	prog->vstats.states_total = env->states_total;
	prog->vstats.states_peak = env->states_peak;
	prog->vstats.time_ns = now_ns() - t0;
	prog->vstats.stack_depth = env->max_stack;
}

/*
 * One walk.  `extra` (or NULL) holds precision seeds earlier walks found;
 * relax=false compares every scalar exactly.  On success with new seeds,
 * *seeds_out gets every seed (one per insn, malloc'd) and the
 * result is -EAGAIN: the walk may have pruned on a seed it lacked, so its
 * verdict is not used.  Rejections stand whatever the seeds: an error is
 * found on a path that exists.
 */
struct vfy_seeds {
	uint16_t *regs;  /* per insn */
	uint64_t *slots; /* per insn */
};

static int verify_walk(struct bpfvm_prog *prog, struct vm_log *log, const struct vfy_seeds *extra, bool relax,
                       uint64_t t0, struct vfy_seeds *seeds_out)
{
	struct vfy_env *env;
	int err;

	env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->prog = prog;
	env->insns = prog->insns;
	env->len = prog->len;
	env->log = log;
	env->any_alignment = prog->flags & BPFVM_PROG_ANY_ALIGNMENT;
	env->ctx_is_mem = !prog->type || prog->type->is_mem;
	env->mem_size = prog->mem_size;
	env->ptype = prog->type ? &prog->type->t : NULL;
	err = -ENOMEM;
	env->ops = calloc(env->len ? env->len : 1, sizeof(*env->ops));
	env->info = calloc(env->len ? env->len : 1, sizeof(*env->info));
	if (!env->ops || !env->info)
		goto out;
	for (uint32_t i = 0; i < env->len; i++)
		env->info[i].ctx_field = -1;

	if ((err = vfy_cfg(env)))
		goto out;
	if (relax)
		vfy_compute_relevance(env, extra->regs, extra->slots);
	if ((err = init_state(env)) || (err = explore(env)) || (err = vfy_check_stack_depth(env)))
		goto out;
	if (relax && env->rel_dirty) {
		seeds_out->regs = malloc((env->len ? env->len : 1) * sizeof(*seeds_out->regs));
		seeds_out->slots = malloc((env->len ? env->len : 1) * sizeof(*seeds_out->slots));
		err = -ENOMEM;
		if (!seeds_out->regs || !seeds_out->slots)
			goto out;
		for (uint32_t i = 0; i < env->len; i++) {
			seeds_out->regs[i] = env->info[i].seed;
			seeds_out->slots[i] = env->info[i].sseed;
		}
		err = -EAGAIN;
		goto out;
	}
	convert_ctx_access(env);
	publish(env, t0);
	if ((err = vfy_tail_check_load(prog, log)))
		goto out;
	vm_log(log, BPFVM_LOG_STATS, "verification time %llu usec\nstack depth %u\nprocessed %llu insns "
	       "(limit %u) total_states %llu peak_states %llu\n",
	       (unsigned long long)(prog->vstats.time_ns / 1000), env->max_stack,
	       (unsigned long long)env->insns_processed, VFY_COMPLEXITY_LIMIT,
	       (unsigned long long)env->states_total, (unsigned long long)env->states_peak);
out:
	if (err && err != -EAGAIN) {
		prog->vstats.insns_processed = env->insns_processed;
		prog->vstats.states_total = env->states_total;
		prog->vstats.states_peak = env->states_peak;
		prog->vstats.time_ns = now_ns() - t0;
		vm_log(log, BPFVM_LOG_STATS, "processed %llu insns (limit %u) total_states %llu peak_states %llu\n",
		       (unsigned long long)env->insns_processed, VFY_COMPLEXITY_LIMIT,
		       (unsigned long long)env->states_total, (unsigned long long)env->states_peak);
	}
	if (env->cur)
		vfy_state_free(env, env->cur);
	while (env->nqueue)
		vfy_state_free(env, env->queue[--env->nqueue]);
	free(env->queue);
	vfy_free_stored(env);
	free(env->tail_maps);
	free(env->info);
	free(env->ops);
	free(env);
	return err;
}

/* Walks repeated because of new precision seeds, at most; then one walk
 * that compares every scalar exactly settles it. */
#define VFY_MAX_WALKS 4

int vfy_verify(struct bpfvm_prog *prog, struct vm_log *log)
{
	uint64_t t0 = now_ns();
	if (!prog || (!prog->insns && prog->len))
		return -EINVAL;
	/* A repeated walk rewrites the log from where this one began. */
	size_t log_len = log ? log->len : 0, log_dropped = log ? log->dropped : 0;
	struct vfy_seeds seeds = { NULL, NULL };
	int err = -EAGAIN;
	for (int walk = 0; err == -EAGAIN; walk++) {
		if (walk && log) {
			log->len = log_len;
			log->dropped = log_dropped;
			if (log->buf && log->size)
				log->buf[log_len < log->size ? log_len : log->size - 1] = '\0';
		}
		struct vfy_seeds found = { NULL, NULL };
		err = verify_walk(prog, log, &seeds, walk < VFY_MAX_WALKS, t0, &found);
		if (err == -EAGAIN) {
			free(seeds.regs);
			free(seeds.slots);
			seeds = found;
		} else {
			free(found.regs);
			free(found.slots);
		}
	}
	free(seeds.regs);
	free(seeds.slots);
	return err;
}
