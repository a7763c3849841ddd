/*
 * Differential fuzz target: the fuzzer's bytes drive tests/jit/gen.h to
 * build a random valid program (every ALU op of the opcode table, jumps,
 * loads, stores, atomics, the idioms the JIT fuses); tests/jit/diff.h runs
 * it on the interpreter, the JIT and the blinded JIT, unchecked and
 * checked, and with the interpreter's stack and input moved.  Every run
 * must give the same r0 and input memory (which the program's stores and
 * atomics write).  Any difference aborts, naming the runs: an engine
 * difference is a JIT or interpreter bug; an address-dependent result is a
 * generator bug (the program leaked a pointer), not an engine's.  Map
 * contents are not compared yet: generated programs use no maps.
 * tests/jit/diff_seeds runs the same check over seeds without libFuzzer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../tests/jit/diff.h"
#include "../../tests/jit/gen.h"
#include "bpfvm.h"

static bpfvm *vm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bpf_insn prog[400];
	if (!vm) {
		struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
		if (bpfvm_create(&vo, &vm))
			abort();
	}
	if (size < 8)
		return 0;
	struct gen_rng r = { .s = 0, .bytes = data, .nbytes = size };
	size_t n = gen_prog(&r, prog, 400);
	uint8_t m0[GEN_MEM];
	for (int i = 0; i < GEN_MEM; i++)
		m0[i] = (uint8_t)gen_next(&r);
	char msg[512];
	enum diff_verdict v = diff_prog(vm, prog, n, m0, msg, sizeof(msg));
	if (v != DIFF_SAME) {
		fprintf(stderr, "%s: %s\n",
		        v == DIFF_ADDRESS_DEPENDENT ? "generated program depends on an address (gen.h bug)"
		        : v == DIFF_NOT_LOADED      ? "generated program did not load"
		                                    : "engines differ",
		        msg);
		abort();
	}
	return 0;
}
