/*
 * Hash writer stress test (suite 'stress'): several threads insert,
 * replace, delete and look up keys of shared hash maps (preallocated,
 * BPF_F_NO_PREALLOC, LRU, per-CPU), each element carrying its key so a
 * reader can tell a torn or reused element.  The run is cut into epochs:
 * each epoch creates the maps and starts fresh threads (so thread indexes
 * and their caches in the maps are reused); at the end of an epoch half
 * of the threads exit with populated caches while the maps are still
 * there, the maps are put (freed after a grace period) while the other
 * half still hold caches in them, and those exit afterwards.  Between the
 * two, the maps' census (maps/hash.c test hook) checks the count against
 * max_entries and that no preallocated element is lost or in two places.
 * ASan/LSan and TSan check the rest.  Usage: writer_stress [seconds].
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpfvm.h"
#include "map_impl.h"
#include "rcu.h"
#include "stress.h"

#define NTHREADS 4
#define NMAPS 4
#define MAX_ENTRIES 256
#define NKEYS 400 /* more keys than room: inserts meet -E2BIG (or evict) */
#define VWORDS 8

static atomic_long ops;
static unsigned ncpu;

static const struct {
	const char *name;
	uint32_t type, flags;
} kinds[NMAPS] = {
	{ "hash", BPFVM_MAP_HASH, 0 },
	{ "hash no-prealloc", BPFVM_MAP_HASH, BPFVM_F_NO_PREALLOC },
	{ "lru hash", BPFVM_MAP_LRU_HASH, 0 },
	{ "percpu hash", BPFVM_MAP_PERCPU_HASH, 0 },
};

static bpfvm_map *maps[NMAPS];

struct worker {
	pthread_t th;
	unsigned id;
	uint64_t seed;
	double until;            /* CLOCK_MONOTONIC seconds */
	pthread_barrier_t *hold; /* late exiters wait here until the maps are put */
	bool late;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A value for key k: every word (of every CPU's value) says k, so a
 * lookup that returns another key's element or a torn one is caught. */
static void fill(uint64_t *v, uint64_t k, unsigned words)
{
	for (unsigned i = 0; i < words; i++)
		v[i] = k ^ ((uint64_t)i << 56);
}

static void check_value(const char *name, const uint64_t *v, uint64_t k, unsigned words)
{
	for (unsigned i = 0; i < words; i++)
		if (v[i] != (k ^ ((uint64_t)i << 56))) {
			CHECK(false, "%s: key %llu word %u holds %llx", name, (unsigned long long)k, i,
			      (unsigned long long)v[i]);
			return;
		}
}

static void *work(void *p)
{
	struct worker *w = p;
	uint64_t *v = calloc((size_t)VWORDS * ncpu, 8), *out = calloc((size_t)VWORDS * ncpu, 8);
	long n = 0;
	while (now_s() < w->until) {
		for (int i = 0; i < 256; i++, n++) {
			uint64_t r = rnd(&w->seed);
			unsigned mi = (unsigned)(r % NMAPS);
			bpfvm_map *m = maps[mi];
			unsigned words = VWORDS * (kinds[mi].type == BPFVM_MAP_PERCPU_HASH ? ncpu : 1);
			uint64_t k = 1 + (r >> 8) % NKEYS;
			int rc;
			switch ((r >> 40) % 5) {
			case 0:
			case 1:
				fill(v, k, words);
				rc = bpfvm_map_update(m, &k, v, BPFVM_NOEXIST);
				CHECK(rc == 0 || rc == -EEXIST || rc == -E2BIG, "%s insert: %d", kinds[mi].name, rc);
				CHECK(rc != -E2BIG || kinds[mi].type != BPFVM_MAP_LRU_HASH, "LRU insert said -E2BIG");
				break;
			case 2:
				fill(v, k, words);
				rc = bpfvm_map_update(m, &k, v, BPFVM_EXIST);
				CHECK(rc == 0 || rc == -ENOENT, "%s replace: %d", kinds[mi].name, rc);
				break;
			case 3:
				rc = bpfvm_map_delete(m, &k);
				CHECK(rc == 0 || rc == -ENOENT, "%s delete: %d", kinds[mi].name, rc);
				break;
			default:
				rc = bpfvm_map_lookup(m, &k, out, 0);
				CHECK(rc == 0 || rc == -ENOENT, "%s lookup: %d", kinds[mi].name, rc);
				if (rc == 0)
					check_value(kinds[mi].name, out, k, words);
			}
		}
	}
	atomic_fetch_add(&ops, n);
	free(v);
	free(out);
	if (w->late) {
		pthread_barrier_wait(w->hold); /* done with the maps, caches populated */
		pthread_barrier_wait(w->hold); /* the maps are put and maybe freed */
	}
	return NULL; /* exits registered: RCU's destructor flushes our caches */
}

/* Every worker has stopped writing: the census must balance. */
static void census(unsigned mi)
{
	struct map_htab_census c;
	int err = map_htab_test_census(maps[mi], &c);
	CHECK(err == 0, "%s census: %d (an element lost or in two places)", kinds[mi].name, err);
	if (err)
		return;
	uint32_t linked = c.linked;
	CHECK(c.count >= 0 && c.count <= MAX_ENTRIES, "%s count %ld", kinds[mi].name, c.count);
	CHECK(linked <= MAX_ENTRIES, "%s: %u linked", kinds[mi].name, linked);
	/* Nothing is mid-insert: every counted element is linked. */
	CHECK(c.count == (long)linked, "%s: count %ld, %u linked", kinds[mi].name, c.count, linked);
	/* After rcu_barrier every element is in one place. */
	uint32_t placed = c.linked + c.freelist + c.magazines + c.tretired + c.shared_retired + c.orphans;
	CHECK(placed == c.carved, "%s: carved %u, placed %u",
	      kinds[mi].name, c.carved, placed);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	bpfvm *vm;
	if (bpfvm_create(NULL, &vm))
		return 1;
	ncpu = vm_nr_cpus();
	double end = now_s() + secs;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned epochs = 0;
	while (now_s() < end) {
		for (unsigned mi = 0; mi < NMAPS; mi++) {
			struct bpfvm_map_attr a = { .sz = sizeof(a), .type = kinds[mi].type, .key_size = 8,
			                            .value_size = VWORDS * 8, .max_entries = MAX_ENTRIES,
			                            .map_flags = kinds[mi].flags, .spin_lock_off = -1 };
			if (bpfvm_map_create(vm, &a, &maps[mi])) {
				fprintf(stderr, "writer_stress: cannot create %s\n", kinds[mi].name);
				return 1;
			}
		}
		pthread_barrier_t hold;
		pthread_barrier_init(&hold, NULL, NTHREADS / 2 + 1);
		struct worker w[NTHREADS];
		double until = now_s() + 0.2;
		for (unsigned t = 0; t < NTHREADS; t++) {
			w[t] = (struct worker){ .id = t, .seed = rnd(&seed) | 1, .until = until, .hold = &hold,
			                        .late = t % 2 };
			pthread_create(&w[t].th, NULL, work, &w[t]);
		}
		/* The early half exits with the maps alive (its caches go back
		 * to them); the late half waits with populated caches. */
		for (unsigned t = 0; t < NTHREADS; t += 2)
			pthread_join(w[t].th, NULL);
		pthread_barrier_wait(&hold);
		/* Nobody writes now: the late half's caches are still populated. */
		map_barrier();
		for (unsigned mi = 0; mi < NMAPS; mi++)
			census(mi);
		for (unsigned mi = 0; mi < NMAPS; mi++)
			bpfvm_map_put(maps[mi]);
		if (epochs % 2)
			map_barrier(); /* maps freed before the late half exits */
		pthread_barrier_wait(&hold);
		for (unsigned t = 1; t < NTHREADS; t += 2)
			pthread_join(w[t].th, NULL);
		pthread_barrier_destroy(&hold);
		epochs++;
	}
	bpfvm_destroy(vm);
	long f = atomic_load(&failures);
	printf("writer_stress: %u epochs, %ld operations, %ld failures\n", epochs, atomic_load(&ops), f);
	return f ? 1 : 0;
}
