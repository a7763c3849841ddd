/*
 * BPF_MAP_TYPE_LRU_HASH (lru.c): the hash table of hash.c plus eviction
 * lists, as Linux's common LRU.  Included by hash.c and lru.c only (and
 * tests).  Prefix: map_lru_.
 *
 * Every element of an LRU map carries a struct lru_node right before its
 * struct htab_elem (hash.c allocates h->pre bytes in front of each
 * element).  The lists and `list` are guarded by the lock of the LRU
 * `owner` names (the map's one LRU, or with BPF_F_NO_COMMON_LRU one per
 * CPU); `ref` is the lock-free "referenced" hint that lookups set.
 *
 * Lock order: a bucket lock, then the LRU lock, then (only by trylock) the
 * bucket lock of an eviction victim.  The evictor never waits for a bucket
 * lock while it holds the LRU lock, because the holder of that bucket may
 * be waiting for the LRU lock.  docs/maps.md has the argument.
 */
#ifndef BPFVM_MAP_LRU_H
#define BPFVM_MAP_LRU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct bpfvm_map;
struct bpfvm_map_attr;
struct map_lru;

enum { LRU_NONE, LRU_ACTIVE, LRU_INACTIVE };

struct lru_node {
	struct lru_node *prev, *next; /* on a list of the map's LRU, under its lock */
	uint32_t owner;               /* which LRU list (per-CPU lists: the inserting CPU's) */
	uint8_t list;                 /* LRU_NONE / LRU_ACTIVE / LRU_INACTIVE, under the lock */
	uint8_t unused[2];
	/* Set by lookups with a plain store, cleared by the evictor.  Last
	 * byte of the node: next to the element header the lookup touches. */
	_Atomic uint8_t ref;
};

_Static_assert(sizeof(struct lru_node) % 8 == 0, "elements after the node stay 8-byte aligned");

/* Marks the element whose node this is as referenced: a relaxed load, and
 * a relaxed store only when the flag is clear, so a hot element's line is
 * not dirtied on every lookup (as Linux's bpf_lru_node_set_ref).  No lock,
 * no read-modify-write: the flag is a hint, and a lost race (the evictor
 * clearing it as we set it) only makes the LRU order approximate. */
static inline void map_lru_mark(struct lru_node *n)
{
	if (!atomic_load_explicit(&n->ref, memory_order_relaxed))
		atomic_store_explicit(&n->ref, 1, memory_order_relaxed);
}

/* ---- lru.c, called by hash.c ---- */

struct map_lru *map_lru_new(struct bpfvm_map *map);
void map_lru_free(struct map_lru *l);
/* Makes room for one more element, evicting if needed, and says which
 * list the element will be on.  `full`: the map's count was at
 * max_entries (what the common LRU goes by; per-CPU lists go by their own
 * share).  `held` is the home bucket the calling insert holds: its
 * elements are evicted without locking it.  0, or -ENOMEM (as Linux) when
 * nothing could be evicted for a long time. */
int map_lru_reserve(struct map_lru *l, const void *held, bool full, uint32_t *list);
/* The insert that reserved `list` failed before pushing. */
void map_lru_unreserve(struct map_lru *l, uint32_t list);
/* The new element goes on the inactive list of `list`, unreferenced.
 * Called under the element's bucket lock, before it is published. */
void map_lru_push(struct map_lru *l, struct lru_node *n, uint32_t list);
/* `fresh` replaces `old` (an update of an existing key) and goes on an
 * inactive list, unreferenced: old's list, or with per-CPU lists the
 * updating CPU's (which may evict there; `held` as for map_lru_reserve).
 * Under the bucket lock, before fresh is published. */
void map_lru_replace(struct map_lru *l, struct lru_node *old, struct lru_node *fresh, const void *held);
/* An element leaves the lists (delete).  Under its bucket lock. */
void map_lru_remove(struct map_lru *l, struct lru_node *n);

/* ---- hash.c, called by lru.c ---- */

/* Unlinks the element whose node is `n` from its bucket and retires it
 * (count down, freed after a grace period).  Takes the bucket lock with a
 * trylock unless it is `held`.  0, -EBUSY (bucket busy) or -ENOENT. */
int map_htab_evict(struct bpfvm_map *map, struct lru_node *n, const void *held);
/* An LRU hash storing vsize bytes per value (per-CPU: every CPU's). */
struct bpfvm_map *map_htab_alloc_lru(const struct bpfvm_map_attr *attr, uint32_t vsize);
/* The program-side lookup: marks the element found. */
void *map_htab_lookup_lru(struct bpfvm_map *map, const void *key);
/* The plain hash's host lookup (no mark) and inner-map shape check. */
int map_htab_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags);
bool map_htab_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o);
/* The other entry points of the hash core are in map_impl.h. */

#endif
