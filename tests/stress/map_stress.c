/*
 * Map stress test (suite 'stress'): threads run programs and host calls
 * that look up, update and delete while others replace hash elements,
 * swap inner maps and rewrite a prog array.  Readers check invariants
 * that a use-after-free, a torn element or a lost reference would break;
 * ASan/LSan and TSan check the rest.  Usage: map_stress [seconds]
 * [collide]; with "collide" every hash key lands in one bucket's overflow
 * chain (maps/hash.c test hook), so inserts link overflow buckets and
 * reuse freed slots while readers walk the chain; with "percpu" the hash
 * is a per-CPU hash (in-place value rewrites, per-CPU fills of new keys),
 * whose programs only test the lookup result: a program's plain load of a
 * value the host rewrites in place is a race by design (as Linux), which
 * ThreadSanitizer would report.
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
#define NKEYS 256
#define NINNER 4

static atomic_bool stop;
static bool percpu;   /* the hash is a per-CPU hash */
static unsigned ncpu; /* its values: ncpu x {key, ~key} */
static atomic_long ops;
static bpfvm *vm;
static bpfvm_map *hash, *outer, *inner[NINNER], *pa;
static bpfvm_prog *p_hash, *p_upd, *p_inner, *p_tail, *p_t[2];

static bpfvm_prog *load(const struct bpf_insn *ins, size_t n)
{
	char log[256] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED, .log_buf = log,
	                              .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	if (bpfvm_prog_load(vm, ins, n, &po, &p)) {
		fprintf(stderr, "map_stress: load failed: %s\n", log);
		exit(1);
	}
	return p;
}

/* Hash values are {key, ~key}: a reader must never see anything else.
 * Per-CPU: each CPU's value is that, or zero for the CPUs a program's
 * insert didn't write, or (a host rewriting such a value in place) a mix
 * of the two word by word. */
static void *host_reader(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1, *v = calloc(ncpu, 16);
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s) % NKEYS;
		int rc = bpfvm_map_lookup(hash, &k, v, 0);
		CHECK(rc == 0 || rc == -ENOENT, "lookup rc %d", rc);
		if (rc == 0 && !percpu)
			CHECK(v[0] == k && v[1] == ~k, "torn or wrong value for key %llu", (unsigned long long)k);
		for (unsigned c = 0; rc == 0 && percpu && c < ncpu; c++)
			CHECK((v[2 * c] == k || v[2 * c] == 0) && (v[2 * c + 1] == ~k || v[2 * c + 1] == 0),
			      "wrong value for key %llu on cpu %u", (unsigned long long)k, c);
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	free(v);
	rcu_thread_unregister();
	return NULL;
}

static void *host_writer(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1, *v = calloc(ncpu, 16);
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s) % NKEYS;
		for (unsigned c = 0; c < ncpu; c++) {
			v[2 * c] = k;
			v[2 * c + 1] = ~k;
		}
		int rc;
		switch (rnd(&s) % 3) {
		case 0: rc = bpfvm_map_update(hash, &k, v, BPFVM_ANY); CHECK(rc == 0, "update %d", rc); break;
		case 1: rc = bpfvm_map_delete(hash, &k); CHECK(rc == 0 || rc == -ENOENT, "delete %d", rc); break;
		default: {
			uint64_t next;
			rc = bpfvm_map_get_next_key(hash, &k, &next);
			CHECK(rc == 0 || rc == -ENOENT, "get_next_key %d", rc);
			if (rc == 0)
				CHECK(next < NKEYS, "bad next key");
		}
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	free(v);
	rcu_thread_unregister();
	return NULL;
}

/* Programs: p_hash looks up key (input) and returns v[0]^v[1] (~0 when the
 * element is whole, 0 when absent); p_inner returns the value of slot 0 of
 * the inner map in outer[0] (each inner map holds its own tag);
 * p_tail tail-calls pa[input] and returns 1000 if the slot is empty. */
static void *prog_runner(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	while (!atomic_load(&stop)) {
		uint64_t in = rnd(&s) % NKEYS, r0;
		int rc = bpfvm_prog_run(p_hash, &in, sizeof(in), &r0);
		CHECK(rc == 0 && (r0 == ~0ull || r0 == 0), "hash prog rc %d r0 %llx", rc, (unsigned long long)r0);
		rc = bpfvm_prog_run(p_inner, &in, sizeof(in), &r0);
		CHECK(rc == 0 && (r0 == 0 || (r0 >= 100 && r0 < 100 + NINNER) || r0 >= 1000),
		      "inner prog rc %d r0 %llu", rc, (unsigned long long)r0);
		rc = bpfvm_prog_run(p_upd, &in, sizeof(in), &r0);
		CHECK(rc == 0 && r0 == 0, "update prog rc %d r0 %lld", rc, (long long)r0);
		in &= 1;
		rc = bpfvm_prog_run(p_tail, &in, sizeof(in), &r0);
		CHECK(rc == 0 && (r0 == 1000 || r0 == 1 || r0 == 2), "tail prog rc %d r0 %llu", rc, (unsigned long long)r0);
		atomic_fetch_add_explicit(&ops, 3, memory_order_relaxed);
	}
	rcu_thread_unregister();
	return NULL;
}

/* Swaps inner maps (including fresh ones that are dropped right away, so
 * the outer map holds their last reference) and rewrites the prog array. */
static void *swapper(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	uint32_t k0 = 0;
	long fresh = 0;
	while (!atomic_load(&stop)) {
		int32_t fd;
		int rc;
		if (rnd(&s) % 4 == 0) {
			struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 8,
			                            .max_entries = 2, .spin_lock_off = -1 };
			bpfvm_map *m;
			rc = bpfvm_map_create(vm, &a, &m);
			CHECK(rc == 0, "create %d", rc);
			uint64_t tag = 1000 + fresh++;
			bpfvm_map_update(m, &k0, &tag, 0);
			fd = bpfvm_map_fd(m);
			rc = bpfvm_map_update(outer, &k0, &fd, 0);
			CHECK(rc == 0, "swap fresh %d", rc);
			bpfvm_map_put(m);
		} else if (rnd(&s) % 8 == 0) {
			rc = bpfvm_map_delete(outer, &k0);
			CHECK(rc == 0 || rc == -ENOENT, "outer delete %d", rc);
		} else {
			fd = bpfvm_map_fd(inner[rnd(&s) % NINNER]);
			rc = bpfvm_map_update(outer, &k0, &fd, 0);
			CHECK(rc == 0, "swap %d", rc);
		}
		uint32_t slot = rnd(&s) % 2;
		if (rnd(&s) % 3 == 0) {
			rc = bpfvm_map_delete(pa, &slot);
			CHECK(rc == 0 || rc == -ENOENT, "pa delete %d", rc);
		} else {
			fd = bpfvm_prog_fd(p_t[rnd(&s) % 2]);
			rc = bpfvm_map_update(pa, &slot, &fd, 0);
			CHECK(rc == 0, "pa update %d", rc);
		}
		if (rnd(&s) % 64 == 0)
			CHECK(bpfvm_synchronize(vm) == 0, "synchronize");
		atomic_fetch_add_explicit(&ops, 2, memory_order_relaxed);
	}
	rcu_thread_unregister();
	return NULL;
}

/* A prog array holding the program that tail-calls through it, with all
 * user references dropped: LeakSanitizer must find nothing. */
static void cycle_case(void)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 1, .spin_lock_off = -1 };
	bpfvm_map *arr;
	if (bpfvm_map_create(vm, &a, &arr))
		exit(1);
	struct bpf_insn ins[] = { MAPFD(2, arr), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 5), EXIT };
	bpfvm_prog *self = load(ins, sizeof(ins) / sizeof(ins[0]));
	uint32_t k = 0;
	int32_t fd = bpfvm_prog_fd(self);
	CHECK(bpfvm_map_update(arr, &k, &fd, 0) == 0, "cycle insert");
	uint64_t r0;
	CHECK(bpfvm_prog_run(self, NULL, 0, &r0) == 0 && r0 == 5, "cycle run");
	bpfvm_map_put(arr);
	bpfvm_prog_put(self);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	if (bpfvm_create(NULL, &vm))
		return 1;
	percpu = argc > 2 && !strcmp(argv[2], "percpu");
	ncpu = percpu ? bpfvm_num_possible_cpus() : 1;
	struct bpfvm_map_attr ha = { .sz = sizeof(ha), .type = percpu ? BPFVM_MAP_PERCPU_HASH : BPFVM_MAP_HASH,
	                             .key_size = 8, .value_size = 16, .max_entries = NKEYS, .spin_lock_off = -1 };
	if (bpfvm_map_create(vm, &ha, &hash))
		return 1;
	if (argc > 2 && !strcmp(argv[2], "collide") && map_htab_test_collide(hash))
		return 1;
	struct bpfvm_map_attr ia = { .sz = sizeof(ia), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 8,
	                             .max_entries = 2, .spin_lock_off = -1 };
	for (int i = 0; i < NINNER; i++) {
		uint32_t k = 0;
		uint64_t tag = 100 + i;
		if (bpfvm_map_create(vm, &ia, &inner[i]) || bpfvm_map_update(inner[i], &k, &tag, 0))
			return 1;
	}
	struct bpfvm_map_attr oa = { .sz = sizeof(oa), .type = BPFVM_MAP_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4,
	                             .max_entries = 1, .spin_lock_off = -1, .inner_template = inner[0] };
	struct bpfvm_map_attr pa_a = { .sz = sizeof(pa_a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4,
	                               .value_size = 4, .max_entries = 2, .spin_lock_off = -1 };
	if (bpfvm_map_create(vm, &oa, &outer) || bpfvm_map_create(vm, &pa_a, &pa))
		return 1;

	struct bpf_insn hp[] = {
		MOV64_X(2, 1), MAPFD(1, hash), CALL(BPFVM_FN_map_lookup_elem),
		JEQ_K(0, 0, 3), LDXDW(1, 0, 0), LDXDW(0, 0, 8), ALU64_X(OP_XOR, 0, 1),
		EXIT,
	};
	/* p_upd: key k from input; update(k, {k, ~k}) and, for odd keys,
	 * delete it again (the delete may race a host delete: its result is
	 * ignored).  r0 = the update's result, which must be 0. */
	struct bpf_insn up[] = {
		LDXDW(6, 1, 0), STXDW(10, 6, -8), STXDW(10, 6, -24), MOV64_X(7, 6), ALU64_K(OP_XOR, 7, -1),
		STXDW(10, 7, -16),
		MAPFD(1, hash), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -24),
		MOV64_K(4, BPFVM_ANY), CALL(BPFVM_FN_map_update_elem),
		JNE_K(0, 0, 9), MOV64_X(1, 6), ALU64_K(OP_AND, 1, 1), JEQ_K(1, 0, 5),
		MAPFD(1, hash), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), CALL(BPFVM_FN_map_delete_elem),
		MOV64_K(0, 0),
		EXIT,
	};
	struct bpf_insn ip[] = {
		INS(0x62, 10, 0, -4, 0),
		MAPFD(1, outer), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -4), CALL(BPFVM_FN_map_lookup_elem),
		JEQ_K(0, 0, 6), MOV64_X(1, 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -4),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 1), LDXDW(0, 0, 0),
		EXIT,
	};
	struct bpf_insn tp[] = { LDXW(3, 1, 0), MAPFD(2, pa), CALL(BPFVM_FN_tail_call), MOV64_K(0, 1000), EXIT };
	struct bpf_insn t1[] = { MOV64_K(0, 1), EXIT }, t2[] = { MOV64_K(0, 2), EXIT };
	/* Per-CPU: r0 = ~0 if the key is there, without reading the value. */
	struct bpf_insn hp_pcpu[] = {
		MOV64_X(2, 1), MAPFD(1, hash), CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 1), MOV64_K(0, -1), EXIT,
	};
	p_hash = percpu ? load(hp_pcpu, sizeof(hp_pcpu) / sizeof(hp_pcpu[0])) : load(hp, sizeof(hp) / sizeof(hp[0]));
	p_upd = load(up, sizeof(up) / sizeof(up[0]));
	p_inner = load(ip, sizeof(ip) / sizeof(ip[0]));
	p_tail = load(tp, sizeof(tp) / sizeof(tp[0]));
	p_t[0] = load(t1, 2);
	p_t[1] = load(t2, 2);

	pthread_t th[6];
	void *(*fn[6])(void *) = { host_reader, host_writer, host_writer, prog_runner, prog_runner, swapper };
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, fn[i], (void *)(uintptr_t)(0x9e3779b97f4a7c15ull * (i + 1)));
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);

	cycle_case();
	bpfvm_prog_put(p_hash);
	bpfvm_prog_put(p_upd);
	bpfvm_prog_put(p_inner);
	bpfvm_prog_put(p_tail);
	bpfvm_prog_put(p_t[0]);
	bpfvm_prog_put(p_t[1]);
	bpfvm_map_put(hash);
	bpfvm_map_put(outer);
	bpfvm_map_put(pa);
	for (int i = 0; i < NINNER; i++)
		bpfvm_map_put(inner[i]);
	bpfvm_destroy(vm);
	printf("map_stress: %ld operations in %.1f s, %ld failures\n", atomic_load(&ops), secs, atomic_load(&failures));
	return atomic_load(&failures) ? 1 : 0;
}
