/*
 * Loop vectorizer: an innermost loop whose iterations touch consecutive
 * elements runs W iterations at a time in 256-bit AVX2 registers, in front
 * of its unchanged scalar code.
 *
 * Which loops.  The body is the instructions from the loop head h to its
 * only back edge e (a jump to h, conditional or not); nothing jumps into the body
 * but to h, and every other jump in it leaves the loop (a side exit).  The
 * body holds only ALU operations, loads, stores and those jumps: no call,
 * no atomic, no stack access.  Every register the body writes is either an
 * induction variable (its only writes are `r += imm` / `r -= imm`, 64-bit)
 * or a temporary (written before the body reads it).  Symbolic execution of
 * one iteration then gives every value as either
 *   affine:  sum(coef * register at the chunk's start) + c + a * k, for
 *            iteration k of the chunk (a = 0: the same in every iteration),
 *   vector:  anything else, one lane per iteration, in a ymm register;
 * every load and store must be at an affine address advancing by exactly
 * its size per iteration (all of one size E: W = 32 / E lanes), every jump
 * must compare affine values, and every vector operation must give each
 * lane's low E bytes exactly (add, sub, mul, and, or, xor and left shifts
 * do at any width; right shifts only at the operation's own width).
 *
 * What runs.  Jumps to h from outside the loop land on the vector block:
 *   alias checks      (once per entry; below)
 *   invariants        broadcast into ymm registers
 *   chunk:            trip checks: would all W iterations run to the back
 *                     edge and take it?  If not, leave to the scalar code.
 *                     The body's operations on W lanes, in body order.
 *                     Induction variables += W * step.  Repeat.
 *   vzeroupper, then the scalar loop as the translator emits it, whose back
 *   edge goes to its own head, not to the vector block.
 * The scalar loop finishes the remaining iterations, at least one, so every
 * register it leaves behind is computed by scalar code.  That needs every
 * temporary to be written before the body's first side exit (a side exit
 * taken in the first scalar iteration must not see a temporary the vector
 * chunk did not compute), which the planner checks.
 *
 * Why it is the same program.  A chunk runs only when the trip checks prove
 * that the scalar code would run those W iterations in full, so it makes
 * exactly the accesses they would (no byte the program would not touch,
 * which is all the verifier proved safe); only their order changes: every
 * access of one body instruction for all W iterations, then the next
 * instruction's.  That reorders an access Y_j of iteration j before an
 * earlier-in-the-body access X_k of a later iteration k > j; if one of the
 * two stores and they overlap, the result differs.  With E-byte accesses at
 * X + kE and Y + jE they overlap for some 0 <= j < k < W exactly when
 * 0 < Y - X < W * E, which the alias checks test once per entry (the
 * distance is the same in every chunk; it is a constant when both addresses
 * use the same registers, and such a loop is refused at plan time).
 *
 * Trip checks.  A jump compares an affine x_k = X + a*k with B (affine, a =
 * 0, or an immediate); the loop continues while P(x_k) holds (the jump's
 * condition for the back edge, its negation for a side exit).  If X + a(W-1)
 * does not wrap (carry, borrow or signed overflow, as P is unsigned or
 * signed, at the compare's width), x_k is monotonic over the chunk and an
 * ordered P holds for all k when it holds at k = 0 and k = W-1.  For P =
 * "!=", B must lie more than |a|(W-1) beyond X in the direction x_k moves
 * (B - X, or X - B, as unsigned), which rules out every x_k.
 *
 * Only for unchecked images (checked mode keeps one check per access), not
 * with constant blinding (the block holds constant vectors in the image),
 * and only where the CPU and OS support AVX2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jit_int.h"
#include "vm.h"
#include "x86_64_vec.h"

/* ---- planning ---- */

enum vkind { VK_UNDEF, VK_AFF, VK_VEC };
struct vval {
	uint8_t kind;
	uint8_t ymm;    /* VK_VEC */
	struct vaff f;  /* VK_AFF */
};

struct vplanner {
	const struct bpfvm_prog *prog;
	struct jit_vloop *l;
	struct vval r[BPF_MAX_REG];
	uint8_t nymm;
	struct vmem mem[VL_MEMS];
	uint8_t nmem;
	bool written[BPF_MAX_REG];
	uint32_t first_write[BPF_MAX_REG];
	uint32_t first_exit;
};

static enum vm_op op_at(const struct bpfvm_prog *prog, uint32_t i)
{
	return prog->ops ? (enum vm_op)prog->ops[i] : vm_decode(&prog->insns[i]);
}

static struct vaff aff_const(int64_t c)
{
	return (struct vaff){ .c = c };
}

static bool aff_is_const(const struct vaff *f)
{
	return !f->n && !f->a;
}

/* f += k * g; false when the terms don't fit. */
static bool aff_add(struct vaff *f, const struct vaff *g, int64_t k)
{
	for (unsigned i = 0; i < g->n; i++) {
		unsigned j = 0;
		while (j < f->n && f->reg[j] != g->reg[i])
			j++;
		if (j == f->n) {
			if (f->n == VL_TERMS)
				return false;
			f->reg[f->n] = g->reg[i];
			f->coef[f->n++] = 0;
		}
		f->coef[j] = (int64_t)((uint64_t)f->coef[j] + (uint64_t)g->coef[i] * (uint64_t)k);
	}
	/* drop cancelled terms */
	unsigned o = 0;
	for (unsigned i = 0; i < f->n; i++)
		if (f->coef[i]) {
			f->reg[o] = f->reg[i];
			f->coef[o++] = f->coef[i];
		}
	f->n = (uint8_t)o;
	f->c = (int64_t)((uint64_t)f->c + (uint64_t)g->c * (uint64_t)k);
	f->a = (int64_t)((uint64_t)f->a + (uint64_t)g->a * (uint64_t)k);
	f->w32 |= g->w32;
	return true;
}

static void aff_scale(struct vaff *f, int64_t k)
{
	for (unsigned i = 0; i < f->n; i++)
		f->coef[i] = (int64_t)((uint64_t)f->coef[i] * (uint64_t)k);
	f->c = (int64_t)((uint64_t)f->c * (uint64_t)k);
	f->a = (int64_t)((uint64_t)f->a * (uint64_t)k);
}

static bool aff_eq(const struct vaff *x, const struct vaff *y)
{
	if (x->n != y->n || x->c != y->c || x->a != y->a || x->w32 != y->w32)
		return false;
	for (unsigned i = 0; i < x->n; i++)
		if (x->reg[i] != y->reg[i] || x->coef[i] != y->coef[i])
			return false;
	return true;
}

/* materialize() can compute it: every coefficient a shift, a negation or
 * an imm32 multiplier. */
static bool aff_emittable(const struct vaff *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		int64_t k = f->coef[i];
		if (!(k == -1 || (k > 0 && !(k & (k - 1))) || x86_is_imm32(k)))
			return false;
	}
	return true;
}

static bool aff_same_terms(const struct vaff *x, const struct vaff *y)
{
	struct vaff d = *x;
	return aff_add(&d, y, -1) && d.n == 0 && d.a == 0;
}

static int new_ymm(struct vplanner *pl)
{
	return pl->nymm < VL_VALUES ? pl->nymm++ : -1;
}

static bool add_op(struct vplanner *pl, struct vop o)
{
	if (pl->l->nops == VL_OPS)
		return false;
	pl->l->ops[pl->l->nops++] = o;
	return true;
}

/* The vector of lane offsets a*k (k = 0..W-1, E-byte lanes); -1: all zero
 * (the lanes need no offset), -2: no room. */
static int lane_consts(struct vplanner *pl, int64_t a)
{
	struct jit_vloop *l = pl->l;
	uint8_t v[VL_BYTES];
	bool any = false;
	for (unsigned k = 0; k < l->lanes; k++) {
		uint64_t x = (uint64_t)a * k;
		memcpy(v + k * l->esize, &x, l->esize); /* little-endian: the low E bytes */
		any |= (x & (l->esize == 8 ? ~0ull : (1ull << (8 * l->esize)) - 1)) != 0;
	}
	if (!any)
		return -1;
	for (unsigned i = 0; i < l->nconsts; i++)
		if (!memcmp(l->consts[i], v, VL_BYTES))
			return (int)i;
	if (l->nconsts == VL_CONSTS)
		return -2;
	memcpy(l->consts[l->nconsts], v, VL_BYTES);
	return l->nconsts++;
}

/* The value as a vector register: affine values varying per iteration are
 * materialized in each chunk, invariant ones broadcast once per entry.
 * -1 when it can't be. */
static int as_vec(struct vplanner *pl, struct vval *v)
{
	struct jit_vloop *l = pl->l;
	if (v->kind == VK_VEC)
		return v->ymm;
	if (v->kind != VK_AFF || (v->f.w32 && l->esize > 4))
		return -1;
	if (!v->f.a) {
		for (unsigned i = 0; i < l->nbcast; i++)
			if (aff_eq(&l->bcast[i].f, &v->f))
				return l->bcast[i].ymm;
		if (!aff_emittable(&v->f))
			return -1;
		int y = new_ymm(pl);
		if (y < 0)
			return -1;
		l->bcast[l->nbcast++] = (struct vbcast){ (uint8_t)y, v->f };
		return y;
	}
	if (!aff_emittable(&v->f))
		return -1;
	int c = lane_consts(pl, v->f.a);
	int y = c < -1 ? -1 : new_ymm(pl);
	if (y < 0 || !add_op(pl, (struct vop){ .kind = VO_MAT, .d = (uint8_t)y, .cidx = (int8_t)c, .f = v->f }))
		return -1;
	return y;
}

/* Constant folding of the operations affine values don't cover. */
static bool fold(uint8_t code, bool w32, int64_t x, int64_t y, int64_t *out)
{
	uint64_t a = (uint64_t)x, b = (uint64_t)y;
	unsigned sh = (unsigned)(b & (w32 ? 31 : 63));
	uint64_t r;
	switch (code & 0xf0) {
	case 0x40: r = a | b; break;
	case 0x50: r = a & b; break;
	case 0xa0: r = a ^ b; break;
	case 0x70: r = w32 ? (uint32_t)a >> sh : a >> sh; break;
	case 0xc0: r = w32 ? (uint32_t)((int32_t)a >> sh) : (uint64_t)((int64_t)a >> sh); break;
	default: return false;
	}
	*out = (int64_t)(w32 ? (uint32_t)r : r);
	return true;
}

/* Can E-byte lanes compute this BPF ALU operation exactly (in their low
 * E bytes)?  *bin receives the vector operation. */
static bool vec_op_ok(unsigned esize, uint8_t code, bool w32, enum vbin *bin)
{
	unsigned width = w32 ? 4 : 8;
	if (esize > width)
		return false; /* an ALU32 result is zero-extended: lanes wider than 4 would need a mask */
	switch (code & 0xf0) {
	case 0x00: *bin = VB_ADD; return true;
	case 0x10: *bin = VB_SUB; return true;
	case 0x20: *bin = VB_MUL; return esize == 2 || esize == 4; /* vpmullw, vpmulld */
	case 0x40: *bin = VB_OR; return true;
	case 0x50: *bin = VB_AND; return true;
	case 0xa0: *bin = VB_XOR; return true;
	case 0x60: *bin = VB_LSH; return esize >= 2;
	case 0x70: *bin = VB_RSH; return esize == width;
	case 0xc0: *bin = VB_ARSH; return esize == width && esize == 4; /* no vpsraq in AVX2 */
	default: return false;
	}
}

static bool note_write(struct vplanner *pl, unsigned reg, uint32_t i)
{
	if (!pl->written[reg]) {
		pl->written[reg] = true;
		pl->first_write[reg] = i;
	}
	return true;
}

static bool plan_alu(struct vplanner *pl, const struct bpf_insn *in, enum vm_op op, uint32_t i)
{
	bool w32 = vm_op_is_alu32(op);
	uint8_t code = in->code;
	unsigned d = in->dst_reg;
	if (d >= 10 || in->off != 0)
		return false; /* r10; movsx, sdiv and smod */
	struct vval s;
	if (vm_opinfo[op].fmt == FMT_ALU_X) {
		if (in->src_reg >= 10)
			return false;
		s = pl->r[in->src_reg];
		if (s.kind == VK_UNDEF)
			return false;
	} else {
		s = (struct vval){ .kind = VK_AFF, .f = aff_const(w32 ? (int64_t)(uint32_t)in->imm : in->imm) };
	}
	struct vval *dv = &pl->r[d];
	note_write(pl, d, i);
	if ((code & 0xf0) == 0xb0) { /* mov */
		*dv = s;
		if (w32 && s.kind == VK_AFF) {
			if (aff_is_const(&s.f))
				dv->f = aff_const((int64_t)(uint32_t)s.f.c);
			else
				dv->f.w32 = true;
		}
		if (w32 && s.kind == VK_VEC && pl->l->esize > 4)
			return false;
		return true;
	}
	if (dv->kind == VK_UNDEF)
		return false;
	if (vm_opinfo[op].fmt == FMT_NEG) {
		if (dv->kind == VK_AFF) {
			aff_scale(&dv->f, -1);
			dv->f.w32 |= w32;
			return true;
		}
		if (pl->l->esize > (w32 ? 4u : 8u))
			return false;
		int y = new_ymm(pl);
		if (y < 0 || !add_op(pl, (struct vop){ .kind = VO_NEG, .d = (uint8_t)y, .s1 = dv->ymm }))
			return false;
		dv->ymm = (uint8_t)y;
		return true;
	}
	if (dv->kind == VK_AFF && s.kind == VK_AFF) {
		struct vaff f = dv->f;
		bool ok = true;
		switch (code & 0xf0) {
		case 0x00: ok = aff_add(&f, &s.f, 1); break;
		case 0x10: ok = aff_add(&f, &s.f, -1); break;
		case 0x20:
			if (aff_is_const(&s.f))
				aff_scale(&f, s.f.c);
			else if (aff_is_const(&f)) {
				int64_t k = f.c;
				f = s.f;
				aff_scale(&f, k);
			} else
				ok = false;
			break;
		case 0x60:
			if (aff_is_const(&s.f))
				aff_scale(&f, (int64_t)(1ull << (s.f.c & (w32 ? 31 : 63))));
			else
				ok = false;
			break;
		default: {
			int64_t r;
			ok = aff_is_const(&f) && aff_is_const(&s.f) && !f.w32 && !s.f.w32 && fold(code, w32, f.c, s.f.c, &r);
			if (ok)
				f = aff_const(r);
			break;
		}
		}
		if (ok) {
			f.w32 |= w32 || dv->f.w32 || s.f.w32; /* known modulo 2^32 in, modulo 2^32 out */
			if (w32 && aff_is_const(&f)) { /* a constant is exact: fold the truncation */
				f.c = (int64_t)(uint32_t)f.c;
				f.w32 = false;
			}
			dv->f = f;
			return true;
		}
	}
	/* a vector operation */
	enum vbin bin;
	if (!vec_op_ok(pl->l->esize, code, w32, &bin))
		return false;
	int a = as_vec(pl, dv);
	if (a < 0)
		return false;
	int y = new_ymm(pl);
	if (y < 0)
		return false;
	struct vop o = { .kind = VO_BIN, .bin = (uint8_t)bin, .d = (uint8_t)y, .s1 = (uint8_t)a };
	if (bin == VB_LSH || bin == VB_RSH || bin == VB_ARSH) {
		if (vm_opinfo[op].fmt != FMT_ALU_K)
			return false; /* per-lane shift counts: not planned */
		o.kind = VO_SHIFT;
		unsigned sh = (unsigned)in->imm & (w32 ? 31u : 63u);
		o.imm = (uint8_t)(sh >= 8u * pl->l->esize ? 8u * pl->l->esize : sh); /* >= lane bits: all zero */
	} else {
		int b = as_vec(pl, &s);
		if (b < 0)
			return false;
		o.s2 = (uint8_t)b;
	}
	if (!add_op(pl, o))
		return false;
	*dv = (struct vval){ .kind = VK_VEC, .ymm = (uint8_t)y };
	return true;
}

/* The affine address [reg + off] of an E-byte access advancing E bytes
 * per iteration. */
static bool mem_addr(struct vplanner *pl, unsigned reg, int16_t off, unsigned size, struct vaff *out)
{
	struct jit_vloop *l = pl->l;
	if (reg >= 10 || pl->r[reg].kind != VK_AFF || pl->r[reg].f.w32)
		return false;
	if (size != l->esize || pl->r[reg].f.a != (int64_t)size || pl->nmem == VL_MEMS)
		return false;
	*out = pl->r[reg].f;
	out->c = (int64_t)((uint64_t)out->c + (uint64_t)(int64_t)off); /* wraps as the register would */
	return aff_emittable(out);
}

static bool plan_mem(struct vplanner *pl, const struct bpf_insn *in, enum vm_op op, uint32_t i)
{
	unsigned size = vm_op_access_size(op);
	struct vaff addr;
	if (vm_opinfo[op].fmt == FMT_LDX) {
		if ((in->code & 0xe0) != 0x60 || in->dst_reg >= 10) /* MEM only (no MEMSX) */
			return false;
		if (!mem_addr(pl, in->src_reg, in->off, size, &addr))
			return false;
		int y = new_ymm(pl);
		if (y < 0 || !add_op(pl, (struct vop){ .kind = VO_LOAD, .d = (uint8_t)y, .f = addr }))
			return false;
		note_write(pl, in->dst_reg, i);
		pl->r[in->dst_reg] = (struct vval){ .kind = VK_VEC, .ymm = (uint8_t)y };
		pl->mem[pl->nmem++] = (struct vmem){ addr, false };
		return true;
	}
	if ((in->code & 0xe0) != 0x60 || !mem_addr(pl, in->dst_reg, in->off, size, &addr))
		return false;
	struct vval v;
	if (vm_opinfo[op].fmt == FMT_ST)
		v = (struct vval){ .kind = VK_AFF, .f = aff_const(in->imm) };
	else if (in->src_reg < 10)
		v = pl->r[in->src_reg];
	else
		return false;
	int s = as_vec(pl, &v);
	if (s < 0 || !add_op(pl, (struct vop){ .kind = VO_STORE, .s1 = (uint8_t)s, .f = addr }))
		return false;
	pl->mem[pl->nmem++] = (struct vmem){ addr, true };
	return true;
}

/* x P b  <=>  b P' x */
static enum x86_cc cc_swap(enum x86_cc cc)
{
	switch (cc) {
	case X86_CC_A: return X86_CC_B;
	case X86_CC_B: return X86_CC_A;
	case X86_CC_AE: return X86_CC_BE;
	case X86_CC_BE: return X86_CC_AE;
	case X86_CC_G: return X86_CC_L;
	case X86_CC_L: return X86_CC_G;
	case X86_CC_GE: return X86_CC_LE;
	case X86_CC_LE: return X86_CC_GE;
	default: return cc;
	}
}

static bool plan_jump(struct vplanner *pl, const struct bpf_insn *in, enum vm_op op, uint32_t i, bool back)
{
	struct jit_vloop *l = pl->l;
	if ((in->code & 0xf0) == 0x40 || in->dst_reg >= 10 || l->nexits == VL_EXITS)
		return false; /* jset */
	bool w32 = vm_op_is_jmp32(op);
	struct vval x = pl->r[in->dst_reg], b;
	if (vm_opinfo[op].fmt == FMT_JCOND_X) {
		if (in->src_reg >= 10)
			return false;
		b = pl->r[in->src_reg];
	} else {
		b = (struct vval){ .kind = VK_AFF, .f = aff_const(in->imm) };
	}
	if (x.kind != VK_AFF || b.kind != VK_AFF || !aff_emittable(&x.f) || !aff_emittable(&b.f))
		return false;
	enum x86_cc cc = jit_x86_jcc(in->code);
	if (!back)
		cc = (enum x86_cc)(cc ^ 1); /* the loop goes on when a side exit is not taken */
	if (x.f.a == 0 && b.f.a != 0) {
		struct vval t = x;
		x = b;
		b = t;
		cc = cc_swap(cc);
	}
	if (b.f.a != 0 || (!w32 && (x.f.w32 || b.f.w32)))
		return false; /* both vary; or a 64-bit compare of a value known modulo 2^32 */
	if (x.f.a && cc == X86_CC_E)
		return false; /* equal in W distinct iterations: never */
	int64_t span; /* a * (W - 1): an imm32, both signs */
	if (!l->lanes || __builtin_mul_overflow(x.f.a, (int64_t)(l->lanes - 1), &span) || !x86_is_imm32(span) ||
	    span == INT32_MIN)
		return false;
	struct vexit *ex = &l->exits[l->nexits++];
	*ex = (struct vexit){ .x = x.f, .cc = (uint8_t)cc, .w32 = w32 };
	if (aff_is_const(&b.f) && (w32 || x86_is_imm32(b.f.c))) { /* cmp r32, imm32 / cmp r64, simm32 */
		ex->b_imm = true;
		ex->imm = (int32_t)b.f.c;
	} else {
		ex->b = b.f;
	}
	if (!back && pl->first_exit == UINT32_MAX)
		pl->first_exit = i;
	return true;
}

/* Plans the loop [h, e]; false when it is not one this file vectorizes. */
static bool plan_loop(const struct bpfvm_prog *prog, const uint8_t *is_target, uint32_t h, uint32_t e,
                      struct jit_vloop *l)
{
	if (e - h + 1 > VL_BODY)
		return false;
	memset(l, 0, sizeof(*l));
	l->head = h;
	l->end = e;
	/* Registers: induction variables (only `r += imm` / `r -= imm`),
	 * temporaries (other writes), invariants (no write). */
	bool iv_ok[BPF_MAX_REG], wr[BPF_MAX_REG];
	memset(iv_ok, 1, sizeof(iv_ok));
	memset(wr, 0, sizeof(wr));
	int64_t step[BPF_MAX_REG] = { 0 };
	/* The access size decides W before any affine value needs it: the
	 * first memory access's size. */
	for (uint32_t i = h; i <= e; i++) {
		enum vm_op op = op_at(prog, i);
		if (op == VM_OP_INVALID || (i > h && is_target[i]))
			return false;
		const struct bpf_insn *in = &prog->insns[i];
		switch (vm_opinfo[op].fmt) {
		case FMT_ALU_K: case FMT_ALU_X: case FMT_NEG:
			if (in->dst_reg >= 10)
				return false;
			wr[in->dst_reg] = true;
			if (BPF_CLASS(in->code) == BPF_CLS_ALU64 && vm_opinfo[op].fmt == FMT_ALU_K &&
			    ((in->code & 0xf0) == 0x00 || (in->code & 0xf0) == 0x10))
				step[in->dst_reg] += (in->code & 0xf0) ? -(int64_t)in->imm : in->imm;
			else
				iv_ok[in->dst_reg] = false;
			break;
		case FMT_LDX:
			if (in->dst_reg >= 10)
				return false;
			wr[in->dst_reg] = true;
			iv_ok[in->dst_reg] = false;
			/* fallthrough */
		case FMT_ST: case FMT_STX:
			if (!l->esize) {
				unsigned size = vm_op_access_size(op);
				l->esize = (uint8_t)size;
				l->lanes = (uint8_t)(VL_BYTES / size);
			}
			break;
		case FMT_JCOND_K: case FMT_JCOND_X: {
			int64_t t = (int64_t)i + 1 + in->off;
			if (i == e ? t != h : (t >= h && t <= e))
				return false; /* a jump inside the body */
			break;
		}
		case FMT_JA: /* `if done goto out; goto head`, as clang often ends a loop */
			if (i != e || (int64_t)i + 1 + in->off != h)
				return false;
			break;
		default:
			return false;
		}
	}
	if (!l->esize)
		return false;
	struct vplanner pl = { .prog = prog, .l = l, .first_exit = UINT32_MAX };
	for (unsigned r = 0; r < 10; r++) {
		if (!wr[r] || iv_ok[r]) {
			pl.r[r] = (struct vval){ .kind = VK_AFF, .f = { .n = 1, .reg = { (uint8_t)r }, .coef = { 1 } } };
			pl.r[r].f.a = wr[r] ? step[r] : 0;
			if (wr[r] && step[r]) {
				if (!x86_is_imm32(step[r] * l->lanes))
					return false;
				l->iv[l->niv] = (uint8_t)r;
				l->iv_step[l->niv++] = step[r];
			}
		} else {
			pl.r[r] = (struct vval){ .kind = VK_UNDEF };
		}
	}
	pl.r[10] = (struct vval){ .kind = VK_UNDEF };
	for (uint32_t i = h; i <= e; i++) {
		enum vm_op op = op_at(prog, i);
		const struct bpf_insn *in = &prog->insns[i];
		bool ok;
		switch (vm_opinfo[op].fmt) {
		case FMT_ALU_K: case FMT_ALU_X: case FMT_NEG: ok = plan_alu(&pl, in, op, i); break;
		case FMT_LDX: case FMT_ST: case FMT_STX: ok = plan_mem(&pl, in, op, i); break;
		case FMT_JA: ok = true; break; /* the back edge, always taken */
		default: ok = plan_jump(&pl, in, op, i, i == e); break;
		}
		if (!ok)
			return false;
	}
	/* Induction variables end where they should (every write was an add
	 * of a constant, so this holds; checked as a guard). */
	for (unsigned k = 0; k < l->niv; k++) {
		const struct vval *v = &pl.r[l->iv[k]];
		if (v->kind != VK_AFF || v->f.n != 1 || v->f.reg[0] != l->iv[k] || v->f.coef[0] != 1 ||
		    v->f.c != l->iv_step[k] || v->f.w32)
			return false;
	}
	/* Temporaries written before the first side exit (see the top). */
	for (unsigned r = 0; r < 10; r++)
		if (wr[r] && !iv_ok[r] && pl.first_exit != UINT32_MAX && pl.first_write[r] >= pl.first_exit)
			return false;
	/* Alias checks: pairs in body order with a store among them. */
	bool any_store = false;
	int64_t span = (int64_t)l->lanes * l->esize;
	for (unsigned y = 0; y < pl.nmem; y++) {
		any_store |= pl.mem[y].store;
		for (unsigned x = 0; x < y; x++) {
			if (!pl.mem[x].store && !pl.mem[y].store)
				continue;
			if (aff_same_terms(&pl.mem[x].addr, &pl.mem[y].addr)) {
				int64_t d = (int64_t)((uint64_t)pl.mem[y].addr.c - (uint64_t)pl.mem[x].addr.c);
				if (d > 0 && d < span)
					return false; /* a dependence carried within W iterations */
				continue;
			}
			if (l->nalias == VL_ALIAS)
				return false;
			l->alias[l->nalias][0] = pl.mem[x].addr;
			l->alias[l->nalias++][1] = pl.mem[y].addr;
		}
	}
	return any_store;
}

bool jit_x86_vec_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

int jit_x86_vec_plan(const struct bpfvm_prog *prog, const uint8_t *is_target, struct jit_vloop **out,
                     uint32_t *nout)
{
	*out = NULL;
	*nout = 0;
	struct jit_vloop *loops = NULL;
	uint32_t n = 0;
	struct jit_vloop cand;
	for (uint32_t h = 0; h < prog->len; h++) {
		if (!(is_target[h] & JIT_TGT_LOOP))
			continue;
		/* the back edge: the only jump to h from h or later */
		uint32_t e = UINT32_MAX;
		bool one = true;
		for (uint32_t i = h; i < prog->len && one; i++) {
			enum vm_op op = op_at(prog, i);
			if (op == VM_OP_INVALID)
				continue;
			uint8_t fmt = vm_opinfo[op].fmt;
			int64_t t = fmt == FMT_JA32 ? (int64_t)i + 1 + prog->insns[i].imm
			          : (fmt == FMT_JA || fmt == FMT_JCOND_K || fmt == FMT_JCOND_X) ? (int64_t)i + 1 + prog->insns[i].off
			          : -1;
			if (t == (int64_t)h) {
				if (e != UINT32_MAX || fmt == FMT_JA32)
					one = false;
				e = i;
			}
		}
		if (!one || e == UINT32_MAX || !plan_loop(prog, is_target, h, e, &cand))
			continue;
		struct jit_vloop *nl = realloc(loops, (n + 1) * sizeof(*nl));
		if (!nl) {
			free(loops);
			return -ENOMEM;
		}
		loops = nl;
		loops[n++] = cand;
		h = e; /* loops don't nest: this one is innermost */
	}
	*out = loops;
	*nout = n;
	return 0;
}

/* ---- emission ---- */

#define AUX JIT_X86_AUX
#define AUX2 JIT_X86_AUX2
#define AUX3 JIT_X86_AUX3
#define R(bpf) jit_x86_regs[bpf]

/* dst = f at the chunk's start (iteration 0); when f is known only
 * modulo 2^32, only dst's low 32 bits are (the planner uses no more of
 * such a value).  Uses AUX3 as a temporary: dst must not be AUX3. */
static void materialize(struct x86_emit *e, int dst, const struct vaff *f)
{
	if (!f->n) {
		x86_mov_imm(e, dst, (uint64_t)f->c);
	} else {
		for (unsigned i = 0; i < f->n; i++) {
			int t = i ? AUX3 : dst;
			x86_mov_rr(e, true, t, R(f->reg[i]));
			int64_t k = f->coef[i];
			if (k == 1)
				;
			else if (k == -1)
				x86_unary(e, X86_NEG, true, t);
			else if (k > 0 && !(k & (k - 1)))
				x86_shift_ri(e, X86_SHL, true, t, (uint8_t)__builtin_ctzll((uint64_t)k));
			else
				x86_imul_rri(e, true, t, t, (int32_t)k); /* aff_emittable: k fits */
			if (i)
				x86_alu_rr(e, X86_ADD, true, dst, AUX3);
		}
		if (x86_is_imm32(f->c)) {
			if (f->c)
				x86_alu_ri(e, X86_ADD, true, dst, (int32_t)f->c);
		} else {
			x86_movabs(e, AUX3, (uint64_t)f->c);
			x86_alu_rr(e, X86_ADD, true, dst, AUX3);
		}
	}
}

/* The BPF register holding f exactly, or -1. */
static int plain_reg(const struct vaff *f)
{
	return f->n == 1 && f->coef[0] == 1 && !f->c && !f->w32 ? f->reg[0] : -1;
}

/* A register holding f: its own, or AUX after computing it there. */
static int gpr_of(struct x86_emit *e, int scratch, const struct vaff *f)
{
	int r = plain_reg(f);
	if (r >= 0)
		return R(r);
	materialize(e, scratch, f);
	return scratch;
}

/* The memory operand of an address: [base + index*scale + disp] when f
 * fits one, else computed into AUX2. */
static struct x86_mem mem_of(struct x86_emit *e, const struct vaff *f)
{
	if (x86_is_imm32(f->c) && f->n >= 1 && f->n <= 2) {
		int b = f->coef[0] == 1 ? 0 : f->n == 2 && f->coef[1] == 1 ? 1 : -1;
		if (b >= 0) {
			if (f->n == 1)
				return (struct x86_mem){ R(f->reg[b]), -1, (int32_t)f->c, 0 };
			int64_t s = f->coef[1 - b];
			if (s == 1 || s == 2 || s == 4 || s == 8)
				return (struct x86_mem){ R(f->reg[b]), R(f->reg[1 - b]), (int32_t)f->c, (unsigned)s };
		}
	}
	materialize(e, AUX2, f);
	return (struct x86_mem){ AUX2, -1, 0, 0 };
}

/* Forward rel32 jumps to the bail-out, patched when it is placed. */
struct vfix {
	size_t pos[3 * VL_EXITS + VL_ALIAS]; /* up to 3 per exit check, 1 per alias check */
	unsigned n;
};

static void jcc_bail(struct x86_emit *e, struct vfix *fx, enum x86_cc cc)
{
	x86_jcc_rel32(e, cc, 0);
	if (fx->n < sizeof(fx->pos) / sizeof(fx->pos[0]))
		fx->pos[fx->n++] = e->len;
	else
		x86_fail(e, -E2BIG);
}

static bool cc_signed(enum x86_cc cc)
{
	return cc == X86_CC_L || cc == X86_CC_GE || cc == X86_CC_LE || cc == X86_CC_G;
}

static void emit_exit_check(struct x86_emit *e, const struct jit_vloop *l, const struct vexit *x, struct vfix *fx)
{
	bool w64 = !x->w32;
	enum x86_cc p = (enum x86_cc)x->cc, fail = (enum x86_cc)(x->cc ^ 1);
	int b = AUX2;
	materialize(e, AUX, &x->x);
	if (x->b_imm) {
		if (p == X86_CC_NE && x->x.a)
			x86_mov_imm(e, AUX2, w64 ? (uint64_t)(int64_t)x->imm : (uint32_t)x->imm);
		else
			b = -1;
	} else if (x->b.n == 1 && x->b.coef[0] == 1 && !x->b.c && !x->b.w32 && !(p == X86_CC_NE && x->x.a)) {
		b = R(x->b.reg[0]);
	} else {
		materialize(e, AUX2, &x->b);
	}
#define CMP_B() (b < 0 ? x86_alu_ri(e, X86_CMP, w64, AUX, x->imm) : x86_alu_rr(e, X86_CMP, w64, AUX, b))
	int64_t span = x->x.a * (l->lanes - 1);
	if (!x->x.a) {
		CMP_B();
		jcc_bail(e, fx, fail);
		return;
	}
	if (p == X86_CC_NE) {
		/* no wrap over the chunk, then B more than |span| ahead */
		x86_mov_rr(e, true, AUX3, AUX);
		if (span > 0) {
			x86_alu_ri(e, X86_ADD, w64, AUX3, (int32_t)span);
			jcc_bail(e, fx, X86_CC_B); /* carry */
			x86_alu_rr(e, X86_SUB, w64, AUX2, AUX); /* B - X */
			x86_alu_ri(e, X86_CMP, w64, AUX2, (int32_t)span);
		} else {
			x86_alu_ri(e, X86_SUB, w64, AUX3, (int32_t)-span);
			jcc_bail(e, fx, X86_CC_B); /* borrow */
			x86_alu_rr(e, X86_SUB, w64, AUX, AUX2); /* X - B */
			x86_alu_ri(e, X86_CMP, w64, AUX, (int32_t)-span);
		}
		jcc_bail(e, fx, X86_CC_BE);
		return;
	}
	/* With no wrap, x_k moves one way: an upper bound (x < B, x <= B) on
	 * a rising x holds for all k when it holds at k = W-1, a lower bound at
	 * k = 0; falling, the other way round. */
	bool upper = p == X86_CC_B || p == X86_CC_BE || p == X86_CC_L || p == X86_CC_LE;
	bool at_last = upper == (span > 0);
	if (!at_last) {
		CMP_B(); /* iteration 0 */
		jcc_bail(e, fx, fail);
	}
	if (cc_signed(p)) {
		x86_alu_ri(e, X86_ADD, w64, AUX, (int32_t)span);
		jcc_bail(e, fx, X86_CC_O);
	} else if (span > 0) {
		x86_alu_ri(e, X86_ADD, w64, AUX, (int32_t)span);
		jcc_bail(e, fx, X86_CC_B);
	} else {
		x86_alu_ri(e, X86_SUB, w64, AUX, (int32_t)-span);
		jcc_bail(e, fx, X86_CC_B);
	}
	if (at_last) {
		CMP_B(); /* iteration W-1 */
		jcc_bail(e, fx, fail);
	}
#undef CMP_B
}

static unsigned log2e(unsigned esize)
{
	return esize == 1 ? 0 : esize == 2 ? 1 : esize == 4 ? 2 : 3;
}

/* vpbroadcast{b,w,d,q} ymm, xmm */
static void broadcast(struct x86_emit *e, unsigned esize, int ymm, int xmm)
{
	static const uint8_t opc[4] = { 0x78, 0x79, 0x58, 0x59 };
	x86_vop_rr(e, X86_VPP_66, X86_V0F38, opc[log2e(esize)], false, true, ymm, -1, xmm);
}

/* vmovq xmm, gpr */
static void movq_to_xmm(struct x86_emit *e, int xmm, int gpr)
{
	x86_vop_rr(e, X86_VPP_66, X86_V0F, 0x6e, true, false, xmm, -1, gpr);
}

static void emit_vop(struct x86_emit *e, const struct jit_vloop *l, const struct vop *o, size_t const_at)
{
	unsigned lg = log2e(l->esize);
	switch (o->kind) {
	case VO_LOAD: /* vmovdqu ymm, [m] */
		x86_vop_rm(e, X86_VPP_F3, X86_V0F, 0x6f, false, true, o->d, -1, mem_of(e, &o->f));
		break;
	case VO_STORE: /* vmovdqu [m], ymm */
		x86_vop_rm(e, X86_VPP_F3, X86_V0F, 0x7f, false, true, o->s1, -1, mem_of(e, &o->f));
		break;
	case VO_MAT:
		movq_to_xmm(e, o->d, gpr_of(e, AUX, &o->f));
		broadcast(e, l->esize, o->d, o->d);
		if (o->cidx >= 0) { /* vpadd{b,w,d,q} d, d, [lane offsets] */
			static const uint8_t add[4] = { 0xfc, 0xfd, 0xfe, 0xd4 };
			x86_vop_rip(e, X86_VPP_66, X86_V0F, add[lg], false, true, o->d, o->d,
			            (int64_t)(const_at + (size_t)o->cidx * VL_BYTES));
		}
		break;
	case VO_NEG: { /* vpxor z, z, z; vpsub d, z, s */
		static const uint8_t sub[4] = { 0xf8, 0xf9, 0xfa, 0xfb };
		x86_vop_rr(e, X86_VPP_66, X86_V0F, 0xef, false, true, VL_ZERO, VL_ZERO, VL_ZERO);
		x86_vop_rr(e, X86_VPP_66, X86_V0F, sub[lg], false, true, o->d, VL_ZERO, o->s1);
		break;
	}
	case VO_SHIFT: {
		static const uint8_t opc[4] = { 0, 0x71, 0x72, 0x73 };
		int digit = o->bin == VB_LSH ? 6 : o->bin == VB_RSH ? 2 : 4;
		x86_vshift_ri(e, opc[lg], digit, o->d, o->s1, o->imm);
		break;
	}
	case VO_BIN: {
		static const uint8_t add[4] = { 0xfc, 0xfd, 0xfe, 0xd4 }, sub[4] = { 0xf8, 0xf9, 0xfa, 0xfb };
		enum x86_vmap map = X86_V0F;
		uint8_t opc;
		switch (o->bin) {
		case VB_ADD: opc = add[lg]; break;
		case VB_SUB: opc = sub[lg]; break;
		case VB_AND: opc = 0xdb; break;
		case VB_OR: opc = 0xeb; break;
		case VB_XOR: opc = 0xef; break;
		default: /* VB_MUL: vpmullw, vpmulld */
			if (l->esize == 2) {
				opc = 0xd5;
			} else {
				opc = 0x40;
				map = X86_V0F38;
			}
			break;
		}
		x86_vop_rr(e, X86_VPP_66, map, opc, false, true, o->d, o->s1, o->s2);
		break;
	}
	}
}

void jit_x86_vec_emit(struct x86_emit *e, struct jit_vloop *l)
{
	size_t start = e->len, const_at = 0;
	struct vfix fx = { .n = 0 };
	if (l->nconsts) {
		/* jmp over the constant vectors, which read through [rip + d] */
		x86_jmp_rel32(e, (int32_t)(l->nconsts * VL_BYTES));
		const_at = e->len;
		for (unsigned i = 0; i < l->nconsts; i++)
			x86_bytes(e, l->consts[i], VL_BYTES);
	}
	/* once per entry: alias checks, invariant broadcasts */
	int64_t span = (int64_t)l->lanes * l->esize;
	for (unsigned i = 0; i < l->nalias; i++) {
		int x = gpr_of(e, AUX, &l->alias[i][0]);
		materialize(e, AUX2, &l->alias[i][1]);
		x86_alu_rr(e, X86_SUB, true, AUX2, x);
		x86_alu_ri(e, X86_SUB, true, AUX2, 1);
		x86_alu_ri(e, X86_CMP, true, AUX2, (int32_t)(span - 1));
		jcc_bail(e, &fx, X86_CC_B); /* 0 < Y - X < W * E */
	}
	for (unsigned i = 0; i < l->nbcast; i++) {
		movq_to_xmm(e, l->bcast[i].ymm, gpr_of(e, AUX, &l->bcast[i].f));
		broadcast(e, l->esize, l->bcast[i].ymm, l->bcast[i].ymm);
	}
	size_t chunk = e->len;
	for (unsigned i = 0; i < l->nexits; i++)
		emit_exit_check(e, l, &l->exits[i], &fx);
	for (unsigned i = 0; i < l->nops; i++)
		emit_vop(e, l, &l->ops[i], const_at);
	for (unsigned i = 0; i < l->niv; i++)
		x86_alu_ri(e, X86_ADD, true, R(l->iv[i]), (int32_t)(l->iv_step[i] * l->lanes));
	x86_jmp_to(e, (int64_t)chunk, true);
	for (unsigned i = 0; i < fx.n; i++)
		x86_patch32(e, fx.pos[i] - 4, (uint32_t)(e->len - fx.pos[i]));
	x86_vzeroupper(e);
	uint32_t len = (uint32_t)(e->len - start);
	if (l->len && l->len != len)
		x86_fail(e, -EINVAL); /* the block's size must not depend on where it is */
	l->len = len;
}
