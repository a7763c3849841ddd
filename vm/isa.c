/*
 * The opcode table expanded into data, and the decoder built from it.
 */
#include "isa.h"

#include <pthread.h>

const struct vm_opinfo vm_opinfo[VM_OP__COUNT] = {
#define VM_OP(id, code_, sel_, selval_, mnem, fmt_) \
	[VM_OP_##id] = { .name = #id, .mnemonic = mnem, .code = code_, .sel = SEL_##sel_, .selval = selval_, .fmt = fmt_ },
#include "opcodes.def"
#undef VM_OP
};

/*
 * first[code] is the first operation with that opcode byte; ops sharing a
 * byte are consecutive in opcodes.def order, chained through next[].
 */
static uint16_t first_op[256];
static uint16_t next_op[VM_OP__COUNT];
static pthread_once_t decode_once = PTHREAD_ONCE_INIT;

static void build_decoder(void)
{
	uint16_t last[256];
	for (int c = 0; c < 256; c++)
		first_op[c] = last[c] = VM_OP_INVALID;
	for (int op = 0; op < VM_OP__COUNT; op++) {
		uint8_t c = vm_opinfo[op].code;
		next_op[op] = VM_OP_INVALID;
		if (first_op[c] == VM_OP_INVALID)
			first_op[c] = (uint16_t)op;
		else
			next_op[last[c]] = (uint16_t)op;
		last[c] = (uint16_t)op;
	}
}

enum vm_op vm_decode(const struct bpf_insn *insn)
{
	pthread_once(&decode_once, build_decoder);
	for (uint16_t op = first_op[insn->code]; op != VM_OP_INVALID; op = next_op[op]) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		switch (oi->sel) {
		case SEL_NONE:
			return (enum vm_op)op;
		case SEL_OFF:
			if (insn->off == oi->selval)
				return (enum vm_op)op;
			break;
		case SEL_IMM:
			if (insn->imm == oi->selval)
				return (enum vm_op)op;
			break;
		case SEL_SRC:
			if (insn->src_reg == oi->selval)
				return (enum vm_op)op;
			break;
		}
	}
	return VM_OP_INVALID;
}

unsigned vm_op_access_size(enum vm_op op)
{
	if (op >= VM_OP__COUNT)
		return 0;
	uint8_t code = vm_opinfo[op].code;
	switch (vm_opinfo[op].fmt) {
	case FMT_LDX: case FMT_ST: case FMT_STX: case FMT_ATOMIC:
	case FMT_LDABS: case FMT_LDIND:
		/* size field, bits 3-4: W=0x00, H=0x08, B=0x10, DW=0x18 */
		switch (code & 0x18) {
		case 0x00: return 4;
		case 0x08: return 2;
		case 0x10: return 1;
		default: return 8;
		}
	default:
		return 0;
	}
}
