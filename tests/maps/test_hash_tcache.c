/*
 * The hash map's per-thread element caches (maps/hash.c, docs/maps.md
 * "Writers"): max_entries stays exact under concurrent inserts, no
 * preallocated element is lost or in two places, a thread's cache goes
 * back when the thread exits or unregisters, and a map freed while threads
 * hold caches in it is not touched afterwards (ASan checks that part).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "map_impl.h"
#include "mt.h"
#include "rcu.h"

#define NTHREADS 4

/* Values for any map here: per-CPU maps take one value per CPU. */
static const uint64_t vbuf[4096];

static bpfvm_map *census_map(bpfvm_map *m, struct map_htab_census *c)
{
	int err = map_htab_test_census(m, c);
	cr_assert_eq(err, 0, "census: %s (an element lost its place or is in two)", bpfvm_strerror(err));
	return m;
}

/* Every preallocated element handed out is in exactly one place. */
static void assert_conserved(const struct map_htab_census *c)
{
	uint32_t placed = c->linked + c->freelist + c->magazines + c->tretired + c->shared_retired + c->orphans;
	cr_assert_eq(placed, c->carved,
	             "carved %u, found %u (linked %u, pool %u, magazines %u, thread batches %u, shared %u, orphans %u)",
	             c->carved, placed, c->linked, c->freelist, c->magazines, c->tretired, c->shared_retired,
	             c->orphans);
}

struct ins_arg {
	bpfvm_map *m;
	uint64_t base;
	unsigned n;
	pthread_barrier_t *start;
	unsigned ok, full;
};

static void *insert_range(void *p)
{
	struct ins_arg *a = p;
	pthread_barrier_wait(a->start);
	for (unsigned i = 0; i < a->n; i++) {
		uint64_t k = a->base + i;
		int rc = bpfvm_map_update(a->m, &k, vbuf, BPFVM_NOEXIST);
		if (rc == 0)
			a->ok++;
		else if (rc == -E2BIG)
			a->full++;
		else
			cr_assert_fail("insert: %s", bpfvm_strerror(rc));
	}
	return NULL;
}

/* NTHREADS threads insert 3x max_entries distinct keys in all: exactly
 * max_entries succeed, the rest get -E2BIG, nothing past max is linked. */
static void exact_max(uint32_t type, uint32_t flags)
{
	bpfvm *vm = t_vm();
	const uint32_t max = 1000;
	bpfvm_map *m = t_map(vm, type, 8, 8, max, flags);
	pthread_t th[NTHREADS];
	struct ins_arg a[NTHREADS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int t = 0; t < NTHREADS; t++) {
		a[t] = (struct ins_arg){ m, 1 + (uint64_t)t * 100000, 3 * max / NTHREADS, &start, 0, 0 };
		pthread_create(&th[t], NULL, insert_range, &a[t]);
	}
	unsigned ok = 0;
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		ok += a[t].ok;
		cr_assert_eq(a[t].ok + a[t].full, a[t].n);
	}
	pthread_barrier_destroy(&start);
	cr_assert_eq(ok, max, "%u inserts succeeded into a map of %u", ok, max);
	struct map_htab_census c;
	census_map(m, &c);
	cr_assert_eq(c.count, (long)max);
	cr_assert_eq(c.linked, max);
	/* Deletes free room for exactly as many inserts. */
	uint64_t k = 1, extra = 999999;
	cr_assert_eq(bpfvm_map_update(m, &extra, vbuf, BPFVM_ANY), -E2BIG);
	for (k = 1; bpfvm_map_delete(m, &k) != 0; k++)
		;
	cr_assert_eq(bpfvm_map_update(m, &extra, vbuf, BPFVM_ANY), 0);
	extra++;
	cr_assert_eq(bpfvm_map_update(m, &extra, vbuf, BPFVM_ANY), -E2BIG);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(hash_tcache, exact_max_entries_concurrent_inserts)
{
	exact_max(BPFVM_MAP_HASH, 0);
}

Test(hash_tcache, exact_max_entries_concurrent_inserts_no_prealloc)
{
	exact_max(BPFVM_MAP_HASH, BPFVM_F_NO_PREALLOC);
}

Test(hash_tcache, exact_max_entries_concurrent_inserts_percpu)
{
	exact_max(BPFVM_MAP_PERCPU_HASH, 0);
}

/* Threads churn on shared keys: inserts, replaces, deletes. */
struct churn_arg {
	bpfvm_map *m;
	unsigned seed, ops, nkeys;
	long net; /* successful inserts - successful deletes */
};

static void *churn(void *p)
{
	struct churn_arg *a = p;
	uint64_t s = a->seed * 0x9e3779b97f4a7c15ull + 1, v[8] = { 0 };
	for (unsigned i = 0; i < a->ops; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		uint64_t k = 1 + s % a->nkeys;
		v[0] = k;
		switch ((s >> 32) % 4) {
		case 0:
			a->net += bpfvm_map_update(a->m, &k, v, BPFVM_NOEXIST) == 0;
			break;
		case 1:
			bpfvm_map_update(a->m, &k, v, BPFVM_EXIST);
			break;
		case 2:
			a->net -= bpfvm_map_delete(a->m, &k) == 0;
			break;
		default: {
			uint64_t out[8];
			if (bpfvm_map_lookup(a->m, &k, out, 0) == 0)
				cr_assert_eq(out[0], k, "key %llu holds another key's value", (unsigned long long)k);
		}
		}
	}
	return NULL;
}

static void churn_map(uint32_t type, uint32_t flags, uint32_t max, unsigned nkeys)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, type, 8, 64, max, flags);
	pthread_t th[NTHREADS];
	struct churn_arg a[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		a[t] = (struct churn_arg){ m, (unsigned)t + 1, 20000, nkeys, 0 };
		pthread_create(&th[t], NULL, churn, &a[t]);
	}
	long net = 0;
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		net += a[t].net;
	}
	map_barrier(); /* every submitted batch is back */
	struct map_htab_census c;
	census_map(m, &c);
	if (type != BPFVM_MAP_LRU_HASH) {
		/* (LRU evictions are deletes no thread counted.) */
		cr_assert_eq(c.count, net);
	}
	cr_assert_leq(c.linked, max);
	cr_assert_eq(c.count, (long)c.linked, "nothing is mid-insert: every counted element is linked");
	/* The threads exited: their caches went back. */
	cr_assert_eq(c.magazines, 0);
	cr_assert_eq(c.tretired, 0);
	assert_conserved(&c); /* BPF_F_NO_PREALLOC too: its elements come from growth blocks */
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(hash_tcache, no_element_lost_or_double_used)
{
	churn_map(BPFVM_MAP_HASH, 0, 512, 700);
}

Test(hash_tcache, no_element_lost_or_double_used_lru)
{
	churn_map(BPFVM_MAP_LRU_HASH, 0, 512, 700);
}

Test(hash_tcache, no_element_lost_or_double_used_no_prealloc)
{
	churn_map(BPFVM_MAP_HASH, BPFVM_F_NO_PREALLOC, 512, 700);
}

/* A thread fills its cache (a magazine of carved elements, a retire batch
 * of 5), checks it, then exits, explicitly unregistering or not. */
struct fill_arg {
	bpfvm_map *m;
	bool unregister;
	pthread_barrier_t *hold; /* NULL: exit at once */
};

static void *fill_cache(void *p)
{
	struct fill_arg *a = p;
	uint64_t v = 1;
	for (uint64_t k = 1; k <= 10; k++)
		cr_assert_eq(bpfvm_map_update(a->m, &k, &v, BPFVM_NOEXIST), 0);
	for (uint64_t k = 1; k <= 5; k++)
		cr_assert_eq(bpfvm_map_delete(a->m, &k), 0);
	if (a->hold) {
		pthread_barrier_wait(a->hold); /* the cache is populated */
		pthread_barrier_wait(a->hold); /* the main thread is done with the map */
	}
	if (a->unregister)
		rcu_thread_unregister();
	return NULL;
}

static void thread_exit_flush(bool unregister)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_HASH, 8, 8, 100, 0);
	pthread_barrier_t hold;
	pthread_barrier_init(&hold, NULL, 2);
	struct fill_arg a = { m, unregister, &hold };
	pthread_t th;
	pthread_create(&th, NULL, fill_cache, &a);
	pthread_barrier_wait(&hold);
	struct map_htab_census c;
	census_map(m, &c);
	cr_assert_gt(c.magazines, 0, "the thread's magazine holds the rest of its refill");
	cr_assert_eq(c.tretired, 5, "the five deletes wait in the thread's batch");
	assert_conserved(&c);
	pthread_barrier_wait(&hold);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&hold);
	census_map(m, &c);
	cr_assert_eq(c.magazines, 0, "the exited thread's magazine went back to the pool");
	cr_assert_eq(c.tretired, 0, "the exited thread's batch was submitted");
	map_barrier();
	census_map(m, &c);
	cr_assert_eq(c.linked, 5);
	cr_assert_eq(c.freelist, c.carved - 5, "every other element is back in the pool");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(hash_tcache, thread_exit_returns_populated_cache)
{
	thread_exit_flush(false);
}

Test(hash_tcache, thread_unregister_returns_populated_cache)
{
	thread_exit_flush(true);
}

/* The map is freed while a live thread holds a populated cache in it;
 * the thread's exit flush must not touch it afterwards (ASan). */
Test(hash_tcache, map_freed_with_populated_caches)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_HASH, 8, 8, 100, BPFVM_F_NO_PREALLOC);
	bpfvm_map *keep = t_map(vm, BPFVM_MAP_HASH, 8, 8, 100, 0); /* stays on the list */
	pthread_barrier_t hold;
	pthread_barrier_init(&hold, NULL, 2);
	struct fill_arg a = { m, false, &hold };
	pthread_t th;
	pthread_create(&th, NULL, fill_cache, &a);
	pthread_barrier_wait(&hold);
	bpfvm_map_put(m); /* the last reference: freed after a grace period */
	map_barrier();
	map_barrier(); /* the free itself, queued by the first barrier's callbacks at most */
	pthread_barrier_wait(&hold);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&hold);
	bpfvm_map_put(keep);
	bpfvm_destroy(vm);
}

/* A thread exits while the map's last reference is gone but its free
 * waits for a grace period (the main thread is in a read section): its
 * retire batch can't hold the map any more and is left to the orphans,
 * which go with the map's blocks (LSan: nothing leaks). */
Test(hash_tcache, thread_exit_while_map_dying)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_HASH, 8, 8, 100, BPFVM_F_NO_PREALLOC);
	pthread_barrier_t hold;
	pthread_barrier_init(&hold, NULL, 2);
	struct fill_arg a = { m, false, &hold };
	pthread_t th;
	pthread_create(&th, NULL, fill_cache, &a);
	pthread_barrier_wait(&hold);
	rcu_read_lock();
	bpfvm_map_put(m); /* refcount 0, free queued behind our read section */
	pthread_barrier_wait(&hold);
	pthread_join(th, NULL);
	struct map_htab_census c;
	census_map(m, &c); /* still allocated: we are in a read section */
	cr_assert_eq(c.linked, 5);
	cr_assert_eq(c.orphans, 5, "the exited thread's batch of 5 deletes");
	cr_assert_eq(c.tretired, 0);
	rcu_read_unlock();
	pthread_barrier_destroy(&hold);
	bpfvm_destroy(vm);
}

/* A program still in its read section keeps using a map whose last
 * reference is gone (an inner map just deleted from its outer map): its
 * deletes fill a retire batch, which must not take a reference on the
 * dying map (0 -> 1 -> 0 queued the map's free twice: ASan double free)
 * and goes to the orphans the free releases. */
Test(hash_tcache, retire_batch_of_a_dying_map)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_HASH, 8, 8, 200, 0);
	for (uint64_t k = 1; k <= 100; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, vbuf, BPFVM_NOEXIST), 0);
	rcu_read_lock();
	bpfvm_map_put(m); /* refcount 0, free queued behind our read section */
	unsigned bad = 0;
	for (uint64_t k = 1; k <= 100; k++) /* as a program would: the helper */
		bad += map_helper_delete((uintptr_t)m, (uintptr_t)&k, 0, 0, 0) != 0;
	struct map_htab_census c;
	int err = map_htab_test_census(m, &c);
	rcu_read_unlock(); /* checked after: the map is freed after a grace period */
	cr_assert_eq(bad, 0, "%u deletes failed", bad);
	cr_assert_eq(err, 0, "census: %s", bpfvm_strerror(err));
	cr_assert_geq(c.orphans, 64, "a full batch became orphans (%u)", c.orphans);
	assert_conserved(&c);
	bpfvm_destroy(vm);
}
