/*
 * Shared by the verifier fuzz targets: after a mutation (or a raw
 * instruction) a jump or local call may point outside the program or into
 * the second half of an lddw.  Both targets want to test the verifier on
 * such programs' *other* properties, so those targets are redirected to the
 * last instruction (the exit) rather than letting the loader reject every
 * such input before the verifier sees it.
 */
#ifndef BPFVM_FUZZ_FIX_JUMPS_H
#define BPFVM_FUZZ_FIX_JUMPS_H

#include <stdbool.h>
#include <stdint.h>

#include "isa.h"

static inline void fuzz_fix_jumps(struct bpf_insn *insns, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		enum vm_op op = vm_decode(&insns[i]);
		if (op == VM_OP_INVALID)
			continue;
		uint8_t f = vm_opinfo[op].fmt;
		bool in_imm = f == FMT_JA32 || f == FMT_CALL_LOCAL;
		if (f != FMT_JA && f != FMT_JCOND_K && f != FMT_JCOND_X && !in_imm)
			continue;
		int64_t t = (int64_t)i + 1 + (in_imm ? insns[i].imm : insns[i].off);
		if (t < 0 || t >= (int64_t)n || (t > 0 && insns[t - 1].code == 0x18 && vm_decode(&insns[t - 1]) == VM_OP_LDDW))
			t = (int64_t)n - 1;
		if (in_imm)
			insns[i].imm = (int32_t)(t - (int64_t)i - 1);
		else
			insns[i].off = (int16_t)(t - (int64_t)i - 1);
	}
}

#endif
