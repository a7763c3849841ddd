/*
 * Load-time validation of raw bytecode, before anything else looks at it:
 * every later stage (resolver, verifier, engines) may assume its results.
 * Reserved fields must be zero where an instruction's format does not use
 * them, as Linux requires.
 */
#include <stdlib.h>

#include "log.h"
#include "vm.h"

#define VM_MAX_INSNS 1000000 /* as Linux's BPF_COMPLEXITY_LIMIT_INSNS */

/* Which fields a format reads: anything else must be zero. */
enum { U_DST = 1, U_SRC = 2, U_OFF = 4, U_IMM = 8, W_DST = 16 };

static unsigned fmt_uses(enum vm_fmt f)
{
	switch (f) {
	case FMT_ALU_K:      return U_DST | W_DST | U_IMM;
	case FMT_ALU_X:      return U_DST | W_DST | U_SRC;
	case FMT_NEG:        return U_DST | W_DST;
	case FMT_END:        return U_DST | W_DST | U_IMM;
	case FMT_LDDW:       return U_DST | W_DST | U_SRC | U_IMM;
	case FMT_LDABS:      return U_IMM;
	case FMT_LDIND:      return U_SRC | U_IMM;
	case FMT_LDX:        return U_DST | W_DST | U_SRC | U_OFF;
	case FMT_ST:         return U_DST | U_OFF | U_IMM;
	case FMT_STX:        return U_DST | U_SRC | U_OFF;
	case FMT_ATOMIC:     return U_DST | U_SRC | U_OFF | U_IMM;
	case FMT_JA:         return U_OFF;
	case FMT_JA32:       return U_IMM;
	case FMT_JCOND_K:    return U_DST | U_OFF | U_IMM;
	case FMT_JCOND_X:    return U_DST | U_SRC | U_OFF;
	case FMT_CALL:       return U_SRC | U_IMM;
	case FMT_CALL_LOCAL: return U_SRC | U_IMM;
	case FMT_CALLX:      return U_DST;
	case FMT_EXIT:       return 0;
	}
	return 0;
}

static bool code_known(uint8_t code)
{
	for (int op = 0; op < VM_OP__COUNT; op++)
		if (vm_opinfo[op].code == code)
			return true;
	return false;
}

static int check_target(const struct bpfvm_prog *prog, struct vm_log *log, uint32_t i, int64_t t,
                        const char *what)
{
	if (t < 0 || t >= prog->len)
		return vm_log_err(log, -EINVAL, i, "%s to %lld is out of range (program has %u instructions)", what,
		                  (long long)t, prog->len);
	if (prog->ops[t] == VM_OP_INVALID)
		return vm_log_err(log, -EINVAL, i, "%s to %lld lands in the second half of the lddw at insn %lld", what,
		                  (long long)t, (long long)t - 1);
	return 0;
}

int vm_validate(struct bpfvm_prog *prog, struct vm_log *log)
{
	if (prog->len == 0)
		return vm_log_err(log, -EINVAL, -1, "program is empty: it needs at least an exit instruction");
	if (prog->len > VM_MAX_INSNS)
		return vm_log_err(log, -E2BIG, -1, "program has %u instructions, more than the limit of %d",
		                  prog->len, VM_MAX_INSNS);
	/* Pass 1: decode and check fields. */
	for (uint32_t i = 0; i < prog->len; i++) {
		const struct bpf_insn *in = &prog->insns[i];
		if (in->code == 0x85 && in->src_reg == BPF_PSEUDO_KFUNC_CALL)
			return vm_log_err(log, -EINVAL, i, "kfunc calls (call src=2) are not available in userspace");
		enum vm_op op = vm_decode(in);
		if (op == VM_OP_INVALID) {
			if (!code_known(in->code))
				return vm_log_err(log, -EINVAL, i, "unknown opcode 0x%02x", in->code);
			return vm_log_err(log, -EINVAL, i, "opcode 0x%02x with off %d, imm %d, src r%u is no known instruction",
			                  in->code, in->off, in->imm, in->src_reg);
		}
		const struct vm_opinfo *oi = &vm_opinfo[op];
		prog->ops[i] = (uint16_t)op;
		unsigned u = fmt_uses(oi->fmt);
		if (in->dst_reg >= BPF_MAX_REG)
			return vm_log_err(log, -EINVAL, i, "invalid destination register r%u (registers are r0-r10)", in->dst_reg);
		if (in->src_reg >= BPF_MAX_REG && !(oi->fmt == FMT_LDDW))
			return vm_log_err(log, -EINVAL, i, "invalid source register r%u (registers are r0-r10)", in->src_reg);
		if (!(u & U_DST) && in->dst_reg)
			return vm_log_err(log, -EINVAL, i, "%s: reserved dst_reg field must be 0, not %u", oi->mnemonic, in->dst_reg);
		if (!(u & U_SRC) && in->src_reg && oi->sel != SEL_SRC)
			return vm_log_err(log, -EINVAL, i, "%s: reserved src_reg field must be 0, not %u", oi->mnemonic, in->src_reg);
		if (!(u & U_OFF) && in->off && oi->sel != SEL_OFF)
			return vm_log_err(log, -EINVAL, i, "%s: reserved off field must be 0, not %d", oi->mnemonic, in->off);
		if (!(u & U_IMM) && in->imm && oi->sel != SEL_IMM)
			return vm_log_err(log, -EINVAL, i, "%s: reserved imm field must be 0, not %d", oi->mnemonic, in->imm);
		if ((u & W_DST) && in->dst_reg == 10)
			return vm_log_err(log, -EINVAL, i, "%s writes r10, which is read-only (the frame pointer)", oi->mnemonic);
		/* Atomic fetches write src (cmpxchg writes r0). */
		if (oi->fmt == FMT_ATOMIC && (in->imm & 1) && op != VM_OP_ACMPXCHG32 && op != VM_OP_ACMPXCHG64 &&
		    in->src_reg == 10)
			return vm_log_err(log, -EINVAL, i, "%s writes r10, which is read-only (the frame pointer)", oi->mnemonic);
		if (oi->fmt == FMT_LDDW) {
			if (in->src_reg > BPF_PSEUDO_MAP_IDX_VALUE)
				return vm_log_err(log, -EINVAL, i, "lddw: unknown pseudo source %u (known: 0-6)", in->src_reg);
			if (i + 1 >= prog->len)
				return vm_log_err(log, -EINVAL, i, "lddw needs two instruction slots but the program ends after the first");
			const struct bpf_insn *n = &prog->insns[i + 1];
			if (n->code || n->dst_reg || n->src_reg || n->off)
				return vm_log_err(log, -EINVAL, i + 1, "second slot of the lddw at insn %u must have code, registers and off 0",
				                  i);
			prog->ops[++i] = VM_OP_INVALID;
		}
	}
	/* Pass 2: control flow targets. */
	for (uint32_t i = 0; i < prog->len; i++) {
		uint16_t op = prog->ops[i];
		if (op == VM_OP_INVALID)
			continue;
		const struct bpf_insn *in = &prog->insns[i];
		int r = 0;
		switch (vm_opinfo[op].fmt) {
		case FMT_JA: case FMT_JCOND_K: case FMT_JCOND_X:
			r = check_target(prog, log, i, (int64_t)i + 1 + in->off, "jump");
			break;
		case FMT_JA32:
			r = check_target(prog, log, i, (int64_t)i + 1 + in->imm, "jump");
			break;
		case FMT_CALL_LOCAL:
			r = check_target(prog, log, i, (int64_t)i + 1 + in->imm, "call");
			break;
		case FMT_LDDW:
			if (in->src_reg == BPF_PSEUDO_FUNC)
				r = check_target(prog, log, i, (int64_t)i + 1 + in->imm, "callback reference");
			break;
		default:
			break;
		}
		if (r)
			return r;
	}
	/* The last instruction must not fall off the end. */
	uint32_t last = prog->len - 1;
	if (prog->ops[last] == VM_OP_INVALID)
		last--;
	uint16_t lop = prog->ops[last];
	if (lop != VM_OP_EXIT && lop != VM_OP_JA && lop != VM_OP_JA32)
		return vm_log_err(log, -EINVAL, last, "the program can fall off its end: the last instruction must be exit or ja");
	return 0;
}
