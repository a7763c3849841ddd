/*
 * Text assembler and disassembler for BPF in the bpf_conformance syntax
 * (registers %r0..%r10, memory [%rN+off], labels, `lock [fetch] op`,
 * `call local`, `call %rN`).  Mnemonics come from vm/opcodes.def through
 * vm_opinfo[]; nothing here keeps its own opcode list.  Internal: prefix vm_.
 *
 * Jump, call-local and `lddw ..., func(...)` targets are written as labels or
 * as relative offsets (`+3`, `-2`: target = index of the next slot + offset).
 * The disassembler always prints relative offsets, so its output assembles
 * back to the same bytes.
 *
 * Pure functions over caller buffers; safe from any thread.
 */
#ifndef BPFVM_ASM_H
#define BPFVM_ASM_H

#include <stddef.h>
#include <stdio.h>

#include "isa.h"

/*
 * Assembles `len` bytes of text.  On success *out (malloc'd, caller frees)
 * holds *nout instruction slots.  On failure returns -EINVAL (or -ENOMEM)
 * and writes "line N: what is wrong" into err.
 */
int vm_asm(const char *text, size_t len, struct bpf_insn **out, size_t *nout, char *err, size_t errsz);

/*
 * Disassembles the instruction at insns[pc] (of n slots) into buf, one line
 * without newline.  Returns the slots it used (1, or 2 for lddw), or
 * -EINVAL with the reason in buf when the encoding is not a valid
 * instruction (unknown opcode, non-zero unused field, truncated lddw).
 */
int vm_disasm_insn(const struct bpf_insn *insns, size_t n, size_t pc, char *buf, size_t size);

/* Disassembles a whole program, one line per instruction, to out.  Returns 0
 * or -EINVAL with "insn N: reason" in err. */
int vm_disasm(const struct bpf_insn *insns, size_t n, FILE *out, char *err, size_t errsz);

/*
 * Checks that the fields op's operand layout does not use are zero (as
 * Linux's "reserved fields" checks).  Returns 0, or -EINVAL naming the field
 * in why.
 */
int vm_insn_check_unused(const struct bpf_insn *insn, enum vm_op op, char *why, size_t size);

/* Name of an lddw pseudo source ("map_fd" for 1 ...), NULL if unknown.
 * Written `lddw %rD, map_fd(A[, B])`: A = first imm, B = second slot's imm. */
const char *vm_asm_pseudo_name(unsigned src);

/* The assembler syntax of an operand layout ("%dst, imm"), for messages. */
const char *vm_asm_fmt_syntax(enum vm_fmt fmt);

#endif
