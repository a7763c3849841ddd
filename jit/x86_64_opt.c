/*
 * The x86-64 JIT's peephole plan: register liveness over the program, then
 * the instruction sequences that x86 can do in one instruction because a
 * temporary register they write is dead afterwards.  Computed once per
 * program, before the translation passes; the translator (x86_64.c) only
 * reads it, so every pass emits the same sequences and sizes converge as
 * before.
 *
 * clang's BPF backend has no addressing modes and no memory operands, so
 * a[i] += x becomes five instructions through two temporaries:
 *     rA = rB; rA += rC; rT = *(u32 *)(rA + off); wT += wS; *(u32 *)(rA + off) = rT
 * and x86 needs one:  add dword [B + C + off], S   (when rA and rT are dead).
 *
 * Sequences planned (never in checked mode, whose bounds checks work on
 * [reg + off]; never across a jump target):
 *   address fold  rA = rB; rA += rC (or += K); up to JIT_FOLD_GAP unrelated
 *                 instructions; then one memory user based on rA.  The
 *                 user addresses [rB + rC + off] and the mov/add vanish.
 *                 Sound when: the unrelated instructions neither touch rA
 *                 nor write rB or rC (so the sum is the same at the user),
 *                 and rA is dead after the user (or the user is a load
 *                 into rA).  The mov/add are then as if sunk to the user.
 *   read-modify-write  rT = *(sz *)(rP + off); rT op= S (or K);
 *                 *(sz *)(rP + off) = rT with rT dead after the store,
 *                 op in add/sub/and/or/xor: op sz [rP + off], S.  The
 *                 stored low sz bytes are the same whatever the op's
 *                 width, except an 8-byte access needs a 64-bit op.
 *   test          [rT = rS;] rT &= K; if rT == 0 (or != 0) with rT dead on
 *                 both edges: test rS, K; je (jne).  (collatz's n & 1.)
 *   load-compare  rT = *(sz *)(rP + off); if rT <cond> K with rT dead on
 *                 both edges, cond ==, !=, or unsigned, 0 <= K < 2^(8 sz):
 *                 cmp sz [rP + off], K; jcc.  The loaded value is
 *                 zero-extended and K is in its range, so the sz-byte
 *                 unsigned compare decides exactly as the 32/64-bit one.
 * A memory user may be any of: ldx, st, stx, a read-modify-write or a
 * load-compare.
 *
 * Liveness is the usual backward dataflow; calls, atomics and LD_ABS count
 * as reading every register (conservative: they keep every value alive),
 * a jump out of the program as reading every register, exit as reading r0.
 * Prefix: jit_.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jit_int.h"
#include "vm.h"

#define R(n) ((uint16_t)(1u << (n)))
#define ALL_REGS ((uint16_t)0x7ff) /* r0-r10 */
#define JIT_FOLD_GAP 4
/* A program whose liveness has not settled after this many sweeps gets
 * no plan (plain translation), rather than a long analysis. */
#define JIT_LIVE_SWEEPS 64

static enum vm_op op_at(const struct bpfvm_prog *prog, uint32_t i)
{
	return prog->ops ? (enum vm_op)prog->ops[i] : vm_decode(&prog->insns[i]);
}

/* The instruction's format; FMT_INVALID_SLOT for the second half of an
 * lddw or an undecodable slot. */
#define FMT_INVALID_SLOT 0xff
static uint8_t fmt_at(const struct bpfvm_prog *prog, uint32_t i)
{
	enum vm_op op = op_at(prog, i);
	return op == VM_OP_INVALID ? FMT_INVALID_SLOT : vm_opinfo[op].fmt;
}

static bool is_mov_x(enum vm_op op)
{
	return op == VM_OP_MOV64_X || op == VM_OP_MOV32_X || op == VM_OP_MOVSX8_64 || op == VM_OP_MOVSX16_64 ||
	       op == VM_OP_MOVSX32_64 || op == VM_OP_MOVSX8_32 || op == VM_OP_MOVSX16_32;
}

/* Registers instruction i reads and writes (a superset of the reads, a
 * subset of the writes: both errors keep values alive). */
static void use_def(const struct bpfvm_prog *prog, uint32_t i, uint16_t *use, uint16_t *def)
{
	const struct bpf_insn *in = &prog->insns[i];
	enum vm_op op = op_at(prog, i);
	uint16_t d = in->dst_reg <= 10 ? R(in->dst_reg) : 0, s = in->src_reg <= 10 ? R(in->src_reg) : 0;
	*use = 0;
	*def = 0;
	if (op == VM_OP_INVALID || in->dst_reg > 10 || in->src_reg > 10) {
		*use = ALL_REGS;
		return;
	}
	switch (vm_opinfo[op].fmt) {
	case FMT_ALU_K:
		*use = (op == VM_OP_MOV64_K || op == VM_OP_MOV32_K) ? 0 : d;
		*def = d;
		break;
	case FMT_ALU_X:
		*use = is_mov_x(op) ? s : (uint16_t)(d | s);
		*def = d;
		break;
	case FMT_NEG: case FMT_END:
		*use = d;
		*def = d;
		break;
	case FMT_LDDW:
		*def = d;
		break;
	case FMT_LDX:
		*use = s;
		*def = d;
		break;
	case FMT_ST:
		*use = d;
		break;
	case FMT_STX:
		*use = (uint16_t)(d | s);
		break;
	case FMT_JA: case FMT_JA32:
		break;
	case FMT_JCOND_K:
		*use = d;
		break;
	case FMT_JCOND_X:
		*use = (uint16_t)(d | s);
		break;
	case FMT_EXIT:
		*use = R(0);
		break;
	default: /* calls, atomics, LD_ABS/LD_IND */
		*use = ALL_REGS;
		break;
	}
	if (*def & R(10))
		*def = 0; /* r10 is read-only; a write is rejected elsewhere */
}

#define NO_SUCC INT64_MIN

/* Successors of i: up to two, NO_SUCC = none; < 0 or >= len: outside the
 * program. */
static void succs(const struct bpfvm_prog *prog, uint32_t i, int64_t s[2])
{
	const struct bpf_insn *in = &prog->insns[i];
	enum vm_op op = op_at(prog, i);
	s[0] = (int64_t)i + 1;
	s[1] = NO_SUCC;
	if (op == VM_OP_INVALID)
		return;
	switch (vm_opinfo[op].fmt) {
	case FMT_LDDW: s[0] = (int64_t)i + 2; break;
	case FMT_JA: s[0] = (int64_t)i + 1 + in->off; break;
	case FMT_JA32: s[0] = (int64_t)i + 1 + in->imm; break;
	case FMT_JCOND_K: case FMT_JCOND_X: s[1] = (int64_t)i + 1 + in->off; break;
	case FMT_EXIT: s[0] = NO_SUCC; break;
	default: break;
	}
}

/* live_out[i]: registers whose value at the end of i may still be read. */
static int liveness(const struct bpfvm_prog *prog, uint16_t *live_out)
{
	uint32_t n = prog->len;
	uint16_t *live_in = calloc(n, sizeof(*live_in));
	if (!live_in)
		return -ENOMEM;
	bool changed = true;
	int sweeps;
	for (sweeps = 0; changed && sweeps < JIT_LIVE_SWEEPS; sweeps++) {
		changed = false;
		for (uint32_t i = n; i-- > 0;) {
			int64_t s[2];
			uint16_t out = 0, use, def;
			succs(prog, i, s);
			for (int k = 0; k < 2; k++) {
				if (s[k] == NO_SUCC)
					continue;
				out |= (s[k] >= 0 && s[k] < (int64_t)n) ? live_in[s[k]] : ALL_REGS;
			}
			use_def(prog, i, &use, &def);
			uint16_t in = (uint16_t)(use | (out & ~def) | R(10));
			if (out != live_out[i] || in != live_in[i]) {
				live_out[i] = out;
				live_in[i] = in;
				changed = true;
			}
		}
	}
	free(live_in);
	return changed ? -E2BIG : 0;
}

struct planner {
	const struct bpfvm_prog *prog;
	const uint8_t *is_target;
	const uint16_t *live_out;
	struct jit_plan *plan;
	uint8_t *claimed;
	bool blind;
};

static bool free_at(const struct planner *pl, uint32_t i, bool may_be_target)
{
	return i < pl->prog->len && !pl->claimed[i] && (may_be_target || !pl->is_target[i]);
}

/* rT = *(sz *)(rP + off); rT op= S|K; *(sz *)(rP + off) = rT, rT dead. */
static bool rmw_at(const struct planner *pl, uint32_t k)
{
	const struct bpfvm_prog *prog = pl->prog;
	if (!free_at(pl, k + 1, false) || !free_at(pl, k + 2, false))
		return false;
	const struct bpf_insn *ld = &prog->insns[k], *alu = &prog->insns[k + 1], *st = &prog->insns[k + 2];
	enum vm_op lop = op_at(prog, k), aop = op_at(prog, k + 1), sop = op_at(prog, k + 2);
	if (fmt_at(prog, k) != FMT_LDX || (ld->code & 0x80) || fmt_at(prog, k + 2) != FMT_STX)
		return false;
	unsigned sz = vm_op_access_size(lop);
	uint8_t t = ld->dst_reg, pr = ld->src_reg;
	if (t > 9 || pr > 10 || t == pr || vm_op_access_size(sop) != sz || st->dst_reg != pr || st->src_reg != t ||
	    st->off != ld->off)
		return false;
	uint8_t fmt = fmt_at(prog, k + 1);
	if ((fmt != FMT_ALU_K && fmt != FMT_ALU_X) || alu->dst_reg != t)
		return false;
	switch (alu->code & 0xf0) {
	case 0x00: case 0x10: case 0x40: case 0x50: case 0xa0: break; /* add sub or and xor */
	default: return false;
	}
	if (fmt == FMT_ALU_X && (alu->src_reg == t || alu->src_reg > 10))
		return false;
	if (fmt == FMT_ALU_K && pl->blind)
		return false; /* the constant would appear in the image */
	if (sz == 8 && vm_op_is_alu32(aop))
		return false; /* a 32-bit op zeroes the upper half it stores */
	return !(pl->live_out[k + 2] & R(t));
}

/* rT = *(sz *)(rP + off); if rT <cond> K, rT dead on both edges. */
static bool cmp_at(const struct planner *pl, uint32_t k)
{
	const struct bpfvm_prog *prog = pl->prog;
	if (!free_at(pl, k + 1, false) || pl->blind)
		return false;
	const struct bpf_insn *ld = &prog->insns[k], *j = &prog->insns[k + 1];
	enum vm_op lop = op_at(prog, k);
	if (fmt_at(prog, k) != FMT_LDX || (ld->code & 0x80) || fmt_at(prog, k + 1) != FMT_JCOND_K)
		return false;
	unsigned sz = vm_op_access_size(lop);
	if (sz > 4 || ld->dst_reg > 9 || ld->src_reg > 10 || j->dst_reg != ld->dst_reg)
		return false;
	switch (j->code & 0xf0) {
	case 0x10: case 0x50: case 0x20: case 0x30: case 0xa0: case 0xb0: break; /* == != > >= < <= */
	default: return false;
	}
	if (j->imm < 0 || (sz < 4 && (uint32_t)j->imm >= (1u << (8 * sz))))
		return false;
	return !(pl->live_out[k + 1] & R(ld->dst_reg));
}

/* How many instructions the memory user at k covers (0: none), given that
 * its address register is `a` (0xff: any, no fold) and a fold needs `a`
 * dead after it.  *kind gets the plan kind. */
static uint32_t mem_user(const struct planner *pl, uint32_t k, uint8_t a, uint8_t *kind)
{
	const struct bpfvm_prog *prog = pl->prog;
	const struct bpf_insn *in = &prog->insns[k];
	enum vm_op op = op_at(prog, k);
	if (op == VM_OP_INVALID)
		return 0;
	uint8_t fmt = vm_opinfo[op].fmt;
	bool fold = a != 0xff;
	if (fmt == FMT_LDX && (!fold || in->src_reg == a)) {
		bool alu_reads_a = k + 1 < prog->len && fmt_at(prog, k + 1) == FMT_ALU_X && prog->insns[k + 1].src_reg == a;
		if (rmw_at(pl, k) && (!fold || (!alu_reads_a && !(pl->live_out[k + 2] & R(a))))) {
			*kind = JIT_FUSE_RMW;
			return 3;
		}
		if (cmp_at(pl, k) && (!fold || !(pl->live_out[k + 1] & R(a)))) {
			*kind = JIT_FUSE_CMP;
			return 2;
		}
		if (fold && (in->dst_reg == a || !(pl->live_out[k] & R(a)))) {
			*kind = JIT_FUSE_MEM;
			return 1;
		}
		return 0;
	}
	if (!fold)
		return 0;
	if ((fmt == FMT_ST || (fmt == FMT_STX && in->src_reg != a)) && in->dst_reg == a && !(pl->live_out[k] & R(a))) {
		*kind = JIT_FUSE_MEM;
		return 1;
	}
	return 0;
}

/* Instructions that may sit between a fold's add and its memory user. */
static bool plain(const struct bpfvm_prog *prog, uint32_t k)
{
	enum vm_op op = op_at(prog, k);
	if (op == VM_OP_INVALID)
		return false;
	switch (vm_opinfo[op].fmt) {
	case FMT_ALU_K: case FMT_ALU_X: case FMT_NEG: case FMT_END: case FMT_LDX: case FMT_ST: case FMT_STX:
		return true;
	default:
		return false;
	}
}

static void claim(struct planner *pl, uint32_t first, uint32_t n)
{
	for (uint32_t k = first; k < first + n; k++)
		pl->claimed[k] = 1;
}

/* rA = rB; rA += rC|K at i; returns true if planned. */
static bool try_fold(struct planner *pl, uint32_t i)
{
	const struct bpfvm_prog *prog = pl->prog;
	const struct bpf_insn *mv = &prog->insns[i], *ad = &prog->insns[i + 1];
	if (op_at(prog, i) != VM_OP_MOV64_X || !free_at(pl, i + 1, false))
		return false;
	uint8_t a = mv->dst_reg, b = mv->src_reg;
	if (a > 9 || b > 10 || a == b || ad->dst_reg != a)
		return false;
	enum vm_op aop = op_at(prog, i + 1);
	int8_t index;
	int64_t disp = 0;
	if (aop == VM_OP_ADD64_X && ad->src_reg <= 10) {
		index = (int8_t)(ad->src_reg == a ? b : ad->src_reg);
	} else if (aop == VM_OP_ADD64_K && !pl->blind) {
		index = -1;
		disp = ad->imm;
	} else {
		return false;
	}
	uint16_t keep = (uint16_t)(R(b) | (index >= 0 ? R(index) : 0));
	for (uint32_t k = i + 2; k < prog->len && k <= i + 2 + JIT_FOLD_GAP; k++) {
		if (!free_at(pl, k, false))
			return false;
		uint8_t kind = 0;
		uint32_t n = mem_user(pl, k, a, &kind);
		if (n) {
			disp += prog->insns[k].off;
			if (disp < INT32_MIN || disp > INT32_MAX)
				return false;
			pl->plan[i].kind = JIT_FUSE_SKIP;
			pl->plan[i + 1].kind = JIT_FUSE_SKIP;
			pl->plan[k] = (struct jit_plan){ .kind = kind, .base = b, .index = index, .len = (uint8_t)n,
			                                 .disp = (int32_t)disp };
			for (uint32_t m = 1; m < n; m++)
				pl->plan[k + m].kind = JIT_FUSE_SKIP;
			claim(pl, i, k + n - i); /* the gap too: it stays plain */
			return true;
		}
		uint16_t use, def;
		use_def(prog, k, &use, &def);
		if (!plain(prog, k) || ((use | def) & R(a)) || (def & keep))
			return false;
	}
	return false;
}

/* [rT = rS;] rT &= K; if rT ==/!= 0 goto, rT dead after the jump:
 * test rS, K; je/jne.  The and's result is only compared with zero, so
 * only the flags it sets matter, and test sets them alike. */
static bool try_test(struct planner *pl, uint32_t i)
{
	const struct bpfvm_prog *prog = pl->prog;
	const struct bpf_insn *in = &prog->insns[i];
	enum vm_op op = op_at(prog, i);
	uint8_t t = in->dst_reg, src = t;
	bool w32 = false;
	uint32_t k = i;
	if (pl->blind || t > 9)
		return false;
	if ((op == VM_OP_MOV64_X || op == VM_OP_MOV32_X) && in->src_reg != t && in->src_reg <= 10) {
		src = in->src_reg;
		w32 = op == VM_OP_MOV32_X;
		k = i + 1;
		if (!free_at(pl, k, false))
			return false;
		op = op_at(prog, k);
	}
	const struct bpf_insn *and = &prog->insns[k], *j = &prog->insns[k + 1];
	if ((op != VM_OP_AND64_K && op != VM_OP_AND32_K) || and->dst_reg != t)
		return false;
	if (k + 1 >= prog->len || !free_at(pl, k + 1, false) || fmt_at(prog, k + 1) != FMT_JCOND_K || j->dst_reg != t ||
	    j->imm != 0 || ((j->code & 0xf0) != 0x10 && (j->code & 0xf0) != 0x50))
		return false;
	if (pl->live_out[k + 1] & R(t))
		return false;
	w32 = w32 || op == VM_OP_AND32_K || vm_op_is_jmp32(op_at(prog, k + 1));
	uint8_t len = (uint8_t)(k + 2 - i);
	pl->plan[i] = (struct jit_plan){ .kind = JIT_FUSE_TEST, .base = src, .index = -1, .len = len, .w32 = w32,
	                                 .disp = and->imm };
	for (uint32_t m = 1; m < len; m++)
		pl->plan[i + m].kind = JIT_FUSE_SKIP;
	claim(pl, i, len);
	return true;
}

int jit_x86_plan(const struct bpfvm_prog *prog, const uint8_t *is_target, bool blind, struct jit_plan **out)
{
	int err = 0;
	uint32_t n = prog->len;
	struct planner pl = { .prog = prog, .is_target = is_target, .blind = blind };
	*out = NULL;
	uint16_t *live_out = calloc(n, sizeof(*live_out));
	pl.plan = calloc(n, sizeof(*pl.plan));
	pl.claimed = calloc(n, 1);
	if (!live_out || !pl.plan || !pl.claimed) {
		err = -ENOMEM;
		goto out;
	}
	pl.live_out = live_out;
	err = liveness(prog, live_out);
	if (err)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		if (pl.claimed[i])
			continue;
		enum vm_op op = op_at(prog, i);
		if (op == VM_OP_INVALID)
			continue;
		if (vm_opinfo[op].fmt == FMT_LDDW) {
			i++;
			continue;
		}
		if (i + 1 < n && (try_fold(&pl, i) || try_test(&pl, i)))
			continue;
		uint8_t kind = 0;
		uint32_t cnt = mem_user(&pl, i, 0xff, &kind);
		if (cnt) {
			const struct bpf_insn *in = &prog->insns[i];
			pl.plan[i] = (struct jit_plan){ .kind = kind, .base = in->src_reg, .index = -1, .len = (uint8_t)cnt,
			                                .disp = in->off };
			for (uint32_t m = 1; m < cnt; m++)
				pl.plan[i + m].kind = JIT_FUSE_SKIP;
			claim(&pl, i, cnt);
		}
	}
	*out = pl.plan;
	pl.plan = NULL;
out:
	free(live_out);
	free(pl.plan);
	free(pl.claimed);
	return err;
}
