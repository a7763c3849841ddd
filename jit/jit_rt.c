/*
 * Run-time support called from JIT'd code for the rare operations that are
 * easier in C than inline.  Called on program threads, concurrently; they
 * touch only the calling thread's run.
 */
#include <string.h>

#include "helper_check.h"
#include "jit_int.h"
#include "vm.h"
#include "map.h"

void *jit_rt_callx(const struct bpfvm *vm, uint64_t id, uint32_t insn)
{
	const struct vm_helper *h = id <= UINT32_MAX ? vm_helper_find(vm, (uint32_t)id) : NULL;
	if (h && h->kind != VM_HELPER_TAIL_CALL)
		return (void *)h->fn;
	if (vm_current_run)
		vm_run_fail(vm_current_run, -EINVAL, insn, 0, "call %%rN: %llu is not a helper id that can be called",
		            (unsigned long long)id);
	return NULL;
}

/* As the interpreter: big-endian load of the run's input; out of bounds
 * ends the program with r0 = 0. */
struct jit_ldabs_ret jit_rt_ldabs(int64_t off, uint64_t size)
{
	struct jit_ldabs_ret r = { 0, 0 };
	struct vm_run *run = vm_current_run;
	if (!run || off < 0 || (uint64_t)off + size > run->len)
		return r;
	const uint8_t *d = run->data + off;
	uint64_t v = 0;
	for (uint64_t i = 0; i < size; i++)
		v = (v << 8) | d[i];
	r.val = v;
	r.ok = 1;
	return r;
}

/* bpf_tail_call(ctx, map, index), as the interpreter: at most 33 per run
 * (the counter lives in the run, so it is shared by every bpf-to-bpf frame),
 * an empty slot or an index out of range falls through. */
struct jit_tail_ret jit_rt_tail_call(uint64_t map, uint64_t index, uint64_t ctx)
{
	struct jit_tail_ret r = { JIT_TAIL_NONE, 0 };
	struct vm_run *run = vm_current_run;
	if (!run || run->tail_calls >= BPF_MAX_TAIL_CALLS || !map)
		return r;
	struct bpfvm_prog *t = map_prog_array_get((struct bpfvm_map *)(uintptr_t)map, (uint32_t)index);
	if (!t || (!t->jit && !t->interp))
		return r;
	struct bpfvm_prog *caller = run->prog;
	run->tail_calls++;
	run->prog = t;
	/* A checked-mode image expects the checked entry's context in r12,
	 * which an unchecked caller's frame does not have: such targets run
	 * on the interpreter's checked engine below.  (Checked JIT'd callers
	 * use jit_rt_tail_call_checked().) */
	/* A "mem" target expects r2 = the input length, which the jump below
	 * would not set (r2 is the prog array, then clobbered by this call):
	 * it runs on the interpreter, entered with r2 = length. */
	uint64_t r2 = t->type->is_mem ? (uint64_t)run->len : 0;
	if (t->jit && !(t->flags & BPFVM_PROG_NO_VERIFY) && !t->type->is_mem) {
		const struct jit_image *img = t->jit;
		r.addr = (uint64_t)(uintptr_t)img->mem + img->subs[0] + JIT_TAIL_ENTRY_SKIP;
		return r;
	}
	/* The target runs on the interpreter (it could not be JIT'd, or it
	 * needs checked mode): run it here and return its r0 from this frame. */
	if (t->flags & BPFVM_PROG_NO_VERIFY)
		r.r0 = vm_interp_run_checked(t, run, ctx, r2);
	else
		r.r0 = vm_interp_run(t, run, ctx, r2);
	r.addr = run->err ? JIT_TAIL_ABORT : JIT_TAIL_DONE;
	/* The target has finished and this frame returns its r0: back in a
	 * subprogram's caller, the program is the caller's again (a checked
	 * target left here would make helpers treat a verified caller as
	 * checked).  Kept on an abort: the error names the target. */
	if (!run->err)
		run->prog = caller;
	return r;
}

/* bpf_tail_call from a checked image, as the checked interpreter: the
 * array must be one the program loaded and the target a checked program;
 * a JIT'd target is jumped to (it expects this run's checked context in
 * r12, which the caller has), others run on the checked interpreter. */
struct jit_tail_ret jit_rt_tail_call_checked(struct jit_checked_ctx *ck, uint64_t map, uint64_t index, uint64_t ctx,
                                             uint64_t insn)
{
	struct jit_tail_ret r = { JIT_TAIL_NONE, 0 };
	struct vm_run *run = ck->run;
	if (!run || !run->prog || !run->prog->jit)
		return r;
	const struct jit_image *img = run->prog->jit;
	struct vm_chk_env env = { .run = run, .maps = img->maps, .nmaps = img->nmaps };
	if (!vm_chk_is_map(&env, map, BPFVM_MAP_PROG_ARRAY)) {
		vm_run_fail(run, -EINVAL, (uint32_t)insn, map, "tail call: r2 is not a prog array this program loaded");
		r.addr = JIT_TAIL_ABORT;
		return r;
	}
	if (run->tail_calls >= BPF_MAX_TAIL_CALLS)
		return r;
	struct bpfvm_prog *t = map_prog_array_get((struct bpfvm_map *)(uintptr_t)map, (uint32_t)index);
	if (!t || !t->interp)
		return r;
	if (!(t->flags & BPFVM_PROG_NO_VERIFY)) {
		vm_run_fail(run, -EINVAL, (uint32_t)insn, 0,
		            "tail call into '%s', which was not loaded with BPFVM_PROG_NO_VERIFY: a program run without the "
		            "verifier may only tail-call programs that are also checked", t->name);
		r.addr = JIT_TAIL_ABORT;
		return r;
	}
	run->tail_calls++;
	run->prog = t;
	if (t->jit && !t->type->is_mem) {
		const struct jit_image *ti = t->jit;
		r.addr = (uint64_t)(uintptr_t)ti->mem + ti->subs[0] + JIT_TAIL_ENTRY_SKIP;
		return r;
	}
	run->budget = ck->budget > 0 ? (uint64_t)ck->budget : 0;
	r.r0 = vm_interp_run_checked(t, run, ctx, t->type->is_mem ? (uint64_t)run->len : 0);
	ck->budget = run->budget > INT64_MAX ? INT64_MAX : (int64_t)run->budget;
	r.addr = run->err ? JIT_TAIL_ABORT : JIT_TAIL_DONE;
	return r;
}

/* ---- checked mode ---- */

void jit_rt_checked_enter(struct jit_checked_ctx *ck)
{
	struct vm_run *run = vm_current_run;
	ck->run = run;
	ck->depth = 0;
	ck->budget = run ? (int64_t)(run->budget > INT64_MAX ? INT64_MAX : run->budget) : INT64_MAX;
}

static bool in_range(uintptr_t a, uint64_t sz, uintptr_t lo, uintptr_t hi)
{
	return a >= lo && a <= hi && sz <= hi - a;
}

/* The same regions as the interpreter's checked mode: this frame and its
 * callers' frames (each [rbp - 512, rbp), linked through the saved rbp at
 * [rbp]), the input, the context, the program's map values, and memory
 * helpers handed out during the run. */
static bool jit_mem_ok(const struct jit_checked_ctx *ck, uintptr_t a, uint64_t sz, bool wr, uintptr_t rbp)
{
	struct vm_run *run = ck->run;
	uintptr_t fp = rbp;
	for (uint64_t d = 0; d <= ck->depth && fp; d++) {
		if (in_range(a, sz, fp - BPF_STACK_SIZE, fp))
			return true;
		fp = *(const uintptr_t *)fp;
	}
	if (!run)
		return false;
	if (run->data && in_range(a, sz, (uintptr_t)run->data, (uintptr_t)run->data + run->len))
		return true;
	if (run->ctx && run->ctx != run->data && in_range(a, sz, (uintptr_t)run->ctx, (uintptr_t)run->ctx + run->ctx_size))
		return true;
	const struct jit_image *img = run->prog ? run->prog->jit : NULL;
	for (uint32_t i = 0; img && i < img->nregions; i++)
		if (in_range(a, sz, img->regions[i].start, img->regions[i].end) && (!wr || img->regions[i].writable))
			return true;
	for (uint32_t i = 0; i < run->nregions; i++)
		if (in_range(a, sz, run->regions[i].start, run->regions[i].end) && (!wr || run->regions[i].writable))
			return true;
	return false;
}

uint64_t jit_rt_check_mem(struct jit_checked_ctx *ck, uint64_t addr, uint64_t szwr, uint64_t insn, uint64_t rbp)
{
	uint64_t sz = szwr & 0xff;
	bool wr = (szwr >> 8) & 1;
	if (jit_mem_ok(ck, (uintptr_t)addr, sz, wr, (uintptr_t)rbp))
		return 1;
	if (ck->run)
		vm_run_fail(ck->run, -EFAULT, (uint32_t)insn, addr, "%u-byte %s 0x%llx outside any region the program may access",
		            (unsigned)sz, wr ? "store to" : "load from", (unsigned long long)addr);
	return 0;
}

/* ---- checked mode: helper calls ---- */

static bool env_mem_ok(const struct vm_chk_env *env, uintptr_t a, uint64_t sz, bool wr)
{
	return jit_mem_ok(env->engine, a, sz, wr, (uintptr_t)env->r10);
}

/* Removes the region [start, start + len) added by this shim (the helper
 * may have added others meanwhile: those stay). */
static void remove_region(struct vm_run *run, uint32_t from, uintptr_t start, uintptr_t len)
{
	for (uint32_t i = from; i < run->nregions; i++)
		if (run->regions[i].start == start && run->regions[i].end == start + len) {
			run->regions[i] = run->regions[--run->nregions];
			return;
		}
}

struct jit_call_ret jit_rt_helper_checked(struct jit_checked_ctx *ck, const struct vm_helper *h, const uint64_t *args,
                                          uint64_t insn_dst, uint64_t rbp, uint64_t id)
{
	struct jit_call_ret r = { 0, 0 };
	struct vm_run *run = ck->run;
	uint32_t insn = (uint32_t)insn_dst;
	if (!run || !run->prog || !run->prog->jit)
		return r; /* not inside bpfvm_prog_run_opts: nothing to check against */
	if (!h) {
		/* callx, as the checked interpreter: the id must name a helper */
		unsigned dst = (unsigned)(insn_dst >> 32);
		h = id <= UINT32_MAX ? vm_helper_find(run->prog->vm, (uint32_t)id) : NULL;
		if (!h) {
			vm_run_fail(run, -EINVAL, insn, 0, "call %%r%u: r%u = %llu is not a helper id", dst, dst,
			            (unsigned long long)id);
			return r;
		}
		if (h->kind == VM_HELPER_TAIL_CALL) {
			vm_run_fail(run, -EINVAL, insn, 0, "call %%r%u: bpf_tail_call cannot be called through callx in a "
			            "JIT'd program", dst);
			return r;
		}
	}
	const struct jit_image *img = run->prog->jit;
	struct vm_chk_env env = { .run = run, .mem_ok = env_mem_ok, .engine = ck, .r10 = rbp,
	                          .maps = img->maps, .nmaps = img->nmaps };
	if (!vm_chk_helper_args(&env, h, args, insn))
		return r;
	/* The JIT'd frames are not the interpreter's one contiguous stack:
	 * for the duration of the call they become regions, so a callback
	 * (run on the checked interpreter) may use pointers into them and
	 * helpers that read run memory (trace_printk's %s) find them. */
	uintptr_t frames[BPF_MAX_CALL_FRAMES];
	uint32_t nframes = 0, first = run->nregions;
	uintptr_t fp = (uintptr_t)rbp;
	for (uint64_t d = 0; d <= ck->depth && fp && nframes < BPF_MAX_CALL_FRAMES; d++) {
		frames[nframes++] = fp - BPF_STACK_SIZE;
		vm_run_add_region(run, (void *)(fp - BPF_STACK_SIZE), BPF_STACK_SIZE, true);
		fp = *(const uintptr_t *)fp;
	}
	/* callbacks run nested loops on the same budget */
	run->budget = ck->budget > 0 ? (uint64_t)ck->budget : 0;
	r.r0 = h->fn(args[0], args[1], args[2], args[3], args[4]);
	ck->budget = run->budget > INT64_MAX ? INT64_MAX : (int64_t)run->budget;
	for (uint32_t i = 0; i < nframes; i++)
		remove_region(run, first, frames[i], BPF_STACK_SIZE);
	if (!run->stop)
		vm_chk_helper_ret(run, h, r.r0, args);
	/* a stop or failure is the caller's stop check's business */
	r.ok = 1;
	return r;
}

void jit_rt_fail(struct jit_checked_ctx *ck, uint64_t kind, uint64_t insn, uint64_t addr)
{
	struct vm_run *run = ck->run;
	if (!run)
		return;
	switch (kind) {
	case JIT_FAIL_ALIGN:
		vm_run_fail(run, -EFAULT, (uint32_t)insn, addr, "misaligned atomic at 0x%llx", (unsigned long long)addr);
		break;
	case JIT_FAIL_DEPTH:
		vm_run_fail(run, -E2BIG, (uint32_t)insn, 0, "call nests deeper than %d frames", BPF_MAX_CALL_FRAMES);
		break;
	default:
		vm_run_fail(run, -ELOOP, (uint32_t)insn, 0, "instruction budget of %llu exhausted (runaway loop?)",
		            (unsigned long long)run->prog->insn_budget);
		break;
	}
}
