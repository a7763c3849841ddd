/*
 * RCU: thread registry and grace periods for both flavours.
 *
 * The grace-period algorithm is the classic two-phase counter flip of
 * user-space RCU (Desnoyers et al., "User-Level Implementations of
 * Read-Copy Update", 2012), written for bpfvm; docs/rcu.md has the
 * memory-ordering argument this file's comments refer to.
 *
 * Locks, in order: flavour gp_lock (one writer per flavour at a time) ->
 * rcu_registry_lock (the reader lists).  Readers never take either on the
 * fast path; they take the registry lock only to register, unregister,
 * or (tt flavour) to wake a sleeping writer.
 */
#include <assert.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rcu.h"
#include "rcu_impl.h"

struct rcu_gp_state rcu_gp = {
	.ctr = { RCU_NEST_ONE, RCU_NEST_ONE },
};
__thread struct rcu_reader rcu_reader_self __attribute__((tls_model("initial-exec")));
#ifdef RCU_TSAN
_Atomic unsigned long rcu_tsan_fence;
#endif

static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;
static pthread_key_t rcu_exit_key;

/* Guards both registries and every reader's list links. */
static pthread_mutex_t rcu_registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* A sleeping tt writer waits here (with rcu_registry_lock). */
static pthread_cond_t rcu_tt_cond = PTHREAD_COND_INITIALIZER;
static struct rcu_list rcu_registry[RCU_NR_FLAVOURS] = {
	{ &rcu_registry[0], &rcu_registry[0] },
	{ &rcu_registry[1], &rcu_registry[1] },
};
/* Thread indexes in use (rcu_thread_index), under rcu_registry_lock. */
static uint64_t rcu_index_used[RCU_MAX_INDEX / 64];
/* Unregister notifiers: set once each, never removed; a count published
 * with release after its slot is written. */
static void (*rcu_notifier[RCU_MAX_NOTIFIERS])(unsigned index);
static _Atomic unsigned rcu_nnotifiers;
static pthread_mutex_t rcu_notifier_lock = PTHREAD_MUTEX_INITIALIZER;
/* Each flavour's grace-period sequence (rcu_gp_seq): +1 when one begins
 * (odd: in progress), +1 when it ends.  Their own line: read by map
 * writers, written twice per grace period. */
static _Atomic unsigned long rcu_seq[RCU_NR_FLAVOURS] __attribute__((aligned(64)));
/* Serialises writers of one flavour (the counter flip is theirs). */
static pthread_mutex_t rcu_gp_lock[RCU_NR_FLAVOURS] = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};

/* ---- small intrusive list ------------------------------------------ */

static void list_init(struct rcu_list *l)
{
	l->next = l->prev = l;
}

static bool list_empty(const struct rcu_list *l)
{
	return l->next == l;
}

static void list_del(struct rcu_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

static void list_add(struct rcu_list *n, struct rcu_list *head)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static void list_move(struct rcu_list *n, struct rcu_list *head)
{
	list_del(n);
	list_add(n, head);
}

/* Appends all of `from` to `to`, leaving `from` empty. */
static void list_splice(struct rcu_list *from, struct rcu_list *to)
{
	if (list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	list_init(from);
}

static struct rcu_reader *reader_of(struct rcu_list *n, enum rcu_flavour_id f)
{
	return (struct rcu_reader *)((char *)n - offsetof(struct rcu_reader, node) - f * sizeof(struct rcu_list));
}

/* ---- barriers --------------------------------------------------------- */

#ifndef RCU_TSAN
static long sys_membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0);
}
#endif

/*
 * The writer's half of the store->load barrier pair (see rcu_inline.h).
 * membarrier(PRIVATE_EXPEDITED) returns only after every thread of this
 * process that is running has executed a full barrier (threads not
 * running get one from the context switch), which upgrades every reader's
 * compiler barrier to a full barrier at some point during the call; the
 * syscall also fully orders the caller.  Without membarrier the readers
 * pay for their own fence and the writer needs just one of its own.
 */
static void rcu_writer_barrier(void)
{
#ifndef RCU_TSAN
	if (rcu_gp.membarrier) {
		if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
			return;
		/* Registered at init, so this cannot fail short of a kernel
		 * bug; readers then have no barrier and nothing is safe. */
		fprintf(stderr, "bpfvm rcu: membarrier(PRIVATE_EXPEDITED) failed: %s\n", strerror(errno));
		abort();
	}
#endif
	rcu_full_barrier();
}

/* ---- thread lifecycle ------------------------------------------------- */

static void rcu_thread_exit(void *arg);

/* Chooses the barrier mode once, before any thread can register. */
static void rcu_init(void)
{
	bool use = false;
#ifndef RCU_TSAN
	const char *env = getenv("BPFVM_RCU_NO_MEMBARRIER");
	long mask = sys_membarrier(MEMBARRIER_CMD_QUERY);

	if ((!env || !*env || !strcmp(env, "0")) && mask > 0 &&
	    (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		use = true;
#endif
	rcu_gp.membarrier = use;
	if (pthread_key_create(&rcu_exit_key, rcu_thread_exit) != 0) {
		/* Without the key, threads that exit registered would leave
		 * dangling TLS pointers in the registry. */
		fprintf(stderr, "bpfvm rcu: pthread_key_create failed\n");
		abort();
	}
}

bool rcu_uses_membarrier(void)
{
	pthread_once(&rcu_once, rcu_init);
	return rcu_gp.membarrier;
}

void rcu_thread_register(void)
{
	struct rcu_reader *r = &rcu_reader_self;

	if (r->registered)
		return;
	pthread_once(&rcu_once, rcu_init);
	/* The counters are 0 here (a thread in a section is registered).
	 * The mutex publishes them before any writer can read them. */
	pthread_mutex_lock(&rcu_registry_lock);
	for (int f = 0; f < RCU_NR_FLAVOURS; f++)
		list_add(&r->node[f], &rcu_registry[f]);
	r->index = RCU_NO_INDEX;
	for (unsigned w = 0; w < RCU_MAX_INDEX / 64; w++)
		if (~rcu_index_used[w]) {
			unsigned b = (unsigned)__builtin_ctzll(~rcu_index_used[w]);
			rcu_index_used[w] |= 1ull << b;
			r->index = w * 64 + b;
			break;
		}
	r->registered = true;
	pthread_mutex_unlock(&rcu_registry_lock);
	/* Non-NULL value: the key's destructor runs at thread exit. */
	pthread_setspecific(rcu_exit_key, r);
}

int rcu_on_thread_unregister(void (*fn)(unsigned index))
{
	int err = 0;
	pthread_mutex_lock(&rcu_notifier_lock);
	unsigned n = atomic_load_explicit(&rcu_nnotifiers, memory_order_relaxed), i;
	for (i = 0; i < n && rcu_notifier[i] != fn; i++)
		;
	if (i == n) {
		if (n == RCU_MAX_NOTIFIERS) {
			err = -ENOSPC;
		} else {
			rcu_notifier[n] = fn;
			/* Release: a thread that sees the count sees the slot. */
			atomic_store_explicit(&rcu_nnotifiers, n + 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&rcu_notifier_lock);
	return err;
}

static void rcu_unregister(struct rcu_reader *r)
{
	/* The notifiers flush what other subsystems keep under this thread's
	 * index while the index is still ours: no other thread can take it
	 * and touch the same state meanwhile.  No RCU lock is held, so they
	 * may queue callbacks. */
	if (r->index != RCU_NO_INDEX) {
		unsigned n = atomic_load_explicit(&rcu_nnotifiers, memory_order_acquire);
		for (unsigned i = 0; i < n; i++)
			rcu_notifier[i](r->index);
	}
	pthread_mutex_lock(&rcu_registry_lock);
	if (r->index != RCU_NO_INDEX)
		rcu_index_used[r->index / 64] &= ~(1ull << (r->index % 64));
	r->index = RCU_NO_INDEX;
	/* A writer may have moved the node to one of its private lists;
	 * deleting it from there is what lets the writer stop waiting for a
	 * thread that exited inside a section (see rcu_thread_exit). */
	for (int f = 0; f < RCU_NR_FLAVOURS; f++)
		list_del(&r->node[f]);
	r->registered = false;
	pthread_cond_broadcast(&rcu_tt_cond);
	pthread_mutex_unlock(&rcu_registry_lock);
}

void rcu_thread_unregister(void)
{
	struct rcu_reader *r = &rcu_reader_self;

	if (!r->registered)
		return;
	RCU_CHECK(!rcu_read_ongoing() && !rcu_tt_read_ongoing(),
	          "rcu_thread_unregister() called inside a read section");
	rcu_unregister(r);
	pthread_setspecific(rcu_exit_key, NULL);
}

/*
 * Thread-exit destructor for threads that did not unregister.  glibc runs
 * key destructors before it releases the thread's static TLS, so `r` is
 * still valid here.  A thread that exits inside a section (pthread_exit
 * from a helper) has its counters cleared: it can no longer read anything.
 */
static void rcu_thread_exit(void *arg)
{
	struct rcu_reader *r = arg;

	if (!r->registered)
		return;
	for (int f = 0; f < RCU_NR_FLAVOURS; f++)
		atomic_store_explicit(&r->ctr[f], 0, memory_order_release);
	rcu_unregister(r);
}

unsigned rcu_registered_threads(void)
{
	unsigned n = 0;

	pthread_mutex_lock(&rcu_registry_lock);
	for (struct rcu_list *p = rcu_registry[RCU_NORMAL].next; p != &rcu_registry[RCU_NORMAL]; p = p->next)
		n++;
	pthread_mutex_unlock(&rcu_registry_lock);
	return n;
}

/* ---- grace periods ---------------------------------------------------- */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Normal flavour: readers are short (a program run), so the writer spins,
 * then yields, then sleeps with a growing interval capped at 1 ms.  It
 * drops the registry lock meanwhile so threads can register and exit.
 */
static void rcu_normal_backoff(unsigned attempt)
{
	pthread_mutex_unlock(&rcu_registry_lock);
	if (attempt < 4) {
		for (int i = 0; i < 16 << attempt; i++)
			cpu_relax();
	} else if (attempt < 40) {
		sched_yield();
	} else {
		unsigned shift = attempt - 40 < 10 ? attempt - 40 : 10;
		struct timespec ts = { 0, 1000L << shift };   /* 1 us .. ~1 ms */
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&rcu_registry_lock);
}

/*
 * Moves each reader on `input` that no longer holds the grace period up to
 * `qs`.  With `snap` (first phase), readers active in the current phase
 * go to `snap`, to be waited for after the flip; readers active in the
 * other phase (a section that began before the previous flip) are waited
 * for now.  Without `snap` (second phase), readers active in the new phase
 * began after the flip and are done with.  Returns once `input` is empty.
 * Called and returns with rcu_registry_lock held; may drop it meanwhile.
 */
static void wait_for_readers(enum rcu_flavour_id f, struct rcu_list *input,
                             struct rcu_list *snap, struct rcu_list *qs)
{
	for (unsigned attempt = 0;; attempt++) {
		unsigned long gp = atomic_load_explicit(&rcu_gp.ctr[f], memory_order_relaxed);
		struct rcu_list *n, *next;

		for (n = input->next; n != input; n = next) {
			struct rcu_reader *r = reader_of(n, f);
			/* Acquire: pairs with the reader's release stores, so
			 * all of a finished section happens before our return
			 * and the caller's free. */
			unsigned long v = atomic_load_explicit(&r->ctr[f], memory_order_acquire);

			next = n->next;
			if (!(v & RCU_NEST_MASK))
				list_move(n, qs);
			else if (!((v ^ gp) & RCU_PHASE))
				list_move(n, snap ? snap : qs);
		}
		if (list_empty(input))
			return;
		if (f == RCU_TT) {
			/* tt_waiting is set: the readers we wait for wake us
			 * after their outermost unlock (or exit). */
			pthread_cond_wait(&rcu_tt_cond, &rcu_registry_lock);
		} else {
			rcu_normal_backoff(attempt);
		}
	}
}

static void rcu_flavour_synchronize(enum rcu_flavour_id f)
{
	struct rcu_list snap, qs;

	list_init(&snap);
	list_init(&qs);
	pthread_mutex_lock(&rcu_gp_lock[f]);
	/* Seq_cst, before barrier A: a snapshot that reads the even value
	 * before this store is followed by this grace period's barrier A in
	 * the single total order (rcu.h). */
	atomic_fetch_add_explicit(&rcu_seq[f], 1, memory_order_seq_cst);
	pthread_mutex_lock(&rcu_registry_lock);
	/* No registered reader: any thread that registers later does so
	 * through this mutex, after our caller's removal. */
	if (list_empty(&rcu_registry[f]))
		goto out;
	if (f == RCU_TT)
		atomic_store_explicit(&rcu_gp.tt_waiting, 1, memory_order_relaxed);
	/*
	 * Barrier A.  Orders the caller's removal (store of a new pointer)
	 * and the tt_waiting store before our loads of reader counters.  A
	 * reader whose section-entry store we miss below is ordered after
	 * this barrier, so its section's loads see the removal; a tt reader
	 * whose unlock store we miss sees tt_waiting and wakes us.
	 */
	rcu_writer_barrier();
	wait_for_readers(f, &rcu_registry[f], &snap, &qs);
	/*
	 * Flip the phase.  A locked RMW: the first phase's counter loads
	 * complete before the flip, and the flip is globally visible before
	 * the second phase's loads (else new readers could keep taking the
	 * old phase and the second phase could wait forever).
	 */
	atomic_fetch_xor_explicit(&rcu_gp.ctr[f], RCU_PHASE, memory_order_seq_cst);
	wait_for_readers(f, &snap, NULL, &qs);
	list_splice(&qs, &rcu_registry[f]);
	if (f == RCU_TT)
		atomic_store_explicit(&rcu_gp.tt_waiting, 0, memory_order_relaxed);
	/*
	 * No barrier at the end: every reader we stopped waiting for was
	 * seen through an acquire load of a value it stored with release
	 * after its section's last access (unlock), or before its section's
	 * first (lock, already ordered by barrier A), so the caller's free
	 * is ordered after everything those sections did.
	 */
out:
	pthread_mutex_unlock(&rcu_registry_lock);
	/* Release (seq_cst): a poll that reads this value is ordered after
	 * everything the readers we waited for did. */
	atomic_fetch_add_explicit(&rcu_seq[f], 1, memory_order_seq_cst);
	pthread_mutex_unlock(&rcu_gp_lock[f]);
}

unsigned long rcu_gp_seq(void)
{
	return atomic_load_explicit(&rcu_seq[RCU_NORMAL], memory_order_seq_cst);
}

unsigned long rcu_gp_snapshot(void)
{
	return (rcu_gp_seq() + 3) & ~1ul;
}

bool rcu_gp_poll(unsigned long snap)
{
	return (long)(rcu_gp_seq() - snap) >= 0;
}

_Atomic bool rcu_tt_used;

/* Seq_cst store, then a full fence: the section's loads that follow come
 * after the flag in the single total order (rcu_tt_ever_used). */
void rcu_tt_mark_used(void)
{
	atomic_store_explicit(&rcu_tt_used, true, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

bool rcu_tt_ever_used(void)
{
	return atomic_load_explicit(&rcu_tt_used, memory_order_seq_cst);
}

unsigned long rcu_tt_gp_seq(void)
{
	return atomic_load_explicit(&rcu_seq[RCU_TT], memory_order_seq_cst);
}

unsigned long rcu_tt_gp_snapshot(void)
{
	return (rcu_tt_gp_seq() + 3) & ~1ul;
}

bool rcu_tt_gp_poll(unsigned long snap)
{
	return (long)(rcu_tt_gp_seq() - snap) >= 0;
}

void rcu_synchronize(void)
{
	RCU_CHECK(!rcu_read_ongoing(), "rcu_synchronize() called inside rcu_read_lock(): it would wait for itself");
	rcu_flavour_synchronize(RCU_NORMAL);
}

void rcu_tt_synchronize(void)
{
	RCU_CHECK(!rcu_tt_read_ongoing(), "rcu_tt_synchronize() called inside rcu_tt_read_lock(): it would wait for itself");
	RCU_CHECK(!rcu_read_ongoing(), "rcu_tt_synchronize() sleeps: not allowed inside rcu_read_lock()");
	rcu_flavour_synchronize(RCU_TT);
}

void rcu_flavour_sync(enum rcu_flavour_id f)
{
	rcu_flavour_synchronize(f);
}

/* Called by a tt reader's outermost unlock while a tt writer waits. */
void rcu_tt_wake_writer(void)
{
	pthread_mutex_lock(&rcu_registry_lock);
	pthread_cond_broadcast(&rcu_tt_cond);
	pthread_mutex_unlock(&rcu_registry_lock);
}

bool rcu_readers_idle(void)
{
	bool idle = true;

	pthread_mutex_lock(&rcu_registry_lock);
	rcu_writer_barrier();
	for (int f = 0; f < RCU_NR_FLAVOURS && idle; f++)
		for (struct rcu_list *n = rcu_registry[f].next; n != &rcu_registry[f]; n = n->next)
			if (atomic_load_explicit(&reader_of(n, f)->ctr[f], memory_order_acquire) & RCU_NEST_MASK) {
				idle = false;
				break;
			}
	pthread_mutex_unlock(&rcu_registry_lock);
	return idle;
}
