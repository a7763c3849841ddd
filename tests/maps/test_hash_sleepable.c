/*
 * Sleepable programs (a helper may block: the run is a tasks-trace read
 * section, not a normal one) and hash maps: a value pointer the program
 * holds across a sleep keeps its key's value while the host deletes the
 * key and churns the map through many normal grace periods (elements
 * leave a map only after a grace period of each flavour, map_defer).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "../vm/insn.h"
#include "bpfvm.h"
#include "map.h"
#include "rcu.h"

static atomic_int inside, release_run;

static uint64_t sleeper(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a, (void)b, (void)c, (void)d, (void)e;
	atomic_store(&inside, 1);
	while (!atomic_load(&release_run)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static bpfvm_prog *prog;
static uint64_t run_r0;

static void *runner(void *arg)
{
	(void)arg;
	cr_assert_eq(bpfvm_prog_run(prog, NULL, 0, &run_r0), 0);
	return NULL;
}

Test(hash_sleepable, value_held_across_a_sleep_survives_delete_and_churn)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpfvm_helper_proto pr = { .sz = sizeof(pr), .name = "sleeper", .ret = BPFVM_RET_INTEGER,
	                                 .flags = BPFVM_HELPER_MAY_SLEEP };
	cr_assert_eq(bpfvm_helper_register(vm, BPFVM_HELPER_USER_BASE, sleeper, &pr), 0);
	/* 64 KiB values: room for about 1,000 elements (maps/hash.c), so
	 * that the churn below recycles every element that comes back. */
	const uint32_t vs = 65536;
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_HASH, .key_size = 8, .value_size = vs,
	                            .max_entries = 64, .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0);
	uint64_t *v = calloc(1, vs), k = 1;
	cr_assert_not_null(v);
	v[0] = 111;
	cr_assert_eq(bpfvm_map_update(m, &k, v, 0), 0);
	/* v = lookup(1); sleep; r0 = *v (or -1 if not found) */
	struct bpf_insn insns[] = {
		STDW(10, -8, 1), LDDW_SRC(1, 1, bpfvm_map_fd(m), 0), MOV64_X(2, 10), ALU64_K(OP_ADD, 2, -8),
		CALL(BPFVM_FN_map_lookup_elem), JEQ_K(0, 0, 4), MOV64_X(6, 0), CALL(BPFVM_HELPER_USER_BASE),
		LDXDW(0, 6, 0), EXIT, MOV64_K(0, -1), EXIT,
	};
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED, .log_buf = log,
	                              .log_size = sizeof(log) };
	cr_assert_eq(bpfvm_prog_load(vm, insns, sizeof(insns) / sizeof(insns[0]), &po, &prog), 0, "%s", log);
	pthread_t t;
	pthread_create(&t, NULL, runner, NULL);
	while (!atomic_load(&inside))
		sched_yield();
	cr_assert_eq(bpfvm_map_delete(m, &k), 0);
	/* Churn: each update in a read section of its own, so that when the
	 * room runs out it fails instead of waiting for the sleeping run;
	 * normal grace periods and their callbacks in between. */
	unsigned long g0 = rcu_gp_seq();
	int err = 0;
	uint64_t j = 0;
	for (; j < 5000 && !err; j++) {
		uint64_t kk = 1000 + j;
		v[0] = 5000000 + j;
		rcu_read_lock();
		err = bpfvm_map_update(m, &kk, v, 0);
		rcu_read_unlock();
		if (!err)
			cr_assert_eq(bpfvm_map_delete(m, &kk), 0);
		if (j % 50 == 49) { /* normal grace periods and callbacks: the run is not in a normal section */
			rcu_synchronize();
			rcu_barrier();
		}
	}
	cr_expect_geq(rcu_gp_seq() - g0, 2 * 10, "normal grace periods while the run slept: %lu",
	              (rcu_gp_seq() - g0) / 2);
	cr_expect_eq(err, -ENOMEM, "the room ran out after %llu updates: elements wait for the sleeping run",
	             (unsigned long long)j);
	atomic_store(&release_run, 1);
	pthread_join(t, NULL);
	cr_expect_eq(run_r0, 111, "the program read %llu through its pointer (stored 111)", (unsigned long long)run_r0);
	free(v);
	bpfvm_prog_put(prog);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
