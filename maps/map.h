/*
 * Maps: an ops table around an embedded base struct, as Linux's bpf_map.
 * Each map type lives in its own file (array.c, hash.c, map_in_map.c,
 * prog_array.c, ...).  Memory leaves a map only through RCU deferral
 * (rcu/rcu.h), never by a direct free while a program may hold a pointer.
 * Prefix: map_.
 */
#ifndef BPFVM_MAP_H
#define BPFVM_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bpfvm.h"
#include "rcu.h"

struct bpfvm_map;

/*
 * Per-type operations.  "prog" ops are called from programs (under the RCU
 * read side, possibly concurrently with everything); "host" ops from the
 * host API (also under the read side, concurrently with programs).
 */
struct map_ops {
	/* Validates attr for this type (-EINVAL with a reason in *why). */
	int (*check_attr)(const struct bpfvm_map_attr *attr, const char **why);
	struct bpfvm_map *(*alloc)(const struct bpfvm_map_attr *attr);
	/* Called once no program or host call can reach the map any more. */
	void (*free)(struct bpfvm_map *map);
	/* Program-side lookup: pointer to the value or NULL. */
	void *(*lookup)(struct bpfvm_map *map, const void *key);
	int (*update)(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags);
	/* Per-CPU maps: the program-side update (this CPU's value only, where
	 * update takes every CPU's) and the lookup of a given CPU's value
	 * (bpf_map_lookup_percpu_elem).  NULL for other maps. */
	int (*update_prog)(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags);
	void *(*lookup_cpu)(struct bpfvm_map *map, const void *key, uint32_t cpu);
	int (*delete)(struct bpfvm_map *map, const void *key);
	/* Optional: an update failed with -ENOMEM because elements replaced
	 * or deleted still wait for their grace period; hand the calling
	 * thread's pending ones to RCU (bpfvm_map_update then waits for them
	 * and retries; programs can't wait and get the error).  In a read
	 * section. */
	void (*reclaim)(struct bpfvm_map *map);
	int (*get_next_key)(struct bpfvm_map *map, const void *key, void *next_key);
	/* Host-side lookup that copies the value out (defaults to lookup+copy). */
	int (*lookup_copy)(struct bpfvm_map *map, const void *key, void *value, uint64_t flags);
	/* Host update taking fds for map-in-map / prog arrays (defaults to update). */
	int (*update_fd)(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags);
	/* for_each_map_elem: calls cb for each element; returns count visited. */
	long (*for_each)(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *key, void *value, void *ctx), void *ctx);
	/* Last user reference gone (prog array: clear all slots). */
	void (*release_uref)(struct bpfvm_map *map);
	/* May `other` serve where a map shaped like `tmpl` is expected (map-in-map)? */
	bool (*meta_equal)(const struct bpfvm_map *tmpl, const struct bpfvm_map *other);
	/* Queue and stack (Linux's map_push/pop/peek_elem): value_size bytes
	 * copied in or out; NULL for keyed maps.  Programs and the host. */
	int (*push)(struct bpfvm_map *map, const void *value, uint64_t flags);
	int (*pop)(struct bpfvm_map *map, void *value);
	int (*peek)(struct bpfvm_map *map, void *value);
	/* Host: copy the value out (as lookup_copy) and delete the element,
	 * with no writer in between (Linux's BPF_MAP_LOOKUP_AND_DELETE_ELEM on
	 * hashes); NULL where Linux doesn't offer it. */
	int (*lookup_and_delete)(struct bpfvm_map *map, const void *key, void *value, uint64_t flags);
};

struct bpfvm_map {
	const struct map_ops *ops;
	/* The lookup programs' map_lookup_elem calls: ops->lookup, or one the
	 * map's alloc picked for its shape (maps/hash.c: by key size and CPU). */
	void *(*lookup)(struct bpfvm_map *map, const void *key);
	bpfvm *vm;
	uint32_t type, key_size, value_size, max_entries, map_flags;
	int32_t spin_lock_off;      /* -1: none */
	int fd;
	char name[64];
	_Atomic long refcnt;        /* every reference: handles, programs, outer maps, pins */
	_Atomic long usercnt;       /* user references: host handles and pins */
	_Atomic bool frozen;
	/* Map-in-map: shape inner maps must have; owned copy of its meta. */
	struct bpfvm_map *inner_meta;
	/* Prog arrays: the program type all members must share (set by the first). */
	const void *owner_type;
	struct rcu_head rcu;
};

/* Waits for every deferred free and element return queued before the call
 * (both read-side flavours' grace periods, map_defer in map_impl.h), and
 * for those their callbacks queue in turn.  Outside read sections. */
void map_barrier(void);

/* Reference counting.  map_put frees through RCU when the last reference goes. */
void map_get(struct bpfvm_map *map);
void map_put(struct bpfvm_map *map);
void map_get_uref(struct bpfvm_map *map);
void map_put_uref(struct bpfvm_map *map);

/* Looks up a map by handle without taking a reference (load time). */
struct bpfvm_map *map_from_fd(bpfvm *vm, int fd);

/* Copies a value into/out of a map slot, skipping the spin lock word. */
void map_copy_value(const struct bpfvm_map *map, void *dst, const void *src);
void map_copy_value_locked(const struct bpfvm_map *map, void *dst, const void *src, void *lock_in_value);

/* Program helpers (Linux ids), registered by vm/helpers.c. */
uint64_t map_helper_lookup(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_update(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t);
uint64_t map_helper_lookup_percpu(uint64_t map, uint64_t key, uint64_t cpu, uint64_t, uint64_t);
uint64_t map_helper_delete(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_for_each(uint64_t map, uint64_t cb, uint64_t ctx, uint64_t flags, uint64_t);
uint64_t map_helper_spin_lock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_spin_unlock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t);

/* Queues and stacks (queue_stack.c): bpf_map_push/pop/peek_elem. */
uint64_t map_helper_push(uint64_t map, uint64_t value, uint64_t flags, uint64_t, uint64_t);
uint64_t map_helper_pop(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_peek(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t);

/* Ring buffers (ringbuf.c): bpf_ringbuf_* helpers, and the end of a
 * checked run, which discards the records it leaked. */
struct vm_run;
uint64_t map_helper_ringbuf_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t);
uint64_t map_helper_ringbuf_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t, uint64_t);
uint64_t map_helper_ringbuf_submit(uint64_t rec, uint64_t flags, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_ringbuf_discard(uint64_t rec, uint64_t flags, uint64_t, uint64_t, uint64_t);
uint64_t map_helper_ringbuf_query(uint64_t map, uint64_t flags, uint64_t, uint64_t, uint64_t);
void map_ringbuf_run_end(const struct vm_run *run);

/* Prog arrays: the program at `index` under RCU, or NULL (tail calls). */
struct bpfvm_prog *map_prog_array_get(struct bpfvm_map *map, uint32_t index);
/* Puts prog in slot index (the host's update, the ELF loader's initial
 * slots) after the insertion checks: program type, a checked/unchecked mix,
 * call frames along tail-call chains.  Takes its own reference on prog.
 * Any thread; log (may be NULL) gets the reason of a refusal. */
struct vm_log;
int map_prog_array_insert(struct bpfvm_map *map, uint32_t index, struct bpfvm_prog *prog, struct vm_log *log);
/* A verified program that tail-calls through map (at load): as Linux, it
 * fixes the array's program type, or must have it. */
int map_prog_array_use(struct bpfvm_map *map, const struct bpfvm_prog *prog, struct vm_log *log);

#endif
