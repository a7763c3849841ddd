/*
 * Run-time support called from JIT'd code for the rare operations that are
 * easier in C than inline.  Called on program threads, concurrently; they
 * touch only the calling thread's run.
 */
#include <string.h>

#include "jit_int.h"
#include "vm.h"

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
