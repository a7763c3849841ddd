/* rcu_bench: one implementation under test.  The read-side loops live in
 * the implementation's own file so its inline fast paths are inlined. */
#ifndef RCU_BENCH_H
#define RCU_BENCH_H

#include <stdatomic.h>

struct rcu_bench_impl {
	const char *name;
	void (*register_thread)(void);
	void (*unregister_thread)(void);
	/* Runs iters lock/unlock pairs; returns nothing (caller times it). */
	void (*pairs)(long iters);
	/* Reader thread body: short sections until *stop, counting them. */
	void (*reader_loop)(atomic_int *stop, long *count);
	void (*synchronize)(void);
	/* Around an idle reader's sleep (qsbr: offline/online), or NULL. */
	void (*idle_enter)(void), (*idle_exit)(void);
};

extern const struct rcu_bench_impl rcu_bench_urcu_memb;
extern const struct rcu_bench_impl rcu_bench_urcu_qsbr;

#endif
