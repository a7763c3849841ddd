/*
 * Fuzz target for the JIT's loop vectorizer: the fuzzer's bytes drive
 * tests/jit/vgen.h's generator (streams that may overlap by a few bytes,
 * index or pointer addressing, every compare form of the back edge, side
 * exits, element sizes 1-8, operations the vectorizer takes and ones it
 * refuses) and the input's contents; the loop runs on the interpreter, the
 * JIT and the JIT with BPFVM_PROG_JIT_NO_VECTOR, which must agree on r0
 * and every byte of the 4 KiB input.  A difference aborts with the
 * program's disassembly.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../tests/jit/vgen.h"
#include "asm.h"
#include "bpfvm.h"

static bpfvm *vm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[VGEN_MEM];
	if (!vm) {
		struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
		if (bpfvm_create(&vo, &vm))
			abort();
	}
	if (size < 8)
		return 0;
	struct vg g = { .r = { .s = 0, .bytes = data, .nbytes = size } };
	vg_loop(&g);
	uint64_t s = g.r.s;
	for (size_t i = 0; i < VGEN_MEM; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		mem[i] = (uint8_t)(s >> 56);
	}
	char msg[2048];
	unsigned nv;
	if (vgen_diff(vm, g.p, g.n, mem, &nv, msg, sizeof(msg))) {
		fprintf(stderr, "jit_vec_fuzz: %s\n", msg);
		for (size_t i = 0; i < g.n; i++) {
			char t[128];
			vm_disasm_insn(g.p, g.n, i, t, sizeof(t));
			fprintf(stderr, "%4zu: %s\n", i, t);
		}
		abort();
	}
	return 0;
}
