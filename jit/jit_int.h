/*
 * Internal interface between the JIT driver (jit.c), the BPF-to-x86-64
 * translator (x86_64.c) and the run-time support functions (jit_rt.c).
 * Prefix: jit_.
 */
#ifndef BPFVM_JIT_INT_H
#define BPFVM_JIT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "jit.h"
#include "x86_64_emit.h"
#include "x86_64_vec.h"

/* The JIT'd form of a program, owned by prog->jit. */
/*
 * Bytes of int3 in front of the code in the mapping.  A C caller built
 * with clang's -fsanitize=function (part of -fsanitize=undefined) reads
 * the 8 bytes before every indirect call target, looking for its type
 * signature (magic 0xc105cafe + type hash).  With the entry at the start
 * of the mapping that read hit the unmapped page before it and crashed in
 * bpfvm_prog_run_opts; with int3 there the read succeeds, finds no magic,
 * and the call is left unchecked, as for any uninstrumented function.
 * 16 keeps the entry 16-byte aligned.
 */
#define JIT_ENTRY_GUARD 16

/* A constant-index tail-call site: the `jmp rel32` at `rel` (4-aligned)
 * goes to `out` (slot empty), `slow` (the indirect path) or the slot
 * program's tail stub, patched as the slot changes (jit_poke.c). */
struct jit_poke_site {
	struct bpfvm_map *map; /* the prog array (the program holds a reference) */
	uint32_t index;
	uint32_t rel;          /* offset of the jmp's rel32 */
	uint32_t slow, out;    /* offsets of the indirect path and the fall-through */
};

struct jit_image {
	void *map;         /* the mmap'd region (read+execute): JIT_ENTRY_GUARD bytes of int3, then the code */
	size_t map_size;   /* mapping size */
	void *mem;         /* the code: map + JIT_ENTRY_GUARD; the entry point */
	size_t code_size;  /* bytes of code */
	uint32_t *addrs;   /* addrs[i]: offset of BPF insn i's code; addrs[len]: end of the body code */
	uint32_t len;
	uint32_t *subs;    /* subs[k]: offset of subprogram k's prologue */
	uint32_t nsubs;
	uint32_t passes;
	/* Checked mode: map values the program addresses through lddw, and
	 * the maps it names (helper and tail-call arguments are checked
	 * against them). */
	struct vm_region *regions;
	uint32_t nregions;
	struct bpfvm_map **maps;
	uint32_t nmaps;
	/* Direct tail calls.  tail_stub: offset of the entry a direct site of
	 * another image jumps to (unchecked images; 0: none).  pokes: this
	 * image's constant-index sites; alias: the writable view of the image
	 * they are patched through (NULL without sites). */
	uint32_t tail_stub;
	struct jit_poke_site *pokes;
	uint32_t npokes;
	void *alias;
	struct jit_image *poke_prev, *poke_next; /* registry, under jit_poke_lock() */
	/* Vectorized loops (x86_64_vec.c): loop k's block is the vloops[k].len
	 * bytes before addrs[vloops[k].head]. */
	struct jit_vloop *vloops;
	uint32_t nvloops;
};

/* The peephole plan (x86_64_opt.c): what each instruction becomes when
 * it is part of a sequence x86 does in fewer instructions. */
enum jit_fuse_kind {
	JIT_FUSE_NONE = 0,
	JIT_FUSE_SKIP, /* folded into another instruction's code: emits nothing */
	JIT_FUSE_MEM,  /* ldx/st/stx addressing [base + index + disp] */
	JIT_FUSE_RMW,  /* ldx here, alu at +1, stx at +2: op [m], src|imm */
	JIT_FUSE_CMP,  /* ldx here, jcond_k at +1: cmp [m], imm; jcc */
	JIT_FUSE_TEST, /* [mov,] and K, jeq/jne 0 (at +len-1): test base, disp; jcc */
};
struct jit_plan {
	uint8_t kind;  /* enum jit_fuse_kind */
	uint8_t base;  /* BPF register */
	int8_t index;  /* BPF register, -1: none */
	uint8_t len;   /* instructions covered, this one included */
	bool w32;      /* JIT_FUSE_TEST: a 32-bit test */
	int32_t disp;  /* replaces the instruction's off (JIT_FUSE_TEST: the mask) */
};

/* Plans the peepholes of prog (liveness-based; see x86_64_opt.c).  *out
 * is a calloc'd array of prog->len entries, or NULL with -E2BIG when the
 * analysis gave up (translate plainly).  blind: no constant-folding
 * sequences.  Not for checked mode. */
int jit_x86_plan(const struct bpfvm_prog *prog, const uint8_t *is_target, bool blind, struct jit_plan **out);

/* is_target[i] bits. */
#define JIT_TGT_ANY 1  /* a jump or call lands here */
#define JIT_TGT_LOOP 2 /* a backward jump lands here: a loop head, aligned */
/* Loop heads start JIT_LOOP_ALIGN_AT bytes into a JIT_LOOP_ALIGN-byte
 * line (absolute address), padded with nops.  Measured on the benchmark
 * kernels (AMD EPYC, Zen 5): the same code shifted by a few bytes ran
 * fib in 59-152 us and matmul in 14-25 us; heads at the start of a 64-byte
 * line or 32-byte window were the slow cases, 48 bytes in was among the
 * fastest for every kernel (docs/jit.md).  Passes from JIT_ALIGN_PASSES
 * on keep each head's padding as it was, so the padding cannot keep the
 * image size from converging. */
#define JIT_LOOP_ALIGN 64
#define JIT_LOOP_ALIGN_AT 48
#define JIT_ALIGN_PASSES 4

/* The translator's register mapping (BPF r0-r10) and scratch registers
 * (x86_64.c has the table). */
extern const uint8_t jit_x86_regs[BPF_MAX_REG];
#define JIT_X86_AUX X86_R11  /* scratch: divisors, helper addresses */
#define JIT_X86_AUX2 X86_R10 /* scratch: blinded constants, addresses */
#define JIT_X86_AUX3 X86_R9  /* scratch: saved rax/rdx */
/* The x86 condition of a BPF conditional jump's op (code & 0xf0; jset:
 * NE, after a test). */
enum x86_cc jit_x86_jcc(uint8_t code);

/* One translation pass over a program. */
struct jit_pass {
	struct bpfvm_prog *prog;
	struct x86_emit e;
	const uint32_t *addrs;  /* previous pass's offsets: jump targets */
	uint32_t *naddrs;       /* this pass's offsets */
	const uint32_t *subs;   /* previous pass: prologue offset of each subprogram */
	uint32_t *nsubs;
	uint32_t abort_off, nabort_off; /* the unwind stub */
	const uint8_t *is_target; /* JIT_TGT_* where a jump or call lands: no fusion across it */
	uint8_t *pads;          /* nop bytes before each loop head, kept from JIT_ALIGN_PASSES on */
	uint32_t pass;
	const struct jit_plan *plan; /* peepholes (NULL: none; always NULL in checked mode) */
	bool first;             /* first pass: every jump is rel32 */
	bool blind;             /* constant blinding */
	bool checked;           /* checked mode: inline bounds, depth and budget checks */
	bool tail_calls;        /* the program has a bpf_tail_call site */
	uint32_t blind_key;
	/* Direct tail calls: may this pass emit poke sites, the sites it
	 * emitted, and where it put the tail stub. */
	bool can_poke;
	struct jit_poke_site *pokes;
	uint32_t npokes, pokes_cap;
	uint32_t ntail_stub;
	/* Vectorized loops: vat[i] indexes vloops for the loop headed at insn
	 * i (-1: none); jumps to i from outside that loop land on its vector
	 * block.  cur: the instruction being translated. */
	struct jit_vloop *vloops;
	const int32_t *vat;
	uint32_t cur;
	/* Why the program cannot be JIT'd (set with err_insn on failure). */
	const char *why;
	long err_insn;
};

/* Emits the whole image for one pass.  Returns 0, or -EOPNOTSUPP with
 * p->why / p->err_insn set when a construct is not supported. */
int jit_x86_translate(struct jit_pass *p);

/* ---- direct tail calls (jit_poke.c) ---- */

/* Can this process patch sites (memfd, core-serializing membarrier)? */
bool jit_poke_supported(void);
/* Maps an image with sites: a read+execute view and a read+write alias of
 * one memfd.  Fills img->map, map_size, mem, alias. */
int jit_poke_map_image(struct jit_image *img, const uint8_t *code, size_t len, size_t size);
/* Points every site at what its slot holds and adds img to the registry
 * (before any thread can run it); removes it (before it is unmapped). */
void jit_poke_register(struct jit_image *img);
void jit_poke_unregister(struct jit_image *img);
extern _Atomic unsigned long jit_poke_patches, jit_poke_syncs;

/* ---- run-time support called from JIT'd code (jit_rt.c) ---- */

/* callx: the helper function for `id`, or NULL after recording the
 * failure in the current run (as the interpreter does). */
void *jit_rt_callx(const struct bpfvm *vm, uint64_t id, uint32_t insn);

/* LD_ABS / LD_IND: loads `size` big-endian bytes at `off` of the run's
 * input.  ok = 0 when out of bounds (the program then returns 0). */
struct jit_ldabs_ret {
	uint64_t val;
	uint64_t ok;
};
struct jit_ldabs_ret jit_rt_ldabs(int64_t off, uint64_t size);

/* Checked mode.  r12 points at this block in the entry trampoline's frame. */
struct jit_checked_ctx {
	int64_t budget;         /* instructions left (charged at back-edges) */
	uint64_t depth;         /* bpf-to-bpf frames beyond the main one */
	struct vm_run *run;
	uint64_t pad[2];
};
#define JIT_CK_BUDGET 0
#define JIT_CK_DEPTH 8
void jit_rt_checked_enter(struct jit_checked_ctx *ck);
/* Slow path of a memory check: 1 if [addr, addr+size) is an allowed
 * region (writes: a writable one), else records -EFAULT and returns 0.
 * szwr = size | write << 8. */
uint64_t jit_rt_check_mem(struct jit_checked_ctx *ck, uint64_t addr, uint64_t szwr, uint64_t insn, uint64_t rbp);
/* Checked mode: a helper call (callx: h NULL, the helper id in `id`).
 * Checks args[0..4] (r1..r5) as the checked interpreter does, exposes the
 * JIT'd frames to callbacks, calls the helper and registers what it
 * returned.  insn_dst = insn | dst_reg << 32.  ok = 0: the run failed. */
struct jit_call_ret {
	uint64_t r0;
	uint64_t ok;
};
struct jit_call_ret jit_rt_helper_checked(struct jit_checked_ctx *ck, const struct vm_helper *h, const uint64_t *args,
                                          uint64_t insn_dst, uint64_t rbp, uint64_t id);
enum jit_fail_kind { JIT_FAIL_ALIGN = 1, JIT_FAIL_DEPTH, JIT_FAIL_BUDGET };
void jit_rt_fail(struct jit_checked_ctx *ck, uint64_t kind, uint64_t insn, uint64_t addr);

/* Tail calls: what the target's code does with the frame.  addr is the
 * target's body past `push rbp; mov rbp, rsp` (JIT_TAIL_ENTRY_SKIP bytes),
 * or one of JIT_TAIL_* below. */
#define JIT_TAIL_ENTRY_SKIP 4
#define JIT_TAIL_NONE 0  /* no target or limit reached: fall through */
#define JIT_TAIL_DONE 1  /* target ran on the interpreter: exit this frame with r0 */
#define JIT_TAIL_ABORT 2 /* target's run failed: unwind */
struct jit_tail_ret {
	uint64_t addr;
	uint64_t r0;
};
struct jit_tail_ret jit_rt_tail_call(uint64_t map, uint64_t index, uint64_t ctx);
/* The same from a checked image: r2 must be a prog array the program
 * loaded and the target a checked program, as in the checked interpreter. */
struct jit_tail_ret jit_rt_tail_call_checked(struct jit_checked_ctx *ck, uint64_t map, uint64_t index, uint64_t ctx,
                                             uint64_t insn);

#endif
