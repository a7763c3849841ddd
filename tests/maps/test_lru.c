/* LRU hash maps (maps/lru.c): attributes, host API, eviction when full
 * (count, which keys survive), program lookups marking elements on both
 * engines, eviction inside one overflow chain, and evicted memory staying
 * valid for a reader's read section. */
#include <sched.h>
#include <stdlib.h>

#include "map_impl.h"
#include "mt.h"

#define NO_COMMON_LRU (1u << 1) /* Linux's BPF_F_NO_COMMON_LRU */

void *map_htab_lookup_raw(struct bpfvm_map *map, const void *key); /* maps/hash.c: no mark */

static const struct {
	const char *name;
	uint32_t ks, vs, max, flags;
	int32_t lock;
	int err;
} attrs[] = {
	{ "plain", 8, 8, 16, 0, -1, 0 },
	{ "read-only for programs", 4, 16, 16, BPFVM_F_RDONLY_PROG, -1, 0 },
	{ "long key", 40, 8, 16, 0, -1, 0 },
	{ "no prealloc (as Linux: always preallocated)", 8, 8, 16, BPFVM_F_NO_PREALLOC, -1, -EOPNOTSUPP },
	{ "per-CPU LRU lists", 8, 8, 16, NO_COMMON_LRU, -1, 0 },
	{ "per-CPU LRU lists, read-only for programs", 8, 8, 3, NO_COMMON_LRU | BPFVM_F_RDONLY_PROG, -1, 0 },
	{ "unknown flag", 8, 8, 16, 1u << 20, -1, -EINVAL },
	{ "inner-map flag", 8, 8, 16, BPFVM_F_INNER_MAP, -1, -EINVAL },
	{ "spin lock (as Linux)", 8, 16, 16, 0, 8, -EOPNOTSUPP },
	{ "zero max_entries", 8, 8, 0, 0, -1, -EINVAL },
	{ "over 2^31 entries", 8, 8, (1u << 31) + 1, 0, -1, -E2BIG },
	{ "elements, spares and buckets over 1 GiB", 8, 8, 1u << 24, 0, -1, -E2BIG },
};

Test(lru, attributes)
{
	bpfvm *vm = t_vm();
	for (size_t i = 0; i < N(attrs); i++) {
		struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_LRU_HASH, .key_size = attrs[i].ks,
		                            .value_size = attrs[i].vs, .max_entries = attrs[i].max,
		                            .map_flags = attrs[i].flags, .spin_lock_off = attrs[i].lock };
		bpfvm_map *m = NULL;
		int rc = bpfvm_map_create(vm, &a, &m);
		cr_expect_eq(rc, attrs[i].err, "%s: got %d", attrs[i].name, rc);
		if (!rc) {
			struct bpfvm_map_info info = { .sz = sizeof(info) };
			cr_expect_eq(bpfvm_map_info(m, &info), 0);
			cr_expect_eq(info.type, BPFVM_MAP_LRU_HASH);
			cr_expect_eq(info.map_flags, attrs[i].flags);
			/* As Linux: per-CPU lists round max_entries up to a
			 * multiple of the CPU count. */
			unsigned n = attrs[i].flags & NO_COMMON_LRU ? bpfvm_num_possible_cpus() : 1;
			cr_expect_eq(info.max_entries, (attrs[i].max + n - 1) / n * n, "%s: max_entries %u", attrs[i].name,
			             info.max_entries);
			bpfvm_map_put(m);
		}
	}
	bpfvm_destroy(vm);
}

static unsigned count_keys(bpfvm_map *m)
{
	uint64_t k, prev;
	unsigned n = 0;
	for (int rc = bpfvm_map_get_next_key(m, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &k)) {
		prev = k;
		n++;
	}
	return n;
}

static bool has(bpfvm_map *m, uint64_t k)
{
	uint64_t v;
	return bpfvm_map_lookup(m, &k, &v, 0) == 0;
}

Test(lru, host_api_as_hash)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 4, 0);
	uint64_t k = 1, v = 10, out;
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_EXIST), -ENOENT);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_NOEXIST), 0);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_NOEXIST), -EEXIST);
	v = 11;
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_EXIST), 0);
	cr_expect_eq(bpfvm_map_lookup(m, &k, &out, 0), 0);
	cr_expect_eq(out, 11);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_F_LOCK), -EINVAL, "no spin lock in the value");
	cr_expect_eq(bpfvm_map_update(m, &k, &v, 3), -EINVAL);
	cr_expect_eq(bpfvm_map_lookup(m, &k, &out, BPFVM_F_LOCK), -EINVAL);
	uint64_t first;
	cr_expect_eq(bpfvm_map_get_next_key(m, NULL, &first), 0);
	cr_expect_eq(first, 1);
	cr_expect_eq(bpfvm_map_get_next_key(m, &first, &out), -ENOENT);
	cr_expect_eq(bpfvm_map_delete(m, &k), 0);
	cr_expect_eq(bpfvm_map_delete(m, &k), -ENOENT);
	cr_expect_eq(bpfvm_map_lookup(m, &k, &out, 0), -ENOENT);
	cr_expect_eq(bpfvm_map_get_next_key(m, NULL, &first), -ENOENT);
	cr_expect_eq(bpfvm_map_freeze(m), 0);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, 0), -EPERM);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, full_map_evicts_instead_of_e2big)
{
	bpfvm *vm = t_vm();
	const unsigned max = 64, extra = 200;
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, max, 0);
	for (uint64_t k = 0; k < max + extra; k++) {
		uint64_t v = k * 3;
		cr_assert_eq(bpfvm_map_update(m, &k, &v, BPFVM_NOEXIST), 0, "insert %llu", (unsigned long long)k);
		cr_assert_eq(count_keys(m), k < max ? k + 1 : max);
		cr_assert(has(m, k), "the key just inserted is there");
	}
	/* Each key still present has its own value. */
	uint64_t k, prev, v;
	for (int rc = bpfvm_map_get_next_key(m, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &k)) {
		cr_assert_eq(bpfvm_map_lookup(m, &k, &v, 0), 0);
		cr_expect_eq(v, k * 3);
		prev = k;
	}
	/* A replace in a full map evicts nothing. */
	k = max + extra - 1;
	v = 1;
	cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_EXIST), 0);
	cr_expect_eq(count_keys(m), max);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* A verified program: r0 = 1 if the key in the input is in the map (the
 * lookup marks it), 0 if not. */
static bpfvm_prog *lookup_prog(bpfvm *vm, bpfvm_map *m, uint32_t engine)
{
	struct bpf_insn ins[] = {
		LDXDW(6, 1, 0), STXDW(10, 6, -8), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MAPFD(1, m),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 2), MOV64_K(0, 1), EXIT, MOV64_K(0, 0), EXIT,
	};
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, ins, N(ins), &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

/* A verified program: inserts the input key (value = key + 1) with
 * BPF_NOEXIST; r0 = the helper's result. */
static bpfvm_prog *insert_prog(bpfvm *vm, bpfvm_map *m, uint32_t engine)
{
	struct bpf_insn ins[] = {
		LDXDW(6, 1, 0), STXDW(10, 6, -8), ALU64_K(OP_ADD, 6, 1), STXDW(10, 6, -16), MOV64_X(2, 10),
		ALU64_K(OP_ADD, 2, -8), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -16), MOV64_K(4, BPFVM_NOEXIST), MAPFD(1, m),
		CALL(BPFVM_FN_map_update_elem), EXIT,
	};
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, ins, N(ins), &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

static uint64_t run(bpfvm_prog *p, uint64_t in)
{
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &in, .len = sizeof(in) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0);
	return ro.r0;
}

/* Fill the map, look up a quarter of the keys from a program, insert half
 * a map of new keys: every looked-up key survives and the new keys are
 * there; the count stays max_entries.  Then, with no more lookups, a few
 * rounds of new keys push every old key out. */
static void referenced_survive(uint32_t engine, bool program_inserts)
{
	bpfvm *vm = t_vm();
	const uint64_t max = 64, hot = 16, batch = 32;
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, max, 0);
	bpfvm_prog *look = lookup_prog(vm, m, engine), *ins = insert_prog(vm, m, engine);
	for (uint64_t k = 0; k < max; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, &k, 0), 0);
	/* The hot keys are spread over the insertion order. */
	for (uint64_t i = 0; i < hot; i++)
		cr_assert_eq(run(look, i * 4), 1);
	for (uint64_t k = 1000; k < 1000 + batch; k++) {
		if (program_inserts) {
			cr_assert_eq(run(ins, k), 0, "engine %u: the program's insert into a full map evicts", engine);
		} else {
			cr_assert_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
		}
	}
	cr_expect_eq(count_keys(m), max);
	for (uint64_t i = 0; i < hot; i++)
		cr_expect(has(m, i * 4), "engine %u: looked-up key %llu was evicted", engine, (unsigned long long)(i * 4));
	for (uint64_t k = 1000; k < 1000 + batch; k++)
		cr_expect(has(m, k), "engine %u: new key %llu was evicted by its own batch", engine, (unsigned long long)k);
	unsigned cold_left = 0;
	for (uint64_t k = 0; k < max; k++)
		cold_left += k % 4 && has(m, k);
	cr_expect_eq(cold_left, max - hot - batch, "the batch evicted untouched keys only");
	/* No lookups any more: the old hot keys are not protected forever. */
	for (uint64_t k = 2000; k < 2000 + 8 * max; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
	unsigned old_left = 0;
	for (uint64_t k = 0; k < max; k++)
		old_left += has(m, k);
	cr_expect_eq(old_left, 0, "engine %u: %u keys never looked up again outlived 8 maps of inserts", engine,
	             old_left);
	cr_expect_eq(count_keys(m), max);
	bpfvm_prog_put(look);
	bpfvm_prog_put(ins);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, referenced_keys_survive_interp) { referenced_survive(BPFVM_ENGINE_INTERP, false); }
Test(lru, referenced_keys_survive_jit) { referenced_survive(BPFVM_ENGINE_JIT, false); }
Test(lru, program_inserts_evict_interp) { referenced_survive(BPFVM_ENGINE_INTERP, true); }
Test(lru, program_inserts_evict_jit) { referenced_survive(BPFVM_ENGINE_JIT, true); }

Test(lru, host_lookups_dont_mark)
{
	/* As Linux (htab_lru_map_lookup_elem_sys): only program lookups count
	 * as uses.  A host lookup of every key protects none of them. */
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 8, 0);
	for (uint64_t k = 0; k < 8; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, &k, 0), 0);
	for (uint64_t k = 0; k < 8; k++)
		cr_assert(has(m, k));
	for (uint64_t k = 100; k < 108; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, &k, 0), 0);
	for (uint64_t k = 0; k < 8; k++)
		cr_expect(!has(m, k), "key %llu", (unsigned long long)k);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, everything_referenced_still_evicts)
{
	/* Every key looked up after each round of inserts: the evictor
	 * demotes and evicts anyway.  Which keys go is up to the
	 * approximation (a demoted hot key may outlive a newer untouched
	 * one, as in Linux); the key just inserted is always there. */
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 16, 0);
	bpfvm_prog *look = lookup_prog(vm, m, BPFVM_ENGINE_INTERP);
	for (uint64_t r = 0; r < 20; r++) {
		for (uint64_t k = 0; k < 16; k++) {
			uint64_t key = r * 100 + k;
			cr_assert_eq(bpfvm_map_update(m, &key, &key, 0), 0);
			cr_assert_eq(run(look, key), 1, "round %llu key %llu", (unsigned long long)r, (unsigned long long)k);
		}
		uint64_t k, prev;
		for (int rc = bpfvm_map_get_next_key(m, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &k)) {
			cr_assert_eq(run(look, k), 1);
			prev = k;
		}
		cr_assert_eq(count_keys(m), 16);
	}
	bpfvm_prog_put(look);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, delete_and_churn_at_capacity)
{
	/* Evicted and deleted elements wait a grace period before reuse: a
	 * full map must keep accepting inserts meanwhile. */
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 4, 8, 8, 0);
	for (uint32_t k = 0; k < 20000; k++) {
		uint64_t v = k;
		cr_assert_eq(bpfvm_map_update(m, &k, &v, BPFVM_NOEXIST), 0, "insert %u", k);
		if (k % 3 == 0)
			cr_assert_eq(bpfvm_map_delete(m, &k), 0);
	}
	unsigned n = 0;
	uint32_t k, prev;
	for (int rc = bpfvm_map_get_next_key(m, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &k)) {
		uint64_t v;
		cr_expect_eq(bpfvm_map_lookup(m, &k, &v, 0), 0);
		cr_expect_eq(v, k);
		prev = k;
		n++;
	}
	cr_expect_leq(n, 8);
	cr_expect_geq(n, 7, "at most the last insert's key was deleted");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, eviction_inside_one_chain)
{
	/* Every key in one bucket chain: the victim's bucket is the one the
	 * inserting update holds. */
	bpfvm *vm = t_vm();
	for (uint32_t ks = 8; ks <= 24; ks += 16) {
		bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, ks, 8, 10, 0);
		cr_assert_eq(map_htab_test_collide(m), 0);
		uint8_t key[24] = { 0 };
		for (uint64_t k = 0; k < 100; k++) {
			memcpy(key, &k, 8);
			cr_assert_eq(bpfvm_map_update(m, key, &k, 0), 0);
		}
		unsigned n = 0;
		for (uint64_t k = 0; k < 100; k++) {
			memcpy(key, &k, 8);
			uint64_t v;
			if (bpfvm_map_lookup(m, key, &v, 0) == 0) {
				cr_expect_eq(v, k);
				cr_expect_geq(k, 90, "key %llu: the ten newest keys stay", (unsigned long long)k);
				n++;
			}
		}
		cr_expect_eq(n, 10);
		bpfvm_map_put(m);
	}
	bpfvm_destroy(vm);
}

Test(lru, evicted_value_valid_until_read_section_ends)
{
	/* A reader holding a value pointer: its element is evicted (and the
	 * map churned through many times) under it, and the memory keeps the
	 * old value until the reader's section ends. */
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 8, 0);
	uint64_t k = 7, v = 0x7777;
	cr_assert_eq(bpfvm_map_update(m, &k, &v, 0), 0);
	rcu_read_lock();
	uint64_t *p = map_htab_lookup_raw(m, &k);
	cr_assert_not_null(p);
	for (uint64_t n = 100; n < 100 + 50 * 8; n++)
		cr_assert_eq(bpfvm_map_update(m, &n, &n, 0), 0);
	cr_expect(!has(m, k), "key 7 was evicted");
	cr_expect_eq(*p, 0x7777, "the evicted element was reused inside a read section");
	rcu_read_unlock();
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, verifier_treats_it_as_a_hash)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 4, 0);
	/* update, lookup, delete verify (lookup_prog/insert_prog above load
	 * checked); the per-CPU lookup is refused. */
	struct bpf_insn del[] = { STDW(10, -8, 1), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MAPFD(1, m),
	                          CALL(BPFVM_FN_map_delete_elem), EXIT };
	struct bpf_insn pcpu[] = { STDW(10, -8, 1), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MAPFD(1, m), MOV64_K(3, 0),
	                           CALL(BPFVM_FN_map_lookup_percpu_elem), MOV64_K(0, 0), EXIT };
	char log[1024] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	cr_expect_eq(bpfvm_prog_load(vm, del, N(del), &po, &p), 0, "%s", log);
	uint64_t r0 = 0;
	cr_expect_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
	cr_expect_eq((int64_t)r0, -ENOENT);
	bpfvm_prog_put(p);
	p = NULL;
	log[0] = 0;
	cr_expect_neq(bpfvm_prog_load(vm, pcpu, N(pcpu), &po, &p), 0);
	cr_expect(strstr(log, "map_type 9"), "log: %s", log);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(lru, inner_map_of_hash_of_maps)
{
	bpfvm *vm = t_vm();
	bpfvm_map *tmpl = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 4, 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4,
	                            .max_entries = 1, .spin_lock_off = -1, .inner_template = tmpl };
	bpfvm_map *outer = NULL, *inner = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 16, 0),
	          *plain = t_map(vm, BPFVM_MAP_HASH, 8, 8, 4, 0);
	cr_assert_eq(bpfvm_map_create(vm, &a, &outer), 0);
	uint32_t k = 0;
	int fd = bpfvm_map_fd(inner);
	cr_expect_eq(bpfvm_map_update(outer, &k, &fd, 0), 0, "an LRU of another max_entries fits");
	fd = bpfvm_map_fd(plain);
	cr_expect_eq(bpfvm_map_update(outer, &k, &fd, 0), -EINVAL, "a plain hash doesn't");
	bpfvm_map_put(outer);
	bpfvm_map_put(inner);
	bpfvm_map_put(plain);
	bpfvm_map_put(tmpl);
	bpfvm_destroy(vm);
}

/* ---- BPF_MAP_TYPE_LRU_PERCPU_HASH ---- */

Test(lru_percpu, attributes)
{
	bpfvm *vm = t_vm();
	for (size_t i = 0; i < N(attrs); i++) {
		struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_LRU_PERCPU_HASH, .key_size = attrs[i].ks,
		                            .value_size = attrs[i].vs, .max_entries = attrs[i].max,
		                            .map_flags = attrs[i].flags, .spin_lock_off = attrs[i].lock };
		bpfvm_map *m = NULL;
		int rc = bpfvm_map_create(vm, &a, &m);
		cr_expect_eq(rc, attrs[i].err, "%s: got %d", attrs[i].name, rc);
		if (!rc)
			bpfvm_map_put(m);
	}
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_LRU_PERCPU_HASH, .key_size = 8,
	                            .value_size = 32769, .max_entries = 4, .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -E2BIG, "per-CPU values are at most 32 KiB");
	bpfvm_destroy(vm);
}

/* r0 = this CPU's value of the input key, or -1; the lookup marks it. */
static bpfvm_prog *pcpu_read_prog(bpfvm *vm, bpfvm_map *m, uint32_t engine)
{
	struct bpf_insn ins[] = {
		LDXDW(6, 1, 0), STXDW(10, 6, -8), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MAPFD(1, m),
		CALL(BPFVM_FN_map_lookup_elem), JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), EXIT,
	};
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, ins, N(ins), &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

/* r0 = CPU 0's value of key 1 (bpf_map_lookup_percpu_elem), or -1. */
static bpfvm_prog *pcpu_cpu0_prog(bpfvm *vm, bpfvm_map *m, uint32_t engine)
{
	struct bpf_insn ins[] = {
		STDW(10, -8, 1), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8), MAPFD(1, m), MOV64_K(3, 0),
		CALL(BPFVM_FN_map_lookup_percpu_elem), JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), EXIT,
	};
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, ins, N(ins), &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

Test(lru_percpu, values_per_cpu_and_eviction)
{
	unsigned ncpu = bpfvm_num_possible_cpus();
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm = t_vm();
		const uint64_t max = 16;
		bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_PERCPU_HASH, 8, 8, max, 0);
		bpfvm_prog *rd = pcpu_read_prog(vm, m, engine), *c0 = pcpu_cpu0_prog(vm, m, engine),
		           *ins = insert_prog(vm, m, engine);
		uint64_t *v = calloc(ncpu, 8), *out = calloc(ncpu, 8);
		for (uint64_t k = 0; k < max; k++) {
			for (unsigned c = 0; c < ncpu; c++)
				v[c] = k * 1000 + c;
			cr_assert_eq(bpfvm_map_update(m, &k, v, BPFVM_NOEXIST), 0);
		}
		uint64_t k = 1;
		cr_assert_eq(bpfvm_map_lookup(m, &k, out, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			cr_expect_eq(out[c], 1000 + c);
		uint64_t mine = run(rd, 1);
		cr_expect_eq(mine / 1000, 1, "engine %u: %llu", engine, (unsigned long long)mine);
		cr_expect_lt(mine % 1000, ncpu, "the value of some CPU of this machine");
		cr_expect_eq(run(c0, 0), 1000, "bpf_map_lookup_percpu_elem(cpu 0)");
		/* Keys 0-3 in use (key 1 already is); insert 8 more: they stay. */
		for (uint64_t h = 0; h < 4; h++)
			cr_assert_eq(run(rd, h) / 1000, h);
		for (uint64_t n = 100; n < 108; n++)
			cr_assert_eq(run(ins, n), 0, "engine %u: a program's insert into a full LRU evicts", engine);
		unsigned left = 0;
		uint64_t key, prev;
		for (int rc = bpfvm_map_get_next_key(m, NULL, &key); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &key)) {
			left++;
			prev = key;
		}
		cr_expect_eq(left, max);
		for (uint64_t h = 0; h < 4; h++)
			cr_expect_eq(bpfvm_map_lookup(m, &h, out, 0), 0, "engine %u: used key %llu evicted", engine,
			             (unsigned long long)h);
		/* A program's insert wrote only its CPU's value (others zero). */
		k = 107;
		cr_assert_eq(bpfvm_map_lookup(m, &k, out, 0), 0);
		unsigned set = 0;
		for (unsigned c = 0; c < ncpu; c++) {
			cr_expect(out[c] == 0 || out[c] == 108, "cpu %u: %llu", c, (unsigned long long)out[c]);
			set += out[c] == 108;
		}
		cr_expect_eq(set, 1);
		free(v);
		free(out);
		bpfvm_prog_put(rd);
		bpfvm_prog_put(c0);
		bpfvm_prog_put(ins);
		bpfvm_map_put(m);
		bpfvm_destroy(vm);
	}
}

Test(lru_percpu, in_place_update_counts_as_a_use)
{
	/* As Linux: updating an existing key of an LRU per-CPU hash rewrites
	 * its values in place and marks it, so it outlives untouched keys. */
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_PERCPU_HASH, 8, 8, 8, 0);
	uint64_t *v = calloc(ncpu, 8);
	for (uint64_t k = 0; k < 8; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, v, 0), 0);
	uint64_t k = 0;
	v[0] = 5;
	cr_assert_eq(bpfvm_map_update(m, &k, v, BPFVM_EXIST), 0);
	for (uint64_t n = 100; n < 104; n++)
		cr_assert_eq(bpfvm_map_update(m, &n, v, 0), 0);
	k = 0;
	cr_expect_eq(bpfvm_map_lookup(m, &k, v, 0), 0, "the updated key stays");
	cr_expect_eq(v[0], 5);
	unsigned left = 0;
	for (k = 0; k < 8; k++)
		left += bpfvm_map_lookup(m, &k, v, 0) == 0;
	cr_expect_eq(left, 4, "4 of the 8 first keys made room");
	free(v);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* ---- BPF_F_NO_COMMON_LRU ---- */

/* Pins the calling thread to the idx-th CPU it may run on; false if it
 * has no such CPU. */
static bool pin(unsigned idx, cpu_set_t *saved)
{
	cpu_set_t all, one;
	if (sched_getaffinity(0, sizeof(all), &all))
		return false;
	if (saved && !CPU_COUNT(saved))
		*saved = all;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, saved ? saved : &all) && idx-- == 0) {
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			return sched_setaffinity(0, sizeof(one), &one) == 0;
		}
	return false;
}

Test(lru, per_cpu_lists_give_each_cpu_its_share)
{
	/* As Linux's BPF_F_NO_COMMON_LRU: each CPU's inserts fill only that
	 * CPU's max_entries / CPUs elements, evicting among them, and leave
	 * other CPUs' elements alone. */
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, 8, 4 * ncpu, NO_COMMON_LRU);
	cpu_set_t saved;
	CPU_ZERO(&saved);
	cr_assert(pin(0, &saved), "can't pin the test to a CPU");
	for (uint64_t k = 0; k < 40; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
	cr_expect_eq(count_keys(m), 4, "one CPU's inserts hold its share only");
	for (uint64_t k = 36; k < 40; k++)
		cr_expect(has(m, k), "key %llu, among the newest", (unsigned long long)k);
	if (ncpu > 1 && pin(1, &saved)) {
		for (uint64_t k = 100; k < 120; k++)
			cr_assert_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
		cr_expect_eq(count_keys(m), 8, "a second CPU's share adds up");
		for (uint64_t k = 36; k < 40; k++)
			cr_expect(has(m, k), "key %llu: another CPU's inserts evicted it", (unsigned long long)k);
		/* Replacing one of them from here moves it to this CPU's share
		 * (as Linux), evicting one of this CPU's keys. */
		uint64_t k = 36, v = 1;
		cr_expect_eq(bpfvm_map_update(m, &k, &v, BPFVM_EXIST), 0);
		cr_expect_eq(count_keys(m), 7);
		cr_assert(pin(0, &saved));
		k = 300;
		cr_expect_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
		cr_expect_eq(count_keys(m), 8, "the first CPU had a free place");
		cr_assert(pin(1, &saved));
		k = 36;
		cr_expect(has(m, k));
		k = 300;
		cr_expect_eq(bpfvm_map_delete(m, &k), 0);
		/* Deleting the first CPU's keys frees its share, not this one's. */
		for (uint64_t k = 36; k < 40; k++)
			cr_expect_eq(bpfvm_map_delete(m, &k), 0);
		for (uint64_t k = 200; k < 204; k++)
			cr_assert_eq(bpfvm_map_update(m, &k, &k, BPFVM_NOEXIST), 0);
		cr_expect_eq(count_keys(m), 4);
	}
	sched_setaffinity(0, sizeof(saved), &saved);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* An insert that can't get an element (the room for elements waiting for
 * their grace period is used up inside one read section) fails without
 * evicting a key for it. */
Test(lru, failed_insert_evicts_nothing)
{
	bpfvm *vm = t_vm();
	const uint32_t vs = 65536;
	bpfvm_map *m = t_map(vm, BPFVM_MAP_LRU_HASH, 8, vs, 8, 0);
	uint8_t *v = calloc(1, vs);
	cr_assert_not_null(v);
	for (uint64_t k = 0; k < 8; k++)
		cr_assert_eq(bpfvm_map_update(m, &k, v, 0), 0);
	int err = 0;
	uint64_t n = 100;
	rcu_read_lock();
	for (; n < 10000 && !err; n++)
		err = bpfvm_map_update(m, &n, v, 0);
	unsigned keys = 0;
	for (uint64_t k = 0; k < n; k++)
		keys += bpfvm_map_lookup(m, &k, v, 0) == 0;
	rcu_read_unlock();
	cr_assert_eq(err, -ENOMEM, "inserts under one read section: %d after %llu", err, (unsigned long long)n);
	cr_expect_eq(keys, 8, "%u keys after the failed insert", keys);
	free(v);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
