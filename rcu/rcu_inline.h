/*
 * Read-side fast paths of rcu.h.  Included by rcu.h only.
 *
 * Each thread owns one struct rcu_reader in TLS holding, per flavour, a
 * counter word: the low half counts nesting (0 = not in a read section),
 * the top half holds the phase bit of the grace-period counter that was
 * current when the outermost section began.  The outermost lock copies the
 * global counter (whose nesting half is 1) into the thread's word; nested
 * locks and unlocks add or subtract 1.  Only the owning thread stores to
 * its word; writers only load it.  No read-modify-write, no lock.
 *
 * The store-then-load ordering a reader needs (its counter store must be
 * visible before its section's loads of RCU-protected pointers, or a
 * writer could miss it and free what it is about to read) is provided by
 * rcu_reader_barrier(): a compiler-only barrier when the writers force the
 * ordering with membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), a locked
 * instruction otherwise.  See docs/rcu.md for the full argument.
 */
#ifndef BPFVM_RCU_INLINE_H
#define BPFVM_RCU_INLINE_H

#include <stdatomic.h>
#include <stdbool.h>

#if defined(__SANITIZE_THREAD__)
#define RCU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCU_TSAN 1
#endif
#endif

enum rcu_flavour_id { RCU_NORMAL = 0, RCU_TT = 1, RCU_NR_FLAVOURS = 2 };

/* Counter word layout (liburcu's classic layout, 64-bit longs). */
#define RCU_NEST_ONE   1UL
#define RCU_PHASE      (1UL << (sizeof(unsigned long) * 4))
#define RCU_NEST_MASK  (RCU_PHASE - 1)

struct rcu_list {
	struct rcu_list *next, *prev;
};

/* Per-thread reader state, in TLS.  Written only by its thread except the
 * list links, which the registry lock guards. */
struct rcu_reader {
	_Atomic unsigned long ctr[RCU_NR_FLAVOURS];
	bool registered;
	/* rcu_thread_index(): set at registration, under the registry lock. */
	unsigned index;
	struct rcu_list node[RCU_NR_FLAVOURS];
};

/* Global state the read side reads: grace-period counters, the tt writer
 * flag, and the barrier mode.  Written only by writers (rarely), so the
 * cache line stays shared in every reader's cache. */
struct rcu_gp_state {
	_Atomic unsigned long ctr[RCU_NR_FLAVOURS];
	/* Non-zero while an rcu_tt_synchronize() waits: tt readers leaving
	 * their outermost section then wake it. */
	_Atomic int tt_waiting;
	/* Set once, before the first thread registers, never changed. */
	bool membarrier;
} __attribute__((aligned(64)));

extern struct rcu_gp_state rcu_gp;
/* initial-exec: a fixed offset from %fs, no __tls_get_addr call. */
extern __thread struct rcu_reader rcu_reader_self __attribute__((tls_model("initial-exec")));

void rcu_tt_wake_writer(void);
/* Set (never cleared) by the first tt read lock in the process: see
 * rcu_tt_ever_used() in rcu.h. */
extern _Atomic bool rcu_tt_used;
void rcu_tt_mark_used(void);

/*
 * A full memory barrier as one locked instruction: on x86-64 a locked
 * read-modify-write of the stack top orders every earlier load and store
 * before every later one (~6 ns here), where `mfence` (what GCC emits for
 * atomic_thread_fence(seq_cst)) costs ~26 ns.
 *
 * TSan ignores fences and cannot see asm, so TSan builds use a seq_cst
 * read-modify-write of one shared word instead: such RMWs are totally
 * ordered, and whichever of a reader's and a writer's comes first
 * synchronizes with the other, which gives the store-buffering guarantee
 * in plain C11 happens-before terms TSan checks (docs/rcu.md).
 */
#ifdef RCU_TSAN
extern _Atomic unsigned long rcu_tsan_fence;
#endif
static inline void rcu_full_barrier(void)
{
#if defined(RCU_TSAN)
	atomic_fetch_add_explicit(&rcu_tsan_fence, 0, memory_order_seq_cst);
#elif defined(__x86_64__)
	__asm__ __volatile__("lock; orq $0, (%%rsp)" ::: "memory", "cc");
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/*
 * The reader's half of the store->load barrier pair.  With membarrier the
 * writer makes every running thread execute a full barrier on demand, so
 * the reader only has to stop the compiler from reordering; without it
 * (kernel refused, BPFVM_RCU_NO_MEMBARRIER set, or a TSan build, which
 * cannot see membarrier) the reader pays for a real full barrier.
 */
static inline void rcu_reader_barrier(void)
{
#ifdef RCU_TSAN
	rcu_full_barrier();
#else
	if (__builtin_expect(rcu_gp.membarrier, 1))
		atomic_signal_fence(memory_order_seq_cst);
	else
		rcu_full_barrier();
#endif
}

static inline void rcu_flavour_read_lock(enum rcu_flavour_id f)
{
	struct rcu_reader *r = &rcu_reader_self;
	unsigned long tmp = atomic_load_explicit(&r->ctr[f], memory_order_relaxed);

	if (__builtin_expect(!(tmp & RCU_NEST_MASK), 1)) {
		if (__builtin_expect(!r->registered, 0))
			rcu_thread_register();
		/* Outermost: take the current phase (nesting half is 1).  The
		 * release store lets a writer that reads this value acquire
		 * everything this thread did before (e.g. its previous section),
		 * and is a plain mov on x86. */
		atomic_store_explicit(&r->ctr[f],
			atomic_load_explicit(&rcu_gp.ctr[f], memory_order_relaxed),
			memory_order_release);
		/* Store above before the section's loads: pairs with the
		 * writer's barrier before it reads reader counters. */
		rcu_reader_barrier();
	} else {
		atomic_store_explicit(&r->ctr[f], tmp + RCU_NEST_ONE, memory_order_release);
	}
}

static inline void rcu_read_lock(void)
{
	rcu_flavour_read_lock(RCU_NORMAL);
}

/*
 * Leaving a section needs load->store and store->store order only (the
 * section's accesses before the counter store), which a release store
 * gives for free on x86; the writer acquires it.  No full barrier.
 */
static inline void rcu_read_unlock(void)
{
	struct rcu_reader *r = &rcu_reader_self;
	unsigned long tmp = atomic_load_explicit(&r->ctr[RCU_NORMAL], memory_order_relaxed);

	atomic_store_explicit(&r->ctr[RCU_NORMAL], tmp - RCU_NEST_ONE, memory_order_release);
}

static inline void rcu_tt_read_lock(void)
{
	if (__builtin_expect(!atomic_load_explicit(&rcu_tt_used, memory_order_relaxed), 0))
		rcu_tt_mark_used();
	rcu_flavour_read_lock(RCU_TT);
}

/*
 * As rcu_read_unlock(), and the outermost unlock also checks whether a tt
 * writer sleeps waiting for readers: store counter, barrier, load flag.
 * The barrier pairs with the writer's (store flag, barrier, load
 * counters): either the writer sees this thread quiescent or this thread
 * sees the flag and wakes it; never neither.
 */
static inline void rcu_tt_read_unlock(void)
{
	struct rcu_reader *r = &rcu_reader_self;
	unsigned long tmp = atomic_load_explicit(&r->ctr[RCU_TT], memory_order_relaxed);

	atomic_store_explicit(&r->ctr[RCU_TT], tmp - RCU_NEST_ONE, memory_order_release);
	if ((tmp & RCU_NEST_MASK) == RCU_NEST_ONE) {
		rcu_reader_barrier();
		if (__builtin_expect(atomic_load_explicit(&rcu_gp.tt_waiting, memory_order_relaxed), 0))
			rcu_tt_wake_writer();
	}
}

/* See rcu.h.  A plain TLS load: only this thread writes its index. */
static inline unsigned rcu_thread_index(void)
{
	return rcu_reader_self.registered ? rcu_reader_self.index : RCU_NO_INDEX;
}

/* Is the calling thread inside a read section of that flavour? */
static inline bool rcu_read_ongoing(void)
{
	return atomic_load_explicit(&rcu_reader_self.ctr[RCU_NORMAL], memory_order_relaxed) & RCU_NEST_MASK;
}

static inline bool rcu_tt_read_ongoing(void)
{
	return atomic_load_explicit(&rcu_reader_self.ctr[RCU_TT], memory_order_relaxed) & RCU_NEST_MASK;
}

#endif
