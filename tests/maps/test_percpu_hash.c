/* Per-CPU hash maps (maps/percpu_hash.c): attribute errors, host access to
 * every CPU's value, programs seeing and updating their CPU's value, new
 * keys from programs, bpf_map_lookup_percpu_elem, in-place updates,
 * overflow chains, for_each, verifier checks, concurrent counters. */
#include <pthread.h>
#include <stdlib.h>

#include "map_impl.h"
#include "mt.h"

#define KEY0 STDW(10, -8, 0)
#define KEYPTR(r) MOV64_X(r, 10), ALU64_K(OP_ADD, r, -8)

static bpfvm_prog *load(bpfvm *vm, const struct bpf_insn *insns, size_t n, uint32_t engine)
{
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

/* Loading must fail with `msg` in the verifier log. */
static void rejects(bpfvm *vm, const struct bpf_insn *insns, size_t n, const char *msg)
{
	char log[4096] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .mem_size = 8 };
	bpfvm_prog *p = NULL;
	cr_expect_neq(bpfvm_prog_load(vm, insns, n, &po, &p), 0, "expected a rejection (%s)", msg);
	cr_expect(strstr(log, msg), "log lacks \"%s\": %s", msg, log);
	if (p)
		bpfvm_prog_put(p);
}

static uint64_t run(bpfvm_prog *p, uint64_t in)
{
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &in, .len = sizeof(in) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0);
	return ro.r0;
}

static int create(bpfvm *vm, uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags, int32_t lock)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PERCPU_HASH, .key_size = ks, .value_size = vs,
	                            .max_entries = max, .map_flags = flags, .spin_lock_off = lock };
	bpfvm_map *m = NULL;
	int rc = bpfvm_map_create(vm, &a, &m);
	if (!rc)
		bpfvm_map_put(m);
	return rc;
}

Test(percpu_hash, attributes)
{
	bpfvm *vm = t_vm();
	cr_expect_eq(create(vm, 8, 8, 4, 0, -1), 0);
	cr_expect_eq(create(vm, 8, 8, 4, BPFVM_F_NO_PREALLOC | BPFVM_F_RDONLY_PROG, -1), 0);
	cr_expect_eq(create(vm, 8, 8, 4, 0, 0), -EINVAL, "no spin locks in per-CPU maps");
	cr_expect_eq(create(vm, 8, 8, 4, BPFVM_F_INNER_MAP, -1), -EINVAL, "hash flags only");
	cr_expect_eq(create(vm, 0, 8, 4, 0, -1), -EINVAL);
	cr_expect_eq(create(vm, 513, 8, 4, 0, -1), -E2BIG);
	cr_expect_eq(create(vm, 8, 32768, 1, 0, -1), 0, "32 KiB per CPU is Linux's limit");
	cr_expect_eq(create(vm, 8, 32769, 1, 0, -1), -E2BIG);
	/* 1 GiB per map counts every CPU's copy of the value. */
	uint32_t big = (uint32_t)((1ull << 30) / (4096ull * bpfvm_num_possible_cpus()));
	cr_expect_eq(create(vm, 8, 4096, big, 0, -1), -E2BIG);
	cr_expect_eq(create(vm, 8, 8, (1u << 31) + 1, 0, -1), -E2BIG);
	bpfvm_destroy(vm);
}

/* Key sizes of every hash lookup path, preallocated and not. */
static const struct {
	uint32_t ks, flags;
} shapes[] = { { 8, 0 }, { 4, BPFVM_F_NO_PREALLOC }, { 16, 0 }, { 20, BPFVM_F_NO_PREALLOC } };

Test(percpu_hash, host_sees_every_cpu)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	size_t stride = 16; /* value_size 12 rounded up to 8 */
	uint8_t *in = calloc(ncpu, stride), *out = calloc(ncpu, stride);
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t ks = shapes[s].ks;
		bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, ks, 12, 3, shapes[s].flags);
		uint8_t key[20] = { 0 }, next[20];
		for (unsigned c = 0; c < ncpu; c++) {
			memset(in + c * stride, (int)(c + 1), 12);
			memset(in + c * stride + 12, 0xcc, 4); /* caller's padding: ignored */
		}
		key[0] = 1;
		cr_expect_eq(bpfvm_map_lookup(m, key, out, 0), -ENOENT);
		cr_expect_eq(bpfvm_map_update(m, key, in, BPFVM_EXIST), -ENOENT);
		cr_expect_eq(bpfvm_map_update(m, key, in, BPFVM_NOEXIST), 0);
		cr_expect_eq(bpfvm_map_update(m, key, in, BPFVM_NOEXIST), -EEXIST);
		memset(out, 0xee, ncpu * stride);
		cr_assert_eq(bpfvm_map_lookup(m, key, out, 0), 0);
		for (unsigned c = 0; c < ncpu; c++) {
			cr_expect_eq(out[c * stride], c + 1, "ks %u cpu %u", ks, c);
			cr_expect_eq(out[c * stride + 11], c + 1);
			cr_expect_eq(out[c * stride + 12], 0, "padding to 8 bytes reads as zero");
		}
		/* Replace in place: every CPU's value changes. */
		for (unsigned c = 0; c < ncpu; c++)
			memset(in + c * stride, (int)(0x40 + c), 12);
		cr_expect_eq(bpfvm_map_update(m, key, in, BPFVM_EXIST), 0);
		cr_assert_eq(bpfvm_map_lookup(m, key, out, 0), 0);
		for (unsigned c = 0; c < ncpu; c++) {
			cr_expect_eq(out[c * stride + 5], 0x40 + c);
			cr_expect_eq(out[c * stride + 15], 0);
		}
		cr_expect_eq(bpfvm_map_lookup(m, key, out, BPFVM_F_LOCK), -EINVAL);
		cr_expect_eq(bpfvm_map_update(m, key, in, BPFVM_F_LOCK), -EINVAL);
		/* Fill to max_entries, walk the keys, delete. */
		key[0] = 2;
		cr_expect_eq(bpfvm_map_update(m, key, in, 0), 0);
		key[0] = 3;
		cr_expect_eq(bpfvm_map_update(m, key, in, 0), 0);
		key[0] = 4;
		cr_expect_eq(bpfvm_map_update(m, key, in, 0), -E2BIG);
		unsigned seen = 0;
		for (int rc = bpfvm_map_get_next_key(m, NULL, next); rc == 0; rc = bpfvm_map_get_next_key(m, next, next))
			seen |= 1u << next[0];
		cr_expect_eq(seen, 0xe, "keys 1, 2, 3 each once: %#x", seen);
		key[0] = 2;
		cr_expect_eq(bpfvm_map_delete(m, key), 0);
		cr_expect_eq(bpfvm_map_delete(m, key), -ENOENT);
		cr_expect_eq(bpfvm_map_lookup(m, key, out, 0), -ENOENT);
		key[0] = 4;
		cr_expect_eq(bpfvm_map_update(m, key, in, 0), 0, "the freed entry is reusable");
		bpfvm_map_put(m);
	}
	free(in);
	free(out);
	bpfvm_destroy(vm);
}

/* Updates rewrite values in place (as Linux): the element, and so a
 * program's pointer into it, stays the same. */
Test(percpu_hash, updates_in_place)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 8, 4, 0);
	uint64_t k = 7, *vals = calloc(ncpu, 8);
	cr_assert_eq(bpfvm_map_update(m, &k, vals, 0), 0);
	rcu_read_lock();
	void *before = m->ops->lookup_cpu(m, &k, 0);
	rcu_read_unlock();
	vals[0] = 5;
	cr_assert_eq(bpfvm_map_update(m, &k, vals, BPFVM_EXIST), 0);
	rcu_read_lock();
	uint64_t *after = m->ops->lookup_cpu(m, &k, 0);
	cr_expect_eq(after, before);
	cr_expect_eq(*after, 5);
	cr_expect_null(m->ops->lookup_cpu(m, &k, ncpu), "a CPU bpfvm doesn't have");
	if (ncpu > 1)
		cr_expect_eq((uint8_t *)m->ops->lookup_cpu(m, &k, 1) - (uint8_t *)after, 8, "CPU 1's value follows");
	rcu_read_unlock();
	free(vals);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(percpu_hash, programs_see_and_update_their_cpu)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	for (size_t s = 0; s < 2; s++) {
		bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 8, 4, shapes[s].flags);
		uint64_t *vals = calloc(ncpu, 8), *now = calloc(ncpu, 8);
		for (unsigned c = 0; c < ncpu; c++)
			vals[c] = 1000 + c;
		uint64_t k = 0;
		cr_assert_eq(bpfvm_map_update(m, &k, vals, 0), 0);
		/* r0 = value << 16 | cpu, or -1 for a missing key (key = input) */
		struct bpf_insn see[] = {
			LDXDW(7, 1, 0), CALL(BPFVM_FN_get_smp_processor_id), MOV64_X(6, 0), STXDW(10, 7, -8), KEYPTR(2),
			MAPFD(1, m), CALL(1), JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), ALU64_K(OP_LSH, 0, 16),
			ALU64_X(OP_OR, 0, 6), EXIT,
		};
		/* key = input, this CPU's value := 77 (flags ANY); r0 = cpu */
		struct bpf_insn upd[] = {
			LDXDW(7, 1, 0), STXDW(10, 7, -8), STDW(10, -16, 77), KEYPTR(2), MOV64_X(3, 10),
			ALU64_K(OP_ADD, 3, -16), MAPFD(1, m), MOV64_K(4, 0), CALL(2), JEQ_K(0, 0, 2), MOV64_K(0, -1), EXIT,
			CALL(BPFVM_FN_get_smp_processor_id), EXIT,
		};
		/* r0 = key 0's value on the CPU in the input, or -1 */
		struct bpf_insn other[] = {
			LDXDW(6, 1, 0), KEY0, KEYPTR(2), MAPFD(1, m), MOV64_X(3, 6), CALL(BPFVM_FN_map_lookup_percpu_elem),
			JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), EXIT,
		};
		for (uint32_t e = BPFVM_ENGINE_INTERP; e <= BPFVM_ENGINE_JIT; e++) {
			bpfvm_prog *ps = load(vm, see, N(see), e), *pu = load(vm, upd, N(upd), e),
			           *po = load(vm, other, N(other), e);
			uint64_t r = run(ps, 0), cpu = r & 0xffff;
			cr_expect_lt(cpu, ncpu);
			cr_expect_eq(r >> 16, 1000 + cpu, "engine %u: cpu %llu read %llu", e, (unsigned long long)cpu,
			             (unsigned long long)(r >> 16));
			cr_expect_eq(run(ps, 9), (uint64_t)-1, "a missing key gives NULL");
			for (unsigned c = 0; c < ncpu; c++)
				cr_expect_eq(run(po, c), vals[c], "engine %u: lookup_percpu_elem cpu %u", e, c);
			cr_expect_eq(run(po, ncpu), (uint64_t)-1, "a CPU bpfvm doesn't have gives NULL");
			cr_expect_eq(run(po, 1ull << 40), (uint64_t)-1);
			/* An existing key: only this CPU's value changes. */
			cpu = run(pu, 0);
			cr_assert_eq(bpfvm_map_lookup(m, &k, now, 0), 0);
			for (unsigned c = 0; c < ncpu; c++)
				cr_expect_eq(now[c], c == cpu ? 77 : vals[c], "engine %u: cpu %u after the update on cpu %llu",
				             e, c, (unsigned long long)cpu);
			/* A new key: this CPU's value, the others zero (as Linux). */
			uint64_t k5 = 5;
			cpu = run(pu, k5);
			cr_assert_eq(bpfvm_map_lookup(m, &k5, now, 0), 0);
			for (unsigned c = 0; c < ncpu; c++)
				cr_expect_eq(now[c], c == cpu ? 77 : 0, "engine %u: new key, cpu %u", e, c);
			cr_assert_eq(bpfvm_map_delete(m, &k5), 0);
			cr_assert_eq(bpfvm_map_update(m, &k, vals, 0), 0);
			bpfvm_prog_put(ps);
			bpfvm_prog_put(pu);
			bpfvm_prog_put(po);
		}
		free(vals);
		free(now);
		bpfvm_map_put(m);
	}
	bpfvm_destroy(vm);
}

/* A recycled element doesn't leak its old values to a new key inserted
 * by a program: the other CPUs read zero.  Each round, on a fresh map:
 * key 1 is inserted and deleted 64 times (two magazines of carved
 * elements, then the thread's retire batch of 64 goes to its grace
 * period); after rcu_barrier the batch is back in the pool, and the
 * program's insert of key 2 takes one of its elements (nothing more is
 * carved). */
Test(percpu_hash, reused_element_starts_zeroed)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	uint64_t k1 = 1, k2 = 2, *vals = calloc(ncpu, 8), *now = calloc(ncpu, 8);
	for (unsigned c = 0; c < ncpu; c++)
		vals[c] = 0xdead0000 + c;
	for (int round = 0; round < 3; round++) {
		bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 8, 1, 0);
		struct bpf_insn upd[] = {
			STDW(10, -8, 2), STDW(10, -16, 77), KEYPTR(2), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -16), MAPFD(1, m),
			MOV64_K(4, 0), CALL(2), JEQ_K(0, 0, 1), EXIT, CALL(BPFVM_FN_get_smp_processor_id), EXIT,
		};
		bpfvm_prog *p = load(vm, upd, N(upd), BPFVM_ENGINE_INTERP);
		for (int i = 0; i < 64; i++) {
			cr_assert_eq(bpfvm_map_update(m, &k1, vals, 0), 0);
			cr_assert_eq(bpfvm_map_delete(m, &k1), 0);
		}
		map_barrier();
		uint64_t cpu = run(p, 0);
		cr_assert_lt(cpu, ncpu, "update failed: %lld", (long long)cpu);
		struct map_htab_census cs;
		cr_assert_eq(map_htab_test_census(m, &cs), 0);
		cr_assert_eq(cs.carved, 64, "round %d: the program's element is a recycled one", round);
		cr_assert_eq(bpfvm_map_lookup(m, &k2, now, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			cr_expect_eq(now[c], c == cpu ? 77 : 0, "round %d cpu %u", round, c);
		bpfvm_prog_put(p);
		bpfvm_map_put(m);
	}
	free(vals);
	free(now);
	bpfvm_destroy(vm);
}

/* Every key in one overflow chain (hash.c's test hook): per-CPU values
 * survive inserts, deletes and slot reuse around them. */
Test(percpu_hash, overflow_chain)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 16, 8, 32, BPFVM_F_NO_PREALLOC);
	cr_assert_eq(map_htab_test_collide(m), 0);
	uint64_t key[2] = { 0, 0x5a }, *v = calloc(ncpu, 8);
	for (uint64_t i = 0; i < 32; i++) {
		key[0] = i;
		for (unsigned c = 0; c < ncpu; c++)
			v[c] = i * 100 + c;
		cr_assert_eq(bpfvm_map_update(m, key, v, BPFVM_NOEXIST), 0);
	}
	for (uint64_t i = 0; i < 32; i += 2) {
		key[0] = i;
		cr_assert_eq(bpfvm_map_delete(m, key), 0);
	}
	for (uint64_t i = 0; i < 32; i++) {
		key[0] = i;
		int rc = bpfvm_map_lookup(m, key, v, 0);
		cr_expect_eq(rc, i % 2 ? 0 : -ENOENT, "key %llu", (unsigned long long)i);
		for (unsigned c = 0; i % 2 && c < ncpu; c++)
			cr_expect_eq(v[c], i * 100 + c);
	}
	free(v);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* bpf_for_each_map_elem passes this CPU's value. */
Test(percpu_hash, for_each_sees_this_cpu)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 8, 8, 0);
	uint64_t *v = calloc(ncpu, 8);
	for (uint64_t i = 1; i <= 3; i++) {
		for (unsigned c = 0; c < ncpu; c++)
			v[c] = i * 1000 + c;
		cr_assert_eq(bpfvm_map_update(m, &i, v, 0), 0);
	}
	/* r0 = sum of the values seen * 16 + cpu; the callback adds *value to *ctx */
	struct bpf_insn ins[] = {
		/* 0 */ STDW(10, -8, 0),
		/* 1 */ MAPFD(1, m),
		/* 3 */ LDDW_SRC(2, 4, 11, 0), /* callback at 3 + 11 + 1 = 15 */
		/* 5 */ MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -8), MOV64_K(4, 0), CALL(BPFVM_FN_for_each_map_elem),
		/* 9 */ CALL(BPFVM_FN_get_smp_processor_id), LDXDW(1, 10, -8), ALU64_K(OP_LSH, 1, 4),
		/* 12 */ ALU64_X(OP_ADD, 0, 1), EXIT, EXIT,
		/* 15: cb(map, key, value, ctx) */
		LDXDW(1, 3, 0), LDXDW(2, 4, 0), ALU64_X(OP_ADD, 2, 1), STXDW(4, 2, 0), MOV64_K(0, 0), EXIT,
	};
	bpfvm_prog *p = t_prog(vm, ins, N(ins));
	uint64_t r0;
	cr_assert_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	uint64_t cpu = r0 & 15;
	cr_expect_eq(r0 >> 4, 6000 + 3 * cpu, "r0 %llu", (unsigned long long)r0);
	bpfvm_prog_put(p);
	free(v);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* The verifier treats a per-CPU hash value as one CPU's value_size bytes,
 * maybe NULL, as for per-CPU arrays. */
Test(percpu_hash, verifier)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 16, 4, 0);
	bpfvm_map *mr = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 16, 4, BPFVM_F_RDONLY_PROG);
	struct bpf_insn ok[] = { KEY0, KEYPTR(2), MAPFD(1, m), CALL(1), JEQ_K(0, 0, 2), LDXDW(1, 0, 8), STXDW(0, 1, 0),
	                         MOV64_K(0, 0), EXIT };
	bpfvm_prog *p = load(vm, ok, N(ok), BPFVM_ENGINE_INTERP);
	bpfvm_prog_put(p);
	struct bpf_insn no_null_check[] = { KEY0, KEYPTR(2), MAPFD(1, m), CALL(1), LDXDW(0, 0, 0), EXIT };
	rejects(vm, no_null_check, N(no_null_check), "compare it with 0 first");
	struct bpf_insn past_value[] = { KEY0, KEYPTR(2), MAPFD(1, m), CALL(1), JEQ_K(0, 0, 1), LDXDW(0, 0, 16),
	                                 MOV64_K(0, 0), EXIT };
	rejects(vm, past_value, N(past_value), "invalid access to map value, value_size=16 off=16");
	struct bpf_insn write_rdonly[] = { KEY0, KEYPTR(2), MAPFD(1, mr), CALL(1), JEQ_K(0, 0, 1), STDW(0, 0, 1),
	                                   MOV64_K(0, 0), EXIT };
	rejects(vm, write_rdonly, N(write_rdonly), "write into map forbidden");
	struct bpf_insn percpu_elem[] = { KEY0, KEYPTR(2), MAPFD(1, m), MOV64_K(3, 0),
	                                  CALL(BPFVM_FN_map_lookup_percpu_elem), JEQ_K(0, 0, 1), LDXDW(0, 0, 8),
	                                  MOV64_K(0, 0), EXIT };
	p = load(vm, percpu_elem, N(percpu_elem), BPFVM_ENGINE_JIT);
	bpfvm_prog_put(p);
	bpfvm_map_put(m);
	bpfvm_map_put(mr);
	bpfvm_destroy(vm);
}

/* Threads add 1 to their CPU's counter with atomic adds while others
 * rewrite another key from programs: no increment is lost. */
#define THREADS 4
#define RUNS 20000
static bpfvm_prog *counter_prog, *writer_prog;

static void *counter_thread(void *arg)
{
	bpfvm_prog *p = arg ? writer_prog : counter_prog;
	for (int i = 0; i < RUNS; i++) {
		uint64_t in = 0;
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &in, .len = sizeof(in) };
		if (bpfvm_prog_run_opts(p, &ro) || ro.r0)
			return (void *)1;
	}
	return NULL;
}

Test(percpu_hash, counters_from_many_threads)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_HASH, 8, 8, 2, 0);
	uint64_t *v = calloc(ncpu, 8);
	uint64_t k = 0, k1 = 1;
	cr_assert_eq(bpfvm_map_update(m, &k, v, 0), 0);
	cr_assert_eq(bpfvm_map_update(m, &k1, v, 0), 0);
	struct bpf_insn count[] = { KEY0, KEYPTR(2), MAPFD(1, m), CALL(1), JEQ_K(0, 0, 4), MOV64_K(1, 1),
	                            ATOMIC64(0, 1, 0, 0x00), MOV64_K(0, 0), EXIT, MOV64_K(0, 1), EXIT };
	struct bpf_insn write[] = { STDW(10, -8, 1), STDW(10, -16, 3), KEYPTR(2), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -16),
	                            MAPFD(1, m), MOV64_K(4, BPFVM_EXIST), CALL(2), EXIT };
	for (uint32_t e = BPFVM_ENGINE_INTERP; e <= BPFVM_ENGINE_JIT; e++) {
		counter_prog = load(vm, count, N(count), e);
		writer_prog = load(vm, write, N(write), e);
		pthread_t th[THREADS + 1];
		for (int i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, counter_thread, NULL);
		pthread_create(&th[THREADS], NULL, counter_thread, (void *)1);
		for (int i = 0; i <= THREADS; i++) {
			void *rv;
			pthread_join(th[i], &rv);
			cr_expect_null(rv);
		}
		uint64_t sum = 0;
		cr_assert_eq(bpfvm_map_lookup(m, &k, v, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			sum += v[c];
		cr_expect_eq(sum, (uint64_t)THREADS * RUNS * (e + 1), "engine %u: counters sum to %llu", e,
		             (unsigned long long)sum);
		bpfvm_prog_put(counter_prog);
		bpfvm_prog_put(writer_prog);
	}
	free(v);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
