/*
 * Random valid BPF programs for differential testing (JIT vs interpreter),
 * shared by tests/jit/test_jit.c and tools/fuzz/jit_diff_fuzz.c.  The ops
 * come from vm/opcodes.def (vm_opinfo), never from a second list.  Every
 * program terminates (forward jumps only), touches only its stack and the
 * 64-byte input, and ends by folding r0-r9 into r0 and the input.
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

/* Writes a program of at most cap instructions into out; returns its length.
 * cap must be at least 128. */
static inline size_t gen_prog(struct gen_rng *r, struct bpf_insn *out, size_t cap)
{
	size_t n = 0;
	/* r6 = input pointer (r1), r7..r9, r0, r2..r5 random */
	out[n++] = GI(0xbf, 6, 1, 0, 0);
	for (int16_t o = -64; o < 0; o += 8) /* the stack starts out defined */
		out[n++] = GI(0x7a, 10, 0, o, 0);
	for (int reg = 0; reg <= 9; reg++) {
		if (reg == 6)
			continue;
		uint64_t v = gen_imm64(r);
		out[n++] = GI(0x18, reg, 0, 0, (int32_t)(uint32_t)v);
		out[n++] = GI(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32));
	}
	/* inside[i]: a jump must not land on i (the middle of a pointer
	 * computation, which would skip part of it). */
	uint8_t inside[1024];
	memset(inside, 0, sizeof(inside));
	size_t body = cap - 48;
	size_t want = 8 + gen_next(r) % (body - n);
	while (n < want) {
		uint64_t pick = gen_next(r);
		int dst = (int)(gen_next(r) % 10), src = (int)(gen_next(r) % 10);
		if (dst == 6)
			dst = 0; /* keep the input pointer */
		if (src == 6)
			src = 7; /* and never compute with it: its value differs per run */
		switch (pick % 9) {
		case 0: case 1: case 2: case 3: { /* any ALU op from the table */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_ALU_K && oi->fmt != FMT_ALU_X && oi->fmt != FMT_NEG && oi->fmt != FMT_END)
				continue;
			int16_t off = oi->sel == SEL_OFF ? (int16_t)oi->selval : 0;
			int32_t imm = oi->sel == SEL_IMM ? oi->selval : oi->fmt == FMT_NEG ? 0 : gen_imm(r);
			out[n++] = GI(oi->code, dst, oi->fmt == FMT_ALU_X ? src : 0, off, oi->fmt == FMT_ALU_X ? 0 : imm);
			break;
		}
		case 4: { /* forward conditional jump */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_JCOND_K && oi->fmt != FMT_JCOND_X && oi->fmt != FMT_JA)
				continue;
			size_t room = want - n - 1;
			int16_t off = (int16_t)(room ? gen_next(r) % (room < 40 ? room + 1 : 40) : 0);
			out[n++] = GI(oi->code, oi->fmt == FMT_JA ? 0 : dst, oi->fmt == FMT_JCOND_X ? src : 0, off,
			              oi->fmt == FMT_JCOND_K ? gen_imm(r) : 0);
			break;
		}
		case 5: { /* store to stack or input, then load back (any width, signed too) */
			static const uint8_t st[] = { 0x73, 0x6b, 0x63, 0x7b };
			static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79, 0x91, 0x89, 0x81 };
			unsigned w = (unsigned)(gen_next(r) % 4);
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (gen_next(r) & 1)
				out[n++] = GI(st[w], base, src, o, 0);
			else
				out[n++] = GI((uint8_t)(st[w] - 1), base, 0, o, gen_imm(r)); /* ST imm */
			out[n++] = GI(ld[gen_next(r) % 7], dst, base, o, 0);
			break;
		}
		case 6: { /* atomic on an aligned stack/input slot */
			unsigned op = (unsigned)(gen_next(r) % VM_OP__COUNT);
			const struct vm_opinfo *oi = &vm_opinfo[op];
			if (oi->fmt != FMT_ATOMIC)
				continue;
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (base == 10) /* initialize the slot first */
				out[n++] = GI(0x7b, 10, src, o, 0);
			int s = src;
			out[n++] = GI(oi->code, base, s, o, oi->selval);
			break;
		}
		case 8: { /* idioms the JIT fuses (jit/x86_64_opt.c), temporaries dead or live after */
			static const uint8_t ld[] = { 0x71, 0x69, 0x61, 0x79 };
			static const uint8_t st[] = { 0x73, 0x6b, 0x63, 0x7b };
			static const uint8_t alu[] = { 0x00, 0x10, 0x40, 0x50, 0xa0 };
			static const uint8_t jc[] = { 0x10, 0x50, 0x20, 0x30, 0xa0, 0xb0, 0x60, 0x40 };
			static const int32_t cmpk[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, -1, 0x7fffffff };
			unsigned w = (unsigned)(gen_next(r) % 4);
			int base = (gen_next(r) & 1) ? 10 : 6;
			int16_t o = (int16_t)(((gen_next(r) % 7) * 8) + (base == 10 ? -64 : 0));
			if (n + 8 > want)
				continue;
			switch (gen_next(r) % 7) {
			case 0: { /* rA = base; rA += index|K; [gap]; access [rA + off]; rA = pointer-free */
				if (n + 8 >= sizeof(inside))
					continue;
				size_t first = n + 1;
				int idx = src == dst ? (dst + 1) % 10 : src;
				if (idx == 6)
					idx = 7;
				bool k = base == 10 || (gen_next(r) & 1);
				if (!k) /* index in 0..24, the access within the input */
					out[n++] = GI(0x57, idx, 0, 0, 0x18);
				out[n++] = GI(0xbf, dst, base, 0, 0);
				if (k)
					out[n++] = GI(0x07, dst, 0, 0, base == 10 ? -64 : 8);
				else
					out[n++] = GI(0x0f, dst, idx, 0, 0);
				int16_t ao = (int16_t)(gen_next(r) % 32);
				if (base == 10)
					ao = (int16_t)(gen_next(r) % 56);
				if (gen_next(r) & 1) { /* a gap instruction that may or may not block the fold */
					int g = (int)(gen_next(r) % 10); /* never rA: it holds the pointer */
					if (g == 6 || g == dst)
						g = dst == 0 ? 1 : 0;
					out[n++] = GI(0x07 | 0xa0, g, 0, 0, gen_imm(r)); /* gX ^= imm */
				}
				bool loaded = false;
				switch (gen_next(r) % 4) {
				case 0: out[n++] = GI(ld[w], dst, dst, ao, 0); loaded = true; break;
				case 1: out[n++] = GI(ld[w], src, dst, ao, 0); loaded = src == dst; break;
				case 2: /* store a value, never rA (the pointer): with rA = r0, src == dst must not mean r0 */
					out[n++] = GI(st[w], dst, src != dst ? src : dst ? 0 : 1, ao, 0);
					break;
				default: out[n++] = GI((uint8_t)(st[w] - 1), dst, 0, ao, gen_imm(r)); break;
				}
				/* rA may hold the pointer: make it pointer-free, read (live) or not */
				if (gen_next(r) & 1) /* rA read again: a value, or the pointer minus base */
					out[n++] = loaded ? GI(0x07, dst, 0, 0, 1) : GI(0x1f, dst, base, 0, 0);
				else
					out[n++] = GI(0xb7, dst, 0, 0, (int32_t)gen_next(r));
				for (size_t m = first; m < n; m++) /* landing on rA -= base would leak a pointer */
					inside[m] = 1;
				out[n++] = GI(0x57, dst, 0, 0, 0xffff); /* and then bounded either way */
				break;
			}
			case 1: { /* rT = [m]; rT op= S|K; [m] = rT */
				int t = dst == src ? (dst + 1) % 10 : dst;
				if (t == 6)
					t = 7;
				out[n++] = GI(ld[w], t, base, o, 0);
				uint8_t op = alu[gen_next(r) % 5];
				if (gen_next(r) & 1)
					out[n++] = GI((uint8_t)(op | ((gen_next(r) & 1) ? 0x07 : 0x04)), t, 0, 0, gen_imm(r));
				else
					out[n++] = GI((uint8_t)(op | ((gen_next(r) & 1) ? 0x0f : 0x0c)), t, src, 0, 0);
				out[n++] = GI(st[w], base, t, o, 0);
				if (gen_next(r) & 1)
					out[n++] = GI(0xb7, t, 0, 0, 3); /* rT dead */
				break;
			}
			case 2: { /* rT = [m]; if rT cc K goto */
				out[n++] = GI(ld[w], dst, base, o, 0);
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				uint8_t cls = (gen_next(r) & 1) ? 0x05 : 0x06;
				out[n++] = GI((uint8_t)(jc[gen_next(r) % 8] | cls), dst, 0, off, cmpk[gen_next(r) % 10]);
				if (gen_next(r) & 1)
					out[n++] = GI(0xb7, dst, 0, 0, 5); /* rT dead on the fall-through */
				break;
			}
			case 3: { /* [rT = rS;] rT &= K; if rT ==/!= 0 goto */
				if (gen_next(r) & 1)
					out[n++] = GI((gen_next(r) & 1) ? 0xbf : 0xbc, dst, src, 0, 0);
				out[n++] = GI((gen_next(r) & 1) ? 0x57 : 0x54, dst, 0, 0, gen_imm(r));
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				out[n++] = GI((gen_next(r) & 1) ? 0x15 : 0x56, dst, 0, off, 0);
				if (gen_next(r) & 1)
					out[n++] = GI(0xb7, dst, 0, 0, 9);
				break;
			}
			case 5: { /* d op= x; if d ==/!= 0 goto (the op's flags reused) */
				uint8_t op = alu[gen_next(r) % 5];
				uint8_t cls = (gen_next(r) & 1) ? 0x07 : 0x04;
				if (gen_next(r) & 1)
					out[n++] = GI((uint8_t)(op | cls | 0x08), dst, src, 0, 0);
				else
					out[n++] = GI((uint8_t)(op | cls), dst, 0, 0, gen_imm(r));
				size_t room = want - n - 1;
				int16_t off = (int16_t)(room ? gen_next(r) % (room < 8 ? room + 1 : 8) : 0);
				out[n++] = GI((uint8_t)(((gen_next(r) & 1) ? 0x10 : 0x50) | ((gen_next(r) & 1) ? 0x05 : 0x06)), dst,
				              0, off, 0);
				break;
			}
			case 6: /* w = ws; w += wx|K  (lea r32) */
				out[n++] = GI(0xbc, dst, src, 0, 0);
				if (gen_next(r) & 1)
					out[n++] = GI(0x04, dst, 0, 0, gen_imm(r));
				else
					out[n++] = GI(0x0c, dst, (gen_next(r) & 1) ? dst : src, 0, 0);
				break;
			default: { /* d *= 2^n, 3, 5, 9; d += K */
				static const int32_t mk[] = { 2, 3, 4, 5, 8, 9, 16 };
				bool w64 = gen_next(r) & 1;
				out[n++] = GI(w64 ? 0x27 : 0x24, dst, 0, 0, mk[gen_next(r) % 7]);
				out[n++] = GI(w64 ? 0x07 : 0x04, dst, 0, 0, gen_imm(r));
				break;
			}
			}
			break;
		}
		default: { /* mov a fresh constant */
			uint64_t v = gen_imm64(r);
			out[n++] = GI(0x18, dst, 0, 0, (int32_t)(uint32_t)v);
			out[n++] = GI(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32));
			break;
		}
		}
	}
	/* A jump must not land on the second slot of an lddw: move it on. */
	for (size_t i = 0; i < n; i++) {
		uint8_t cls = out[i].code & 7;
		if (out[i].code == 0x18) {
			i++;
			continue;
		}
		if ((cls == 5 || cls == 6) && out[i].code != 0x85 && out[i].code != 0x95) {
			size_t t = i + 1 + out[i].off;
			if (t > 0 && t < n && out[t - 1].code == 0x18)
				out[i].off++;
			for (t = i + 1 + out[i].off; t < n && t < sizeof(inside) && inside[t]; t++)
				out[i].off++;
		}
	}
	/* Fold: input[0..] = r0..r9 (not r6), r0 ^= everything rotated. */
	for (int reg = 0; reg <= 9; reg++) {
		if (reg == 6)
			continue;
		out[n++] = GI(0x7b, 6, reg, (int16_t)(reg * 8 > 56 ? 0 : reg * 8), 0);
		if (reg) {
			out[n++] = GI(0x07 | 0x60, 0, 0, 0, 7);   /* r0 <<= 7 */
			out[n++] = GI(0x0f | 0xa0, 0, reg, 0, 0); /* r0 ^= reg */
		}
	}
	out[n++] = GI(0x95, 0, 0, 0, 0);
	return n;
}

#endif
