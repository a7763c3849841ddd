/* Clang-built per-CPU maps (progs/percpu.bpf.c: an array;
 * progs/percpu_hash.bpf.c: hash maps, preallocated and not), verified and
 * run on both engines: the program's own sum over CPUs and the host's
 * agree. */
#include <errno.h>
#include <string.h>

#include "run_bpfvm.h"
#include "seed.h"
#include "util.h"

Test(elf_percpu, counter)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_obj *obj = t_load(vm, "percpu.o", engine);
		bpfvm_prog *p = bpfvm_obj_prog(obj, "count");
		bpfvm_map *m = bpfvm_obj_map(obj, "hits");
		cr_assert(p && m);
		struct bpfvm_map_info info = { .sz = sizeof(info) };
		cr_assert_eq(bpfvm_map_info(m, &info), 0);
		cr_expect_eq(info.type, BPFVM_MAP_PERCPU_ARRAY);
		for (uint64_t i = 1; i <= 50; i++) {
			uint64_t r0;
			cr_assert_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
			cr_expect_eq(r0, i, "run %llu: the program counted %llu", (unsigned long long)i, (unsigned long long)r0);
		}
		unsigned ncpu = bpfvm_num_possible_cpus();
		uint64_t *v = calloc(ncpu, 8), sum = 0;
		uint32_t k = 0;
		cr_assert_eq(bpfvm_map_lookup(m, &k, v, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			sum += v[c];
		cr_expect_eq(sum, 50);
		free(v);
		bpfvm_obj_close(obj);
		bpfvm_destroy(vm);
	}
}

Test(elf_percpu, hash_counters)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_obj *obj = t_load(vm, "percpu_hash.o", engine);
		bpfvm_prog *p = bpfvm_obj_prog(obj, "count");
		bpfvm_map *maps[2] = { bpfvm_obj_map(obj, "hits"), bpfvm_obj_map(obj, "hits_np") };
		cr_assert(p && maps[0] && maps[1]);
		struct bpfvm_map_info info = { .sz = sizeof(info) };
		cr_assert_eq(bpfvm_map_info(maps[1], &info), 0);
		cr_expect_eq(info.type, BPFVM_MAP_PERCPU_HASH);
		cr_expect_eq(info.map_flags, BPFVM_F_NO_PREALLOC);
		cr_expect_eq(info.value_size, 8);
		for (uint64_t i = 1; i <= 50; i++) {
			uint64_t r0;
			cr_assert_eq(bpfvm_prog_run(p, NULL, 0, &r0), 0);
			cr_expect_eq(r0, i, "run %llu: the program counted %llu", (unsigned long long)i, (unsigned long long)r0);
		}
		unsigned ncpu = bpfvm_num_possible_cpus();
		uint64_t *v = calloc(ncpu, 8);
		for (int m = 0; m < 2; m++) {
			uint64_t sum = 0;
			uint32_t k = 7, next;
			cr_assert_eq(bpfvm_map_lookup(maps[m], &k, v, 0), 0);
			for (unsigned c = 0; c < ncpu; c++)
				sum += v[c];
			cr_expect_eq(sum, 50, "map %d", m);
			cr_expect_eq(bpfvm_map_get_next_key(maps[m], NULL, &next), 0);
			cr_expect_eq(next, 7);
			cr_expect_eq(bpfvm_map_get_next_key(maps[m], &next, &next), -ENOENT, "one key");
		}
		free(v);
		bpfvm_obj_close(obj);
		bpfvm_destroy(vm);
	}
}

/* bpfvm run --seed on a per-CPU hash: the one value given seeds every
 * CPU's, so the program's sum over CPUs starts at value x CPUs. */
Test(elf_percpu, hash_seeded)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char err[256] = "";
	bpfvm_obj *obj = t_load(vm, "percpu_hash.o", BPFVM_ENGINE_INTERP);
	const char *json = "{\"maps\": [{\"name\": \"hits\", \"entries\": [{\"key\": 7, \"value\": 100}]},"
	                   " {\"name\": \"hits_np\", \"entries\": [{\"key\": 7, \"value\": 100}]}]}";
	cr_assert_eq(cli_seed_maps(obj, json, strlen(json), err, sizeof(err)), 0, "%s", err);
	uint64_t r0;
	cr_assert_eq(bpfvm_prog_run(bpfvm_obj_prog(obj, "count"), NULL, 0, &r0), 0);
	cr_expect_eq(r0, 100ull * bpfvm_num_possible_cpus() + 1, "r0 %llu", (unsigned long long)r0);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* bpfvm run --dump-maps --json lists each CPU's value of a per-CPU hash:
 * one run counted 1 on its CPU, 0 on the others, in both maps. */
Test(elf_percpu, hash_dump_maps)
{
	static char out[1 << 16];
	cr_assert_eq(bpfvm_cmd(out, sizeof(out), "run %s/percpu_hash.o --dump-maps --json", ELF_TEST_DIR), 0, "%s", out);
	unsigned ncpu = bpfvm_num_possible_cpus();
	cr_expect_eq(count(out, "\"type\": 5"), 2, "%s", out);
	cr_expect_eq(count(out, "\"key\": \"07000000\", \"values\": ["), 2, "%s", out);
	cr_expect_eq(count(out, "\"0100000000000000\""), 2, "%s", out);
	cr_expect_eq(count(out, "\"0000000000000000\""), 2 * (ncpu - 1), "%s", out);
}
