/*
 * Scalar range tracking (see bounds.h).  The deductions follow the ones
 * Linux's verifier documents for reg_bounds_sync: tnum -> ranges, signed
 * <-> unsigned when the sign is known, ranges -> tnum, and 64 <-> 32 bits
 * when the upper halves agree.  Arithmetic on bounds is done in 128 bits so
 * overflow is detected exactly; an overflowing range becomes unbounded.
 */
#include "bounds.h"

#define S32_MIN INT32_MIN
#define S32_MAX INT32_MAX
#define U32_MAX UINT32_MAX

static inline int64_t max_s64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min_s64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

void vfy_bounds_unbounded(struct vfy_reg *r)
{
	r->smin = INT64_MIN;
	r->smax = INT64_MAX;
	r->umin = 0;
	r->umax = UINT64_MAX;
	r->s32_min = S32_MIN;
	r->s32_max = S32_MAX;
	r->u32_min = 0;
	r->u32_max = U32_MAX;
}

void vfy_mark_unknown(struct vfy_reg *r)
{
	*r = (struct vfy_reg){ .type = VT_SCALAR };
	r->var_off = tnum_unknown;
	vfy_bounds_unbounded(r);
}

void vfy_bounds_zero(struct vfy_reg *r)
{
	r->var_off = tnum_const(0);
	r->smin = r->smax = 0;
	r->umin = r->umax = 0;
	r->s32_min = r->s32_max = 0;
	r->u32_min = r->u32_max = 0;
}

void vfy_mark_const(struct vfy_reg *r, uint64_t v)
{
	*r = (struct vfy_reg){ .type = VT_SCALAR };
	r->var_off = tnum_const(v);
	r->smin = r->smax = (int64_t)v;
	r->umin = r->umax = v;
	r->s32_min = r->s32_max = (int32_t)v;
	r->u32_min = r->u32_max = (uint32_t)v;
}

static void update_bounds_from_tnum(struct vfy_reg *r)
{
	struct tnum t = r->var_off, t32 = tnum_subreg(r->var_off);

	r->smin = max_s64(r->smin, (int64_t)(t.value | (t.mask & (1ULL << 63))));
	r->smax = min_s64(r->smax, (int64_t)(t.value | (t.mask & ~(1ULL << 63))));
	r->umin = max_u64(r->umin, t.value);
	r->umax = min_u64(r->umax, t.value | t.mask);
	r->s32_min = (int32_t)max_s64(r->s32_min, (int32_t)(uint32_t)(t32.value | (t32.mask & 0x80000000u)));
	r->s32_max = (int32_t)min_s64(r->s32_max, (int32_t)(uint32_t)(t32.value | (t32.mask & 0x7fffffffu)));
	r->u32_min = (uint32_t)max_u64(r->u32_min, (uint32_t)t32.value);
	r->u32_max = (uint32_t)min_u64(r->u32_max, (uint32_t)(t32.value | t32.mask));
}

/* When the sign is the same over a range, signed and unsigned agree. */
static void deduce_bounds(struct vfy_reg *r)
{
	/* The 32-bit deduction written plainly on each view. */
	{
		int32_t smin = r->s32_min, smax = r->s32_max;
		uint32_t umin = r->u32_min, umax = r->u32_max;
		if ((int32_t)umin >= 0 && (int32_t)umax >= 0) {
			/* unsigned range inside [0, S32_MAX] */
			smin = (int32_t)max_s64(smin, (int32_t)umin);
			smax = (int32_t)min_s64(smax, (int32_t)umax);
		} else if ((int32_t)umin < 0 && (int32_t)umax < 0) {
			smin = (int32_t)max_s64(smin, (int32_t)umin);
			smax = (int32_t)min_s64(smax, (int32_t)umax);
		}
		if (smin >= 0 || smax < 0) {
			umin = (uint32_t)max_u64(umin, (uint32_t)smin);
			umax = (uint32_t)min_u64(umax, (uint32_t)smax);
		}
		r->s32_min = smin; r->s32_max = smax; r->u32_min = umin; r->u32_max = umax;
	}
	{
		int64_t smin = r->smin, smax = r->smax;
		uint64_t umin = r->umin, umax = r->umax;
		if ((int64_t)umin >= 0 && (int64_t)umax >= 0) {
			smin = max_s64(smin, (int64_t)umin);
			smax = min_s64(smax, (int64_t)umax);
		} else if ((int64_t)umin < 0 && (int64_t)umax < 0) {
			smin = max_s64(smin, (int64_t)umin);
			smax = min_s64(smax, (int64_t)umax);
		}
		if (smin >= 0 || smax < 0) {
			umin = max_u64(umin, (uint64_t)smin);
			umax = min_u64(umax, (uint64_t)smax);
		}
		r->smin = smin; r->smax = smax; r->umin = umin; r->umax = umax;
	}
}

/* 64 <-> 32: when every value shares its upper half, the low halves form
 * a contiguous unsigned range; when the upper half is a known constant,
 * the 64-bit range follows from the 32-bit one. */
static void combine_32_64(struct vfy_reg *r)
{
	if ((r->umin >> 32) == (r->umax >> 32)) {
		r->u32_min = (uint32_t)max_u64(r->u32_min, (uint32_t)r->umin);
		r->u32_max = (uint32_t)min_u64(r->u32_max, (uint32_t)r->umax);
	}
	if ((r->smin >> 32) == (r->smax >> 32)) {
		/* same upper half as signed: the low halves increase with the value */
		if ((uint32_t)r->smin <= (uint32_t)r->smax) {
			r->u32_min = (uint32_t)max_u64(r->u32_min, (uint32_t)r->smin);
			r->u32_max = (uint32_t)min_u64(r->u32_max, (uint32_t)r->smax);
		}
	}
	if (!(r->var_off.mask >> 32)) {
		uint64_t hi = r->var_off.value & 0xffffffff00000000ULL;
		uint64_t lo = hi | r->u32_min, up = hi | r->u32_max;
		r->umin = max_u64(r->umin, lo);
		r->umax = min_u64(r->umax, up);
		r->smin = max_s64(r->smin, (int64_t)lo);
		r->smax = min_s64(r->smax, (int64_t)up);
	}
}

static void bound_offset(struct vfy_reg *r)
{
	struct tnum v64 = tnum_intersect(r->var_off, tnum_range(r->umin, r->umax));
	struct tnum v32 = tnum_intersect(tnum_subreg(v64), tnum_range(r->u32_min, r->u32_max));

	r->var_off = tnum_or(tnum_clear_subreg(v64), v32);
}

void vfy_bounds_sync(struct vfy_reg *r)
{
	update_bounds_from_tnum(r);
	combine_32_64(r);
	deduce_bounds(r);
	bound_offset(r);
	update_bounds_from_tnum(r);
	combine_32_64(r);
	deduce_bounds(r);
}

bool vfy_bounds_sane(const struct vfy_reg *r)
{
	if (r->smin > r->smax || r->umin > r->umax || r->s32_min > r->s32_max || r->u32_min > r->u32_max)
		return false;
	if (r->var_off.value & r->var_off.mask)
		return false;
	/* Every value of the tnum above the unsigned max, or below the min? */
	if (tnum_umin(r->var_off) > r->umax || tnum_umax(r->var_off) < r->umin)
		return false;
	return true;
}

void vfy_zext_32(struct vfy_reg *r)
{
	r->var_off = tnum_subreg(r->var_off);
	r->umin = r->u32_min;
	r->umax = r->u32_max;
	r->smin = r->u32_min;
	r->smax = r->u32_max;
}

/* ---- ALU ---- */

/* Ranges of one width (32 or 64) computed in 128-bit arithmetic. */
struct rng {
	__int128 smin, smax, umin, umax;
};

static struct rng rng_of(const struct vfy_reg *r, bool w32)
{
	if (w32)
		return (struct rng){ r->s32_min, r->s32_max, r->u32_min, r->u32_max };
	return (struct rng){ r->smin, r->smax, r->umin, r->umax };
}

static void rng_limits(bool w32, __int128 *smin, __int128 *smax, __int128 *umax)
{
	*smin = w32 ? (__int128)S32_MIN : (__int128)INT64_MIN;
	*smax = w32 ? (__int128)S32_MAX : (__int128)INT64_MAX;
	*umax = w32 ? (__int128)U32_MAX : (__int128)UINT64_MAX;
}

/* Stores res into r's ranges of that width, unbounding any that overflow. */
static void rng_store(struct vfy_reg *r, struct rng res, bool w32)
{
	__int128 SMIN, SMAX, UMAX;
	rng_limits(w32, &SMIN, &SMAX, &UMAX);
	if (res.smin < SMIN || res.smax > SMAX || res.smin > res.smax) {
		res.smin = SMIN;
		res.smax = SMAX;
	}
	if (res.umin < 0 || res.umax > UMAX || res.umin > res.umax) {
		res.umin = 0;
		res.umax = UMAX;
	}
	if (w32) {
		r->s32_min = (int32_t)res.smin; r->s32_max = (int32_t)res.smax;
		r->u32_min = (uint32_t)res.umin; r->u32_max = (uint32_t)res.umax;
	} else {
		r->smin = (int64_t)res.smin; r->smax = (int64_t)res.smax;
		r->umin = (uint64_t)res.umin; r->umax = (uint64_t)res.umax;
	}
}

static struct rng rng_full(bool w32)
{
	__int128 SMIN, SMAX, UMAX;
	rng_limits(w32, &SMIN, &SMAX, &UMAX);
	return (struct rng){ SMIN, SMAX, 0, UMAX };
}

/* Range of dst op src in one width; tnum result t gives the and/or/xor views. */
static struct rng rng_alu(struct rng a, struct rng b, uint8_t op, struct tnum t, bool w32, bool *ok)
{
	struct rng res = rng_full(w32);
	__int128 SMIN, SMAX, UMAX;
	rng_limits(w32, &SMIN, &SMAX, &UMAX);
	uint64_t tmin = t.value, tmax = t.value | t.mask;
	if (w32) {
		tmin = (uint32_t)tmin;
		tmax = (uint32_t)tmax;
	}

	*ok = true;
	switch (op) {
	case 0x00: /* add */
		res.smin = a.smin + b.smin; res.smax = a.smax + b.smax;
		res.umin = a.umin + b.umin; res.umax = a.umax + b.umax;
		if (res.smin < SMIN || res.smax > SMAX) { res.smin = SMIN; res.smax = SMAX; }
		if (res.umax > UMAX) { res.umin = 0; res.umax = UMAX; }
		break;
	case 0x10: /* sub */
		res.smin = a.smin - b.smax; res.smax = a.smax - b.smin;
		if (res.smin < SMIN || res.smax > SMAX) { res.smin = SMIN; res.smax = SMAX; }
		if (a.umin < b.umax) { res.umin = 0; res.umax = UMAX; }
		else { res.umin = a.umin - b.umax; res.umax = a.umax - b.umin; }
		break;
	case 0x20: { /* mul */
		__int128 p[4] = { a.smin * b.smin, a.smin * b.smax, a.smax * b.smin, a.smax * b.smax };
		/* 64x64 products fit in 128 bits only below 2^127: bound the inputs */
		__int128 lim = (__int128)1 << 62;
		bool small = a.smin > -lim && a.smax < lim && b.smin > -lim && b.smax < lim;
		if (small) {
			res.smin = res.smax = p[0];
			for (int i = 1; i < 4; i++) {
				if (p[i] < res.smin) res.smin = p[i];
				if (p[i] > res.smax) res.smax = p[i];
			}
			if (res.smin < SMIN || res.smax > SMAX) { res.smin = SMIN; res.smax = SMAX; }
		} else {
			res.smin = SMIN; res.smax = SMAX;
		}
		if (a.umax <= U32_MAX && b.umax <= U32_MAX && a.umax * b.umax <= UMAX) {
			res.umin = a.umin * b.umin; res.umax = a.umax * b.umax;
		} else {
			res.umin = 0; res.umax = UMAX;
		}
		break;
	}
	case 0x50: /* and */
		res.umin = tmin;
		res.umax = a.umax < b.umax ? a.umax : b.umax;
		if (a.smin >= 0 && b.smin >= 0) { res.smin = res.umin; res.smax = res.umax; }
		break;
	case 0x40: /* or */
		res.umin = a.umin > b.umin ? a.umin : b.umin;
		res.umax = tmax;
		if (a.smin >= 0 && b.smin >= 0 && res.umax <= SMAX) { res.smin = res.umin; res.smax = res.umax; }
		break;
	case 0xa0: /* xor */
		res.umin = tmin;
		res.umax = tmax;
		if (a.smin >= 0 && b.smin >= 0 && res.umax <= SMAX) { res.smin = res.umin; res.smax = res.umax; }
		break;
	case 0x60: /* lsh by constant b */
		if (a.umax > (UMAX >> (int)b.umin)) {
			res.umin = 0; res.umax = UMAX;
		} else {
			res.umin = a.umin << (int)b.umin;
			res.umax = a.umax << (int)b.umin;
		}
		break;
	case 0x70: /* rsh by constant b */
		res.umin = a.umin >> (int)b.umin;
		res.umax = a.umax >> (int)b.umin;
		break;
	case 0xc0: /* arsh by constant b */
		res.smin = a.smin >> (int)b.umin;
		res.smax = a.smax >> (int)b.umin;
		break;
	default:
		*ok = false;
	}
	return res;
}

static struct tnum tnum_alu(struct tnum a, struct tnum b, uint8_t op, bool w32, bool *ok)
{
	*ok = true;
	switch (op) {
	case 0x00: return tnum_add(a, b);
	case 0x10: return tnum_sub(a, b);
	case 0x20: return tnum_mul(a, b);
	case 0x40: return tnum_or(a, b);
	case 0x50: return tnum_and(a, b);
	case 0xa0: return tnum_xor(a, b);
	case 0x60: return tnum_lshift(a, (uint8_t)b.value);
	case 0x70: return tnum_rshift(w32 ? tnum_subreg(a) : a, (uint8_t)b.value);
	case 0xc0: return tnum_arshift(a, (uint8_t)b.value, w32 ? 32 : 64);
	default:
		*ok = false;
		return tnum_unknown;
	}
}

void vfy_scalar_alu(struct vfy_reg *dst, const struct vfy_reg *src, uint8_t op, bool alu32)
{
	bool ok;
	unsigned width = alu32 ? 32 : 64;
	bool is_shift = op == 0x60 || op == 0x70 || op == 0xc0;

	if (op == 0xb0) { /* mov */
		*dst = *src;
		if (alu32) {
			dst->id = 0;
			dst->var_off = tnum_subreg(dst->var_off);
			vfy_zext_32(dst);
			vfy_bounds_sync(dst);
		}
		return;
	}
	if (is_shift) {
		/* As Linux: a shift amount that is not a known constant below the
		 * width gives an unknown result. */
		if (!tnum_is_const(src->var_off) || src->var_off.value >= width) {
			vfy_mark_unknown(dst);
			if (alu32)
				vfy_zext_32(dst), vfy_bounds_sync(dst);
			return;
		}
	}

	struct tnum a = alu32 ? tnum_subreg(dst->var_off) : dst->var_off;
	struct tnum b = alu32 ? tnum_subreg(src->var_off) : src->var_off;
	struct tnum t = tnum_alu(a, b, op, alu32, &ok);
	if (!ok) {
		vfy_mark_unknown(dst);
		if (alu32)
			vfy_zext_32(dst), vfy_bounds_sync(dst);
		return;
	}
	if (alu32)
		t = tnum_subreg(t);

	struct rng r = rng_alu(rng_of(dst, alu32), rng_of(src, alu32), op, t, alu32, &ok);
	dst->id = 0;
	dst->var_off = t;
	if (alu32) {
		rng_store(dst, r, true);
		vfy_zext_32(dst);
	} else {
		/* The low halves are recomputed from the tnum and the 64-bit range. */
		rng_store(dst, r, false);
		dst->s32_min = S32_MIN; dst->s32_max = S32_MAX;
		dst->u32_min = 0; dst->u32_max = U32_MAX;
	}
	vfy_bounds_sync(dst);
}

void vfy_scalar_movsx(struct vfy_reg *dst, const struct vfy_reg *src, unsigned bits, bool alu32)
{
	if (tnum_is_const(src->var_off)) {
		uint64_t v = src->var_off.value;
		int64_t s = bits == 8 ? (int8_t)v : bits == 16 ? (int16_t)v : (int32_t)v;
		vfy_mark_const(dst, alu32 ? (uint32_t)s : (uint64_t)s);
		return;
	}
	int64_t lo = -((int64_t)1 << (bits - 1)), hi = ((int64_t)1 << (bits - 1)) - 1;
	vfy_mark_unknown(dst);
	/* A source already within the non-negative half keeps its range. */
	if (src->umax <= (uint64_t)hi) {
		dst->umin = dst->smin = (int64_t)src->umin;
		dst->umax = src->umax;
		dst->smax = (int64_t)src->umax;
	} else {
		dst->smin = lo;
		dst->smax = hi;
	}
	if (alu32) {
		dst->s32_min = (int32_t)dst->smin;
		dst->s32_max = (int32_t)dst->smax;
		dst->smin = INT64_MIN; dst->smax = INT64_MAX; dst->umin = 0; dst->umax = UINT64_MAX;
		vfy_bounds_sync(dst);
		vfy_zext_32(dst);
	}
	vfy_bounds_sync(dst);
}

/* ---- conditional jumps ---- */

uint8_t vfy_jmp_swap(uint8_t op)
{
	switch (op) {
	case 0x20: return 0xa0; /* jgt <-> jlt */
	case 0xa0: return 0x20;
	case 0x30: return 0xb0; /* jge <-> jle */
	case 0xb0: return 0x30;
	case 0x60: return 0xc0; /* jsgt <-> jslt */
	case 0xc0: return 0x60;
	case 0x70: return 0xd0; /* jsge <-> jsle */
	case 0xd0: return 0x70;
	default: return op;     /* jeq, jne, jset are symmetric */
	}
}

int vfy_branch_taken(const struct vfy_reg *r, uint64_t val, uint8_t op, bool is32)
{
	struct tnum t = is32 ? tnum_subreg(r->var_off) : r->var_off;
	int64_t smin = is32 ? r->s32_min : r->smin, smax = is32 ? r->s32_max : r->smax;
	uint64_t umin = is32 ? r->u32_min : r->umin, umax = is32 ? r->u32_max : r->umax;
	int64_t sval = is32 ? (int64_t)(int32_t)val : (int64_t)val;
	if (is32)
		val = (uint32_t)val;

	switch (op) {
	case 0x10: /* jeq */
		if (tnum_is_const(t))
			return t.value == val;
		if (!tnum_contains(t, val) || val < umin || val > umax || sval < smin || sval > smax)
			return 0;
		return -1;
	case 0x50: /* jne */
		if (tnum_is_const(t))
			return t.value != val;
		if (!tnum_contains(t, val) || val < umin || val > umax || sval < smin || sval > smax)
			return 1;
		return -1;
	case 0x40: /* jset */
		if (t.value & val)
			return 1;
		if (!((t.value | t.mask) & val))
			return 0;
		return -1;
	case 0x20: if (umin > val) return 1; if (umax <= val) return 0; return -1;
	case 0x30: if (umin >= val) return 1; if (umax < val) return 0; return -1;
	case 0xa0: if (umax < val) return 1; if (umin >= val) return 0; return -1;
	case 0xb0: if (umax <= val) return 1; if (umin > val) return 0; return -1;
	case 0x60: if (smin > sval) return 1; if (smax <= sval) return 0; return -1;
	case 0x70: if (smin >= sval) return 1; if (smax < sval) return 0; return -1;
	case 0xc0: if (smax < sval) return 1; if (smin >= sval) return 0; return -1;
	case 0xd0: if (smax <= sval) return 1; if (smin > sval) return 0; return -1;
	}
	return -1;
}

/* Sets the unsigned/signed bound of one width. */
static void set_umin(struct vfy_reg *r, uint64_t v, bool is32)
{
	if (is32) r->u32_min = (uint32_t)max_u64(r->u32_min, v);
	else r->umin = max_u64(r->umin, v);
}
static void set_umax(struct vfy_reg *r, uint64_t v, bool is32)
{
	if (is32) r->u32_max = (uint32_t)min_u64(r->u32_max, v);
	else r->umax = min_u64(r->umax, v);
}
static void set_smin(struct vfy_reg *r, int64_t v, bool is32)
{
	if (is32) r->s32_min = (int32_t)max_s64(r->s32_min, v);
	else r->smin = max_s64(r->smin, v);
}
static void set_smax(struct vfy_reg *r, int64_t v, bool is32)
{
	if (is32) r->s32_max = (int32_t)min_s64(r->s32_max, v);
	else r->smax = min_s64(r->smax, v);
}

void vfy_refine_const(struct vfy_reg *t, struct vfy_reg *f, uint64_t val, uint8_t op, bool is32)
{
	int64_t sval = is32 ? (int64_t)(int32_t)val : (int64_t)val;
	uint64_t uval = is32 ? (uint32_t)val : val;

	switch (op) {
	case 0x10: /* jeq */
	case 0x50: { /* jne */
		struct vfy_reg *eq = op == 0x10 ? t : f;
		if (is32)
			eq->var_off = tnum_const_subreg(eq->var_off, (uint32_t)val);
		else
			eq->var_off = tnum_const(val);
		set_umin(eq, uval, is32); set_umax(eq, uval, is32);
		set_smin(eq, sval, is32); set_smax(eq, sval, is32);
		break;
	}
	case 0x40: /* jset */
		if (is32)
			f->var_off = tnum_with_subreg(f->var_off, tnum_and(tnum_subreg(f->var_off), tnum_const(~uval & 0xffffffffu)));
		else
			f->var_off = tnum_and(f->var_off, tnum_const(~uval));
		if (uval && !(uval & (uval - 1)))
			t->var_off = tnum_or(t->var_off, tnum_const(uval));
		break;
	case 0x20: set_umax(f, uval, is32); if (uval < (is32 ? U32_MAX : UINT64_MAX)) set_umin(t, uval + 1, is32); break;
	case 0x30: if (uval) set_umax(f, uval - 1, is32); set_umin(t, uval, is32); break;
	case 0xa0: set_umin(f, uval, is32); if (uval) set_umax(t, uval - 1, is32); break;
	case 0xb0: if (uval < (is32 ? U32_MAX : UINT64_MAX)) set_umin(f, uval + 1, is32); set_umax(t, uval, is32); break;
	case 0x60: set_smax(f, sval, is32); if (sval < (is32 ? S32_MAX : INT64_MAX)) set_smin(t, sval + 1, is32); break;
	case 0x70: if (sval > (is32 ? S32_MIN : INT64_MIN)) set_smax(f, sval - 1, is32); set_smin(t, sval, is32); break;
	case 0xc0: set_smin(f, sval, is32); if (sval > (is32 ? S32_MIN : INT64_MIN)) set_smax(t, sval - 1, is32); break;
	case 0xd0: if (sval < (is32 ? S32_MAX : INT64_MAX)) set_smin(f, sval + 1, is32); set_smax(t, sval, is32); break;
	}
	vfy_bounds_sync(t);
	vfy_bounds_sync(f);
}

void vfy_refine_eq(struct vfy_reg *a, struct vfy_reg *b)
{
	struct tnum t = tnum_intersect(a->var_off, b->var_off);
	a->var_off = b->var_off = t;
	a->umin = b->umin = max_u64(a->umin, b->umin);
	a->umax = b->umax = min_u64(a->umax, b->umax);
	a->smin = b->smin = max_s64(a->smin, b->smin);
	a->smax = b->smax = min_s64(a->smax, b->smax);
	a->u32_min = b->u32_min = (uint32_t)max_u64(a->u32_min, b->u32_min);
	a->u32_max = b->u32_max = (uint32_t)min_u64(a->u32_max, b->u32_max);
	a->s32_min = b->s32_min = (int32_t)max_s64(a->s32_min, b->s32_min);
	a->s32_max = b->s32_max = (int32_t)min_s64(a->s32_max, b->s32_max);
	vfy_bounds_sync(a);
	vfy_bounds_sync(b);
}
