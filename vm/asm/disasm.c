/*
 * Disassembler: one line per instruction in the assembler's syntax.  Jump
 * targets are relative offsets so that every valid encoding round-trips.
 */
#include "asm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static const char *const fmt_syntax[] = {
	[FMT_ALU_K] = "%dst, imm",
	[FMT_ALU_X] = "%dst, %src",
	[FMT_NEG] = "%dst",
	[FMT_END] = "%dst",
	[FMT_LDDW] = "%dst, imm64",
	[FMT_LDABS] = "imm",
	[FMT_LDIND] = "%src, imm",
	[FMT_LDX] = "%dst, [%src+off]",
	[FMT_ST] = "[%dst+off], imm",
	[FMT_STX] = "[%dst+off], %src",
	[FMT_ATOMIC] = "[%dst+off], %src",
	[FMT_JA] = "target",
	[FMT_JA32] = "target",
	[FMT_JCOND_K] = "%dst, imm, target",
	[FMT_JCOND_X] = "%dst, %src, target",
	[FMT_CALL] = "helper-id",
	[FMT_CALL_LOCAL] = "target",
	[FMT_CALLX] = "%reg",
	[FMT_EXIT] = "(no operands)",
};

const char *vm_asm_fmt_syntax(enum vm_fmt fmt)
{
	return fmt < sizeof(fmt_syntax) / sizeof(fmt_syntax[0]) ? fmt_syntax[fmt] : "?";
}

/* Which raw fields an operand layout uses. */
enum { U_DST = 1, U_SRC = 2, U_OFF = 4, U_IMM = 8 };

static unsigned fmt_uses(enum vm_fmt fmt)
{
	switch (fmt) {
	case FMT_ALU_K: return U_DST | U_IMM;
	case FMT_ALU_X: return U_DST | U_SRC;
	case FMT_NEG: return U_DST;
	case FMT_END: return U_DST;
	case FMT_LDDW: return U_DST | U_SRC | U_IMM;
	case FMT_LDABS: return U_IMM;
	case FMT_LDIND: return U_SRC | U_IMM;
	case FMT_LDX: return U_DST | U_SRC | U_OFF;
	case FMT_ST: return U_DST | U_OFF | U_IMM;
	case FMT_STX: case FMT_ATOMIC: return U_DST | U_SRC | U_OFF;
	case FMT_JA: return U_OFF;
	case FMT_JA32: return U_IMM;
	case FMT_JCOND_K: return U_DST | U_IMM | U_OFF;
	case FMT_JCOND_X: return U_DST | U_SRC | U_OFF;
	case FMT_CALL: case FMT_CALL_LOCAL: return U_IMM;
	case FMT_CALLX: return U_DST;
	case FMT_EXIT: return 0;
	}
	return 0;
}

int vm_insn_check_unused(const struct bpf_insn *insn, enum vm_op op, char *why, size_t size)
{
	const struct vm_opinfo *oi = &vm_opinfo[op];
	unsigned uses = fmt_uses(oi->fmt);
	/* The selector field carries the operation, so it is "used". */
	if (oi->sel == SEL_OFF) uses |= U_OFF;
	if (oi->sel == SEL_IMM) uses |= U_IMM;
	if (oi->sel == SEL_SRC) uses |= U_SRC;
	const char *field = NULL;
	long val = 0;
	if (!(uses & U_DST) && insn->dst_reg) field = "dst register", val = insn->dst_reg;
	else if (!(uses & U_SRC) && insn->src_reg) field = "src register", val = insn->src_reg;
	else if (!(uses & U_OFF) && insn->off) field = "offset", val = insn->off;
	else if (!(uses & U_IMM) && insn->imm) field = "immediate", val = insn->imm;
	if (!field)
		return 0;
	snprintf(why, size, "'%s' (opcode 0x%02x) has a non-zero %s field (%ld); it must be 0",
	         oi->mnemonic, insn->code, field, val);
	return -EINVAL;
}

/* Small immediates read best in decimal, bit patterns in hex. */
static void put_imm32(char *b, size_t sz, int32_t v)
{
	if (v > -65536 && v < 65536)
		snprintf(b, sz, "%" PRId32, v);
	else
		snprintf(b, sz, "0x%" PRIx32, (uint32_t)v);
}

static void put_imm64(char *b, size_t sz, uint64_t v)
{
	int64_t s = (int64_t)v;
	if (s > -65536 && s < 65536)
		snprintf(b, sz, "%" PRId64, s);
	else
		snprintf(b, sz, "0x%" PRIx64, v);
}

/* lddw pseudo sources, numbered as Linux (vm/isa.h). */
static const char *pseudo_name(unsigned src)
{
	switch (src) {
	case BPF_PSEUDO_MAP_FD: return "map_fd";
	case BPF_PSEUDO_MAP_VALUE: return "map_value";
	case BPF_PSEUDO_BTF_ID: return "btf_id";
	case BPF_PSEUDO_FUNC: return "func";
	case BPF_PSEUDO_MAP_IDX: return "map_idx";
	case BPF_PSEUDO_MAP_IDX_VALUE: return "map_idx_value";
	}
	return NULL;
}

const char *vm_asm_pseudo_name(unsigned src) { return pseudo_name(src); }

static int fail(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int vm_disasm_insn(const struct bpf_insn *insns, size_t n, size_t pc, char *buf, size_t size)
{
	const struct bpf_insn *in = &insns[pc];
	enum vm_op op = vm_decode(in);
	if (op == VM_OP_INVALID)
		return fail(buf, size, "unknown instruction: opcode 0x%02x src %u off %d imm %d",
		            in->code, in->src_reg, in->off, in->imm);
	const struct vm_opinfo *oi = &vm_opinfo[op];
	if (vm_insn_check_unused(in, op, buf, size))
		return -EINVAL;
	if (in->dst_reg >= BPF_MAX_REG || (in->src_reg >= BPF_MAX_REG && oi->fmt != FMT_LDDW))
		return fail(buf, size, "'%s' uses register r%u; registers are r0..r10", oi->mnemonic,
		            in->dst_reg >= BPF_MAX_REG ? in->dst_reg : in->src_reg);
	const char *m = oi->mnemonic;
	unsigned d = in->dst_reg, s = in->src_reg;
	char imm[32];
	put_imm32(imm, sizeof(imm), in->imm);
	switch ((enum vm_fmt)oi->fmt) {
	case FMT_ALU_K: snprintf(buf, size, "%s %%r%u, %s", m, d, imm); break;
	case FMT_ALU_X: snprintf(buf, size, "%s %%r%u, %%r%u", m, d, s); break;
	case FMT_NEG: case FMT_END: snprintf(buf, size, "%s %%r%u", m, d); break;
	case FMT_LDDW: {
		if (pc + 1 >= n)
			return fail(buf, size, "lddw is missing its second slot");
		const struct bpf_insn *hi = &insns[pc + 1];
		if (hi->code || hi->dst_reg || hi->src_reg || hi->off)
			return fail(buf, size, "lddw's second slot must have opcode, registers and offset 0");
		if (s == 0) {
			char v[32];
			put_imm64(v, sizeof(v), (uint64_t)(uint32_t)in->imm | (uint64_t)(uint32_t)hi->imm << 32);
			snprintf(buf, size, "lddw %%r%u, %s", d, v);
		} else if (!pseudo_name(s)) {
			return fail(buf, size, "lddw with unknown pseudo source %u (known: 1..6)", s);
		} else if (s == BPF_PSEUDO_FUNC) {
			if (hi->imm)
				return fail(buf, size, "lddw func(...) must have a zero second immediate");
			snprintf(buf, size, "lddw %%r%u, func(%+d)", d, in->imm);
		} else if (hi->imm || s == BPF_PSEUDO_MAP_VALUE || s == BPF_PSEUDO_MAP_IDX_VALUE) {
			snprintf(buf, size, "lddw %%r%u, %s(%d, %d)", d, pseudo_name(s), in->imm, hi->imm);
		} else {
			snprintf(buf, size, "lddw %%r%u, %s(%d)", d, pseudo_name(s), in->imm);
		}
		return 2;
	}
	case FMT_LDABS: snprintf(buf, size, "%s %s", m, imm); break;
	case FMT_LDIND: snprintf(buf, size, "%s %%r%u, %s", m, s, imm); break;
	case FMT_LDX: snprintf(buf, size, "%s %%r%u, [%%r%u%+d]", m, d, s, in->off); break;
	case FMT_ST: snprintf(buf, size, "%s [%%r%u%+d], %s", m, d, in->off, imm); break;
	case FMT_STX: case FMT_ATOMIC:
		snprintf(buf, size, "%s [%%r%u%+d], %%r%u", m, d, in->off, s);
		break;
	case FMT_JA: snprintf(buf, size, "%s %+d", m, in->off); break;
	case FMT_JA32: snprintf(buf, size, "%s %+d", m, in->imm); break;
	case FMT_JCOND_K: snprintf(buf, size, "%s %%r%u, %s, %+d", m, d, imm, in->off); break;
	case FMT_JCOND_X: snprintf(buf, size, "%s %%r%u, %%r%u, %+d", m, d, s, in->off); break;
	case FMT_CALL: snprintf(buf, size, "%s %s", m, imm); break;
	case FMT_CALL_LOCAL: snprintf(buf, size, "%s %+d", m, in->imm); break;
	case FMT_CALLX: snprintf(buf, size, "%s %%r%u", m, d); break;
	case FMT_EXIT: snprintf(buf, size, "%s", m); break;
	}
	return 1;
}

int vm_disasm(const struct bpf_insn *insns, size_t n, FILE *out, char *err, size_t errsz)
{
	char line[160];
	for (size_t pc = 0; pc < n;) {
		int k = vm_disasm_insn(insns, n, pc, line, sizeof(line));
		if (k < 0) {
			snprintf(err, errsz, "insn %zu: %s", pc, line);
			return k;
		}
		fprintf(out, "%s\n", line);
		pc += (size_t)k;
	}
	return 0;
}
