/* Read-side fast paths of rcu.h; written by the rcu/ implementation. */
#ifndef BPFVM_RCU_INLINE_H
#define BPFVM_RCU_INLINE_H
static inline void rcu_read_lock(void) {}
static inline void rcu_read_unlock(void) {}
static inline void rcu_tt_read_lock(void) {}
static inline void rcu_tt_read_unlock(void) {}
#endif
