/*
 * Verifier fuzz target for programs that use maps, spin locks, map-in-map,
 * global data, tail calls, bpf-to-bpf calls and bounded loops (libFuzzer).
 *
 * Input: one control byte, then generator bytes.  Control bit 0 picks the
 * mode: structured (a program assembled from templates -- lookup with a
 * null check, value access, update, delete, lock/unlock, direct value
 * lddw, map-in-map lookup, tail call, call to a subprogram, bounded loop,
 * variable offsets, spills, atomics, raw instructions -- whose parameters
 * come from the input, then a few point mutations) or raw (each 4 bytes
 * one instruction from the opcode table, map and helper immediates folded
 * onto the ones below).  Bit 1 makes an "xdp" program instead of a "mem"
 * one (no checked oracle then: only sanitizers, lock leaks and Linux).
 *
 * Oracles, for every program the verifier accepts:
 *   - the verified program runs (fast interpreter, then the JIT): it must
 *     succeed, leave no spin lock taken, and not crash (sanitizers);
 *   - the same instructions run unverified in checked mode on the same
 *     input and map contents: any fault (out-of-bounds access, bad
 *     pointer, lock misuse, instruction budget exhausted) is a verifier
 *     soundness bug -> abort;
 *   - unless the program calls a nondeterministic helper, the three runs
 *     agree on r0, the input bytes and the map contents (words that look
 *     like host pointers are not compared: they legitimately differ).
 * Optional: BPFVM_FUZZ_LINUX=<file> (root, bpf() permitted) also asks the
 * running kernel's verifier (BPF_PROG_LOAD only; xdp programs) and appends
 * disagreements to <file>; see linux_verdict().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"
#include "isa.h"
#include "map.h"
#include "fix_jumps.h"

#include "verifier_maps_fuzz_linux.h"

enum { M_ARR, M_HASH, M_LOCK, M_INNER, M_OUTER, M_GLOBAL, M_RO, M_PA_V, M_PA_C, M_PA_X, M__N };

static const struct bpfvm_map_attr map_attrs[M__N] = {
	[M_ARR] = { .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 48, .max_entries = 4, .spin_lock_off = -1 },
	[M_HASH] = { .type = BPFVM_MAP_HASH, .key_size = 8, .value_size = 16, .max_entries = 4, .spin_lock_off = -1 },
	[M_LOCK] = { .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 24, .max_entries = 2, .spin_lock_off = 8 },
	[M_INNER] = { .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 32, .max_entries = 2, .spin_lock_off = -1 },
	[M_OUTER] = { .type = BPFVM_MAP_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4, .max_entries = 2,
	              .spin_lock_off = -1 },
	/* .bss-like: one value, reached by lddw src=2, with a lock in it */
	[M_GLOBAL] = { .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 32, .max_entries = 1, .spin_lock_off = 16 },
	/* .rodata-like */
	[M_RO] = { .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 1, .spin_lock_off = -1,
	           .map_flags = BPFVM_F_RDONLY_PROG },
	[M_PA_V] = { .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 5, .spin_lock_off = -1 },
	[M_PA_C] = { .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 5, .spin_lock_off = -1 },
	[M_PA_X] = { .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2, .spin_lock_off = -1 },
};

static bpfvm *vm;
static bpfvm_map *maps[M__N];
static int fds[M__N];

/* What the campaign exercised, printed at exit (for docs/verifier.md). */
static struct {
	unsigned long long programs, structured, accepted, checked_runs, jit_runs, compared;
} stats;

static void print_stats(void)
{
	fprintf(stderr, "verifier_maps_fuzz: %llu programs (%llu structured), %llu accepted, %llu checked runs, "
	        "%llu JIT runs, %llu compared\n", stats.programs, stats.structured, stats.accepted, stats.checked_runs,
	        stats.jit_runs, stats.compared);
}

/* ------------------------------------------------------------------ */
/* Instruction emission                                                */
/* ------------------------------------------------------------------ */

#define MAXI 1024
#define SZ_W 0x00
#define SZ_H 0x08
#define SZ_B 0x10
#define SZ_DW 0x18

struct gen {
	const uint8_t *d;
	size_t n, pos;
	struct bpf_insn in[MAXI];
	uint32_t len;
	uint32_t out_fix[256], nout;       /* jumps to the epilogue */
	struct { uint32_t at, sub; } call_fix[64];
	uint32_t ncall;
	bool sub_used[8];
	bool xdp;
	bool full;
};

static uint8_t rd(struct gen *g) { return g->pos < g->n ? g->d[g->pos++] : 0; }

static void I(struct gen *g, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	if (g->len + 2 >= MAXI - 64) {
		g->full = true;
		return;
	}
	g->in[g->len++] = (struct bpf_insn){ .code = code, .dst_reg = dst & 15, .src_reg = src & 15, .off = off,
	                                     .imm = imm };
}

static void mov_k(struct gen *g, int d, int32_t k) { I(g, 0xb7, d, 0, 0, k); }
static void mov_x(struct gen *g, int d, int s) { I(g, 0xbf, d, s, 0, 0); }
static void add_k(struct gen *g, int d, int32_t k) { I(g, 0x07, d, 0, 0, k); }
static void ldx(struct gen *g, int sz, int d, int s, int16_t off) { I(g, 0x61 | sz, d, s, off, 0); }
static void st(struct gen *g, int sz, int d, int16_t off, int32_t k) { I(g, 0x62 | sz, d, 0, off, k); }
static void stx(struct gen *g, int sz, int d, int s, int16_t off) { I(g, 0x63 | sz, d, s, off, 0); }
static void call(struct gen *g, int32_t id) { I(g, 0x85, 0, 0, 0, id); }
static void exit_(struct gen *g) { I(g, 0x95, 0, 0, 0, 0); }

static void lddw(struct gen *g, int d, int src, int32_t imm, int32_t imm2)
{
	if (g->len + 3 >= MAXI - 64) {
		g->full = true;
		return;
	}
	I(g, 0x18, d, src, 0, imm);
	I(g, 0, 0, 0, 0, imm2);
}

static void ld_map(struct gen *g, int d, int m) { lddw(g, d, BPF_PSEUDO_MAP_FD, fds[m], 0); }

/* Conditional jump to the epilogue (patched when it is known). */
static void j_out(struct gen *g, uint8_t code, int d, int32_t k)
{
	I(g, code, d, 0, 0, k);
	if (!g->full && g->nout < 256)
		g->out_fix[g->nout++] = g->len - 1;
	else if (!g->full)
		g->in[g->len - 1].off = 0;
}

static void call_sub(struct gen *g, unsigned sub)
{
	I(g, 0x85, 0, BPF_PSEUDO_CALL, 0, 0);
	if (!g->full && g->ncall < 64) {
		g->call_fix[g->ncall].at = g->len - 1;
		g->call_fix[g->ncall++].sub = sub;
		g->sub_used[sub] = true;
	} else if (!g->full) {
		g->len--;
	}
}

/* ------------------------------------------------------------------ */
/* Templates.  Registers by convention: r6 the context, r7 and r8       */
/* pointers (initially the stack), r9 a scalar.                         */
/* ------------------------------------------------------------------ */

static const int lookup_maps[] = { M_ARR, M_HASH, M_LOCK, M_INNER, M_GLOBAL, M_RO, M_OUTER };

static int pick_ptr_reg(struct gen *g) { return (rd(g) & 1) ? 8 : 7; }

static void store_key(struct gen *g, int m, int slot_off)
{
	static const int32_t keys[] = { 0, 1, 2, 3, 4, -1, 0, 1 };
	int32_t k = keys[rd(g) & 7];
	if (map_attrs[m].key_size == 8)
		st(g, SZ_DW, 10, (int16_t)slot_off, k);
	else
		st(g, SZ_W, 10, (int16_t)slot_off, k);
}

/* map_lookup_elem into r0 and a null check in one of several shapes;
 * leaves the pointer in `dst`. */
static void t_lookup(struct gen *g, int m, int dst)
{
	store_key(g, m, -8);
	ld_map(g, 1, m);
	mov_x(g, 2, 10);
	add_k(g, 2, -8);
	call(g, BPFVM_FN_map_lookup_elem);
	switch (rd(g) % 6) {
	case 0: case 5:
		j_out(g, 0x15, 0, 0); /* if r0 == 0 goto out */
		mov_x(g, dst, 0);
		break;
	case 1:
		mov_x(g, dst, 0);
		j_out(g, 0x15, dst, 0);
		break;
	case 2:
		mov_x(g, dst, 0); /* no null check: uses must be rejected */
		break;
	case 3:
		I(g, 0x55, 0, 0, 2, 0); /* if r0 != 0 goto +2 */
		mov_k(g, 0, 0);
		exit_(g);
		mov_x(g, dst, 0);
		break;
	case 4:
		mov_x(g, dst, 0); /* check the original: the copy shares its id */
		j_out(g, 0x15, 0, 0);
		break;
	}
}

static int16_t pick_off(struct gen *g, int vs)
{
	uint8_t b = rd(g);
	switch (b % 10) {
	case 0: return 0;
	case 1: return 4;
	case 2: return 8;
	case 3: return (int16_t)(vs - 8);
	case 4: return (int16_t)(vs - 4);
	case 5: return (int16_t)(vs - 1);
	case 6: return (int16_t)vs;
	case 7: return -8;
	case 8: return 16;
	default: return (int8_t)rd(g) % 64;
	}
}

static const int sizes[] = { SZ_B, SZ_H, SZ_W, SZ_DW };

/* A load, store or atomic through register p at offset off. */
static void t_access(struct gen *g, int p, int vs)
{
	int sz = sizes[rd(g) & 3];
	int16_t off = pick_off(g, vs);
	switch (rd(g) % 7) {
	case 0: case 1:
		ldx(g, sz, 9, p, off);
		break;
	case 2:
		st(g, sz, p, off, (int8_t)rd(g));
		break;
	case 3:
		stx(g, sz, p, 9, off);
		break;
	case 4: /* a pointer stored into memory */
		stx(g, SZ_DW, p, (rd(g) & 1) ? 6 : 10, off);
		break;
	case 5: { /* atomic add / fetch-add / xchg / cmpxchg */
		static const int32_t aops[] = { 0x00, 0x01, 0xe1, 0xf1, 0x40, 0xa1 };
		int32_t op = aops[rd(g) % 6];
		if (op == 0xf1)
			mov_k(g, 0, 0);
		I(g, (rd(g) & 1) ? 0xdb : 0xc3, p, 9, off, op);
		break;
	}
	default:
		ldx(g, sz, 8, p, off); /* may clobber a pointer with a scalar */
		break;
	}
}

/* A scalar from the input, bounded (or not quite), added to a pointer,
 * then an access: the variable-offset rules. */
static void t_varoff(struct gen *g)
{
	if (g->xdp)
		return;
	ldx(g, sizes[rd(g) & 3], 9, 6, (int16_t)(rd(g) % 60));
	uint8_t v = rd(g);
	int32_t lim = (int32_t)(rd(g) % 64);
	switch (v % 6) {
	case 0: I(g, 0x57, 9, 0, 0, lim); break;             /* r9 &= lim */
	case 1: j_out(g, 0x25, 9, lim); break;               /* if r9 > lim goto out */
	case 2: j_out(g, 0x35, 9, lim); break;               /* if r9 >= lim goto out */
	case 3: j_out(g, 0x26, 9, lim); break;               /* if w9 > lim goto out */
	case 4: j_out(g, 0x65, 9, lim); break;               /* if r9 s> lim goto out (no lower bound) */
	default: I(g, 0x77, 9, 0, 0, 2 + (rd(g) & 3)); break; /* r9 >>= n */
	}
	int p = pick_ptr_reg(g);
	switch (rd(g) % 4) {
	case 0: I(g, 0x0f, p, 9, 0, 0); break;          /* p += r9 */
	case 1: I(g, 0x1f, p, 9, 0, 0); break;          /* p -= r9 */
	case 2: I(g, 0x0f, p, 9, 0, 0); add_k(g, p, -(int32_t)(rd(g) % 16)); break;
	default: mov_x(g, 1, 9); I(g, 0x0f, 1, p, 0, 0); mov_x(g, p, 1); break; /* scalar + pointer */
	}
	t_access(g, p, 48);
}

static void t_update(struct gen *g)
{
	static const int ums[] = { M_ARR, M_HASH, M_LOCK, M_INNER, M_GLOBAL, M_RO, M_OUTER };
	int m = ums[rd(g) % 7];
	store_key(g, m, -8);
	for (int o = -64; o < -16; o += 8)
		st(g, SZ_DW, 10, (int16_t)o, (int8_t)rd(g));
	ld_map(g, 1, m);
	mov_x(g, 2, 10);
	add_k(g, 2, -8);
	mov_x(g, 3, 10);
	add_k(g, 3, (rd(g) & 7) ? -64 : -24); /* -24: not enough bytes */
	static const int32_t fl[] = { BPFVM_ANY, BPFVM_NOEXIST, BPFVM_EXIST, BPFVM_F_LOCK };
	mov_k(g, 4, fl[rd(g) & 3]);
	call(g, BPFVM_FN_map_update_elem);
	if (rd(g) & 1)
		mov_x(g, 9, 0);
}

static void t_delete(struct gen *g)
{
	static const int dms[] = { M_HASH, M_HASH, M_ARR, M_INNER, M_LOCK };
	int m = dms[rd(g) % 5];
	store_key(g, m, -8);
	ld_map(g, 1, m);
	mov_x(g, 2, 10);
	add_k(g, 2, -8);
	call(g, BPFVM_FN_map_delete_elem);
}

/* lock, a body, unlock; mutations take the rule-breaking paths. */
static void t_lock(struct gen *g)
{
	uint8_t v = rd(g);
	bool global = v & 1;
	int lo = global ? 16 : 8, vs = global ? 32 : 24;
	int p = pick_ptr_reg(g);
	if (global)
		lddw(g, p, BPF_PSEUDO_MAP_VALUE, fds[M_GLOBAL], 0);
	else
		t_lookup(g, M_LOCK, p);
	mov_x(g, 1, p);
	add_k(g, 1, (v & 0x10) ? lo + 4 : lo);
	if (global && (v & 2)) /* a second lddw of the same value: same lock */
		lddw(g, 1, BPF_PSEUDO_MAP_VALUE, fds[M_GLOBAL], lo);
	call(g, BPFVM_FN_spin_lock);
	unsigned n = rd(g) % 3;
	for (unsigned i = 0; i < n; i++)
		t_access(g, p, vs);
	if (v & 4)
		call(g, BPFVM_FN_ktime_get_ns);       /* not lock-safe */
	if ((v & 0x28) == 0x28)
		j_out(g, 0x05, 0, 0);                 /* exit with the lock held */
	if ((v & 0xc0) == 0x40) {
		t_lookup(g, M_LOCK, 15 - p);          /* unlock through another lookup */
		mov_x(g, 1, 15 - p);
	} else {
		mov_x(g, 1, p);
	}
	add_k(g, 1, lo);
	if (global && (v & 2))
		lddw(g, 1, BPF_PSEUDO_MAP_VALUE, fds[M_GLOBAL], lo);
	if ((v & 0xc0) != 0xc0)
		call(g, BPFVM_FN_spin_unlock);
}

/* Direct value addresses: global data and .rodata. */
static void t_global(struct gen *g)
{
	int p = pick_ptr_reg(g);
	bool ro = rd(g) % 4 == 0;
	int m = ro ? M_RO : M_GLOBAL;
	int vs = (int)map_attrs[m].value_size;
	static const int32_t offs[] = { 0, 8, 16, 24, 31, 32, 4, -4 };
	lddw(g, p, BPF_PSEUDO_MAP_VALUE, fds[m], offs[rd(g) & 7] % (vs + 1));
	t_access(g, p, vs);
}

/* Outer lookup, inner lookup (or a helper on the inner map). */
static void t_mim(struct gen *g)
{
	int p = pick_ptr_reg(g);
	uint8_t v = rd(g);
	st(g, SZ_W, 10, -8, v & 3 ? 0 : 1);
	ld_map(g, 1, M_OUTER);
	mov_x(g, 2, 10);
	add_k(g, 2, -8);
	call(g, BPFVM_FN_map_lookup_elem);
	if (!(v & 4))
		j_out(g, 0x15, 0, 0);
	if (v & 8) {
		t_access(g, 0, 32); /* a map pointer is not memory */
		return;
	}
	mov_x(g, 1, 0);
	st(g, SZ_W, 10, -4, (v >> 4) & 3);
	mov_x(g, 2, 10);
	add_k(g, 2, -4);
	if (v & 0x40) {
		for (int o = -64; o < -24; o += 8)
			st(g, SZ_DW, 10, (int16_t)o, (int8_t)rd(g));
		mov_x(g, 3, 10);
		add_k(g, 3, -64);
		mov_k(g, 4, 0);
		call(g, BPFVM_FN_map_update_elem);
		return;
	}
	call(g, BPFVM_FN_map_lookup_elem);
	if (!(v & 0x80))
		j_out(g, 0x15, 0, 0);
	mov_x(g, p, 0);
	t_access(g, p, 32);
}

static void t_tail(struct gen *g)
{
	uint8_t v = rd(g);
	mov_x(g, 1, (v & 0x30) == 0x30 ? 7 : 6);
	ld_map(g, 2, g->xdp ? M_PA_X : M_PA_V);
	if (v & 1)
		mov_x(g, 3, 9);
	else
		mov_k(g, 3, (int32_t)((v >> 1) % 6));
	call(g, BPFVM_FN_tail_call);
}

/* Subprograms (appended after the epilogue when called). */
enum { S_PTR, S_STACKW, S_LOOKUP, S_TAIL, S_LOOP, S_NEST, S__N };

static void t_call(struct gen *g)
{
	uint8_t v = rd(g);
	unsigned s = v % S__N;
	switch ((v >> 4) & 3) {
	case 0: mov_x(g, 1, 7); break;
	case 1: mov_x(g, 1, 10); add_k(g, 1, -16); break;
	case 2: mov_x(g, 1, 6); break;
	default: mov_x(g, 1, 8); break;
	}
	if (s == S_TAIL)
		mov_x(g, 1, 6);
	mov_k(g, 2, (int32_t)(rd(g) % 40));
	if (v & 0x40)
		mov_x(g, 2, 9);
	call_sub(g, s);
	if (v & 0x80) {
		mov_x(g, 7, 0); /* the result may be a pointer (S_LOOKUP) */
		t_access(g, 7, 48);
	} else {
		mov_x(g, 9, 0);
	}
}

static void emit_sub(struct gen *g, unsigned s)
{
	switch (s) {
	case S_PTR: /* r0 = *(u64 *)(r1 + r2 & 7) */
		I(g, 0x57, 2, 0, 0, 7);
		I(g, 0x0f, 1, 2, 0, 0);
		ldx(g, SZ_B, 0, 1, 0);
		exit_(g);
		break;
	case S_STACKW: /* writes through r1 (a caller's stack, a map value) */
		st(g, SZ_DW, 1, 0, 42);
		mov_k(g, 0, 0);
		exit_(g);
		break;
	case S_LOOKUP: /* returns a map value pointer, or 0 */
		st(g, SZ_W, 10, -4, 1);
		ld_map(g, 1, M_ARR);
		mov_x(g, 2, 10);
		add_k(g, 2, -4);
		call(g, BPFVM_FN_map_lookup_elem);
		I(g, 0x55, 0, 0, 1, 0);
		exit_(g);
		st(g, SZ_DW, 0, 40, 7);
		exit_(g);
		break;
	case S_TAIL: /* tail call from a subprogram; r1 = ctx */
		ld_map(g, 2, g->xdp ? M_PA_X : M_PA_V);
		mov_k(g, 3, 0);
		call(g, BPFVM_FN_tail_call);
		mov_k(g, 0, 1);
		exit_(g);
		break;
	case S_LOOP: /* bounded loop over r1[0..r2&15) */
		I(g, 0x57, 2, 0, 0, 15);
		mov_k(g, 0, 0);
		mov_k(g, 3, 0);
		I(g, 0x3d, 3, 2, 5, 0);   /* if r3 >= r2 goto end */
		mov_x(g, 4, 1);
		I(g, 0x0f, 4, 3, 0, 0);
		ldx(g, SZ_B, 5, 4, 0);
		I(g, 0x0f, 0, 5, 0, 0);
		add_k(g, 3, 1);
		I(g, 0x05, 0, 0, -7, 0);  /* goto loop */
		exit_(g);
		break;
	case S_NEST: /* a call from a call */
		I(g, 0x85, 0, BPF_PSEUDO_CALL, 0, 0); /* patched to S_PTR */
		add_k(g, 0, 1);
		exit_(g);
		break;
	}
}

static void t_loop(struct gen *g)
{
	uint8_t v = rd(g);
	static const int32_t bounds[] = { 4, 8, 16, 24, 40, 41, 48, 100 };
	int32_t n = bounds[rd(g) & 7];
	int32_t step = 1 + (rd(g) & 7);
	int p = pick_ptr_reg(g);
	mov_k(g, 9, 0);
	uint32_t top = g->len;
	mov_x(g, 1, p);
	I(g, 0x0f, 1, 9, 0, 0);
	if (v & 1)
		st(g, SZ_B, 1, 0, 1);
	else
		ldx(g, SZ_B, 0, 1, 0);
	add_k(g, 9, step);
	static const uint8_t jc[] = { 0xa5, 0xb5, 0x55, 0xa6, 0xc5, 0xd5 }; /* jlt jle jne jlt32 jslt jsle */
	uint8_t c = jc[(v >> 1) % 6];
	I(g, c, 9, 0, (int16_t)(top - g->len - 1), n);
	if (g->full)
		return;
}

/* Spill a pointer, maybe corrupt the slot, fill it back. */
static void t_spill(struct gen *g)
{
	uint8_t v = rd(g);
	int p = pick_ptr_reg(g);
	int16_t slot = (int16_t)(-16 - 8 * (v & 3));
	stx(g, SZ_DW, 10, p, slot);
	if (v & 4)
		st(g, SZ_B, 10, (int16_t)(slot + ((v >> 3) & 7)), 0);
	if (v & 0x40)
		stx(g, SZ_W, 10, 9, slot);
	ldx(g, (v & 0x80) ? SZ_W : SZ_DW, 15 - p, 10, slot);
	t_access(g, 15 - p, 48);
}

static void t_alu(struct gen *g)
{
	static const uint8_t ops[] = { 0x07, 0x0f, 0x17, 0x1f, 0x27, 0x57, 0x5f, 0x47, 0x67, 0x77, 0xc7, 0xa7,
	                               0x04, 0x0c, 0x54, 0xb4, 0xbc, 0x87, 0xdc };
	uint8_t op = ops[rd(g) % sizeof(ops)];
	uint8_t r = rd(g);
	static const int32_t imms[] = { 0, 1, -1, 7, 8, 16, 32, 63, 0x7fffffff, INT32_MIN, 255, 0xffff };
	I(g, op, 7 + (r & 3) % 3, 6 + ((r >> 2) & 3), op == 0xdc ? 32 : 0, imms[(r >> 4) % 12]);
}

static void t_raw(struct gen *g)
{
	enum vm_op op = (enum vm_op)(rd(g) % VM_OP__COUNT);
	const struct vm_opinfo *oi = &vm_opinfo[op];
	if (oi->fmt == FMT_LDDW || oi->fmt == FMT_CALL_LOCAL || oi->fmt == FMT_EXIT)
		return;
	uint8_t r = rd(g);
	struct bpf_insn in = { .code = oi->code, .dst_reg = r % 11, .src_reg = (r >> 4) % 11,
	                       .off = (int8_t)rd(g) % 48, .imm = (int8_t)rd(g) };
	switch (oi->sel) {
	case SEL_OFF: in.off = (int16_t)oi->selval; break;
	case SEL_IMM: in.imm = oi->selval; break;
	case SEL_SRC: in.src_reg = (uint8_t)oi->selval; break;
	default: break;
	}
	if (oi->fmt == FMT_JA || oi->fmt == FMT_JCOND_K || oi->fmt == FMT_JCOND_X)
		in.off = (int16_t)(rd(g) % 4);
	if (oi->fmt == FMT_JA32)
		in.imm = rd(g) % 4;
	if (oi->fmt == FMT_CALL) {
		static const int32_t h[] = { 1, 2, 3, 5, 7, 12, 93, 94, 6, 8 };
		in.imm = h[(in.imm & 0x7f) % 10];
	}
	I(g, in.code, in.dst_reg, in.src_reg, in.off, in.imm);
}

static void t_stack(struct gen *g)
{
	uint8_t v = rd(g);
	int16_t off = (int16_t)(-8 * (1 + (v & 31)));
	if (v & 0x40)
		ldx(g, sizes[rd(g) & 3], 9, 10, (int16_t)(off + (rd(g) & 7)));
	else
		st(g, sizes[rd(g) & 3], 10, off, (int8_t)rd(g));
}

static bool is_lddw_hi(const struct bpf_insn *insns, uint32_t i)
{
	return i > 0 && insns[i - 1].code == 0x18;
}

/* Point mutations: a field of one instruction changed. */
static void mutate(struct gen *g)
{
	unsigned n = rd(g) % 4;
	for (unsigned k = 0; k < n && g->len > 1; k++) {
		uint32_t i = (uint32_t)((rd(g) | (rd(g) << 8)) % g->len);
		struct bpf_insn *in = &g->in[i];
		if (in->code == 0x18 || is_lddw_hi(g->in, i) || in->code == 0x85)
			continue;
		uint8_t what = rd(g), val = rd(g);
		uint8_t cls = in->code & 7;
		switch (what % 6) {
		case 0: in->off = (int16_t)(in->off + (int8_t)val % 9); break;
		case 1: in->imm = (val & 0x80) ? (int32_t)(int8_t)val : in->imm + (val & 15) - 8; break;
		case 2: in->dst_reg = val % 11; break;
		case 3: in->src_reg = val % 11; break;
		case 4: /* another size (memory) or another condition (jumps) */
			if (cls == BPF_CLS_LDX || cls == BPF_CLS_ST || cls == BPF_CLS_STX) {
				if ((in->code & 0xe0) == 0x60)
					in->code = (uint8_t)((in->code & ~0x18) | sizes[val & 3]);
			} else if ((cls == BPF_CLS_JMP || cls == BPF_CLS_JMP32) && (in->code & 0xf0) != 0x00 &&
			           (in->code & 0xf0) != 0x80 && (in->code & 0xf0) != 0x90) {
				static const uint8_t conds[] = { 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0 };
				in->code = (uint8_t)((in->code & 0x0f) | conds[val % 11]);
			}
			break;
		default: /* dropped: ja +0 */
			*in = (struct bpf_insn){ .code = 0x05 };
			break;
		}
	}
}

static uint32_t generate(struct gen *g)
{
	mov_x(g, 6, 1);
	/* A zeroed half frame (templates use no more; the other half is for
	 * subprograms' frames): uninitialized stack reads are allowed (as Linux for
	 * privileged programs) and would read different garbage per engine. */
	for (int o = -8; o >= -256; o -= 8)
		st(g, SZ_DW, 10, (int16_t)o, 0);
	mov_k(g, 9, 0);
	mov_x(g, 7, 10);
	add_k(g, 7, -64);
	mov_x(g, 8, 10);
	add_k(g, 8, -128);
	unsigned nblocks = 1 + rd(g) % 12;
	for (unsigned b = 0; b < nblocks && !g->full && g->pos < g->n; b++) {
		uint8_t t = rd(g);
		switch (t % 16) {
		case 0: case 1: {
			int m = lookup_maps[rd(g) % 7];
			int p = pick_ptr_reg(g);
			t_lookup(g, m, p);
			unsigned na = 1 + rd(g) % 3;
			for (unsigned i = 0; i < na; i++)
				t_access(g, p, (int)map_attrs[m].value_size);
			break;
		}
		case 2: t_access(g, pick_ptr_reg(g), 48); break;
		case 3: t_varoff(g); break;
		case 4: t_update(g); break;
		case 5: t_delete(g); break;
		case 6: t_lock(g); break;
		case 7: t_global(g); break;
		case 8: t_mim(g); break;
		case 9: t_tail(g); break;
		case 10: t_call(g); break;
		case 11: t_loop(g); break;
		case 12: t_spill(g); break;
		case 13: t_alu(g); break;
		case 14: t_raw(g); break;
		default: t_stack(g); break;
		}
	}
	/* epilogue */
	uint32_t out = g->len;
	if (rd(g) & 1)
		mov_k(g, 0, 0);
	else
		mov_x(g, 0, 9);
	exit_(g);
	for (uint32_t i = 0; i < g->nout; i++)
		g->in[g->out_fix[i]].off = (int16_t)(out - g->out_fix[i] - 1);
	/* subprograms */
	uint32_t start[S__N];
	if (g->sub_used[S_NEST])
		g->sub_used[S_PTR] = true;
	for (unsigned s = 0; s < S__N; s++) {
		start[s] = g->len;
		if (g->sub_used[s])
			emit_sub(g, s);
	}
	if (g->sub_used[S_NEST]) {
		uint32_t at = start[S_NEST];
		g->in[at].imm = (int32_t)start[S_PTR] - (int32_t)at - 1;
	}
	for (uint32_t i = 0; i < g->ncall; i++)
		g->in[g->call_fix[i].at].imm = (int32_t)start[g->call_fix[i].sub] - (int32_t)g->call_fix[i].at - 1;
	mutate(g);
	fuzz_fix_jumps(g->in, g->len);
	return g->len;
}

/* The raw mode: as verifier_fuzz, with this target's maps. */
static uint32_t generate_raw(struct gen *g)
{
	static const int32_t imms[] = { 0, 1, -1, 8, -8, 16, -16, 48, 0x7fffffff, INT32_MIN, 63, 32, 4 };
	static const int32_t helper_ids[] = { 1, 2, 3, 5, 7, 12, 93, 94, 181, 164, 6 };
	while (g->pos + 4 <= g->n && g->len + 3 < MAXI - 64) {
		const uint8_t *b = g->d + g->pos;
		g->pos += 4;
		enum vm_op op = (enum vm_op)(b[0] % VM_OP__COUNT);
		const struct vm_opinfo *oi = &vm_opinfo[op];
		struct bpf_insn in = { .code = oi->code, .dst_reg = b[1] % 11, .src_reg = (b[1] >> 4) % 11,
		                       .off = (int8_t)b[2], .imm = (b[3] & 0x80) ? imms[b[3] % 13] : (int8_t)(b[3] << 1) >> 1 };
		switch (oi->sel) {
		case SEL_OFF: in.off = (int16_t)oi->selval; break;
		case SEL_IMM: in.imm = oi->selval; break;
		case SEL_SRC: in.src_reg = (uint8_t)oi->selval; break;
		default: break;
		}
		if (oi->fmt == FMT_JA || oi->fmt == FMT_JCOND_K || oi->fmt == FMT_JCOND_X)
			in.off = (int16_t)((int8_t)b[2] % 12);
		if (oi->fmt == FMT_JA32 || oi->fmt == FMT_CALL_LOCAL)
			in.imm = (int8_t)b[2] % 12;
		if (oi->fmt == FMT_CALL)
			in.imm = helper_ids[b[3] % 11];
		if (oi->fmt == FMT_LDDW) {
			static const int lm[] = { M_ARR, M_HASH, M_LOCK, M_OUTER, M_PA_V, M_INNER };
			uint8_t src = (b[1] >> 4) % 3;
			if (src == 1)
				lddw(g, in.dst_reg, 1, fds[lm[b[3] % 6]], 0);
			else if (src == 2)
				lddw(g, in.dst_reg, 2, fds[(b[3] & 1) ? M_GLOBAL : M_RO], b[2] % 40);
			else
				lddw(g, in.dst_reg, 0, in.imm, b[2]);
			continue;
		}
		I(g, in.code, in.dst_reg, in.src_reg, in.off, in.imm);
	}
	exit_(g);
	fuzz_fix_jumps(g->in, g->len);
	return g->len;
}

/* ------------------------------------------------------------------ */
/* Setup: maps, their initial contents, tail-call targets               */
/* ------------------------------------------------------------------ */

static void die(const char *what, int err)
{
	fprintf(stderr, "verifier_maps_fuzz setup: %s: %s\n", what, bpfvm_strerror(err));
	abort();
}

/* Tail-call targets: t0 reads the input, t1 counts in M_ARR, t2 tail-calls
 * itself (until the 33-call limit), t3 takes and drops a lock; slot 4 empty. */
static uint32_t target_prog(struct bpf_insn *p, unsigned k, int pa)
{
	struct gen g = { 0 };
	switch (k) {
	case 0:
		ldx(&g, SZ_B, 0, 1, 0);
		add_k(&g, 0, 1000);
		exit_(&g);
		break;
	case 1:
		st(&g, SZ_W, 10, -4, 0);
		ld_map(&g, 1, M_ARR);
		mov_x(&g, 2, 10);
		add_k(&g, 2, -4);
		call(&g, BPFVM_FN_map_lookup_elem);
		I(&g, 0x15, 0, 0, 2, 0);
		mov_k(&g, 1, 1);
		I(&g, 0xdb, 0, 1, 8, 0); /* lock *(u64 *)(r0 + 8) += r1 */
		mov_k(&g, 0, 7);
		exit_(&g);
		break;
	case 2:
		ld_map(&g, 2, pa);
		mov_k(&g, 3, 2);
		call(&g, BPFVM_FN_tail_call);
		mov_k(&g, 0, 3);
		exit_(&g);
		break;
	default:
		st(&g, SZ_W, 10, -4, 1);
		ld_map(&g, 1, M_LOCK);
		mov_x(&g, 2, 10);
		add_k(&g, 2, -4);
		call(&g, BPFVM_FN_map_lookup_elem);
		I(&g, 0x15, 0, 0, 8, 0);
		mov_x(&g, 6, 0);
		mov_x(&g, 1, 6);
		add_k(&g, 1, 8);
		call(&g, BPFVM_FN_spin_lock);
		st(&g, SZ_DW, 6, 0, 5);
		mov_x(&g, 1, 6);
		add_k(&g, 1, 8);
		call(&g, BPFVM_FN_spin_unlock);
		mov_k(&g, 0, 9);
		exit_(&g);
		break;
	}
	memcpy(p, g.in, g.len * sizeof(*p));
	return g.len;
}

static void setup(void)
{
	if (vm)
		return;
	int err;
	if ((err = bpfvm_create(NULL, &vm)))
		die("bpfvm_create", err);
	for (int i = 0; i < M__N; i++) {
		struct bpfvm_map_attr a = map_attrs[i];
		a.sz = sizeof(a);
		if (i == M_OUTER)
			a.inner_template = maps[M_INNER];
		if ((err = bpfvm_map_create(vm, &a, &maps[i])))
			die("bpfvm_map_create", err);
		fds[i] = bpfvm_map_fd(maps[i]);
	}
	uint32_t zero = 0;
	if ((err = bpfvm_map_update(maps[M_OUTER], &zero, &fds[M_INNER], BPFVM_ANY)))
		die("outer map update", err);
	static char log[1 << 14];
	for (unsigned k = 0; k < 4; k++) {
		struct bpf_insn p[64];
		for (int checked = 0; checked < 2; checked++) {
			uint32_t n = target_prog(p, k, checked ? M_PA_C : M_PA_V);
			struct bpfvm_prog_opts o = { .sz = sizeof(o), .mem_size = 64, .log_buf = log, .log_size = sizeof(log),
			                             .log_level = BPFVM_LOG_ERRORS,
			                             .flags = checked ? BPFVM_PROG_NO_VERIFY : 0, .insn_budget = 10000000 };
			bpfvm_prog *prog;
			if ((err = bpfvm_prog_load(vm, p, n, &o, &prog))) {
				fprintf(stderr, "%s\n", log);
				die("tail-call target load", err);
			}
			int pfd = bpfvm_prog_fd(prog);
			if ((err = bpfvm_map_update(maps[checked ? M_PA_C : M_PA_V], &k, &pfd, BPFVM_ANY)))
				die("prog array update", err);
			bpfvm_prog_put(prog);
		}
	}
	{ /* xdp target: return XDP_PASS */
		struct bpf_insn p[2] = { { .code = 0xb7, .imm = 2 }, { .code = 0x95 } };
		struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = "xdp" };
		bpfvm_prog *prog;
		if ((err = bpfvm_prog_load(vm, p, 2, &o, &prog)))
			die("xdp target load", err);
		int pfd = bpfvm_prog_fd(prog);
		if ((err = bpfvm_map_update(maps[M_PA_X], &zero, &pfd, BPFVM_ANY)))
			die("prog array update", err);
		bpfvm_prog_put(prog);
	}
	linux_setup(map_attrs, M__N);
	atexit(print_stats);
}

/* Every map back to the same contents before each run. */
static void reset_maps(void)
{
	static const int arrays[] = { M_ARR, M_LOCK, M_INNER, M_GLOBAL, M_RO };
	uint8_t v[64];
	for (unsigned a = 0; a < sizeof(arrays) / sizeof(arrays[0]); a++) {
		struct bpfvm_map *m = maps[arrays[a]];
		for (uint32_t k = 0; k < m->max_entries; k++) {
			uint8_t *p = m->ops->lookup(m, &k);
			for (uint32_t i = 0; i < m->value_size; i++)
				v[i] = (uint8_t)(k * 64 + i + 1);
			memcpy(p, v, m->value_size);
			if (m->spin_lock_off >= 0)
				memset(p + m->spin_lock_off, 0, 4);
		}
	}
	struct bpfvm_map *h = maps[M_HASH];
	uint64_t key, next;
	while (bpfvm_map_get_next_key(h, NULL, &next) == 0)
		bpfvm_map_delete(h, &next);
	for (key = 0; key < 3; key++) {
		memset(v, (int)(0x40 + key), 16);
		bpfvm_map_update(h, &key, v, BPFVM_ANY);
	}
}

/* Every run gets these input bytes, at the same address. */
static uint8_t input_init[64], input[64];

/* A run from deeper in the host stack: its BPF stack at another address. */
static __attribute__((noinline)) int run_shifted(size_t shift, bpfvm_prog *p, uint64_t *r0, struct bpfvm_run_opts *r,
                                                 char *ebuf, size_t esz);

/* A snapshot of what a run may change: input bytes and map contents. */
struct snap {
	uint8_t data[64];
	uint8_t arrays[4 * 48 + 2 * 24 + 2 * 32 + 32 + 16];
	uint8_t hash[4][24];
	uint32_t nhash;
	bool lock_held;
};

static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, 8); }

static void take_snap(struct snap *s, const uint8_t *data)
{
	static const int arrays[] = { M_ARR, M_LOCK, M_INNER, M_GLOBAL, M_RO };
	memcpy(s->data, data, 64);
	size_t at = 0;
	s->lock_held = false;
	for (unsigned a = 0; a < sizeof(arrays) / sizeof(arrays[0]); a++) {
		struct bpfvm_map *m = maps[arrays[a]];
		for (uint32_t k = 0; k < m->max_entries; k++) {
			uint8_t *p = m->ops->lookup(m, &k);
			memcpy(s->arrays + at, p, m->value_size);
			if (m->spin_lock_off >= 0) {
				uint32_t l;
				memcpy(&l, p + m->spin_lock_off, 4);
				s->lock_held |= l != 0;
				memset(p + m->spin_lock_off, 0, 4); /* never leave one taken */
			}
			at += m->value_size;
		}
	}
	struct bpfvm_map *h = maps[M_HASH];
	uint64_t key;
	s->nhash = 0;
	memset(s->hash, 0, sizeof(s->hash));
	int err = bpfvm_map_get_next_key(h, NULL, &key);
	while (!err && s->nhash < 4) {
		memcpy(s->hash[s->nhash], &key, 8);
		if (bpfvm_map_lookup(h, &key, s->hash[s->nhash] + 8, 0) == 0)
			s->nhash++;
		err = bpfvm_map_get_next_key(h, &key, &key);
	}
	qsort(s->hash, s->nhash, sizeof(s->hash[0]), cmp_hash);
}

/* A host pointer (heap, stack, mmap) rather than a number the program
 * computed: such words differ between engines, legitimately. */
static bool ptr_like(uint64_t v) { return v >> 40 >= 0x10 && v >> 40 <= 0x7fff; }

static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n, size_t *where)
{
	for (size_t i = 0; i < n; i += 8) {
		size_t w = n - i < 8 ? n - i : 8;
		uint64_t x = 0, y = 0;
		memcpy(&x, a + i, w);
		memcpy(&y, b + i, w);
		if (x != y && !(w == 8 && (ptr_like(x) || ptr_like(y)))) {
			/* a pointer stored at an unaligned offset straddles two
			 * words: look at the 8 bytes around each differing byte */
			bool ptr = false;
			for (size_t j = i; j < i + w && !ptr; j++)
				for (size_t s = j >= 7 ? j - 7 : 0; s <= j && s + 8 <= n; s++) {
					uint64_t p, q;
					memcpy(&p, a + s, 8);
					memcpy(&q, b + s, 8);
					ptr |= ptr_like(p) || ptr_like(q);
				}
			if (!ptr) {
				*where = i;
				return false;
			}
		}
	}
	return true;
}

static void dump(const struct bpf_insn *in, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "\t{ 0x%02x, %u, %u, %d, %d }, /* %u */\n", in[i].code, in[i].dst_reg, in[i].src_reg,
		        in[i].off, in[i].imm, i);
}

/* NULL when the two runs agree, else what differs. */
static const char *differs(uint64_t r0a, const struct snap *a, uint64_t r0b, const struct snap *b, size_t *w)
{
	*w = 0;
	if (r0a != r0b && !ptr_like(r0a) && !ptr_like(r0b))
		return "r0";
	if (!same_bytes(a->data, b->data, sizeof(a->data), w))
		return "input bytes";
	if (!same_bytes(a->arrays, b->arrays, sizeof(a->arrays), w))
		return "array map values";
	if (a->nhash != b->nhash || !same_bytes(&a->hash[0][0], &b->hash[0][0], sizeof(a->hash), w))
		return "hash map contents";
	return NULL;
}

static void compare(const char *what, const struct bpf_insn *in, uint32_t n, uint64_t r0a, const struct snap *a,
                    uint64_t r0b, const struct snap *b)
{
	size_t w;
	const char *bad = differs(r0a, a, r0b, b, &w);
	if (!bad)
		return;
	fprintf(stderr, "%s: %s differ (r0 0x%llx vs 0x%llx, offset %zu)\n", what, bad, (unsigned long long)r0a,
	        (unsigned long long)r0b, w);
	dump(in, n);
	abort();
}

static bool nondeterministic(const struct bpf_insn *in, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (in[i].code == 0x8d) /* callx */
			return true;
		/* A branch on the frame pointer's bits (jset r10, 114): the
		 * moved-stack probe below may happen to take the same way. */
		uint8_t cls = in[i].code & 7, op = in[i].code & 0xf0;
		if ((cls == 0x05 || cls == 0x06) && op != 0x00 && op != 0x80 && op != 0x90 &&
		    (in[i].dst_reg == 10 || ((in[i].code & 0x08) && in[i].src_reg == 10)))
			return true;
		/* Part of r10 stored (stxb [r7+8], r10 into a map value): the
		 * low bytes of the stack's address may not move with the probe
		 * (the frame is aligned), but differ on the checked engine. */
		if (cls == 0x03 && (in[i].code & 0xe0) == 0x60 && (in[i].code & 0x18) != 0x18 && in[i].src_reg == 10)
			return true;
		if (in[i].code == 0x85 && in[i].src_reg == 0 &&
		    (in[i].imm == BPFVM_FN_ktime_get_ns || in[i].imm == BPFVM_FN_get_prandom_u32 ||
		     in[i].imm == BPFVM_FN_jiffies64 || in[i].imm == BPFVM_FN_ktime_get_boot_ns ||
		     in[i].imm == BPFVM_FN_ktime_get_coarse_ns || in[i].imm == BPFVM_FN_get_smp_processor_id))
			return true;
	}
	return false;
}

static void fail(const char *what, const struct bpf_insn *in, uint32_t n, int rc, const struct bpfvm_run_opts *r,
                 const char *ebuf)
{
	fprintf(stderr, "%s: %s at insn %u: %s\n", what, bpfvm_strerror(rc), r ? r->err_insn : 0, ebuf ? ebuf : "");
	dump(in, n);
	abort();
}

static int run_once(bpfvm_prog *p, uint8_t *data, uint64_t *r0, struct bpfvm_run_opts *r, char *ebuf, size_t esz)
{
	memcpy(data, input_init, 64);
	*r = (struct bpfvm_run_opts){ .sz = sizeof(*r), .data = data, .len = 64, .err_buf = ebuf, .err_size = esz };
	int rc = bpfvm_prog_run_opts(p, r);
	*r0 = r->r0;
	return rc;
}

/* The probe needs BPF stacks on the real stack: ASan's fake stack (for
 * use-after-return detection) would give both runs the same address. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_stack_use_after_return=0"; }

/* Fills the host stack below the caller with v: what an uninitialized
 * BPF stack byte of the next run reads (a mutation may drop one of the
 * prologue's zeroing stores, a variable offset may reach below them). */
static __attribute__((noinline)) void paint_stack(uint8_t v)
{
	volatile uint8_t buf[65536];
	memset((void *)buf, v, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static __attribute__((noinline)) int run_shifted(size_t shift, bpfvm_prog *p, uint64_t *r0, struct bpfvm_run_opts *r,
                                                 char *ebuf, size_t esz)
{
	volatile uint8_t *pad = __builtin_alloca(shift + 1);
	pad[0] = 1;
	paint_stack(shift ? 0xa5 : 0);
	int rc = run_once(p, input, r0, r, ebuf, esz);
	pad[shift] = 1;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 2)
		return 0;
	static struct gen g;
	memset(&g, 0, offsetof(struct gen, in));
	g.len = 0;
	g.nout = g.ncall = 0;
	memset(g.sub_used, 0, sizeof(g.sub_used));
	g.full = false;
	g.d = data + 1;
	g.n = size - 1;
	g.pos = 0;
	uint8_t ctl = data[0];
	g.xdp = (ctl & 6) == 6;
	uint32_t n = (ctl & 1) ? generate_raw(&g) : generate(&g);
	if (n < 1)
		return 0;
	stats.programs++;
	stats.structured += !(ctl & 1);
	const struct bpf_insn *insns = g.in;
	if (getenv("VFY_FUZZ_DUMP"))
		dump(insns, n);

	static char log[1 << 16];
	const char *type = g.xdp ? "xdp" : NULL;
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = type, .mem_size = 64, .log_buf = log,
	                             .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS,
	                             .flags = (ctl & 8) ? BPFVM_PROG_ANY_ALIGNMENT : 0 };
	bpfvm_prog *prog = NULL;
	log[0] = '\0';
	int err = bpfvm_prog_load(vm, insns, n, &o, &prog);
	if (err == -EFAULT && strstr(log, "verifier bug")) {
		fprintf(stderr, "verifier reported an internal inconsistency:\n%s\n", log);
		dump(insns, n);
		abort();
	}
	if (g.xdp)
		linux_verdict(insns, n, fds, M__N, (ctl & 8) != 0, err == 0, log);
	if (err)
		return 0;
	stats.accepted++;

	for (int i = 0; i < 64; i++)
		input_init[i] = (uint8_t)(0x5a ^ (i * 7));
	char ebuf[256] = "";
	struct bpfvm_run_opts r;
	struct snap s[3];
	uint64_t r0[3];
	/* Raw programs may read uninitialized stack: no comparison there. */
	bool det = !(ctl & 1) && !nondeterministic(insns, n);

	/* 1. verified, fast interpreter */
	reset_maps();
	int rc = run_shifted(0, prog, &r0[0], &r, ebuf, sizeof(ebuf));
	if (rc)
		fail("verified program failed in the interpreter", insns, n, rc, &r, ebuf);
	take_snap(&s[0], input);
	if (s[0].lock_held)
		fail("verified program left a spin lock taken", insns, n, 0, NULL, NULL);
	if (det && !g.xdp) {
		/* A program may store a stack address and read back part of
		 * it, or read a stack byte nothing wrote: results that depend
		 * on where the stack is or what it held are not compared.
		 * Found out by a second run on a moved, repainted stack. */
		reset_maps();
		size_t w;
		/* not a multiple of 256 even after ASan rounds the alloca */
		rc = run_shifted(0x111170, prog, &r0[1], &r, ebuf, sizeof(ebuf));
		if (rc)
			fail("verified program failed in the interpreter (second run)", insns, n, rc, &r, ebuf);
		take_snap(&s[1], input);
		det = !differs(r0[0], &s[0], r0[1], &s[1], &w);
		if (getenv("VFY_FUZZ_DUMP"))
			fprintf(stderr, "stack probe: r0 0x%llx vs 0x%llx\n", (unsigned long long)r0[0], (unsigned long long)r0[1]);
	}
	bpfvm_prog_put(prog);
	if (g.xdp) /* the checked engine can't build the xdp context rewrite */
		return 0;

	/* 2. the same instructions, unverified, checked: tail calls go to the
	 * checked targets; a dead lddw of the inner map after the last exit
	 * tells the checked engine that map is one this program may use. */
	static struct bpf_insn cins[MAXI + 4];
	memcpy(cins, insns, n * sizeof(*cins));
	for (uint32_t i = 0; i + 1 < n; i++)
		if (cins[i].code == 0x18 && cins[i].src_reg == BPF_PSEUDO_MAP_FD && cins[i].imm == fds[M_PA_V])
			cins[i].imm = fds[M_PA_C];
	uint32_t cn = n;
	cins[cn++] = (struct bpf_insn){ .code = 0x18, .src_reg = BPF_PSEUDO_MAP_FD, .imm = fds[M_INNER] };
	cins[cn++] = (struct bpf_insn){ 0 };
	cins[cn++] = (struct bpf_insn){ .code = 0x95 };
	o.flags |= BPFVM_PROG_NO_VERIFY;
	o.insn_budget = 20000000;
	if ((err = bpfvm_prog_load(vm, cins, cn, &o, &prog))) {
		fprintf(stderr, "checked load of an accepted program failed: %s\n%s\n", bpfvm_strerror(err), log);
		dump(cins, cn);
		abort();
	}
	reset_maps();
	rc = run_once(prog, input, &r0[1], &r, ebuf, sizeof(ebuf));
	bpfvm_prog_put(prog);
	stats.checked_runs++;
	stats.compared += det;
	if (rc)
		fail("accepted program broke a rule in checked mode", insns, n, rc, &r, ebuf);
	take_snap(&s[1], input);
	if (s[1].lock_held)
		fail("accepted program left a spin lock taken (checked run)", insns, n, 0, NULL, NULL);
	if (det)
		compare("verified interpreter vs checked interpreter", insns, n, r0[0], &s[0], r0[1], &s[1]);

	/* 3. verified, JIT */
	o.flags &= ~BPFVM_PROG_NO_VERIFY;
	o.engine = BPFVM_ENGINE_JIT;
	o.insn_budget = 0;
	if ((err = bpfvm_prog_load(vm, insns, n, &o, &prog)))
		fail("JIT load of an accepted program failed", insns, n, err, NULL, log);
	if (bpfvm_prog_engine(prog) != BPFVM_ENGINE_JIT) {
		bpfvm_prog_put(prog);
		return 0;
	}
	reset_maps();
	rc = run_once(prog, input, &r0[2], &r, ebuf, sizeof(ebuf));
	bpfvm_prog_put(prog);
	stats.jit_runs++;
	if (rc)
		fail("verified program failed under the JIT", insns, n, rc, &r, ebuf);
	take_snap(&s[2], input);
	if (s[2].lock_held)
		fail("verified program left a spin lock taken (JIT)", insns, n, 0, NULL, NULL);
	if (det)
		compare("interpreter vs JIT", insns, n, r0[0], &s[0], r0[2], &s[2]);
	return 0;
}
