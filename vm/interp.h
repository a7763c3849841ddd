/*
 * The interpreter's threaded code: each instruction decoded once at load
 * into a vm_tinsn with its dispatch label, operands and whatever can be
 * resolved ahead (jump target pointers, lddw values, helpers).  The slot
 * index equals the instruction index, so error messages and jump targets
 * agree with the bytecode.
 */
#ifndef BPFVM_INTERP_H
#define BPFVM_INTERP_H

#include "vm.h"

struct vm_tinsn {
	const void *label;  /* fast loop's computed-goto target (unused with switch dispatch) */
	uint16_t op;        /* enum vm_op: the checked loop and the switch build dispatch on it */
	uint8_t dst, src;
	int16_t off;
	int32_t imm;
	union {
		uint64_t u64;                  /* lddw value */
		const struct vm_tinsn *tgt;    /* jump / call local target */
		const struct vm_helper *helper;
	} x;
};

struct vm_interp {
	struct bpfvm_prog *prog;        /* the program it runs: run->prog after a return */
	struct vm_tinsn *code;
	uint32_t len;
	bool may_sleep;                 /* some helper may block: tasks-trace RCU flavour */
	bool checked;                   /* runs on the checked loop */
	/* Checked mode: map values reachable through lddw src=2/6 and the maps
	 * lddw names (to validate map arguments of helpers). */
	struct vm_region *regions;
	uint32_t nregions;
	struct bpfvm_map **maps;
	uint32_t nmaps;
};

/* The loops: entry is where to start, args r1..r5. */
VM_HIDDEN uint64_t vm_interp_loop_fast(const struct vm_interp *ip, struct vm_run *run,
                                       const struct vm_tinsn *entry, const uint64_t *args);
VM_HIDDEN uint64_t vm_interp_loop_checked(const struct vm_interp *ip, struct vm_run *run,
                                          const struct vm_tinsn *entry, const uint64_t *args);

#endif
