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

#endif
