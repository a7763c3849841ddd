/*
 * The verifier's entry point (the pipeline lives in verifier/ files).
 * Prefix: vfy_.
 */
#ifndef BPFVM_VERIFIER_H
#define BPFVM_VERIFIER_H

#include "vm.h"
#include "log.h"

/*
 * Proves prog (validated and resolved: prog->ops, prog->aux, subprogs
 * filled) memory-safe and terminating.  On success fills prog->vstats,
 * subprogs[].stack_depth, aux[] facts for the engines (zext, constant tail
 * call indexes) and prog->tail_maps; returns 0.  On rejection returns a
 * negative errno (-EACCES unsafe, -E2BIG too complex, -EINVAL malformed)
 * with the reason, instruction index and register in the log.
 * Never aborts the host: an internal inconsistency is reported as a
 * verifier bug (-EFAULT).
 */
int vfy_verify(struct bpfvm_prog *prog, struct vm_log *log);

#endif
