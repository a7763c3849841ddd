/* liburcu urcu-qsbr, inline (static) read side: read_lock/unlock are
 * empty; readers announce quiescent states instead, once per section here
 * (as a VM would after each program run).  The reference for rcu_bench. */
#define _LGPL_SOURCE
#include <urcu/urcu-qsbr.h>

#include "rcu_bench.h"

static void qsbr_pairs(long iters)
{
	for (long i = 0; i < iters; i++) {
		urcu_qsbr_read_lock();
		urcu_qsbr_read_unlock();
		urcu_qsbr_quiescent_state();
	}
}

static void qsbr_reader_loop(atomic_int *stop, long *count)
{
	long n = 0;
	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		urcu_qsbr_read_lock();
		urcu_qsbr_read_unlock();
		urcu_qsbr_quiescent_state();
		n++;
	}
	*count = n;
}

/* The synchronizing thread must be offline or it would wait for itself. */
static void qsbr_synchronize(void)
{
	urcu_qsbr_thread_offline();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_thread_online();
}

const struct rcu_bench_impl rcu_bench_urcu_qsbr = {
	.name = "liburcu urcu-qsbr",
	.register_thread = urcu_qsbr_register_thread,
	.unregister_thread = urcu_qsbr_unregister_thread,
	.pairs = qsbr_pairs,
	.reader_loop = qsbr_reader_loop,
	.synchronize = qsbr_synchronize,
	.idle_enter = urcu_qsbr_thread_offline,
	.idle_exit = urcu_qsbr_thread_online,
};
