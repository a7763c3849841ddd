/*
 * x86-64 instruction encoder: appends machine code bytes to a buffer and
 * knows nothing about BPF.  Pure byte emission, so it compiles and its
 * golden-byte tests run on any host.
 *
 * The buffer grows on demand (no fixed size limit).  With buf == NULL the
 * encoder only counts bytes (sizing passes).  The first error (allocation
 * failure, an operand the encoding cannot express) is recorded in e->err
 * and every later call is ignored, so callers check once at the end.
 * Prefix: x86_ (internal to jit/).
 */
#ifndef BPFVM_X86_64_EMIT_H
#define BPFVM_X86_64_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum x86_gpr {
	X86_RAX = 0, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};

/* Condition codes (the low nibble of Jcc/SETcc/CMOVcc). */
enum x86_cc {
	X86_CC_O = 0x0, X86_CC_NO = 0x1, X86_CC_B = 0x2, X86_CC_AE = 0x3,
	X86_CC_E = 0x4, X86_CC_NE = 0x5, X86_CC_BE = 0x6, X86_CC_A = 0x7,
	X86_CC_S = 0x8, X86_CC_NS = 0x9, X86_CC_L = 0xc, X86_CC_GE = 0xd,
	X86_CC_LE = 0xe, X86_CC_G = 0xf,
};

/* Two-operand ALU ops: the "r/m, reg" opcode byte; the /digit of the
 * immediate forms is (opcode >> 3). */
enum x86_alu {
	X86_ADD = 0x01, X86_OR = 0x09, X86_ADC = 0x11, X86_SBB = 0x19,
	X86_AND = 0x21, X86_SUB = 0x29, X86_XOR = 0x31, X86_CMP = 0x39,
};

/* Shift /digit. */
enum x86_shift { X86_ROL = 0, X86_ROR = 1, X86_SHL = 4, X86_SHR = 5, X86_SAR = 7 };

/* Group-3 unary /digit (opcode F7). */
enum x86_unary { X86_NOT = 2, X86_NEG = 3, X86_MUL = 4, X86_IMUL1 = 5, X86_DIV = 6, X86_IDIV = 7 };

struct x86_emit {
	uint8_t *buf;  /* NULL: count only */
	size_t len;    /* bytes emitted so far */
	size_t cap;
	bool grow;     /* buf is malloc'd by the encoder and may be realloc'd */
	int err;       /* first error (negative errno), 0 if none */
};

void x86_init(struct x86_emit *e, bool count_only);
void x86_fini(struct x86_emit *e); /* frees a grown buffer */
/* Records err unless an earlier error is already recorded. */
void x86_fail(struct x86_emit *e, int err);

void x86_bytes(struct x86_emit *e, const uint8_t *b, size_t n);
void x86_u8(struct x86_emit *e, uint8_t b);
void x86_u32(struct x86_emit *e, uint32_t v);
/* Overwrites 4 bytes at pos (patching a rel32 emitted earlier). */
void x86_patch32(struct x86_emit *e, size_t pos, uint32_t v);

static inline bool x86_is_imm8(int64_t v) { return v >= -128 && v <= 127; }
static inline bool x86_is_imm32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* ---- register/register and register/immediate ---- */
void x86_alu_rr(struct x86_emit *e, enum x86_alu op, bool w64, int dst, int src);
void x86_alu_ri(struct x86_emit *e, enum x86_alu op, bool w64, int dst, int32_t imm);
void x86_test_rr(struct x86_emit *e, bool w64, int a, int b);
void x86_test_ri(struct x86_emit *e, bool w64, int a, int32_t imm);
void x86_mov_rr(struct x86_emit *e, bool w64, int dst, int src);
/* Loads a 64-bit constant with the shortest encoding (xor, mov r32,
 * mov r64 sign-extended, movabs). */
void x86_mov_imm(struct x86_emit *e, int dst, uint64_t imm);
void x86_movabs(struct x86_emit *e, int dst, uint64_t imm); /* always 10 bytes */
void x86_imul_rr(struct x86_emit *e, bool w64, int dst, int src);
void x86_imul_rri(struct x86_emit *e, bool w64, int dst, int src, int32_t imm);
void x86_unary(struct x86_emit *e, enum x86_unary op, bool w64, int reg);
void x86_shift_ri(struct x86_emit *e, enum x86_shift op, bool w64, int reg, uint8_t n);
void x86_shift_cl(struct x86_emit *e, enum x86_shift op, bool w64, int reg);
void x86_cqo(struct x86_emit *e);  /* rdx:rax = sext(rax) */
void x86_cdq(struct x86_emit *e);  /* edx:eax = sext(eax) */
void x86_movzx8_rr(struct x86_emit *e, int dst, int src);
void x86_movzx16_rr(struct x86_emit *e, int dst, int src);
void x86_movsx8_rr(struct x86_emit *e, bool w64, int dst, int src);
void x86_movsx16_rr(struct x86_emit *e, bool w64, int dst, int src);
void x86_movsxd_rr(struct x86_emit *e, int dst, int src);
void x86_bswap(struct x86_emit *e, bool w64, int reg);
void x86_rol16_8(struct x86_emit *e, int reg);  /* rol r16, 8: swaps the low two bytes */
void x86_setcc(struct x86_emit *e, enum x86_cc cc, int reg);
void x86_cmov(struct x86_emit *e, enum x86_cc cc, bool w64, int dst, int src);
void x86_xchg_rr(struct x86_emit *e, int a, int b);

/* ---- memory: [base + disp] ---- */
/* A memory operand [base + index * scale + disp]; index < 0: none (and
 * scale is ignored); scale 1, 2, 4 or 8 (0 means 1).  index may not be
 * rsp. */
struct x86_mem {
	int base;
	int index;
	int32_t disp;
	unsigned scale;
};
void x86_load_m(struct x86_emit *e, unsigned size, int dst, struct x86_mem m);
void x86_load_sx_m(struct x86_emit *e, unsigned size, int dst, struct x86_mem m);
void x86_store_m(struct x86_emit *e, unsigned size, struct x86_mem m, int src);
void x86_store_imm_m(struct x86_emit *e, unsigned size, struct x86_mem m, int32_t imm);
/* op [m], src / op [m], imm with an access of 1, 2, 4 or 8 bytes (no lock):
 * fused load/op/store and load/compare sequences. */
void x86_alu_m_r(struct x86_emit *e, enum x86_alu op, unsigned size, struct x86_mem m, int src);
void x86_alu_m_i(struct x86_emit *e, enum x86_alu op, unsigned size, struct x86_mem m, int32_t imm);
/* lea dst, [m]; !w64: the 32-bit result, zero-extended (multiply by 3, 5
 * or 9 plus a constant in one instruction). */
void x86_lea_m(struct x86_emit *e, bool w64, int dst, struct x86_mem m);
/* Zero-extending load of size 1, 2, 4 or 8 bytes. */
void x86_load(struct x86_emit *e, unsigned size, int dst, int base, int32_t disp);
/* Sign-extending load of size 1, 2 or 4 into a 64-bit register. */
void x86_load_sx(struct x86_emit *e, unsigned size, int dst, int base, int32_t disp);
void x86_store(struct x86_emit *e, unsigned size, int base, int32_t disp, int src);
void x86_store_imm(struct x86_emit *e, unsigned size, int base, int32_t disp, int32_t imm);
void x86_lea(struct x86_emit *e, int dst, int base, int32_t disp);
/* lea dst, [base + index] */
void x86_lea_bi(struct x86_emit *e, int dst, int base, int index);
/* [base+disp] op= src, with an optional lock prefix. */
void x86_alu_mr(struct x86_emit *e, bool lock, enum x86_alu op, bool w64, int base, int32_t disp, int src);
/* op [base+disp], imm (cmp/sub/add on memory, e.g. budget counters). */
void x86_alu_mi(struct x86_emit *e, enum x86_alu op, bool w64, int base, int32_t disp, int32_t imm);
void x86_lock_xadd(struct x86_emit *e, bool w64, int base, int32_t disp, int src);
void x86_xchg_mr(struct x86_emit *e, bool w64, int base, int32_t disp, int src); /* implicitly locked */
void x86_lock_cmpxchg(struct x86_emit *e, bool w64, int base, int32_t disp, int src);
/* mov dst, [base + index*scale + disp] (scale 1, 2, 4, 8), 64-bit */
void x86_load_bis(struct x86_emit *e, int dst, int base, int index, unsigned scale, int32_t disp);

/* ---- control flow ---- */
void x86_push(struct x86_emit *e, int reg);
void x86_pop(struct x86_emit *e, int reg);
void x86_ret(struct x86_emit *e);
void x86_leave(struct x86_emit *e);
void x86_call_reg(struct x86_emit *e, int reg);
void x86_jmp_reg(struct x86_emit *e, int reg);
/* rel is relative to the end of the instruction. */
void x86_jmp_rel8(struct x86_emit *e, int8_t rel);
void x86_jmp_rel32(struct x86_emit *e, int32_t rel);
void x86_jcc_rel8(struct x86_emit *e, enum x86_cc cc, int8_t rel);
void x86_jcc_rel32(struct x86_emit *e, enum x86_cc cc, int32_t rel);
void x86_call_rel32(struct x86_emit *e, int32_t rel);
/* Jumps to absolute buffer offset `target` from the current position,
 * short when `short_ok` and the distance fits in rel8.  Returns the size
 * used (2, 5 or 6). */
unsigned x86_jmp_to(struct x86_emit *e, int64_t target, bool short_ok);
unsigned x86_jcc_to(struct x86_emit *e, enum x86_cc cc, int64_t target, bool short_ok);
/* Multi-byte nops filling n bytes. */
void x86_nops(struct x86_emit *e, unsigned n);
void x86_ud2(struct x86_emit *e);
/* rep stosq: rcx qwords of rax to [rdi] */
void x86_rep_stosq(struct x86_emit *e);

/* ---- AVX2 (VEX-encoded; the loop vectorizer, x86_64_vec.c) ----
 * Always the 3-byte VEX form (C4), so an instruction's size never depends
 * on its registers.  Vector registers are numbered 0-15 (xmm/ymm). */
enum x86_vmap { X86_V0F = 1, X86_V0F38 = 2, X86_V0F3A = 3 };
enum x86_vpp { X86_VPP_NONE = 0, X86_VPP_66 = 1, X86_VPP_F3 = 2, X86_VPP_F2 = 3 };
/* opc reg, vvvv, rm (register form); vvvv < 0: unused.  l256: ymm, w: VEX.W. */
void x86_vop_rr(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                int vvvv, int rm);
/* opc reg, vvvv, [m] */
void x86_vop_rm(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                int vvvv, struct x86_mem m);
/* opc reg, vvvv, [rip + (target - end of this instruction)]: target is
 * a buffer offset (constants emitted next to the code). */
void x86_vop_rip(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                 int vvvv, int64_t target);
/* Shift by an immediate, group 71/72/73 /digit ib: dst = src shifted. */
void x86_vshift_ri(struct x86_emit *e, uint8_t opc, int digit, int dst, int src, uint8_t imm);
void x86_vzeroupper(struct x86_emit *e);

#endif
