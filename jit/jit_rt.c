/*
 * Run-time support called from JIT'd code for the rare operations that are
 * easier in C than inline.  Called on program threads, concurrently; they
 * touch only the calling thread's run.
 */
#include <string.h>

#include "jit_int.h"
#include "vm.h"
#ifdef BPFVM_HAVE_MAPS
#include "map.h"
#endif

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
#ifdef BPFVM_HAVE_MAPS
	struct vm_run *run = vm_current_run;
	if (!run || run->tail_calls >= BPF_MAX_TAIL_CALLS || !map)
		return r;
	struct bpfvm_prog *t = map_prog_array_get((struct bpfvm_map *)(uintptr_t)map, (uint32_t)index);
	if (!t || (!t->jit && !t->interp))
		return r;
	run->tail_calls++;
	run->prog = t;
	if (t->jit) {
		const struct jit_image *img = t->jit;
		r.addr = (uint64_t)(uintptr_t)img->mem + img->subs[0] + JIT_TAIL_ENTRY_SKIP;
		return r;
	}
	/* The target runs on the interpreter (it could not be JIT'd, or it
	 * needs checked mode): run it here and return its r0 from this frame. */
	if (t->flags & BPFVM_PROG_NO_VERIFY)
		r.r0 = vm_interp_run_checked(t, run, ctx, 0);
	else
		r.r0 = vm_interp_run(t, run, ctx, 0);
	r.addr = run->err ? JIT_TAIL_ABORT : JIT_TAIL_DONE;
#else
	(void)map; (void)index; (void)ctx;
#endif
	return r;
}
