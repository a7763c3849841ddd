/* Checked mode: every violation stops the run with index and address. */
#include <errno.h>

#include "isa.h"
#include "util.h"

static int run_checked(const struct bpf_insn *p, size_t n, void *mem, size_t len, uint64_t budget, char *err,
                       size_t errsz, uint32_t *insn, uint64_t *addr)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	char log[256] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .log_buf = log,
	                              .log_size = sizeof(log), .insn_budget = budget };
	bpfvm_prog *prog;
	cr_assert_eq(bpfvm_prog_load(vm, p, n, &po, &prog), 0, "%s", log);
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = len, .err_buf = err, .err_size = errsz };
	int rc = bpfvm_prog_run_opts(prog, &ro);
	if (insn)
		*insn = ro.err_insn;
	if (addr)
		*addr = ro.err_addr;
	bpfvm_prog_put(prog);
	bpfvm_destroy(vm);
	return rc;
}

Test(checked, load_past_input)
{
	uint8_t mem[8] = { 1 };
	struct bpf_insn p[] = { MOV64_K(0, 0), LDXDW(0, 1, 4), EXIT };
	char err[256];
	uint32_t insn;
	uint64_t addr;
	cr_expect_eq(run_checked(p, N(p), mem, sizeof(mem), 0, err, sizeof(err), &insn, &addr), -EFAULT);
	cr_expect_eq(insn, 1);
	cr_expect_eq(addr, (uintptr_t)mem + 4);
	cr_expect(strstr(err, "insn 1: 8-byte load from 0x") && strstr(err, "outside any region"), "%s", err);
	/* the same in range works */
	struct bpf_insn q[] = { LDXDW(0, 1, 0), EXIT };
	cr_expect_eq(run_checked(q, N(q), mem, sizeof(mem), 0, err, sizeof(err), NULL, NULL), 0, "%s", err);
}

Test(checked, store_to_null)
{
	struct bpf_insn p[] = { MOV64_K(1, 0), STXW(1, 1, 16), MOV64_K(0, 0), EXIT };
	char err[256];
	uint32_t insn;
	cr_expect_eq(run_checked(p, N(p), NULL, 0, 0, err, sizeof(err), &insn, NULL), -EFAULT);
	cr_expect_eq(insn, 1);
	cr_expect(strstr(err, "4-byte store to 0x10 outside any region"), "%s", err);
}

Test(checked, stack_below_frame)
{
	struct bpf_insn ok[] = { STDW(10, -512, 1), LDXDW(0, 10, -512), EXIT };
	struct bpf_insn bad[] = { STDW(10, -520, 1), MOV64_K(0, 0), EXIT };
	char err[256];
	cr_expect_eq(run_checked(ok, N(ok), NULL, 0, 0, err, sizeof(err), NULL, NULL), 0, "%s", err);
	cr_expect_eq(run_checked(bad, N(bad), NULL, 0, 0, err, sizeof(err), NULL, NULL), -EFAULT);
	cr_expect(strstr(err, "insn 0: 8-byte store to"), "%s", err);
	struct bpf_insn above[] = { LDXDW(0, 10, 0), EXIT };
	cr_expect_eq(run_checked(above, N(above), NULL, 0, 0, err, sizeof(err), NULL, NULL), -EFAULT);
}

Test(checked, callee_may_read_caller_frame)
{
	/* A pointer to the caller's frame stays valid in the callee. */
	struct bpf_insn p[] = { STDW(10, -8, 77), MOV64_X(1, 10), CALL_LOCAL(1), EXIT, LDXDW(0, 1, -8), EXIT };
	char err[256];
	cr_expect_eq(run_checked(p, N(p), NULL, 0, 0, err, sizeof(err), NULL, NULL), 0, "%s", err);
}

Test(checked, budget)
{
	struct bpf_insn p[] = { MOV64_K(0, 0), JA(-1), EXIT };
	char err[256];
	cr_expect_eq(run_checked(p, N(p), NULL, 0, 1000, err, sizeof(err), NULL, NULL), -ELOOP);
	cr_expect(strstr(err, "instruction budget of 1000 exhausted"), "%s", err);
}

Test(checked, eight_frames)
{
	/* f(n) recurses n times: 7 nested calls fit in 8 frames, 8 don't. */
	struct bpf_insn p[] = {
		CALL_LOCAL(1), EXIT,
		JEQ_K(1, 0, 3), ALU64_K(OP_SUB, 1, 1), CALL_LOCAL(-3), EXIT, MOV64_K(0, 5), EXIT,
	};
	char err[256];
	uint64_t r0 = 0;
	struct bpf_insn q[N(p) + 1] = { MOV64_K(1, 6) };
	memcpy(q + 1, p, sizeof(p));
	cr_expect_eq(t_run(NULL, q, N(q), BPFVM_PROG_NO_VERIFY, NULL, 0, &r0, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r0, 5);
	q[0] = MOV64_K(1, 7);
	cr_expect_eq(t_run(NULL, q, N(q), BPFVM_PROG_NO_VERIFY, NULL, 0, &r0, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "call nests deeper than 8 frames"), "%s", err);
	/* The unchecked loop keeps the limit too: it costs one test per call. */
	cr_expect_eq(t_run(NULL, q, N(q), BPFVM_PROG_UNCHECKED, NULL, 0, &r0, err, sizeof(err)), -E2BIG);
}

Test(checked, misaligned_atomic)
{
	struct bpf_insn p[] = { STDW(10, -16, 0), MOV64_K(1, 1), ATOMIC64(10, 1, -12, 0x00), MOV64_K(0, 0), EXIT };
	char err[256];
	cr_expect_eq(run_checked(p, N(p), NULL, 0, 0, err, sizeof(err), NULL, NULL), -EFAULT);
	cr_expect(strstr(err, "insn 2: misaligned 8-byte atomic"), "%s", err);
}

Test(checked, ld_abs_out_of_bounds_ends_with_zero)
{
	uint8_t mem[4] = { 0x12, 0x34, 0x56, 0x78 };
	struct bpf_insn p[] = { INS(0x28, 0, 0, 0, 1), ALU64_K(OP_ADD, 0, 1), EXIT };
	uint64_t r0;
	cr_expect_eq(t_run(NULL, p, N(p), BPFVM_PROG_NO_VERIFY, mem, 4, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 0x3457);
	struct bpf_insn q[] = { MOV64_K(0, 9), INS(0x20, 0, 0, 0, 1), MOV64_K(0, 9), EXIT };
	cr_expect_eq(t_run(NULL, q, N(q), BPFVM_PROG_UNCHECKED, mem, 4, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 0);
	struct bpf_insn s[] = { MOV64_K(2, 2), INS(0x40, 0, 2, 0, 0), EXIT };
	cr_expect_eq(t_run(NULL, s, N(s), BPFVM_PROG_UNCHECKED, mem, 4, &r0, NULL, 0), 0);
	cr_expect_eq(r0, 0); /* 4 bytes at offset 2 of 4: out of bounds */
}

/* Random programs built from opcodes.def entries with random operands:
 * loading must fail cleanly or the checked run must end without crashing
 * (ASan/UBSan builds make any stray access fatal). */
Test(checked, random_programs_never_crash)
{
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(&vo, &vm), 0);
	uint64_t seed = 0x1234567;
#define RND() (seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17, seed)
	int loaded = 0, ran = 0;
	uint8_t mem[64];
	for (int iter = 0; iter < 20000; iter++) {
		struct bpf_insn p[16];
		size_t n = 2 + RND() % 14;
		for (size_t i = 0; i < n; i++) {
			const struct vm_opinfo *oi = &vm_opinfo[RND() % VM_OP__COUNT];
			uint64_t r = RND();
			p[i] = (struct bpf_insn){ .code = oi->code, .dst_reg = r % 11, .src_reg = (r >> 4) % 11,
			                          .off = (int16_t)((r >> 8) % 2 ? (int16_t)(r >> 16) % 24 - 12 : (int16_t)(r >> 16)),
			                          .imm = (r >> 32) % 3 ? (int32_t)((r >> 32) % 64) - 8 : (int32_t)(r >> 32) };
			if (oi->sel == SEL_OFF)
				p[i].off = (int16_t)oi->selval;
			else if (oi->sel == SEL_IMM)
				p[i].imm = oi->selval;
			else if (oi->sel == SEL_SRC)
				p[i].src_reg = (uint8_t)oi->selval;
		}
		p[n - 1] = EXIT;
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .insn_budget = 10000 };
		bpfvm_prog *prog;
		if (bpfvm_prog_load(vm, p, n, &po, &prog))
			continue;
		loaded++;
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = sizeof(mem) };
		int rc = bpfvm_prog_run_opts(prog, &ro);
		ran += rc == 0;
		cr_expect(rc == 0 || rc == -EFAULT || rc == -ELOOP || rc == -E2BIG || rc == -EINVAL, "rc %d", rc);
		bpfvm_prog_put(prog);
	}
	cr_expect_gt(loaded, 100, "only %d random programs loaded", loaded);
	cr_expect_gt(ran, 0, "%d of %d loaded programs ran to exit", ran, loaded);
	bpfvm_destroy(vm);
}

/* A program that tail-calls itself through slot 0 of a prog array: as
 * Linux, 33 tail calls happen, then the call falls through. */
Test(checked, tail_call_limit)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 2, .spin_lock_off = -1 };
	bpfvm_map *map;
	cr_assert_eq(bpfvm_map_create(vm, &a, &map), 0);
	int mfd = bpfvm_map_fd(map);
	for (uint32_t f = BPFVM_PROG_NO_VERIFY; f <= BPFVM_PROG_UNCHECKED; f <<= 1) {
		struct bpf_insn p[] = {
			MOV64_X(6, 1), LDXDW(0, 6, 0), ALU64_K(OP_ADD, 0, 1), STXDW(6, 0, 0),
			LDDW_SRC(2, 1, mfd, 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 99), EXIT,
		};
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = f };
		bpfvm_prog *prog;
		cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0);
		uint32_t key = 0;
		int pfd = bpfvm_prog_fd(prog);
		cr_assert_eq(bpfvm_map_update(map, &key, &pfd, BPFVM_ANY), 0);
		uint64_t counter = 0, r0 = 0;
		cr_expect_eq(bpfvm_prog_run(prog, &counter, sizeof(counter), &r0), 0);
		cr_expect_eq(counter, 34, "1 run + 33 tail calls, got %llu", (unsigned long long)counter);
		cr_expect_eq(r0, 99);
		/* empty slot: falls through at once */
		key = 1;
		p[6] = MOV64_K(3, 1);
		bpfvm_prog *q;
		cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &q), 0);
		counter = 0;
		cr_expect_eq(bpfvm_prog_run(q, &counter, sizeof(counter), &r0), 0);
		cr_expect_eq(counter, 1);
		bpfvm_prog_put(q);
		key = 0;
		cr_expect_eq(bpfvm_map_delete(map, &key), 0);
		bpfvm_prog_put(prog);
	}
	bpfvm_map_put(map);
	bpfvm_destroy(vm);
}

/*
 * Regression: the interpreter's checked mode derived the region of an lddw
 * src=2 (map value address) as `pointer - insns[i+1].imm`, but after the
 * resolver ran that slot holds the pointer's high half, not the offset, so
 * the region was garbage and every access through it faulted.  The region
 * is the map's whole value at key 0, whatever offset the lddw adds.
 */
Test(checked, lddw_map_value_region_from_high_half)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 16,
	                            .max_entries = 1, .spin_lock_off = -1 };
	bpfvm_map *map;
	cr_assert_eq(bpfvm_map_create(vm, &a, &map), 0);
	int mfd = bpfvm_map_fd(map);
	uint32_t key = 0;
	uint64_t val[2] = { 0x1111, 0x2222 };
	cr_assert_eq(bpfvm_map_update(map, &key, val, BPFVM_ANY), 0);
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		/* r1 = &value + 8; r0 = value[1] + value[0]; value[0] = r0 */
		struct bpf_insn p[] = {
			LDDW_SRC(1, BPF_PSEUDO_MAP_VALUE, mfd, 8), LDXDW(0, 1, 0), LDXDW(2, 1, -8),
			ALU64_X(OP_ADD, 0, 2), STXDW(1, 0, -8), EXIT,
		};
		char log[256] = "", err[256] = "";
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .engine = engine,
		                              .log_buf = log, .log_size = sizeof(log) };
		bpfvm_prog *prog;
		cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0, "%s", log);
		uint64_t mem = 0;
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &mem, .len = sizeof(mem), .err_buf = err,
		                             .err_size = sizeof(err) };
		cr_expect_eq(bpfvm_prog_run_opts(prog, &ro), 0, "engine %u: %s", engine, err);
		cr_expect_eq(ro.r0, 0x3333, "engine %u", engine);
		/* just past the value: still out of bounds */
		p[3] = LDXDW(2, 1, 8);
		bpfvm_prog *q;
		cr_assert_eq(bpfvm_prog_load(vm, p, N(p), &po, &q), 0, "%s", log);
		ro.r0 = 0;
		cr_expect_eq(bpfvm_prog_run_opts(q, &ro), -EFAULT, "engine %u", engine);
		bpfvm_prog_put(q);
		bpfvm_prog_put(prog);
		val[0] = 0x1111;
		cr_assert_eq(bpfvm_map_update(map, &key, val, BPFVM_ANY), 0);
	}
	bpfvm_map_put(map);
	bpfvm_destroy(vm);
}
