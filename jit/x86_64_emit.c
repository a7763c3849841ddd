/*
 * x86-64 encoder: see x86_64_emit.h.  Each function emits one instruction;
 * the comment on each emit names it in Intel syntax.
 */
#include "x86_64_emit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void x86_init(struct x86_emit *e, bool count_only)
{
	memset(e, 0, sizeof(*e));
	e->grow = !count_only;
}

void x86_fini(struct x86_emit *e)
{
	if (e->grow)
		free(e->buf);
	e->buf = NULL;
	e->cap = e->len = 0;
}

void x86_fail(struct x86_emit *e, int err)
{
	if (!e->err)
		e->err = err;
}

static bool reserve(struct x86_emit *e, size_t n)
{
	if (e->err)
		return false;
	if (!e->grow) /* counting pass */
		return true;
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4096;
		while (cap < e->len + n)
			cap *= 2;
		uint8_t *nb = realloc(e->buf, cap);
		if (!nb) {
			x86_fail(e, -ENOMEM);
			return false;
		}
		e->buf = nb;
		e->cap = cap;
	}
	return true;
}

void x86_bytes(struct x86_emit *e, const uint8_t *b, size_t n)
{
	if (!reserve(e, n))
		return;
	if (e->buf)
		memcpy(e->buf + e->len, b, n);
	e->len += n;
}

void x86_u8(struct x86_emit *e, uint8_t b)
{
	x86_bytes(e, &b, 1);
}

void x86_u32(struct x86_emit *e, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	x86_bytes(e, b, 4);
}

static void u64le(struct x86_emit *e, uint64_t v)
{
	x86_u32(e, (uint32_t)v);
	x86_u32(e, (uint32_t)(v >> 32));
}

static void u16le(struct x86_emit *e, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	x86_bytes(e, b, 2);
}

void x86_patch32(struct x86_emit *e, size_t pos, uint32_t v)
{
	if (e->err || !e->buf || pos + 4 > e->len)
		return;
	for (int i = 0; i < 4; i++)
		e->buf[pos + i] = (uint8_t)(v >> (8 * i));
}

/* REX prefix; `force` for byte registers spl/bpl/sil/dil. */
static void rex(struct x86_emit *e, bool w, int reg, int index, int base, bool force)
{
	uint8_t r = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) | ((base & 8) ? 1 : 0));
	if (r != 0x40 || force)
		x86_u8(e, r);
}

static void modrm_rr(struct x86_emit *e, int reg, int rm)
{
	x86_u8(e, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

/* ModRM (+SIB, +disp) for [base + disp]. */
static void modrm_mem(struct x86_emit *e, int reg, int base, int32_t disp)
{
	uint8_t mod;
	if (disp == 0 && (base & 7) != X86_RBP)
		mod = 0;
	else if (x86_is_imm8(disp))
		mod = 1;
	else
		mod = 2;
	x86_u8(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | (base & 7)));
	if ((base & 7) == X86_RSP)
		x86_u8(e, 0x24); /* SIB: no index, base = rsp/r12 */
	if (mod == 1)
		x86_u8(e, (uint8_t)disp);
	else if (mod == 2)
		x86_u32(e, (uint32_t)disp);
}

/* ModRM + SIB (+disp) for [base + index * scale + disp]; m.index < 0:
 * plain [base + disp]. */
static void modrm_m(struct x86_emit *e, int reg, struct x86_mem m)
{
	if (m.index < 0) {
		modrm_mem(e, reg, m.base, m.disp);
		return;
	}
	uint8_t ss;
	switch (m.scale) {
	case 0: case 1: ss = 0; break;
	case 2: ss = 1; break;
	case 4: ss = 2; break;
	case 8: ss = 3; break;
	default: x86_fail(e, -EINVAL); return;
	}
	if ((m.index & 15) == X86_RSP) {
		x86_fail(e, -EINVAL); /* rsp cannot be an index */
		return;
	}
	uint8_t mod = (m.disp == 0 && (m.base & 7) != X86_RBP) ? 0 : x86_is_imm8(m.disp) ? 1 : 2;
	x86_u8(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | 4));
	x86_u8(e, (uint8_t)((ss << 6) | ((m.index & 7) << 3) | (m.base & 7)));
	if (mod == 1)
		x86_u8(e, (uint8_t)m.disp);
	else if (mod == 2)
		x86_u32(e, (uint32_t)m.disp);
}

static int mem_index(struct x86_mem m)
{
	return m.index < 0 ? 0 : m.index;
}

static bool is_byte_reg_needing_rex(int r)
{
	return r >= X86_RSP && r <= X86_RDI;
}

void x86_alu_rr(struct x86_emit *e, enum x86_alu op, bool w64, int dst, int src)
{
	rex(e, w64, src, 0, dst, false);
	x86_u8(e, (uint8_t)op); /* op dst, src */
	modrm_rr(e, src, dst);
}

void x86_alu_ri(struct x86_emit *e, enum x86_alu op, bool w64, int dst, int32_t imm)
{
	int digit = (int)op >> 3;
	rex(e, w64, 0, 0, dst, false);
	if (x86_is_imm8(imm)) {
		x86_u8(e, 0x83); /* op dst, imm8 */
		modrm_rr(e, digit, dst);
		x86_u8(e, (uint8_t)imm);
	} else if (dst == X86_RAX) {
		x86_u8(e, (uint8_t)(op + 4)); /* op rax, imm32 */
		x86_u32(e, (uint32_t)imm);
	} else {
		x86_u8(e, 0x81); /* op dst, imm32 */
		modrm_rr(e, digit, dst);
		x86_u32(e, (uint32_t)imm);
	}
}

void x86_test_rr(struct x86_emit *e, bool w64, int a, int b)
{
	rex(e, w64, b, 0, a, false);
	x86_u8(e, 0x85); /* test a, b */
	modrm_rr(e, b, a);
}

void x86_test_ri(struct x86_emit *e, bool w64, int a, int32_t imm)
{
	if (!w64 && imm >= 0 && imm <= 127) {
		/* test r8, imm8: same ZF and SF (bit 7 of the mask is clear,
		 * so SF is 0 either way); sil/dil need a REX prefix */
		rex(e, false, 0, 0, a, is_byte_reg_needing_rex(a));
		x86_u8(e, 0xf6);
		modrm_rr(e, 0, a);
		x86_u8(e, (uint8_t)imm);
		return;
	}
	rex(e, w64, 0, 0, a, false);
	if (a == X86_RAX) {
		x86_u8(e, 0xa9); /* test eax/rax, imm32 */
	} else {
		x86_u8(e, 0xf7); /* test a, imm32 */
		modrm_rr(e, 0, a);
	}
	x86_u32(e, (uint32_t)imm);
}

void x86_mov_rr(struct x86_emit *e, bool w64, int dst, int src)
{
	rex(e, w64, src, 0, dst, false);
	x86_u8(e, 0x89); /* mov dst, src */
	modrm_rr(e, src, dst);
}

void x86_movabs(struct x86_emit *e, int dst, uint64_t imm)
{
	rex(e, true, 0, 0, dst, false);
	x86_u8(e, (uint8_t)(0xb8 + (dst & 7))); /* movabs dst, imm64 */
	u64le(e, imm);
}

void x86_mov_imm(struct x86_emit *e, int dst, uint64_t imm)
{
	if (imm == 0) {
		x86_alu_rr(e, X86_XOR, false, dst, dst); /* xor dst32, dst32 */
	} else if (imm <= UINT32_MAX) {
		rex(e, false, 0, 0, dst, false);
		x86_u8(e, (uint8_t)(0xb8 + (dst & 7))); /* mov dst32, imm32 */
		x86_u32(e, (uint32_t)imm);
	} else if (x86_is_imm32((int64_t)imm)) {
		rex(e, true, 0, 0, dst, false);
		x86_u8(e, 0xc7); /* mov dst, simm32 */
		modrm_rr(e, 0, dst);
		x86_u32(e, (uint32_t)imm);
	} else {
		x86_movabs(e, dst, imm);
	}
}

void x86_imul_rr(struct x86_emit *e, bool w64, int dst, int src)
{
	rex(e, w64, dst, 0, src, false);
	x86_u8(e, 0x0f); /* imul dst, src */
	x86_u8(e, 0xaf);
	modrm_rr(e, dst, src);
}

void x86_imul_rri(struct x86_emit *e, bool w64, int dst, int src, int32_t imm)
{
	rex(e, w64, dst, 0, src, false);
	if (x86_is_imm8(imm)) {
		x86_u8(e, 0x6b); /* imul dst, src, imm8 */
		modrm_rr(e, dst, src);
		x86_u8(e, (uint8_t)imm);
	} else {
		x86_u8(e, 0x69); /* imul dst, src, imm32 */
		modrm_rr(e, dst, src);
		x86_u32(e, (uint32_t)imm);
	}
}

void x86_unary(struct x86_emit *e, enum x86_unary op, bool w64, int reg)
{
	rex(e, w64, 0, 0, reg, false);
	x86_u8(e, 0xf7); /* not/neg/mul/imul/div/idiv reg */
	modrm_rr(e, op, reg);
}

void x86_shift_ri(struct x86_emit *e, enum x86_shift op, bool w64, int reg, uint8_t n)
{
	rex(e, w64, 0, 0, reg, false);
	if (n == 1) {
		x86_u8(e, 0xd1); /* shl/shr/sar reg, 1 */
		modrm_rr(e, op, reg);
	} else {
		x86_u8(e, 0xc1); /* shl/shr/sar reg, imm8 */
		modrm_rr(e, op, reg);
		x86_u8(e, n);
	}
}

void x86_shift_cl(struct x86_emit *e, enum x86_shift op, bool w64, int reg)
{
	rex(e, w64, 0, 0, reg, false);
	x86_u8(e, 0xd3); /* shl/shr/sar reg, cl */
	modrm_rr(e, op, reg);
}

void x86_cqo(struct x86_emit *e)
{
	x86_u8(e, 0x48); /* cqo */
	x86_u8(e, 0x99);
}

void x86_cdq(struct x86_emit *e)
{
	x86_u8(e, 0x99); /* cdq */
}

void x86_movzx8_rr(struct x86_emit *e, int dst, int src)
{
	rex(e, false, dst, 0, src, is_byte_reg_needing_rex(src));
	x86_u8(e, 0x0f); /* movzx dst32, src8 */
	x86_u8(e, 0xb6);
	modrm_rr(e, dst, src);
}

void x86_movzx16_rr(struct x86_emit *e, int dst, int src)
{
	rex(e, false, dst, 0, src, false);
	x86_u8(e, 0x0f); /* movzx dst32, src16 */
	x86_u8(e, 0xb7);
	modrm_rr(e, dst, src);
}

void x86_movsx8_rr(struct x86_emit *e, bool w64, int dst, int src)
{
	rex(e, w64, dst, 0, src, is_byte_reg_needing_rex(src));
	x86_u8(e, 0x0f); /* movsx dst, src8 */
	x86_u8(e, 0xbe);
	modrm_rr(e, dst, src);
}

void x86_movsx16_rr(struct x86_emit *e, bool w64, int dst, int src)
{
	rex(e, w64, dst, 0, src, false);
	x86_u8(e, 0x0f); /* movsx dst, src16 */
	x86_u8(e, 0xbf);
	modrm_rr(e, dst, src);
}

void x86_movsxd_rr(struct x86_emit *e, int dst, int src)
{
	rex(e, true, dst, 0, src, false);
	x86_u8(e, 0x63); /* movsxd dst, src32 */
	modrm_rr(e, dst, src);
}

void x86_bswap(struct x86_emit *e, bool w64, int reg)
{
	rex(e, w64, 0, 0, reg, false);
	x86_u8(e, 0x0f); /* bswap reg */
	x86_u8(e, (uint8_t)(0xc8 + (reg & 7)));
}

void x86_rol16_8(struct x86_emit *e, int reg)
{
	x86_u8(e, 0x66);
	rex(e, false, 0, 0, reg, false);
	x86_u8(e, 0xc1); /* rol reg16, 8 */
	modrm_rr(e, X86_ROL, reg);
	x86_u8(e, 8);
}

void x86_setcc(struct x86_emit *e, enum x86_cc cc, int reg)
{
	rex(e, false, 0, 0, reg, is_byte_reg_needing_rex(reg));
	x86_u8(e, 0x0f); /* setcc reg8 */
	x86_u8(e, (uint8_t)(0x90 + cc));
	modrm_rr(e, 0, reg);
}

void x86_cmov(struct x86_emit *e, enum x86_cc cc, bool w64, int dst, int src)
{
	rex(e, w64, dst, 0, src, false);
	x86_u8(e, 0x0f); /* cmovcc dst, src */
	x86_u8(e, (uint8_t)(0x40 + cc));
	modrm_rr(e, dst, src);
}

void x86_xchg_rr(struct x86_emit *e, int a, int b)
{
	rex(e, true, b, 0, a, false);
	x86_u8(e, 0x87); /* xchg a, b */
	modrm_rr(e, b, a);
}

/* ---- memory ---- */

void x86_load_m(struct x86_emit *e, unsigned size, int dst, struct x86_mem m)
{
	switch (size) {
	case 1:
		rex(e, false, dst, mem_index(m), m.base, false);
		x86_u8(e, 0x0f); /* movzx dst32, byte [m] */
		x86_u8(e, 0xb6);
		break;
	case 2:
		rex(e, false, dst, mem_index(m), m.base, false);
		x86_u8(e, 0x0f); /* movzx dst32, word [m] */
		x86_u8(e, 0xb7);
		break;
	case 4:
		rex(e, false, dst, mem_index(m), m.base, false);
		x86_u8(e, 0x8b); /* mov dst32, dword [m] */
		break;
	case 8:
		rex(e, true, dst, mem_index(m), m.base, false);
		x86_u8(e, 0x8b); /* mov dst, qword [m] */
		break;
	default:
		x86_fail(e, -EINVAL);
		return;
	}
	modrm_m(e, dst, m);
}

void x86_load_sx_m(struct x86_emit *e, unsigned size, int dst, struct x86_mem m)
{
	rex(e, true, dst, mem_index(m), m.base, false);
	switch (size) {
	case 1:
		x86_u8(e, 0x0f); /* movsx dst, byte [m] */
		x86_u8(e, 0xbe);
		break;
	case 2:
		x86_u8(e, 0x0f); /* movsx dst, word [m] */
		x86_u8(e, 0xbf);
		break;
	case 4:
		x86_u8(e, 0x63); /* movsxd dst, dword [m] */
		break;
	default:
		x86_fail(e, -EINVAL);
		return;
	}
	modrm_m(e, dst, m);
}

void x86_store_m(struct x86_emit *e, unsigned size, struct x86_mem m, int src)
{
	switch (size) {
	case 1:
		rex(e, false, src, mem_index(m), m.base, is_byte_reg_needing_rex(src));
		x86_u8(e, 0x88); /* mov byte [m], src8 */
		break;
	case 2:
		x86_u8(e, 0x66);
		rex(e, false, src, mem_index(m), m.base, false);
		x86_u8(e, 0x89); /* mov word [m], src16 */
		break;
	case 4:
		rex(e, false, src, mem_index(m), m.base, false);
		x86_u8(e, 0x89); /* mov dword [m], src32 */
		break;
	case 8:
		rex(e, true, src, mem_index(m), m.base, false);
		x86_u8(e, 0x89); /* mov qword [m], src */
		break;
	default:
		x86_fail(e, -EINVAL);
		return;
	}
	modrm_m(e, src, m);
}

void x86_store_imm_m(struct x86_emit *e, unsigned size, struct x86_mem m, int32_t imm)
{
	switch (size) {
	case 1:
		rex(e, false, 0, mem_index(m), m.base, false);
		x86_u8(e, 0xc6); /* mov byte [m], imm8 */
		modrm_m(e, 0, m);
		x86_u8(e, (uint8_t)imm);
		return;
	case 2:
		x86_u8(e, 0x66);
		rex(e, false, 0, mem_index(m), m.base, false);
		x86_u8(e, 0xc7); /* mov word [m], imm16 */
		modrm_m(e, 0, m);
		u16le(e, (uint16_t)imm);
		return;
	case 4:
	case 8:
		rex(e, size == 8, 0, mem_index(m), m.base, false);
		x86_u8(e, 0xc7); /* mov d/qword [m], simm32 */
		modrm_m(e, 0, m);
		x86_u32(e, (uint32_t)imm);
		return;
	default:
		x86_fail(e, -EINVAL);
	}
}

static struct x86_mem mem_bd(int base, int32_t disp)
{
	return (struct x86_mem){ .base = base, .index = -1, .disp = disp };
}

void x86_load(struct x86_emit *e, unsigned size, int dst, int base, int32_t disp)
{
	x86_load_m(e, size, dst, mem_bd(base, disp));
}

void x86_load_sx(struct x86_emit *e, unsigned size, int dst, int base, int32_t disp)
{
	x86_load_sx_m(e, size, dst, mem_bd(base, disp));
}

void x86_store(struct x86_emit *e, unsigned size, int base, int32_t disp, int src)
{
	x86_store_m(e, size, mem_bd(base, disp), src);
}

void x86_store_imm(struct x86_emit *e, unsigned size, int base, int32_t disp, int32_t imm)
{
	x86_store_imm_m(e, size, mem_bd(base, disp), imm);
}

/* op [m], src and op [m], imm at any access size: the read-modify-write
 * (and compare) forms of fused load/op/store sequences. */
void x86_alu_m_r(struct x86_emit *e, enum x86_alu op, unsigned size, struct x86_mem m, int src)
{
	switch (size) {
	case 1:
		rex(e, false, src, mem_index(m), m.base, is_byte_reg_needing_rex(src));
		x86_u8(e, (uint8_t)(op - 1)); /* op byte [m], src8 */
		break;
	case 2:
		x86_u8(e, 0x66);
		rex(e, false, src, mem_index(m), m.base, false);
		x86_u8(e, (uint8_t)op); /* op word [m], src16 */
		break;
	case 4:
	case 8:
		rex(e, size == 8, src, mem_index(m), m.base, false);
		x86_u8(e, (uint8_t)op); /* op d/qword [m], src */
		break;
	default:
		x86_fail(e, -EINVAL);
		return;
	}
	modrm_m(e, src, m);
}

void x86_alu_m_i(struct x86_emit *e, enum x86_alu op, unsigned size, struct x86_mem m, int32_t imm)
{
	switch (size) {
	case 1:
		rex(e, false, 0, mem_index(m), m.base, false);
		x86_u8(e, 0x80); /* op byte [m], imm8 */
		modrm_m(e, (int)op >> 3, m);
		x86_u8(e, (uint8_t)imm);
		return;
	case 2:
		x86_u8(e, 0x66);
		rex(e, false, 0, mem_index(m), m.base, false);
		if (x86_is_imm8(imm)) {
			x86_u8(e, 0x83); /* op word [m], imm8 (sign-extended) */
			modrm_m(e, (int)op >> 3, m);
			x86_u8(e, (uint8_t)imm);
		} else {
			x86_u8(e, 0x81); /* op word [m], imm16 */
			modrm_m(e, (int)op >> 3, m);
			u16le(e, (uint16_t)imm);
		}
		return;
	case 4:
	case 8:
		rex(e, size == 8, 0, mem_index(m), m.base, false);
		if (x86_is_imm8(imm)) {
			x86_u8(e, 0x83); /* op d/qword [m], imm8 (sign-extended) */
			modrm_m(e, (int)op >> 3, m);
			x86_u8(e, (uint8_t)imm);
		} else {
			x86_u8(e, 0x81); /* op d/qword [m], imm32 (qword: sign-extended) */
			modrm_m(e, (int)op >> 3, m);
			x86_u32(e, (uint32_t)imm);
		}
		return;
	default:
		x86_fail(e, -EINVAL);
	}
}

void x86_lea_m(struct x86_emit *e, bool w64, int dst, struct x86_mem m)
{
	rex(e, w64, dst, mem_index(m), m.base, false);
	x86_u8(e, 0x8d); /* lea dst, [m] */
	modrm_m(e, dst, m);
}

void x86_lea(struct x86_emit *e, int dst, int base, int32_t disp)
{
	rex(e, true, dst, 0, base, false);
	x86_u8(e, 0x8d); /* lea dst, [base+disp] */
	modrm_mem(e, dst, base, disp);
}

void x86_lea_bi(struct x86_emit *e, int dst, int base, int index)
{
	if ((index & 15) == X86_RSP) {
		x86_fail(e, -EINVAL); /* rsp cannot be an index */
		return;
	}
	rex(e, true, dst, index, base, false);
	x86_u8(e, 0x8d); /* lea dst, [base+index] */
	if ((base & 7) == X86_RBP) {
		x86_u8(e, (uint8_t)(0x44 | ((dst & 7) << 3)));
		x86_u8(e, (uint8_t)(((index & 7) << 3) | (base & 7)));
		x86_u8(e, 0);
	} else {
		x86_u8(e, (uint8_t)(0x04 | ((dst & 7) << 3)));
		x86_u8(e, (uint8_t)(((index & 7) << 3) | (base & 7)));
	}
}

void x86_load_bis(struct x86_emit *e, int dst, int base, int index, unsigned scale, int32_t disp)
{
	uint8_t ss;
	switch (scale) {
	case 1: ss = 0; break;
	case 2: ss = 1; break;
	case 4: ss = 2; break;
	case 8: ss = 3; break;
	default: x86_fail(e, -EINVAL); return;
	}
	if ((index & 15) == X86_RSP) {
		x86_fail(e, -EINVAL);
		return;
	}
	rex(e, true, dst, index, base, false);
	x86_u8(e, 0x8b); /* mov dst, [base+index*scale+disp] */
	uint8_t mod = (disp == 0 && (base & 7) != X86_RBP) ? 0 : x86_is_imm8(disp) ? 1 : 2;
	x86_u8(e, (uint8_t)((mod << 6) | ((dst & 7) << 3) | 4));
	x86_u8(e, (uint8_t)((ss << 6) | ((index & 7) << 3) | (base & 7)));
	if (mod == 1)
		x86_u8(e, (uint8_t)disp);
	else if (mod == 2)
		x86_u32(e, (uint32_t)disp);
}

void x86_alu_mr(struct x86_emit *e, bool lock, enum x86_alu op, bool w64, int base, int32_t disp, int src)
{
	if (lock)
		x86_u8(e, 0xf0); /* lock */
	rex(e, w64, src, 0, base, false);
	x86_u8(e, (uint8_t)op); /* op [base+disp], src */
	modrm_mem(e, src, base, disp);
}

void x86_alu_mi(struct x86_emit *e, enum x86_alu op, bool w64, int base, int32_t disp, int32_t imm)
{
	rex(e, w64, 0, 0, base, false);
	if (x86_is_imm8(imm)) {
		x86_u8(e, 0x83); /* op [base+disp], imm8 */
		modrm_mem(e, (int)op >> 3, base, disp);
		x86_u8(e, (uint8_t)imm);
	} else {
		x86_u8(e, 0x81); /* op [base+disp], imm32 */
		modrm_mem(e, (int)op >> 3, base, disp);
		x86_u32(e, (uint32_t)imm);
	}
}

void x86_lock_xadd(struct x86_emit *e, bool w64, int base, int32_t disp, int src)
{
	x86_u8(e, 0xf0); /* lock */
	rex(e, w64, src, 0, base, false);
	x86_u8(e, 0x0f); /* xadd [base+disp], src */
	x86_u8(e, 0xc1);
	modrm_mem(e, src, base, disp);
}

void x86_xchg_mr(struct x86_emit *e, bool w64, int base, int32_t disp, int src)
{
	rex(e, w64, src, 0, base, false);
	x86_u8(e, 0x87); /* xchg [base+disp], src (locked by the CPU) */
	modrm_mem(e, src, base, disp);
}

void x86_lock_cmpxchg(struct x86_emit *e, bool w64, int base, int32_t disp, int src)
{
	x86_u8(e, 0xf0); /* lock */
	rex(e, w64, src, 0, base, false);
	x86_u8(e, 0x0f); /* cmpxchg [base+disp], src */
	x86_u8(e, 0xb1);
	modrm_mem(e, src, base, disp);
}

/* ---- control flow ---- */

void x86_push(struct x86_emit *e, int reg)
{
	rex(e, false, 0, 0, reg, false);
	x86_u8(e, (uint8_t)(0x50 + (reg & 7))); /* push reg */
}

void x86_pop(struct x86_emit *e, int reg)
{
	rex(e, false, 0, 0, reg, false);
	x86_u8(e, (uint8_t)(0x58 + (reg & 7))); /* pop reg */
}

void x86_ret(struct x86_emit *e)
{
	x86_u8(e, 0xc3); /* ret */
}

void x86_leave(struct x86_emit *e)
{
	x86_u8(e, 0xc9); /* leave */
}

void x86_call_reg(struct x86_emit *e, int reg)
{
	rex(e, false, 0, 0, reg, false);
	x86_u8(e, 0xff); /* call reg */
	modrm_rr(e, 2, reg);
}

void x86_jmp_reg(struct x86_emit *e, int reg)
{
	rex(e, false, 0, 0, reg, false);
	x86_u8(e, 0xff); /* jmp reg */
	modrm_rr(e, 4, reg);
}

void x86_jmp_rel8(struct x86_emit *e, int8_t rel)
{
	x86_u8(e, 0xeb); /* jmp rel8 */
	x86_u8(e, (uint8_t)rel);
}

void x86_jmp_rel32(struct x86_emit *e, int32_t rel)
{
	x86_u8(e, 0xe9); /* jmp rel32 */
	x86_u32(e, (uint32_t)rel);
}

void x86_jcc_rel8(struct x86_emit *e, enum x86_cc cc, int8_t rel)
{
	x86_u8(e, (uint8_t)(0x70 + cc)); /* jcc rel8 */
	x86_u8(e, (uint8_t)rel);
}

void x86_jcc_rel32(struct x86_emit *e, enum x86_cc cc, int32_t rel)
{
	x86_u8(e, 0x0f); /* jcc rel32 */
	x86_u8(e, (uint8_t)(0x80 + cc));
	x86_u32(e, (uint32_t)rel);
}

void x86_call_rel32(struct x86_emit *e, int32_t rel)
{
	x86_u8(e, 0xe8); /* call rel32 */
	x86_u32(e, (uint32_t)rel);
}

unsigned x86_jmp_to(struct x86_emit *e, int64_t target, bool short_ok)
{
	int64_t rel8 = target - ((int64_t)e->len + 2);
	if (short_ok && x86_is_imm8(rel8)) {
		x86_jmp_rel8(e, (int8_t)rel8);
		return 2;
	}
	int64_t rel32 = target - ((int64_t)e->len + 5);
	if (!x86_is_imm32(rel32))
		x86_fail(e, -E2BIG);
	x86_jmp_rel32(e, (int32_t)rel32);
	return 5;
}

unsigned x86_jcc_to(struct x86_emit *e, enum x86_cc cc, int64_t target, bool short_ok)
{
	int64_t rel8 = target - ((int64_t)e->len + 2);
	if (short_ok && x86_is_imm8(rel8)) {
		x86_jcc_rel8(e, cc, (int8_t)rel8);
		return 2;
	}
	int64_t rel32 = target - ((int64_t)e->len + 6);
	if (!x86_is_imm32(rel32))
		x86_fail(e, -E2BIG);
	x86_jcc_rel32(e, cc, (int32_t)rel32);
	return 6;
}

void x86_nops(struct x86_emit *e, unsigned n)
{
	/* The recommended multi-byte nop forms (Intel SDM, NOP). */
	static const uint8_t nops[9][9] = {
		{ 0 },
		{ 0x90 },
		{ 0x66, 0x90 },
		{ 0x0f, 0x1f, 0x00 },
		{ 0x0f, 0x1f, 0x40, 0x00 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	};
	while (n) {
		unsigned k = n > 8 ? 8 : n;
		x86_bytes(e, nops[k], k); /* nop (k bytes) */
		n -= k;
	}
}

void x86_ud2(struct x86_emit *e)
{
	x86_u8(e, 0x0f); /* ud2 */
	x86_u8(e, 0x0b);
}

void x86_rep_stosq(struct x86_emit *e)
{
	static const uint8_t b[3] = { 0xf3, 0x48, 0xab };
	x86_bytes(e, b, 3); /* rep stosq */
}

/* ---- AVX2 ---- */

/* C4 [~R ~X ~B mmmmm] [W ~vvvv L pp] */
static void vex3(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, bool w, bool l256, int reg, int index,
                 int base, int vvvv)
{
	uint8_t b1 = (uint8_t)(((reg & 8) ? 0 : 0x80) | ((index & 8) ? 0 : 0x40) | ((base & 8) ? 0 : 0x20) | map);
	uint8_t b2 = (uint8_t)((w ? 0x80 : 0) | ((~(vvvv < 0 ? 0 : vvvv) & 15) << 3) | (l256 ? 4 : 0) | pp);
	x86_u8(e, 0xc4);
	x86_u8(e, b1);
	x86_u8(e, b2);
}

void x86_vop_rr(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                int vvvv, int rm)
{
	vex3(e, pp, map, w, l256, reg, 0, rm, vvvv);
	x86_u8(e, opc); /* vop reg, vvvv, rm */
	modrm_rr(e, reg, rm);
}

void x86_vop_rm(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                int vvvv, struct x86_mem m)
{
	vex3(e, pp, map, w, l256, reg, mem_index(m), m.base, vvvv);
	x86_u8(e, opc); /* vop reg, vvvv, [m] */
	modrm_m(e, reg, m);
}

void x86_vop_rip(struct x86_emit *e, enum x86_vpp pp, enum x86_vmap map, uint8_t opc, bool w, bool l256, int reg,
                 int vvvv, int64_t target)
{
	vex3(e, pp, map, w, l256, reg, 0, 0, vvvv);
	x86_u8(e, opc); /* vop reg, vvvv, [rip + disp32] */
	x86_u8(e, (uint8_t)(((reg & 7) << 3) | 5));
	int64_t rel = target - ((int64_t)e->len + 4);
	if (!x86_is_imm32(rel))
		x86_fail(e, -E2BIG);
	x86_u32(e, (uint32_t)rel);
}

void x86_vshift_ri(struct x86_emit *e, uint8_t opc, int digit, int dst, int src, uint8_t imm)
{
	vex3(e, X86_VPP_66, X86_V0F, false, true, 0, 0, src, dst);
	x86_u8(e, opc); /* vps{ll,rl,ra}{w,d,q} dst, src, imm8 */
	modrm_rr(e, digit, src);
	x86_u8(e, imm);
}

void x86_vzeroupper(struct x86_emit *e)
{
	static const uint8_t b[3] = { 0xc5, 0xf8, 0x77 };
	x86_bytes(e, b, 3); /* vzeroupper */
}
