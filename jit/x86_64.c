/*
 * BPF -> x86-64 translation, one pass.  The driver (jit.c) calls this until
 * the image size converges; this file only decides what bytes each BPF
 * instruction becomes.
 *
 * Register mapping, in the spirit of Linux's x86 JIT: BPF r1-r5 are the
 * System V argument registers, so helper calls need no shuffling; r6-r9
 * are callee-saved, so they survive helper calls for free.
 *
 *   r0=rax r1=rdi r2=rsi r3=rdx r4=rcx r5=r8 r6=rbx r7=r13 r8=r14 r9=r15
 *   r10=rbp; scratch r9, r10, r11; r12 holds the entry stack pointer.
 *
 * Image layout:
 *   entry trampoline  saves the host's callee-saved registers, remembers
 *                     rsp in r12, calls the main body.  The abort stub
 *                     right after the call unwinds every BPF frame at once
 *                     (LD_ABS out of bounds, callx of an unknown helper).
 *   bodies            one per subprogram:
 *                       push rbp; mov rbp, rsp; sub rsp, depth;
 *                       push rbx; push r13; push r14; push r15
 *                     so rsp stays 16-byte aligned at every call and r10
 *                     (rbp) is the top of the frame's BPF stack.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jit_int.h"
#include "vm.h"
#include "array.h"
#include "htab_probe.h"
#include "map_impl.h"

const uint8_t jit_x86_regs[BPF_MAX_REG] = {
	X86_RAX, X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8,
	X86_RBX, X86_R13, X86_R14, X86_R15, X86_RBP,
};
#define reg_map jit_x86_regs

#define AUX JIT_X86_AUX
#define AUX2 JIT_X86_AUX2
#define AUX3 JIT_X86_AUX3

static int unsupported(struct jit_pass *p, long insn, const char *why)
{
	p->why = why;
	p->err_insn = insn;
	return -EOPNOTSUPP;
}

/* ---- local forward labels inside one instruction's code (rel8) ---- */

/* Emits jcc rel8 with a placeholder; returns the position to patch. */
static size_t jcc8_fwd(struct x86_emit *e, enum x86_cc cc)
{
	x86_jcc_rel8(e, cc, 0);
	return e->len;
}

static size_t jmp8_fwd(struct x86_emit *e)
{
	x86_jmp_rel8(e, 0);
	return e->len;
}

/* Points the rel8 ending at `pos` to the current position. */
static void bind8(struct x86_emit *e, size_t pos)
{
	size_t d = e->len - pos;
	if (d > 127) {
		x86_fail(e, -ERANGE);
		return;
	}
	if (e->buf && !e->err)
		e->buf[pos - 1] = (uint8_t)d;
}

/* ---- constants (blinded on request) ---- */

/* Loads a sign-extended imm32 (w64) or zero-extended imm32 into reg,
 * blinding it with the per-program key when asked. */
static void load_imm32(struct jit_pass *p, int reg, int32_t imm, bool w64)
{
	struct x86_emit *e = &p->e;
	uint64_t v = w64 ? (uint64_t)(int64_t)imm : (uint64_t)(uint32_t)imm;
	if (p->blind && imm != 0) {
		/* mov reg, imm ^ key; xor reg, key: the program's constant
		 * never appears in the image (against JIT spraying). */
		uint32_t k = p->blind_key;
		x86_mov_imm(e, reg, (uint32_t)imm ^ k);
		x86_alu_ri(e, X86_XOR, false, reg, (int32_t)k);
		if (w64)
			x86_movsxd_rr(e, reg, reg);
		return;
	}
	x86_mov_imm(e, reg, v);
}

static void load_imm64(struct jit_pass *p, int reg, uint64_t v)
{
	struct x86_emit *e = &p->e;
	if (p->blind && v > 0xff) {
		uint64_t k = ((uint64_t)p->blind_key << 32) | (p->blind_key ^ 0x5bd1e995u);
		x86_movabs(e, reg, v ^ k);    /* movabs reg, v ^ key */
		x86_movabs(e, AUX2, k);       /* movabs r10, key */
		x86_alu_rr(e, X86_XOR, true, reg, AUX2);
		return;
	}
	x86_mov_imm(e, reg, v);
}

/* ---- jumps to BPF instructions ---- */

/* A jump to a vectorized loop's head from outside the loop lands on its
 * vector block; its back edge goes to the scalar code. */
static int64_t insn_addr(const struct jit_pass *p, uint32_t idx)
{
	int64_t a = p->addrs[idx];
	if (p->vat && p->vat[idx] >= 0) {
		const struct jit_vloop *l = &p->vloops[p->vat[idx]];
		if (p->cur < l->head || p->cur > l->end)
			a -= l->len;
	}
	return a;
}

static void jmp_insn(struct jit_pass *p, uint32_t target)
{
	x86_jmp_to(&p->e, insn_addr(p, target), !p->first);
}

static void jcc_insn(struct jit_pass *p, enum x86_cc cc, uint32_t target)
{
	x86_jcc_to(&p->e, cc, insn_addr(p, target), !p->first);
}

/* ---- prologue / epilogue ---- */

static const uint8_t saved_regs[4] = { X86_RBX, X86_R13, X86_R14, X86_R15 };

static void emit_entry(struct jit_pass *p)
{
	struct x86_emit *e = &p->e;
	/* The host's callee-saved registers: the abort stub unwinds every
	 * BPF frame, so they are saved here once, not just per body. */
	x86_push(e, X86_RBP);
	x86_push(e, X86_RBX);
	x86_push(e, X86_R12);
	x86_push(e, X86_R13);
	x86_push(e, X86_R14);
	x86_push(e, X86_R15);
	/* realign to 16 and keep a struct jit_checked_ctx here: the run
	 * (for bpfvm_run_stop checks after helper calls) and, in checked
	 * mode, the depth and budget */
	x86_alu_ri(e, X86_SUB, true, X86_RSP, (int32_t)sizeof(struct jit_checked_ctx));
	x86_mov_rr(e, true, X86_R12, X86_RSP);
	{
		/* jit_rt_checked_enter(r12), keeping r1 and r2 */
		x86_push(e, X86_RDI);
		x86_push(e, X86_RSI);
		x86_mov_rr(e, true, X86_RDI, X86_R12);
		x86_movabs(e, X86_RAX, (uint64_t)(uintptr_t)jit_rt_checked_enter);
		x86_call_reg(e, X86_RAX);
		x86_pop(e, X86_RSI);
		x86_pop(e, X86_RDI);
	}
	int64_t main_off = p->subs[0];
	int64_t rel = main_off - ((int64_t)e->len + 5);
	x86_call_rel32(e, (int32_t)rel); /* call main body */
	p->nabort_off = (uint32_t)e->len;
	/* abort: rax = return value; unwind to the entry frame */
	x86_mov_rr(e, true, X86_RSP, X86_R12);
	x86_alu_ri(e, X86_ADD, true, X86_RSP, (int32_t)sizeof(struct jit_checked_ctx));
	x86_pop(e, X86_R15);
	x86_pop(e, X86_R14);
	x86_pop(e, X86_R13);
	x86_pop(e, X86_R12);
	x86_pop(e, X86_RBX);
	x86_pop(e, X86_RBP);
	x86_ret(e);
}

static uint32_t frame_depth(const struct jit_pass *p, uint32_t sub)
{
	const struct bpfvm_prog *prog = p->prog;
	uint32_t d = prog->nsubprogs ? prog->subprogs[sub].stack_depth : BPF_STACK_SIZE;
	if (prog->flags & (BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED))
		d = BPF_STACK_SIZE; /* unverified: the whole frame is usable */
	if (d > BPF_STACK_SIZE)
		d = BPF_STACK_SIZE;
	return (d + 15) & ~15u;
}

static void emit_prologue(struct jit_pass *p, uint32_t sub)
{
	struct x86_emit *e = &p->e;
	p->nsubs[sub] = (uint32_t)e->len;
	x86_push(e, X86_RBP);
	x86_mov_rr(e, true, X86_RBP, X86_RSP); /* r10 = top of this frame's stack */
	uint32_t d = frame_depth(p, sub);
	if (d)
		x86_alu_ri(e, X86_SUB, true, X86_RSP, (int32_t)d);
	for (int i = 0; i < 4; i++)
		x86_push(e, saved_regs[i]);
	if (p->checked && d) {
		/* As the interpreter's checked mode: a frame starts zeroed, so
		 * unverified programs see no stale host bytes.
		 *   memset(r10 - depth, 0, depth), keeping r0, r1, r4 */
		x86_mov_rr(e, true, AUX3, X86_RDI);
		x86_mov_rr(e, true, AUX2, X86_RCX);
		x86_mov_rr(e, true, AUX, X86_RAX);
		x86_lea(e, X86_RDI, X86_RBP, -(int32_t)d);
		x86_alu_rr(e, X86_XOR, false, X86_RAX, X86_RAX);
		x86_mov_imm(e, X86_RCX, d / 8);
		x86_rep_stosq(e);
		x86_mov_rr(e, true, X86_RDI, AUX3);
		x86_mov_rr(e, true, X86_RCX, AUX2);
		x86_mov_rr(e, true, X86_RAX, AUX);
	}
}

/* ---- checked mode ---- */

/* Records a failure through jit_rt_fail() and unwinds the run. */
static void emit_fail(struct jit_pass *p, enum jit_fail_kind kind, uint32_t idx, int addr_reg)
{
	struct x86_emit *e = &p->e;
	if (addr_reg >= 0)
		x86_mov_rr(e, true, X86_RCX, addr_reg);
	else
		x86_alu_rr(e, X86_XOR, false, X86_RCX, X86_RCX);
	x86_mov_rr(e, true, X86_RDI, X86_R12);
	x86_mov_imm(e, X86_RSI, kind);
	x86_mov_imm(e, X86_RDX, idx);
	x86_movabs(e, X86_RAX, (uint64_t)(uintptr_t)jit_rt_fail);
	x86_call_reg(e, X86_RAX);
	x86_alu_rr(e, X86_XOR, false, X86_RAX, X86_RAX);
	x86_jmp_to(e, p->abort_off, false);
}

/*
 * Bounds check of [base + off, +size): the common case, the current
 * frame, inline; anything else through jit_rt_check_mem(), which knows
 * the run's regions.
 *   r11 = base + off;
 *   if ((u64)(r11 - (r10 - 512)) > 512 - size) slow path
 */
static void emit_mem_check(struct jit_pass *p, int base, int16_t off, unsigned size, bool wr, uint32_t idx,
                           bool atomic)
{
	static const uint8_t save[6] = { X86_RAX, X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8 };
	struct x86_emit *e = &p->e;
	x86_lea(e, AUX, base, off);
	x86_mov_rr(e, true, AUX2, AUX);
	x86_alu_rr(e, X86_SUB, true, AUX2, X86_RBP);
	x86_alu_ri(e, X86_ADD, true, AUX2, BPF_STACK_SIZE);
	x86_alu_ri(e, X86_CMP, true, AUX2, (int32_t)(BPF_STACK_SIZE - size));
	size_t j_ok = jcc8_fwd(e, X86_CC_BE);
	for (int i = 0; i < 6; i++)
		x86_push(e, save[i]);
	x86_mov_rr(e, true, X86_RDI, X86_R12);
	x86_mov_rr(e, true, X86_RSI, AUX);
	x86_mov_imm(e, X86_RDX, size | (wr ? 0x100u : 0));
	x86_mov_imm(e, X86_RCX, idx);
	x86_mov_rr(e, true, X86_R8, X86_RBP);
	x86_movabs(e, X86_RAX, (uint64_t)(uintptr_t)jit_rt_check_mem);
	x86_call_reg(e, X86_RAX);
	x86_mov_rr(e, true, AUX2, X86_RAX);
	for (int i = 5; i >= 0; i--)
		x86_pop(e, save[i]);
	x86_test_rr(e, true, AUX2, AUX2);
	x86_jcc_to(e, X86_CC_E, p->abort_off, false); /* run->err is set */
	bind8(e, j_ok);
	if (atomic && size > 1) {
		x86_lea(e, AUX, base, off); /* the slow path's call clobbered r11 */
		x86_test_ri(e, false, AUX, (int32_t)(size - 1));
		size_t j_al = jcc8_fwd(e, X86_CC_E);
		emit_fail(p, JIT_FAIL_ALIGN, idx, AUX);
		bind8(e, j_al);
	}
}

/* Checked mode: charge a loop iteration to the budget at a back-edge. */
static void emit_budget(struct jit_pass *p, uint32_t idx, uint32_t target)
{
	struct x86_emit *e = &p->e;
	if (!p->checked || target > idx)
		return;
	x86_alu_mi(e, X86_SUB, true, X86_R12, JIT_CK_BUDGET, (int32_t)(idx - target + 1));
	size_t j_ok = jcc8_fwd(e, X86_CC_NS);
	emit_fail(p, JIT_FAIL_BUDGET, idx, -1);
	bind8(e, j_ok);
}

static void emit_epilogue(struct jit_pass *p)
{
	struct x86_emit *e = &p->e;
	for (int i = 3; i >= 0; i--)
		x86_pop(e, saved_regs[i]);
	x86_leave(e);
	x86_ret(e);
}

/* ---- ALU ---- */

static enum x86_alu alu_of(uint8_t code)
{
	switch (code & 0xf0) {
	case 0x00: return X86_ADD;
	case 0x10: return X86_SUB;
	case 0x40: return X86_OR;
	case 0x50: return X86_AND;
	case 0xa0: return X86_XOR;
	default: return X86_CMP; /* not reached */
	}
}

static enum x86_shift shift_of(uint8_t code)
{
	switch (code & 0xf0) {
	case 0x60: return X86_SHL;
	case 0x70: return X86_SHR;
	default: return X86_SAR;
	}
}

/* dst <<= src (src in an x86 register): x86 takes the count in cl, which
 * holds BPF r4, so shuffle through r11. */
static void emit_shift_x(struct jit_pass *p, enum x86_shift op, bool w64, int dst, int src)
{
	struct x86_emit *e = &p->e;
	if (src == X86_RCX) {
		x86_shift_cl(e, op, w64, dst); /* shift dst, cl */
	} else if (dst == X86_RCX) {
		/* r11 = r4; cl = count; r11 <<= cl; r4 = r11 */
		x86_mov_rr(e, true, AUX, X86_RCX);
		x86_mov_rr(e, true, X86_RCX, src);
		x86_shift_cl(e, op, w64, AUX);
		x86_mov_rr(e, true, X86_RCX, AUX);
	} else {
		/* r11 = r4; cl = count; dst <<= cl; r4 = r11 */
		x86_mov_rr(e, true, AUX, X86_RCX);
		x86_mov_rr(e, true, X86_RCX, src);
		x86_shift_cl(e, op, w64, dst);
		x86_mov_rr(e, true, X86_RCX, AUX);
	}
	/* A 32-bit shift by cl zero-extends dst even when cl & 31 == 0 (the
	 * 64-bit mode rule; docs/jit.md "Zero-extension"), so no mov here. */
}

/*
 * Division and modulo with RFC 9669's rules, never trapping:
 *   x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.
 * The divisor is in r11 (divisor_known: a non-zero constant other than -1
 * for signed ops, so the checks are skipped).  rax and rdx are BPF r0 and
 * r3, so they are parked in r9/r10 around the div.
 */
static void emit_div(struct jit_pass *p, bool w64, bool is_mod, bool is_signed, int dst, bool divisor_known)
{
	struct x86_emit *e = &p->e;
	size_t j_zero = 0, j_m1 = 0, j_done = 0;
	if (!divisor_known) {
		/* if (divisor == 0) goto zero; if signed and divisor == -1 goto m1 */
		x86_test_rr(e, w64, AUX, AUX);
		j_zero = jcc8_fwd(e, X86_CC_E);
		if (is_signed) {
			x86_alu_ri(e, X86_CMP, w64, AUX, -1);
			j_m1 = jcc8_fwd(e, X86_CC_E);
		}
	}
	if (dst != X86_RAX)
		x86_mov_rr(e, true, AUX3, X86_RAX);
	if (dst != X86_RDX)
		x86_mov_rr(e, true, AUX2, X86_RDX);
	if (dst != X86_RAX)
		x86_mov_rr(e, true, X86_RAX, dst);
	if (is_signed) {
		if (w64)
			x86_cqo(e);
		else
			x86_cdq(e);
		x86_unary(e, X86_IDIV, w64, AUX);
	} else {
		x86_alu_rr(e, X86_XOR, false, X86_RDX, X86_RDX);
		x86_unary(e, X86_DIV, w64, AUX);
	}
	x86_mov_rr(e, w64, dst, is_mod ? X86_RDX : X86_RAX);
	if (dst != X86_RAX)
		x86_mov_rr(e, true, X86_RAX, AUX3);
	if (dst != X86_RDX)
		x86_mov_rr(e, true, X86_RDX, AUX2);
	if (divisor_known)
		return;
	j_done = jmp8_fwd(e);
	/* zero: x / 0 = 0; x % 0 = x (32-bit: truncated) */
	bind8(e, j_zero);
	if (!is_mod)
		x86_alu_rr(e, X86_XOR, false, dst, dst);
	else if (!w64)
		x86_mov_rr(e, false, dst, dst);
	if (is_signed) {
		size_t j_done2 = jmp8_fwd(e);
		/* m1: x / -1 = -x (wrapping); x % -1 = 0 */
		bind8(e, j_m1);
		if (is_mod)
			x86_alu_rr(e, X86_XOR, false, dst, dst);
		else
			x86_unary(e, X86_NEG, w64, dst);
		bind8(e, j_done2);
	}
	bind8(e, j_done);
}

/* Multipliers lea computes as dst + dst * scale. */
static bool mul_by_lea(int32_t k)
{
	return k == 3 || k == 5 || k == 9;
}

static void emit_alu(struct jit_pass *p, const struct bpf_insn *in, enum vm_op op)
{
	struct x86_emit *e = &p->e;
	bool w64 = !vm_op_is_alu32(op);
	int dst = reg_map[in->dst_reg];
	int src = reg_map[in->src_reg];
	bool is_k = vm_opinfo[op].fmt == FMT_ALU_K;
	uint8_t code = in->code;

	switch (op) {
	case VM_OP_ADD64_K: case VM_OP_SUB64_K: case VM_OP_OR64_K: case VM_OP_AND64_K: case VM_OP_XOR64_K:
	case VM_OP_ADD32_K: case VM_OP_SUB32_K: case VM_OP_OR32_K: case VM_OP_AND32_K: case VM_OP_XOR32_K:
		if (p->blind && in->imm) {
			load_imm32(p, AUX2, in->imm, w64);
			x86_alu_rr(e, alu_of(code), w64, dst, AUX2);
		} else {
			x86_alu_ri(e, alu_of(code), w64, dst, in->imm);
		}
		return;
	case VM_OP_ADD64_X: case VM_OP_SUB64_X: case VM_OP_OR64_X: case VM_OP_AND64_X: case VM_OP_XOR64_X:
	case VM_OP_ADD32_X: case VM_OP_SUB32_X: case VM_OP_OR32_X: case VM_OP_AND32_X: case VM_OP_XOR32_X:
		x86_alu_rr(e, alu_of(code), w64, dst, src);
		return;
	case VM_OP_MOV64_K: case VM_OP_MOV32_K:
		load_imm32(p, dst, in->imm, w64);
		return;
	case VM_OP_MOV64_X:
		if (dst != src)
			x86_mov_rr(e, true, dst, src);
		return;
	case VM_OP_MOV32_X:
		x86_mov_rr(e, false, dst, src); /* also zero-extends dst == src */
		return;
	case VM_OP_MOVSX8_64: x86_movsx8_rr(e, true, dst, src); return;
	case VM_OP_MOVSX16_64: x86_movsx16_rr(e, true, dst, src); return;
	case VM_OP_MOVSX32_64: x86_movsxd_rr(e, dst, src); return;
	case VM_OP_MOVSX8_32: x86_movsx8_rr(e, false, dst, src); return;
	case VM_OP_MOVSX16_32: x86_movsx16_rr(e, false, dst, src); return;
	case VM_OP_MUL64_K: case VM_OP_MUL32_K:
		if (p->blind && in->imm) {
			load_imm32(p, AUX2, in->imm, w64);
			x86_imul_rr(e, w64, dst, AUX2);
		} else if (mul_by_lea(in->imm)) {
			/* lea dst, [dst + dst * (k - 1)]: 1 cycle where imul takes 3 */
			x86_lea_m(e, w64, dst, (struct x86_mem){ dst, dst, 0, (unsigned)in->imm - 1 });
		} else if (in->imm > 1 && !(in->imm & (in->imm - 1))) {
			/* power of two: shl dst, log2(k) (the low 32 bits of the product
			 * either way, zero-extended for mul32) */
			x86_shift_ri(e, X86_SHL, w64, dst, (uint8_t)__builtin_ctz((unsigned)in->imm));
		} else {
			x86_imul_rri(e, w64, dst, dst, in->imm);
		}
		return;
	case VM_OP_MUL64_X: case VM_OP_MUL32_X:
		x86_imul_rr(e, w64, dst, src);
		return;
	case VM_OP_NEG64: case VM_OP_NEG32:
		x86_unary(e, X86_NEG, w64, dst);
		return;
	case VM_OP_LSH64_K: case VM_OP_RSH64_K: case VM_OP_ARSH64_K:
	case VM_OP_LSH32_K: case VM_OP_RSH32_K: case VM_OP_ARSH32_K: {
		uint8_t n = (uint8_t)(in->imm & (w64 ? 63 : 31));
		if (n)
			x86_shift_ri(e, shift_of(code), w64, dst, n);
		else if (!w64)
			x86_mov_rr(e, false, dst, dst); /* shift by 0 still zero-extends */
		return;
	}
	case VM_OP_LSH64_X: case VM_OP_RSH64_X: case VM_OP_ARSH64_X:
	case VM_OP_LSH32_X: case VM_OP_RSH32_X: case VM_OP_ARSH32_X:
		emit_shift_x(p, shift_of(code), w64, dst, src);
		return;
	case VM_OP_DIV64_K: case VM_OP_DIV64_X: case VM_OP_DIV32_K: case VM_OP_DIV32_X:
	case VM_OP_MOD64_K: case VM_OP_MOD64_X: case VM_OP_MOD32_K: case VM_OP_MOD32_X:
	case VM_OP_SDIV64_K: case VM_OP_SDIV64_X: case VM_OP_SDIV32_K: case VM_OP_SDIV32_X:
	case VM_OP_SMOD64_K: case VM_OP_SMOD64_X: case VM_OP_SMOD32_K: case VM_OP_SMOD32_X: {
		bool is_mod = (code & 0xf0) == 0x90;
		bool is_signed = in->off == 1;
		if (is_k) {
			int32_t k = in->imm;
			bool zero = w64 ? k == 0 : (uint32_t)k == 0;
			if (zero || (is_signed && k == -1)) {
				/* Constant special divisors fold to their RFC result. */
				if (zero ? !is_mod : is_mod)
					x86_alu_rr(e, X86_XOR, false, dst, dst);
				else if (zero && is_mod && !w64)
					x86_mov_rr(e, false, dst, dst);
				else if (!zero)
					x86_unary(e, X86_NEG, w64, dst);
				return;
			}
			load_imm32(p, AUX, k, w64);
			emit_div(p, w64, is_mod, is_signed, dst, true);
		} else {
			x86_mov_rr(e, w64, AUX, src);
			emit_div(p, w64, is_mod, is_signed, dst, false);
		}
		return;
	}
	case VM_OP_BSWAP16: case VM_OP_BE16:
		x86_rol16_8(e, dst);
		x86_movzx16_rr(e, dst, dst);
		return;
	case VM_OP_BSWAP32: case VM_OP_BE32:
		x86_bswap(e, false, dst);
		return;
	case VM_OP_BSWAP64: case VM_OP_BE64:
		x86_bswap(e, true, dst);
		return;
	case VM_OP_LE16:
		x86_movzx16_rr(e, dst, dst);
		return;
	case VM_OP_LE32:
		x86_mov_rr(e, false, dst, dst);
		return;
	case VM_OP_LE64:
		return;
	default:
		x86_fail(e, -EINVAL);
	}
}

/* ---- memory ---- */

static void emit_atomic(struct jit_pass *p, const struct bpf_insn *in, enum vm_op op)
{
	struct x86_emit *e = &p->e;
	bool w64 = BPF_CLASS(in->code) == BPF_CLS_STX && (in->code & 0x18) == 0x18;
	int dst = reg_map[in->dst_reg];
	int src = reg_map[in->src_reg];
	int32_t off = in->off;
	switch (in->imm) {
	case 0x00: x86_alu_mr(e, true, X86_ADD, w64, dst, off, src); return;
	case 0x40: x86_alu_mr(e, true, X86_OR, w64, dst, off, src); return;
	case 0x50: x86_alu_mr(e, true, X86_AND, w64, dst, off, src); return;
	case 0xa0: x86_alu_mr(e, true, X86_XOR, w64, dst, off, src); return;
	case 0x01: x86_lock_xadd(e, w64, dst, off, src); return; /* src = old (32-bit: zero-extended) */
	case 0xe1: x86_xchg_mr(e, w64, dst, off, src); return;
	case 0xf1:
		/* r0 is rax, the implicit comparand; a 32-bit cmpxchg that
		 * succeeds leaves rax's upper half alone, so zero-extend. */
		x86_lock_cmpxchg(e, w64, dst, off, src);
		if (!w64)
			x86_mov_rr(e, false, X86_RAX, X86_RAX);
		return;
	case 0x41: case 0x51: case 0xa1: {
		/*
		 * fetch-or/and/xor have no x86 instruction: a cmpxchg loop.
		 *   r10 = &mem; r9 = r0; rax = *r10;
		 *   do { r11 = rax op val; } while (!cmpxchg(r10, rax, r11));
		 *   src = rax (old); r0 = r9 unless src is r0
		 */
		enum x86_alu aop = in->imm == 0x41 ? X86_OR : in->imm == 0x51 ? X86_AND : X86_XOR;
		int val = src == X86_RAX ? AUX3 : src;
		x86_lea(e, AUX2, dst, off);
		x86_mov_rr(e, true, AUX3, X86_RAX);
		x86_load(e, w64 ? 8 : 4, X86_RAX, AUX2, 0);
		size_t loop = e->len;
		x86_mov_rr(e, true, AUX, X86_RAX);
		x86_alu_rr(e, aop, w64, AUX, val);
		x86_lock_cmpxchg(e, w64, AUX2, 0, AUX);
		x86_jcc_rel8(e, X86_CC_NE, (int8_t)((int64_t)loop - ((int64_t)e->len + 2)));
		if (src != X86_RAX) {
			x86_mov_rr(e, w64, src, X86_RAX);
			x86_mov_rr(e, true, X86_RAX, AUX3);
		}
		return;
	}
	default:
		(void)op;
		x86_fail(e, -EINVAL);
	}
}

/* LD_ABS / LD_IND through jit_rt_ldabs(), keeping r1-r5 as the interpreter
 * does; out of bounds ends the run with r0 = 0. */
static void emit_ldabs(struct jit_pass *p, const struct bpf_insn *in, enum vm_op op)
{
	struct x86_emit *e = &p->e;
	static const uint8_t args[5] = { X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8 };
	bool ind = vm_opinfo[op].fmt == FMT_LDIND;
	/* off = ind ? (s32)(u32)(src + imm) : imm, into r11 before the pushes */
	if (ind) {
		x86_mov_rr(e, false, AUX, reg_map[in->src_reg]);
		x86_alu_ri(e, X86_ADD, false, AUX, in->imm);
		x86_movsxd_rr(e, AUX, AUX);
	} else {
		x86_mov_imm(e, AUX, (uint64_t)(int64_t)in->imm);
	}
	for (int i = 0; i < 5; i++)
		x86_push(e, args[i]);
	x86_alu_ri(e, X86_SUB, true, X86_RSP, 8);
	x86_mov_rr(e, true, X86_RDI, AUX);
	x86_mov_imm(e, X86_RSI, vm_op_access_size(op));
	x86_movabs(e, AUX, (uint64_t)(uintptr_t)jit_rt_ldabs);
	x86_call_reg(e, AUX);
	x86_mov_rr(e, true, AUX, X86_RDX); /* ok flag */
	x86_alu_ri(e, X86_ADD, true, X86_RSP, 8);
	for (int i = 4; i >= 0; i--)
		x86_pop(e, args[i]);
	x86_test_rr(e, true, AUX, AUX);
	x86_jcc_to(e, X86_CC_E, p->abort_off, false); /* rax = 0: the run returns 0 */
}

/* ---- jumps ---- */

enum x86_cc jit_x86_jcc(uint8_t code)
{
	switch (code & 0xf0) {
	case 0x10: return X86_CC_E;
	case 0x20: return X86_CC_A;
	case 0x30: return X86_CC_AE;
	case 0x40: return X86_CC_NE; /* jset: test, then jump if not zero */
	case 0x50: return X86_CC_NE;
	case 0x60: return X86_CC_G;
	case 0x70: return X86_CC_GE;
	case 0xa0: return X86_CC_B;
	case 0xb0: return X86_CC_BE;
	case 0xc0: return X86_CC_L;
	default: return X86_CC_LE; /* 0xd0 */
	}
}

static void emit_jcond(struct jit_pass *p, const struct bpf_insn *in, enum vm_op op, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	bool w64 = !vm_op_is_jmp32(op);
	int dst = reg_map[in->dst_reg];
	bool is_set = (in->code & 0xf0) == 0x40;
	uint32_t target = idx + 1 + (int32_t)in->off;
	emit_budget(p, idx, target);
	if (vm_opinfo[op].fmt == FMT_JCOND_X) {
		int src = reg_map[in->src_reg];
		if (is_set)
			x86_test_rr(e, w64, dst, src);
		else
			x86_alu_rr(e, X86_CMP, w64, dst, src);
	} else if (p->blind && in->imm) {
		load_imm32(p, AUX2, in->imm, w64);
		if (is_set)
			x86_test_rr(e, w64, dst, AUX2);
		else
			x86_alu_rr(e, X86_CMP, w64, dst, AUX2);
	} else if (is_set) {
		x86_test_ri(e, w64, dst, in->imm);
	} else if (in->imm == 0) {
		x86_test_rr(e, w64, dst, dst); /* same flags as cmp dst, 0 */
	} else {
		x86_alu_ri(e, X86_CMP, w64, dst, in->imm);
	}
	jcc_insn(p, jit_x86_jcc(in->code), target);
}

/* ---- calls ---- */

/*
 * As the interpreter, after every helper call: a helper that called
 * bpfvm_run_stop() (or failed the run) ends it now.
 *   r11 = ck->run; if (r11 && r11->stop) { r0 = r11->stop_ret; unwind }
 */
static void emit_stop_check(struct jit_pass *p)
{
	struct x86_emit *e = &p->e;
	x86_load(e, 8, AUX, X86_R12, (int32_t)offsetof(struct jit_checked_ctx, run));
	x86_test_rr(e, true, AUX, AUX);
	size_t j_none = jcc8_fwd(e, X86_CC_E);
	x86_load(e, 1, AUX2, AUX, (int32_t)offsetof(struct vm_run, stop));
	x86_test_rr(e, false, AUX2, AUX2);
	size_t j_go = jcc8_fwd(e, X86_CC_E);
	x86_load(e, 8, X86_RAX, AUX, (int32_t)offsetof(struct vm_run, stop_ret));
	x86_jmp_to(e, p->abort_off, false);
	bind8(e, j_none);
	bind8(e, j_go);
}

/*
 * The array map r1 holds at the call at idx, when that is known without
 * the verifier: r1 was last written by an lddw of the map in the same
 * straight-line run of instructions.  NULL otherwise.
 */
static struct bpfvm_map *known_r1_map(const struct jit_pass *p, uint32_t idx)
{
	const struct bpfvm_prog *prog = p->prog;
	if (!prog->aux || !prog->ops || !p->is_target)
		return NULL;
	for (uint32_t k = idx; k-- > 0;) {
		if (p->is_target[k + 1])
			return NULL; /* another path may reach the call */
		enum vm_op op = (enum vm_op)prog->ops[k];
		const struct bpf_insn *in = &prog->insns[k];
		if (op == VM_OP_INVALID)
			continue; /* second slot of an lddw: its first slot comes next */
		uint8_t fmt = vm_opinfo[op].fmt;
		if (op == VM_OP_LDDW && in->dst_reg == 1) {
			struct bpfvm_map *m = prog->aux[k].map;
			if ((in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_IDX) && m)
				return m;
			return NULL;
		}
		if (fmt == FMT_JA || fmt == FMT_JA32 || fmt == FMT_JCOND_K || fmt == FMT_JCOND_X || fmt == FMT_CALL ||
		    fmt == FMT_CALL_LOCAL || fmt == FMT_CALLX || fmt == FMT_EXIT)
			return NULL;
		if (in->dst_reg == 1 && fmt != FMT_ST && fmt != FMT_STX && fmt != FMT_ATOMIC)
			return NULL;
		if (fmt == FMT_ATOMIC && in->src_reg == 1)
			return NULL;
	}
	return NULL;
}

/*
 * map_lookup_elem on an array without BPF_F_INNER_MAP, inline (as Linux's
 * array_map_gen_lookup): r0 = index < max ? values + index * elem : NULL.
 * Inner-map arrays may be replaced by one of another size: they keep the
 * call.
 */
static bool emit_array_lookup(struct jit_pass *p, const struct vm_helper *h, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	if (h->kind != VM_HELPER_PLAIN || h->fn != map_helper_lookup)
		return false;
	struct bpfvm_map *m = known_r1_map(p, idx);
	if (!m || m->type != BPFVM_MAP_ARRAY || (m->map_flags & BPFVM_F_INNER_MAP))
		return false;
	const struct map_array *a = (const struct map_array *)m;
	if (a->elem_size > INT32_MAX || m->max_entries > INT32_MAX)
		return false;
	x86_load(e, 4, X86_RAX, X86_RSI, 0);                        /* eax = *(u32 *)key */
	x86_alu_ri(e, X86_CMP, false, X86_RAX, (int32_t)m->max_entries);
	size_t j_null = jcc8_fwd(e, X86_CC_AE);
	x86_imul_rri(e, true, X86_RAX, X86_RAX, (int32_t)a->elem_size);
	x86_movabs(e, AUX, (uint64_t)(uintptr_t)a->values);
	x86_alu_rr(e, X86_ADD, true, X86_RAX, AUX);                 /* r0 = &values[index] */
	size_t j_done = jmp8_fwd(e);
	bind8(e, j_null);
	x86_alu_rr(e, X86_XOR, false, X86_RAX, X86_RAX);            /* r0 = NULL */
	bind8(e, j_done);
	return true;
}

/*
 * map_lookup_elem on a BPF_MAP_TYPE_HASH whose 8-byte keys take the
 * AVX-512 probe, inline: what k8_lookup_avx512 (maps/hash.c) does, with
 * the map's fields read from the map as it reads them.
 *   rcx = *(u64 *)r2                          the key
 *   rax = hash_word(rcx): (rcx ^ seed) * mul1, halves xored, * mul2, xored
 *   rdx = buckets + 64 * ((rax * nbuckets) >> 64)
 *   the probe (maps/htab_probe.h): eax = ref or 0
 *   r0 = ref ? vbase + 8 * ref : map_helper_lookup(r1, r2)
 * A key the probe doesn't find in its home bucket (in an overflow bucket,
 * or absent) takes the helper call: r1 and r2 are untouched until then.
 * r1-r5 are dead after a helper call, so rcx, rdx (r4, r3) are free, as
 * are r11 and the probe's ymm16-17 and k1-k3, which nothing else the JIT
 * emits uses.  Removes the call, the helper's indirect jump and the
 * lookup's return from a hit (measured with map_bench's JIT cell).
 */
static bool emit_hash_lookup(struct jit_pass *p, const struct vm_helper *h, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	struct map_htab_inline hi;
	if (h->kind != VM_HELPER_PLAIN || h->fn != map_helper_lookup)
		return false;
	struct bpfvm_map *m = known_r1_map(p, idx);
	if (!m || !map_htab_inline_k8(m, &hi))
		return false;
	x86_load(e, 8, X86_RCX, X86_RSI, 0);
	x86_load(e, 8, X86_RAX, X86_RDI, hi.seed);
	x86_alu_rr(e, X86_XOR, true, X86_RAX, X86_RCX);
	x86_movabs(e, AUX, hi.mul1);
	x86_unary(e, X86_MUL, true, AUX); /* rdx:rax = rax * mul1 */
	x86_alu_rr(e, X86_XOR, true, X86_RAX, X86_RDX);
	x86_movabs(e, AUX, hi.mul2);
	x86_unary(e, X86_MUL, true, AUX);
	x86_alu_rr(e, X86_XOR, true, X86_RAX, X86_RDX);
	x86_load(e, 8, AUX, X86_RDI, hi.nbuckets);
	x86_unary(e, X86_MUL, true, AUX); /* rdx = the home bucket's number */
	x86_shift_ri(e, X86_SHL, true, X86_RDX, 6);
	x86_load(e, 8, AUX, X86_RDI, hi.buckets);
	x86_alu_rr(e, X86_ADD, true, X86_RDX, AUX);
	x86_bytes(e, htab_probe_bytes, sizeof(htab_probe_bytes));
	x86_test_rr(e, false, X86_RAX, X86_RAX);
	size_t j_slow = jcc8_fwd(e, X86_CC_E);
	x86_load(e, 8, AUX, X86_RDI, hi.vbase);
	x86_lea_m(e, true, X86_RAX, (struct x86_mem){ .base = AUX, .index = X86_RAX, .scale = 8, .disp = 0 });
	size_t j_done = jmp8_fwd(e);
	bind8(e, j_slow);
	x86_movabs(e, AUX, (uint64_t)(uintptr_t)map_helper_lookup);
	x86_call_reg(e, AUX);
	emit_stop_check(p);
	bind8(e, j_done);
	return true;
}

/*
 * bpf_tail_call(r1 = ctx, r2 = prog array, r3 = index): a real tail call.
 *   (addr, r0) = jit_rt_tail_call(r2, r3, r1)      r1 kept
 *   addr == 0: fall through
 *   addr == 1: the target ran on the interpreter: return r0 from this frame
 *   addr == 2: its run failed: unwind
 *   else: restore r6-r9, drop this frame's stack (rsp = rbp) and jump to
 *         the target's body just past its push rbp; mov rbp, rsp, so it
 *         runs in this frame and returns to this frame's caller.
 */
static const uint8_t arg_regs[5] = { X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8 };

static void emit_tail_call(struct jit_pass *p, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	if (p->checked) {
		/* (addr, r0) = jit_rt_tail_call_checked(r12, r2, r3, r1, idx),
		 * r0-r5 kept: an unverified program may read them after a
		 * tail call that falls through, and the interpreter keeps them */
		x86_push(e, X86_RAX);
		for (int i = 4; i >= 0; i--)
			x86_push(e, arg_regs[i]);
		x86_mov_rr(e, true, X86_RCX, X86_RDI);
		x86_mov_rr(e, true, X86_RDI, X86_R12);
		x86_mov_imm(e, X86_R8, idx);
		x86_movabs(e, AUX, (uint64_t)(uintptr_t)jit_rt_tail_call_checked);
		x86_call_reg(e, AUX);
		x86_mov_rr(e, true, AUX, X86_RAX);
		x86_mov_rr(e, true, AUX3, X86_RDX);
		for (int i = 0; i < 5; i++)
			x86_pop(e, arg_regs[i]);
		x86_pop(e, X86_RAX);
	} else {
		/* r0 survives a tail call that falls through, as in the interpreter */
		x86_push(e, X86_RDI);
		x86_push(e, X86_RAX);
		x86_mov_rr(e, true, AUX, X86_RDI);
		x86_mov_rr(e, true, X86_RDI, X86_RSI);
		x86_mov_rr(e, true, X86_RSI, X86_RDX);
		x86_mov_rr(e, true, X86_RDX, AUX);
		x86_movabs(e, AUX, (uint64_t)(uintptr_t)jit_rt_tail_call);
		x86_call_reg(e, AUX);
		x86_mov_rr(e, true, AUX, X86_RAX);
		x86_pop(e, X86_RAX);
		x86_pop(e, X86_RDI);
	}
	x86_test_rr(e, true, AUX, AUX);
	size_t j_none = jcc8_fwd(e, X86_CC_E);
	x86_alu_ri(e, X86_CMP, true, AUX, JIT_TAIL_ABORT);
	size_t j_jump = jcc8_fwd(e, X86_CC_A);
	size_t j_done = jcc8_fwd(e, X86_CC_B);
	int r0 = p->checked ? AUX3 : X86_RDX; /* the target's r0 when it ran elsewhere */
	x86_mov_rr(e, true, X86_RAX, r0);
	x86_jcc_to(e, X86_CC_E, p->abort_off, false); /* flags still say "== 2" */
	bind8(e, j_done);
	x86_mov_rr(e, true, X86_RAX, r0);
	emit_epilogue(p);
	bind8(e, j_jump);
	for (int i = 3; i >= 0; i--)
		x86_pop(e, saved_regs[i]);
	x86_mov_rr(e, true, X86_RSP, X86_RBP);
	x86_jmp_reg(e, AUX); /* jmp target body */
	bind8(e, j_none);
}

/*
 * Checked mode: every helper call goes through jit_rt_helper_checked(),
 * which checks the arguments as the checked interpreter does; r1-r5 are
 * kept, as the interpreter leaves them.
 *   push r5..r1 (args[0..4] at rsp)
 *   (r0, ok) = jit_rt_helper_checked(r12, h, rsp, idx | dst << 32, r10, callx ? dst : 0)
 *   pop r1..r5; if (!ok) unwind; stop check
 */
static void emit_helper_checked(struct jit_pass *p, const struct vm_helper *h, const struct bpf_insn *in,
                                uint32_t idx)
{
	struct x86_emit *e = &p->e;
	if (h)
		x86_alu_rr(e, X86_XOR, false, X86_R9, X86_R9);
	else
		x86_mov_rr(e, true, X86_R9, reg_map[in->dst_reg]); /* the helper id */
	x86_alu_ri(e, X86_SUB, true, X86_RSP, 8);                  /* 5 pushes + 8: rsp stays 16-aligned */
	for (int i = 4; i >= 0; i--)
		x86_push(e, arg_regs[i]);
	x86_mov_rr(e, true, X86_RDI, X86_R12);
	x86_movabs(e, X86_RSI, (uint64_t)(uintptr_t)h);
	x86_mov_rr(e, true, X86_RDX, X86_RSP);
	x86_mov_imm(e, X86_RCX, (uint64_t)idx | (h ? 0 : (uint64_t)in->dst_reg << 32));
	x86_mov_rr(e, true, X86_R8, X86_RBP);
	x86_movabs(e, AUX, (uint64_t)(uintptr_t)jit_rt_helper_checked);
	x86_call_reg(e, AUX);
	x86_mov_rr(e, true, AUX, X86_RDX); /* ok */
	for (int i = 0; i < 5; i++)
		x86_pop(e, arg_regs[i]);
	x86_alu_ri(e, X86_ADD, true, X86_RSP, 8);
	x86_test_rr(e, true, AUX, AUX);
	x86_jcc_to(e, X86_CC_E, p->abort_off, false); /* the run failed; rax = 0 */
	emit_stop_check(p);
}

/*
 * The prog array a tail call at idx goes through, when known at JIT time:
 * the program's only one, or the one an lddw put in r2 in the same
 * straight-line run of instructions.
 */
static struct bpfvm_map *tail_map_at(const struct jit_pass *p, uint32_t idx)
{
	const struct bpfvm_prog *prog = p->prog;
	if (prog->ntail_maps == 1)
		return prog->tail_maps[0];
	if (!prog->aux || !prog->ops || !p->is_target)
		return NULL;
	for (uint32_t k = idx; k-- > 0;) {
		if (p->is_target[k + 1])
			return NULL;
		enum vm_op op = (enum vm_op)prog->ops[k];
		const struct bpf_insn *in = &prog->insns[k];
		if (op == VM_OP_INVALID)
			continue;
		uint8_t fmt = vm_opinfo[op].fmt;
		if (op == VM_OP_LDDW && in->dst_reg == 2)
			return in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_IDX ? prog->aux[k].map : NULL;
		if (fmt == FMT_JA || fmt == FMT_JA32 || fmt == FMT_JCOND_K || fmt == FMT_JCOND_X || fmt == FMT_CALL ||
		    fmt == FMT_CALL_LOCAL || fmt == FMT_CALLX || fmt == FMT_EXIT)
			return NULL;
		if (in->dst_reg == 2 && fmt != FMT_ST && fmt != FMT_STX && fmt != FMT_ATOMIC)
			return NULL;
		if (fmt == FMT_ATOMIC && in->src_reg == 2)
			return NULL;
	}
	return NULL;
}

/*
 * A tail call whose index the verifier proved constant (Linux's poke
 * descriptors; jit_poke.c keeps the jmp's target equal to the slot):
 *   r11 = ck->run; if (!r11 || r11->tail_calls >= 33) goto out
 *   jmp rel32 (4-aligned rel32)  -> out | slow | slot program's tail stub
 * slow:
 *   the indirect sequence (emit_tail_call)
 * out:
 * The tail stub counts the call, so an empty slot counts nothing, as in
 * the interpreter.
 */
static bool emit_tail_call_direct(struct jit_pass *p, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	const struct bpfvm_prog *prog = p->prog;
	if (!p->can_poke || p->checked || !prog->aux || !prog->aux[idx].const_tail_index)
		return false;
	struct bpfvm_map *m = tail_map_at(p, idx);
	uint32_t index = prog->aux[idx].tail_index;
	if (!m || m->type != BPFVM_MAP_PROG_ARRAY || index >= m->max_entries)
		return false;
	x86_load(e, 8, AUX, X86_R12, (int32_t)offsetof(struct jit_checked_ctx, run));
	x86_test_rr(e, true, AUX, AUX);
	size_t j_norun = jcc8_fwd(e, X86_CC_E);
	x86_alu_mi(e, X86_CMP, false, AUX, (int32_t)offsetof(struct vm_run, tail_calls), BPF_MAX_TAIL_CALLS);
	size_t j_limit = jcc8_fwd(e, X86_CC_AE);
	/* the rel32 on a 4-byte boundary: patched with one aligned store */
	x86_nops(e, (unsigned)((4 - (e->len + 1) % 4) % 4));
	uint32_t rel = (uint32_t)e->len + 1;
	x86_jmp_rel32(e, 0); /* jmp slow until jit_poke_register() sets it */
	uint32_t slow = (uint32_t)e->len;
	emit_tail_call(p, idx);
	bind8(e, j_norun);
	bind8(e, j_limit);
	if (p->npokes == p->pokes_cap) {
		uint32_t cap = p->pokes_cap ? p->pokes_cap * 2 : 4;
		struct jit_poke_site *n = realloc(p->pokes, cap * sizeof(*n));
		if (!n) {
			x86_fail(e, -ENOMEM);
			return true;
		}
		p->pokes = n;
		p->pokes_cap = cap;
	}
	p->pokes[p->npokes++] = (struct jit_poke_site){ m, index, rel, slow, (uint32_t)e->len };
	return true;
}

/*
 * Where a direct site of another image lands (jit_poke.c), in place of
 * the indirect path's `jmp r11`: drops the caller's frame as that path
 * does (its layout is the same in every image), counts the tail call,
 * makes this program the run's, and enters the body past push rbp; mov
 * rbp, rsp.  A "mem" program starts with r2 = the input length.
 */
static void emit_tail_stub(struct jit_pass *p)
{
	struct x86_emit *e = &p->e;
	p->ntail_stub = (uint32_t)e->len;
	for (int i = 3; i >= 0; i--)
		x86_pop(e, saved_regs[i]);
	x86_mov_rr(e, true, X86_RSP, X86_RBP);
	x86_load(e, 8, AUX, X86_R12, (int32_t)offsetof(struct jit_checked_ctx, run));
	x86_alu_mi(e, X86_ADD, false, AUX, (int32_t)offsetof(struct vm_run, tail_calls), 1);
	x86_movabs(e, AUX2, (uint64_t)(uintptr_t)p->prog);
	x86_store(e, 8, AUX, (int32_t)offsetof(struct vm_run, prog), AUX2);
	if (p->prog->type && p->prog->type->is_mem)
		x86_load(e, 8, X86_RSI, AUX, (int32_t)offsetof(struct vm_run, len));
	x86_jmp_to(e, (int64_t)p->subs[0] + JIT_TAIL_ENTRY_SKIP, !p->first);
}

static int emit_call(struct jit_pass *p, const struct bpf_insn *in, enum vm_op op, uint32_t idx)
{
	struct x86_emit *e = &p->e;
	const struct bpfvm_prog *prog = p->prog;
	if (op == VM_OP_CALL_LOCAL) {
		uint32_t target = idx + 1 + (uint32_t)in->imm;
		uint32_t sub = prog->aux ? prog->aux[target].subprog : 0;
		if (sub >= (prog->nsubprogs ? prog->nsubprogs : 1) || prog->subprogs[sub].start != target)
			return unsupported(p, idx, "call local: target is not the start of a subprogram");
		if (p->checked) {
			/* as the interpreter: at most 8 frames */
			x86_alu_mi(e, X86_CMP, true, X86_R12, JIT_CK_DEPTH, BPF_MAX_CALL_FRAMES - 1);
			size_t j_ok = jcc8_fwd(e, X86_CC_B);
			emit_fail(p, JIT_FAIL_DEPTH, idx, -1);
			bind8(e, j_ok);
			x86_alu_mi(e, X86_ADD, true, X86_R12, JIT_CK_DEPTH, 1);
		}
		int64_t rel = (int64_t)p->subs[sub] - ((int64_t)e->len + 5);
		x86_call_rel32(e, (int32_t)rel); /* call subprogram */
		if (p->checked)
			x86_alu_mi(e, X86_SUB, true, X86_R12, JIT_CK_DEPTH, 1);
		if (p->checked && p->tail_calls) {
			/* A tail call in the callee (or deeper) left its target in
			 * run->prog, whose maps the checked runtime would check this
			 * code's helper calls, tail calls and memory against: this
			 * program is current again (the checked interpreter does the
			 * same at its exit).  Only programs with a tail call site
			 * can get there.
			 *   if (ck->run) ck->run->prog = this program */
			x86_load(e, 8, AUX, X86_R12, (int32_t)offsetof(struct jit_checked_ctx, run));
			x86_test_rr(e, true, AUX, AUX);
			size_t j_norun = jcc8_fwd(e, X86_CC_E);
			x86_movabs(e, AUX2, (uint64_t)(uintptr_t)prog);
			x86_store(e, 8, AUX, (int32_t)offsetof(struct vm_run, prog), AUX2);
			bind8(e, j_norun);
		}
		return 0;
	}
	if (p->checked && op == VM_OP_CALLX) {
		emit_helper_checked(p, NULL, in, idx);
		return 0;
	}
	if (op == VM_OP_CALLX) {
		/* r11 = jit_rt_callx(vm, dst, idx), keeping r1-r5; unknown id:
		 * the run already failed, unwind. */
		static const uint8_t args[5] = { X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8 };
		x86_mov_rr(e, true, AUX, reg_map[in->dst_reg]);
		for (int i = 0; i < 5; i++)
			x86_push(e, args[i]);
		x86_alu_ri(e, X86_SUB, true, X86_RSP, 8);
		x86_movabs(e, X86_RDI, (uint64_t)(uintptr_t)prog->vm);
		x86_mov_rr(e, true, X86_RSI, AUX);
		x86_mov_imm(e, X86_RDX, idx);
		x86_movabs(e, AUX, (uint64_t)(uintptr_t)jit_rt_callx);
		x86_call_reg(e, AUX);
		x86_mov_rr(e, true, AUX, X86_RAX);
		x86_alu_ri(e, X86_ADD, true, X86_RSP, 8);
		for (int i = 4; i >= 0; i--)
			x86_pop(e, args[i]);
		x86_test_rr(e, true, AUX, AUX);
		x86_jcc_to(e, X86_CC_E, p->abort_off, false);
		x86_call_reg(e, AUX); /* call helper(r1..r5) */
		emit_stop_check(p);
		return 0;
	}
	const struct vm_helper *h = prog->aux ? prog->aux[idx].helper : NULL;
	if (!h)
		return unsupported(p, idx, "helper call was not resolved at load");
	if (h->kind == VM_HELPER_TAIL_CALL) {
		if (!emit_tail_call_direct(p, idx))
			emit_tail_call(p, idx);
		return 0;
	}
	if (p->checked) {
		emit_helper_checked(p, h, in, idx);
		return 0;
	}
	if (emit_array_lookup(p, h, idx) || emit_hash_lookup(p, h, idx))
		return 0;
	x86_movabs(e, AUX, (uint64_t)(uintptr_t)h->fn);
	x86_call_reg(e, AUX); /* call helper: r1-r5 are already rdi, rsi, rdx, rcx, r8 */
	emit_stop_check(p);
	return 0;
}

/* ---- the program ---- */

/*
 * Peepholes over two BPF instructions, when the second is no jump target.
 * clang's BPF backend writes three-address arithmetic as mov + op and
 * zero-extension as lsh 32 + rsh 32; x86 has single instructions for both.
 * Returns true when it emitted code for insns i and i+1.
 */
/* ALU ops emit_alu() translates as one x86 add/sub/and/or/xor on dst,
 * whose ZF then tells whether dst is zero. */
static bool sets_zf_of_result(enum vm_op op)
{
	switch (op) {
	case VM_OP_ADD64_K: case VM_OP_ADD64_X: case VM_OP_SUB64_K: case VM_OP_SUB64_X:
	case VM_OP_AND64_K: case VM_OP_AND64_X: case VM_OP_OR64_K: case VM_OP_OR64_X:
	case VM_OP_XOR64_K: case VM_OP_XOR64_X:
	case VM_OP_ADD32_K: case VM_OP_ADD32_X: case VM_OP_SUB32_K: case VM_OP_SUB32_X:
	case VM_OP_AND32_K: case VM_OP_AND32_X: case VM_OP_OR32_K: case VM_OP_OR32_X:
	case VM_OP_XOR32_K: case VM_OP_XOR32_X:
		return true;
	default:
		return false;
	}
}

static bool emit_fused(struct jit_pass *p, uint32_t i, enum vm_op op)
{
	const struct bpfvm_prog *prog = p->prog;
	if (i + 1 >= prog->len || !p->is_target || p->is_target[i + 1] || !prog->ops)
		return false;
	/* (Instruction i itself is never planned here: the translator
	 * handles planned instructions before trying this fusion.) */
	if (p->plan && p->plan[i + 1].kind != JIT_FUSE_NONE)
		return false;
	const struct bpf_insn *a = &prog->insns[i], *b = &prog->insns[i + 1];
	enum vm_op nop = (enum vm_op)prog->ops[i + 1];
	if (b->dst_reg != a->dst_reg)
		return false;
	int d = reg_map[a->dst_reg];
	if (op == VM_OP_MOV64_X && a->dst_reg != a->src_reg) {
		int s = reg_map[a->src_reg];
		if (nop == VM_OP_ADD64_X) {
			/* d = s; d += x  ->  lea d, [s + x] (x == d means s) */
			int x = b->src_reg == a->dst_reg ? s : reg_map[b->src_reg];
			x86_lea_bi(&p->e, d, s, x);
			return true;
		}
		if (nop == VM_OP_ADD64_K && !p->blind) {
			x86_lea(&p->e, d, s, b->imm); /* d = s + imm */
			return true;
		}
	}
	if (op == VM_OP_MOV32_X && a->dst_reg != a->src_reg) {
		int s = reg_map[a->src_reg];
		if (nop == VM_OP_ADD32_X) {
			/* w = ws; w += wx  ->  lea d32, [s + x]: the low 32 bits of the
			 * sum, zero-extended, whatever s's upper half holds */
			int x = b->src_reg == a->dst_reg ? s : reg_map[b->src_reg];
			x86_lea_m(&p->e, false, d, (struct x86_mem){ s, x, 0, 1 });
			return true;
		}
		if (nop == VM_OP_ADD32_K && !p->blind) {
			x86_lea_m(&p->e, false, d, (struct x86_mem){ s, -1, b->imm, 0 }); /* d = (u32)(s + imm) */
			return true;
		}
	}
	if (!p->checked && b->imm == 0 && (nop == VM_OP_JEQ_K || nop == VM_OP_JNE_K || nop == VM_OP_JEQ32_K ||
	                                   nop == VM_OP_JNE32_K) &&
	    sets_zf_of_result(op) && (vm_op_is_alu32(op) || !vm_op_is_jmp32(nop))) {
		/* d op= x; if d ==/!= 0 goto  ->  op d, x; je/jne: the op's ZF
		 * already says whether the result is zero (a 32-bit op's result
		 * is the zero-extended register, so a 64-bit compare agrees; not
		 * the reverse).  Not in checked mode, whose budget charge at
		 * back-edges sits between the two and changes the flags. */
		emit_alu(p, a, op);
		jcc_insn(p, jit_x86_jcc(b->code), i + 2 + (int32_t)b->off);
		return true;
	}
	if ((op == VM_OP_MUL64_K && nop == VM_OP_ADD64_K) || (op == VM_OP_MUL32_K && nop == VM_OP_ADD32_K)) {
		if (!p->blind && mul_by_lea(a->imm)) {
			/* d *= k; d += c  ->  lea d, [d + d * (k - 1) + c]  (3x + 1) */
			x86_lea_m(&p->e, op == VM_OP_MUL64_K, d, (struct x86_mem){ d, d, b->imm, (unsigned)a->imm - 1 });
			return true;
		}
	}
	if (op == VM_OP_LSH64_K && nop == VM_OP_RSH64_K && a->imm == 32 && b->imm == 32) {
		x86_mov_rr(&p->e, false, d, d); /* d = (u32)d */
		return true;
	}
	return false;
}

/*
 * The sequence the peephole plan (x86_64_opt.c) puts at instruction i:
 * one memory access with a folded address, a read-modify-write, or a
 * compare with memory and its jump.  The other instructions of the
 * sequence are JIT_FUSE_SKIP and emit nothing.
 */
static void emit_planned(struct jit_pass *p, uint32_t i, enum vm_op op)
{
	struct x86_emit *e = &p->e;
	const struct jit_plan *pl = &p->plan[i];
	const struct bpf_insn *in = &p->prog->insns[i];
	struct x86_mem m = { .base = reg_map[pl->base], .index = pl->index < 0 ? -1 : reg_map[pl->index],
	                     .disp = pl->disp };
	unsigned sz = pl->kind == JIT_FUSE_TEST ? 0 : vm_op_access_size(op);
	switch (pl->kind) {
	case JIT_FUSE_MEM:
		switch (vm_opinfo[op].fmt) {
		case FMT_LDX:
			if (in->code & 0x80) /* MEMSX */
				x86_load_sx_m(e, sz, reg_map[in->dst_reg], m);
			else
				x86_load_m(e, sz, reg_map[in->dst_reg], m);
			return;
		case FMT_ST:
			if (p->blind && in->imm) {
				load_imm32(p, AUX2, in->imm, true);
				x86_store_m(e, sz, m, AUX2);
			} else {
				x86_store_imm_m(e, sz, m, in->imm);
			}
			return;
		case FMT_STX:
			x86_store_m(e, sz, m, reg_map[in->src_reg]);
			return;
		default:
			break;
		}
		break;
	case JIT_FUSE_RMW: {
		/* rT = [m]; rT op= S; [m] = rT  ->  op [m], S */
		const struct bpf_insn *alu = &in[1];
		if (alu->code & 0x08) /* BPF_X */
			x86_alu_m_r(e, alu_of(alu->code), sz, m, reg_map[alu->src_reg]);
		else
			x86_alu_m_i(e, alu_of(alu->code), sz, m, alu->imm);
		return;
	}
	case JIT_FUSE_CMP: {
		/* rT = [m]; if rT cc K goto  ->  cmp [m], K; jcc */
		const struct bpf_insn *j = &in[1];
		x86_alu_m_i(e, X86_CMP, sz, m, j->imm);
		jcc_insn(p, jit_x86_jcc(j->code), i + 2 + (int32_t)j->off);
		return;
	}
	case JIT_FUSE_TEST: {
		/* [rT = rS;] rT &= K; if rT ==/!= 0 goto  ->  test rS, K; je/jne */
		uint32_t jn = i + pl->len - 1;
		const struct bpf_insn *j = &p->prog->insns[jn];
		/* a mask >= 0 has a clear upper half: the 32-bit test (or its
		 * byte form) sets ZF as the 64-bit one would */
		x86_test_ri(e, !pl->w32 && pl->disp < 0, reg_map[pl->base], pl->disp);
		jcc_insn(p, jit_x86_jcc(j->code), jn + 1 + (int32_t)j->off);
		return;
	}
	default:
		break;
	}
	x86_fail(e, -EINVAL);
}

int jit_x86_translate(struct jit_pass *p)
{
	struct bpfvm_prog *prog = p->prog;
	struct x86_emit *e = &p->e;
	uint32_t nsubs = prog->nsubprogs ? prog->nsubprogs : 1;
	uint32_t next_sub = 0;

	emit_entry(p);
	for (uint32_t i = 0; i < prog->len; i++) {
		if (next_sub < nsubs && (prog->nsubprogs ? prog->subprogs[next_sub].start : 0) == i) {
			emit_prologue(p, next_sub);
			next_sub++;
		}
		if (p->pads && (p->is_target[i] & JIT_TGT_LOOP)) {
			/* Loop heads at a fixed place in a JIT_LOOP_ALIGN line
			 * (see jit_int.h): the same code otherwise runs up to 2x
			 * slower or faster depending on where it falls. */
			if (p->pass < JIT_ALIGN_PASSES)
				p->pads[i] = (uint8_t)((JIT_LOOP_ALIGN + JIT_LOOP_ALIGN_AT -
				                        (e->len + JIT_ENTRY_GUARD) % JIT_LOOP_ALIGN) % JIT_LOOP_ALIGN);
			x86_nops(e, p->pads[i]);
		}
		p->cur = i;
		if (p->vat && p->vat[i] >= 0)
			jit_x86_vec_emit(e, &p->vloops[p->vat[i]]);
		p->naddrs[i] = (uint32_t)e->len;
		const struct bpf_insn *in = &prog->insns[i];
		enum vm_op op = prog->ops ? (enum vm_op)prog->ops[i] : vm_decode(in);
		if (op == VM_OP_INVALID)
			return unsupported(p, i, "invalid instruction");
		if (p->plan && p->plan[i].kind != JIT_FUSE_NONE) {
			if (p->plan[i].kind != JIT_FUSE_SKIP)
				emit_planned(p, i, op);
			if (e->err)
				return unsupported(p, i, "the encoder could not express an operand");
			continue;
		}
		if (emit_fused(p, i, op)) {
			i++;
			p->naddrs[i] = (uint32_t)e->len;
			continue;
		}
		switch (vm_opinfo[op].fmt) {
		case FMT_ALU_K: case FMT_ALU_X: case FMT_NEG: case FMT_END:
			emit_alu(p, in, op);
			break;
		case FMT_LDDW: {
			if (i + 1 >= prog->len)
				return unsupported(p, i, "truncated lddw");
			uint64_t v = (uint32_t)in[0].imm | ((uint64_t)(uint32_t)in[1].imm << 32);
			load_imm64(p, reg_map[in->dst_reg], v);
			i++;
			p->naddrs[i] = (uint32_t)e->len;
			break;
		}
		case FMT_LDABS: case FMT_LDIND:
			emit_ldabs(p, in, op);
			break;
		case FMT_LDX:
			if (p->checked)
				emit_mem_check(p, reg_map[in->src_reg], in->off, vm_op_access_size(op), false, i, false);
			if (in->code & 0x80) /* MEMSX */
				x86_load_sx(e, vm_op_access_size(op), reg_map[in->dst_reg], reg_map[in->src_reg], in->off);
			else
				x86_load(e, vm_op_access_size(op), reg_map[in->dst_reg], reg_map[in->src_reg], in->off);
			break;
		case FMT_ST:
			if (p->checked)
				emit_mem_check(p, reg_map[in->dst_reg], in->off, vm_op_access_size(op), true, i, false);
			if (p->blind && in->imm) {
				load_imm32(p, AUX2, in->imm, true);
				x86_store(e, vm_op_access_size(op), reg_map[in->dst_reg], in->off, AUX2);
			} else {
				x86_store_imm(e, vm_op_access_size(op), reg_map[in->dst_reg], in->off, in->imm);
			}
			break;
		case FMT_STX:
			if (p->checked)
				emit_mem_check(p, reg_map[in->dst_reg], in->off, vm_op_access_size(op), true, i, false);
			x86_store(e, vm_op_access_size(op), reg_map[in->dst_reg], in->off, reg_map[in->src_reg]);
			break;
		case FMT_ATOMIC:
			if (p->checked)
				emit_mem_check(p, reg_map[in->dst_reg], in->off, vm_op_access_size(op), true, i, true);
			emit_atomic(p, in, op);
			break;
		case FMT_JA:
			emit_budget(p, i, i + 1 + (int32_t)in->off);
			if (in->off != 0)
				jmp_insn(p, i + 1 + (int32_t)in->off);
			break;
		case FMT_JA32:
			emit_budget(p, i, i + 1 + in->imm);
			if (in->imm != 0)
				jmp_insn(p, i + 1 + in->imm);
			break;
		case FMT_JCOND_K: case FMT_JCOND_X:
			emit_jcond(p, in, op, i);
			break;
		case FMT_CALL: case FMT_CALL_LOCAL: case FMT_CALLX: {
			int err = emit_call(p, in, op, i);
			if (err)
				return err;
			break;
		}
		case FMT_EXIT:
			emit_epilogue(p);
			break;
		default:
			return unsupported(p, i, "instruction has no x86-64 translation");
		}
		if (e->err)
			return unsupported(p, i, "the encoder could not express an operand");
	}
	p->naddrs[prog->len] = (uint32_t)e->len;
	if (!p->checked)
		emit_tail_stub(p);
	return e->err;
}
