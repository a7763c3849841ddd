/*
 * Internals shared by the verifier's pipeline files.  Never installed.
 *
 *   cfg.c        decode, subprograms, control-flow checks, static liveness
 *   tnum.c       tristate numbers          bounds.c   scalar ranges
 *   state.c      states, stack slots, pruning (states_equal)
 *   check_alu.c  ALU, pointer arithmetic   check_mem.c  loads, stores, regions
 *   check_jmp.c  conditional jumps         check_call.c helpers, bpf-to-bpf calls
 *   locks.c      spin locks, references    log.c      messages, state dumps
 *   verifier.c   vfy_verify: the exploration loop
 */
#ifndef BPFVM_VFY_H
#define BPFVM_VFY_H

#include <errno.h>
#include <stdio.h>

#include "bounds.h"
#include "log.h"
#include "map.h"
#include "regstate.h"
#include "verifier.h"

#define VFY_COMPLEXITY_LIMIT 1000000u  /* processed insns, as Linux */
#define VFY_MAX_SUBPROGS 256
#define VFY_MAX_STATES_PER_INSN 64     /* stored states kept per prune point */
#define VFY_TAIL_CALL_STACK 256        /* as Linux: caller frames' stack with a tail call */

struct vfy_stored {
	struct vfy_state *st;
	struct vfy_stored *next;
	uint32_t hit, miss;
};

struct vfy_insn_info {
	struct vfy_stored *states;   /* explored states at this prune point */
	uint32_t nstates;
	uint16_t live_in;            /* registers possibly read before written from here */
	/* Precision (cfg.c): registers whose exact value may matter from here
	 * on (rel_in), from the uses that depend on a value (seed: static ones
	 * found before the walk, dynamic ones found by it).  Pruning compares
	 * other scalars of the current frame by type only, as Linux's
	 * imprecise scalars. */
	uint16_t rel_in;
	uint16_t seed;
	uint64_t srel_in;            /* the same for the frame's 64 stack slots (bit = spi) */
	uint64_t sseed;
	bool prune_point;
	bool seen;                   /* reached by exploration */
	bool ctx_access;             /* a load from ctx: packet field rewrite candidate */
	int32_t ctx_field;           /* field index the load hits (-1 none) */
	bool zext_dst;
	bool tail_seen;              /* tail call: map/index facts below valid */
	bool tail_const;
	uint32_t tail_index;
	struct bpfvm_map *tail_map;  /* NULL once two different maps reach it */
	bool tail_map_multi;
	bool callback_entry;         /* first insn of a callback subprogram */
};

struct vfy_subprog {
	uint32_t start, end;         /* [start, end) */
	uint32_t stack_depth;        /* bytes used, as seen by exploration */
	bool is_callback;
	bool has_tail_call;
	bool has_ld_abs;
};

struct vfy_env {
	struct bpfvm_prog *prog;
	const struct bpf_insn *insns;
	uint16_t *ops;               /* enum vm_op per slot, owned */
	uint32_t len;
	struct vm_log *log;
	struct vfy_insn_info *info;
	struct vfy_subprog subprogs[VFY_MAX_SUBPROGS];
	uint32_t nsubprogs;

	struct vfy_state *cur;
	struct vfy_stored *graveyard; /* evicted explored states, freed at the end */
	struct vfy_state **queue;    /* pending branches (DFS stack) */
	uint32_t nqueue, queue_cap;

	uint64_t insns_processed;
	uint64_t states_total, states_cur, states_peak;
	uint64_t prev_insns, jmps, prev_jmps;
	uint32_t id_gen;
	uint32_t max_stack;          /* deepest combined stack */
	uint32_t max_tail_stack;     /* most caller-frame stack below a tail call */

	bool any_alignment;
	bool ctx_is_mem;             /* "mem" program type: r1 = PTR_TO_MEM */
	uint32_t mem_size;
	const struct bpfvm_prog_type *ptype;

	struct bpfvm_map **tail_maps;
	uint32_t ntail_maps;

	bool relax;                  /* pruning may ignore scalars outside rel_in */
	bool rel_dirty;              /* the walk found a value-dependent use rel_in lacked */

	char msg[256];               /* scratch for messages */
	const struct vm_line *last_line; /* the source line the state log printed last */
};

/* ---- log.c ---- */
int vfy_err(struct vfy_env *env, int err, uint32_t insn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* An internal inconsistency: reported, never aborts. */
int vfy_bug(struct vfy_env *env, uint32_t insn, const char *what);
const char *vfy_type_name(const struct vfy_reg *r);
void vfy_log_state(struct vfy_env *env, const struct vfy_state *st, uint32_t insn);
void vfy_log_insn(struct vfy_env *env, uint32_t insn);

/* ---- cfg.c ---- */
int vfy_cfg(struct vfy_env *env);
uint32_t vfy_subprog_of(const struct vfy_env *env, uint32_t insn);
int vfy_find_subprog(const struct vfy_env *env, uint32_t start);
/* Combined stack along every call chain (recursion rejected in vfy_cfg). */
int vfy_check_stack_depth(struct vfy_env *env);
/* Seeds and solves rel_in/srel_in (precision); `extra`/`sextra` (may be
 * NULL) hold seeds a previous walk found, one per insn. */
void vfy_compute_relevance(struct vfy_env *env, const uint16_t *extra, const uint64_t *sextra);
/* The walk found that insn idx depends on the exact value of regno (a
 * scalar in pointer arithmetic, a value spilled to the stack). */
void vfy_need_precise(struct vfy_env *env, uint32_t idx, unsigned regno);
/* ... or on the bytes [lo, hi) below fp (a fill through a pointer other than r10). */
void vfy_need_precise_stack(struct vfy_env *env, uint32_t idx, int64_t lo, int64_t hi);

/* ---- state.c ---- */
struct vfy_state *vfy_state_new(struct vfy_env *env);
struct vfy_state *vfy_state_copy(struct vfy_env *env, const struct vfy_state *src);
void vfy_state_free(struct vfy_env *env, struct vfy_state *st);
struct vfy_frame *vfy_frame_new(uint32_t frameno, int32_t callsite, uint32_t subprog);
void vfy_frame_free(struct vfy_frame *f);
/* Grows frame f's stack to cover `bytes` below fp; -ENOMEM on failure. */
int vfy_stack_grow(struct vfy_frame *f, uint32_t bytes);
/* 1: pruned (cur is covered by a stored state), 0: go on, <0: error. */
int vfy_is_state_visited(struct vfy_env *env, uint32_t insn);
/* A path ended (exit or pruned): settle parents' branch counts. */
void vfy_path_done(struct vfy_env *env, struct vfy_state *st);
int vfy_push_branch(struct vfy_env *env, struct vfy_state *st);
void vfy_free_stored(struct vfy_env *env);
static inline struct vfy_frame *vfy_curframe(struct vfy_env *env) { return env->cur->frame[env->cur->curframe]; }
static inline struct vfy_reg *vfy_regs(struct vfy_env *env) { return vfy_curframe(env)->regs; }

/* ---- check_alu.c ---- */
int vfy_check_alu(struct vfy_env *env, uint32_t idx);
void vfy_mark_ptr(struct vfy_env *env, struct vfy_reg *r, enum vfy_type t);
bool vfy_is_ptr(const struct vfy_reg *r);
int vfy_check_reg_read(struct vfy_env *env, uint32_t idx, unsigned regno);

/* ---- check_mem.c ---- */
int vfy_check_load_store(struct vfy_env *env, uint32_t idx);
int vfy_check_lddw(struct vfy_env *env, uint32_t idx);
int vfy_check_ld_abs(struct vfy_env *env, uint32_t idx);
/* Checks [reg + off, + size) readable (write=false) or writable, as a
 * helper memory argument; zero_ok allows size 0.  For stack memory that a
 * helper writes, marks it initialized. */
int vfy_check_helper_mem(struct vfy_env *env, uint32_t idx, unsigned regno, const struct vfy_reg *sizereg,
                         uint64_t size, bool write, bool uninit_ok);
/* Access of `size` bytes at fixed offset off from register regno (memory
 * op): val is what a store writes (NULL: unknown bytes), out gets what a
 * load reads (NULL: discard). */
int vfy_check_mem_access(struct vfy_env *env, uint32_t idx, unsigned regno, int32_t off, unsigned size,
                         bool write, const struct vfy_reg *val, struct vfy_reg *out, bool atomic, bool sext);

/* ---- check_jmp.c ---- */
/* Returns the next insn index of the fall-through path; may queue the other. */
int vfy_check_cond_jmp(struct vfy_env *env, uint32_t idx, uint32_t *next);

/* ---- check_call.c ---- */
int vfy_check_helper_call(struct vfy_env *env, uint32_t idx, uint32_t *next);
int vfy_check_subprog_call(struct vfy_env *env, uint32_t idx, uint32_t *next);
/* exit in a non-main frame: returns to caller; *next = return address. */
int vfy_check_subprog_exit(struct vfy_env *env, uint32_t idx, uint32_t *next);
int vfy_check_main_exit(struct vfy_env *env, uint32_t idx);

/* ---- locks.c ---- */
int vfy_spin_lock(struct vfy_env *env, uint32_t idx, const struct vfy_reg *r, bool lock);
int vfy_ref_acquire(struct vfy_env *env, uint32_t idx, uint32_t *id);
int vfy_ref_release(struct vfy_env *env, uint32_t idx, uint32_t id);
int vfy_check_refs_at_exit(struct vfy_env *env, uint32_t idx, const char *what);
/* Marks every register/spill with pointer id `id` non-null (or scalar 0 when null). */
void vfy_mark_ptr_or_null(struct vfy_env *env, struct vfy_state *st, uint32_t id, bool is_null);

static inline uint32_t vfy_new_id(struct vfy_env *env) { return ++env->id_gen; }

#endif
