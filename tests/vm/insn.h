/* Small macros to write test programs inline as struct bpf_insn arrays. */
#ifndef BPFVM_TEST_INSN_H
#define BPFVM_TEST_INSN_H

#include "bpfvm.h"

#define INS(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_K(d, i) INS(0xb7, d, 0, 0, i)
#define MOV64_X(d, s) INS(0xbf, d, s, 0, 0)
#define MOV32_K(d, i) INS(0xb4, d, 0, 0, i)
#define ALU64_K(op, d, i) INS(0x07 | (op), d, 0, 0, i)
#define ALU64_X(op, d, s) INS(0x0f | (op), d, s, 0, 0)
#define ALU32_K(op, d, i) INS(0x04 | (op), d, 0, 0, i)
#define ALU32_X(op, d, s) INS(0x0c | (op), d, s, 0, 0)
#define SALU64_X(op, d, s) INS(0x0f | (op), d, s, 1, 0) /* sdiv/smod */
#define SALU32_X(op, d, s) INS(0x0c | (op), d, s, 1, 0)
#define OP_ADD 0x00
#define OP_SUB 0x10
#define OP_MUL 0x20
#define OP_DIV 0x30
#define OP_OR  0x40
#define OP_AND 0x50
#define OP_LSH 0x60
#define OP_RSH 0x70
#define OP_NEG 0x80
#define OP_MOD 0x90
#define OP_XOR 0xa0
#define OP_ARSH 0xc0
#define LDDW(d, v) INS(0x18, d, 0, 0, (int32_t)(uint32_t)(uint64_t)(v)), INS(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define LDDW_SRC(d, s, lo, hi) INS(0x18, d, s, 0, lo), INS(0, 0, 0, 0, hi)
#define LDXB(d, s, o) INS(0x71, d, s, o, 0)
#define LDXW(d, s, o) INS(0x61, d, s, o, 0)
#define LDXDW(d, s, o) INS(0x79, d, s, o, 0)
#define LDXSB(d, s, o) INS(0x91, d, s, o, 0)
#define STXB(d, s, o) INS(0x73, d, s, o, 0)
#define STXW(d, s, o) INS(0x63, d, s, o, 0)
#define STXDW(d, s, o) INS(0x7b, d, s, o, 0)
#define STDW(d, o, i) INS(0x7a, d, 0, o, i)
#define ATOMIC64(d, s, o, op) INS(0xdb, d, s, o, op)
#define ATOMIC32(d, s, o, op) INS(0xc3, d, s, o, op)
#define JA(o) INS(0x05, 0, 0, o, 0)
#define JEQ_K(d, i, o) INS(0x15, d, 0, o, i)
#define JNE_K(d, i, o) INS(0x55, d, 0, o, i)
#define JGT_K(d, i, o) INS(0x25, d, 0, o, i)
#define JSLT_K(d, i, o) INS(0xc5, d, 0, o, i)
#define CALL(id) INS(0x85, 0, 0, 0, id)
#define CALL_LOCAL(rel) INS(0x85, 0, 1, 0, rel)
#define CALLX(r) INS(0x8d, r, 0, 0, 0)
#define EXIT INS(0x95, 0, 0, 0, 0)
#define N(a) (sizeof(a) / sizeof((a)[0]))

#endif
