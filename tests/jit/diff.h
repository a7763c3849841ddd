/*
 * The differential check of one generated program (tests/jit/gen.h),
 * shared by the libFuzzer target tools/fuzz/jit_diff_fuzz.c and the seed
 * driver tests/jit/diff_seeds.c.  Seven runs over copies of one input:
 *
 *   interpreter, JIT, blinded JIT             unchecked (no verifier)
 *   interpreter, JIT, blinded JIT             checked (BPFVM_PROG_NO_VERIFY)
 *   interpreter with its stack and input moved, unchecked
 *
 * Every run must succeed with the same r0 and the same input bytes, and
 * each JIT run must really be on the JIT.  The moved run guards the test
 * itself: a generated program must not depend on where its stack or input
 * lives (the engines' stacks are at different addresses, so a program
 * that stores a pointer byte looks like a JIT bug; that was seed 2287).
 */
#ifndef BPFVM_TEST_JIT_DIFF_H
#define BPFVM_TEST_JIT_DIFF_H

#include <stdio.h>
#include <string.h>

#include "bpfvm.h"
#include "gen.h"

enum diff_verdict {
	DIFF_SAME = 0,
	DIFF_ADDRESS_DEPENDENT, /* a gen.h bug: the program's result depends on an address */
	DIFF_ENGINES,           /* an engine bug: two runs disagree */
	DIFF_NOT_LOADED,        /* a gen.h or loader bug: a generated program did not load */
};

struct diff_run {
	const char *name;
	uint32_t engine, flags;
	bool moved;
};

static const struct diff_run diff_runs[] = {
	{ "interpreter", BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, false },
	{ "jit", BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED, false },
	{ "blinded jit", BPFVM_ENGINE_JIT, BPFVM_PROG_UNCHECKED | BPFVM_PROG_JIT_BLIND, false },
	{ "checked interpreter", BPFVM_ENGINE_INTERP, BPFVM_PROG_NO_VERIFY, false },
	{ "checked jit", BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY, false },
	{ "checked blinded jit", BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY | BPFVM_PROG_JIT_BLIND, false },
	{ "interpreter, stack and input moved", BPFVM_ENGINE_INTERP, BPFVM_PROG_UNCHECKED, true },
};
#define DIFF_NRUNS (sizeof(diff_runs) / sizeof(diff_runs[0]))

/* The interpreter's stack is on the C stack: a frame about a kilobyte
 * deeper moves it by neither 256 nor 4096 bytes, so even a stored low byte
 * of an address comes out different; the input moves by 24 bytes. */
static __attribute__((noinline)) int diff_run_moved(bpfvm_prog *p, uint8_t *mem, uint64_t *r0)
{
	volatile uint8_t pad[1000];
	pad[0] = 0;
	uint8_t moved[GEN_MEM + 24];
	memcpy(moved + 24, mem, GEN_MEM);
	int rc = bpfvm_prog_run(p, moved + 24 + pad[0], GEN_MEM, r0);
	memcpy(mem, moved + 24, GEN_MEM);
	return rc;
}

/* Runs insns (n insns, input m0 of GEN_MEM bytes) as above; on a
 * difference writes what differs into msg and returns the verdict. */
static inline enum diff_verdict diff_prog(bpfvm *vm, const struct bpf_insn *insns, size_t n, const uint8_t *m0,
                                          char *msg, size_t msgsz)
{
	uint8_t mem[DIFF_NRUNS][GEN_MEM];
	uint64_t r0[DIFF_NRUNS];
	int rc[DIFF_NRUNS];
	for (size_t k = 0; k < DIFF_NRUNS; k++) {
		const struct diff_run *d = &diff_runs[k];
		char log[256] = "";
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = d->flags, .engine = d->engine,
			                      .log_buf = log, .log_size = sizeof(log) };
		bpfvm_prog *p = NULL;
		if (bpfvm_prog_load(vm, insns, n, &po, &p)) {
			snprintf(msg, msgsz, "%s: did not load: %s", d->name, log);
			return DIFF_NOT_LOADED;
		}
		if (bpfvm_prog_engine(p) != d->engine) {
			snprintf(msg, msgsz, "%s: not on that engine: %s", d->name, log);
			bpfvm_prog_put(p);
			return DIFF_ENGINES;
		}
		memcpy(mem[k], m0, GEN_MEM);
		r0[k] = 0;
		rc[k] = d->moved ? diff_run_moved(p, mem[k], &r0[k]) : bpfvm_prog_run(p, mem[k], GEN_MEM, &r0[k]);
		bpfvm_prog_put(p);
	}
	/* The moved runs first: an address-dependent program differs between
	 * engines too, and the fault is then the generator's. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < DIFF_NRUNS; k++) {
			if (diff_runs[k].moved != !pass ||
			    (rc[k] == 0 && r0[k] == r0[0] && !memcmp(mem[k], mem[0], GEN_MEM)))
				continue;
			snprintf(msg, msgsz, "%s: run %d r0 %#llx; %s: run %d r0 %#llx, memory %s", diff_runs[0].name,
			         rc[0], (unsigned long long)r0[0], diff_runs[k].name, rc[k], (unsigned long long)r0[k],
			         memcmp(mem[k], mem[0], GEN_MEM) ? "differs" : "same");
			return diff_runs[k].moved ? DIFF_ADDRESS_DEPENDENT : DIFF_ENGINES;
		}
	return DIFF_SAME;
}

#endif
