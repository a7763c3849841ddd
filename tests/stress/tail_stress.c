/*
 * Tail-call stress (suite 'stress'): threads insert programs into prog
 * arrays (each insertion builds the VM's tail-call graph under vm->lock),
 * load and drop verified programs that tail-call through them (the load's
 * owner claim and frame check), delete slots, and run a caller whose chain
 * crosses both arrays, while another thread reads the whole graph.  Runs
 * must end in a value some chain can produce (or stop on the frame bound
 * when a slot changed under them); refusals must be the frame bound only;
 * ASan/LSan and TSan check the rest.  Usage: tail_stress [seconds].
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpfvm.h"
#include "tailgraph.h"
#include "../vm/insn.h"
#include "stress.h"

#define MAPFD(d, m) LDDW_SRC(d, 1, bpfvm_map_fd(m), 0)

static atomic_bool stop;
static atomic_long inserts, refusals, runs, graphs, loads, stale;
static bpfvm *vm;
static bpfvm_map *pa, *pb;
static bpfvm_prog *caller, *hop_a, *ret7, *deep;

static bpfvm_prog *load(const char *name, const struct bpf_insn *insns, size_t n)
{
	char log[2048] = "";
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .name = name, .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int err = bpfvm_prog_load(vm, insns, n, &o, &p);
	CHECK(!err || err == -E2BIG, "load %s: %d %s", name, err, log);
	return err ? NULL : p;
}

/* Fills and empties slots: ret7 and hop_a always fit; deep (7 frames of
 * calls) fits pb[0] unless the caller's subprogram tail call is in front
 * of it (1 + 7 = 8 fits; hop_a's own subprogram hop adds one: 9). */
static void *inserter(void *arg)
{
	uint64_t s = (uintptr_t)arg;
	while (!atomic_load(&stop)) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		bpfvm_map *m = (s >> 33) & 1 ? pa : pb;
		uint32_t slot = (uint32_t)(s >> 40) & 1;
		bpfvm_prog *p = (s >> 50) % 3 == 0 ? ret7 : (s >> 50) % 3 == 1 ? hop_a : deep;
		char log[1024] = "";
		if ((s >> 60) & 1) {
			(void)bpfvm_map_delete(m, &slot);
			continue;
		}
		int err = bpfvm_prog_array_update(m, slot, p, log, sizeof(log));
		CHECK(!err || (err == -E2BIG && strstr(log, "call frames")), "insert: %d %s", err, log);
		atomic_fetch_add(err ? &refusals : &inserts, 1);
	}
	return NULL;
}

/* caller: r0 = 1, then a subprogram tail-calls pa[0] (falls through: 1). */
static void *runner(void *arg)
{
	(void)arg;
	uint8_t mem[16] = { 0 };
	while (!atomic_load(&stop)) {
		uint64_t r0 = 0;
		int err = bpfvm_prog_run(caller, mem, sizeof(mem), &r0);
		/* A run already inside hop_a when pa[0] was replaced can still
		 * tail-call a deep pb[0] inserted after the replacement: the
		 * insertion check sees current slots only (docs/verifier.md);
		 * the interpreter's per-call bound stops that run cleanly. */
		if (err == -E2BIG) {
			atomic_fetch_add(&stale, 1);
			continue;
		}
		CHECK(!err, "run: %d", err);
		/* 1: empty slot, 7: ret7, 9: deep's innermost, 2: hop_a fell
		 * through (hop_a's hop returns 2) */
		CHECK(r0 == 1 || r0 == 7 || r0 == 9 || r0 == 2, "run: r0 %llu", (unsigned long long)r0);
		atomic_fetch_add(&runs, 1);
	}
	return NULL;
}

/* Loads and drops programs tail-calling through pb from a subprogram. */
static void *loader(void *arg)
{
	(void)arg;
	struct bpf_insn t[] = {
		CALL_LOCAL(1), EXIT,
		MAPFD(2, pb), MOV64_K(3, 1), CALL(BPFVM_FN_tail_call), MOV64_K(0, 3), EXIT,
	};
	while (!atomic_load(&stop)) {
		bpfvm_prog *p = load("transient", t, sizeof(t) / sizeof(t[0]));
		if (p)
			bpfvm_prog_put(p);
		atomic_fetch_add(&loads, 1);
	}
	return NULL;
}

static void *grapher(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct vfy_tailgraph g;
		int err = vfy_tailgraph_build_vm(&g, vm);
		CHECK(!err, "graph: %d", err);
		if (!err) {
			CHECK(g.deepest_frames.value <= 8, "frames %u", g.deepest_frames.value);
			vfy_tailgraph_free(&g);
		}
		atomic_fetch_add(&graphs, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 3;
	if (bpfvm_create(NULL, &vm))
		return 1;
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = 2, .spin_lock_off = -1, .name = "pa" };
	if (bpfvm_map_create(vm, &a, &pa))
		return 1;
	a.name = "pb";
	if (bpfvm_map_create(vm, &a, &pb))
		return 1;
	struct bpf_insn c[] = {
		CALL_LOCAL(1), EXIT,
		MAPFD(2, pa), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 1), EXIT,
	};
	struct bpf_insn h[] = {
		CALL_LOCAL(1), EXIT,
		MAPFD(2, pb), MOV64_K(3, 0), CALL(BPFVM_FN_tail_call), MOV64_K(0, 2), EXIT,
	};
	struct bpf_insn r[] = { MOV64_K(0, 7), EXIT };
	struct bpf_insn d[] = {
		CALL_LOCAL(1), EXIT, CALL_LOCAL(1), EXIT, CALL_LOCAL(1), EXIT, CALL_LOCAL(1), EXIT,
		CALL_LOCAL(1), EXIT, CALL_LOCAL(1), EXIT, MOV64_K(0, 9), EXIT,
	};
	caller = load("caller", c, sizeof(c) / sizeof(c[0]));
	hop_a = load("hop_a", h, sizeof(h) / sizeof(h[0]));
	ret7 = load("ret7", r, 2);
	deep = load("deep", d, sizeof(d) / sizeof(d[0]));
	if (!caller || !hop_a || !ret7 || !deep)
		return 1;
	pthread_t th[6];
	pthread_create(&th[0], NULL, inserter, (void *)1);
	pthread_create(&th[1], NULL, inserter, (void *)2);
	pthread_create(&th[2], NULL, runner, NULL);
	pthread_create(&th[3], NULL, runner, NULL);
	pthread_create(&th[4], NULL, loader, NULL);
	pthread_create(&th[5], NULL, grapher, NULL);
	struct timespec ts = { .tv_sec = seconds };
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	printf("tail_stress: %ld inserts, %ld refused, %ld runs (%ld stopped on a stale path), %ld loads, %ld graphs, "
	       "%ld failures\n", atomic_load(&inserts), atomic_load(&refusals), atomic_load(&runs), atomic_load(&stale),
	       atomic_load(&loads), atomic_load(&graphs), atomic_load(&failures));
	bpfvm_prog_put(caller);
	bpfvm_prog_put(hop_a);
	bpfvm_prog_put(ret7);
	bpfvm_prog_put(deep);
	bpfvm_map_put(pa);
	bpfvm_map_put(pb);
	bpfvm_destroy(vm);
	return atomic_load(&failures) ? 1 : 0;
}
