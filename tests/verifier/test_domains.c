/*
 * Property tests of the abstract domains: for random abstract values a, b
 * and random concrete members x of a and y of b, op(x, y) lies in the
 * abstract result (tnum ops; scalar ALU ranges; branch refinement keeps
 * every value that takes the branch).
 */
#include <criterion/criterion.h>

#include "bounds.h"
#include "tnum.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Interesting values: small, near powers of two, sign boundaries. */
static uint64_t rnd_val(void)
{
	switch (rnd() % 6) {
	case 0: return rnd() % 16;
	case 1: return (uint64_t)-(int64_t)(rnd() % 16);
	case 2: return 1ULL << (rnd() % 64);
	case 3: return (1ULL << (rnd() % 64)) - 1;
	case 4: return (uint32_t)rnd();
	default: return rnd();
	}
}

static struct tnum rnd_tnum(void)
{
	uint64_t mask = rnd_val() & rnd_val();
	if (rnd() % 4 == 0)
		mask = 0;
	return TNUM(rnd_val() & ~mask, mask);
}

static uint64_t member(struct tnum t)
{
	return t.value | (rnd() & t.mask);
}

Test(tnum, ops_contain_concrete_results)
{
	for (int it = 0; it < 200000; it++) {
		struct tnum a = rnd_tnum(), b = rnd_tnum();
		uint64_t x = member(a), y = member(b);
		uint8_t sh = (uint8_t)(rnd() % 64);
		cr_assert(tnum_contains(tnum_add(a, b), x + y));
		cr_assert(tnum_contains(tnum_sub(a, b), x - y));
		cr_assert(tnum_contains(tnum_and(a, b), x & y));
		cr_assert(tnum_contains(tnum_or(a, b), x | y));
		cr_assert(tnum_contains(tnum_xor(a, b), x ^ y));
		cr_assert(tnum_contains(tnum_mul(a, b), x * y), "mul %llx*%llx", (unsigned long long)x, (unsigned long long)y);
		cr_assert(tnum_contains(tnum_neg(a), -x));
		cr_assert(tnum_contains(tnum_lshift(a, sh), x << sh));
		cr_assert(tnum_contains(tnum_rshift(a, sh), x >> sh));
		cr_assert(tnum_contains(tnum_arshift(a, sh, 64), (uint64_t)((int64_t)x >> sh)));
		cr_assert(tnum_contains(tnum_arshift(a, sh & 31, 32), (uint32_t)((int32_t)x >> (sh & 31))));
		cr_assert(tnum_contains(tnum_cast(a, 4), (uint32_t)x));
		cr_assert(tnum_in(tnum_unknown, a));
		cr_assert(tnum_in(a, tnum_const(x)));
	}
}

Test(tnum, range_contains_its_interval)
{
	for (int it = 0; it < 100000; it++) {
		uint64_t lo = rnd_val(), hi = rnd_val();
		if (lo > hi) { uint64_t t = lo; lo = hi; hi = t; }
		struct tnum r = tnum_range(lo, hi);
		cr_assert(tnum_contains(r, lo) && tnum_contains(r, hi));
		if (hi > lo)
			cr_assert(tnum_contains(r, lo + (rnd() % (hi - lo))));
	}
}

/* A random scalar register and a concrete member of it. */
static void rnd_scalar(struct vfy_reg *r, uint64_t *x)
{
	uint64_t a = rnd_val(), b = rnd_val();
	vfy_mark_unknown(r);
	switch (rnd() % 4) {
	case 0: vfy_mark_const(r, a); *x = a; return;
	case 1:
		if (a > b) { uint64_t t = a; a = b; b = t; }
		r->umin = a; r->umax = b;
		*x = b - a + 1 ? a + rnd() % (b - a + 1) : rnd();
		break;
	case 2: {
		int64_t sa = (int64_t)a, sb = (int64_t)b;
		if (sa > sb) { int64_t t = sa; sa = sb; sb = t; }
		r->smin = sa; r->smax = sb;
		{ uint64_t span = (uint64_t)sb - (uint64_t)sa + 1; *x = (uint64_t)sa + (span ? rnd() % span : rnd()); }
		break;
	}
	default:
		r->var_off = rnd_tnum();
		*x = member(r->var_off);
		break;
	}
	vfy_bounds_sync(r);
}

static bool holds(const struct vfy_reg *r, uint64_t x)
{
	return tnum_contains(r->var_off, x) && x >= r->umin && x <= r->umax && (int64_t)x >= r->smin &&
	       (int64_t)x <= r->smax && (uint32_t)x >= r->u32_min && (uint32_t)x <= r->u32_max &&
	       (int32_t)x >= r->s32_min && (int32_t)x <= r->s32_max;
}

static uint64_t concrete(uint8_t op, uint64_t x, uint64_t y, bool w32)
{
	if (w32) { x = (uint32_t)x; y = (uint32_t)y; }
	uint64_t r;
	switch (op) {
	case 0x00: r = x + y; break;
	case 0x10: r = x - y; break;
	case 0x20: r = x * y; break;
	case 0x40: r = x | y; break;
	case 0x50: r = x & y; break;
	case 0xa0: r = x ^ y; break;
	case 0x60: r = x << (y & (w32 ? 31 : 63)); break;
	case 0x70: r = x >> (y & (w32 ? 31 : 63)); break;
	default:
		r = w32 ? (uint32_t)((int32_t)x >> (y & 31)) : (uint64_t)((int64_t)x >> (y & 63));
	}
	return w32 ? (uint32_t)r : r;
}

Test(bounds, sync_keeps_members)
{
	for (int it = 0; it < 100000; it++) {
		struct vfy_reg r;
		uint64_t x;
		rnd_scalar(&r, &x);
		cr_assert(holds(&r, x), "member lost by sync");
		cr_assert(vfy_bounds_sane(&r));
	}
}

Test(bounds, alu_contains_concrete_results)
{
	static const uint8_t ops[] = { 0x00, 0x10, 0x20, 0x40, 0x50, 0xa0, 0x60, 0x70, 0xc0 };
	for (int it = 0; it < 300000; it++) {
		struct vfy_reg a, b;
		uint64_t x, y;
		rnd_scalar(&a, &x);
		rnd_scalar(&b, &y);
		uint8_t op = ops[rnd() % 9];
		bool w32 = rnd() & 1;
		if (op >= 0x60 && op != 0xa0) {
			/* shift amounts: a constant below the width, or any
			 * scalar (the result is then unknown) */
			if (rnd() & 1) {
				y = rnd() % (w32 ? 32 : 64);
				vfy_mark_const(&b, y);
			} else if (y >= (w32 ? 32u : 64u)) {
				continue; /* keep y a member of b */
			}
		}
		uint64_t want = concrete(op, x, y, w32);
		struct vfy_reg before = a;
		vfy_scalar_alu(&a, &b, op, w32);
		cr_assert(holds(&a, want), "op %#x w32=%d x=%#llx y=%#llx -> %#llx not in result (before umin=%llx umax=%llx t=%llx/%llx smin=%llx smax=%llx; after t=%llx/%llx smin=%llx smax=%llx umin=%llx umax=%llx)",
		          op, w32, (unsigned long long)x, (unsigned long long)y, (unsigned long long)want,
		          (unsigned long long)before.umin, (unsigned long long)before.umax,
		          (unsigned long long)before.var_off.value, (unsigned long long)before.var_off.mask,
		          (unsigned long long)before.smin, (unsigned long long)before.smax,
		          (unsigned long long)a.var_off.value, (unsigned long long)a.var_off.mask,
		          (unsigned long long)a.smin, (unsigned long long)a.smax, (unsigned long long)a.umin, (unsigned long long)a.umax);
	}
}

Test(bounds, refinement_keeps_values_taking_the_branch)
{
	static const uint8_t ops[] = { 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0 };
	for (int it = 0; it < 300000; it++) {
		struct vfy_reg r, t, f;
		uint64_t x;
		rnd_scalar(&r, &x);
		uint64_t k = rnd() & 1 ? rnd_val() : x + (rnd() % 3) - 1;
		uint8_t op = ops[rnd() % 11];
		bool w32 = rnd() & 1;
		uint64_t a = w32 ? (uint32_t)x : x, c = w32 ? (uint32_t)k : k;
		int64_t sa = w32 ? (int32_t)x : (int64_t)x, sc = w32 ? (int32_t)k : (int64_t)k;
		bool take;
		switch (op) {
		case 0x10: take = a == c; break;
		case 0x50: take = a != c; break;
		case 0x40: take = (a & c) != 0; break;
		case 0x20: take = a > c; break;
		case 0x30: take = a >= c; break;
		case 0xa0: take = a < c; break;
		case 0xb0: take = a <= c; break;
		case 0x60: take = sa > sc; break;
		case 0x70: take = sa >= sc; break;
		case 0xc0: take = sa < sc; break;
		default: take = sa <= sc; break;
		}
		int pred = vfy_branch_taken(&r, k, op, w32);
		cr_assert(pred == -1 || pred == (int)take, "branch_taken wrong for op %#x", op);
		t = f = r;
		vfy_refine_const(&t, &f, k, op, w32);
		cr_assert(holds(take ? &t : &f, x), "op %#x w32=%d x=%#llx k=%#llx lost from the %s branch", op, w32,
		          (unsigned long long)x, (unsigned long long)k, take ? "taken" : "fall-through");
	}
}
