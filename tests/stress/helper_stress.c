/*
 * Helper-table stress test (suite 'stress'): threads run programs whose
 * callx looks helpers up by id while another thread keeps registering
 * new ones.  Lookups take no lock (vm/vm.c publishes immutable tables), so
 * TSan checks the publication and ASan that no replaced table is freed
 * under a reader.  Usage: helper_stress [seconds].
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bpfvm.h"
#include "../vm/insn.h"

#define NHELPERS 2000
#define NREADERS 3

static atomic_bool stop;
static atomic_uint registered; /* helpers USER_BASE .. USER_BASE+registered-1 exist */
static atomic_long failures, runs;
static bpfvm_prog *progs[2];

/* Returns a + the helper's number, which the program passes in r2. */
static uint64_t h_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c; (void)d; (void)e;
	return a + b;
}

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	while (!atomic_load(&stop)) {
		unsigned n = atomic_load(&registered);
		if (!n)
			continue;
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		uint64_t in[2] = { s % n, 1000 };
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = in, .len = sizeof(in) };
		int err = bpfvm_prog_run_opts(progs[s & 1], &ro);
		if (err || ro.r0 != 1000 + 2 * in[0]) {
			fprintf(stderr, "helper_stress: helper %llu: run %d, r0 %llu\n", (unsigned long long)in[0], err,
			        (unsigned long long)ro.r0);
			atomic_fetch_add(&failures, 1);
		}
		atomic_fetch_add(&runs, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	struct bpfvm_opts vo = { .sz = sizeof(vo), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	if (bpfvm_create(&vo, &vm))
		return 1;
	/* k = in[0]: callx (USER_BASE + k) with r1 = in[1], r2 = k, then add
	 * k once more: r0 = in[1] + 2k. */
	struct bpf_insn p[] = {
		LDXDW(6, 1, 0), LDXDW(1, 1, 8), MOV64_X(2, 6), MOV64_X(7, 6), ALU64_K(OP_ADD, 7, BPFVM_HELPER_USER_BASE),
		CALLX(7), ALU64_X(OP_ADD, 0, 6), EXIT,
	};
	for (int i = 0; i < 2; i++) {
		char log[256] = "";
		struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_NO_VERIFY, .log_buf = log,
		                              .log_size = sizeof(log), .engine = i ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP };
		if (bpfvm_prog_load(vm, p, sizeof(p) / sizeof(p[0]), &po, &progs[i])) {
			fprintf(stderr, "helper_stress: load: %s\n", log);
			return 1;
		}
	}
	pthread_t th[NREADERS];
	for (uintptr_t i = 0; i < NREADERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(i + 1));
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned k = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
			break;
		if (k < NHELPERS) {
			struct bpfvm_helper_proto pr = { .sz = sizeof(pr), .args = { BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING } };
			int err = bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE + k, h_add, &pr);
			if (err) {
				fprintf(stderr, "helper_stress: register %u: %d\n", k, err);
				atomic_fetch_add(&failures, 1);
			}
			atomic_store(&registered, ++k);
		} else {
			struct timespec d = { 0, 1000000 };
			nanosleep(&d, NULL);
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		bpfvm_prog_put(progs[i]);
	bpfvm_destroy(vm);
	printf("helper_stress: %u helpers registered, %ld runs, %ld failures\n", k, atomic_load(&runs),
	       atomic_load(&failures));
	return atomic_load(&failures) ? 1 : 0;
}
