/*
 * LRU hash stress test (suite 'stress'): a small LRU map (64 entries, 512
 * keys in play) so that almost every insert evicts, while programs on both
 * engines and host threads look up, update and delete.  Values are
 * {key, ~key}.  A program holds the value pointer it looked up across an
 * update that may evict that very element, and checks the memory still
 * holds what it read: an evicted element is reused only after a grace
 * period.  Updates must never fail (a full LRU evicts).  ASan and TSan
 * check the rest.  Usage: lru_stress [seconds] [collide|percpu|nocommon];
 * with "collide" every key lands in one bucket chain (maps/hash.c test
 * hook), so victims share the inserting update's bucket; "percpu" runs the
 * same on an LRU per-CPU hash; "nocommon" with per-CPU LRU lists
 * (BPF_F_NO_COMMON_LRU), threads migrating between CPUs.
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
#include "../vm/insn.h"
#include "stress.h"

#define MAPFD(d, m) LDDW_SRC(d, 1, bpfvm_map_fd(m), 0)
#define JNE_X(d, s, o) INS(0x5d, d, s, o, 0)
#define MAX_ENTRIES 64
#define NKEYS 512

static atomic_bool stop;
static atomic_long ops, hits;
static bpfvm *vm;
static bpfvm_map *lru;
static bpfvm_prog *reader[2];
static bool percpu;
static unsigned ncpu = 1;

/*
 * r0 = 0 key absent, 1 fine, 2 broken.  Looks the input key up, reads the
 * value, inserts key ^ 0x100 (which may evict the element it holds), then
 * reads the value again through the same pointer: unchanged.  In the
 * per-CPU variant a key a program inserted is 0 on the other CPUs, so each
 * word must be its key's or 0 (memory reused for another key would show
 * that key).  Per-CPU updates of an existing key rewrite the values in
 * place, which races with a program's plain loads (as in Linux, but a C
 * data race ThreadSanitizer reports): in that mode all updates use
 * BPF_NOEXIST, the host deleting a key it finds present.
 */
static bpfvm_prog *load_reader(uint32_t engine)
{
	const int32_t UPDATE_FLAGS = percpu ? BPFVM_NOEXIST : BPFVM_ANY;
	struct bpf_insn pcpu[] = {
		/* 0 */ LDXDW(6, 1, 0), STXDW(10, 6, -8), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		/* 4 */ MAPFD(1, lru), CALL(BPFVM_FN_map_lookup_elem),
		/* 7 */ JEQ_K(0, 0, 28),
		/* 8 */ MOV64_X(7, 0), LDXDW(8, 7, 0), LDXDW(9, 7, 8),
		/* 11 */ MOV64_X(1, 6), ALU64_K(OP_XOR, 1, 0x100), STXDW(10, 1, -16), STXDW(10, 1, -32),
		/* 15 */ ALU64_K(OP_XOR, 1, -1), STXDW(10, 1, -24),
		/* 17 */ MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -16), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -32), MOV64_K(4, UPDATE_FLAGS),
		/* 22 */ MAPFD(1, lru), CALL(BPFVM_FN_map_update_elem),
		/* 25 */ LDXDW(8, 7, 0), JEQ_K(8, 0, 1), JNE_X(8, 6, 6),
		/* 28 */ LDXDW(9, 7, 8), JEQ_K(9, 0, 2), ALU64_K(OP_XOR, 9, -1), JNE_X(9, 6, 2),
		/* 32 */ MOV64_K(0, 1), EXIT,
		/* 34 */ MOV64_K(0, 2), EXIT,
		/* 36 */ MOV64_K(0, 0), EXIT,
	};
	struct bpf_insn ins[] = {
		/* 0 */ LDXDW(6, 1, 0), STXDW(10, 6, -8), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		/* 4 */ MAPFD(1, lru), CALL(BPFVM_FN_map_lookup_elem),
		/* 7 */ JEQ_K(0, 0, 28),
		/* 8 */ MOV64_X(7, 0), LDXDW(8, 7, 0), LDXDW(9, 7, 8),
		/* 11 */ MOV64_X(1, 6), ALU64_K(OP_XOR, 1, 0x100), STXDW(10, 1, -16), STXDW(10, 1, -32),
		/* 15 */ ALU64_K(OP_XOR, 1, -1), STXDW(10, 1, -24),
		/* 17 */ MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -16), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -32), MOV64_K(4, UPDATE_FLAGS),
		/* 22 */ MAPFD(1, lru), CALL(BPFVM_FN_map_update_elem),
		/* 25 */ LDXDW(1, 7, 0), JNE_X(1, 8, 7), LDXDW(1, 7, 8), JNE_X(1, 9, 5),
		/* 29 */ JNE_X(8, 6, 4), ALU64_X(OP_XOR, 8, 9), JNE_K(8, -1, 2),
		/* 32 */ MOV64_K(0, 1), EXIT,
		/* 34 */ MOV64_K(0, 2), EXIT,
		/* 36 */ MOV64_K(0, 0), EXIT,
	};
	char log[4096] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = percpu ? bpfvm_prog_load(vm, pcpu, sizeof(pcpu) / sizeof(pcpu[0]), &po, &p)
	                : bpfvm_prog_load(vm, ins, sizeof(ins) / sizeof(ins[0]), &po, &p);
	if (rc) {
		fprintf(stderr, "lru_stress: load failed (%d): %s\n", rc, log);
		exit(1);
	}
	return p;
}

static void *prog_runner(void *arg)
{
	uintptr_t engine = (uintptr_t)arg;
	uint64_t s = 0x9e3779b97f4a7c15ull + engine;
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s) % NKEYS;
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &k, .len = sizeof(k) };
		int rc = bpfvm_prog_run_opts(reader[engine], &ro);
		CHECK(rc == 0, "engine %u: run rc %d", (unsigned)engine, rc);
		CHECK(ro.r0 <= 1, "engine %u: key %llu: value changed under the reader or wrong (r0 %llu)",
		      (unsigned)engine, (unsigned long long)k, (unsigned long long)ro.r0);
		if (ro.r0 == 1)
			atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	rcu_thread_unregister();
	return NULL;
}

/* Host values: {k, ~k} for every CPU. */
static void fill(uint64_t *v, uint64_t k)
{
	for (unsigned c = 0; c < ncpu; c++) {
		v[2 * c] = k;
		v[2 * c + 1] = ~k;
	}
}

/* Every CPU's value is {k, ~k}; for per-CPU maps each word may also be 0
 * (see load_reader). */
static bool value_ok(const uint64_t *v, uint64_t k)
{
	for (unsigned c = 0; c < ncpu; c++)
		if ((v[2 * c] != k && !(percpu && !v[2 * c])) || (v[2 * c + 1] != ~k && !(percpu && !v[2 * c + 1])))
			return false;
	return true;
}

static void *host_updater(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	uint64_t *v = calloc(ncpu, 16);
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s) % NKEYS;
		fill(v, k);
		int rc = bpfvm_map_update(lru, &k, v, percpu ? BPFVM_NOEXIST : BPFVM_ANY);
		if (percpu && rc == -EEXIST) {
			rc = bpfvm_map_delete(lru, &k);
			CHECK(rc == 0 || rc == -ENOENT, "delete rc %d", rc);
			continue;
		}
		CHECK(rc == 0, "update of key %llu: %d (a full LRU must evict)", (unsigned long long)k, rc);
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	free(v);
	rcu_thread_unregister();
	return NULL;
}

static void *host_reader_deleter(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	uint64_t *v = calloc(ncpu, 16);
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s) % NKEYS;
		int rc = bpfvm_map_lookup(lru, &k, v, 0);
		CHECK(rc == 0 || rc == -ENOENT, "lookup rc %d", rc);
		if (rc == 0)
			CHECK(value_ok(v, k), "torn or wrong value for key %llu", (unsigned long long)k);
		if (rnd(&s) % 4 == 0) {
			rc = bpfvm_map_delete(lru, &k);
			CHECK(rc == 0 || rc == -ENOENT, "delete rc %d", rc);
		}
		if (rnd(&s) % 64 == 0) {
			/* A walk over a table under churn: ends, and sees
			 * consistent values. */
			uint64_t key, prev;
			unsigned n = 0;
			for (rc = bpfvm_map_get_next_key(lru, NULL, &key); rc == 0 && n < 100000;
			     rc = bpfvm_map_get_next_key(lru, &prev, &key), n++) {
				if (bpfvm_map_lookup(lru, &key, v, 0) == 0)
					CHECK(value_ok(v, key), "walk: wrong value for key %llu", (unsigned long long)key);
				prev = key;
			}
			CHECK(n < 100000, "get_next_key walk didn't end");
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	free(v);
	rcu_thread_unregister();
	return NULL;
}

static unsigned count_keys(void)
{
	uint64_t k, prev;
	unsigned n = 0;
	uint64_t *v = calloc(ncpu, 16);
	for (int rc = bpfvm_map_get_next_key(lru, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(lru, &prev, &k)) {
		CHECK(bpfvm_map_lookup(lru, &k, v, 0) == 0 && value_ok(v, k), "final: key %llu", (unsigned long long)k);
		prev = k;
		n++;
	}
	free(v);
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	bool collide = argc > 2 && !strcmp(argv[2], "collide");
	percpu = argc > 2 && !strcmp(argv[2], "percpu");
	bool nocommon = argc > 2 && !strcmp(argv[2], "nocommon");
	if (percpu)
		ncpu = bpfvm_num_possible_cpus();
	if (bpfvm_create(NULL, &vm)) {
		fprintf(stderr, "lru_stress: bpfvm_create failed\n");
		return 1;
	}
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = percpu ? BPFVM_MAP_LRU_PERCPU_HASH : BPFVM_MAP_LRU_HASH,
	                            .key_size = 8, .value_size = 16,
	                            .max_entries = MAX_ENTRIES, .spin_lock_off = -1, .name = "lru",
	                            .map_flags = nocommon ? 1u << 1 /* BPF_F_NO_COMMON_LRU */ : 0 };
	if (bpfvm_map_create(vm, &a, &lru) || (collide && map_htab_test_collide(lru))) {
		fprintf(stderr, "lru_stress: map_create failed\n");
		return 1;
	}
	reader[0] = load_reader(BPFVM_ENGINE_INTERP);
	reader[1] = load_reader(BPFVM_ENGINE_JIT);

	pthread_t t[6];
	pthread_create(&t[0], NULL, prog_runner, (void *)0);
	pthread_create(&t[1], NULL, prog_runner, (void *)1);
	pthread_create(&t[2], NULL, host_updater, (void *)11);
	pthread_create(&t[3], NULL, host_updater, (void *)12);
	pthread_create(&t[4], NULL, host_reader_deleter, (void *)13);
	pthread_create(&t[5], NULL, host_reader_deleter, (void *)14);
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);

	/* Quiescent: the map holds at most max_entries, and a round of
	 * fresh inserts fills it to exactly max_entries (per-CPU lists: at
	 * least this CPU's share, as Linux; max_entries was rounded up to a
	 * multiple of the CPU count). */
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	bpfvm_map_info(lru, &info);
	unsigned n = count_keys(), max = info.max_entries;
	CHECK(n <= max, "%u keys in a %u-entry LRU", n, max);
	uint64_t *v = calloc(ncpu, 16);
	for (uint64_t k = NKEYS; k < NKEYS + max + 5; k++) {
		fill(v, k);
		CHECK(bpfvm_map_update(lru, &k, v, BPFVM_NOEXIST) == 0, "final insert %llu", (unsigned long long)k);
	}
	free(v);
	n = count_keys();
	if (nocommon)
		CHECK(n <= max && n >= max / bpfvm_num_possible_cpus(), "%u keys after a round of inserts, max %u", n,
		      max);
	else
		CHECK(n == max, "%u keys after a round of inserts, expected %u", n, max);

	printf("lru_stress%s: %.1f s, %ld operations, %ld program hits, %ld failures\n",
	       collide ? " (collide)" : percpu ? " (percpu)" : nocommon ? " (nocommon)" : "", secs, atomic_load(&ops), atomic_load(&hits), atomic_load(&failures));
	bpfvm_prog_put(reader[0]);
	bpfvm_prog_put(reader[1]);
	bpfvm_map_put(lru);
	bpfvm_destroy(vm);
	rcu_thread_unregister();
	return atomic_load(&failures) ? 1 : 0;
}
