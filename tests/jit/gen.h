/*
 * Random valid BPF programs for differential testing (JIT vs interpreter),
 * shared by tests/jit/test_jit.c, tests/jit/diff_seeds.c and
 * tools/fuzz/jit_diff_fuzz.c.  The ops come from vm/opcodes.def
 * (vm_opinfo), never from a second list.  Every program terminates, touches
 * only its stack, the 64-byte input and the values of gen_maps[], never
 * stores an address anywhere, and ends by folding r0-r9 into r0 and the
 * input.  The result depends only on the rng (seed or fuzz bytes).
 *
 * gen_prog() is the original repertoire (straight-line ALU, forward jumps,
 * loads/stores, atomics, the JIT's fused idioms; no calls, no maps, no
 * loops) and draws exactly as it always did, so old seeds still name the
 * same programs.  gen_prog_ex() with GEN_F_* features mixes in, one item in
 * four: map lookups (null-checked, then loads, stores and atomics inside
 * the value), updates and deletes; bounded loops; bpf-to-bpf calls to up to
 * three generated subprograms; tail calls through a prog array.
 *
 * Rules that keep such a program valid without the verifier (it also runs
 * unchecked):
 *  - Scopes.  A multi-instruction construct whose middle must not be
 *    entered (a call's argument setup, a null check and the accesses it
 *    guards, a loop body) is a scope; a jump may land only on instructions
 *    of its own scope or an enclosing one (gen_lands()), so jumps from
 *    outside are moved past the construct.
 *  - Calls clobber r1-r5.  After a helper call, bpf-to-bpf call or tail
 *    call that falls through, r1-r5 hold whatever the callee left, and the
 *    engines differ there (the JIT's helper is C code using the argument
 *    registers as scratch; the interpreter's register file keeps the
 *    arguments).  The generator rewrites all five right after the call,
 *    inside the call's scope (gen_clobber()), so nothing can read them first.
 *  - Loops count down: rC = 1..8 (constant or rS & 7 + 1), body, rC -= 1,
 *    if rC != 0 goto body (or >, s>, >= 1, 32-bit !=); the body never
 *    writes rC (st->keep) and nothing jumps into it.  At most two nested,
 *    bodies of up to ~25 instructions: with calls inside, a run stays far
 *    below the checked engines' budget (default 1e9 instructions).
 *  - Map values: the pointer lives in r0 or one of r1-r5 and is replaced
 *    by a constant on both paths where the null check's scope ends; stores
 *    and atomics through it write only scalars and stay inside value_size.
 *  - Keys are numbers (rS & 7 or 15, or constants), never addresses.
 */
#ifndef BPFVM_TEST_JIT_GEN_H
#define BPFVM_TEST_JIT_GEN_H

#include <stdint.h>
#include <string.h>

#include "isa.h"

#define GEN_MEM 64

struct gen_rng {
	uint64_t s;
	const uint8_t *bytes; /* fuzz input drives the choices when set */
	size_t nbytes, pos;
};

static inline uint64_t gen_next(struct gen_rng *r)
{
	if (r->bytes && r->pos + 8 <= r->nbytes) {
		uint64_t v;
		memcpy(&v, r->bytes + r->pos, 8);
		r->pos += 8;
		return v ^ (r->s += 0x9e3779b97f4a7c15ull);
	}
	r->s += 0x9e3779b97f4a7c15ull; /* splitmix64 */
	uint64_t z = r->s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Values that hit the edge cases: zero, -1, INT_MIN, shifts past width. */
static inline int32_t gen_imm(struct gen_rng *r)
{
	static const int32_t special[] = { 0, 1, -1, 2, 7, 31, 32, 63, 64, INT32_MIN, INT32_MAX, 0x80, 0xffff, -2 };
	uint64_t v = gen_next(r);
	if (v & 1)
		return special[(v >> 1) % (sizeof(special) / sizeof(special[0]))];
	return (int32_t)(v >> 8);
}

static inline uint64_t gen_imm64(struct gen_rng *r)
{
	static const uint64_t special[] = { 0, 1, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull,
	                                    0x80000000ull, 0xffffffffull, 0x100000000ull };
	uint64_t v = gen_next(r);
	if (v & 1)
		return special[(v >> 1) % (sizeof(special) / sizeof(special[0]))];
	return gen_next(r);
}

#define GI(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* ---- what gen_prog_ex() may use beyond the original repertoire ---- */

enum gen_feature {
	GEN_F_MAPS = 1u << 0,  /* map_lookup/update/delete_elem on gen_maps[] */
	GEN_F_LOOPS = 1u << 1, /* bounded loops (backward jumps) */
	GEN_F_CALLS = 1u << 2, /* bpf-to-bpf calls to generated subprograms */
	GEN_F_TAIL = 1u << 3,  /* bpf_tail_call through the prog array, from the main function */
	/* and from subprograms (not in tail-call targets: a chain of tail
	 * calls from subprograms keeps every caller's frame) */
	GEN_F_TAIL_SUB = 1u << 4,
	GEN_F_ALL = 0x1f,
};

/* The maps, by index in the load's fd_array (lddw src=5, BPF_PSEUDO_MAP_IDX).
 * The plain array is the kind the JIT inlines lookups of; the inner-map
 * array keeps the helper call; the hash map has 8-byte keys. */
enum { GEN_MAP_ARRAY, GEN_MAP_INNER, GEN_MAP_HASH, GEN_NMAPS, GEN_MAP_PROGS = GEN_NMAPS };
struct gen_map_shape {
	const char *name;
	uint32_t type, key_size, value_size, max_entries, flags;
};
static const struct gen_map_shape gen_maps[GEN_NMAPS] = {
	{ "array", BPFVM_MAP_ARRAY, 4, 24, 6, 0 },
	{ "inner_array", BPFVM_MAP_ARRAY, 4, 16, 4, BPFVM_F_INNER_MAP },
	{ "hash", BPFVM_MAP_HASH, 8, 24, 8, 0 },
};
#define GEN_MAP_MAXENT 8
#define GEN_MAP_MAXVS 24
/* The prog array: slots 0..targets-1 hold generated programs, the rest
 * stay empty; generated indices also reach past the end. */
#define GEN_PROG_SLOTS 3
#define GEN_MAX_TARGETS 2

/* Initial map contents, the same before each run: arrays every index,
 * the hash map some of keys 0..15 (sometimes all 8 slots full). */
struct gen_map_init {
	uint32_t nkeys[GEN_NMAPS];
	uint64_t key[GEN_NMAPS][GEN_MAP_MAXENT];
	uint8_t val[GEN_NMAPS][GEN_MAP_MAXENT][GEN_MAP_MAXVS];
};

static inline void gen_map_init(struct gen_rng *r, struct gen_map_init *mi)
{
	memset(mi, 0, sizeof(*mi));
	for (int m = 0; m < GEN_NMAPS; m++) {
		const struct gen_map_shape *ms = &gen_maps[m];
		uint64_t density = gen_next(r) % 17;
		for (uint64_t k = 0; k < 16 && mi->nkeys[m] < ms->max_entries; k++) {
			if (ms->type == BPFVM_MAP_HASH ? gen_next(r) % 16 >= density : k >= ms->max_entries)
				continue;
			uint32_t i = mi->nkeys[m]++;
			mi->key[m][i] = k;
			bool zero = (gen_next(r) & 3) == 0;
			for (uint32_t b = 0; b < ms->value_size; b += 8) {
				uint64_t v = zero ? 0 : gen_imm64(r);
				memcpy(&mi->val[m][i][b], &v, 8);
			}
		}
	}
}

/* ---- generator state ---- */

#define GEN_MAXLEN 1024
#define GEN_MAXFN 4 /* the main function and up to 3 subprograms */
#define GEN_SUBCAP 90 /* instructions per subprogram, at most */

struct gen_st {
	struct gen_rng *r;
	struct bpf_insn *out;
	size_t n;
	uint32_t feat;
	int fn, nfns;        /* function being generated, functions in all */
	bool ptr_arg[GEN_MAXFN]; /* subprogram's r2: 16 bytes of its caller's stack */
	uint16_t keep;       /* registers the enclosing loop bodies must not write */
	uint16_t ptrs;       /* registers holding a map value pointer: never read as values */
	int loops;           /* loop nesting here */
	uint16_t cur, nscopes;
	uint16_t scope[GEN_MAXLEN];  /* innermost scope of each instruction */
	uint16_t parent[GEN_MAXLEN]; /* a function's root scope is its own parent */
	size_t fn_start[GEN_MAXFN];
	size_t ncalls;
	struct {
		size_t at;
		int callee;
	} calls[GEN_MAXLEN / 8]; /* a call site takes at least 8 instructions */
};

#define E(x) (st->scope[n] = st->cur, out[n++] = (x))

static inline uint16_t gen_scope_new(struct gen_st *st, uint16_t parent)
{
	uint16_t s = st->nscopes++;
	st->parent[s] = parent;
	return s;
}

/* Instructions [from, to) become a scope of their own inside the current one. */
static inline void gen_seal(struct gen_st *st, size_t from, size_t to)
{
	uint16_t s = gen_scope_new(st, st->cur);
	for (size_t m = from; m < to; m++)
		st->scope[m] = s;
}

/* May the jump at insn `from` land on insn t? */
static inline bool gen_lands(const struct gen_st *st, size_t from, size_t t)
{
	for (uint16_t s = st->scope[from];; s = st->parent[s]) {
		if (s == st->scope[t])
			return true;
		if (st->parent[s] == s)
			return false;
	}
}

/* A register other than r6 (input), r10 and a map value pointer, not in
 * avoid. */
static inline int gen_reg(struct gen_st *st, uint16_t avoid)
{
	avoid |= st->ptrs;
	for (int tries = 0; tries < 16; tries++) {
		int x = (int)(gen_next(st->r) % 10);
		if (x != 6 && !((avoid >> x) & 1))
			return x;
	}
	for (int x = 0; x < 10; x++)
		if (x != 6 && !((avoid >> x) & 1))
			return x;
	return 0;
}

static inline void gen_item_new(struct gen_st *st, size_t lim);


/* ---- constructs of gen_prog_ex() ---- */

/* After a call: r1-r5 get constants or copies of r7-r9 (see the top). */
static inline void gen_clobber(struct gen_st *st)
{
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	for (int x = 1; x <= 5; x++) {
		uint64_t c = gen_next(st->r);
		if ((c & 3) || ((st->ptrs >> (7 + (c >> 2) % 3)) & 1))
			E(GI(0xb7, x, 0, 0, gen_imm(st->r))); /* rX = imm */
		else
			E(GI(0xbf, x, 7 + (int)((c >> 2) % 3), 0, 0)); /* rX = r7..r9 */
	}
	st->n = n;
}

/* *(key_size *)(r10 - 72) = a key of map m: in range mostly (hits and
 * misses), sometimes any constant; r2 is the scratch. */
static inline void gen_key(struct gen_st *st, int m)
{
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	const struct gen_map_shape *ms = &gen_maps[m];
	uint8_t stx = ms->key_size == 8 ? 0x7b : 0x63;
	int32_t mask = ms->type == BPFVM_MAP_HASH ? 15 : 7;
	switch (gen_next(st->r) % 4) {
	case 0:
		E(GI((uint8_t)(stx - 1), 10, 0, -72, (int32_t)(gen_next(st->r) % (uint64_t)(mask + 1))));
		break;
	case 1:
		E(GI((uint8_t)(stx - 1), 10, 0, -72, gen_imm(st->r)));
		break;
	default: {
		int s = gen_reg(st, 0);
		E(GI(0xbf, 2, s, 0, 0));    /* r2 = rS */
		E(GI(0x57, 2, 0, 0, mask)); /* r2 &= 7 or 15 */
		E(GI(stx, 10, 2, -72, 0));
		break;
	}
	}
	st->n = n;
}

/* r1 = map m (lddw src=5: fd_array index); r2 = r10 - 72 (the key) */
static inline void gen_map_args(struct gen_st *st, int m)
{
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	E(GI(0x18, 1, 5, 0, m));
	E(GI(0, 0, 0, 0, 0));
	E(GI(0xbf, 2, 10, 0, 0));
	E(GI(0x07, 2, 0, 0, -72));
	st->n = n;
}

static inline void gen_update(struct gen_st *st);
static inline void gen_delete(struct gen_st *st);

/*
 * r0 = bpf_map_lookup_elem(map, &key); if (r0) { [rP = r0; r0 = K;]
 * 1-4 loads/stores/atomics inside the value; r0 = K1; rP = K2 } else
 * { r0 = K3; rP = K4 }.  The pointer never outlives the scope.  rP is
 * r0, one of r1-r5, or one of r7-r9 (not a loop counter), which survives
 * helper calls: then an update or delete may come between the accesses.
 */
static inline void gen_lookup(struct gen_st *st)
{
	static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79, 0x91, 0x89, 0x81 };
	static const uint8_t ldsz[] = { 1, 2, 4, 8, 1, 2, 4 };
	static const uint8_t stx[] = { 0x73, 0x6b, 0x63, 0x7b };
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t first = st->n;
	int m = (int)(gen_next(r) % GEN_NMAPS);
	uint32_t vs = gen_maps[m].value_size;
	gen_key(st, m);
	gen_map_args(st, m);
	size_t n = st->n;
	E(GI(0x85, 0, 0, 0, BPFVM_FN_map_lookup_elem));
	st->n = n;
	gen_clobber(st);
	n = st->n;
	size_t jnull = n;
	E(GI(0x15, 0, 0, 0, 0)); /* if r0 == 0 goto miss */
	int p = 0;
	uint64_t how = gen_next(r) % 4;
	if (how == 1 || how == 2)
		p = 1 + (int)(gen_next(r) % 5);
	else if (how == 3 && (p = gen_reg(st, (uint16_t)(0x3f | st->keep))) < 7)
		p = 1;
	if (p) {
		E(GI(0xbf, p, 0, 0, 0));               /* rP = r0 */
		E(GI(0xb7, 0, 0, 0, gen_imm(r)));      /* r0 = K: a scalar again */
	}
	uint16_t ptr = (uint16_t)(1u << p);            /* registers holding the pointer */
	st->ptrs = ptr;
	int ops = 1 + (int)(gen_next(r) % 4);
	for (int k = 0; k < ops; k++) {
		uint64_t c = gen_next(r);
		if (p >= 7 && k == ops / 2 && (c & 8)) { /* a helper call while r7-r9 hold the pointer */
			st->n = n;
			if (c & 16)
				gen_update(st);
			else
				gen_delete(st);
			n = st->n;
		}
		switch (c % 4) {
		case 0: { /* load, any width, signed too */
			unsigned w = (unsigned)(gen_next(r) % 7);
			int16_t o = (int16_t)(gen_next(r) % (vs - ldsz[w] + 1));
			E(GI(ld[w], gen_reg(st, ptr | st->keep), p, o, 0));
			break;
		}
		case 1: case 2: { /* store a scalar register or an immediate */
			unsigned w = (unsigned)(gen_next(r) % 4);
			int16_t o = (int16_t)(gen_next(r) % (vs - (1u << w) + 1));
			if (c & 4)
				E(GI(stx[w], p, gen_reg(st, ptr), o, 0));
			else
				E(GI((uint8_t)(stx[w] - 1), p, 0, o, gen_imm(r)));
			break;
		}
		default: { /* any atomic of the table, aligned; the fetch forms write src */
			const struct vm_opinfo *oi = &vm_opinfo[gen_next(r) % VM_OP__COUNT];
			if (oi->fmt != FMT_ATOMIC || (p == 0 && oi->selval == 0xf1))
				break; /* cmpxchg compares with and writes r0: not while r0 is the pointer */
			unsigned sz = oi->code == 0xdb ? 8 : 4; /* STX|ATOMIC|DW, else W */
			int16_t o = (int16_t)((gen_next(r) % (vs / sz)) * sz);
			E(GI(oi->code, p, gen_reg(st, ptr | st->keep), o, oi->selval));
			break;
		}
		}
	}
	st->ptrs = 0;
	E(GI(0xb7, 0, 0, 0, gen_imm(r))); /* hit: r0 = K1 */
	if (p)
		E(GI(0xb7, p, 0, 0, gen_imm(r)));
	size_t jdone = n;
	E(GI(0x05, 0, 0, 0, 0));
	out[jnull].off = (int16_t)(n - jnull - 1);
	E(GI(0xb7, 0, 0, 0, gen_imm(r))); /* miss: r0 = K3 */
	if (p)
		E(GI(0xb7, p, 0, 0, gen_imm(r)));
	out[jdone].off = (int16_t)(n - jdone - 1);
	st->n = n;
	gen_seal(st, first + 1, n);
}

/* r0 = bpf_map_update_elem(map, &key, &value, flags): an errno or 0. */
static inline void gen_update(struct gen_st *st)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t first = st->n;
	int m = (int)(gen_next(r) % GEN_NMAPS);
	gen_key(st, m);
	size_t n = st->n;
	for (int16_t o = 0; o < (int16_t)gen_maps[m].value_size; o += 8) { /* value at r10 - 104 */
		if (gen_next(r) & 1)
			E(GI(0x7a, 10, 0, (int16_t)(-104 + o), gen_imm(r)));
		else
			E(GI(0x7b, 10, gen_reg(st, 0), (int16_t)(-104 + o), 0));
	}
	st->n = n;
	gen_map_args(st, m);
	n = st->n;
	E(GI(0xbf, 3, 10, 0, 0));
	E(GI(0x07, 3, 0, 0, -104));
	uint64_t f = gen_next(r) % 16;
	E(GI(0xb7, 4, 0, 0, f < 5 ? BPFVM_ANY : f < 10 ? BPFVM_NOEXIST : f < 15 ? BPFVM_EXIST : gen_imm(r)));
	E(GI(0x85, 0, 0, 0, BPFVM_FN_map_update_elem));
	st->n = n;
	gen_clobber(st);
	gen_seal(st, first + 1, st->n);
}

/* r0 = bpf_map_delete_elem(map, &key) (arrays: -EINVAL) */
static inline void gen_delete(struct gen_st *st)
{
	struct bpf_insn *out = st->out;
	size_t first = st->n;
	int m = (int)(gen_next(st->r) % GEN_NMAPS);
	gen_key(st, m);
	gen_map_args(st, m);
	size_t n = st->n;
	E(GI(0x85, 0, 0, 0, BPFVM_FN_map_delete_elem));
	st->n = n;
	gen_clobber(st);
	gen_seal(st, first + 1, st->n);
}

/* r0 = subprogram(r1 = input, r2-r5 = scalars) */
static inline void gen_call_local(struct gen_st *st)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t first = st->n, n = st->n;
	int callee = st->fn + 1 + (int)(gen_next(r) % (uint64_t)(st->nfns - 1 - st->fn));
	for (int x = 2; x <= 5; x++) {
		if (gen_next(r) & 1)
			E(GI(0xb7, x, 0, 0, gen_imm(r)));
		else
			E(GI(0xbf, x, gen_reg(st, 0), 0, 0));
	}
	if (st->ptr_arg[callee]) { /* r2 = r10 - 64..-24: the callee accesses [r2, r2 + 16) */
		E(GI(0xbf, 2, 10, 0, 0));
		E(GI(0x07, 2, 0, 0, (int32_t)(-64 + 8 * (int32_t)(gen_next(r) % 6))));
	}
	E(GI(0xbf, 1, 6, 0, 0)); /* r1 = input: the callee may load and store it */
	st->calls[st->ncalls].at = n;
	st->calls[st->ncalls++].callee = callee;
	E(GI(0x85, 0, BPF_PSEUDO_CALL, 0, 0)); /* imm set once the callee's place is known */
	st->n = n;
	gen_clobber(st);
	gen_seal(st, first + 1, st->n);
}

/* bpf_tail_call(input, progs, index): slots 0..GEN_PROG_SLOTS-1 (some
 * empty), or out of range; r0 survives a fall-through. */
static inline void gen_tail_call(struct gen_st *st)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t first = st->n, n = st->n;
	switch (gen_next(r) % 4) {
	case 0:
		E(GI(0xb7, 3, 0, 0, (int32_t)(gen_next(r) % (GEN_PROG_SLOTS + 1))));
		break;
	case 1:
		E(GI(0xb7, 3, 0, 0, gen_imm(r)));
		break;
	default:
		E(GI(0xbf, 3, gen_reg(st, 0), 0, 0));
		E(GI(0x57, 3, 0, 0, 3));
		break;
	}
	E(GI(0xbf, 1, 6, 0, 0));
	E(GI(0x18, 2, 5, 0, GEN_MAP_PROGS));
	E(GI(0, 0, 0, 0, 0));
	E(GI(0x85, 0, 0, 0, BPFVM_FN_tail_call));
	st->n = n;
	gen_clobber(st);
	gen_seal(st, first + 1, st->n);
}

/* A loop-body item: an ALU op, a forward jump inside the body, a store and
 * load, an atomic, or (one time in three) a construct; none writes the
 * counters in st->keep. */
static inline void gen_item_loop(struct gen_st *st, size_t end, size_t lim)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	uint64_t pick = gen_next(r);
	int dst = gen_reg(st, st->keep), src = gen_reg(st, 0);
	if (n + 3 > lim)
		return;
	switch (pick % 6) {
	case 0: case 1: { /* any ALU op from the table */
		const struct vm_opinfo *oi = &vm_opinfo[gen_next(r) % VM_OP__COUNT];
		if (oi->fmt != FMT_ALU_K && oi->fmt != FMT_ALU_X && oi->fmt != FMT_NEG && oi->fmt != FMT_END)
			break;
		int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
		int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : gen_imm(r);
		E(GI(oi->code, dst, oi->fmt == FMT_ALU_X ? src : 0, off, oi->fmt == FMT_ALU_X ? 0 : imm));
		break;
	}
	case 2: { /* forward conditional jump, at most to the counter's decrement */
		const struct vm_opinfo *oi = &vm_opinfo[gen_next(r) % VM_OP__COUNT];
		if (oi->fmt != FMT_JCOND_K && oi->fmt != FMT_JCOND_X && oi->fmt != FMT_JA)
			break;
		size_t room = end > n ? end - n - 1 : 0;
		int16_t off = (int16_t)(room ? gen_next(r) % (room + 1) : 0);
		E(GI(oi->code, oi->fmt == FMT_JA ? 0 : dst, oi->fmt == FMT_JCOND_X ? src : 0, off,
		     oi->fmt == FMT_JCOND_K ? gen_imm(r) : 0));
		break;
	}
	case 3: { /* store to stack or input, load back */
		static const uint8_t stx[] = { 0x73, 0x6b, 0x63, 0x7b };
		static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79, 0x91, 0x89, 0x81 };
		int base = (gen_next(r) & 1) ? 10 : 6;
		int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
		E(GI(stx[gen_next(r) % 4], base, src, o, 0));
		E(GI(ld[gen_next(r) % 7], dst, base, o, 0));
		break;
	}
	case 4: { /* atomic on an aligned stack/input slot; src is written by fetch forms */
		const struct vm_opinfo *oi = &vm_opinfo[gen_next(r) % VM_OP__COUNT];
		if (oi->fmt != FMT_ATOMIC)
			break;
		int base = (gen_next(r) & 1) ? 10 : 6;
		int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
		E(GI(oi->code, base, dst, o, oi->selval));
		break;
	}
	default:
		st->n = n;
		gen_item_new(st, lim);
		return;
	}
	st->n = n;
}

/* rC = 1..8; do { body } while (--rC) */
static inline void gen_loop(struct gen_st *st, size_t lim)
{
	static const struct { uint8_t code; int32_t k; } back[] = {
		{ 0x55, 0 }, { 0x25, 0 }, { 0x65, 0 }, { 0x56, 0 }, { 0x35, 1 } /* jne, jgt, jsgt 0; jne32 0; jge 1 */
	};
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	if (st->loops >= 2 || n + 12 > lim)
		return;
	int c = gen_reg(st, (uint16_t)(st->keep | 0x3f)); /* r7-r9 survive calls */
	if (c < 7)
		return;
	uint16_t outer = st->cur;
	if (gen_next(r) & 1) {
		E(GI(0xb7, c, 0, 0, 1 + (int32_t)(gen_next(r) % 6)));
		st->cur = gen_scope_new(st, outer);
	} else {
		E(GI(0xbf, c, gen_reg(st, 0), 0, 0));
		st->cur = gen_scope_new(st, outer); /* landing on the mask or the +1 would leave rC unbounded */
		E(GI(0x57, c, 0, 0, 7));
		E(GI(0x07, c, 0, 0, 1));
	}
	size_t head = n;
	size_t end = n + 3 + gen_next(r) % 22;
	if (end + 5 > lim) /* every body item fits before lim - 2 */
		end = lim - 5;
	st->keep |= (uint16_t)(1u << c);
	st->loops++;
	st->n = n;
	while (st->n < end)
		gen_item_loop(st, end, lim - 2);
	n = st->n;
	st->loops--;
	st->keep &= (uint16_t)~(1u << c);
	E(GI((gen_next(r) & 1) ? 0x17 : 0x14, c, 0, 0, 1)); /* rC -= 1 */
	unsigned b = (unsigned)(gen_next(r) % (sizeof(back) / sizeof(back[0])));
	int16_t off = (int16_t)((int64_t)head - (int64_t)n - 1);
	E(GI(back[b].code, c, 0, off, back[b].k));
	st->cur = outer;
	st->n = n;
}

static inline void gen_item_new(struct gen_st *st, size_t lim)
{
	uint64_t c = gen_next(st->r) % 100;
	if (st->n + 60 > lim) /* the largest, a lookup with an update inside: ~45 */
		return;
	if (c < 60 && (st->feat & GEN_F_MAPS)) {
		if (c < 30)
			gen_lookup(st);
		else if (c < 48)
			gen_update(st);
		else
			gen_delete(st);
	} else if (c < 75 && (st->feat & GEN_F_LOOPS)) {
		gen_loop(st, lim);
	} else if (c < 90 && (st->feat & GEN_F_CALLS) && st->fn + 1 < st->nfns) {
		gen_call_local(st);
	} else if (c >= 90 && (st->feat & GEN_F_TAIL) && (st->fn == 0 || (st->feat & GEN_F_TAIL_SUB))) {
		gen_tail_call(st);
	}
}

/* ---- the original repertoire ---- */

/* One item at st->n; forward jumps land at most at want; constructs of
 * gen_prog_ex() (st->feat) end before lim. */
static inline void gen_item_old(struct gen_st *st, size_t want, size_t lim)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t n = st->n;
		uint64_t pick = gen_next(r);
		int dst = (int)(gen_next(r) % 10), src = (int)(gen_next(r) % 10);
		if (dst == 6)
			dst = 0; /* keep the input pointer */
		if (src == 6)
			src = 7; /* and never compute with it: its value differs per run */
		if (st->feat && (pick >> 32) % 4 == 0) { /* one time in four: a construct from gen_item_new() */
			st->n = n;
			gen_item_new(st, lim);
			return;
		}
		switch (pick % 9) {
		case 0: case 1: case 2: case 3: { /* any ALU op from the table */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_ALU_K && oi->fmt != FMT_ALU_X && oi->fmt != FMT_NEG && oi->fmt != FMT_END)
				goto done;
			int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
			int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : gen_imm(r);
			E(GI(oi->code, dst, oi->fmt == FMT_ALU_X ? src : 0, off, oi->fmt == FMT_ALU_X ? 0 : imm));
			break;
		}
		case 4: { /* forward conditional jump */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_JCOND_K && oi->fmt != FMT_JCOND_X && oi->fmt != FMT_JA)
				goto done;
			size_t room = want - n - 1;
			int16_t off = (int16_t)(room ? gen_next(r) % (room < 40 ? room + 1 : 40) : 0);
			E(GI(oi->code, oi->fmt == FMT_JA ? 0 : dst, oi->fmt == FMT_JCOND_X ? src : 0, off,
			              oi->fmt == FMT_JCOND_K ? gen_imm(r) : 0));
			break;
		}
		case 5: { /* store to stack or input, then load back (any width, signed too) */
			static const uint8_t sto[] = { 0x73, 0x6b, 0x63, 0x7b };
			static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79, 0x91, 0x89, 0x81 };
			unsigned w = (unsigned)(gen_next(r) % 4);
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (gen_next(r) & 1)
				E(GI(sto[w], base, src, o, 0));
			else
				E(GI((uint8_t)(sto[w] - 1), base, 0, o, gen_imm(r))); /* ST imm */
			E(GI(ld[gen_next(r) % 7], dst, base, o, 0));
			break;
		}
		case 6: { /* atomic on an aligned stack/input slot */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_ATOMIC)
				goto done;
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (base == 10) /* initialize the slot first */
				E(GI(0x7b, 10, src, o, 0));
			int s = src;
			E(GI(oi->code, base, s, o, oi->selval));
			break;
		}
		case 8: { /* idioms the JIT fuses (jit/x86_64_opt.c), temporaries dead or live after */
			static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79 };
			static const uint8_t sto[] = { 0x73, 0x6b, 0x63, 0x7b };
			static const uint8_t alu[] = { 0x00, 0x10, 0x40, 0x50, 0xa0 };
			static const uint8_t jc[] = { 0x10, 0x50, 0x20, 0x30, 0xa0, 0xb0, 0x60, 0x40 };
			static const int32_t cmpk[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, -1, 0x7fffffff };
			unsigned w = (unsigned)(gen_next(r) % 4);
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (n + 8 > want)
				goto done;
			switch (gen_next(r) % 7) {
			case 0: { /* rA = base; rA += index|K; [gap]; access [rA + off]; rA = pointer-free */
				if (n + 8 >= GEN_MAXLEN)
					goto done;
				size_t first = n + 1;
				int idx = src == dst ? (dst + 1) % 10 : src;
				if (idx == 6)
					idx = 7;
				bool k = base == 10 || (gen_next(r) & 1);
				if (!k) /* index in 0..24, the access within the input */
					E(GI(0x57, idx, 0, 0, 0x18));
				E(GI(0xbf, dst, base, 0, 0));
				if (k)
					E(GI(0x07, dst, 0, 0, base == 10 ? -64 : 8));
				else
					E(GI(0x0f, dst, idx, 0, 0));
				int16_t ao = (int16_t)(gen_next(r) % 32);
				if (base == 10)
					ao = (int16_t)(gen_next(r) % 56);
				if (gen_next(r) & 1) { /* a gap instruction that may or may not block the fold */
					int g = (int)(gen_next(r) % 10); /* never rA: it holds the pointer */
					if (g == 6 || g == dst)
						g = dst == 0 ? 1 : 0;
					E(GI(0x07 | 0xa0, g, 0, 0, gen_imm(r))); /* gX ^= imm */
				}
				bool loaded = false;
				switch (gen_next(r) % 4) {
				case 0: E(GI(ld[w], dst, dst, ao, 0)); loaded = true; break;
				case 1: E(GI(ld[w], src, dst, ao, 0)); loaded = src == dst; break;
				case 2: /* store a value, never rA (the pointer): with rA = r0, src == dst must not mean r0 */
					E(GI(sto[w], dst, src != dst ? src : dst ? 0 : 1, ao, 0));
					break;
				default: E(GI((uint8_t)(sto[w] - 1), dst, 0, ao, gen_imm(r))); break;
				}
				/* rA may hold the pointer: make it pointer-free, read (live) or not */
				if (gen_next(r) & 1) /* rA read again: a value, or the pointer minus base */
					E(loaded ? GI(0x07, dst, 0, 0, 1) : GI(0x1f, dst, base, 0, 0));
				else
					E(GI(0xb7, dst, 0, 0, (int32_t)gen_next(r)));
				gen_seal(st, first, n); /* landing on rA -= base would leak a pointer */
				E(GI(0x57, dst, 0, 0, 0xffff)); /* and then bounded either way */
				break;
			}
			case 1: { /* rT = [m]; rT op= S|K; [m] = rT */
				int t = dst == src ? (dst + 1) % 10 : dst;
				if (t == 6)
					t = 7;
				E(GI(ld[w], t, base, o, 0));
				uint8_t op = alu[gen_next(r) % 5];
				if (gen_next(r) & 1)
					E(GI((uint8_t)(op | ((gen_next(r) & 1) ? 0x07 : 0x04)), t, 0, 0, gen_imm(r)));
				else
					E(GI((uint8_t)(op | ((gen_next(r) & 1) ? 0x0f : 0x0c)), t, src, 0, 0));
				E(GI(sto[w], base, t, o, 0));
				if (gen_next(r) & 1)
					E(GI(0xb7, t, 0, 0, 3)); /* rT dead */
				break;
			}
			case 2: { /* rT = [m]; if rT cc K goto */
				E(GI(ld[w], dst, base, o, 0));
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				uint8_t cls = (gen_next(r) & 1) ? 0x05 : 0x06;
				E(GI((uint8_t)(jc[gen_next(r) % 8] | cls), dst, 0, off, cmpk[gen_next(r) % 10]));
				if (gen_next(r) & 1)
					E(GI(0xb7, dst, 0, 0, 5)); /* rT dead on the fall-through */
				break;
			}
			case 3: { /* [rT = rS;] rT &= K; if rT ==/!= 0 goto */
				if (gen_next(r) & 1)
					E(GI((gen_next(r) & 1) ? 0xbf : 0xbc, dst, src, 0, 0));
				E(GI((gen_next(r) & 1) ? 0x57 : 0x54, dst, 0, 0, gen_imm(r)));
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				E(GI((gen_next(r) & 1) ? 0x15 : 0x56, dst, 0, off, 0));
				if (gen_next(r) & 1)
					E(GI(0xb7, dst, 0, 0, 9));
				break;
			}
			case 5: { /* d op= x; if d ==/!= 0 goto (the op's flags reused) */
				uint8_t op = alu[gen_next(r) % 5];
				uint8_t cls = (gen_next(r) & 1) ? 0x07 : 0x04;
				if (gen_next(r) & 1)
					E(GI((uint8_t)(op | cls | 0x08), dst, src, 0, 0));
				else
					E(GI((uint8_t)(op | cls), dst, 0, 0, gen_imm(r)));
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				E(GI((uint8_t)(((gen_next(r) & 1) ? 0x10 : 0x50) | ((gen_next(r) & 1) ? 0x05 : 0x06)), dst,
				              0, off, 0));
				break;
			}
			case 6: /* w = ws; w += wx|K  (lea r32) */
				E(GI(0xbc, dst, src, 0, 0));
				if (gen_next(r) & 1)
					E(GI(0x04, dst, 0, 0, gen_imm(r)));
				else
					E(GI(0x0c, dst, (gen_next(r) & 1) ? dst : src, 0, 0));
				break;
			default: { /* d *= 2^n, 3, 5, 9; d += K */
				static const int32_t mk[] = { 2, 3, 4, 5, 8, 9, 16 };
				bool w64 = gen_next(r) & 1;
				E(GI(w64 ? 0x27 : 0x24, dst, 0, 0, mk[gen_next(r) % 7]));
				E(GI(w64 ? 0x07 : 0x04, dst, 0, 0, gen_imm(r)));
				break;
			}
			}
			break;
		}
		default: { /* mov a fresh constant */
			uint64_t v = gen_imm64(r);
			E(GI(0x18, dst, 0, 0, (int32_t)(uint32_t)v));
			E(GI(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
			break;
		}
		}
done:
	st->n = n;
}

/* ---- functions and programs ---- */

/* The main function's body: the original prologue, items until about
 * want, then the fold into the input and r0. */
static inline void gen_main(struct gen_st *st, size_t cap)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t n = st->n;
	/* r6 = input pointer (r1), r7..r9, r0, r2..r5 random */
	E(GI(0xbf, 6, 1, 0, 0));
	for (int16_t o = -64; o < 0; o += 8) /* the stack starts out defined */
		E(GI(0x7a, 10, 0, o, 0));
	for (int reg = 0; reg <= 9; reg++) {
		if (reg == 6)
			continue;
		uint64_t v = gen_imm64(r);
		E(GI(0x18, reg, 0, 0, (int32_t)(uint32_t)v));
		E(GI(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
	}
	size_t body = cap - 48;
	size_t want = 8 + gen_next(r) % (body - n);
	st->n = n;
	while (st->n < want)
		gen_item_old(st, want, body);
	n = st->n;
	/* Fold: input[0..] = r0..r9 (not r6), r0 ^= everything rotated. */
	for (int reg = 0; reg <= 9; reg++) {
		if (reg == 6)
			continue;
		E(GI(0x7b, 6, reg, (int16_t)(reg * 8 > 56 ? 0 : reg * 8), 0));
		if (reg) {
			E(GI(0x07 | 0x60, 0, 0, 0, 7));   /* r0 <<= 7 */
			E(GI(0x0f | 0xa0, 0, reg, 0, 0)); /* r0 ^= reg */
		}
	}
	E(GI(0x95, 0, 0, 0, 0));
	st->n = n;
}

/* A subprogram: r1 = input, r2-r5 = arguments; its own stack frame
 * (-104..-8 used, of 512); r0 = everything folded. */
static inline void gen_sub(struct gen_st *st, size_t cap)
{
	struct gen_rng *r = st->r;
	struct bpf_insn *out = st->out;
	size_t n = st->n, start = n;
	E(GI(0xbf, 6, 1, 0, 0));             /* r6 = input */
	E(GI(0xb7, 1, 0, 0, gen_imm(r)));    /* r1: a scalar, the pointer is in r6 */
	for (int16_t o = -64; o < 0; o += 8) /* this frame's stack starts out defined */
		E(GI(0x7a, 10, 0, o, gen_imm(r)));
	if (st->ptr_arg[st->fn]) { /* 1-3 accesses to the caller's frame, then r2 = K */
		static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79 };
		static const uint8_t stx[] = { 0x73, 0x6b, 0x63, 0x7b };
		for (int k = 1 + (int)(gen_next(r) % 3); k > 0; k--) {
			unsigned w = (unsigned)(gen_next(r) % 4);
			int16_t o = (int16_t)(gen_next(r) % (17 - (1u << w)));
			switch (gen_next(r) % 4) {
			case 0: E(GI(ld[w], 3, 2, o, 0)); break;                   /* r3 = *(r2 + o) */
			case 1: E(GI(stx[w], 2, 4, o, 0)); break;                  /* *(r2 + o) = r4 */
			case 2: E(GI(0x7a, 2, 0, (int16_t)(o & 8), gen_imm(r))); break;
			default: E(GI(0xdb, 2, 5, (int16_t)(o & 8), (gen_next(r) & 1) ? 0x01 : 0xa0)); break; /* fetch add, xor */
			}
		}
		E(GI(0xb7, 2, 0, 0, gen_imm(r)));
	}
	E(GI(0xbf, 7, 2, 0, 0));
	E(GI(0xbf, 8, 3, 0, 0));
	E(GI(0xbf, 9, 4, 0, 0));
	E(GI(0xbf, 0, 5, 0, 0));
	size_t body = start + cap - 30; /* old items overrun want by up to 9, then 17 of fold */
	size_t want = n + 4 + gen_next(r) % (body - n - 4);
	st->n = n;
	while (st->n < want)
		gen_item_old(st, want, body);
	n = st->n;
	for (int reg = 1; reg <= 9; reg++) {
		if (reg == 6)
			continue;
		E(GI(0x07 | 0x60, 0, 0, 0, 7));   /* r0 <<= 7 */
		E(GI(0x0f | 0xa0, 0, reg, 0, 0)); /* r0 ^= reg */
	}
	E(GI(0x95, 0, 0, 0, 0));
	st->n = n;
}

/* Writes a program of at most cap instructions into out; returns its
 * length.  cap must be at least 128 (and at most GEN_MAXLEN); features:
 * enum gen_feature, 0 for gen_prog()'s programs. */
static inline size_t gen_prog_ex(struct gen_rng *r, struct bpf_insn *out, size_t cap, uint32_t features)
{
	static __thread struct gen_st sts;
	struct gen_st *st = &sts;
	memset(st, 0, sizeof(*st));
	st->r = r;
	st->out = out;
	st->feat = features;
	st->nfns = 1;
	if ((features & GEN_F_CALLS) && cap >= 128 + GEN_SUBCAP)
		st->nfns += (int)(gen_next(r) % (uint64_t)((cap - 128) / GEN_SUBCAP < GEN_MAXFN ? (cap - 128) / GEN_SUBCAP + 1
		                                                                                : GEN_MAXFN));
	for (int f = 1; f < st->nfns; f++)
		st->ptr_arg[f] = gen_next(r) % 3 == 0;
	for (st->fn = 0; st->fn < st->nfns; st->fn++) {
		st->fn_start[st->fn] = st->n;
		st->cur = gen_scope_new(st, st->nscopes); /* a root: its own parent */
		if (st->fn == 0)
			gen_main(st, cap - (size_t)(st->nfns - 1) * GEN_SUBCAP);
		else
			gen_sub(st, GEN_SUBCAP);
	}
	size_t n = st->n;
	for (size_t c = 0; c < st->ncalls; c++)
		out[st->calls[c].at].imm = (int32_t)((int64_t)st->fn_start[st->calls[c].callee] - (int64_t)st->calls[c].at - 1);
	/* Forward jumps must not land on the second slot of an lddw nor
	 * inside a scope they are not in: move them on.  (Within a function:
	 * its last instruction, exit, is in its root scope.) */
	for (size_t i = 0; i < n; i++) {
		uint8_t cls = out[i].code & 7;
		if (out[i].code == 0x18) {
			i++;
			continue;
		}
		if ((cls == 5 || cls == 6) && out[i].code != 0x85 && out[i].code != 0x95 && out[i].off >= 0) {
			size_t t = i + 1 + out[i].off;
			if (t > 0 && t < n && out[t - 1].code == 0x18)
				out[i].off++;
			for (t = i + 1 + out[i].off; t < n && !gen_lands(st, i, t); t++)
				out[i].off++;
		}
	}
	return n;
}

static inline size_t gen_prog(struct gen_rng *r, struct bpf_insn *out, size_t cap)
{
	return gen_prog_ex(r, out, cap, 0);
}

#undef E

#endif
