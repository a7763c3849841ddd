/*
 * The JIT's inline hash lookup (jit/x86_64.c, emit_hash_lookup): a
 * program looking keys up in a BPF_MAP_TYPE_HASH with 8-byte keys, on the
 * interpreter and the JIT, over maps with the same contents: hits in home
 * buckets, keys in overflow buckets (every key in one chain), absent
 * keys, slots emptied and refilled; r0 and every value (the program
 * writes through the pointers it gets) must agree.  The probe's bytes
 * (maps/htab_probe.h) must be the ones maps/hash.c compiled, and appear in
 * the image exactly when the map takes the AVX-512 lookup; maps of other
 * shapes keep the call.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../vm/insn.h"
#include "htab_probe.h"
#include "jit_int.h"
#include "map.h"
#include "map_impl.h"
#include "vm.h"

#define NKEYS 200
#define NPROBE 400

static uint64_t key_of(uint32_t i)
{
	return (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
}

static bool avx512_path(bpfvm_map *m)
{
	return !strcmp(map_htab_test_lookup_path(m), "avx512");
}

/* For each u64 key of the input: v = lookup(key); found: r7 = r7 * 31 +
 * v[0], v[1] += 1; absent: r7 = r7 * 31 + 7.  r0 = r7. */
static bpfvm_prog *lookup_prog(bpfvm *vm, bpfvm_map *m, uint32_t engine)
{
	struct bpf_insn ins[] = {
		MOV64_X(6, 1), MOV64_X(9, 1), ALU64_X(OP_ADD, 9, 2), MOV64_K(7, 0),
		/* loop (4) */
		LDDW_SRC(1, 1, bpfvm_map_fd(m), 0), MOV64_X(2, 6), CALL(BPFVM_FN_map_lookup_elem),
		ALU64_K(OP_MUL, 7, 31), JEQ_K(0, 0, 6),
		LDXDW(3, 0, 0), ALU64_X(OP_ADD, 7, 3), LDXDW(4, 0, 8), ALU64_K(OP_ADD, 4, 1), STXDW(0, 4, 8), JA(1),
		ALU64_K(OP_ADD, 7, 7),
		ALU64_K(OP_ADD, 6, 8), INS(0xad, 6, 9, -15, 0), /* if r6 < r9 goto loop */
		MOV64_X(0, 7), EXIT,
	};
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED, .engine = engine,
	                              .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	cr_assert_eq(bpfvm_prog_load(vm, ins, sizeof(ins) / sizeof(ins[0]), &po, &p), 0, "%s", log);
	cr_assert_eq(bpfvm_prog_engine(p), engine, "%s", log);
	return p;
}

/* The JIT's fallback goes through map_helper_lookup, which calls
 * map->lookup: counted here, it tells how many lookups the inline code
 * did not finish itself. */
static void *(*real_lookup)(struct bpfvm_map *map, const void *key);
static unsigned fallbacks;

static void *counting_lookup(struct bpfvm_map *map, const void *key)
{
	fallbacks++;
	return real_lookup(map, key);
}

static bool image_has_probe(bpfvm_prog *p)
{
	const struct jit_image *img = p->jit;
	return memmem(img->mem, img->code_size, htab_probe_bytes, sizeof(htab_probe_bytes)) != NULL;
}

/* A map of `type` with 8-byte keys: keys 0..NKEYS-1 with {i, 0}, then
 * (churn) every third deleted and NKEYS..NKEYS+NKEYS/3 inserted after two
 * grace periods, so that they refill the emptied slots. */
static bpfvm_map *fill(bpfvm *vm, uint32_t type, bool collide, bool churn)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = type, .key_size = 8, .value_size = 16,
	                            .max_entries = 2 * NKEYS, .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0);
	if (collide)
		cr_assert_eq(map_htab_test_collide(m), 0);
	for (uint32_t i = 0; i < NKEYS; i++) {
		uint64_t k = key_of(i), v[2] = { i, 0 };
		cr_assert_eq(bpfvm_map_update(m, &k, v, BPFVM_NOEXIST), 0);
	}
	if (churn) {
		for (uint32_t i = 0; i < NKEYS; i += 3) {
			uint64_t k = key_of(i);
			cr_assert_eq(bpfvm_map_delete(m, &k), 0);
		}
		rcu_tt_synchronize();
		rcu_synchronize();
		for (uint32_t i = NKEYS; i < NKEYS + NKEYS / 3; i++) {
			uint64_t k = key_of(i), v[2] = { i, 0 };
			cr_assert_eq(bpfvm_map_update(m, &k, v, BPFVM_NOEXIST), 0);
		}
	}
	return m;
}

/* Runs the program on both engines, each on its own map of the same
 * contents, and compares r0 and every value. */
static void same(uint32_t type, bool collide, bool churn, bool want_inline)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *mi = fill(vm, type, collide, churn), *mj = fill(vm, type, collide, churn);
	bpfvm_prog *pi = lookup_prog(vm, mi, BPFVM_ENGINE_INTERP), *pj = lookup_prog(vm, mj, BPFVM_ENGINE_JIT);
	bool inl = want_inline && avx512_path(mj);
	cr_expect_eq(image_has_probe(pj), inl, "inline lookup: want %d", inl);
	uint64_t keys[NPROBE];
	for (uint32_t i = 0; i < NPROBE; i++) /* present, absent and repeated keys */
		keys[i] = key_of((i * 7919u) % (NKEYS + NKEYS / 2));
	unsigned absent = 0;
	for (uint32_t i = 0; i < NPROBE; i++) {
		uint32_t n = (i * 7919u) % (NKEYS + NKEYS / 2);
		absent += n >= NKEYS + (churn ? NKEYS / 3 : 0) || (churn && n < NKEYS && n % 3 == 0);
	}
	uint64_t ri = 0, rj = 0;
	cr_assert_eq(bpfvm_prog_run(pi, keys, sizeof(keys), &ri), 0);
	real_lookup = mj->lookup;
	mj->lookup = counting_lookup;
	fallbacks = 0;
	cr_assert_eq(bpfvm_prog_run(pj, keys, sizeof(keys), &rj), 0);
	mj->lookup = real_lookup;
	if (inl && !collide) /* absent keys and the ~5% in overflow buckets */
		cr_expect_leq(fallbacks, absent + (NPROBE - absent) / 4, "%u of %u lookups (%u absent) took the call",
		              fallbacks, NPROBE, absent);
	else if (!inl)
		cr_expect_eq(fallbacks, NPROBE, "every lookup calls the helper");
	cr_expect_eq(ri, rj, "r0: interpreter %#llx, JIT %#llx", (unsigned long long)ri, (unsigned long long)rj);
	for (uint32_t i = 0; i < NKEYS + NKEYS / 2; i++) {
		uint64_t k = key_of(i), vi[2] = { 0 }, vj[2] = { 0 };
		int ei = bpfvm_map_lookup(mi, &k, vi, 0), ej = bpfvm_map_lookup(mj, &k, vj, 0);
		cr_expect_eq(ei, ej, "key %u: %d vs %d", i, ei, ej);
		cr_expect(vi[0] == vj[0] && vi[1] == vj[1], "key %u: {%llu, %llu} vs {%llu, %llu}", i,
		          (unsigned long long)vi[0], (unsigned long long)vi[1], (unsigned long long)vj[0],
		          (unsigned long long)vj[1]);
	}
	bpfvm_prog_put(pi);
	bpfvm_prog_put(pj);
	bpfvm_map_put(mi);
	bpfvm_map_put(mj);
	bpfvm_destroy(vm);
}

Test(jit_htab, probe_bytes_are_the_maps_own)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *m = fill(vm, BPFVM_MAP_HASH, false, false);
	if (!avx512_path(m))
		cr_skip_test("8-byte keys take the %s lookup here", map_htab_test_lookup_path(m));
	/* m->lookup is k8_lookup_avx512, whose inline assembly is
	 * HTAB_PROBE_ASM: the JIT's bytes must be in its code. */
	const void *code = (const void *)(uintptr_t)m->lookup;
	/* 1 KiB: sanitizer builds put checks in front of the asm. */
	cr_expect(memmem(code, 1024, htab_probe_bytes, sizeof(htab_probe_bytes)) != NULL,
	          "htab_probe_bytes are not the encoding of HTAB_PROBE_ASM");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(jit_htab, home_bucket_hits_and_misses)
{
	same(BPFVM_MAP_HASH, false, false, true);
}

Test(jit_htab, overflow_chain_takes_the_call)
{
	same(BPFVM_MAP_HASH, true, false, true);
}

Test(jit_htab, emptied_and_refilled_slots)
{
	same(BPFVM_MAP_HASH, false, true, true);
	same(BPFVM_MAP_HASH, true, true, true);
}

Test(jit_htab, other_hash_types_keep_the_call)
{
	same(BPFVM_MAP_LRU_HASH, false, false, false);
}
