/*
 * The differential check of one generated program (tests/jit/gen.h),
 * shared by the libFuzzer target tools/fuzz/jit_diff_fuzz.c and the seed
 * driver tests/jit/diff_seeds.c.  Seven runs over copies of one input:
 *
 *   interpreter, JIT, blinded JIT             unchecked (no verifier)
 *   interpreter, JIT, blinded JIT             checked (BPFVM_PROG_NO_VERIFY)
 *   interpreter with its stack and input moved, unchecked
 *
 * Every run must succeed with the same r0, the same input bytes and the
 * same map contents, and each JIT run must really be on the JIT.  The
 * moved run guards the test itself: a generated program must not depend
 * on where its stack, input or map values live (the engines' stacks are at
 * different addresses, so a program that stores a pointer byte looks like
 * a JIT bug; that was seed 2287).  It uses a second set of maps, so map
 * values move too.
 *
 * With a struct diff_env (diff_case()): the maps of gen.h's gen_maps[] are
 * created once per VM, twice; before each run every map is reset to the
 * case's initial contents (gen_map_init()), a fresh prog array gets the
 * case's tail-call targets (loaded like the run's program: same engine and
 * flags), and after the run every map is dumped (arrays by index, the hash
 * map's keys sorted) and compared; a difference names the map and key.
 */
#ifndef BPFVM_TEST_JIT_DIFF_H
#define BPFVM_TEST_JIT_DIFF_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"
#include "gen.h"

enum diff_verdict {
	DIFF_SAME = 0,
	DIFF_ADDRESS_DEPENDENT, /* a gen.h bug: the program's result depends on an address */
	DIFF_ENGINES,           /* an engine bug: two runs disagree */
	DIFF_NOT_LOADED,        /* a gen.h or loader bug: a generated program did not load */
};

struct diff_run {
	const char *name;
	uint32_t engine, flags;
	bool moved;
};

static const struct diff_run diff_runs[] = {
	{ "interpreter", BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, false },
	{ "jit", BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, false },
	{ "blinded jit", BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED | BPFVM_PROG_JIT_BLIND, false },
	{ "checked interpreter", BPFVM_ENGINE_INTERP, BPFVM_PROG_NO_VERIFY, false },
	{ "checked jit", BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY, false },
	{ "checked blinded jit", BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY | BPFVM_PROG_JIT_BLIND, false },
	{ "interpreter, stack and input moved", BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, true },
};
#define DIFF_NRUNS (sizeof(diff_runs) / sizeof(diff_runs[0]))

/* The interpreter's stack is on the C stack: a frame about a kilobyte
 * deeper moves it by neither 256 nor 4096 bytes, so even a stored low byte
 * of an address comes out different; the input moves by 24 bytes. */
static __attribute__((noinline)) int diff_run_moved(bpfvm_prog *p, uint8_t *mem, uint64_t *r0)
{
	volatile uint8_t pad[1000];
	pad[0] = 0;
	uint8_t moved[GEN_MEM + 24];
	memcpy(moved + 24, mem, GEN_MEM);
	int rc = bpfvm_prog_run(p, moved + 24 + pad[0], GEN_MEM, r0);
	memcpy(mem, moved + 24, GEN_MEM);
	return rc;
}

/* The maps of gen_maps[], twice (set 1 for the moved run). */
struct diff_env {
	bpfvm *vm;
	bpfvm_map *maps[2][GEN_NMAPS];
};

/* A program type whose context is the input itself.  Tail calls into a
 * "mem" program run it on the interpreter (it must be entered with r2 =
 * the input length); into this type, the JIT jumps into the target's
 * image, so cases of this type test JIT-to-JIT tail calls. */
#define DIFF_CTX_TYPE "diff_ctx"

/* Creates the maps in vm (which must have the built-in helpers, i.e. not
 * BPFVM_VM_BARE, for programs that call them) and registers
 * DIFF_CTX_TYPE.  0 or a negative errno. */
static inline int diff_env_init(struct diff_env *env, bpfvm *vm)
{
	memset(env, 0, sizeof(*env));
	env->vm = vm;
	struct bpfvm_prog_type t = { .sz = sizeof(t), .name = DIFF_CTX_TYPE, .ctx_size = GEN_MEM,
		                     .real_ctx_size = GEN_MEM };
	int err = bpfvm_prog_type_register(vm, &t);
	if (err && err != -EEXIST)
		return err;
	for (int s = 0; s < 2; s++)
		for (int m = 0; m < GEN_NMAPS; m++) {
			const struct gen_map_shape *ms = &gen_maps[m];
			struct bpfvm_map_attr a = { .sz = sizeof(a), .type = ms->type, .key_size = ms->key_size,
				                    .value_size = ms->value_size, .max_entries = ms->max_entries,
				                    .map_flags = ms->flags, .name = ms->name, .spin_lock_off = -1 };
			int e = bpfvm_map_create(vm, &a, &env->maps[s][m]);
			if (e)
				return e;
		}
	return 0;
}

static inline void diff_env_fini(struct diff_env *env)
{
	for (int s = 0; s < 2; s++)
		for (int m = 0; m < GEN_NMAPS; m++)
			if (env->maps[s][m])
				bpfvm_map_put(env->maps[s][m]);
	memset(env, 0, sizeof(*env));
}

/* One program to check, with its tail-call targets and initial state. */
struct diff_case {
	const struct bpf_insn *insns;
	size_t n;
	const struct bpf_insn *target[GEN_MAX_TARGETS]; /* put in prog array slots 0.. */
	size_t target_n[GEN_MAX_TARGETS];
	unsigned ntargets;
	const uint8_t *m0;              /* GEN_MEM bytes of input */
	const char *type;               /* program type of all the case's programs; NULL: "mem" */
	const struct gen_map_init *mi;  /* NULL: no maps (env may have none) */
};

/* A map's contents: entries in key order, each key then value. */
struct diff_dump {
	uint32_t n[GEN_NMAPS];
	uint64_t key[GEN_NMAPS][GEN_MAP_MAXENT];
	uint8_t val[GEN_NMAPS][GEN_MAP_MAXENT][GEN_MAP_MAXVS];
};

static inline int diff_maps_reset(bpfvm_map *const *maps, const struct gen_map_init *mi)
{
	for (int m = 0; m < GEN_NMAPS; m++) {
		const struct gen_map_shape *ms = &gen_maps[m];
		int e;
		if (ms->type == BPFVM_MAP_HASH) {
			uint64_t keys[GEN_MAP_MAXENT], k;
			uint32_t nk = 0;
			for (const void *prev = NULL; nk < GEN_MAP_MAXENT && !bpfvm_map_get_next_key(maps[m], prev, &k);
			     prev = &keys[nk - 1])
				keys[nk++] = k;
			for (uint32_t i = 0; i < nk; i++)
				if ((e = bpfvm_map_delete(maps[m], &keys[i])))
					return e;
		}
		for (uint32_t i = 0; i < mi->nkeys[m]; i++) {
			uint32_t k32 = (uint32_t)mi->key[m][i];
			const void *key = ms->key_size == 4 ? (const void *)&k32 : (const void *)&mi->key[m][i];
			if ((e = bpfvm_map_update(maps[m], key, mi->val[m][i], BPFVM_ANY)))
				return e;
		}
	}
	return 0;
}

static inline int diff_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static inline int diff_maps_dump(bpfvm_map *const *maps, struct diff_dump *d)
{
	memset(d, 0, sizeof(*d));
	for (int m = 0; m < GEN_NMAPS; m++) {
		const struct gen_map_shape *ms = &gen_maps[m];
		if (ms->type == BPFVM_MAP_HASH) {
			uint64_t k;
			for (const void *prev = NULL; d->n[m] < GEN_MAP_MAXENT && !bpfvm_map_get_next_key(maps[m], prev, &k);
			     prev = &d->key[m][d->n[m] - 1])
				d->key[m][d->n[m]++] = k;
			qsort(d->key[m], d->n[m], sizeof(uint64_t), diff_cmp_u64);
		} else {
			for (uint32_t i = 0; i < ms->max_entries; i++)
				d->key[m][d->n[m]++] = i;
		}
		for (uint32_t i = 0; i < d->n[m]; i++) {
			uint32_t k32 = (uint32_t)d->key[m][i];
			const void *key = ms->key_size == 4 ? (const void *)&k32 : (const void *)&d->key[m][i];
			int e = bpfvm_map_lookup(maps[m], key, d->val[m][i], 0);
			if (e)
				return e;
		}
	}
	return 0;
}

/* Where dumps a and b differ first, into msg; false if they are equal. */
static inline bool diff_dumps_differ(const struct diff_dump *a, const struct diff_dump *b, char *msg, size_t msgsz)
{
	for (int m = 0; m < GEN_NMAPS; m++) {
		uint32_t vs = gen_maps[m].value_size;
		for (uint32_t i = 0, j = 0; i < a->n[m] || j < b->n[m];) {
			if (j >= b->n[m] || (i < a->n[m] && a->key[m][i] < b->key[m][j])) {
				snprintf(msg, msgsz, "map %s key %llu: only in the first", gen_maps[m].name,
				         (unsigned long long)a->key[m][i]);
				return true;
			}
			if (i >= a->n[m] || b->key[m][j] < a->key[m][i]) {
				snprintf(msg, msgsz, "map %s key %llu: only in the second", gen_maps[m].name,
				         (unsigned long long)b->key[m][j]);
				return true;
			}
			for (uint32_t o = 0; o < vs; o++)
				if (a->val[m][i][o] != b->val[m][j][o]) {
					snprintf(msg, msgsz, "map %s key %llu: value byte %u %#x vs %#x", gen_maps[m].name,
					         (unsigned long long)a->key[m][i], o, a->val[m][i][o], b->val[m][j][o]);
					return true;
				}
			i++, j++;
		}
	}
	return false;
}

/* Loads insns for run d (fd_array: the maps, then the prog array). */
static inline int diff_load(bpfvm *vm, const struct diff_run *d, const char *type, const struct bpf_insn *insns,
                            size_t n, const int *fds, uint32_t nfds, bpfvm_prog **p, char *msg, size_t msgsz)
{
	char log[256] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .type = type, .flags = d->flags, .engine = d->engine, .log_buf = log,
		                      .log_size = sizeof(log), .fd_array = nfds ? fds : NULL, .fd_array_cnt = nfds };
	if (bpfvm_prog_load(vm, insns, n, &po, p)) {
		snprintf(msg, msgsz, "%s: did not load: %s", d->name, log);
		return DIFF_NOT_LOADED;
	}
	if (bpfvm_prog_engine(*p) != d->engine) {
		snprintf(msg, msgsz, "%s: not on that engine: %s", d->name, log);
		bpfvm_prog_put(*p);
		*p = NULL;
		return DIFF_ENGINES;
	}
	return DIFF_SAME;
}

/* Runs case c as above; on a difference writes what differs into msg and
 * returns the verdict. */
static inline enum diff_verdict diff_case(const struct diff_env *env, const struct diff_case *c, char *msg,
                                          size_t msgsz)
{
	static __thread struct diff_dump dump[DIFF_NRUNS];
	uint8_t mem[DIFF_NRUNS][GEN_MEM];
	uint64_t r0[DIFF_NRUNS];
	int rc[DIFF_NRUNS];
	bool maps = c->mi && env->maps[0][0];
	for (size_t k = 0; k < DIFF_NRUNS; k++) {
		const struct diff_run *d = &diff_runs[k];
		bpfvm_map *const *set = env->maps[d->moved];
		bpfvm_map *progs = NULL;
		bpfvm_prog *p = NULL, *t[GEN_MAX_TARGETS] = { NULL };
		int fds[GEN_NMAPS + 1];
		uint32_t nfds = 0;
		enum diff_verdict v = DIFF_SAME;
		if (maps) {
			struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4,
				                    .value_size = 4, .max_entries = GEN_PROG_SLOTS, .name = "progs",
				                    .spin_lock_off = -1 };
			int e = diff_maps_reset(set, c->mi);
			if (!e)
				e = bpfvm_map_create(env->vm, &a, &progs);
			if (e) {
				snprintf(msg, msgsz, "%s: map setup failed: %s", d->name, bpfvm_strerror(e));
				return DIFF_NOT_LOADED;
			}
			for (int m = 0; m < GEN_NMAPS; m++)
				fds[nfds++] = bpfvm_map_fd(set[m]);
			fds[nfds++] = bpfvm_map_fd(progs);
		}
		for (unsigned i = 0; maps && !v && i < c->ntargets; i++) {
			char log[256] = "";
			v = diff_load(env->vm, d, c->type, c->target[i], c->target_n[i], fds, nfds, &t[i], msg, msgsz);
			if (!v && bpfvm_prog_array_update(progs, i, t[i], log, sizeof(log))) {
				snprintf(msg, msgsz, "%s: target %u not put in the prog array: %s", d->name, i, log);
				v = DIFF_NOT_LOADED;
			}
		}
		if (!v)
			v = diff_load(env->vm, d, c->type, c->insns, c->n, fds, nfds, &p, msg, msgsz);
		if (!v) {
			memcpy(mem[k], c->m0, GEN_MEM);
			r0[k] = 0;
			rc[k] = d->moved ? diff_run_moved(p, mem[k], &r0[k]) : bpfvm_prog_run(p, mem[k], GEN_MEM, &r0[k]);
			int e = maps ? diff_maps_dump(set, &dump[k]) : 0;
			if (e) {
				snprintf(msg, msgsz, "%s: map dump failed: %s", d->name, bpfvm_strerror(e));
				v = DIFF_ENGINES;
			}
		}
		if (p)
			bpfvm_prog_put(p);
		for (unsigned i = 0; i < GEN_MAX_TARGETS; i++)
			if (t[i])
				bpfvm_prog_put(t[i]);
		if (progs)
			bpfvm_map_put(progs);
		if (v)
			return v;
	}
	/* The moved runs first: an address-dependent program differs between
	 * engines too, and the fault is then the generator's. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < DIFF_NRUNS; k++) {
			char what[160] = "same";
			if (diff_runs[k].moved != !pass)
				continue;
			bool mdiff = maps && diff_dumps_differ(&dump[0], &dump[k], what, sizeof(what));
			if (rc[k] == 0 && r0[k] == r0[0] && !memcmp(mem[k], mem[0], GEN_MEM) && !mdiff)
				continue;
			snprintf(msg, msgsz, "%s: run %d r0 %#llx; %s: run %d r0 %#llx, memory %s, maps %s", diff_runs[0].name,
			         rc[0], (unsigned long long)r0[0], diff_runs[k].name, rc[k], (unsigned long long)r0[k],
			         memcmp(mem[k], mem[0], GEN_MEM) ? "differ" : "same", what);
			return diff_runs[k].moved ? DIFF_ADDRESS_DEPENDENT : DIFF_ENGINES;
		}
	return DIFF_SAME;
}

/* The original check: insns (n insns, input m0 of GEN_MEM bytes), no
 * maps, no tail-call targets. */
static inline enum diff_verdict diff_prog(bpfvm *vm, const struct bpf_insn *insns, size_t n, const uint8_t *m0,
                                          char *msg, size_t msgsz)
{
	struct diff_env env = { .vm = vm };
	struct diff_case c = { .insns = insns, .n = n, .m0 = m0 };
	return diff_case(&env, &c, msg, msgsz);
}

/* A generated case: its program type ("mem" or DIFF_CTX_TYPE), 0-2
 * tail-call targets (generated first), the program, its input, the maps'
 * initial contents, all from r. */
#define DIFF_TARGET_CAP 300
struct diff_gen {
	struct bpf_insn prog[GEN_MAXLEN];
	struct bpf_insn target[GEN_MAX_TARGETS][DIFF_TARGET_CAP];
	uint8_t m0[GEN_MEM];
	struct gen_map_init mi;
	struct diff_case c;
};

static inline void diff_gen(struct gen_rng *r, struct diff_gen *g, size_t cap, uint32_t features)
{
	memset(&g->c, 0, sizeof(g->c));
	if (features && (gen_next(r) & 1))
		g->c.type = DIFF_CTX_TYPE;
	if (features & GEN_F_TAIL) {
		g->c.ntargets = (unsigned)(gen_next(r) % (GEN_MAX_TARGETS + 1));
		for (unsigned i = 0; i < g->c.ntargets; i++) {
			g->c.target[i] = g->target[i];
			g->c.target_n[i] = gen_prog_ex(r, g->target[i], DIFF_TARGET_CAP, features & ~GEN_F_TAIL_SUB);
		}
	}
	g->c.insns = g->prog;
	g->c.n = gen_prog_ex(r, g->prog, cap, features);
	for (int i = 0; i < GEN_MEM; i++)
		g->m0[i] = (uint8_t)gen_next(r);
	g->c.m0 = g->m0;
	if (features) {
		gen_map_init(r, &g->mi);
		g->c.mi = &g->mi;
	}
}

#endif
