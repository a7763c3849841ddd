/*
 * Differential fuzz target: the fuzzer's bytes drive tests/jit/gen.h
 * (diff_gen(), every GEN_F_* feature) to build a random valid case: 0-2
 * tail-call target programs, the program, its 64-byte input and the
 * initial contents of three maps (an array the JIT inlines lookups of, a
 * BPF_F_INNER_MAP array it does not, a hash map with 8-byte keys).  The
 * programs hold every ALU op of the opcode table, forward jumps, loads,
 * stores, atomics, the idioms the JIT fuses, and mixed in: map lookups
 * with loads/stores/atomics through the value pointer (in r0, r1-r5 or
 * r7-r9, across helper calls), updates (any flags) and deletes, bounded
 * loops, bpf-to-bpf calls to up to three subprograms (some given a
 * pointer into the caller's frame), tail calls (hit, empty slot, out of
 * range; from subprograms too).  Half the cases use a program type whose
 * context is the input, so tail calls jump from JIT code to JIT code
 * ("mem" targets run on the interpreter).
 * tests/jit/diff.h runs the case on the interpreter, the JIT and the
 * blinded JIT, unchecked and checked, and with the interpreter's stack,
 * input and maps moved.  Every run must give the same r0, input memory and
 * map contents (maps are reset before each run and dumped after).  Any
 * difference aborts, naming the runs (and the map and key): an engine
 * difference is a JIT or interpreter bug; an address-dependent result is a
 * generator bug (the program leaked a pointer), not an engine's.
 * tests/jit/diff_seeds runs the same check over seeds without libFuzzer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../tests/jit/diff.h"
#include "../../tests/jit/gen.h"
#include "bpfvm.h"

static bpfvm *vm;
static struct diff_env env;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct diff_gen g;
	if (!vm) {
		struct bpfvm_opts vo = { .sz = sizeof(vo) }; /* with the built-in helpers */
		if (bpfvm_create(&vo, &vm) || diff_env_init(&env, vm))
			abort();
	}
	if (size < 8)
		return 0;
	struct gen_rng r = { .s = 0, .bytes = data, .nbytes = size };
	diff_gen(&r, &g, 400, GEN_F_ALL);
	char msg[512];
	enum diff_verdict v = diff_case(&env, &g.c, msg, sizeof(msg));
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
