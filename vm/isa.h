/*
 * The BPF instruction set as bpfvm sees it: the raw encoding, the operation
 * ids generated from vm/opcodes.def, and the decoder that maps raw
 * instructions to operation ids.  Shared by every part of bpfvm.
 */
#ifndef BPFVM_ISA_H
#define BPFVM_ISA_H

#include <stdbool.h>
#include <stdint.h>

#include "bpfvm.h" /* struct bpf_insn */

/* Instruction classes (low 3 bits of the opcode). */
#define BPF_CLS_LD    0x00
#define BPF_CLS_LDX   0x01
#define BPF_CLS_ST    0x02
#define BPF_CLS_STX   0x03
#define BPF_CLS_ALU   0x04
#define BPF_CLS_JMP   0x05
#define BPF_CLS_JMP32 0x06
#define BPF_CLS_ALU64 0x07
#define BPF_CLASS(code) ((code) & 0x07)

/* lddw src_reg values, numbered as Linux numbers them. */
#define BPF_PSEUDO_MAP_FD        1 /* imm = map handle: dst = map pointer */
#define BPF_PSEUDO_MAP_VALUE     2 /* imm = map handle, next imm = offset: dst = &value[0] + off */
#define BPF_PSEUDO_BTF_ID        3 /* kernel variable: not available in userspace */
#define BPF_PSEUDO_FUNC          4 /* imm = insn offset of a subprogram: dst = callback */
#define BPF_PSEUDO_MAP_IDX       5 /* like MAP_FD, imm indexes the load's fd_array */
#define BPF_PSEUDO_MAP_IDX_VALUE 6 /* like MAP_VALUE, imm indexes the load's fd_array */

/* call src_reg values. */
#define BPF_PSEUDO_CALL          1 /* bpf-to-bpf call, imm = relative target */
#define BPF_PSEUDO_KFUNC_CALL    2 /* kernel function: not available in userspace */

#define BPF_MAX_REG   11   /* r0..r10 */
#define BPF_STACK_SIZE 512 /* per frame, as Linux */
#define BPF_MAX_CALL_FRAMES 8
#define BPF_MAX_TAIL_CALLS 33

/* Operand layouts, used by the assembler, disassembler and validator. */
enum vm_fmt {
	FMT_ALU_K,      /* op %dst, imm */
	FMT_ALU_X,      /* op %dst, %src */
	FMT_NEG,        /* neg %dst */
	FMT_END,        /* be16 %dst */
	FMT_LDDW,       /* lddw %dst, imm64 (two slots) */
	FMT_LDABS,      /* ldabsw imm */
	FMT_LDIND,      /* ldindw %src, imm */
	FMT_LDX,        /* ldxw %dst, [%src+off] */
	FMT_ST,         /* stw [%dst+off], imm */
	FMT_STX,        /* stxw [%dst+off], %src */
	FMT_ATOMIC,     /* lock add [%dst+off], %src */
	FMT_JA,         /* ja off */
	FMT_JA32,       /* ja32 imm (gotol) */
	FMT_JCOND_K,    /* jeq %dst, imm, off */
	FMT_JCOND_X,    /* jeq %dst, %src, off */
	FMT_CALL,       /* call imm (helper id) */
	FMT_CALL_LOCAL, /* call local imm (relative) */
	FMT_CALLX,      /* call %dst (helper id in a register) */
	FMT_EXIT,       /* exit */
};

enum vm_sel { SEL_NONE, SEL_OFF, SEL_IMM, SEL_SRC };

enum vm_op {
#define VM_OP(id, code, sel, selval, mnem, fmt) VM_OP_##id,
#include "opcodes.def"
#undef VM_OP
	VM_OP__COUNT,
	VM_OP_INVALID = 0xffff,
};

struct vm_opinfo {
	const char *name;     /* "ADD64_K" */
	const char *mnemonic; /* "add" */
	uint8_t code;
	uint8_t sel;          /* enum vm_sel */
	int32_t selval;
	uint8_t fmt;          /* enum vm_fmt */
};

extern const struct vm_opinfo vm_opinfo[VM_OP__COUNT];

/* Size in bytes of a memory access op (1, 2, 4, 8), 0 when not a memory op. */
unsigned vm_op_access_size(enum vm_op op);

/*
 * Decodes one raw instruction into an operation id, or VM_OP_INVALID when
 * no opcodes.def entry matches (the opcode byte is unknown, or the selector
 * field holds a value the opcode does not define).  Pure; never fails.
 */
enum vm_op vm_decode(const struct bpf_insn *insn);

static inline bool vm_op_is_jmp32(enum vm_op op) { return BPF_CLASS(vm_opinfo[op].code) == BPF_CLS_JMP32; }
static inline bool vm_op_is_alu32(enum vm_op op) { return BPF_CLASS(vm_opinfo[op].code) == BPF_CLS_ALU; }

#endif
