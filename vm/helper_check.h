/*
 * Checked mode's helper-call checks, shared by the checked interpreter loop
 * (vm/interp.c) and the checked JIT's call shim (jit/jit_rt.c): arguments
 * against the helper's proto before the call, and memory the helper
 * returns registered as a region after it.  Each engine supplies its own
 * notion of "memory this run may touch" (its stack layouts differ).
 * Prefix: vm_chk_.
 */
#ifndef BPFVM_HELPER_CHECK_H
#define BPFVM_HELPER_CHECK_H

#include "vm.h"

struct vm_chk_env {
	struct vm_run *run;
	/* May the program touch [a, a + sz) (wr: write it)? */
	bool (*mem_ok)(const struct vm_chk_env *env, uintptr_t a, uint64_t sz, bool wr);
	void *engine;                  /* the engine's state for mem_ok */
	uint64_t r10;                  /* the calling frame's r10 */
	struct bpfvm_map *const *maps; /* maps the program loaded (lddw) */
	uint32_t nmaps;
};

/* The map among env's that is v (of `type`, 0: any), or NULL. */
VM_HIDDEN struct bpfvm_map *vm_chk_is_map(const struct vm_chk_env *env, uint64_t v, uint32_t type);

/* Checks args (r1..r5) against h's proto so a helper never sees a pointer
 * outside the program's regions.  On a bad argument records -EFAULT in the
 * run, naming insn idx and the register, and returns false. */
VM_HIDDEN bool vm_chk_helper_args(const struct vm_chk_env *env, const struct vm_helper *h, const uint64_t *args,
                                  uint32_t idx);

/* After the call: memory the helper returned (a map value) becomes
 * accessible for the rest of the run. */
VM_HIDDEN void vm_chk_helper_ret(struct vm_run *run, const struct vm_helper *h, uint64_t r0, const uint64_t *args);

#endif
