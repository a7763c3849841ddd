/*
 * BPF_MAP_TYPE_HASH: a bucketised table of cache-line buckets, each holding
 * three {tag, element} slots, an overflow link and the bucket's writer lock.
 *
 * Layout.  A bucket is one 64-byte line.  For keys of up to 8 bytes the
 * slot's tag *is* the key (zero-extended), so a lookup hit reads one line
 * and never touches the element: the value pointer is computed from the
 * element pointer.  For longer keys the tag is the 64-bit hash and a tag
 * match is confirmed against the key stored in the element.  A bucket that
 * fills links a heap overflow bucket; overflow buckets stay linked until
 * the map is freed (never unlinked, so readers may always follow `next`).
 * Elements never move between slots: a delete empties a slot, an insert
 * fills the first empty slot of its chain, a replace swaps the element
 * pointer of the key's slot.  No rehashing: the bucket count is fixed from
 * max_entries at creation.
 *
 * Concurrency.  Readers (programs and host calls, under the RCU read side)
 * take no lock and do no atomic read-modify-write.  Writers take the home
 * bucket's lock, which guards its whole overflow chain.  An element leaves
 * the table only through a retire batch (elem_retire below) and is
 * freed, or returned to the preallocated pool, only after a grace period,
 * so an element pointer a reader loaded stays valid until its read section
 * ends.  docs/maps.md has the memory-ordering argument for the tag check.
 *
 * Writer scaling.  Apart from its bucket lock, a writer touches only its
 * own thread's cache in the map (struct htab_tcache, indexed by
 * rcu_thread_index()): a magazine of free preallocated elements, refilled
 * from the shared pool a chain at a time, and its own retire batch.  The
 * pool lock is then taken once per returned batch (or HTAB_MAG carved
 * elements) and rcu_call once per HTAB_RETIRE_BATCH retirements, instead
 * of two shared locks per operation.  max_entries stays one exact atomic
 * count on its own cache line (docs/maps.md: measured, it was not what
 * limited two writers).
 */
#include <sys/mman.h>
#include <sys/random.h>

#include "lru.h"
#include "map_impl.h"

#define HTAB_SLOTS 3
#define HTAB_RETIRE_BATCH 64 /* elements per rcu_call */
#define HTAB_MAG 32          /* elements a thread's magazine takes from the pool at once */
#define HTAB_TSLOTS 64       /* threads (by rcu_thread_index) with their own cache in a map */

struct htab_elem {
	struct htab_elem *link;     /* free list / retire batch, never seen by readers */
	struct map_htab *owner;
	struct rcu_head rcu;        /* used by the first element of a retire batch */
	uint32_t pooled;            /* from the preallocated block: back to the free list */
	uint32_t batch_heap;        /* first element of a submitted retire batch: its heap elements */
	uint8_t data[] __attribute__((aligned(8))); /* key, then the value at key_round */
};

struct htab_slot {
	/* keys <= 8 bytes: the key, zero-extended; longer keys: the hash.
	 * Written only while `elem` is NULL (slot free), under the lock. */
	_Atomic uint64_t tag;
	struct htab_elem *_Atomic elem; /* NULL: free */
};

struct htab_bucket {
	struct htab_slot slot[HTAB_SLOTS];
	struct htab_bucket *_Atomic next; /* overflow bucket, same home lock */
	_Atomic uint32_t lock;            /* home buckets: guards the chain */
	uint32_t unused;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct htab_bucket) == 64, "a bucket is one cache line");

enum htab_kind { HTAB_K8, HTAB_KSMALL, HTAB_KLONG };

/* One thread's cache in one map, touched only by the thread whose
 * rcu_thread_index() it is (and by htab_free and the thread's unregister
 * flush, see htab_thread_flush).  Own cache line: two writers never share
 * one. */
/* Unlinked elements waiting to be handed to rcu_call as one batch. */
struct htab_batch {
	struct htab_elem *first;
	uint32_t n, nheap;          /* elements, heap elements */
};

struct htab_tcache {
	struct htab_elem *free;     /* magazine: free pooled elements (one pool chain) */
	struct htab_batch retired;  /* this thread's unlinked elements */
} __attribute__((aligned(64)));

/* A zeroed block: calloc, or for 2 MiB and more an mmap aligned to 2 MiB
 * with transparent huge pages asked for (the machine's THP mode is often
 * "madvise").  Random lookups in a 32 MiB bucket array miss the TLB on
 * almost every access with 4 KiB pages. */
struct htab_mem {
	void *raw;
	size_t len;                 /* 0: calloc'd */
};

#define HTAB_HUGE (2u << 20)

static void *htab_zalloc(struct htab_mem *m, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	size_t bytes = n * size;
	if (bytes < HTAB_HUGE) {
		m->len = 0;
		m->raw = calloc(1, bytes + 64);
		return m->raw ? (void *)(((uintptr_t)m->raw + 63) & ~(uintptr_t)63) : NULL;
	}
	size_t len = bytes + HTAB_HUGE;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	m->raw = p;
	m->len = len;
	void *a = (void *)(((uintptr_t)p + HTAB_HUGE - 1) & ~(uintptr_t)(HTAB_HUGE - 1));
	madvise(a, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
	return a;
}

static void htab_zfree(struct htab_mem *m)
{
	if (m->len)
		munmap(m->raw, m->len);
	else
		free(m->raw);
}

struct map_htab {
	struct bpfvm_map map;
	struct htab_bucket *buckets;
	struct htab_mem buckets_mem;
	uint64_t mask;              /* nbuckets - 1 */
	uint64_t seed;
	enum htab_kind kind;
	uint32_t key_round;         /* key_size rounded up to 8 */
	uint32_t vsize;             /* bytes stored per value (8 for hash-of-maps) */
	size_t elem_size;
	void (*release)(void *value); /* an element's value leaves the map (hash-of-maps) */
	/* LRU hash: eviction lists (lru.c), and the struct lru_node in front
	 * of every element (`pre` bytes); NULL and 0 for other hash maps. */
	struct map_lru *lru;
	uint32_t pre;
	uint32_t pool_cap;          /* elements in the preallocated block */
	/* Per-thread caches, HTAB_TSLOTS of them; threads without one (index
	 * past the array, or not registered) use the locked shared state
	 * below directly. */
	struct htab_tcache *tc;
	/* On htab_all (all hash maps, for the unregister flush), under
	 * htab_all_lock; `orphans`: retired elements of exited threads' caches
	 * found when the map was already dying, freed by htab_free. */
	struct map_htab *all_prev, *all_next;
	struct htab_elem *orphans;
	uint8_t *pool;              /* preallocated block, NULL with BPF_F_NO_PREALLOC */
	struct htab_mem pool_mem;
	/* Elements linked or being inserted; max_entries is enforced on it.
	 * Its own cache line: inserts and deletes write it, and in the line
	 * of mask and seed (where it was) every write invalidated the hash
	 * parameters every other thread's next operation reads. */
	_Atomic long count __attribute__((aligned(64)));
	/* Preallocated mode: the free list, under pool_lock.  Own cache line:
	 * the pool is shared by every writer. */
	_Atomic uint32_t pool_lock __attribute__((aligned(64)));
	/* Written under pool_lock; read without it (relaxed) only as the
	 * hint "the pool is empty, don't take its lock". */
	_Atomic uint32_t pool_used;   /* elements of the block handed out so far */
	struct htab_elem *_Atomic freelist;
	/* Unlinked elements of threads without a cache, waiting to be handed
	 * to rcu_call as one batch, under retire_lock: one rcu_call (a mutex
	 * and a wake-up, ~1 us) per HTAB_RETIRE_BATCH deletes. */
	_Atomic uint32_t retire_lock __attribute__((aligned(64)));
	struct htab_batch retired;
};

/* Every hash map (plain, per-CPU, LRU, hash-of-maps), so that a thread
 * that unregisters from RCU can return its caches (htab_thread_flush). */
static pthread_mutex_t htab_all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct map_htab *htab_all;
static pthread_once_t htab_notifier_once = PTHREAD_ONCE_INIT;

/* The calling thread's cache in h, or NULL (shared, locked path).  Map
 * operations run registered (in read sections), so the index is ours
 * until this thread unregisters, which it can't do mid-operation. */
static inline struct htab_tcache *htab_tc(struct map_htab *h)
{
	unsigned i = rcu_thread_index();
	return i < HTAB_TSLOTS ? &h->tc[i] : NULL;
}

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

/* Keys of 1 to 7 bytes (8-byte keys take HTAB_K8) as one zero-extended
 * word; 4-byte keys, the common case, get a constant-size copy. */
static inline uint64_t key_word(const void *key, uint32_t ks)
{
	uint64_t w = 0;
	if (ks == 4)
		memcpy(&w, key, 4);
	else
		memcpy(&w, key, ks);
	return w;
}

static uint64_t hash_long(const struct map_htab *h, const void *key)
{
	/* Fold 8-byte words with a multiply-rotate, then mix. */
	uint32_t ks = h->map.key_size;
	const uint8_t *p = key;
	uint64_t acc = h->seed ^ ks, w;
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
	return mix64(acc);
}

static inline bool key_eq_long(const void *a, const void *b, uint32_t ks)
{
	if (ks == 16) {
		uint64_t x[2], y[2];
		memcpy(x, a, 16);
		memcpy(y, b, 16);
		return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
	}
	return memcmp(a, b, ks) == 0;
}

/* A key's tag and home bucket. */
struct htab_pos {
	uint64_t tag;
	struct htab_bucket *home;
};

static inline struct htab_pos htab_pos(const struct map_htab *h, const void *key)
{
	uint64_t tag, hash;
	if (h->kind == HTAB_K8) {
		memcpy(&tag, key, 8);
		hash = mix64(tag ^ h->seed);
	} else if (h->kind == HTAB_KSMALL) {
		tag = key_word(key, h->map.key_size);
		hash = mix64(tag ^ h->seed);
	} else {
		tag = hash = hash_long(h, key);
	}
	return (struct htab_pos){ tag, &h->buckets[hash & h->mask] };
}

static inline void *elem_value(const struct map_htab *h, struct htab_elem *e)
{
	return e->data + h->key_round;
}

/*
 * Under the read side: the element in slot s if it holds the key whose
 * tag is `tag` (keys <= 8 bytes), else NULL.
 *
 * The tag and the element pointer are two words, so they are read as
 * e1 = elem, t = tag, e2 = elem (each an acquire load: plain moves on
 * x86-64).  A writer stores a tag only into a free slot (elem NULL) and
 * publishes the element after it with a release store.  If e1 == e2 != NULL
 * the slot held e1 at both loads, and since e1 can't be freed and reused
 * while we are in a read section it held e1 throughout, so no tag store
 * happened in between: t is e1's key.  (A newer tag read by the acquire
 * load of t would carry the writer's earlier "elem = NULL" store with it,
 * and e2 could then not read e1.)  A first relaxed tag load filters out
 * the slots of other keys with one load each.
 */
static inline struct htab_elem *slot_confirm(struct htab_slot *s, uint64_t tag)
{
	struct htab_elem *e = atomic_load_explicit(&s->elem, memory_order_acquire);
	while (e) {
		if (atomic_load_explicit(&s->tag, memory_order_acquire) != tag)
			return NULL;
		struct htab_elem *e2 = atomic_load_explicit(&s->elem, memory_order_acquire);
		if (e2 == e)
			return e;
		e = e2; /* replaced or deleted meanwhile: look again */
	}
	return NULL;
}

/* The element of bucket b holding the key whose tag is `tag` (keys <= 8
 * bytes), or NULL.  The three tags are compared without a branch: a
 * mispredicted "which slot" branch that waits on a cache miss throws away
 * the next lookups' misses the CPU had started, and serialised misses
 * cost ~2x at 65,536 keys (docs/maps.md).  Several matches can only be
 * stale tags of free slots. */
static inline struct htab_elem *bucket_match(struct htab_bucket *b, uint64_t tag, int *slot)
{
	unsigned m = (unsigned)(atomic_load_explicit(&b->slot[0].tag, memory_order_relaxed) == tag) |
	             (unsigned)(atomic_load_explicit(&b->slot[1].tag, memory_order_relaxed) == tag) << 1 |
	             (unsigned)(atomic_load_explicit(&b->slot[2].tag, memory_order_relaxed) == tag) << 2;
	_Static_assert(HTAB_SLOTS == 3, "bucket_match compares three tags");
	for (; m; m &= m - 1) {
		int i = __builtin_ctz(m);
		struct htab_elem *e = slot_confirm(&b->slot[i], tag);
		if (e) {
			*slot = i;
			return e;
		}
	}
	return NULL;
}

/* Under the read side: the element holding key, or NULL; with `where`
 * non-NULL, also its bucket and slot index. */
static inline struct htab_elem *htab_find(struct map_htab *h, const void *key, struct htab_pos p,
                                          struct htab_bucket **where, int *slot)
{
	struct htab_bucket *b = p.home;
	if (h->kind != HTAB_KLONG) {
		do {
			int i;
			struct htab_elem *e = bucket_match(b, p.tag, &i);
			if (e) {
				if (where) {
					*where = b;
					*slot = i;
				}
				return e;
			}
			/* Acquire pairs with the release that linked the overflow
			 * bucket: its zeroed slots are visible. */
			b = atomic_load_explicit(&b->next, memory_order_acquire);
		} while (b);
		return NULL;
	}
	do {
		for (int i = 0; i < HTAB_SLOTS; i++) {
			if (atomic_load_explicit(&b->slot[i].tag, memory_order_relaxed) != p.tag)
				continue;
			/* The element's key never changes while it is reachable:
			 * a tag that is stale only costs a key compare. */
			struct htab_elem *e = atomic_load_explicit(&b->slot[i].elem, memory_order_acquire);
			if (e && key_eq_long(e->data, key, h->map.key_size)) {
				if (where) {
					*where = b;
					*slot = i;
				}
				return e;
			}
		}
		b = atomic_load_explicit(&b->next, memory_order_acquire);
	} while (b);
	return NULL;
}

/* ---- elements ---- */

static void batch_flush(struct map_htab *h, struct htab_batch *b);

/*
 * The free list is a stack of chains: each chain (a retire batch that
 * came back, or a magazine returned by an unregistering thread) is linked
 * through `link`, and the first element of each chain points to the next
 * chain's first element through its idle rcu_head (a free element has no
 * callback pending).  A magazine refill then takes a whole chain without
 * walking it: a walk costs one dependent cache miss per element, paid
 * again when the element is used (measured: a third of a 64K-key replace
 * on one thread went to walking 32 elements per refill).
 */
static inline struct htab_elem *chain_next(struct htab_elem *first)
{
	return first->rcu.next ? (struct htab_elem *)((char *)first->rcu.next - offsetof(struct htab_elem, rcu))
	                       : NULL;
}

/* Takes free pooled elements: with `one`, a single element, else a whole
 * chain of the free list or, that empty, up to HTAB_MAG elements carved
 * from the block.  Returns a NULL-terminated chain (through link), NULL
 * when the pool is empty. */
static struct htab_elem *pool_take(struct map_htab *h, bool one)
{
	struct htab_elem *first = NULL, **tail = &first;
	uint32_t k = 0;
	map_spin_lock(&h->pool_lock);
	struct htab_elem *e = atomic_load_explicit(&h->freelist, memory_order_relaxed);
	if (e) {
		struct htab_elem *rest = chain_next(e);
		if (one && e->link) {
			/* The chain's remainder becomes the stack's top. */
			e->link->rcu.next = e->rcu.next;
			rest = e->link;
			e->link = NULL;
		}
		atomic_store_explicit(&h->freelist, rest, memory_order_relaxed);
		map_spin_unlock(&h->pool_lock);
		return e;
	}
	uint32_t used = atomic_load_explicit(&h->pool_used, memory_order_relaxed);
	for (uint32_t n = one ? 1 : HTAB_MAG; k < n && used < h->pool_cap; k++, used++) {
		/* Carve the block lazily: creating a map with a huge
		 * max_entries must not touch every element up front. */
		e = (struct htab_elem *)(h->pool + (h->pre + h->elem_size) * used + h->pre);
		e->pooled = 1;
		e->owner = h;
		*tail = e;
		tail = &e->link;
	}
	atomic_store_explicit(&h->pool_used, used, memory_order_relaxed);
	map_spin_unlock(&h->pool_lock);
	*tail = NULL;
	return first;
}

/* Pushes a NULL-terminated chain of free pooled elements on the pool. */
static void pool_give(struct map_htab *h, struct htab_elem *first)
{
	map_spin_lock(&h->pool_lock);
	struct htab_elem *top = atomic_load_explicit(&h->freelist, memory_order_relaxed);
	first->rcu.next = top ? &top->rcu : NULL;
	atomic_store_explicit(&h->freelist, first, memory_order_relaxed);
	map_spin_unlock(&h->pool_lock);
}

/* The pool has nothing to give: a hint read without the lock, so that
 * writers of a map whose elements are all in use or waiting for their
 * grace period don't all take the pool lock on every allocation.  A stale
 * answer costs a lock taken for nothing, or one heap element while the
 * pool just got a batch back; never correctness. */
static inline bool pool_looks_empty(struct map_htab *h)
{
	return !atomic_load_explicit(&h->freelist, memory_order_relaxed) &&
	       atomic_load_explicit(&h->pool_used, memory_order_relaxed) >= h->pool_cap;
}

static struct htab_elem *elem_alloc(struct map_htab *h, struct htab_tcache *tc)
{
	struct htab_elem *e = NULL;
	if (h->pool) {
		if (tc) {
			if (!tc->free && !pool_looks_empty(h))
				tc->free = pool_take(h, false);
			e = tc->free;
			if (e) {
				tc->free = e->link;
				return e;
			}
			/* Pool and magazine empty: take this one from the heap
			 * rather than fail or block (programs can't wait for a
			 * grace period).  Our retire batch is not submitted early:
			 * replaces in a full map would then call rcu_call once per
			 * operation (~1 us, the old behaviour); it goes at
			 * HTAB_RETIRE_BATCH as usual. */
		} else {
			if (!pool_looks_empty(h))
				e = pool_take(h, true);
			if (e)
				return e;
			map_spin_lock(&h->retire_lock);
			batch_flush(h, &h->retired);
			map_spin_unlock(&h->retire_lock);
		}
	}
	uint8_t *raw = malloc(h->pre + h->elem_size);
	e = raw ? (struct htab_elem *)(raw + h->pre) : NULL;
	if (e) {
		e->pooled = 0;
		e->owner = h;
	}
	return e;
}

static void elem_free_now(struct htab_elem *e)
{
	if (!e->pooled)
		free((uint8_t *)e - e->owner->pre);
}

static void elem_free_list(struct htab_elem *e)
{
	for (struct htab_elem *next; e; e = next) {
		next = e->link;
		elem_free_now(e);
	}
}

/* After a grace period: a batch of unlinked elements goes back to the pool
 * or the heap.  A batch of preallocated elements only goes back, as one
 * chain, without a walk: the callback runs on RCU's thread, and touching
 * each element there (as it did) moved its line to that thread's core, from
 * where the next writer to allocate it had to fetch it back (measured: a
 * 1-thread 64K-key replace cost up to 2x a 2-thread one per thread, whose
 * callbacks often ran on the core of the thread that got the elements). */
static void retire_batch_rcu(struct rcu_head *head)
{
	struct htab_elem *e = (struct htab_elem *)((char *)head - offsetof(struct htab_elem, rcu)), *next;
	struct map_htab *h = e->owner;
	struct htab_elem *pooled = NULL;
	if (!e->batch_heap) {
		pool_give(h, e);
		map_put(&h->map);
		return;
	}
	for (; e; e = next) {
		next = e->link;
		if (e->pooled) {
			e->link = pooled;
			pooled = e;
		} else {
			elem_free_now(e);
		}
	}
	if (pooled) /* one chain: a magazine takes it whole */
		pool_give(h, pooled);
	map_put(&h->map); /* the pending batch held the map */
}

/* Hands a chain of unlinked elements, nheap of them heap ones, to
 * rcu_call as one batch, which holds a map reference the caller took. */
static void retire_submit(struct htab_elem *first, uint32_t nheap)
{
	first->batch_heap = nheap;
	map_defer(&first->rcu, retire_batch_rcu);
}

/* Puts a chain of retired elements on the orphans of a map whose last
 * reference is gone, for htab_free to free directly (no reader can reach
 * them by then).  htab_all_lock held. */
static void retire_orphan(struct map_htab *h, struct htab_elem *first)
{
	struct htab_elem *last = first;
	while (last->link)
		last = last->link;
	last->link = h->orphans;
	h->orphans = first;
}

/* Hands a chain of retired elements to rcu_call, the batch holding a map
 * reference.  A map operation may run on a map whose last reference is
 * already gone: a program still in its read section keeps using an inner
 * map that was just deleted from its outer map.  map_get would then take
 * the count from 0 to 1 and the batch's map_put would queue the map's free
 * a second time; such a map's batches become orphans instead. */
static void retire_hand_over(struct map_htab *h, struct htab_elem *first, uint32_t nheap)
{
	if (map_tryget(&h->map)) {
		retire_submit(first, nheap);
		return;
	}
	pthread_mutex_lock(&htab_all_lock);
	retire_orphan(h, first);
	pthread_mutex_unlock(&htab_all_lock);
}

/* Adds e to b; true when b is full. */
static bool batch_add(struct htab_batch *b, struct htab_elem *e)
{
	e->link = b->first;
	b->first = e;
	b->nheap += !e->pooled;
	return ++b->n >= HTAB_RETIRE_BATCH;
}

/* Empties b: its chain (NULL if it held none), its heap count in *nheap. */
static struct htab_elem *batch_take(struct htab_batch *b, uint32_t *nheap)
{
	struct htab_elem *first = b->first;
	*nheap = b->nheap;
	*b = (struct htab_batch){ 0 };
	return first;
}

/* Hands batch b of map h over (the shared one under retire_lock). */
static void batch_flush(struct map_htab *h, struct htab_batch *b)
{
	uint32_t nheap;
	struct htab_elem *first = batch_take(b, &nheap);
	if (first)
		retire_hand_over(h, first, nheap);
}

/* e was unlinked (under its bucket lock): free it after a grace period.
 * Elements are batched; until its batch is handed over an element is
 * merely not reused yet, which only delays reuse. */
static void elem_retire(struct map_htab *h, struct htab_tcache *tc, struct htab_elem *e)
{
	if (h->release)
		h->release(elem_value(h, e));
	if (tc) {
		if (batch_add(&tc->retired, e))
			batch_flush(h, &tc->retired);
		return;
	}
	map_spin_lock(&h->retire_lock);
	if (batch_add(&h->retired, e))
		batch_flush(h, &h->retired);
	map_spin_unlock(&h->retire_lock);
}

/* ---- per-thread caches: the unregister flush ---- */

/*
 * RCU calls this on a thread that unregisters (explicitly or at exit)
 * while it still owns `index`: its cache in every hash map goes back.
 * htab_all_lock keeps each map from being freed meanwhile (htab_free
 * leaves the list under it before it frees anything), and no other thread
 * touches this index's caches (the index isn't released yet).  Free
 * elements return to the pool; the retire batch is submitted if the map is
 * still referenced, else (its free already queued) kept for htab_free,
 * which frees it directly: map_get on a dying map would free it twice.
 */
static void htab_thread_flush(unsigned index)
{
	if (index >= HTAB_TSLOTS)
		return;
	pthread_mutex_lock(&htab_all_lock);
	for (struct map_htab *h = htab_all; h; h = h->all_next) {
		struct htab_tcache *tc = &h->tc[index];
		if (tc->free) {
			pool_give(h, tc->free);
			tc->free = NULL;
		}
		uint32_t nheap;
		struct htab_elem *first = batch_take(&tc->retired, &nheap);
		if (!first)
			continue;
		if (map_tryget(&h->map))
			retire_submit(first, nheap);
		else
			retire_orphan(h, first);
	}
	pthread_mutex_unlock(&htab_all_lock);
}

static void htab_notifier_init(void)
{
	/* Cannot fail: maps/ registers one notifier of RCU_MAX_NOTIFIERS. */
	rcu_on_thread_unregister(htab_thread_flush);
}

/* ---- creation ---- */

/* Buckets: a power of two >= max_entries / 2, so a full map averages 1 to 2
 * elements per 3-slot bucket (few overflow buckets; see docs/maps.md). */
static uint64_t htab_nbuckets(uint32_t max_entries)
{
	uint64_t n = 1;
	while (n * 2 < max_entries)
		n <<= 1;
	return n;
}

/* LRU maps: a struct lru_node in front of each element, and spare
 * preallocated elements.  An evicted element is reused only after a grace
 * period, so a full map's inserts take spares meanwhile (then, as a plain
 * hash's inserts after deletes, heap elements). */
static bool htab_is_lru(const struct bpfvm_map_attr *attr)
{
	return attr->type == BPFVM_MAP_LRU_HASH || attr->type == BPFVM_MAP_LRU_PERCPU_HASH;
}

static uint32_t htab_pre(const struct bpfvm_map_attr *attr)
{
	return htab_is_lru(attr) ? sizeof(struct lru_node) : 0;
}

static uint64_t htab_pool_cap(const struct bpfvm_map_attr *attr)
{
	uint64_t n = attr->max_entries;
	return htab_is_lru(attr) ? n + n / 8 + 2 * HTAB_RETIRE_BATCH : n;
}

int map_htab_check_attr(const struct bpfvm_map_attr *attr, uint64_t vsize, const char **why)
{
	if (attr->map_flags & ~(BPFVM_F_NO_PREALLOC | BPFVM_F_RDONLY_PROG)) {
		*why = "hash map_flags may only hold BPF_F_NO_PREALLOC and BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if (attr->max_entries > (1u << 31)) {
		*why = "max_entries is over 2^31";
		return -E2BIG;
	}
	/* check_common() bounds elements at 32 bytes of overhead each; here
	 * the real element header and the bucket array count too. */
	uint64_t elem = htab_pre(attr) + sizeof(struct htab_elem) + ((attr->key_size + 7ull) & ~7ull) +
	                ((vsize + 7ull) & ~7ull);
	if (elem * htab_pool_cap(attr) + htab_nbuckets(attr->max_entries) * sizeof(struct htab_bucket) > MAP_MAX_BYTES) {
		*why = "the hash map would take more than bpfvm's 1 GiB per-map limit (elements and buckets)";
		return -E2BIG;
	}
	return 0;
}

static int htab_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	return map_htab_check_attr(attr, attr->value_size, why);
}

struct bpfvm_map *map_htab_alloc(const struct bpfvm_map_attr *attr, uint32_t vsize, void (*release)(void *value))
{
	struct map_htab *h = map_alloc_base(attr, sizeof(*h));
	if (!h)
		return NULL;
	uint64_t n = htab_nbuckets(attr->max_entries);
	h->mask = n - 1;
	h->kind = attr->key_size == 8 ? HTAB_K8 : attr->key_size < 8 ? HTAB_KSMALL : HTAB_KLONG;
	h->key_round = (attr->key_size + 7) & ~7u;
	h->vsize = vsize;
	h->elem_size = sizeof(struct htab_elem) + h->key_round + ((vsize + 7) & ~7u);
	h->release = release;
	h->pre = htab_pre(attr);
	h->pool_cap = (uint32_t)htab_pool_cap(attr);
	if (getrandom(&h->seed, sizeof(h->seed), 0) != sizeof(h->seed))
		h->seed = (uintptr_t)h * 0x9e3779b97f4a7c15ull;
	/* Untouched zero pages for big tables, cache-line aligned. */
	h->buckets = htab_zalloc(&h->buckets_mem, n, sizeof(struct htab_bucket));
	if (!h->buckets)
		goto fail;
	if (!(attr->map_flags & BPFVM_F_NO_PREALLOC)) {
		/* Elements are carved from the block on first use: creating a
		 * map with a huge max_entries touches no element up front. */
		h->pool = htab_zalloc(&h->pool_mem, h->pool_cap, h->pre + h->elem_size);
		if (!h->pool)
			goto fail;
	}
	h->tc = aligned_alloc(64, HTAB_TSLOTS * sizeof(struct htab_tcache));
	if (!h->tc)
		goto fail;
	memset(h->tc, 0, HTAB_TSLOTS * sizeof(struct htab_tcache));
	pthread_once(&htab_notifier_once, htab_notifier_init);
	pthread_mutex_lock(&htab_all_lock);
	h->all_next = htab_all;
	if (htab_all)
		htab_all->all_prev = h;
	htab_all = h;
	pthread_mutex_unlock(&htab_all_lock);
	return &h->map;
fail:
	if (h->pool)
		htab_zfree(&h->pool_mem);
	if (h->buckets)
		htab_zfree(&h->buckets_mem);
	free(h);
	return NULL;
}

static struct bpfvm_map *htab_alloc(const struct bpfvm_map_attr *attr)
{
	return map_htab_alloc(attr, attr->value_size, NULL);
}

/* No reader or writer is left: free every element and overflow bucket
 * directly (batches already handed to rcu_call held the map, so they
 * have run). */
static void htab_free(struct bpfvm_map *map)
{
	struct map_htab *h = (struct map_htab *)map;
	/* Off the list first: an unregistering thread's flush is either done
	 * with this map or won't see it. */
	pthread_mutex_lock(&htab_all_lock);
	if (h->all_prev)
		h->all_prev->all_next = h->all_next;
	else
		htab_all = h->all_next;
	if (h->all_next)
		h->all_next->all_prev = h->all_prev;
	pthread_mutex_unlock(&htab_all_lock);
	for (uint64_t b = 0; b <= h->mask; b++) {
		struct htab_bucket *k = &h->buckets[b], *next;
		for (bool home = true; k; k = next, home = false) {
			for (int i = 0; i < HTAB_SLOTS; i++) {
				struct htab_elem *e = atomic_load_explicit(&k->slot[i].elem, memory_order_relaxed);
				if (!e)
					continue;
				if (h->release)
					h->release(elem_value(h, e));
				elem_free_now(e);
			}
			next = atomic_load_explicit(&k->next, memory_order_relaxed);
			if (!home)
				free(k);
		}
	}
	/* Unsubmitted retired elements (their readers are gone: no program
	 * or host call holds the map); magazines hold only pooled ones. */
	elem_free_list(h->retired.first);
	elem_free_list(h->orphans);
	for (unsigned t = 0; t < HTAB_TSLOTS; t++)
		elem_free_list(h->tc[t].retired.first);
	free(h->tc);
	if (h->pool)
		htab_zfree(&h->pool_mem);
	htab_zfree(&h->buckets_mem);
	map_lru_free(h->lru);
	free(h);
}

/* ---- operations ---- */

static __attribute__((noinline)) void *htab_lookup_other(struct map_htab *h, const void *key)
{
	struct htab_elem *e = htab_find(h, key, htab_pos(h, key), NULL, NULL);
	return e ? elem_value(h, e) : NULL;
}

/* Programs and host, lock-free under the read side.  8-byte keys take a
 * leaf path with no call and no saved registers: 3x faster than the
 * general one when the table is in cache (docs/maps.md).  always_inline:
 * GCC otherwise keeps one out-of-line copy that htab_lookup jumps to, one
 * more taken branch per helper call. */
static inline __attribute__((always_inline)) void *htab_lookup_inline(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	if (__builtin_expect(h->kind != HTAB_K8, 0))
		return htab_lookup_other(h, key);
	uint64_t k;
	memcpy(&k, key, 8);
	struct htab_bucket *b = &h->buckets[mix64(k ^ h->seed) & h->mask];
	do {
		int i;
		struct htab_elem *e = bucket_match(b, k, &i);
		if (e)
			return e->data + 8;
		b = atomic_load_explicit(&b->next, memory_order_acquire);
	} while (b);
	return NULL;
}

void *map_htab_lookup(struct bpfvm_map *map, const void *key)
{
	return htab_lookup_inline(map, key);
}

/* Host lookups copy the value out.  Without a spin lock the copy is
 * inlined here: the generic one (map_value_copy_out) costs a few calls. */
static int htab_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	void *v = htab_lookup_inline(map, key);
	if (!v)
		return -ENOENT;
	if (map->spin_lock_off < 0 && map->value_size % 8 == 0) {
		const _Atomic uint64_t *s = v;
		uint8_t *d = value;
		for (uint32_t i = 0; i < map->value_size; i += 8) {
			uint64_t w = atomic_load_explicit(s++, memory_order_relaxed);
			memcpy(d + i, &w, 8);
		}
		return 0;
	}
	map_value_copy_out(map, value, v, flags);
	return 0;
}

/* Inserts or replaces key.  fill NULL: value is h->vsize bytes in the
 * stored form, and a replace publishes a new element.  fill set (per-CPU
 * maps): fill(map, dst, value, fresh) writes the stored value, into a new
 * element (fresh) or into the existing one in place, as Linux updates
 * per-CPU values in place: a new element would lose the other CPUs'
 * concurrent atomic adds.  Programs and host; writers serialize per home
 * bucket, so in-place fills of one key never interleave. */
static int htab_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags,
                       map_htab_fill_fn *fill)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_tcache *tc = htab_tc(h);
	struct htab_pos p = htab_pos(h, key);
	struct htab_bucket *b = NULL, *free_b = NULL, *last = NULL, *fresh = NULL;
	int i = 0, free_i = -1, err = 0;
	uint32_t lru_list = 0; /* LRU: the list the new element is charged to */

	map_spin_lock(&p.home->lock);
	struct htab_elem *old = htab_find(h, key, p, &b, &i);
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
	if (old && fill) {
		fill(map, elem_value(h, old), value, false);
		if (h->lru) /* as Linux's LRU per-CPU hash: an in-place update is a use */
			map_lru_mark((struct lru_node *)old - 1);
		goto out;
	}
	if (!old) {
		/* Count first so that racing inserts can't overshoot max_entries. */
		bool full = atomic_fetch_add(&h->count, 1) >= (long)map->max_entries;
		/* LRU: full is not an error, lru.c evicts an element. */
		err = h->lru ? map_lru_reserve(h->lru, p.home, full, &lru_list) : full ? -E2BIG : 0;
		if (err) {
			atomic_fetch_sub(&h->count, 1);
			goto out;
		}
		/* The first free slot of the chain (we hold its lock). */
		for (struct htab_bucket *k = p.home; k && free_i < 0;
		     k = atomic_load_explicit(&k->next, memory_order_relaxed)) {
			last = k;
			for (int j = 0; j < HTAB_SLOTS; j++)
				if (!atomic_load_explicit(&k->slot[j].elem, memory_order_relaxed)) {
					free_b = k;
					free_i = j;
					break;
				}
		}
		if (free_i < 0) {
			/* Chain full: a new overflow bucket, linked once filled. */
			fresh = aligned_alloc(64, sizeof(*fresh));
			if (!fresh) {
				atomic_fetch_sub(&h->count, 1);
				if (h->lru)
					map_lru_unreserve(h->lru, lru_list);
				err = -ENOMEM;
				goto out;
			}
			memset(fresh, 0, sizeof(*fresh));
			free_b = fresh;
			free_i = 0;
		}
	}
	struct htab_elem *e = elem_alloc(h, tc);
	if (!e) {
		if (!old)
			atomic_fetch_sub(&h->count, 1);
		if (!old && h->lru)
			map_lru_unreserve(h->lru, lru_list);
		free(fresh);
		err = -ENOMEM;
		goto out;
	}
	memcpy(e->data, key, map->key_size);
	if (fill)
		fill(map, elem_value(h, e), value, true);
	else
		memcpy(elem_value(h, e), value, h->vsize);
	if (map->spin_lock_off >= 0)
		memset(elem_value(h, e) + map->spin_lock_off, 0, 4); /* a fresh, unlocked lock */
	if (h->lru) {
		/* On the lists before readers can see it: its ref flag is reset
		 * while no lookup can set it (lru.h). */
		if (old)
			map_lru_replace(h->lru, (struct lru_node *)old - 1, (struct lru_node *)e - 1, p.home);
		else
			map_lru_push(h->lru, (struct lru_node *)e - 1, lru_list);
	}
	if (old) {
		/* Same key, same slot, same tag: release publishes e's key and
		 * value to a reader that loads the new pointer. */
		atomic_store_explicit(&b->slot[i].elem, e, memory_order_release);
		elem_retire(h, tc, old);
		goto out;
	}
	struct htab_slot *s = &free_b->slot[free_i];
	/* Tag, then element, both release (see slot_confirm). */
	atomic_store_explicit(&s->tag, p.tag, memory_order_release);
	atomic_store_explicit(&s->elem, e, memory_order_release);
	if (fresh) /* release: a reader that follows the link sees the slot */
		atomic_store_explicit(&last->next, fresh, memory_order_release);
out:
	map_spin_unlock(&p.home->lock);
	return err;
}

int map_htab_update_raw(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return htab_update(map, key, value, flags, NULL);
}

int map_htab_update_fill(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags,
                         map_htab_fill_fn *fill)
{
	return htab_update(map, key, value, flags, fill);
}

/* Deletes key and, with copy set, first copies its value out through the
 * map's own lookup_copy (per-CPU layout, BPF_F_LOCK): under the home
 * bucket's lock no update, delete or eviction of the key can come between
 * the copy and the unlink. */
static int htab_delete(struct bpfvm_map *map, const void *key, void *copy, uint64_t flags)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_pos p = htab_pos(h, key);
	struct htab_bucket *b;
	int i, err = 0;

	map_spin_lock(&p.home->lock);
	struct htab_elem *e = htab_find(h, key, p, &b, &i);
	if (!e)
		err = -ENOENT;
	else if (copy)
		err = map->ops->lookup_copy(map, key, copy, flags);
	if (!err) {
		/* Readers standing on e keep using it until their section
		 * ends; the slot's tag stays until the slot is reused. */
		atomic_store_explicit(&b->slot[i].elem, NULL, memory_order_release);
		atomic_fetch_sub(&h->count, 1);
		if (h->lru)
			map_lru_remove(h->lru, (struct lru_node *)e - 1);
		elem_retire(h, htab_tc(h), e);
	}
	map_spin_unlock(&p.home->lock);
	return err;
}

int map_htab_delete(struct bpfvm_map *map, const void *key)
{
	return htab_delete(map, key, NULL, 0);
}

int map_htab_lookup_and_delete(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	return htab_delete(map, key, value, flags);
}

/* The first element at or after slot i of bucket b (a bucket of the chain
 * of home bucket `home`), continuing through the following chains. */
static struct htab_elem *first_from(struct map_htab *h, uint64_t home, struct htab_bucket *b, int i)
{
	for (;;) {
		for (; b; b = atomic_load_explicit(&b->next, memory_order_acquire), i = 0)
			for (; i < HTAB_SLOTS; i++) {
				struct htab_elem *e = atomic_load_explicit(&b->slot[i].elem, memory_order_acquire);
				if (e)
					return e;
			}
		if (++home > h->mask)
			return NULL;
		b = &h->buckets[home];
	}
}

/* Under the read side.  Order: home bucket, then chain, then slot.  A key
 * that is gone (deleted concurrently) restarts from the first key, as
 * Linux's htab_map_get_next_key. */
int map_htab_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_elem *n = NULL;
	if (key) {
		struct htab_pos p = htab_pos(h, key);
		struct htab_bucket *b;
		int i;
		if (htab_find(h, key, p, &b, &i)) {
			n = first_from(h, (uint64_t)(p.home - h->buckets), b, i + 1);
			if (!n)
				return -ENOENT;
		}
	}
	if (!n)
		n = first_from(h, 0, &h->buckets[0], 0);
	if (!n)
		return -ENOENT;
	memcpy(next_key, n->data, map->key_size);
	return 0;
}

long map_htab_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	struct map_htab *h = (struct map_htab *)map;
	long n = 0;
	for (uint64_t home = 0; home <= h->mask; home++)
		for (struct htab_bucket *b = &h->buckets[home]; b;
		     b = atomic_load_explicit(&b->next, memory_order_acquire))
			for (int i = 0; i < HTAB_SLOTS; i++) {
				struct htab_elem *e = atomic_load_explicit(&b->slot[i].elem, memory_order_acquire);
				if (!e)
					continue;
				n++;
				if (cb(map, e->data, elem_value(h, e), ctx))
					return n;
			}
	return n;
}

void *map_htab_lookup_raw(struct bpfvm_map *map, const void *key)
{
	return map_htab_lookup(map, key);
}

void map_htab_free(struct bpfvm_map *map)
{
	htab_free(map);
}

/* Test hook: make every key of an empty map collide in bucket 0, so the
 * tests reach overflow chains with a handful of keys. */
int map_htab_test_collide(struct bpfvm_map *map)
{
	struct map_htab *h = (struct map_htab *)map;
	if ((map->type != BPFVM_MAP_HASH && map->type != BPFVM_MAP_PERCPU_HASH && map->type != BPFVM_MAP_LRU_HASH &&
	     map->type != BPFVM_MAP_LRU_PERCPU_HASH) || atomic_load(&h->count))
		return -EINVAL;
	h->mask = 0; /* the other buckets stay unused until the map is freed */
	return 0;
}

/* Test hook (map_impl.h): marks one pooled element seen; false if it
 * is not an element of the block or was seen already. */
static bool census_mark(struct map_htab *h, uint8_t *seen, struct htab_elem *e)
{
	if (!e->pooled)
		return true;
	size_t stride = h->pre + h->elem_size, off = (size_t)((uint8_t *)e - h->pre - h->pool);
	if ((uint8_t *)e < h->pool || off % stride || off / stride >= atomic_load(&h->pool_used))
		return false;
	size_t i = off / stride;
	if (seen[i / 8] & (1u << (i % 8)))
		return false;
	seen[i / 8] |= (uint8_t)(1u << (i % 8));
	return true;
}

static int census_list(struct map_htab *h, uint8_t *seen, struct htab_elem *e, uint32_t *n, uint32_t *heap,
                       bool chains)
{
	for (; e; e = chains ? chain_next(e) : NULL)
		for (struct htab_elem *k = e; k; k = k->link) {
			if (!census_mark(h, seen, k))
				return -EUCLEAN;
			if (k->pooled)
				++*n;
			else
				++*heap;
		}
	return 0;
}

int map_htab_test_census(struct bpfvm_map *map, struct map_htab_census *c)
{
	struct map_htab *h = (struct map_htab *)map;
	uint32_t used = atomic_load(&h->pool_used);
	uint8_t *seen = calloc(used / 8 + 1, 1);
	int err = 0;
	if (!seen)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->count = atomic_load(&h->count);
	c->carved = used;
	for (uint64_t home = 0; home <= h->mask; home++)
		for (struct htab_bucket *b = &h->buckets[home]; b; b = atomic_load(&b->next))
			for (int i = 0; i < HTAB_SLOTS; i++) {
				struct htab_elem *e = atomic_load(&b->slot[i].elem);
				if (!e)
					continue;
				if (!census_mark(h, seen, e))
					err = -EUCLEAN;
				if (e->pooled) {
					c->linked++;
				} else {
					c->linked_heap++;
					c->heap++;
				}
			}
	if (!err)
		err = census_list(h, seen, atomic_load(&h->freelist), &c->freelist, &c->heap, true);
	for (unsigned t = 0; t < HTAB_TSLOTS && !err; t++) {
		err = census_list(h, seen, h->tc[t].free, &c->magazines, &c->heap, false);
		if (!err)
			err = census_list(h, seen, h->tc[t].retired.first, &c->tretired, &c->heap, false);
	}
	if (!err)
		err = census_list(h, seen, h->retired.first, &c->shared_retired, &c->heap, false);
	if (!err)
		err = census_list(h, seen, h->orphans, &c->orphans, &c->heap, false);
	free(seen);
	return err;
}

/* As Linux's bpf_map_meta_equal: a hash lookup doesn't depend on
 * max_entries, so it isn't compared. */
static bool htab_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return t->type == o->type && t->key_size == o->key_size && t->value_size == o->value_size &&
	       t->map_flags == o->map_flags && t->spin_lock_off == o->spin_lock_off;
}

/* ---- LRU hash (lru.c) ---- */

/* See lru.h.  Called with the LRU lock held, which a bucket-lock holder
 * may be waiting for: never wait for the bucket lock here. */
int map_htab_evict(struct bpfvm_map *map, struct lru_node *n, const void *held)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_elem *e = (struct htab_elem *)(n + 1);
	/* e is on the LRU lists, so linked, so its key is stable. */
	struct htab_pos p = htab_pos(h, e->data);
	int err = -ENOENT;
	if (p.home != held) {
		if (atomic_load_explicit(&p.home->lock, memory_order_relaxed) ||
		    atomic_exchange_explicit(&p.home->lock, 1, memory_order_acquire))
			return -EBUSY;
	}
	for (struct htab_bucket *b = p.home; b; b = atomic_load_explicit(&b->next, memory_order_relaxed))
		for (int i = 0; i < HTAB_SLOTS; i++)
			if (atomic_load_explicit(&b->slot[i].elem, memory_order_relaxed) == e) {
				/* As a delete: readers on e keep it for their section. */
				atomic_store_explicit(&b->slot[i].elem, NULL, memory_order_release);
				atomic_fetch_sub(&h->count, 1);
				elem_retire(h, htab_tc(h), e);
				err = 0;
				goto out;
			}
out:
	if (p.home != held)
		map_spin_unlock(&p.home->lock);
	return err;
}

struct bpfvm_map *map_htab_alloc_lru(const struct bpfvm_map_attr *attr, uint32_t vsize)
{
	struct bpfvm_map *map = map_htab_alloc(attr, vsize, NULL);
	struct map_htab *h = (struct map_htab *)map;
	if (map && !(h->lru = map_lru_new(map))) {
		htab_free(map);
		return NULL;
	}
	return map;
}

/* A program's lookup marks the element it finds (host lookups don't, as
 * Linux's htab_lru_map_lookup_elem_sys). */
void *map_htab_lookup_lru(struct bpfvm_map *map, const void *key)
{
	void *v = htab_lookup_inline(map, key);
	if (v)
		map_lru_mark((struct lru_node *)((uint8_t *)v - ((struct map_htab *)map)->key_round -
		                                 offsetof(struct htab_elem, data)) - 1);
	return v;
}

int map_htab_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	return htab_lookup_copy(map, key, value, flags);
}

bool map_htab_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return htab_meta_equal(t, o);
}

const struct map_ops map_hash_ops = {
	.check_attr = htab_check_attr,
	.alloc = htab_alloc,
	.free = htab_free,
	.lookup = map_htab_lookup,
	.update = map_htab_update_raw,
	.delete = map_htab_delete,
	.lookup_and_delete = map_htab_lookup_and_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = htab_lookup_copy,
	.for_each = map_htab_for_each,
	.meta_equal = htab_meta_equal,
};
