/*
 * Internals shared by the rcu/ sources and reachable by tests (which link the
 * static library).  Not part of the contract in rcu.h.
 */
#ifndef BPFVM_RCU_IMPL_H
#define BPFVM_RCU_IMPL_H

#include <stdbool.h>

#include "rcu.h"

/* API misuse that would deadlock (synchronize inside a read section...):
 * reported on stderr always; debug builds (no NDEBUG) then abort. */
void rcu_misuse(const char *msg);
#define RCU_CHECK(cond, msg) \
	do { if (__builtin_expect(!(cond), 0)) rcu_misuse(msg); } while (0)

/* A full grace period of flavour f. */
void rcu_flavour_sync(enum rcu_flavour_id f);
/* True when, after a writer barrier, no registered thread is inside a
 * read section of either flavour. */
bool rcu_readers_idle(void);
/* Threads in the registry now. */
unsigned rcu_registered_threads(void);
/* Initialises RCU if needed; true when readers rely on membarrier. */
bool rcu_uses_membarrier(void);

#endif
