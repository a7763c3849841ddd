/*
 * Direct tail calls (jit/jit_poke.c): a constant-index site's jmp goes
 * where its slot says (the fall-through when empty, the target's tail stub
 * when it is JIT'd, the indirect path otherwise) and follows every slot
 * change; the 33-call limit holds across direct and indirect tail calls;
 * results match the interpreter.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../vm/insn.h"
#include "jit_int.h"
#include "vm.h"

static bpfvm_prog *load(bpfvm *vm, const struct bpf_insn *insns, size_t n, uint32_t engine, uint32_t flags)
{
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = flags, .engine = engine, .mem_size = 24,
	                              .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	cr_assert_eq(bpfvm_prog_engine(p), engine, "%s", log);
	return p;
}

static bpfvm_map *prog_array(bpfvm *vm)
{
	struct bpfvm_map_attr ma = { .sz = sizeof(ma), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                             .max_entries = 4, .spin_lock_off = -1 };
	bpfvm_map *pa = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &ma, &pa), 0);
	return pa;
}

static void set_slot(bpfvm_map *pa, uint32_t k, bpfvm_prog *p)
{
	int32_t fd = bpfvm_prog_fd(p);
	cr_assert_eq(bpfvm_map_update(pa, &k, &fd, BPFVM_ANY), 0);
}

/* Where the image's only direct site jumps now. */
static uintptr_t site_dest(bpfvm_prog *p)
{
	const struct jit_image *img = ((struct bpfvm_prog *)p)->jit;
	cr_assert_eq(img->npokes, 1);
	const struct jit_poke_site *s = &img->pokes[0];
	cr_assert_eq(((uintptr_t)img->mem + s->rel) % 4, 0, "rel32 not 4-aligned");
	int32_t rel;
	memcpy(&rel, (const uint8_t *)img->mem + s->rel, 4);
	cr_assert_eq(((const uint8_t *)img->mem)[s->rel - 1], 0xe9, "not a jmp rel32");
	return (uintptr_t)img->mem + s->rel + 4 + (intptr_t)rel;
}

static uintptr_t at(bpfvm_prog *p, uint32_t off)
{
	return (uintptr_t)((const struct jit_image *)((struct bpfvm_prog *)p)->jit)->mem + off;
}

static uint64_t run(bpfvm_prog *p)
{
	uint8_t mem[24] = { 0 };
	uint64_t r0 = 0;
	cr_assert_eq(bpfvm_prog_run(p, mem, sizeof(mem), &r0), 0);
	return r0;
}

Test(jit_poke, constant_index_site_follows_its_slot)
{
	if (!jit_poke_supported())
		cr_skip_test("this process cannot patch code (no memfd or core-serializing membarrier)");
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *pa = prog_array(vm);
	int fd = bpfvm_map_fd(pa);
	struct bpf_insn caller[] = { LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 1), CALL(BPFVM_FN_tail_call), MOV64_K(0, 7), EXIT };
	struct bpf_insn t42[] = { MOV64_K(0, 42), EXIT };
	struct bpf_insn t43[] = { MOV64_K(0, 43), EXIT };
	struct bpf_insn t44[] = { MOV64_K(0, 44), EXIT };
	bpfvm_prog *c = load(vm, caller, N(caller), BPFVM_ENGINE_JIT, 0);
	const struct jit_poke_site s = ((const struct jit_image *)((struct bpfvm_prog *)c)->jit)->pokes[0];
	cr_expect_eq(s.index, 1);
	cr_expect_eq(s.map, (struct bpfvm_map *)pa);
	/* empty: falls through */
	cr_expect_eq(site_dest(c), at(c, s.out));
	cr_expect_eq(run(c), 7);
	/* a JIT'd target: a direct jump to its tail stub */
	bpfvm_prog *t = load(vm, t42, N(t42), BPFVM_ENGINE_JIT, 0);
	unsigned long patches = jit_poke_patches, syncs = jit_poke_syncs;
	set_slot(pa, 1, t);
	cr_expect_gt(jit_poke_patches, patches);
	cr_expect_gt(jit_poke_syncs, syncs);
	cr_expect_eq(site_dest(c), at(t, ((const struct jit_image *)((struct bpfvm_prog *)t)->jit)->tail_stub));
	cr_expect_eq(run(c), 42);
	/* an interpreter-only target, and a checked one: the indirect path */
	bpfvm_prog *ti = load(vm, t43, N(t43), BPFVM_ENGINE_INTERP, 0);
	set_slot(pa, 1, ti);
	cr_expect_eq(site_dest(c), at(c, s.slow));
	cr_expect_eq(run(c), 43);
	bpfvm_prog *tc = load(vm, t44, N(t44), BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY);
	set_slot(pa, 1, tc);
	cr_expect_eq(site_dest(c), at(c, s.slow));
	cr_expect_eq(run(c), 44);
	/* back to the JIT'd one, then deleted: falls through again */
	set_slot(pa, 1, t);
	cr_expect_eq(run(c), 42);
	/* a caller JIT'd while the slot is full starts out direct */
	bpfvm_prog *c2 = load(vm, caller, N(caller), BPFVM_ENGINE_JIT, 0);
	cr_expect_eq(site_dest(c2), at(t, ((const struct jit_image *)((struct bpfvm_prog *)t)->jit)->tail_stub));
	cr_expect_eq(run(c2), 42);
	uint32_t k = 1;
	cr_assert_eq(bpfvm_map_delete(pa, &k), 0);
	cr_expect_eq(site_dest(c), at(c, s.out));
	cr_expect_eq(site_dest(c2), at(c2, ((const struct jit_image *)((struct bpfvm_prog *)c2)->jit)->pokes[0].out));
	cr_expect_eq(run(c), 7);
	cr_expect_eq(run(c2), 7);
	/* the last user reference to the array clears its slots, and the sites */
	set_slot(pa, 1, t);
	cr_expect_eq(run(c), 42);
	bpfvm_map_put(pa);
	cr_expect_eq(site_dest(c), at(c, s.out));
	cr_expect_eq(run(c), 7);
	bpfvm_prog_put(t);
	bpfvm_prog_put(ti);
	bpfvm_prog_put(tc);
	bpfvm_prog_put(c);
	bpfvm_prog_put(c2);
	bpfvm_destroy(vm);
}

/* A variable index (the verifier cannot prove it) stays indirect; a
 * checked caller never has direct sites. */
Test(jit_poke, only_verified_constant_indexes_are_direct)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *pa = prog_array(vm);
	int fd = bpfvm_map_fd(pa);
	struct bpf_insn var[] = { LDXB(3, 1, 16), LDDW_SRC(2, 1, fd, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 7), EXIT };
	struct bpf_insn cst[] = { LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 1), CALL(BPFVM_FN_tail_call), MOV64_K(0, 7), EXIT };
	bpfvm_prog *pv = load(vm, var, N(var), BPFVM_ENGINE_JIT, 0);
	bpfvm_prog *pc = load(vm, cst, N(cst), BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY);
	cr_expect_eq(((const struct jit_image *)((struct bpfvm_prog *)pv)->jit)->npokes, 0);
	cr_expect_eq(((const struct jit_image *)((struct bpfvm_prog *)pc)->jit)->npokes, 0);
	cr_expect_eq(run(pv), 7);
	bpfvm_prog_put(pv);
	bpfvm_prog_put(pc);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
}

/*
 * As Linux, 33 tail calls per run, counted the same on both paths:
 *   A (slot 0): mem[0]++; tail_call(pa, 1)          constant: direct
 *   B (slot 1): mem[8]++; tail_call(pa, mem[16])    variable: indirect (to A)
 * Entered at A, the 33rd call lands in B, whose 34th attempt falls
 * through: r0 = 600, A ran 17 times, B 17.
 */
static void limit_case(uint32_t engine, uint64_t *r0, uint64_t *na, uint64_t *nb, uint32_t *npokes)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *pa = prog_array(vm);
	int fd = bpfvm_map_fd(pa);
	struct bpf_insn a[] = {
		LDXDW(2, 1, 0), ALU64_K(OP_ADD, 2, 1), STXDW(1, 2, 0),
		LDDW_SRC(2, 1, fd, 0), MOV64_K(3, 1), CALL(BPFVM_FN_tail_call), MOV64_K(0, 500), EXIT,
	};
	struct bpf_insn b[] = {
		LDXDW(2, 1, 8), ALU64_K(OP_ADD, 2, 1), STXDW(1, 2, 8), LDXDW(3, 1, 16),
		LDDW_SRC(2, 1, fd, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 600), EXIT,
	};
	bpfvm_prog *pa_ = load(vm, a, N(a), engine, 0);
	bpfvm_prog *pb = load(vm, b, N(b), engine, 0);
	set_slot(pa, 0, pa_);
	set_slot(pa, 1, pb);
	*npokes = engine == BPFVM_ENGINE_JIT ? ((const struct jit_image *)((struct bpfvm_prog *)pa_)->jit)->npokes : 0;
	if (engine == BPFVM_ENGINE_JIT && jit_poke_supported())
		cr_expect_eq(site_dest(pa_),
		             at(pb, ((const struct jit_image *)((struct bpfvm_prog *)pb)->jit)->tail_stub));
	uint64_t mem[3] = { 0, 0, 0 };
	cr_assert_eq(bpfvm_prog_run(pa_, mem, sizeof(mem), r0), 0);
	*na = mem[0];
	*nb = mem[1];
	bpfvm_prog_put(pa_);
	bpfvm_prog_put(pb);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
}

Test(jit_poke, limit_of_33_across_direct_and_indirect)
{
	uint64_t ri, ai, bi, rj, aj, bj;
	uint32_t np;
	limit_case(BPFVM_ENGINE_INTERP, &ri, &ai, &bi, &np);
	limit_case(BPFVM_ENGINE_JIT, &rj, &aj, &bj, &np);
	if (jit_poke_supported())
		cr_expect_eq(np, 1, "A's constant index is a direct site");
	cr_expect_eq(ri, 600);
	cr_expect_eq(ai, 17);
	cr_expect_eq(bi, 17);
	cr_expect_eq(rj, ri, "jit r0 %llu", (unsigned long long)rj);
	cr_expect_eq(aj, ai, "jit: A ran %llu times", (unsigned long long)aj);
	cr_expect_eq(bj, bi, "jit: B ran %llu times", (unsigned long long)bj);
}
