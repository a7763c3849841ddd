/*
 * bpfvm_prog_load: copy, validate, find subprograms, resolve, verify,
 * prepare the engines.  On failure nothing is left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "log.h"
#include "vm.h"
#include "verifier.h"
#include "jit.h"

VM_HIDDEN bool vm_prog_type_rewrites(const struct vm_prog_type *t);
VM_HIDDEN int vm_prog_fd_alloc(struct bpfvm_prog *prog);
VM_HIDDEN void vm_prog_free_now(struct bpfvm_prog *prog);

#define VM_DEFAULT_BUDGET 1000000000ull

int bpfvm_prog_load(bpfvm *vm, const struct bpf_insn *insns, size_t ninsns, const struct bpfvm_prog_opts *opts,
                    bpfvm_prog **out)
{
	return vm_prog_load_debug(vm, insns, ninsns, opts, NULL, out);
}

/* Checks the arguments and creates the program; the caller frees debug
 * when this fails before the program exists. */
static int prog_load(bpfvm *vm, const struct bpf_insn *insns, size_t ninsns, const struct bpfvm_prog_opts *opts,
                     struct vm_prog_debug **debug, bpfvm_prog **out)
{
	struct bpfvm_prog_opts o = { .sz = sizeof(o) };
	struct vm_log log;
	int err;

	if (!vm || !out || (!insns && ninsns))
		return -EINVAL;
	if (opts) {
		if (opts->sz < offsetof(struct bpfvm_prog_opts, fd_array) || opts->sz > 4096)
			return -EINVAL;
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	}
	vm_log_init(&log, o.log_buf, o.log_size, o.log_level);
	const char *tname = o.type ? o.type : "mem";
	const struct vm_prog_type *type = vm_prog_type_find(vm, tname);
	if (!type)
		return vm_log_err(&log, -EINVAL, -1, "unknown program type '%s'", tname);
	uint32_t known = BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED | BPFVM_PROG_ANY_ALIGNMENT | BPFVM_PROG_JIT_BLIND |
	                 BPFVM_PROG_JIT_NO_VECTOR;
	if (o.flags & ~known)
		return vm_log_err(&log, -EINVAL, -1, "unknown program flags 0x%x", o.flags & ~known);
	if ((o.flags & BPFVM_PROG_NO_VERIFY) && (o.flags & BPFVM_PROG_UNCHECKED))
		return vm_log_err(&log, -EINVAL, -1, "BPFVM_PROG_NO_VERIFY and BPFVM_PROG_UNCHECKED exclude each other");
	if (o.engine > BPFVM_ENGINE_JIT)
		return vm_log_err(&log, -EINVAL, -1, "unknown engine %u", o.engine);
	bool verify = !(o.flags & (BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED));
	if (!verify && vm_prog_type_rewrites(type))
		return vm_log_err(&log, -EINVAL, -1,
		                  "program type '%s' needs the verifier (it rewrites context loads): load it without "
		                  "BPFVM_PROG_NO_VERIFY/UNCHECKED",
		                  tname);
	if (ninsns > UINT32_MAX)
		return vm_log_err(&log, -E2BIG, -1, "program has too many instructions");

	struct bpfvm_prog *prog = calloc(1, sizeof(*prog));
	if (!prog)
		return -ENOMEM;
	prog->vm = vm;
	prog->type = type;
	prog->flags = o.flags;
	prog->engine = BPFVM_ENGINE_INTERP;
	prog->mem_size = o.mem_size;
	prog->insn_budget = o.insn_budget ? o.insn_budget : VM_DEFAULT_BUDGET;
	prog->refcnt = 1;
	prog->len = (uint32_t)ninsns;
	snprintf(prog->name, sizeof(prog->name), "%s", o.name ? o.name : "prog");
	prog->debug = *debug; /* freed with the program from here on */
	*debug = NULL;
	prog->insns = malloc((ninsns ? ninsns : 1) * sizeof(*insns));
	prog->ops = malloc((ninsns ? ninsns : 1) * sizeof(*prog->ops));
	prog->aux = calloc(ninsns ? ninsns : 1, sizeof(*prog->aux));
	err = -ENOMEM;
	if (!prog->insns || !prog->ops || !prog->aux)
		goto fail;
	if (ninsns)
		memcpy(prog->insns, insns, ninsns * sizeof(*insns));

	if ((err = vm_validate(prog, &log)) || (err = vm_find_subprogs(prog, &log)) || (err = vm_resolve(prog, &o, &log)))
		goto fail;

	if (verify) {
		if ((err = vfy_verify(prog, &log)))
			goto fail;
	}
	/* The interpreter is always prepared: it runs callbacks and is the
	 * fallback of the JIT. */
	if ((err = vm_interp_prepare(prog)))
		goto fail;
	if (o.engine == BPFVM_ENGINE_JIT) {
		int jerr = jit_compile(prog, &log);
		if (jerr)
			vm_log(&log, BPFVM_LOG_ERRORS, "jit: %s; running on the interpreter\n", bpfvm_strerror(jerr));
		else
			prog->engine = BPFVM_ENGINE_JIT;
	}
	if ((err = vm_prog_fd_alloc(prog)))
		goto fail;
	*out = prog;
	return 0;
fail:
	vm_prog_free_now(prog);
	return err;
}

int vm_prog_load_debug(bpfvm *vm, const struct bpf_insn *insns, size_t ninsns, const struct bpfvm_prog_opts *opts,
                       struct vm_prog_debug *debug, bpfvm_prog **out)
{
	int err = prog_load(vm, insns, ninsns, opts, &debug, out);
	free(debug);
	return err;
}
