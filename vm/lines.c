/*
 * Lookups in a program's source line table (struct vm_prog_debug, built
 * from .BTF.ext by the ELF loader).  An entry covers the instructions from
 * its own up to the next entry's, as Linux's bpf_line_info does.
 */
#include "vm.h"

const struct vm_line *vm_line_of(const struct bpfvm_prog *prog, uint32_t insn)
{
	const struct vm_prog_debug *d = prog ? prog->debug : NULL;
	if (!d || !d->nlines || insn >= prog->len)
		return NULL;
	uint32_t lo = 0, hi = d->nlines; /* first entry with .insn > insn */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->lines[mid].insn <= insn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || !d->lines[lo - 1].file)
		return NULL;
	return &d->lines[lo - 1];
}

const struct vm_func_name *vm_func_of(const struct bpfvm_prog *prog, uint32_t insn)
{
	const struct vm_prog_debug *d = prog ? prog->debug : NULL;
	if (!d || !d->nfuncs || insn >= prog->len)
		return NULL;
	uint32_t lo = 0, hi = d->nfuncs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->funcs[mid].insn <= insn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && d->funcs[lo - 1].name ? &d->funcs[lo - 1] : NULL;
}
