/*
 * A verified program whose loops the JIT vectorizes (progs/vector.bpf.c,
 * as clang-19 compiles it): the interpreter and the JIT, each with its own
 * copy of the map seeded alike, must leave the same bytes and return the
 * same r0, run after run; with AVX2, four of its five loops are vectorized
 * (the fifth mixes 4- and 8-byte elements).
 */
#include <string.h>

#include "jit_int.h"
#include "util.h"
#include "vm.h"

#define VALUE_SIZE (3 * 256 * 4 + 2 * 256 * 2 + 512 + 2 * 256 * 8)

static void seed(bpfvm_map *m, uint64_t s)
{
	static uint8_t v[VALUE_SIZE];
	for (size_t i = 0; i < sizeof(v); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		v[i] = (uint8_t)(s >> 56);
	}
	uint32_t zero = 0;
	cr_assert_eq(bpfvm_map_update(m, &zero, v, 0), 0);
}

Test(elf_vector, interpreter_and_vectorized_jit_agree)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_obj *oi = t_load(vm, "vector.o", BPFVM_ENGINE_INTERP), *oj = t_load(vm, "vector.o", BPFVM_ENGINE_JIT);
	bpfvm_prog *pi = bpfvm_obj_prog(oi, "vector_loops"), *pj = bpfvm_obj_prog(oj, "vector_loops");
	cr_assert(pi && pj);
	cr_assert_eq(bpfvm_prog_engine(pj), BPFVM_ENGINE_JIT);
	if (jit_x86_vec_supported())
		cr_expect_eq(((const struct jit_image *)pj->jit)->nvloops, 4);
	bpfvm_map *mi = bpfvm_obj_map(oi, "data"), *mj = bpfvm_obj_map(oj, "data");
	cr_assert(mi && mj);
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	cr_assert_eq(bpfvm_map_info(mi, &info), 0);
	cr_assert_eq(info.value_size, VALUE_SIZE);
	static uint8_t vi[VALUE_SIZE], vj[VALUE_SIZE];
	for (uint64_t s = 1; s <= 3; s++) {
		seed(mi, s);
		seed(mj, s);
		for (int run = 0; run < 2; run++) {
			uint64_t ri = 0, rj = 0;
			char in[8] = { 0 };
			cr_assert_eq(bpfvm_prog_run(pi, in, sizeof(in), &ri), 0);
			cr_assert_eq(bpfvm_prog_run(pj, in, sizeof(in), &rj), 0);
			cr_expect_eq(ri, rj, "seed %llu run %d: r0 %#llx vs %#llx", (unsigned long long)s, run,
			             (unsigned long long)ri, (unsigned long long)rj);
			uint32_t zero = 0;
			cr_assert_eq(bpfvm_map_lookup(mi, &zero, vi, 0), 0);
			cr_assert_eq(bpfvm_map_lookup(mj, &zero, vj, 0), 0);
			for (size_t i = 0; i < VALUE_SIZE; i++)
				cr_assert_eq(vi[i], vj[i], "seed %llu run %d: value byte %zu: %#x vs %#x",
				             (unsigned long long)s, run, i, vi[i], vj[i]);
		}
	}
	bpfvm_obj_close(oi);
	bpfvm_obj_close(oj);
	bpfvm_destroy(vm);
}
