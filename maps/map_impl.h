/*
 * Internals shared by the files of maps/ (never included outside maps/,
 * except by tests and the benchmark).  Prefix: map_.
 */
#ifndef BPFVM_MAP_IMPL_H
#define BPFVM_MAP_IMPL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "vm.h"

#define MAP_MAX_KEY_SIZE 512          /* as Linux's hash: keys come from the 512-byte stack */
#define MAP_MAX_VALUE_SIZE (1u << 22) /* as Linux: KMALLOC_MAX_SIZE on x86-64 */
#define MAP_MAX_BYTES (1ull << 30)     /* per map, see check_common() */

extern const struct map_ops map_array_ops, map_hash_ops, map_array_of_maps_ops, map_hash_of_maps_ops,
	map_prog_array_ops, map_percpu_array_ops, map_percpu_hash_ops, map_lru_hash_ops,
	map_lru_percpu_hash_ops, map_ringbuf_ops, map_queue_ops, map_stack_ops;

/* Per-VM state of maps/, hung off vm->pins (created with the first map or
 * pin, under vm->lock). */
struct map_vm_state {
	struct map_pin *pins;       /* uthash table by path, under vm->lock */
	_Atomic long pending;       /* map frees queued and not yet run */
};
struct map_vm_state *map_vm_state(bpfvm *vm); /* creates it; NULL if out of memory */

/* Defers what leaves a map (an element, a map) past every read section
 * that could still use it, of both flavours: sleepable programs run in
 * tasks-trace sections and may hold a value or an inner map across a
 * sleep.  First a tasks-trace grace period, then a normal one, as a
 * program's free (vm/vm.c): after_tt(head) runs after the first and must
 * call rcu_call(head, the real callback); until a tt section has ever
 * been entered in the process (rcu_tt_ever_used), at once.  map_barrier
 * (map.h) waits for them. */
void map_defer(struct rcu_head *head, void (*after_tt)(struct rcu_head *));

/* Allocates the common part and fills it from attr.  `size` >= sizeof(struct bpfvm_map). */
void *map_alloc_base(const struct bpfvm_map_attr *attr, size_t size);

/* Spin lock on a 4-byte word (a struct bpf_spin_lock). */
static inline void map_spin_lock(_Atomic uint32_t *l)
{
	unsigned spins = 0;
	/* Test-and-test-and-set: spin on a plain load so waiters don't bounce
	 * the line; exchange is a locked instruction (acquire). */
	while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
		while (atomic_load_explicit(l, memory_order_relaxed)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield(); /* holder preempted: give it the CPU (2 cores, 8 users) */
		}
	}
}
static inline void map_spin_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* Word copies with relaxed atomics: concurrent readers of a slot being
 * rewritten see each 8-byte word either old or new (never a torn word),
 * and the race is defined behaviour (ThreadSanitizer-clean). */
void map_copy_words_in(void *dst_map, const void *src, size_t n);
void map_copy_words_out(void *dst, const void *src_map, size_t n);

/* Host-side copies of a whole value into or out of a map slot; with
 * BPFVM_F_LOCK under the value's spin lock.  The lock word is skipped. */
void map_value_copy_in(const struct bpfvm_map *map, void *slot, const void *src, uint64_t flags);
void map_value_copy_out(const struct bpfvm_map *map, void *dst, const void *slot, uint64_t flags);

/* Validates host update flags for `map`: -EINVAL with a reason. */
int map_check_update_flags(const struct bpfvm_map *map, uint64_t flags);

/* Takes a map reference unless the map is being freed. */
bool map_tryget(struct bpfvm_map *map);

/* Hash table core (hash.c), reused by hash-of-maps. */
struct map_htab;
struct bpfvm_map *map_htab_alloc(const struct bpfvm_map_attr *attr, uint32_t stored_value_size,
                                 void (*release)(void *value));
/* The hash table's other entry points, shared with hash-of-maps
 * (map_in_map.c) and the per-CPU hash (percpu_hash.c).  Lookups return
 * the stored value, under the read side. */
int map_htab_check_attr(const struct bpfvm_map_attr *attr, uint64_t stored_value_size, const char **why);
/* map_htab_update_fill: fill(map, dst, src, fresh) writes the stored value
 * under the bucket lock, into a new element (fresh) or in place into the
 * key's existing one (per-CPU maps: see hash.c's htab_update). */
typedef void map_htab_fill_fn(struct bpfvm_map *map, void *dst, const void *src, bool fresh);
int map_htab_update_fill(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags,
                         map_htab_fill_fn *fill);
int map_htab_update_raw(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags);
int map_htab_delete(struct bpfvm_map *map, const void *key);
void map_htab_reclaim(struct bpfvm_map *map);
int map_htab_lookup_and_delete(struct bpfvm_map *map, const void *key, void *value, uint64_t flags);
int map_htab_get_next_key(struct bpfvm_map *map, const void *key, void *next_key);
long map_htab_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx);
void map_htab_free(struct bpfvm_map *map);
/* BPF_MAP_TYPE_HASH's lookup (map_hash_ops.lookup), for the other hash
 * types: a call to the lookup for the map's key size. */
void *map_htab_lookup(struct bpfvm_map *map, const void *key);
/* Test hook: every key of this empty BPFVM_MAP_HASH, _PERCPU_HASH or LRU hash map
 * collides in one bucket, to reach overflow chains with few keys.
 * -EINVAL otherwise. */
int map_htab_test_collide(struct bpfvm_map *map);
/*
 * For the JIT's inline lookup (jit/x86_64.c, emit_hash_lookup): true when
 * map is a BPF_MAP_TYPE_HASH whose 8-byte keys take the AVX-512 probe
 * (maps/htab_probe.h), with what the inline code needs to find a key's
 * home bucket as k8_lookup_avx512 does: the offsets in the map of its
 * hash seed, bucket count, bucket array and value base (all fixed once
 * the map exists), and hash_word's two multipliers.
 */
struct map_htab_inline {
	int32_t seed, nbuckets, buckets, vbase;
	uint64_t mul1, mul2;
};
bool map_htab_inline_k8(const struct bpfvm_map *map, struct map_htab_inline *out);

/* Test hook: the lookup a hash map's keys take: "avx512", "scalar" (8-byte
 * keys) or "other". */
const char *map_htab_test_lookup_path(struct bpfvm_map *map);
/* Test hook: where a hash map's elements are.  Counts the elements
 * carved from the map's blocks (every element: preallocated or not, see
 * hash.c) in each place; checks that every element is in one place at
 * most: -EUCLEAN if one is found twice or isn't an element of the
 * blocks.  Elements of batches handed to rcu_call are in none
 * (rcu_barrier first).  No writer may run meanwhile. */
struct map_htab_census {
	long count;                 /* the max_entries count */
	uint32_t carved;            /* elements handed out of the blocks */
	uint32_t linked;            /* in the table */
	uint32_t freelist;          /* free, in the shared pool */
	uint32_t magazines;         /* free, in threads' caches */
	uint32_t tretired;          /* unlinked, in threads' retire batches */
	uint32_t shared_retired;    /* unlinked, in the shared retire batch */
	uint32_t orphans;           /* exited threads' batches of a dying map */
	uint32_t overflow;          /* overflow buckets handed out (never given back) */
};
int map_htab_test_census(struct bpfvm_map *map, struct map_htab_census *c);

#endif
