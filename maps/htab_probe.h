/*
 * The AVX-512 probe of one hash bucket for an 8-byte key, shared by the
 * map's lookup (maps/hash.c, k8_lookup_avx512: inline assembly) and the
 * JIT, which emits the same instructions inline in a program
 * (jit/x86_64.c, emit_hash_lookup) as the bytes below.  The bytes are the
 * GNU as encoding of the text; tests/jit/test_jit_htab.c finds them in
 * the compiled k8_lookup_avx512, so the two can't drift apart.
 *
 * In:  rdx = the home bucket (64-byte aligned), rcx = the key.
 * Out: eax = the ref of the first slot that is live and holds the key,
 *      or 0 (rax zero-extended).
 * Clobbers ymm16, ymm17 (EVEX-only registers: the upper halves of
 * ymm0-15 stay clean, no vzeroupper needed) and k1-k3.
 *
 *   A: the line's second half: tag 4, ref 0-4 (dword lanes 2-6), ctl;
 *   B: tags 0-3 compared with the key (mask bits 0-3);
 *   C: the second half again, its qword lane 0 (tag 4) compared with the
 *   key, moved to bit 6; B's bits moved to 2-5; and-ed with the lanes of
 *   A holding live refs (signed > 0); the first such lane compressed to
 *   lane 0.  A is loaded before B and C: the memory-ordering argument
 *   (docs/maps.md) needs every ref read before the tags, which C's own
 *   load gives for tag 4 too without assuming anything about the order
 *   of the lanes within A.  256-bit forms only: 512-bit ones lower the clock of some Intel
 *   server parts.
 */
#ifndef BPFVM_HTAB_PROBE_H
#define BPFVM_HTAB_PROBE_H

#include <stdint.h>

#define HTAB_PROBE_ASM                                   \
	"vpbroadcastq %%rcx, %%ymm16\n\t"                \
	"vmovdqa64 32(%%rdx), %%ymm17\n\t"    /* A */   \
	"vpcmpeqq (%%rdx), %%ymm16, %%k1\n\t" /* B */   \
	"vpcmpeqq 32(%%rdx), %%ymm16, %%k2\n\t"         \
	"vpxord %%xmm16, %%xmm16, %%xmm16\n\t"           \
	"vpcmpgtd %%ymm16, %%ymm17, %%k3\n\t"            \
	"kshiftlw $2, %%k1, %%k1\n\t"                    \
	"kshiftlw $15, %%k2, %%k2\n\t"                   \
	"kshiftrw $9, %%k2, %%k2\n\t"                    \
	"korw %%k1, %%k2, %%k1\n\t"                      \
	"kandw %%k1, %%k3, %%k1\n\t"                     \
	"vpcompressd %%ymm17, %%ymm16%{%%k1%}%{z%}\n\t"  \
	"vmovd %%xmm16, %%eax"

static const uint8_t htab_probe_bytes[] = {
	0x62, 0xe2, 0xfd, 0x28, 0x7c, 0xc1,       /* vpbroadcastq %rcx,%ymm16 */
	0x62, 0xe1, 0xfd, 0x28, 0x6f, 0x4a, 0x01, /* vmovdqa64 0x20(%rdx),%ymm17 */
	0x62, 0xf2, 0xfd, 0x20, 0x29, 0x0a,       /* vpcmpeqq (%rdx),%ymm16,%k1 */
	0x62, 0xf2, 0xfd, 0x20, 0x29, 0x52, 0x01, /* vpcmpeqq 0x20(%rdx),%ymm16,%k2 */
	0x62, 0xa1, 0x7d, 0x00, 0xef, 0xc0,       /* vpxord %xmm16,%xmm16,%xmm16 */
	0x62, 0xb1, 0x75, 0x20, 0x66, 0xd8,       /* vpcmpgtd %ymm16,%ymm17,%k3 */
	0xc4, 0xe3, 0xf9, 0x32, 0xc9, 0x02,       /* kshiftlw $0x2,%k1,%k1 */
	0xc4, 0xe3, 0xf9, 0x32, 0xd2, 0x0f,       /* kshiftlw $0xf,%k2,%k2 */
	0xc4, 0xe3, 0xf9, 0x30, 0xd2, 0x09,       /* kshiftrw $0x9,%k2,%k2 */
	0xc5, 0xec, 0x45, 0xc9,                   /* korw %k1,%k2,%k1 */
	0xc5, 0xe4, 0x41, 0xc9,                   /* kandw %k1,%k3,%k1 */
	0x62, 0xa2, 0x7d, 0xa9, 0x8b, 0xc8,       /* vpcompressd %ymm17,%ymm16{%k1}{z} */
	0x62, 0xe1, 0x7d, 0x08, 0x7e, 0xc0,       /* vmovd %xmm16,%eax */
};

#endif
