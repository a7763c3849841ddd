/*
 * Hash layout stress test (suite 'stress'): reader threads look keys up
 * through the program helper (the 8-byte fast path and its slow branch,
 * the long-key path) while writer threads insert, replace and delete, on
 * small maps whose slots are reused by other keys all the time: a plain
 * 8-byte map with more keys in play than max_entries (full most of the
 * time: inserts fail, replaces take spare elements), the same
 * with every key in one overflow chain, and a BPF_F_NO_PREALLOC map with
 * 16-byte keys.  Values are {key, ~key}.  A reader checks every value it
 * finds and checks the values of everything it found again at the end of
 * its read section: a slot paired with another key's element (the tag and
 * reference race, docs/maps.md) or an element reused within the section
 * breaks one of the two.  The maps' census (maps/hash.c test hook) checks
 * element conservation and the count at the end.  Usage: hash_stress
 * [seconds]
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

#define NMAPS 3
#define MAX_ENTRIES 48
#define NKEYS 80   /* keys in play per map: more than max_entries */
#define HELD 32    /* lookups per read section */

static atomic_bool stop;
static atomic_long ops, hits;
static bpfvm_map *maps[NMAPS];
static const uint32_t key_size[NMAPS] = { 8, 8, 16 };

/* Key i of a map (16-byte keys differ past their first word too). */
static void mkkey(unsigned mi, uint64_t i, uint64_t key[2])
{
	key[0] = i * 0x9e3779b97f4a7c15ull;
	key[1] = ~i;
	(void)mi;
}

/* Out of line: GCC 12's UBSan check of rcu_read_unlock's TLS reader,
 * inlined at the end of reader's loop, tested flags left by the loop
 * before it and reported a null pointer whenever a section found nothing
 * (the same false report a9923d4 worked around in test_hash_tcache). */
static __attribute__((noinline)) void section_end(void)
{
	rcu_read_unlock();
}

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1, key[2];
	const uint64_t *held[HELD];
	uint64_t heldk[HELD];
	while (!atomic_load(&stop)) {
		unsigned mi = rnd(&s) % NMAPS, n = 0;
		rcu_read_lock();
		for (unsigned j = 0; j < HELD; j++) {
			mkkey(mi, rnd(&s) % NKEYS, key);
			const uint64_t *v = (const uint64_t *)(uintptr_t)map_helper_lookup((uintptr_t)maps[mi],
			                                                                    (uintptr_t)key, 0, 0, 0);
			if (!v)
				continue;
			uint64_t a = atomic_load_explicit((const _Atomic uint64_t *)v, memory_order_relaxed);
			uint64_t b = atomic_load_explicit((const _Atomic uint64_t *)v + 1, memory_order_relaxed);
			CHECK(a == key[0] && b == ~key[0], "map %u: key %llx found value {%llx, %llx}", mi,
			      (unsigned long long)key[0], (unsigned long long)a, (unsigned long long)b);
			held[n] = v;
			heldk[n++] = key[0];
		}
		/* Everything found is still intact: no element came back to the
		 * pool and was reused while this section lasted. */
		for (unsigned j = 0; j < n; j++) {
			uint64_t a = atomic_load_explicit((const _Atomic uint64_t *)held[j], memory_order_relaxed);
			uint64_t b = atomic_load_explicit((const _Atomic uint64_t *)held[j] + 1, memory_order_relaxed);
			CHECK(a == heldk[j] && b == ~heldk[j], "map %u: a held value changed to {%llx, %llx}", mi,
			      (unsigned long long)a, (unsigned long long)b);
		}
		section_end();
		atomic_fetch_add_explicit(&ops, HELD, memory_order_relaxed);
		atomic_fetch_add_explicit(&hits, n, memory_order_relaxed);
	}
	rcu_thread_unregister();
	return NULL;
}

static void *writer(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1, key[2], v[2];
	while (!atomic_load(&stop)) {
		unsigned mi = rnd(&s) % NMAPS;
		mkkey(mi, rnd(&s) % NKEYS, key);
		v[0] = key[0];
		v[1] = ~key[0];
		int rc;
		switch (rnd(&s) % 4) {
		case 0:
			rc = bpfvm_map_update(maps[mi], key, v, BPFVM_NOEXIST);
			CHECK(rc == 0 || rc == -EEXIST || rc == -E2BIG, "map %u: insert %d", mi, rc);
			break;
		case 1:
			rc = bpfvm_map_update(maps[mi], key, v, BPFVM_EXIST);
			CHECK(rc == 0 || rc == -ENOENT, "map %u: replace %d", mi, rc);
			break;
		case 2:
			rc = bpfvm_map_update(maps[mi], key, v, BPFVM_ANY);
			CHECK(rc == 0 || rc == -E2BIG, "map %u: update %d", mi, rc);
			break;
		default:
			rc = bpfvm_map_delete(maps[mi], key);
			CHECK(rc == 0 || rc == -ENOENT, "map %u: delete %d", mi, rc);
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	rcu_thread_unregister();
	return NULL;
}

/* Every thread stopped: the count matches the linked elements, at most
 * max_entries, every element in one place, every linked key findable. */
static void check_map(unsigned mi)
{
	map_barrier();
	struct map_htab_census c;
	int err = map_htab_test_census(maps[mi], &c);
	CHECK(err == 0, "map %u: census %d (an element lost or in two places)", mi, err);
	if (err)
		return;
	CHECK(c.count == (long)c.linked && c.linked <= MAX_ENTRIES, "map %u: count %ld, %u linked", mi, c.count,
	      c.linked);
	uint32_t placed = c.linked + c.freelist + c.magazines + c.tretired + c.shared_retired + c.orphans;
	CHECK(placed == c.carved, "map %u: carved %u, placed %u", mi, c.carved, placed);
	uint64_t key[2], next[2], v[2];
	unsigned n = 0;
	for (int rc = bpfvm_map_get_next_key(maps[mi], NULL, next); rc == 0;
	     rc = bpfvm_map_get_next_key(maps[mi], key, next), n++) {
		memcpy(key, next, key_size[mi]);
		CHECK(bpfvm_map_lookup(maps[mi], key, v, 0) == 0 && v[0] == key[0], "map %u: walked key not found", mi);
	}
	CHECK(n == c.linked, "map %u: walked %u keys, %u linked", mi, n, c.linked);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	bpfvm *vm;
	if (bpfvm_create(NULL, &vm))
		return 1;
	for (unsigned mi = 0; mi < NMAPS; mi++) {
		struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_HASH, .key_size = key_size[mi],
		                            .value_size = 16, .max_entries = MAX_ENTRIES, .spin_lock_off = -1,
		                            .map_flags = mi == 2 ? BPFVM_F_NO_PREALLOC : 0 };
		if (bpfvm_map_create(vm, &a, &maps[mi]) || (mi == 1 && map_htab_test_collide(maps[mi])))
			return 1;
	}
	/* The 8-byte maps run the lookup this machine and build should take:
	 * AVX-512 unless BPFVM_NO_AVX512 is set, the CPU lacks F or VL, or
	 * the build is ThreadSanitizer's (maps/hash.c). */
	const char *env = getenv("BPFVM_NO_AVX512"), *want = "scalar";
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__) && !defined(TSAN_BUILD)
	if (!(env && strcmp(env, "0")) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
		want = "avx512";
#endif
	const char *path = map_htab_test_lookup_path(maps[0]);
	CHECK(!strcmp(path, want), "8-byte keys use the %s lookup, expected %s", path, want);
	printf("hash_stress: 8-byte keys on the %s lookup\n", path);
	pthread_t th[4];
	void *(*fn[4])(void *) = { reader, reader, writer, writer };
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, fn[i], (void *)(uintptr_t)(0x9e3779b97f4a7c15ull * (i + 1)));
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (unsigned mi = 0; mi < NMAPS; mi++) {
		check_map(mi);
		bpfvm_map_put(maps[mi]);
	}
	bpfvm_destroy(vm);
	printf("hash_stress: %ld operations (%ld lookup hits) in %.1f s, %ld failures\n", atomic_load(&ops),
	       atomic_load(&hits), secs, atomic_load(&failures));
	return atomic_load(&failures) ? 1 : 0;
}
