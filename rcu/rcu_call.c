/*
 * Deferred callbacks: rcu_call(), rcu_barrier(), rcu_shutdown().
 *
 * One FIFO queue per flavour, drained by a background worker started on
 * the first rcu_call().  The worker takes the whole queue as a batch,
 * waits one grace period, then runs the batch in order; callbacks queued
 * meanwhile form the next batch, so one grace period serves many.
 *
 * Sequence numbers make rcu_barrier() exact: every callback gets the next
 * `queued` number, `done` is the number of the last callback that has run
 * (batches complete in order: processing holds proc_lock), and a barrier
 * waits until done reaches the `queued` it saw.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcu.h"
#include "rcu_impl.h"

struct rcu_queue {
	pthread_mutex_t lock;        /* guards everything below but proc_lock */
	pthread_mutex_t proc_lock;   /* held while a batch is processed */
	pthread_cond_t work;         /* worker: callbacks queued or stop */
	pthread_cond_t done_cond;    /* barrier: done advanced */
	struct rcu_head *head, **tail;
	uint64_t queued, done;
	bool running, stop, start_failed;
	pthread_t worker;
};

#define RCU_QUEUE_INIT(q) {                                   \
	.lock = PTHREAD_MUTEX_INITIALIZER,                    \
	.proc_lock = PTHREAD_MUTEX_INITIALIZER,               \
	.work = PTHREAD_COND_INITIALIZER,                     \
	.done_cond = PTHREAD_COND_INITIALIZER,                \
	.tail = &(q).head,                                    \
}

static struct rcu_queue rcu_queues[RCU_NR_FLAVOURS] = {
	RCU_QUEUE_INIT(rcu_queues[0]),
	RCU_QUEUE_INIT(rcu_queues[1]),
};

/* Set on a thread while it runs callbacks: rcu_barrier() there would
 * wait for itself. */
static __thread bool rcu_in_callback;

void rcu_misuse(const char *msg)
{
	fprintf(stderr, "bpfvm rcu: misuse: %s\n", msg);
#ifndef NDEBUG
	abort();
#endif
}

/*
 * Takes the current queue as one batch, waits a grace period, runs it.
 * Returns false if the queue was empty.  Serialised by proc_lock so that
 * `done` only moves forward over callbacks that have all run.
 */
static bool rcu_process_batch(enum rcu_flavour_id f)
{
	struct rcu_queue *q = &rcu_queues[f];
	struct rcu_head *batch;
	uint64_t last;
	bool had;

	pthread_mutex_lock(&q->proc_lock);
	pthread_mutex_lock(&q->lock);
	batch = q->head;
	last = q->queued;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&q->lock);
	had = batch != NULL;
	if (had) {
		/* Every callback in the batch was queued after its object
		 * was unlinked, so one grace period that starts now covers
		 * every reader that could still hold one of them. */
		rcu_flavour_sync(f);
		rcu_in_callback = true;
		while (batch) {
			struct rcu_head *next = batch->next;
			batch->func(batch);   /* may free batch */
			batch = next;
		}
		rcu_in_callback = false;
		pthread_mutex_lock(&q->lock);
		q->done = last;
		pthread_cond_broadcast(&q->done_cond);
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&q->proc_lock);
	return had;
}

static void *rcu_worker(void *arg)
{
	enum rcu_flavour_id f = (enum rcu_flavour_id)(uintptr_t)arg;
	struct rcu_queue *q = &rcu_queues[f];

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		if (!q->head) {   /* stop requested and nothing left */
			pthread_mutex_unlock(&q->lock);
			break;
		}
		pthread_mutex_unlock(&q->lock);
		rcu_process_batch(f);
	}
	/* Callbacks may have registered this thread; leave the registry
	 * now rather than in the key destructor after join. */
	rcu_thread_unregister();
	return NULL;
}

/* Called with q->lock held.  All signals blocked in the worker so that
 * the host's signal handling never lands on it. */
static void rcu_start_worker(enum rcu_flavour_id f)
{
	struct rcu_queue *q = &rcu_queues[f];
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&q->worker, NULL, rcu_worker, (void *)(uintptr_t)f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0) {
		q->running = true;
		q->start_failed = false;
	} else if (!q->start_failed) {
		/* Callbacks stay queued: the next rcu_call() retries, and
		 * rcu_barrier()/rcu_shutdown() run them on their caller. */
		fprintf(stderr, "bpfvm rcu: cannot start the callback thread: %s\n", strerror(err));
		q->start_failed = true;
	}
}

static void rcu_flavour_call(enum rcu_flavour_id f, struct rcu_head *head,
                             void (*func)(struct rcu_head *head))
{
	struct rcu_queue *q = &rcu_queues[f];

	head->next = NULL;
	head->func = func;
	pthread_mutex_lock(&q->lock);
	*q->tail = head;
	q->tail = &head->next;
	q->queued++;
	if (!q->running && !q->stop)
		rcu_start_worker(f);
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
}

void rcu_call(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	rcu_flavour_call(RCU_NORMAL, head, func);
}

void rcu_tt_call(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	rcu_flavour_call(RCU_TT, head, func);
}

static void rcu_flavour_barrier(enum rcu_flavour_id f)
{
	struct rcu_queue *q = &rcu_queues[f];
	uint64_t target;

	pthread_mutex_lock(&q->lock);
	target = q->queued;
	while (q->done < target) {
		if (!q->running) {
			/* No worker (it could not start, or shutdown is
			 * draining): process batches here. */
			pthread_mutex_unlock(&q->lock);
			rcu_process_batch(f);
			pthread_mutex_lock(&q->lock);
			continue;
		}
		pthread_cond_wait(&q->done_cond, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

static bool rcu_barrier_allowed(const char *who)
{
	if (rcu_in_callback) {
		rcu_misuse(who);
		return false;
	}
	return true;
}

void rcu_barrier(void)
{
	RCU_CHECK(!rcu_read_ongoing(), "rcu_barrier() called inside rcu_read_lock(): it would wait for itself");
	if (rcu_barrier_allowed("rcu_barrier() called from an RCU callback: it would wait for itself"))
		rcu_flavour_barrier(RCU_NORMAL);
}

void rcu_tt_barrier(void)
{
	RCU_CHECK(!rcu_tt_read_ongoing() && !rcu_read_ongoing(),
	          "rcu_tt_barrier() called inside a read section: it would wait for itself");
	if (rcu_barrier_allowed("rcu_tt_barrier() called from an RCU callback: it would wait for itself"))
		rcu_flavour_barrier(RCU_TT);
}

/* Stops flavour f's worker after it has run everything, including what
 * its callbacks queue, then runs whatever raced in after it stopped. */
static void rcu_flavour_shutdown(enum rcu_flavour_id f)
{
	struct rcu_queue *q = &rcu_queues[f];
	bool join;

	pthread_mutex_lock(&q->lock);
	join = q->running;
	q->stop = true;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	if (join)
		pthread_join(q->worker, NULL);
	pthread_mutex_lock(&q->lock);
	q->running = false;
	pthread_mutex_unlock(&q->lock);
	while (rcu_process_batch(f))
		;
	pthread_mutex_lock(&q->lock);
	q->stop = false;
	if (q->head)   /* queued by another thread meanwhile */
		rcu_start_worker(f);
	pthread_mutex_unlock(&q->lock);
}

void rcu_shutdown(void)
{
	RCU_CHECK(!rcu_read_ongoing() && !rcu_tt_read_ongoing(),
	          "rcu_shutdown() called inside a read section: it would wait for itself");
	if (!rcu_barrier_allowed("rcu_shutdown() called from an RCU callback"))
		return;
	/* tt first: its callbacks may rcu_call() normal ones.  Normal ones
	 * may queue tt ones in turn (maps/map.c: a map's last reference
	 * dropped in a callback defers its free through both), so again
	 * until both queues are empty and no worker was restarted. */
	for (;;) {
		rcu_flavour_shutdown(RCU_TT);
		rcu_flavour_shutdown(RCU_NORMAL);
		bool more = false;
		for (int f = 0; f < RCU_NR_FLAVOURS; f++) {
			pthread_mutex_lock(&rcu_queues[f].lock);
			more |= rcu_queues[f].head != NULL || rcu_queues[f].running;
			pthread_mutex_unlock(&rcu_queues[f].lock);
		}
		if (!more)
			break;
	}
}

bool rcu_callback_ongoing(void)
{
	return rcu_in_callback;
}

/*
 * At exit (or unload of the shared library) run the callbacks still
 * queued, so their memory is freed rather than left to LeakSanitizer's
 * judgment, but only when no thread is inside a read section right now:
 * a thread blocked forever in a tt section must not hang process exit.
 * Otherwise the queue stays reachable from this file's globals.
 */
__attribute__((destructor)) static void rcu_fini(void)
{
	bool pending = false;

	for (int f = 0; f < RCU_NR_FLAVOURS; f++) {
		pthread_mutex_lock(&rcu_queues[f].lock);
		pending |= rcu_queues[f].running || rcu_queues[f].head;
		pthread_mutex_unlock(&rcu_queues[f].lock);
	}
	if (pending && !rcu_in_callback && rcu_readers_idle())
		rcu_shutdown();
}
