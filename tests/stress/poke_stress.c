/*
 * Direct tail-call stress (suite 'stress'): reader threads run a JIT'd
 * chain of constant-index tail calls
 *
 *   E --pa2[0]--> C --pa[0]--> T      (each a direct, patched jmp)
 *
 * while a writer keeps replacing what the slots hold: fresh JIT'd targets
 * (each dropped by the host at once, so replacing it frees it and unmaps
 * its image after the grace period), an interpreter-only target, empty
 * slots, and fresh callers C (whose own sites are registered while the
 * writer patches others).  A stale jump into a freed image crashes, a
 * wrong target returns an unexpected r0; ASan and TSan check the rest.
 * Usage: poke_stress [seconds].
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bpfvm.h"
#include "jit_int.h"
#include "../vm/insn.h"
#include "stress.h"

#define NREADERS 3

static atomic_bool stop;
static atomic_long runs, seen_direct, seen_empty, seen_interp;
static bpfvm *vm;
static bpfvm_map *pa, *pa2;
static bpfvm_prog *entry;

static bpfvm_prog *load(const struct bpf_insn *ins, size_t n, uint32_t engine)
{
	char log[1024] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .engine = engine, .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	if (bpfvm_prog_load(vm, ins, n, &po, &p) || bpfvm_prog_engine(p) != engine) {
		fprintf(stderr, "poke_stress: load failed: %s\n", log);
		exit(1);
	}
	return p;
}

/* Puts p in slot k of m and drops the host's reference: the slot holds the
 * only one, so the next replacement frees p. */
static void set_and_drop(bpfvm_map *m, uint32_t k, bpfvm_prog *p)
{
	int32_t fd = bpfvm_prog_fd(p);
	CHECK(bpfvm_map_update(m, &k, &fd, BPFVM_ANY) == 0, "update");
	bpfvm_prog_put(p);
}

static bpfvm_prog *new_caller(void)
{
	/* C: tail call pa[0]; empty: r0 = 7 */
	struct bpf_insn c[] = { LDDW_SRC(2, 1, bpfvm_map_fd(pa), 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
	                        MOV64_K(0, 7), EXIT };
	return load(c, N(c), BPFVM_ENGINE_JIT);
}

static bpfvm_prog *new_target(int32_t r0, uint32_t engine)
{
	struct bpf_insn t[] = { MOV64_K(0, r0), EXIT };
	return load(t, N(t), engine);
}

static void *reader(void *arg)
{
	(void)arg;
	uint8_t mem[8] = { 0 };
	while (!atomic_load(&stop)) {
		uint64_t r0 = 0;
		int rc = bpfvm_prog_run(entry, mem, sizeof(mem), &r0);
		CHECK(rc == 0, "run failed: %d", rc);
		/* 1: pa2 empty; 7: pa empty; 100-199: a JIT'd target; 300: the interpreter's */
		CHECK(r0 == 1 || r0 == 7 || (r0 >= 100 && r0 < 200) || r0 == 300, "r0 = %llu", (unsigned long long)r0);
		if (r0 >= 100 && r0 < 200)
			atomic_fetch_add(&seen_direct, 1);
		else if (r0 == 300)
			atomic_fetch_add(&seen_interp, 1);
		else
			atomic_fetch_add(&seen_empty, 1);
		atomic_fetch_add(&runs, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	if (bpfvm_create(NULL, &vm))
		return 1;
	if (!jit_poke_supported()) {
		printf("poke_stress: this process cannot patch code; direct tail calls are off, nothing to stress\n");
		bpfvm_destroy(vm);
		return 0;
	}
	struct bpfvm_map_attr ma = { .sz = sizeof(ma), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                             .max_entries = 2, .spin_lock_off = -1 };
	if (bpfvm_map_create(vm, &ma, &pa) || bpfvm_map_create(vm, &ma, &pa2))
		return 1;
	/* E: tail call pa2[0]; empty: r0 = 1 */
	struct bpf_insn e[] = { LDDW_SRC(2, 1, bpfvm_map_fd(pa2), 0), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call),
	                        MOV64_K(0, 1), EXIT };
	entry = load(e, N(e), BPFVM_ENGINE_JIT);
	set_and_drop(pa2, 0, new_caller());
	set_and_drop(pa, 0, new_target(100, BPFVM_ENGINE_JIT));

	pthread_t th[NREADERS];
	for (int i = 0; i < NREADERS; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t s = 0x9e3779b97f4a7c15ull;
	long writes = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
			break;
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		uint32_t k = 0;
		switch (s % 8) {
		case 0: /* the target slot empties */
			bpfvm_map_delete(pa, &k);
			break;
		case 1: /* an interpreter-only target: the sites take their indirect path */
			set_and_drop(pa, 0, new_target(300, BPFVM_ENGINE_INTERP));
			break;
		case 2: /* a fresh caller: its site registers while others change */
			set_and_drop(pa2, 0, new_caller());
			break;
		case 3: /* the caller's slot empties for a moment */
			bpfvm_map_delete(pa2, &k);
			set_and_drop(pa2, 0, new_caller());
			break;
		default: /* a fresh JIT'd target; the one it replaces is freed */
			set_and_drop(pa, 0, new_target(100 + (int32_t)((s >> 8) % 100), BPFVM_ENGINE_JIT));
			break;
		}
		writes++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	printf("poke_stress: %ld runs (%ld direct, %ld interpreter, %ld empty), %ld slot writes, %lu patches, "
	       "%lu syncs, %ld failures\n",
	       (long)runs, (long)seen_direct, (long)seen_interp, (long)seen_empty, writes,
	       (unsigned long)jit_poke_patches, (unsigned long)jit_poke_syncs, (long)failures);
	CHECK(seen_direct > 0, "no run reached a JIT'd target");
	bpfvm_prog_put(entry);
	bpfvm_map_put(pa2);
	bpfvm_map_put(pa);
	bpfvm_destroy(vm);
	return failures ? 1 : 0;
}
