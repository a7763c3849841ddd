/* liburcu urcu-memb, inline (static) read side: the reference for
 * rcu_bench.  Only this benchmark uses liburcu. */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include "rcu_bench.h"

static void memb_pairs(long iters)
{
	for (long i = 0; i < iters; i++) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
	}
}

static void memb_reader_loop(atomic_int *stop, long *count)
{
	long n = 0;
	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
		n++;
	}
	*count = n;
}

const struct rcu_bench_impl rcu_bench_urcu_memb = {
	.name = "liburcu urcu-memb",
	.register_thread = urcu_memb_register_thread,
	.unregister_thread = urcu_memb_unregister_thread,
	.pairs = memb_pairs,
	.reader_loop = memb_reader_loop,
	.synchronize = urcu_memb_synchronize_rcu,
};
