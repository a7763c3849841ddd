/*
 * Differential fuzz target: the fuzzer's bytes drive tests/jit/gen.h to
 * build a random valid program (every ALU op of the opcode table, jumps,
 * loads, stores, atomics); the interpreter and the JIT (plain and with
 * constant blinding) must agree on r0 and the input memory (which the
 * program's stores and atomics write).  Any difference aborts.  Map
 * contents are not compared yet: generated programs use no maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/jit/gen.h"
#include "bpfvm.h"

static bpfvm *vm;

static uint64_t run(const struct bpf_insn *insns, size_t n, uint32_t engine, uint32_t flags, uint8_t *mem,
                    bool *jitted)
{
	char log[512] = "";
	uint32_t f = flags & BPFVM_PROG_NO_VERIFY ? flags : BPFVM_PROG_UNCHECKED | flags;
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = f, .engine = engine,
		                      .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	if (bpfvm_prog_load(vm, insns, n, &po, &p)) {
		fprintf(stderr, "generated program did not load: %s\n", log);
		abort();
	}
	if (jitted)
		*jitted = bpfvm_prog_engine(p) == BPFVM_ENGINE_JIT;
	uint64_t r0 = 0;
	if (bpfvm_prog_run(p, mem, GEN_MEM, &r0))
		abort();
	bpfvm_prog_put(p);
	return r0;
}

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
	uint8_t m0[GEN_MEM], mi[GEN_MEM], mj[GEN_MEM], mb[GEN_MEM];
	for (int i = 0; i < GEN_MEM; i++)
		m0[i] = (uint8_t)gen_next(&r);
	memcpy(mi, m0, GEN_MEM);
	memcpy(mj, m0, GEN_MEM);
	memcpy(mb, m0, GEN_MEM);
	bool jitted = false;
	uint64_t ri = run(prog, n, BPFVM_ENGINE_INTERP, 0, mi, NULL);
	uint64_t rj = run(prog, n, BPFVM_ENGINE_JIT, 0, mj, &jitted);
	uint64_t rb = run(prog, n, BPFVM_ENGINE_JIT, BPFVM_PROG_JIT_BLIND, mb, NULL);
	/* checked mode on both engines (no verifier): same results */
	uint8_t mci[GEN_MEM], mcj[GEN_MEM];
	memcpy(mci, m0, GEN_MEM);
	memcpy(mcj, m0, GEN_MEM);
	bool cjit = false;
	uint64_t rci = run(prog, n, BPFVM_ENGINE_INTERP, BPFVM_PROG_NO_VERIFY, mci, NULL);
	uint64_t rcj = run(prog, n, BPFVM_ENGINE_JIT, BPFVM_PROG_NO_VERIFY, mcj, &cjit);
	if (!cjit || rci != ri || rcj != ri || memcmp(mi, mci, GEN_MEM) || memcmp(mi, mcj, GEN_MEM)) {
		fprintf(stderr, "checked mode differs: r0 %#llx / %#llx / %#llx\n", (unsigned long long)ri,
		        (unsigned long long)rci, (unsigned long long)rcj);
		abort();
	}
	if (!jitted || ri != rj || ri != rb || memcmp(mi, mj, GEN_MEM) || memcmp(mi, mb, GEN_MEM)) {
		fprintf(stderr, "JIT and interpreter differ: jitted %d r0 %#llx / %#llx / %#llx\n", jitted,
		        (unsigned long long)ri, (unsigned long long)rj, (unsigned long long)rb);
		abort();
	}
	return 0;
}
