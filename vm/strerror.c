/* bpfvm_strerror: the meaning of each negative errno in bpfvm's API. */
#include <errno.h>

#include "vm.h"

const char *bpfvm_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid argument or malformed program";
	case -ENOMEM: return "out of memory";
	case -EEXIST: return "already exists";
	case -ENOENT: return "no such entry";
	case -EACCES: return "program rejected by the verifier as unsafe";
	case -E2BIG: return "too big or too complex (or call stack too deep)";
	case -EFAULT: return "bad memory access (or an internal inconsistency)";
	case -ELOOP: return "instruction budget exhausted";
	case -EOPNOTSUPP: return "not supported";
	case -EBADF: return "not a valid handle";
	case -EPERM: return "operation not permitted";
	case -EBUSY: return "busy";
	case -ENOSPC: return "no space left (map full)";
	case -ENOEXEC: return "not a valid BPF object";
	case -ERANGE: return "value out of range";
	default: return "unknown error";
	}
}
