/*
 * Unit tests of rcu/: nesting, registration, grace periods (both
 * flavours), callbacks, barrier, shutdown, thread exit.  Each Criterion
 * test runs in its own process, so RCU state starts fresh in each.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "rcu.h"
#include "rcu_impl.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double now_s(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Waits up to ~2 s for *flag to become non-zero. */
static bool wait_flag(atomic_int *flag)
{
	for (int i = 0; i < 2000 && !atomic_load(flag); i++)
		sleep_ms(1);
	return atomic_load(flag);
}

/* ---- nesting and registration ----------------------------------------- */

Test(rcu, nesting_counts_levels)
{
	cr_assert(!rcu_read_ongoing());
	rcu_read_lock();
	cr_assert(rcu_read_ongoing());
	rcu_read_lock();
	rcu_read_lock();
	cr_assert_eq(atomic_load(&rcu_reader_self.ctr[RCU_NORMAL]) & RCU_NEST_MASK, 3);
	rcu_read_unlock();
	rcu_read_unlock();
	cr_assert(rcu_read_ongoing());
	rcu_read_unlock();
	cr_assert(!rcu_read_ongoing());
	/* The flavours are independent. */
	rcu_tt_read_lock();
	cr_assert(rcu_tt_read_ongoing());
	cr_assert(!rcu_read_ongoing());
	rcu_read_lock();
	rcu_tt_read_lock();
	rcu_tt_read_unlock();
	rcu_read_unlock();
	cr_assert(rcu_tt_read_ongoing());
	rcu_tt_read_unlock();
	cr_assert(!rcu_tt_read_ongoing());
}

Test(rcu, nested_section_keeps_outer_phase)
{
	rcu_read_lock();
	unsigned long outer = atomic_load(&rcu_reader_self.ctr[RCU_NORMAL]);
	rcu_read_lock();
	unsigned long inner = atomic_load(&rcu_reader_self.ctr[RCU_NORMAL]);
	cr_assert_eq(inner & RCU_PHASE, outer & RCU_PHASE);
	cr_assert_eq(inner, outer + RCU_NEST_ONE);
	rcu_read_unlock();
	rcu_read_unlock();
}

Test(rcu, registration_explicit_and_idempotent)
{
	unsigned base = rcu_registered_threads();
	rcu_thread_register();
	rcu_thread_register();
	cr_assert_eq(rcu_registered_threads(), base + 1);
	cr_assert(rcu_reader_self.registered);
	rcu_thread_unregister();
	rcu_thread_unregister();
	cr_assert_eq(rcu_registered_threads(), base);
	cr_assert(!rcu_reader_self.registered);
}

Test(rcu, registration_automatic_on_first_lock)
{
	unsigned base = rcu_registered_threads();
	cr_assert(!rcu_reader_self.registered);
	rcu_read_lock();
	cr_assert(rcu_reader_self.registered);
	cr_assert_eq(rcu_registered_threads(), base + 1);
	rcu_read_unlock();
	rcu_thread_unregister();
	/* The tt flavour registers too. */
	rcu_tt_read_lock();
	cr_assert_eq(rcu_registered_threads(), base + 1);
	rcu_tt_read_unlock();
	rcu_thread_unregister();
	cr_assert_eq(rcu_registered_threads(), base);
}

/* rcu_thread_index(): unique among registered threads, lowest free first,
 * released on unregister; the notifier sees each index before release. */
static _Atomic unsigned notified[8];
static void note_unregister(unsigned index)
{
	if (index < 8)
		atomic_fetch_add(&notified[index], 1);
	/* The index is still ours: nobody else holds it yet. */
	cr_assert_eq(rcu_thread_index(), index);
}

static void *index_thread(void *arg)
{
	pthread_barrier_t *b = arg;
	rcu_read_lock();
	unsigned i = rcu_thread_index();
	rcu_read_unlock();
	pthread_barrier_wait(b); /* all registered at once */
	pthread_barrier_wait(b); /* main has read the indexes */
	return (void *)(uintptr_t)i; /* exits registered: the destructor unregisters */
}

Test(rcu, thread_index_unique_reused_and_notified)
{
	cr_assert_eq(rcu_thread_index(), RCU_NO_INDEX);
	cr_assert_eq(rcu_on_thread_unregister(note_unregister), 0);
	cr_assert_eq(rcu_on_thread_unregister(note_unregister), 0, "twice is a no-op");
	rcu_thread_register();
	unsigned mine = rcu_thread_index();
	cr_assert_lt(mine, 8);
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, 4);
	pthread_t th[3];
	for (int t = 0; t < 3; t++)
		pthread_create(&th[t], NULL, index_thread, &b);
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	unsigned seen = 1u << mine;
	for (int t = 0; t < 3; t++) {
		void *r;
		pthread_join(th[t], &r);
		unsigned i = (unsigned)(uintptr_t)r;
		cr_assert_lt(i, 8);
		cr_assert_eq(seen & (1u << i), 0, "index %u given to two registered threads", i);
		seen |= 1u << i;
		cr_assert_eq(atomic_load(&notified[i]), 1, "index %u: notifier at thread exit", i);
	}
	/* The exited threads' indexes are free again: a new thread gets the
	 * lowest of them. */
	unsigned lowest = (unsigned)__builtin_ctz(seen & ~(1u << mine));
	pthread_barrier_t b1;
	pthread_barrier_init(&b1, NULL, 1);
	pthread_t t1;
	void *r;
	pthread_create(&t1, NULL, index_thread, &b1);
	pthread_join(t1, &r);
	cr_assert_eq((unsigned)(uintptr_t)r, lowest);
	rcu_thread_unregister();
	cr_assert_eq(atomic_load(&notified[mine]), 1, "notifier on explicit unregister");
	cr_assert_eq(rcu_thread_index(), RCU_NO_INDEX);
	pthread_barrier_destroy(&b);
	pthread_barrier_destroy(&b1);
}

static void *exit_registered(void *arg)
{
	(void)arg;
	rcu_read_lock();
	rcu_read_unlock();
	rcu_tt_read_lock();
	rcu_tt_read_unlock();
	return NULL;   /* no rcu_thread_unregister() */
}

Test(rcu, thread_exit_without_unregister)
{
	unsigned base = rcu_registered_threads();
	for (int i = 0; i < 16; i++) {
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, exit_registered, NULL), 0);
		pthread_join(t, NULL);
	}
	cr_assert_eq(rcu_registered_threads(), base);
	/* Grace periods must not touch the dead threads' TLS. */
	rcu_synchronize();
	rcu_tt_synchronize();
}

static void *exit_in_section(void *arg)
{
	(void)arg;
	rcu_tt_read_lock();
	pthread_exit(NULL);   /* misuse, as a helper calling pthread_exit */
}

Test(rcu, thread_exit_inside_section_does_not_block_writers)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, exit_in_section, NULL), 0);
	pthread_join(t, NULL);
	rcu_tt_synchronize();
}

/* ---- grace periods ------------------------------------------------------ */

struct reader_ctl {
	enum rcu_flavour_id f;
	atomic_int inside, release, done;
};

static void *hold_section(void *arg)
{
	struct reader_ctl *c = arg;
	if (c->f == RCU_NORMAL)
		rcu_read_lock();
	else
		rcu_tt_read_lock();
	atomic_store(&c->inside, 1);
	while (!atomic_load(&c->release))
		sleep_ms(1);
	if (c->f == RCU_NORMAL)
		rcu_read_unlock();
	else
		rcu_tt_read_unlock();
	atomic_store(&c->done, 1);
	return NULL;
}

struct sync_ctl {
	enum rcu_flavour_id f;
	atomic_int started, returned;
	double cpu_s;
};

static void *do_sync(void *arg)
{
	struct sync_ctl *s = arg;
	double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	atomic_store(&s->started, 1);
	if (s->f == RCU_NORMAL)
		rcu_synchronize();
	else
		rcu_tt_synchronize();
	s->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	atomic_store(&s->returned, 1);
	return NULL;
}

/* synchronize() must wait for a reader that was inside before it began. */
static void waits_for_preexisting(enum rcu_flavour_id f)
{
	struct reader_ctl r = { .f = f };
	struct sync_ctl s = { .f = f };
	pthread_t rt, st;

	pthread_create(&rt, NULL, hold_section, &r);
	cr_assert(wait_flag(&r.inside));
	pthread_create(&st, NULL, do_sync, &s);
	cr_assert(wait_flag(&s.started));
	sleep_ms(150);
	cr_assert(!atomic_load(&s.returned), "synchronize returned while a pre-existing reader was inside");
	atomic_store(&r.release, 1);
	cr_assert(wait_flag(&s.returned), "synchronize did not return after the reader left");
	pthread_join(rt, NULL);
	pthread_join(st, NULL);
}

Test(rcu, synchronize_waits_for_preexisting_reader)
{
	waits_for_preexisting(RCU_NORMAL);
}

Test(rcu, tt_synchronize_waits_for_preexisting_reader)
{
	waits_for_preexisting(RCU_TT);
}

/*
 * A reader that begins after the grace period flipped the phase is not
 * waited for: white-box, the test watches the phase bit to start the
 * second reader after the flip, then releases the first.
 */
static void skips_later_reader(enum rcu_flavour_id f)
{
	struct reader_ctl a = { .f = f }, b = { .f = f };
	struct sync_ctl s = { .f = f };
	pthread_t at, bt, st;
	unsigned long phase0 = atomic_load(&rcu_gp.ctr[f]) & RCU_PHASE;

	pthread_create(&at, NULL, hold_section, &a);
	cr_assert(wait_flag(&a.inside));
	pthread_create(&st, NULL, do_sync, &s);
	for (int i = 0; i < 2000 && (atomic_load(&rcu_gp.ctr[f]) & RCU_PHASE) == phase0; i++)
		sleep_ms(1);
	cr_assert_neq(atomic_load(&rcu_gp.ctr[f]) & RCU_PHASE, phase0, "grace period never flipped the phase");
	pthread_create(&bt, NULL, hold_section, &b);
	cr_assert(wait_flag(&b.inside));
	cr_assert(!atomic_load(&s.returned));
	atomic_store(&a.release, 1);
	cr_assert(wait_flag(&s.returned), "synchronize waited for a reader that began after it");
	cr_assert(!atomic_load(&b.done));
	atomic_store(&b.release, 1);
	pthread_join(at, NULL);
	pthread_join(bt, NULL);
	pthread_join(st, NULL);
}

Test(rcu, synchronize_does_not_wait_for_later_reader)
{
	skips_later_reader(RCU_NORMAL);
}

Test(rcu, tt_synchronize_does_not_wait_for_later_reader)
{
	skips_later_reader(RCU_TT);
}

/* rcu_gp_snapshot/rcu_gp_poll: a snapshot taken with no grace period in
 * progress is reached by the end of the next one; one taken while a grace
 * period is in progress (which may have begun before the snapshot's
 * store) only by the end of the one after it. */
Test(rcu, gp_snapshot_waits_for_a_whole_grace_period)
{
	unsigned long s = rcu_gp_snapshot();
	cr_assert(!rcu_gp_poll(s));
	rcu_synchronize();
	cr_assert(rcu_gp_poll(s), "an idle snapshot needs one grace period");
	struct reader_ctl r = { .f = RCU_NORMAL };
	struct sync_ctl sc = { .f = RCU_NORMAL };
	pthread_t rt, st;
	pthread_create(&rt, NULL, hold_section, &r);
	cr_assert(wait_flag(&r.inside));
	unsigned long before = rcu_gp_snapshot();
	pthread_create(&st, NULL, do_sync, &sc);
	cr_assert(wait_flag(&sc.started));
	for (int i = 0; i < 2000 && !(rcu_gp_seq() & 1); i++)
		sleep_ms(1);
	cr_assert(rcu_gp_seq() & 1, "the grace period never began");
	unsigned long during = rcu_gp_snapshot();
	sleep_ms(50);
	cr_assert(!rcu_gp_poll(before), "reached while a reader from before was inside");
	atomic_store(&r.release, 1);
	cr_assert(wait_flag(&sc.returned));
	cr_assert(rcu_gp_poll(before));
	cr_assert(!rcu_gp_poll(during), "a snapshot taken mid-grace-period was reached by its end");
	rcu_synchronize();
	cr_assert(rcu_gp_poll(during));
	pthread_join(rt, NULL);
	pthread_join(st, NULL);
}

/* The flavours' grace periods are independent. */
Test(rcu, flavours_do_not_wait_for_each_other)
{
	struct reader_ctl r = { .f = RCU_TT };
	pthread_t rt;

	pthread_create(&rt, NULL, hold_section, &r);
	cr_assert(wait_flag(&r.inside));
	rcu_synchronize();   /* a tt reader does not hold a normal grace period */
	atomic_store(&r.release, 1);
	pthread_join(rt, NULL);

	struct reader_ctl n = { .f = RCU_NORMAL };
	pthread_create(&rt, NULL, hold_section, &n);
	cr_assert(wait_flag(&n.inside));
	rcu_tt_synchronize();
	atomic_store(&n.release, 1);
	pthread_join(rt, NULL);
	/* And a normal grace period may run inside a tt section. */
	rcu_tt_read_lock();
	rcu_synchronize();
	rcu_tt_read_unlock();
}

/* A tt writer sleeps on a condition variable while a reader sleeps. */
Test(rcu, tt_synchronize_blocks_without_spinning)
{
	struct reader_ctl r = { .f = RCU_TT };
	struct sync_ctl s = { .f = RCU_TT };
	pthread_t rt, st;

	pthread_create(&rt, NULL, hold_section, &r);
	cr_assert(wait_flag(&r.inside));
	pthread_create(&st, NULL, do_sync, &s);
	cr_assert(wait_flag(&s.started));
	sleep_ms(300);
	atomic_store(&r.release, 1);
	pthread_join(rt, NULL);
	pthread_join(st, NULL);
	cr_assert_lt(s.cpu_s, 0.05, "tt writer used %.3f s of CPU waiting 0.3 s", s.cpu_s);
}

static void *churn_readers(void *arg)
{
	atomic_int *stop = arg;
	while (!atomic_load(stop)) {
		rcu_read_lock();
		rcu_read_unlock();
	}
	return NULL;
}

/* Readers entering and leaving continuously must not starve a writer. */
Test(rcu, synchronize_progresses_under_continuous_readers)
{
	atomic_int stop = 0;
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn_readers, &stop);
	double t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < 100; i++)
		rcu_synchronize();
	double dt = now_s(CLOCK_MONOTONIC) - t0;
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_lt(dt, 10.0, "100 grace periods took %.2f s", dt);
}

Test(rcu, synchronize_without_membarrier)
{
	setenv("BPFVM_RCU_NO_MEMBARRIER", "1", 1);
	cr_assert(!rcu_uses_membarrier());
	waits_for_preexisting(RCU_NORMAL);
	skips_later_reader(RCU_NORMAL);
}

#ifndef RCU_TSAN
Test(rcu, membarrier_used_when_available)
{
	unsetenv("BPFVM_RCU_NO_MEMBARRIER");
	/* The kernel this runs on supports it (Linux >= 4.14); where a
	 * sandbox refuses it, the fallback test above covers the other path. */
	if (!rcu_uses_membarrier())
		cr_skip_test("membarrier(PRIVATE_EXPEDITED) unavailable here");
	cr_assert(rcu_gp.membarrier);
}
#endif

#ifndef NDEBUG
Test(rcu, synchronize_inside_section_is_reported, .signal = SIGABRT)
{
	rcu_read_lock();
	rcu_synchronize();
}

static void barrier_cb(struct rcu_head *head)
{
	(void)head;
	rcu_barrier();
}

Test(rcu, barrier_from_callback_is_reported, .signal = SIGABRT)
{
	static struct rcu_head h;
	rcu_call(&h, barrier_cb);
	rcu_barrier();
}
#endif

/* ---- callbacks ------------------------------------------------------------ */

struct counted {
	struct rcu_head head;
	int seq;
};

static atomic_int ran;
static atomic_int order_ok = 1;
static atomic_int last_seq = -1;

static void count_cb(struct rcu_head *head)
{
	struct counted *c = (struct counted *)head;
	if (c->seq >= 0 && c->seq != atomic_load(&last_seq) + 1)
		atomic_store(&order_ok, 0);
	if (c->seq >= 0)
		atomic_store(&last_seq, c->seq);
	atomic_fetch_add(&ran, 1);
	free(c);
}

static struct counted *counted_new(int seq)
{
	struct counted *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->seq = seq;
	return c;
}

static void callback_after_grace_period(enum rcu_flavour_id f)
{
	struct reader_ctl r = { .f = f };
	pthread_t rt;

	pthread_create(&rt, NULL, hold_section, &r);
	cr_assert(wait_flag(&r.inside));
	if (f == RCU_NORMAL)
		rcu_call(&counted_new(-1)->head, count_cb);
	else
		rcu_tt_call(&counted_new(-1)->head, count_cb);
	sleep_ms(150);
	cr_assert_eq(atomic_load(&ran), 0, "callback ran while a pre-existing reader was inside");
	atomic_store(&r.release, 1);
	pthread_join(rt, NULL);
	if (f == RCU_NORMAL)
		rcu_barrier();
	else
		rcu_tt_barrier();
	cr_assert_eq(atomic_load(&ran), 1);
}

Test(rcu, callback_runs_after_grace_period)
{
	callback_after_grace_period(RCU_NORMAL);
}

Test(rcu, tt_callback_runs_after_grace_period)
{
	callback_after_grace_period(RCU_TT);
}

Test(rcu, barrier_waits_for_all_queued_in_order)
{
	rcu_barrier();   /* nothing queued: returns at once */
	for (int round = 0; round < 5; round++) {
		int base = atomic_load(&ran);
		for (int i = 0; i < 1000; i++)
			rcu_call(&counted_new(round * 1000 + i)->head, count_cb);
		rcu_barrier();
		cr_assert_eq(atomic_load(&ran), base + 1000);
	}
	cr_assert(atomic_load(&order_ok), "callbacks ran out of order");
}

static void *call_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		rcu_read_lock();   /* rcu_call is allowed inside a section */
		rcu_call(&counted_new(-1)->head, count_cb);
		rcu_read_unlock();
	}
	rcu_barrier();
	return NULL;
}

Test(rcu, concurrent_calls_and_barriers)
{
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, call_many, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	rcu_barrier();
	cr_assert_eq(atomic_load(&ran), 6000);
}

static void requeue_cb(struct rcu_head *head)
{
	struct counted *c = (struct counted *)head;
	atomic_fetch_add(&ran, 1);
	if (c->seq-- > 0)
		rcu_call(head, requeue_cb);   /* callbacks may queue callbacks */
	else
		free(c);
}

Test(rcu, shutdown_runs_everything_and_restarts)
{
	for (int i = 0; i < 100; i++)
		rcu_call(&counted_new(-1)->head, count_cb);
	rcu_call(&counted_new(9)->head, requeue_cb);
	rcu_tt_call(&counted_new(-1)->head, count_cb);
	rcu_shutdown();
	cr_assert_eq(atomic_load(&ran), 100 + 10 + 1);
	/* The worker restarts lazily. */
	rcu_call(&counted_new(-1)->head, count_cb);
	rcu_barrier();
	cr_assert_eq(atomic_load(&ran), 112);
	rcu_shutdown();
}
