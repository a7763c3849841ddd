/* An LRU hash map from a clang-built object (progs/lru.bpf.c): the BTF
 * .maps type is accepted, the program verifies and runs on both engines,
 * inserts past max_entries evict, the keys it used survive; an LRU per-CPU
 * hash with BPF_F_NO_COMMON_LRU counts per CPU; `bpfvm run --dump-maps` and
 * `bpfvm show` list the maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "run_bpfvm.h"
#include "util.h"

Test(elf_lru, churn_both_engines)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_obj *obj = t_load(vm, "lru.o", engine);
		bpfvm_prog *p = bpfvm_obj_prog(obj, "churn");
		bpfvm_map *m = bpfvm_obj_map(obj, "conns");
		cr_assert(p && m);
		struct bpfvm_map_info info = { .sz = sizeof(info) };
		cr_assert_eq(bpfvm_map_info(m, &info), 0);
		cr_expect_eq(info.type, BPFVM_MAP_LRU_HASH);
		cr_expect_eq(info.max_entries, 8);
		uint64_t r0 = 0;
		char dummy[8] = { 0 };
		cr_assert_eq(bpfvm_prog_run(p, dummy, sizeof(dummy), &r0), 0);
		cr_expect_eq(r0 >> 16, 0, "engine %u: an insert into the full LRU failed", engine);
		cr_expect_eq(r0 & 0x15, 0x15, "engine %u: keys 0, 2, 4 were looked up and must stay (r0 %#llx)", engine,
		             (unsigned long long)r0);
		cr_expect_eq((r0 >> 8) & 0xf, 0xf, "engine %u: the 4 new keys are there (r0 %#llx)", engine,
		             (unsigned long long)r0);
		cr_expect_eq(__builtin_popcountll(r0 & 0xfff), 8, "engine %u: 8 keys left (r0 %#llx)", engine,
		             (unsigned long long)r0);
		uint64_t k, prev, v[2];
		unsigned n = 0;
		for (int rc = bpfvm_map_get_next_key(m, NULL, &k); rc == 0; rc = bpfvm_map_get_next_key(m, &prev, &k)) {
			cr_assert_eq(bpfvm_map_lookup(m, &k, v, 0), 0);
			cr_expect_eq(v[0], k);
			cr_expect_eq(v[1], k <= 4 && k % 2 == 0, "key %llu hits %llu", (unsigned long long)k,
			             (unsigned long long)v[1]);
			prev = k;
			n++;
		}
		cr_expect_eq(n, 8);
		bpfvm_obj_close(obj);
		bpfvm_destroy(vm);
	}
}

Test(elf_lru, percpu_with_per_cpu_lists)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_obj *obj = t_load(vm, "lru.o", engine);
		bpfvm_prog *p = bpfvm_obj_prog(obj, "count");
		bpfvm_map *m = bpfvm_obj_map(obj, "counters");
		cr_assert(p && m);
		struct bpfvm_map_info info = { .sz = sizeof(info) };
		cr_assert_eq(bpfvm_map_info(m, &info), 0);
		cr_expect_eq(info.type, BPFVM_MAP_LRU_PERCPU_HASH);
		cr_expect_eq(info.map_flags, 1u << 1, "BPF_F_NO_COMMON_LRU from the BTF definition");
		unsigned ncpu = bpfvm_num_possible_cpus();
		cr_expect_eq(info.max_entries, (4 + ncpu - 1) / ncpu * ncpu, "rounded to a multiple of the CPUs");
		char dummy[8] = { 0 };
		for (uint64_t i = 1; i <= 20; i++) {
			uint64_t r0 = 0;
			cr_assert_eq(bpfvm_prog_run(p, dummy, sizeof(dummy), &r0), 0);
			cr_expect_eq(r0, i, "engine %u run %llu: sum %llu", engine, (unsigned long long)i,
			             (unsigned long long)r0);
		}
		uint64_t *v = calloc(ncpu, 8), sum = 0;
		uint32_t k = 1;
		cr_assert_eq(bpfvm_map_lookup(m, &k, v, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			sum += v[c];
		cr_expect_eq(sum, 20);
		free(v);
		bpfvm_obj_close(obj);
		bpfvm_destroy(vm);
	}
}


Test(elf_lru, cli_dump_and_show)
{
	static char out[1 << 16];
	char args[600];
	snprintf(args, sizeof(args), "run %s/lru.o --dump-maps --json", ELF_TEST_DIR);
	cr_assert_eq(bpfvm_cmd(out, sizeof(out), "%s", args), 0, "%s", out);
	cr_expect(strstr(out, "\"name\": \"conns\", \"type\": 9"), "%s", out);
	unsigned n = 0;
	for (const char *s = out; (s = strstr(s, "{\"key\": ")); s++)
		n++;
	cr_expect_eq(n, 8, "%s", out);
	cr_expect(strstr(out, "{\"key\": \"0000000000000000\", \"value\": \"00000000000000000100000000000000\"}"),
	          "key 0 with one hit: %s", out);
	/* The per-CPU LRU hash: one value per CPU. */
	snprintf(args, sizeof(args), "run %s/lru.o --prog count --dump-maps --json", ELF_TEST_DIR);
	cr_assert_eq(bpfvm_cmd(out, sizeof(out), "%s", args), 0, "%s", out);
	cr_expect(strstr(out, "\"name\": \"counters\", \"type\": 10"), "%s", out);
	cr_expect(strstr(out, "{\"key\": \"01000000\", \"values\": [\""), "%s", out);
	snprintf(args, sizeof(args), "show %s/lru.o", ELF_TEST_DIR);
	cr_assert_eq(bpfvm_cmd(out, sizeof(out), "%s", args), 0, "%s", out);
	cr_expect(strstr(out, "lru_hash"), "%s", out);
	cr_expect(strstr(out, "lru_percpu_hash"), "%s", out);
}
