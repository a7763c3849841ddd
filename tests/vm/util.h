/* Shared test helpers: load and run a program in one call. */
#ifndef BPFVM_TEST_UTIL_H
#define BPFVM_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "insn.h"

/* Loads insns with flags into vm (a fresh bare VM when vm is NULL) and
 * runs it on mem; returns the run's result, r0 and the error text. */
static inline int t_run(bpfvm *vm, const struct bpf_insn *insns, size_t n, uint32_t flags, void *mem, size_t len,
                        uint64_t *r0, char *err, size_t errsz)
{
	bpfvm *own = NULL;
	if (!vm) {
		struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
		cr_assert_eq(bpfvm_create(&vo, &own), 0);
		vm = own;
	}
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = flags, .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	if (rc) {
		if (err)
			snprintf(err, errsz, "%s", log);
		bpfvm_destroy(own);
		return rc;
	}
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = len, .err_buf = err, .err_size = errsz };
	rc = bpfvm_prog_run_opts(p, &ro);
	if (r0)
		*r0 = ro.r0;
	bpfvm_prog_put(p);
	bpfvm_destroy(own);
	return rc;
}

#endif
