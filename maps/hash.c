/*
 * BPF_MAP_TYPE_HASH: power-of-two buckets of singly-linked lists.
 *
 * Readers (programs and host lookups, under the RCU read side) walk a chain
 * with acquire loads and take no lock.  Writers take a striped bucket lock,
 * publish a fully built element with a release store, and unlink elements
 * with a release store; unlinked elements are freed (or returned to the
 * preallocated pool) only after a grace period, so a reader standing on one
 * can still follow its `next`.  Replacing a key publishes a new element in
 * the old one's place: a reader sees the old value or the new one, whole.
 * With BPF_F_LOCK the value is rewritten in place under its spin lock.
 */
#include <sys/random.h>

#include "map_impl.h"

struct htab_elem {
	struct htab_elem *_Atomic next;
	uint32_t hash;
	uint32_t pooled;            /* from the preallocated block: back to the free list */
	struct map_htab *owner;
	struct rcu_head rcu;
	uint8_t data[] __attribute__((aligned(8))); /* key, then the value at key_round */
};

struct map_htab {
	struct bpfvm_map map;
	struct htab_elem *_Atomic *buckets;
	uint32_t mask;              /* nbuckets - 1 */
	uint32_t lock_mask;         /* nlocks - 1 */
	_Atomic uint32_t *locks;    /* bucket b is guarded by locks[b & lock_mask] */
	uint32_t key_round;         /* key_size rounded up to 8 */
	uint32_t vsize;             /* bytes stored per value (8 for hash-of-maps) */
	size_t elem_size;
	uint64_t seed;
	_Atomic long count;         /* elements linked (max_entries enforced on it) */
	void (*release)(void *value); /* an element's value leaves the map (hash-of-maps) */
	/* Preallocated mode: one block and a free list under pool_lock. */
	uint8_t *pool;
	uint32_t pool_used;         /* elements of the block handed out so far */
	struct htab_elem *freelist;
	_Atomic uint32_t pool_lock;
};

/* ---- hashing ---- */

/* A 64-bit finalizer (xor-shift-multiply): every key bit reaches every
 * hash bit, so sequential and scattered keys spread over the buckets. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x;
}

static inline uint32_t htab_hash(const struct map_htab *h, const void *key)
{
	uint32_t ks = h->map.key_size;
	uint64_t w;
	if (ks == 8) {
		memcpy(&w, key, 8);
		return (uint32_t)mix64(w ^ h->seed);
	}
	if (ks == 4) {
		uint32_t v;
		memcpy(&v, key, 4);
		return (uint32_t)mix64(v ^ h->seed);
	}
	/* General keys: fold 8-byte words with a multiply-rotate, then mix. */
	const uint8_t *p = key;
	uint64_t acc = h->seed ^ ks;
	for (; ks >= 8; ks -= 8, p += 8) {
		memcpy(&w, p, 8);
		acc = (acc ^ w) * 0x9e3779b97f4a7c15ull;
		acc = (acc << 29) | (acc >> 35);
	}
	if (ks) {
		w = 0;
		memcpy(&w, p, ks);
		acc = (acc ^ w) * 0x9e3779b97f4a7c15ull;
	}
	return (uint32_t)mix64(acc);
}

static inline bool key_eq(const void *a, const void *b, uint32_t ks)
{
	if (ks == 8) {
		uint64_t x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		return x == y;
	}
	if (ks == 4) {
		uint32_t x, y;
		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		return x == y;
	}
	return memcmp(a, b, ks) == 0;
}

static inline void *elem_value(const struct map_htab *h, struct htab_elem *e)
{
	return e->data + h->key_round;
}

/* Under the read side: the element holding key, or NULL. */
static inline struct htab_elem *htab_find(struct map_htab *h, const void *key, uint32_t hash)
{
	/* Acquire pairs with the writer's release publish: the element's
	 * fields are visible once its pointer is (free on x86). */
	struct htab_elem *e = atomic_load_explicit(&h->buckets[hash & h->mask], memory_order_acquire);
	for (; e; e = atomic_load_explicit(&e->next, memory_order_acquire))
		if (e->hash == hash && key_eq(e->data, key, h->map.key_size))
			return e;
	return NULL;
}

/* ---- elements ---- */

static struct htab_elem *elem_alloc(struct map_htab *h)
{
	struct htab_elem *e = NULL;
	if (h->pool) {
		map_spin_lock(&h->pool_lock);
		e = h->freelist;
		if (e) {
			h->freelist = atomic_load_explicit(&e->next, memory_order_relaxed);
		} else if (h->pool_used < h->map.max_entries) {
			/* Carve the block lazily: creating a map with a huge
			 * max_entries must not touch every element up front. */
			e = (struct htab_elem *)(h->pool + h->elem_size * h->pool_used++);
			e->pooled = 1;
			e->owner = h;
		}
		map_spin_unlock(&h->pool_lock);
		if (e)
			return e;
		/* Pool empty while deleted elements wait for their grace
		 * period: take one from the heap rather than fail or block. */
	}
	e = malloc(h->elem_size);
	if (e) {
		e->pooled = 0;
		e->owner = h;
	}
	return e;
}

static void elem_free_rcu(struct rcu_head *head)
{
	struct htab_elem *e = (struct htab_elem *)((char *)head - offsetof(struct htab_elem, rcu));
	struct map_htab *h = e->owner;
	if (e->pooled) {
		map_spin_lock(&h->pool_lock);
		atomic_store_explicit(&e->next, h->freelist, memory_order_relaxed);
		h->freelist = e;
		map_spin_unlock(&h->pool_lock);
	} else {
		free(e);
	}
	map_put(&h->map); /* the pending free held the map */
}

/* e was unlinked (under its bucket lock): free it after a grace period. */
static void elem_retire(struct map_htab *h, struct htab_elem *e)
{
	if (h->release)
		h->release(elem_value(h, e));
	map_get(&h->map);
	map_defer(&e->rcu, elem_free_rcu);
}

/* ---- creation ---- */

static int htab_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->map_flags & ~(BPFVM_F_NO_PREALLOC | BPFVM_F_RDONLY_PROG)) {
		*why = "hash map_flags may only hold BPF_F_NO_PREALLOC and BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if (attr->max_entries > (1u << 31)) {
		*why = "max_entries is over 2^31";
		return -E2BIG;
	}
	return 0;
}

struct bpfvm_map *map_htab_alloc(const struct bpfvm_map_attr *attr, uint32_t vsize, void (*release)(void *value))
{
	struct map_htab *h = map_alloc_base(attr, sizeof(*h));
	if (!h)
		return NULL;
	uint32_t n = 1;
	while (n < attr->max_entries)
		n <<= 1;
	h->mask = n - 1;
	h->lock_mask = (n < 4096 ? n : 4096) - 1;
	h->key_round = (attr->key_size + 7) & ~7u;
	h->vsize = vsize;
	h->elem_size = sizeof(struct htab_elem) + h->key_round + ((vsize + 7) & ~7u);
	h->release = release;
	if (getrandom(&h->seed, sizeof(h->seed), 0) != sizeof(h->seed))
		h->seed = (uintptr_t)h * 0x9e3779b97f4a7c15ull;
	h->buckets = calloc(n, sizeof(*h->buckets));
	h->locks = calloc(h->lock_mask + 1, sizeof(*h->locks));
	if (!h->buckets || !h->locks)
		goto fail;
	if (!(attr->map_flags & BPFVM_F_NO_PREALLOC)) {
		/* calloc checks the size product and hands out untouched
		 * zero pages; elements are carved from it on first use. */
		h->pool = calloc(attr->max_entries, h->elem_size);
		if (!h->pool)
			goto fail;
	}
	return &h->map;
fail:
	free(h->buckets);
	free(h->locks);
	free(h);
	return NULL;
}

static struct bpfvm_map *htab_alloc(const struct bpfvm_map_attr *attr)
{
	return map_htab_alloc(attr, attr->value_size, NULL);
}

/* No reader or writer is left: free every element directly. */
static void htab_free(struct bpfvm_map *map)
{
	struct map_htab *h = (struct map_htab *)map;
	for (uint32_t b = 0; b <= h->mask; b++) {
		struct htab_elem *e = atomic_load_explicit(&h->buckets[b], memory_order_relaxed), *next;
		for (; e; e = next) {
			next = atomic_load_explicit(&e->next, memory_order_relaxed);
			if (h->release)
				h->release(elem_value(h, e));
			if (!e->pooled)
				free(e);
		}
	}
	free(h->pool);
	free(h->buckets);
	free((void *)h->locks);
	free(h);
}

/* ---- operations ---- */

/* Programs and host, lock-free under the read side. */
static void *htab_lookup(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_elem *e = htab_find(h, key, htab_hash(h, key));
	return e ? elem_value(h, e) : NULL;
}

static int htab_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	void *v = htab_lookup(map, key);
	if (!v)
		return -ENOENT;
	map_value_copy_out(map, value, v, flags);
	return 0;
}

/* Inserts or replaces key with a value of h->vsize bytes (already in the
 * stored form).  Programs and host; writers serialize per bucket stripe. */
int map_htab_update_raw(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	struct map_htab *h = (struct map_htab *)map;
	uint32_t hash = htab_hash(h, key);
	struct htab_elem *_Atomic *slot = &h->buckets[hash & h->mask];
	_Atomic uint32_t *lock = &h->locks[hash & h->mask & h->lock_mask];
	int err = 0;

	map_spin_lock(lock);
	struct htab_elem *_Atomic *prev = slot, *old;
	for (old = atomic_load_explicit(slot, memory_order_relaxed); old;
	     prev = &old->next, old = atomic_load_explicit(&old->next, memory_order_relaxed))
		if (old->hash == hash && key_eq(old->data, key, map->key_size))
			break;
	if (old && (flags & 3) == BPFVM_NOEXIST) {
		err = -EEXIST;
		goto out;
	}
	if (!old && (flags & 3) == BPFVM_EXIST) {
		err = -ENOENT;
		goto out;
	}
	if (old && (flags & BPFVM_F_LOCK)) {
		/* In place, under the value's own lock (as Linux). */
		map_value_copy_in(map, elem_value(h, old), value, BPFVM_F_LOCK);
		goto out;
	}
	if (!old) {
		/* Count first so that racing inserts can't overshoot max_entries. */
		if (atomic_fetch_add(&h->count, 1) >= (long)map->max_entries) {
			atomic_fetch_sub(&h->count, 1);
			err = -E2BIG;
			goto out;
		}
	}
	struct htab_elem *e = elem_alloc(h);
	if (!e) {
		if (!old)
			atomic_fetch_sub(&h->count, 1);
		err = -ENOMEM;
		goto out;
	}
	e->hash = hash;
	memcpy(e->data, key, map->key_size);
	memcpy(elem_value(h, e), value, h->vsize);
	if (map->spin_lock_off >= 0)
		memset(elem_value(h, e) + map->spin_lock_off, 0, 4); /* a fresh, unlocked lock */
	if (old) {
		atomic_store_explicit(&e->next, atomic_load_explicit(&old->next, memory_order_relaxed),
		                      memory_order_relaxed);
		/* Release: a reader that sees e sees its key and value. */
		atomic_store_explicit(prev, e, memory_order_release);
		elem_retire(h, old);
	} else {
		atomic_store_explicit(&e->next, atomic_load_explicit(slot, memory_order_relaxed), memory_order_relaxed);
		atomic_store_explicit(slot, e, memory_order_release);
	}
out:
	map_spin_unlock(lock);
	return err;
}

static int htab_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return map_htab_update_raw(map, key, value, flags);
}

int map_htab_delete(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	uint32_t hash = htab_hash(h, key);
	struct htab_elem *_Atomic *prev = &h->buckets[hash & h->mask], *e;
	_Atomic uint32_t *lock = &h->locks[hash & h->mask & h->lock_mask];
	int err = -ENOENT;

	map_spin_lock(lock);
	for (e = atomic_load_explicit(prev, memory_order_relaxed); e;
	     prev = &e->next, e = atomic_load_explicit(&e->next, memory_order_relaxed)) {
		if (e->hash == hash && key_eq(e->data, key, map->key_size)) {
			/* Readers on e still follow e->next: it stays valid until e is freed. */
			atomic_store_explicit(prev, atomic_load_explicit(&e->next, memory_order_relaxed),
			                      memory_order_release);
			atomic_fetch_sub(&h->count, 1);
			elem_retire(h, e);
			err = 0;
			break;
		}
	}
	map_spin_unlock(lock);
	return err;
}

/* First element of the first non-empty bucket from b on. */
static struct htab_elem *first_from(struct map_htab *h, uint64_t b)
{
	for (; b <= h->mask; b++) {
		struct htab_elem *e = atomic_load_explicit(&h->buckets[b], memory_order_acquire);
		if (e)
			return e;
	}
	return NULL;
}

/* Under the read side.  A key that is gone (deleted concurrently) restarts
 * from the first key, as Linux's htab_map_get_next_key. */
int map_htab_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_elem *n = NULL;
	if (key) {
		uint32_t hash = htab_hash(h, key);
		struct htab_elem *e = htab_find(h, key, hash);
		if (e) {
			n = atomic_load_explicit(&e->next, memory_order_acquire);
			if (!n)
				n = first_from(h, (uint64_t)(hash & h->mask) + 1);
			if (!n)
				return -ENOENT;
		}
	}
	if (!n)
		n = first_from(h, 0);
	if (!n)
		return -ENOENT;
	memcpy(next_key, n->data, map->key_size);
	return 0;
}

long map_htab_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	struct map_htab *h = (struct map_htab *)map;
	long n = 0;
	for (uint32_t b = 0; b <= h->mask; b++) {
		struct htab_elem *e = atomic_load_explicit(&h->buckets[b], memory_order_acquire);
		for (; e; e = atomic_load_explicit(&e->next, memory_order_acquire)) {
			n++;
			if (cb(map, e->data, elem_value(h, e), ctx))
				return n;
		}
	}
	return n;
}

void *map_htab_lookup_raw(struct bpfvm_map *map, const void *key)
{
	return htab_lookup(map, key);
}

void map_htab_free(struct bpfvm_map *map)
{
	htab_free(map);
}

/* As Linux's bpf_map_meta_equal: a hash lookup doesn't depend on
 * max_entries, so it isn't compared. */
static bool htab_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return t->type == o->type && t->key_size == o->key_size && t->value_size == o->value_size &&
	       t->map_flags == o->map_flags && t->spin_lock_off == o->spin_lock_off;
}

const struct map_ops map_hash_ops = {
	.check_attr = htab_check_attr,
	.alloc = htab_alloc,
	.free = htab_free,
	.lookup = htab_lookup,
	.update = htab_update,
	.delete = map_htab_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = htab_lookup_copy,
	.for_each = map_htab_for_each,
	.meta_equal = htab_meta_equal,
};
