/*
 * The JIT's entry point (driver in jit/jit.c, x86-64 backend in
 * jit/x86_64*.c).  Prefix: jit_.
 */
#ifndef BPFVM_JIT_H
#define BPFVM_JIT_H

#include "vm.h"
#include "log.h"

/* Compiles prog to native code and sets prog->jit / prog->jit_entry.
 * Returns 0, or a negative errno with the reason in the log (the caller
 * then falls back to the interpreter). */
int jit_compile(struct bpfvm_prog *prog, struct vm_log *log);
void jit_free(struct bpfvm_prog *prog);

/*
 * Prog arrays keep JIT'd direct tail calls pointing at what each slot
 * holds (jit/jit_poke.c).  A slot store is made under jit_poke_lock(),
 * followed by jit_poke_retarget() for that slot; if it returns true, call
 * jit_poke_sync() after unlocking and before releasing the program the
 * slot held.  Host threads only.
 */
struct bpfvm_map;
void jit_poke_lock(void);
void jit_poke_unlock(void);
bool jit_poke_retarget(struct bpfvm_map *map, uint32_t index, const struct bpfvm_prog *prog);
void jit_poke_sync(void);

#endif
