/*
 * rcu_bench: bpfvm's RCU against liburcu (urcu-memb and urcu-qsbr, inline
 * read sides) on the same machine.  A benchmark, not a test: it prints a
 * table and asserts nothing.
 *
 *   read pair       ns per rcu_read_lock()+rcu_read_unlock() (qsbr: empty
 *                   lock/unlock plus one quiescent-state announcement)
 *   sync idle       ns per synchronize with registered but idle readers
 *   sync 2 readers  ns per synchronize while two threads run sections in
 *                   a loop (2 cores: they compete with the writer)
 *
 * Usage: rcu_bench [--no-membarrier] [--quick]
 *   --no-membarrier  bpfvm's fallback read side (a locked instruction per
 *                    outermost lock) instead of membarrier
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcu.h"
#include "rcu_impl.h"
#include "rcu_bench.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- bpfvm's flavours, inline in this file ------------------------------ */

static void bpfvm_pairs(long iters)
{
	for (long i = 0; i < iters; i++) {
		rcu_read_lock();
		rcu_read_unlock();
	}
}

static void bpfvm_nested_pairs(long iters)
{
	rcu_read_lock();
	for (long i = 0; i < iters; i++) {
		rcu_read_lock();
		rcu_read_unlock();
	}
	rcu_read_unlock();
}

static void bpfvm_tt_pairs(long iters)
{
	for (long i = 0; i < iters; i++) {
		rcu_tt_read_lock();
		rcu_tt_read_unlock();
	}
}

static void bpfvm_reader_loop(atomic_int *stop, long *count)
{
	long n = 0;
	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		rcu_read_lock();
		rcu_read_unlock();
		n++;
	}
	*count = n;
}

static void bpfvm_tt_reader_loop(atomic_int *stop, long *count)
{
	long n = 0;
	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		rcu_tt_read_lock();
		rcu_tt_read_unlock();
		n++;
	}
	*count = n;
}

static const struct rcu_bench_impl bench_bpfvm = {
	.name = "bpfvm rcu",
	.register_thread = rcu_thread_register,
	.unregister_thread = rcu_thread_unregister,
	.pairs = bpfvm_pairs,
	.reader_loop = bpfvm_reader_loop,
	.synchronize = rcu_synchronize,
};

static const struct rcu_bench_impl bench_bpfvm_nested = {
	.name = "bpfvm rcu (nested pair)",
	.register_thread = rcu_thread_register,
	.unregister_thread = rcu_thread_unregister,
	.pairs = bpfvm_nested_pairs,
};

static const struct rcu_bench_impl bench_bpfvm_tt = {
	.name = "bpfvm rcu_tt",
	.register_thread = rcu_thread_register,
	.unregister_thread = rcu_thread_unregister,
	.pairs = bpfvm_tt_pairs,
	.reader_loop = bpfvm_tt_reader_loop,
	.synchronize = rcu_tt_synchronize,
};

/* ---- measurements --------------------------------------------------------- */

static long pair_iters = 100000000, sync_idle_iters = 2000, sync_busy_iters = 300;

static double read_pair_ns(const struct rcu_bench_impl *b)
{
	double best = 1e30;

	b->register_thread();
	b->pairs(pair_iters / 10);   /* warm up */
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now_ns();
		b->pairs(pair_iters);
		double ns = (now_ns() - t0) / pair_iters;
		if (ns < best)
			best = ns;
	}
	b->unregister_thread();
	return best;
}

struct reader_arg {
	const struct rcu_bench_impl *b;
	atomic_int *stop;
	atomic_int ready;
	long count;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	a->b->register_thread();
	atomic_store(&a->ready, 1);
	a->b->reader_loop(a->stop, &a->count);
	a->b->unregister_thread();
	return NULL;
}

static void *idle_thread(void *p)
{
	struct reader_arg *a = p;
	a->b->register_thread();
	if (a->b->idle_enter)
		a->b->idle_enter();
	atomic_store(&a->ready, 1);
	while (!atomic_load(a->stop)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (a->b->idle_exit)
		a->b->idle_exit();
	a->b->unregister_thread();
	return NULL;
}

/* Mean ns per synchronize, with `nreaders` threads either looping read
 * sections (busy) or registered and sleeping (idle). */
static double sync_ns(const struct rcu_bench_impl *b, int nreaders, bool busy, long iters)
{
	atomic_int stop = 0;
	struct reader_arg args[2];
	pthread_t t[2];
	double ns;

	b->register_thread();
	for (int i = 0; i < nreaders; i++) {
		args[i] = (struct reader_arg){ .b = b, .stop = &stop };
		pthread_create(&t[i], NULL, busy ? reader_thread : idle_thread, &args[i]);
		while (!atomic_load(&args[i].ready))
			;
	}
	b->synchronize();
	double t0 = now_ns();
	for (long i = 0; i < iters; i++)
		b->synchronize();
	ns = (now_ns() - t0) / iters;
	atomic_store(&stop, 1);
	for (int i = 0; i < nreaders; i++)
		pthread_join(t[i], NULL);
	b->unregister_thread();
	return ns;
}

static void row(const struct rcu_bench_impl *b)
{
	double pair = read_pair_ns(b);
	if (!b->synchronize) {
		printf("%-26s %10.2f %14s %16s\n", b->name, pair, "-", "-");
		return;
	}
	double idle = sync_ns(b, 1, false, sync_idle_iters);
	double busy = sync_ns(b, 2, true, sync_busy_iters);
	printf("%-26s %10.2f %14.0f %16.0f\n", b->name, pair, idle, busy);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-membarrier")) {
			setenv("BPFVM_RCU_NO_MEMBARRIER", "1", 1);
		} else if (!strcmp(argv[i], "--quick")) {
			pair_iters /= 20;
			sync_idle_iters /= 10;
			sync_busy_iters /= 10;
		} else {
			fprintf(stderr, "usage: %s [--no-membarrier] [--quick]\n", argv[0]);
			return 2;
		}
	}
	bool memb = rcu_uses_membarrier();
	printf("bpfvm read side: %s\n", memb ? "compiler barrier + writer membarrier(PRIVATE_EXPEDITED)"
	                                     : "locked instruction per outermost lock (no membarrier)");
	printf("%-26s %10s %14s %16s\n", "implementation", "pair ns", "sync idle ns", "sync 2 readers ns");
	row(&bench_bpfvm);
	row(&bench_bpfvm_nested);
	row(&bench_bpfvm_tt);
	row(&rcu_bench_urcu_memb);
	row(&rcu_bench_urcu_qsbr);
	rcu_shutdown();
	return 0;
}
