/*
 * Seed driver for the JIT differential check (tests/jit/diff.h): builds
 * the case of each seed with tests/jit/gen.h (state seed * 7919, up to
 * 600 insns; with features, diff_gen(): tail-call targets, program, input,
 * map contents) and compares the interpreter, the JIT and the blinded JIT,
 * unchecked and checked, on r0, the input and the maps.  No libFuzzer or
 * sanitizer needed, so it runs many programs a second.
 *
 *   diff_seeds [--seconds S] [--features F] [FIRST [LAST]]
 *
 * runs seeds FIRST..LAST (default 1..2^64-1) until S seconds have passed
 * (default: no limit), prints each seed that differs and a summary, and
 * exits 1 if any did.  F: gen.h's GEN_F_* bits, default 15 (all: maps,
 * loops, bpf-to-bpf calls, tail calls); 0 gives test_jit's programs
 * (gen_prog()) exactly.  Suite 'stress' runs it for 20 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff.h"
#include "gen.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 0;
	uint32_t features = GEN_F_ALL;
	int a = 1;
	for (;;) {
		if (a + 1 < argc && !strcmp(argv[a], "--seconds"))
			seconds = strtod(argv[a + 1], NULL);
		else if (a + 1 < argc && !strcmp(argv[a], "--features"))
			features = (uint32_t)strtoul(argv[a + 1], NULL, 0);
		else
			break;
		a += 2;
	}
	uint64_t first = a < argc ? strtoull(argv[a], NULL, 0) : 1;
	uint64_t last = a + 1 < argc ? strtoull(argv[a + 1], NULL, 0) : UINT64_MAX;
	if (a + 2 < argc || first == 0 || last < first || seconds < 0) {
		fprintf(stderr, "usage: %s [--seconds S] [--features F] [FIRST [LAST]]  (seeds >= 1)\n", argv[0]);
		return 2;
	}
	bpfvm *vm = NULL;
	struct bpfvm_opts vo = { .sz = sizeof(vo) }; /* with the built-in helpers */
	struct diff_env env;
	int e = bpfvm_create(&vo, &vm);
	if (!e)
		e = diff_env_init(&env, vm);
	if (e) {
		fprintf(stderr, "setup: %s\n", bpfvm_strerror(e));
		return 2;
	}
	static struct diff_gen g;
	uint64_t ran = 0, bad = 0, insns = 0;
	double t0 = now();
	for (uint64_t seed = first;; seed++) {
		struct gen_rng r = { .s = seed * 7919 };
		diff_gen(&r, &g, 600, features);
		size_t n = g.c.n;
		char msg[512] = "";
		enum diff_verdict v = diff_case(&env, &g.c, msg, sizeof(msg));
		ran++;
		insns += n;
		for (unsigned i = 0; i < g.c.ntargets; i++)
			insns += g.c.target_n[i];
		if (v != DIFF_SAME) {
			bad++;
			printf("seed %llu (%zu insns): %s: %s\n", (unsigned long long)seed, n,
			       v == DIFF_ADDRESS_DEPENDENT ? "program depends on an address (gen.h bug)"
			       : v == DIFF_NOT_LOADED      ? "did not load"
			                                   : "engines differ",
			       msg);
			fflush(stdout);
		}
		if (seed == last || (seconds > 0 && now() - t0 >= seconds))
			break;
	}
	printf("seeds %llu..%llu: %llu programs (%llu insns) in %.1f s, %llu differ\n", (unsigned long long)first,
	       (unsigned long long)(first + ran - 1), (unsigned long long)ran, (unsigned long long)insns, now() - t0,
	       (unsigned long long)bad);
	diff_env_fini(&env);
	bpfvm_destroy(vm);
	return bad ? 1 : 0;
}
