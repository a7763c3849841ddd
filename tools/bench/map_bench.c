/*
 * map_bench: hash map ns per operation (not a test).
 *
 * bpfvm's hash map from the host API (lookup copies the value out), through
 * the program helper the interpreter calls (returns the value pointer), and
 * from a program (the interpreter looping over keys), against uthash and a
 * plain single-threaded linear-probing table written here.  65,536 and 1M
 * scattered 8-byte keys, 8- and 64-byte values; lookup, update (replace an
 * existing key), delete and insert, bpfvm's on 1 and 2 threads (writers
 * on disjoint keys; "host API, map/thread" is the control where the second
 * thread writes a second map holding the same keys, so the two threads
 * share no line of a map).
 *
 * Timing: each figure is thread CPU time (CLOCK_THREAD_CPUTIME_ID) per op,
 * the best of 7 rounds, and the rounds interleave every cell so a
 * burst of load from other processes hits all of them alike.  2-thread
 * cells run the same pass on two threads (each over its own keys) and
 * report the aggregate throughput as ns/op (sum of each thread's ops per
 * CPU second); their ratio to the 1-thread cell is what two threads give
 * when each has a core.  The wall-clock ratio is printed too: on a loaded
 * machine it shows the load, not the map.  Load averages are printed.
 *   usage: map_bench [--quick | --lookups]
 * --quick: 65,536 keys only.  --lookups: the 1-thread lookup cells alone
 * (plain table, uthash, helper, host API), 21 rounds, with the median
 * round and its ratio to the plain table's median besides the best.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "bpfvm.h"
#include "map.h"
#include "rcu.h"
#include "../../tests/vm/insn.h"

#define MAX_SAMPLES 21
#define PASS_OPS 262144 /* operations per cell per round (fewer if n is smaller) */
#define PROG_OPS 1024   /* keys per program run */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static volatile uint64_t sink;

/* ---- the plain table: linear probing, keys and values inline ---- */

struct plain {
	uint64_t *keys; /* 0 = empty (bench keys are never 0) */
	uint8_t *vals;
	size_t mask, vs;
};

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x;
}

static void plain_init(struct plain *t, size_t n, size_t vs)
{
	size_t cap = 1;
	while (cap < 2 * n)
		cap <<= 1;
	t->keys = calloc(cap, 8);
	t->vals = calloc(cap, vs);
	t->mask = cap - 1;
	t->vs = vs;
}

static inline void *plain_find(struct plain *t, uint64_t k)
{
	for (size_t i = mix(k) & t->mask;; i = (i + 1) & t->mask) {
		if (t->keys[i] == k)
			return t->vals + i * t->vs;
		if (!t->keys[i])
			return NULL;
	}
}

static inline void plain_put(struct plain *t, uint64_t k, const void *v)
{
	size_t i = mix(k) & t->mask;
	while (t->keys[i] && t->keys[i] != k)
		i = (i + 1) & t->mask;
	t->keys[i] = k;
	memcpy(t->vals + i * t->vs, v, t->vs);
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void plain_del(struct plain *t, uint64_t k)
{
	size_t i = mix(k) & t->mask;
	while (t->keys[i] != k) {
		if (!t->keys[i])
			return;
		i = (i + 1) & t->mask;
	}
	for (size_t j = i;;) {
		t->keys[i] = 0;
		for (;;) {
			j = (j + 1) & t->mask;
			if (!t->keys[j])
				return;
			size_t h = mix(t->keys[j]) & t->mask;
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		t->keys[i] = t->keys[j];
		memcpy(t->vals + i * t->vs, t->vals + j * t->vs, t->vs);
		i = j;
	}
}

/* ---- uthash ---- */

struct ut {
	uint64_t key;
	UT_hash_handle hh;
	uint8_t val[64];
};

/* ---- the subjects and one timed pass of each operation ---- */

struct subj {
	size_t n, vs;
	struct plain plain;
	struct ut *ut_head, *ut_elems; /* elements reused across delete/insert */
	bpfvm_map *m;
	bpfvm_prog *p_lookup, *p_update, *p_delete, *p_insert, *p_lookup_jit;
	uint8_t val[64];
	struct subj *own; /* I_HOST_OWN's second thread: the same keys in another map */
};

/* I_HOST_OWN: the host API, but on 2 threads each thread writes a map of
 * its own (a control: what two writers give when they share no line). */
enum impl { I_PLAIN, I_UT, I_UT_COPY, I_HELPER, I_HOST, I_PROG, I_HOST_OWN, I_PROG_JIT, NIMPL };
static const char *impl_name[NIMPL] = { "plain open addressing", "uthash (pointer)", "uthash (copy out)",
	                                "bpfvm helper", "bpfvm host API", "bpfvm program (interp)",
	                                "host API, map/thread", "bpfvm program (JIT)" };
enum op { O_LOOKUP, O_UPDATE, O_DELETE, O_INSERT, NOP };
static const char *op_name[NOP] = { "lookup", "update", "delete", "insert" };

/* keys[0..cnt) through impl's op; returns thread CPU ns per op. */
static double pass(struct subj *S, enum impl im, enum op op, const uint64_t *keys, size_t cnt)
{
	uint64_t acc = 0, t0 = cpu_ns();
	uint8_t v[64];
	struct ut *e;
	if (im == I_HOST_OWN)
		im = I_HOST; /* the same pass, on the thread's own map */
	switch (im * NOP + op) {
	case I_PLAIN * NOP + O_LOOKUP:
		for (size_t i = 0; i < cnt; i++)
			acc += (uintptr_t)plain_find(&S->plain, keys[i]);
		break;
	case I_PLAIN * NOP + O_UPDATE:
		for (size_t i = 0; i < cnt; i++)
			memcpy(plain_find(&S->plain, keys[i]), S->val, S->vs);
		break;
	case I_PLAIN * NOP + O_DELETE:
		for (size_t i = 0; i < cnt; i++)
			plain_del(&S->plain, keys[i]);
		break;
	case I_PLAIN * NOP + O_INSERT:
		for (size_t i = 0; i < cnt; i++)
			plain_put(&S->plain, keys[i], S->val);
		break;
	case I_UT * NOP + O_LOOKUP:
		for (size_t i = 0; i < cnt; i++) {
			HASH_FIND(hh, S->ut_head, &keys[i], 8, e);
			acc += (uintptr_t)e;
		}
		break;
	case I_UT_COPY * NOP + O_LOOKUP:
		for (size_t i = 0; i < cnt; i++) {
			HASH_FIND(hh, S->ut_head, &keys[i], 8, e);
			if (e) {
				memcpy(v, e->val, S->vs); /* copy out, as the host API does */
				acc += v[0];
			}
		}
		break;
	case I_UT * NOP + O_UPDATE:
		for (size_t i = 0; i < cnt; i++) {
			HASH_FIND(hh, S->ut_head, &keys[i], 8, e);
			memcpy(e->val, S->val, S->vs);
		}
		break;
	case I_UT * NOP + O_DELETE:
		for (size_t i = 0; i < cnt; i++) {
			HASH_FIND(hh, S->ut_head, &keys[i], 8, e);
			HASH_DEL(S->ut_head, e);
		}
		break;
	case I_UT * NOP + O_INSERT:
		/* keys[] of a delete/insert pair is keys of the key array: the
		 * element for keys[i] is found by its index there. */
		for (size_t i = 0; i < cnt; i++) {
			e = &S->ut_elems[i];
			memcpy(e->val, S->val, S->vs);
			HASH_ADD(hh, S->ut_head, key, 8, e);
		}
		break;
	case I_HELPER * NOP + O_LOOKUP:
		rcu_read_lock();
		for (size_t i = 0; i < cnt; i++)
			acc += map_helper_lookup((uintptr_t)S->m, (uintptr_t)&keys[i], 0, 0, 0) != 0;
		rcu_read_unlock();
		break;
	case I_HOST * NOP + O_LOOKUP:
		for (size_t i = 0; i < cnt; i++)
			acc += bpfvm_map_lookup(S->m, &keys[i], v, 0) == 0;
		break;
	case I_HOST * NOP + O_UPDATE:
		for (size_t i = 0; i < cnt; i++)
			acc += bpfvm_map_update(S->m, &keys[i], S->val, BPFVM_EXIST) == 0;
		break;
	case I_HOST * NOP + O_DELETE:
		for (size_t i = 0; i < cnt; i++)
			acc += bpfvm_map_delete(S->m, &keys[i]) == 0;
		break;
	case I_HOST * NOP + O_INSERT:
		for (size_t i = 0; i < cnt; i++)
			acc += bpfvm_map_update(S->m, &keys[i], S->val, BPFVM_NOEXIST) == 0;
		break;
	case I_PROG_JIT * NOP + O_LOOKUP:
	case I_PROG * NOP + O_LOOKUP:
	case I_PROG * NOP + O_UPDATE:
	case I_PROG * NOP + O_DELETE:
	case I_PROG * NOP + O_INSERT: {
		bpfvm_prog *p = im == I_PROG_JIT ? S->p_lookup_jit : op == O_LOOKUP ? S->p_lookup : op == O_UPDATE ? S->p_update
		              : op == O_DELETE ? S->p_delete : S->p_insert;
		/* The program reads the value to store from the key array
		 * itself (padded by 64 bytes past its end).  Runs of PROG_OPS
		 * keys: a program's run is one read section, and the elements
		 * its updates replace wait for a grace period after it (a run
		 * that replaces more than the map's spares gets -ENOMEM). */
		for (size_t i = 0; i < cnt; i += PROG_OPS) {
			uint64_t r0 = 0;
			size_t n = cnt - i < PROG_OPS ? cnt - i : PROG_OPS;
			if (bpfvm_prog_run(p, (void *)(keys + i), n * 8, &r0) == 0)
				acc += r0;
		}
		break;
	}
	default:
		return -1;
	}
	double ns = (double)(cpu_ns() - t0) / (double)cnt;
	if (im >= I_HELPER && acc != cnt) {
		fprintf(stderr, "map_bench: %s %s: %llu of %zu ops succeeded\n", impl_name[im], op_name[op],
		        (unsigned long long)acc, cnt);
		exit(1);
	}
	sink += acc;
	return ns;
}

/* The same pass on two threads, each over its own keys. */
struct pass2 {
	struct subj *S;
	enum impl im;
	enum op op;
	const uint64_t *keys;
	size_t cnt;
	double ns;
};

static void *pass_thread(void *p)
{
	struct pass2 *a = p;
	a->ns = pass(a->S, a->im, a->op, a->keys, a->cnt);
	rcu_thread_unregister();
	return NULL;
}

/* The 1-thread pass of a writer cell, on a fresh thread as the 2-thread
 * cells' passes are: the same thread start-up, malloc arena and per-thread
 * map caches (maps/hash.c), so that the ratio compares like with like (on
 * the main thread, whose arena and caches carry every earlier cell's
 * state, 1-thread writer figures came out up to 2x off in either
 * direction). */
static double pass_1thread(struct subj *S, enum impl im, enum op op, const uint64_t *keys, size_t cnt)
{
	pthread_t th;
	struct pass2 a = { S, im, op, keys, cnt, 0 };
	pthread_create(&th, NULL, pass_thread, &a);
	pthread_join(th, NULL);
	return a.ns;
}

/* Aggregate ns/op from CPU time (1 / sum of throughputs); *wall gets the
 * wall-clock ns/op of both together. */
static double pass_2threads(struct subj *S, enum impl im, enum op op, const uint64_t *k0, const uint64_t *k1,
                            size_t cnt, double *wall)
{
	pthread_t th[2];
	struct pass2 a[2];
	uint64_t t0 = now_ns();
	for (int i = 0; i < 2; i++) {
		a[i] = (struct pass2){ i && im == I_HOST_OWN ? S->own : S, im, op, i ? k1 : k0, cnt, 0 };
		pthread_create(&th[i], NULL, pass_thread, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	*wall = (double)(now_ns() - t0) / (2.0 * (double)cnt);
	return 1.0 / (1.0 / a[0].ns + 1.0 / a[1].ns);
}

/* r1 = keys, r2 = bytes: for each key, call `helper` (map, key, value =
 * the key's bytes, flags); r0 = how many calls succeeded (lookup: found). */
static bpfvm_prog *loop_prog(bpfvm *vm, bpfvm_map *m, int helper, int flags, uint32_t engine)
{
	struct bpf_insn ins[32];
	int n = 0;
	ins[n++] = MOV64_X(6, 1);
	ins[n++] = MOV64_X(7, 1);
	ins[n++] = ALU64_X(OP_ADD, 7, 2);
	ins[n++] = MOV64_K(8, 0);
	int loop = n;
	struct bpf_insn ld[2] = { LDDW_SRC(1, 1, bpfvm_map_fd(m), 0) };
	ins[n++] = ld[0];
	ins[n++] = ld[1];
	ins[n++] = MOV64_X(2, 6);
	ins[n++] = MOV64_X(3, 6);
	ins[n++] = MOV64_K(4, flags);
	ins[n++] = CALL(helper);
	ins[n++] = helper == BPFVM_FN_map_lookup_elem ? JEQ_K(0, 0, 1) : JNE_K(0, 0, 1);
	ins[n++] = ALU64_K(OP_ADD, 8, 1);
	ins[n++] = ALU64_K(OP_ADD, 6, 8);
	ins[n] = INS(0xad, 6, 7, loop - (n + 1), 0); /* if r6 < r7 goto loop */
	n++;
	ins[n++] = MOV64_X(0, 8);
	ins[n++] = EXIT;
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED, .engine = engine };
	bpfvm_prog *p;
	if (bpfvm_prog_load(vm, ins, (size_t)n, &po, &p) || bpfvm_prog_engine(p) != engine) {
		fprintf(stderr, "map_bench: cannot load the loop program\n");
		exit(1);
	}
	return p;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The best of the rounds: other processes only ever add CPU time to a
 * pass (cache and TLB evictions, frequency), so the minimum is the
 * estimate least disturbed by the machine's load. */
static int samples = 7; /* rounds: 7, or 21 with --lookups */

static double best(double *v)
{
	qsort(v, (size_t)samples, sizeof(*v), cmp_d);
	return v[0];
}

/* The median round (after best() sorted v). */
static double median(const double *v)
{
	return v[samples / 2];
}

static void loadavg(const char *when)
{
	double la[3] = { 0 };
	if (getloadavg(la, 3) == 3)
		printf("load average %s: %.2f %.2f %.2f\n", when, la[0], la[1], la[2]);
}

/* What each round runs, in order (delete before insert: insert re-adds).
 * The 2-thread delete and insert passes run after every 1-thread cell of
 * the round, in this order too, so each deletes keys that are there. */
struct cellspec {
	enum impl im;
	enum op op;
	bool two; /* also on 2 threads */
};
static const struct cellspec cells[] = {
	{ I_PLAIN, O_LOOKUP, true },   { I_UT, O_LOOKUP, false },     { I_UT_COPY, O_LOOKUP, false },
	{ I_HELPER, O_LOOKUP, true },  { I_HOST, O_LOOKUP, true },    { I_PROG, O_LOOKUP, true },
	{ I_PROG_JIT, O_LOOKUP, true },
	{ I_PLAIN, O_UPDATE, false },  { I_UT, O_UPDATE, false },     { I_HOST, O_UPDATE, true },
	{ I_PROG, O_UPDATE, true },    { I_PLAIN, O_DELETE, false },  { I_PLAIN, O_INSERT, false },
	{ I_UT, O_DELETE, false },     { I_UT, O_INSERT, false },     { I_HOST, O_DELETE, true },
	{ I_HOST, O_INSERT, true },    { I_PROG, O_DELETE, true },    { I_PROG, O_INSERT, true },
	{ I_HOST_OWN, O_UPDATE, true }, { I_HOST_OWN, O_DELETE, true }, { I_HOST_OWN, O_INSERT, true },
};
#define NCELLS (sizeof(cells) / sizeof(cells[0]))
/* --lookups: the lookup cells alone, 21 rounds, medians too: the ratio to
 * the plain table without the other cells' writes between them. */
static const struct cellspec lookup_cells[] = {
	{ I_PLAIN, O_LOOKUP, false }, { I_UT, O_LOOKUP, false }, { I_HELPER, O_LOOKUP, false },
	{ I_HOST, O_LOOKUP, false }, { I_PROG, O_LOOKUP, false }, { I_PROG_JIT, O_LOOKUP, false },
};
static const struct cellspec *run_cells = cells;
static size_t run_ncells = NCELLS;

static void run(size_t n, size_t vs, bpfvm *vm)
{
	size_t cnt = n < PASS_OPS ? n : PASS_OPS;
	/* keys: distinct scattered 64-bit values; order: 2 x cnt random
	 * (hit) keys for lookups and 1-thread updates, a half per thread;
	 * order2: the same for 2-thread updates, each half drawn from its own
	 * half of keys (writers on disjoint keys, as the issue asks); the
	 * delete/insert passes use keys[0..cnt), whose order is random too,
	 * on 2 threads a half each.  The arrays are padded: programs read
	 * values from them. */
	uint64_t *keys = calloc(n + 8, 8), *order = calloc(2 * cnt + 8, 8), *order2 = calloc(2 * cnt + 8, 8);
	for (size_t i = 0; i < n; i++)
		keys[i] = rnd() | 1;
	for (size_t i = 0; i < 2 * cnt; i++) {
		order[i] = keys[rnd() % n];
		order2[i] = keys[(i < cnt ? 0 : n / 2) + rnd() % (n / 2)];
	}
	struct subj S = { .n = n, .vs = vs };
	memset(S.val, 7, sizeof(S.val));

	plain_init(&S.plain, n, vs);
	S.ut_elems = calloc(n, sizeof(struct ut));
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_HASH, .key_size = 8, .value_size = (uint32_t)vs,
	                            .max_entries = (uint32_t)n, .spin_lock_off = -1 };
	if (!S.ut_elems || bpfvm_map_create(vm, &a, &S.m))
		exit(1);
	for (size_t i = 0; i < n; i++) {
		plain_put(&S.plain, keys[i], S.val);
		S.ut_elems[i].key = keys[i];
		HASH_ADD(hh, S.ut_head, key, 8, &S.ut_elems[i]);
		if (bpfvm_map_update(S.m, &keys[i], S.val, BPFVM_NOEXIST))
			exit(1);
	}
	struct subj own = S;
	if (bpfvm_map_create(vm, &a, &own.m))
		exit(1);
	for (size_t i = 0; i < n; i++)
		if (bpfvm_map_update(own.m, &keys[i], S.val, BPFVM_NOEXIST))
			exit(1);
	S.own = &own;
	S.p_lookup = loop_prog(vm, S.m, BPFVM_FN_map_lookup_elem, 0, BPFVM_ENGINE_INTERP);
	S.p_update = loop_prog(vm, S.m, BPFVM_FN_map_update_elem, BPFVM_EXIST, BPFVM_ENGINE_INTERP);
	S.p_delete = loop_prog(vm, S.m, BPFVM_FN_map_delete_elem, 0, BPFVM_ENGINE_INTERP);
	S.p_insert = loop_prog(vm, S.m, BPFVM_FN_map_update_elem, BPFVM_NOEXIST, BPFVM_ENGINE_INTERP);
	S.p_lookup_jit = loop_prog(vm, S.m, BPFVM_FN_map_lookup_elem, 0, BPFVM_ENGINE_JIT);

	printf("\n### %zu keys, %zu-byte values (%zu ops per cell per round, best of %d rounds)\n\n", n, vs,
	       cnt, samples);
	loadavg("before");
	static double one[NCELLS][MAX_SAMPLES], two[NCELLS][MAX_SAMPLES], wall1[NCELLS][MAX_SAMPLES],
	        wall2[NCELLS][MAX_SAMPLES];
	for (int r = 0; r < samples; r++) {
		for (size_t c = 0; c < run_ncells; c++) {
			const struct cellspec *cs = &run_cells[c];
			bool del = cs->op == O_DELETE || cs->op == O_INSERT;
			const uint64_t *k = del ? keys : order;
			/* Lookups and updates leave the map as it was: a first,
			 * untimed pass warms the caches, so the 1-thread figure
			 * doesn't pay for the previous cell's evictions that the
			 * 2-thread one, run right after, wouldn't. */
			if (!del)
				pass(&S, cs->im, cs->op, k, cnt);
			uint64_t t0 = now_ns();
			one[c][r] = cs->im >= I_HOST && cs->op != O_LOOKUP ? pass_1thread(&S, cs->im, cs->op, k, cnt)
			                                                   : pass(&S, cs->im, cs->op, k, cnt);
			wall1[c][r] = (double)(now_ns() - t0) / (double)cnt;
			const uint64_t *o = cs->op == O_LOOKUP ? order : order2;
			if (cs->two && !del)
				two[c][r] = pass_2threads(&S, cs->im, cs->op, o, o + cnt, cnt, &wall2[c][r]);
		}
		/* 2-thread deletes then inserts: cnt / 2 keys each. */
		for (size_t c = 0; c < run_ncells; c++) {
			const struct cellspec *cs = &run_cells[c];
			if (cs->two && (cs->op == O_DELETE || cs->op == O_INSERT))
				two[c][r] = pass_2threads(&S, cs->im, cs->op, keys, keys + cnt / 2, cnt / 2, &wall2[c][r]);
		}
	}
	loadavg("after");
	double plain_lookup = best(one[0]), ut_lookup = best(one[1]);
	if (run_cells == lookup_cells) {
		/* Best and median of the rounds, and the ratio of each to the
		 * plain table's in the same rounds. */
		double plain_med = median(one[0]);
		printf("\n| implementation         | best ns | median ns | best vs plain | median vs plain |\n");
		printf("|------------------------|--------:|----------:|--------------:|----------------:|\n");
		for (size_t c = 0; c < run_ncells; c++) {
			double b = best(one[c]), m = median(one[c]);
			printf("| %-22s | %7.1f | %9.1f | %12.2fx | %14.2fx |\n", impl_name[run_cells[c].im], b, m,
			       b / plain_lookup, m / plain_med);
		}
		goto out;
	}
	printf("\n| implementation         | op     | 1 thread ns/op | 2 threads ns/op | 2T/1T throughput (CPU) | (wall) | vs plain | vs uthash |\n");
	printf("|------------------------|--------|---------------:|----------------:|-----------------------:|-------:|---------:|----------:|\n");
	for (size_t c = 0; c < NCELLS; c++) {
		const struct cellspec *cs = &cells[c];
		double m1 = best(one[c]);
		printf("| %-22s | %-6s | %14.1f |", cs->im == I_UT && cs->op != O_LOOKUP ? "uthash" : impl_name[cs->im],
		       op_name[cs->op], m1);
		if (cs->two) {
			double m2 = best(two[c]), w1 = best(wall1[c]), w2 = best(wall2[c]);
			printf(" %15.1f | %21.2fx | %5.2fx |", m2, m1 / m2, w1 / w2);
		} else {
			printf(" %15s | %22s | %6s |", "", "", "");
		}
		if (cs->op == O_LOOKUP && cs->im != I_PLAIN)
			printf(" %7.2fx | %8.2fx |\n", m1 / plain_lookup, m1 / ut_lookup);
		else
			printf(" %8s | %9s |\n", "", "");
	}
out:
	bpfvm_prog_put(S.p_lookup);
	bpfvm_prog_put(S.p_lookup_jit);
	bpfvm_prog_put(S.p_update);
	bpfvm_prog_put(S.p_delete);
	bpfvm_prog_put(S.p_insert);
	bpfvm_map_put(S.m);
	bpfvm_map_put(own.m);
	map_barrier();
	HASH_CLEAR(hh, S.ut_head);
	free(S.ut_elems);
	free(S.plain.keys);
	free(S.plain.vals);
	free(keys);
	free(order);
	free(order2);
}

/* Control: how much a 2-thread run of pure arithmetic gains here.  On a
 * shared machine this bounds what any 2-thread figure above can show. */
static void *spin(void *p)
{
	volatile uint64_t x = 0;
	for (uint64_t i = 0; i < 200000000; i++)
		x += i;
	return p;
}

static void control(void)
{
	pthread_t th[2];
	uint64_t t0 = now_ns();
	spin(NULL);
	double one = (double)(now_ns() - t0);
	t0 = now_ns();
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("control: pure-arithmetic 2-thread/1-thread throughput on this machine now: %.2fx\n",
	       2 * one / (double)(now_ns() - t0));
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	if (argc > 1 && !strcmp(argv[1], "--lookups")) {
		run_cells = lookup_cells;
		run_ncells = sizeof(lookup_cells) / sizeof(lookup_cells[0]);
		samples = MAX_SAMPLES;
	}
	bpfvm *vm;
	if (bpfvm_create(NULL, &vm))
		return 1;
	size_t sizes[] = { 65536, 1u << 20 };
	for (int s = 0; s < (quick ? 1 : 2); s++)
		for (size_t vs = 8; vs <= 64; vs *= 8)
			run(sizes[s], vs, vm);
	bpfvm_destroy(vm);
	printf("grace periods during the run: %lu\n", rcu_gp_seq() / 2);
	control();
	return 0;
}
