/*
 * The loop vectorizer's plan (x86_64_vec.c has the rules and the proof):
 * which loops run W iterations at a time in AVX2 registers, and the vector
 * block emitted in front of each one's scalar code.  Internal to jit/.
 */
#ifndef BPFVM_X86_64_VEC_H
#define BPFVM_X86_64_VEC_H

#include <stdbool.h>
#include <stdint.h>

#include "isa.h"
#include "x86_64_emit.h"

struct bpfvm_prog;

#define VL_BYTES 32      /* one ymm register */
#define VL_TERMS 3       /* registers in one affine value */
#define VL_VALUES 15     /* ymm0-14 hold values; ymm15 is scratch */
#define VL_ZERO 15
#define VL_OPS 64
#define VL_EXITS 8
#define VL_MEMS 12
#define VL_ALIAS 8
#define VL_CONSTS 8
#define VL_BODY 96       /* instructions */

/* An affine value: sum(coef[i] * reg[i]) + c + a * k, the registers' values
 * at the chunk's start (induction variables and invariants).  w32: valid
 * only modulo 2^32 (the register holds it zero-extended). */
struct vaff {
	uint8_t n;
	uint8_t reg[VL_TERMS];
	int64_t coef[VL_TERMS];
	int64_t c, a;
	bool w32;
};

enum vop_kind { VO_LOAD, VO_STORE, VO_MAT, VO_BIN, VO_SHIFT, VO_NEG };
enum vbin { VB_ADD, VB_SUB, VB_MUL, VB_AND, VB_OR, VB_XOR, VB_LSH, VB_RSH, VB_ARSH };

struct vop {
	uint8_t kind, bin, d, s1, s2, imm;
	int8_t cidx;      /* VO_MAT: the constant vector of lane offsets, -1: none */
	struct vaff f;    /* VO_LOAD/STORE: address; VO_MAT: the value */
};

/* A broadcast done once per entry: ymm = the invariant value f. */
struct vbcast {
	uint8_t ymm;
	struct vaff f;
};

/* The loop continues while (x P b) for every iteration of a chunk. */
struct vexit {
	struct vaff x;
	uint8_t cc;       /* enum x86_cc of P */
	bool w32;         /* a JMP32 compare */
	bool b_imm;
	int32_t imm;
	struct vaff b;    /* !b_imm: a = 0 */
};

struct vmem {
	struct vaff addr;
	bool store;
};

struct jit_vloop {
	uint32_t head, end;   /* the body: insns [head, end], end the back edge */
	uint8_t esize, lanes; /* E, W */
	uint8_t nops, nbcast, nexits, nalias, nconsts, niv;
	struct vop ops[VL_OPS];
	struct vbcast bcast[VL_VALUES];
	struct vexit exits[VL_EXITS];
	struct vaff alias[VL_ALIAS][2]; /* unsafe when 0 < [1] - [0] < W * E */
	uint8_t consts[VL_CONSTS][VL_BYTES];
	uint8_t iv[BPF_MAX_REG];
	int64_t iv_step[BPF_MAX_REG];
	uint32_t len;         /* bytes of the emitted block (the same in every pass) */
};

/* Can this machine run the vector blocks (AVX2, enabled by the OS)? */
bool jit_x86_vec_supported(void);
/* Plans every loop of prog that can be vectorized (innermost loops only):
 * *out is a malloc'd array of *n loops in program order (NULL, 0: none).
 * is_target: as jit_int.h's.  -ENOMEM or 0. */
int jit_x86_vec_plan(const struct bpfvm_prog *prog, const uint8_t *is_target, struct jit_vloop **out, uint32_t *n);
/* Emits loop l's vector block at the current position, and sets l->len
 * (the same in every pass: the block's size doesn't depend on where it
 * lands). */
void jit_x86_vec_emit(struct x86_emit *e, struct jit_vloop *l);

#endif
