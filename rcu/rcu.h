/*
 * bpfvm's own epoch-based RCU emulation.  Programs run inside read-side
 * critical sections; memory that leaves a map is freed through rcu_call()
 * only after every read section that could see it has ended.
 *
 * Read side: rcu_read_lock()/rcu_read_unlock() are inline, nest, and do no
 * atomic read-modify-write and take no lock (rcu/rcu_inline.h).
 * Threads register explicitly or automatically on their first read lock.
 * Prefix: rcu_.  docs/rcu.md holds the design and memory-ordering argument.
 */
#ifndef BPFVM_RCU_H
#define BPFVM_RCU_H

#include <stdbool.h>
#include <stdint.h>

struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};

/* Registration of the calling thread (idempotent).  Threads that ran
 * programs should unregister before they exit; a thread-exit destructor
 * does it for those that don't. */
void rcu_thread_register(void);
void rcu_thread_unregister(void);

/* A small number for the calling registered thread, unique among the
 * registered threads and reused after one unregisters (lowest free first),
 * so other subsystems can keep per-thread state in arrays: maps/hash.c's
 * per-thread element caches.  RCU_NO_INDEX when the thread is not
 * registered or RCU_MAX_INDEX threads already hold one.  Inline, in
 * rcu_inline.h. */
#define RCU_MAX_INDEX 1024u
#define RCU_NO_INDEX (~0u)
static inline unsigned rcu_thread_index(void);
/* fn(index) is called on a thread that holds an index when it
 * unregisters, explicitly or at thread exit, before its index can go to
 * another thread: per-thread state kept under that index is flushed there.
 * Outside read sections, no RCU lock held (fn may call rcu_call, never
 * rcu_synchronize or rcu_barrier).  At most RCU_MAX_NOTIFIERS, never
 * removed; registering the same fn twice is a no-op.  0 or -ENOSPC. */
#define RCU_MAX_NOTIFIERS 4
int rcu_on_thread_unregister(void (*fn)(unsigned index));

/* Defined inline in rcu_inline.h: */
static inline void rcu_read_lock(void);
static inline void rcu_read_unlock(void);

/* Waits until every read section that began before the call has ended.
 * Must not be called inside a read section. */
void rcu_synchronize(void);
/*
 * Polling for a grace period without waiting or queueing (as Linux's
 * get_state_synchronize_rcu / poll_state_synchronize_rcu).  The normal
 * flavour's grace-period sequence, rcu_gp_seq(), is incremented when a
 * grace period begins (odd: one in progress) and when it ends.  A store
 * S, a full barrier (a locked instruction), then s = rcu_gp_snapshot():
 * once rcu_gp_poll(s) (rcu_gp_seq() >= s), every read section that might
 * not have seen S has ended: s is the end of the next grace period to
 * begin after the snapshot (one already in progress may have begun before
 * S).  Grace periods run only when something waits for one
 * (rcu_synchronize, rcu_call's callbacks).  docs/rcu.md has the argument.
 */
unsigned long rcu_gp_seq(void);
unsigned long rcu_gp_snapshot(void);
bool rcu_gp_poll(unsigned long snap);
/* Whether any thread has ever taken a tt read lock in this process.  A
 * store S, a full barrier, then false here: no tt read section can have
 * missed S (one that begins later sets the flag first, with a full
 * barrier), so whatever S unlinked needs no tt grace period.  Lets
 * callers skip the tt flavour where no sleepable program ever ran. */
bool rcu_tt_ever_used(void);
/* The same for the tasks-trace flavour. */
unsigned long rcu_tt_gp_seq(void);
unsigned long rcu_tt_gp_snapshot(void);
bool rcu_tt_gp_poll(unsigned long snap);
/* Calls func(head) after a grace period, on a background thread. */
void rcu_call(struct rcu_head *head, void (*func)(struct rcu_head *head));
/* Waits for every callback queued before the call to have run.  Not from
 * a read section nor from a callback (it would wait for itself). */
void rcu_barrier(void);
/* Is the calling thread running RCU callbacks right now? */
bool rcu_callback_ongoing(void);

/* The "tasks trace" flavour, for programs that may block in host helpers
 * (sleepable programs), as Linux's rcu_tasks_trace. */
static inline void rcu_tt_read_lock(void);
static inline void rcu_tt_read_unlock(void);
void rcu_tt_synchronize(void);
void rcu_tt_call(struct rcu_head *head, void (*func)(struct rcu_head *head));
void rcu_tt_barrier(void);

/* Runs every queued callback of both flavours (and those they queue) and
 * stops the callback threads; they restart on the next rcu_call().  Any
 * thread, outside read sections and callbacks.  Also run at exit when no
 * thread is in a read section.  (rcu_read_ongoing() and
 * rcu_tt_read_ongoing() in rcu_inline.h tell whether the calling thread
 * is in a section.) */
void rcu_shutdown(void);

#include "rcu_inline.h"

#endif
