/*
 * BPF_MAP_TYPE_HASH: a bucketised table of cache-line buckets, each holding
 * five {tag, element number} slots and a control word (the writer lock and
 * the overflow link).
 *
 * Layout.  A bucket is one 64-byte line: five 8-byte tags, five 4-byte
 * element references (element number + 1, 0: free slot) and a 4-byte
 * control word.  Elements live in numbered blocks (struct htab_segs), so a
 * 4-byte number names one and the value's address is arithmetic on it.
 * For keys of up to 8 bytes the slot's tag *is* the key (zero-extended),
 * so a lookup hit reads one line and never touches the element.  For
 * longer keys the tag is the 64-bit hash and a tag match is confirmed
 * against the key stored in the element.  The bucket count need not be a
 * power of two (about max_entries / 3: 60% of the slots of a full map);
 * the hash's high bits pick the home bucket by multiply-high.  A bucket
 * that fills links an overflow bucket, also numbered, from a growing block
 * array; overflow buckets stay linked until the map is freed (readers may
 * always follow a link).  Elements never move between slots: a delete
 * empties a slot, an insert fills the first empty slot of its chain, a
 * replace swaps the element reference of the key's slot.  No rehashing.
 *
 * Elements.  Every element, preallocated or not, comes from the map's
 * element blocks: the first holds max_entries elements (plus LRU spares)
 * in preallocated maps and none with BPF_F_NO_PREALLOC; growth blocks are
 * added when every element is linked or waiting for its grace period, and
 * kept, with their elements recycled through the pool, until the map is
 * freed.
 *
 * Concurrency.  Readers (programs and host calls, under the RCU read side)
 * take no lock and do no atomic read-modify-write.  Writers take the home
 * bucket's lock, which guards its whole overflow chain.  An element leaves
 * the table only through a retire batch (elem_retire below) and returns to
 * the pool only after a grace period, so an element number a reader loaded
 * names the same element, with the same key and value, until its read
 * section ends.  docs/maps.md has the memory-ordering argument for the tag
 * check.
 *
 * Writer scaling.  Apart from its bucket lock, a writer touches only its
 * own thread's cache in the map (struct htab_tcache, indexed by
 * rcu_thread_index()): a magazine of free elements, refilled from the
 * shared pool a chain at a time, and its own retire batch.  The pool lock
 * is then taken once per returned batch (or HTAB_MAG carved elements) and
 * rcu_call once per HTAB_RETIRE_BATCH retirements, instead of two shared
 * locks per operation.  max_entries stays one exact atomic count on its
 * own cache line (docs/maps.md: measured, it was not what limited two
 * writers).
 */
#include <sys/mman.h>
#include <sys/random.h>

/* 8-byte key lookups use AVX-512 where the CPU has it (k8_hit_avx512),
 * except under ThreadSanitizer, which doesn't see the acquire load inside
 * the inline assembly and would report the value reads that follow it as
 * racing with the writer that filled the element. */
#define HTAB_AVX512 0
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#undef HTAB_AVX512
#define HTAB_AVX512 1
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#undef HTAB_AVX512
#define HTAB_AVX512 0
#endif
#endif
#endif

#include "lru.h"
#include "map_impl.h"

#define HTAB_SLOTS 5
#define HTAB_RETIRE_BATCH 64 /* elements per rcu_call */
#define HTAB_MAG 32          /* elements a thread's magazine takes from the pool at once */
#define HTAB_TSLOTS 64       /* threads (by rcu_thread_index) with their own cache in a map */
#define HTAB_NSEG 34         /* block pointers of a struct htab_segs: the first and 33 growth blocks */
#define HTAB_MAX_ELEMS (UINT32_MAX - 1u) /* element numbers + 1 fit a slot's 32-bit reference */
#define HTAB_MAX_OVF (UINT32_MAX >> 1)   /* overflow bucket numbers + 1 fit 31 bits of the control word */

struct htab_elem {
	struct htab_elem *link;     /* free list / retire batch, never seen by readers */
	struct map_htab *owner;
	struct rcu_head rcu;        /* used by the first element of a retire batch */
	uint32_t ref;               /* element number + 1: what a slot holding it stores */
	uint32_t unused;
	uint8_t data[] __attribute__((aligned(8))); /* key, then the value at key_round */
};

/*
 * One cache line.  Slot i is {tag[i], ref[i]}:
 *   tag: keys <= 8 bytes: the key, zero-extended; longer keys: the hash.
 *        Written only while ref is 0 (slot free), under the home lock.
 *   ref: element number + 1; 0: free.
 * ctl: bit 0, in home buckets: the writer lock guarding the chain;
 *      bits 1-31: overflow bucket number + 1, 0: end of the chain.
 *      Only the lock holder changes bits 1-31.
 */
struct htab_bucket {
	_Atomic uint64_t tag[HTAB_SLOTS];
	_Atomic uint32_t ref[HTAB_SLOTS];
	_Atomic uint32_t ctl;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct htab_bucket) == 64, "a bucket is one cache line");

enum htab_kind { HTAB_K8, HTAB_KSMALL, HTAB_KLONG };

/* One thread's cache in one map, touched only by the thread whose
 * rcu_thread_index() it is (and by htab_free and the thread's unregister
 * flush, see htab_thread_flush).  Own cache line: two writers never share
 * one. */
struct htab_tcache {
	struct htab_elem *free;     /* magazine: free pooled elements (one pool chain) */
	struct htab_elem *retired;  /* unlinked, waiting for their batch's rcu_call */
	uint32_t nretired;
} __attribute__((aligned(64)));

/* A zeroed block: calloc, or for 2 MiB and more an mmap aligned to 2 MiB
 * with transparent huge pages asked for (the machine's THP mode is often
 * "madvise").  Random lookups in a 16-32 MiB bucket array miss the TLB on
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

/*
 * Numbered items (elements, overflow buckets) in blocks that never move:
 * items 0 .. first-1 in block 0, then growth block j (j = 0, 1, ...) holds
 * (1 << gshift) << j items.  Blocks are added by the owner of the items'
 * allocation lock and freed with the map, so a reader holding a number
 * (loaded with acquire from a slot or link the number was published in
 * after its block) reaches the item without a lock.
 */
struct htab_segs {
	uint8_t *_Atomic seg[HTAB_NSEG]; /* seg[0]: block 0; seg[1 + j]: growth block j */
	struct htab_mem mem[HTAB_NSEG];
	size_t stride;
	uint32_t first, gshift;
};

/* Item n (n >= first): its growth block and place in it. */
static inline uint8_t *segs_grown(const struct htab_segs *s, uint64_t n)
{
	uint64_t m = n - s->first, q = (m >> s->gshift) + 1;
	unsigned j = 63 - (unsigned)__builtin_clzll(q);
	uint64_t base = ((1ull << j) - 1) << s->gshift;
	return atomic_load_explicit(&s->seg[1 + j], memory_order_relaxed) + (m - base) * s->stride;
}

static inline uint8_t *segs_at(const struct htab_segs *s, uint64_t n)
{
	if (n < s->first)
		return atomic_load_explicit(&s->seg[0], memory_order_relaxed) + n * s->stride;
	return segs_grown(s, n);
}

/* Makes item n addressable, adding its growth block if needed; called
 * with the items' allocation lock held.  False: out of memory. */
static bool segs_ensure(struct htab_segs *s, uint64_t n)
{
	if (n < s->first)
		return true;
	uint64_t q = ((n - s->first) >> s->gshift) + 1;
	unsigned j = 63 - (unsigned)__builtin_clzll(q);
	if (1 + j >= HTAB_NSEG)
		return false;
	if (atomic_load_explicit(&s->seg[1 + j], memory_order_relaxed))
		return true;
	uint8_t *b = htab_zalloc(&s->mem[1 + j], (size_t)1 << (s->gshift + j), s->stride);
	if (!b)
		return false;
	/* Relaxed: the number of an item in it reaches other threads only
	 * through the allocation lock's release or a later release store. */
	atomic_store_explicit(&s->seg[1 + j], b, memory_order_relaxed);
	return true;
}

static bool segs_init(struct htab_segs *s, size_t stride, uint32_t first, uint64_t grow)
{
	s->stride = stride;
	s->first = first;
	s->gshift = 0;
	while ((1ull << s->gshift) < grow)
		s->gshift++;
	if (!first)
		return true;
	uint8_t *b = htab_zalloc(&s->mem[0], first, stride);
	atomic_store_explicit(&s->seg[0], b, memory_order_relaxed);
	return b != NULL;
}

static void segs_free(struct htab_segs *s)
{
	for (unsigned j = 0; j < HTAB_NSEG; j++)
		if (atomic_load_explicit(&s->seg[j], memory_order_relaxed))
			htab_zfree(&s->mem[j]);
}

struct map_htab {
	struct bpfvm_map map;
	/* What every lookup reads, together on one line. */
	struct htab_bucket *buckets;
	uint64_t nbuckets;          /* home buckets */
	uint64_t seed;
	uintptr_t vbase;            /* value of element reference r <= efirst: vbase + r * estride */
	size_t estride;             /* bytes per element: LRU node + header + key + value */
	uint32_t efirst;            /* elements in the first block (elems.first) */
	bool avx512;                /* 8-byte keys and the CPU has AVX-512: k8_hit_avx512 */
	enum htab_kind kind;
	uint32_t key_round;         /* key_size rounded up to 8 */
	uint32_t vsize;             /* bytes stored per value (8 for hash-of-maps) */
	struct htab_segs elems;     /* every element; item n is element reference n + 1 */
	struct htab_segs ovf;       /* overflow buckets; item n is link n + 1 */
	struct htab_mem buckets_mem;
	size_t elem_size;           /* header + key + value, without the LRU node */
	void (*release)(void *value); /* an element's value leaves the map (hash-of-maps) */
	/* LRU hash: eviction lists (lru.c), and the struct lru_node in front
	 * of every element (`pre` bytes); NULL and 0 for other hash maps. */
	struct map_lru *lru;
	uint32_t pre;
	/* Per-thread caches, HTAB_TSLOTS of them; threads without one (index
	 * past the array, or not registered) use the locked shared state
	 * below directly. */
	struct htab_tcache *tc;
	/* On htab_all (all hash maps, for the unregister flush), under
	 * htab_all_lock; `orphans`: retired elements of exited threads' caches
	 * found when the map was already dying, back with the map's free. */
	struct map_htab *all_prev, *all_next;
	struct htab_elem *orphans;
	/* Elements linked or being inserted; max_entries is enforced on it.
	 * Its own cache line: inserts and deletes write it, and in the line
	 * of mask and seed (where it was) every write invalidated the hash
	 * parameters every other thread's next operation reads. */
	_Atomic long count __attribute__((aligned(64)));
	/* The free list, under pool_lock.  Own cache line: the pool is
	 * shared by every writer. */
	_Atomic uint32_t pool_lock __attribute__((aligned(64)));
	/* Written under pool_lock; atomics only for the census hook, which
	 * may run while a grace-period callback returns a batch. */
	_Atomic uint32_t pool_used; /* elements carved from the blocks so far */
	struct htab_elem *_Atomic freelist;
	/* Overflow buckets handed out so far, under ovf_lock (rarely taken:
	 * overflow buckets are reused, never unlinked). */
	_Atomic uint32_t ovf_lock;
	uint32_t ovf_used;
	/* Unlinked elements of threads without a cache, waiting to be handed
	 * to rcu_call as one batch, under retire_lock: one rcu_call (a mutex
	 * and a wake-up, ~1 us) per HTAB_RETIRE_BATCH deletes. */
	_Atomic uint32_t retire_lock __attribute__((aligned(64)));
	uint32_t nretired;
	struct htab_elem *retired;
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

/* ---- numbered elements and buckets ---- */

/* The element whose reference is r (r != 0). */
static inline struct htab_elem *elem_at(const struct map_htab *h, uint32_t r)
{
	return (struct htab_elem *)(segs_at(&h->elems, r - 1) + h->pre);
}

static inline void *elem_value(const struct map_htab *h, struct htab_elem *e)
{
	return e->data + h->key_round;
}

static __attribute__((noinline)) void *value_grown(const struct map_htab *h, uint32_t r)
{
	return elem_value(h, (struct htab_elem *)(segs_grown(&h->elems, r - 1) + h->pre));
}

/* The value of the element whose reference is r, from r alone: a hit
 * never reads the element's line.  Elements of growth blocks (none in a
 * preallocated map until its pool ran dry) take a call. */
static inline void *value_at(const struct map_htab *h, uint32_t r)
{
	if (__builtin_expect(r <= h->efirst, 1))
		return (void *)(h->vbase + (uintptr_t)r * h->estride);
	return value_grown(h, r);
}

/* The next bucket of a chain, or NULL.  Acquire pairs with the release
 * that linked the overflow bucket: its slots are visible. */
static __attribute__((noinline)) struct htab_bucket *ovf_at(const struct map_htab *h, uint32_t c)
{
	return (struct htab_bucket *)segs_grown(&h->ovf, c - 1);
}

static inline struct htab_bucket *bucket_next(const struct map_htab *h, struct htab_bucket *b)
{
	uint32_t c = atomic_load_explicit(&b->ctl, memory_order_acquire) >> 1;
	/* Out of line: the lookup's common path keeps no saved register. */
	return c ? ovf_at(h, c) : NULL;
}

/* The home bucket's writer lock: bit 0 of ctl, test-and-test-and-set
 * (a locked bts; waiters spin on plain loads). */
static inline void bucket_lock(struct htab_bucket *b)
{
	unsigned spins = 0;
	while (atomic_fetch_or_explicit(&b->ctl, 1, memory_order_acquire) & 1) {
		while (atomic_load_explicit(&b->ctl, memory_order_relaxed) & 1) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield(); /* holder preempted: give it the CPU */
		}
	}
}

static inline bool bucket_trylock(struct htab_bucket *b)
{
	return !(atomic_load_explicit(&b->ctl, memory_order_relaxed) & 1) &&
	       !(atomic_fetch_or_explicit(&b->ctl, 1, memory_order_acquire) & 1);
}

/* A plain store: only the holder changes bits 1-31, and a waiter's
 * fetch_or that lands between our load and store found the bit set and
 * wrote the same value back. */
static inline void bucket_unlock(struct htab_bucket *b)
{
	uint32_t c = atomic_load_explicit(&b->ctl, memory_order_relaxed);
	atomic_store_explicit(&b->ctl, c & ~1u, memory_order_release);
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

/* Keys of up to 8 bytes (as one word): the word's high half folded into
 * its low half, then the 128-bit product with a constant, halves folded.
 * Seven instructions where mix64 takes eleven.  Without the first fold,
 * keys that differ only in their high bits filled up to 50% more overflow
 * buckets than random keys with some seeds (the product's low half only
 * changes above the lowest changing key bit). */
static inline uint64_t hash_word(const struct map_htab *h, uint64_t w)
{
	w ^= h->seed;
	w ^= w >> 32;
	unsigned __int128 p = (unsigned __int128)w * 0x9e3779b97f4a7c15ull;
	return (uint64_t)(p >> 64) ^ (uint64_t)p;
}

/* The home bucket of a hash: its high bits scaled to the bucket count
 * (multiply-high: one multiply, any count). */
static inline struct htab_bucket *home_of(const struct map_htab *h, uint64_t hash)
{
	return &h->buckets[(uint64_t)(((unsigned __int128)hash * h->nbuckets) >> 64)];
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
		hash = hash_word(h, tag);
	} else if (h->kind == HTAB_KSMALL) {
		tag = key_word(key, h->map.key_size);
		hash = hash_word(h, tag);
	} else {
		tag = hash = hash_long(h, key);
	}
	return (struct htab_pos){ tag, home_of(h, hash) };
}

/*
 * Under the read side: the reference in slot i of b if it holds the key
 * whose tag is `tag` (keys <= 8 bytes), else 0.
 *
 * The tag and the reference are two words, so they are read as r1 = ref,
 * t = tag, r2 = ref (each an acquire load: plain moves on x86-64).  A
 * writer stores a tag only into a free slot (ref 0) and publishes the
 * reference after it with a release store.  If r1 == r2 != 0 the slot
 * held element r1 at both loads, and since r1 can't be returned to the
 * pool and reused while we are in a read section it held r1 throughout,
 * so no tag store happened in between: t is r1's key.  (A newer tag read
 * by the acquire load of t would carry the writer's earlier "ref = 0"
 * store with it, and r2 could then not read r1.)
 */
static inline uint32_t slot_confirm(struct htab_bucket *b, unsigned i, uint64_t tag)
{
	uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_acquire);
	while (r) {
		if (atomic_load_explicit(&b->tag[i], memory_order_acquire) != tag)
			return 0;
		uint32_t r2 = atomic_load_explicit(&b->ref[i], memory_order_acquire);
		if (r2 == r)
			return r;
		r = r2; /* replaced or deleted meanwhile: look again */
	}
	return 0;
}

/* Bit i set: slot i's tag is `tag` (relaxed loads: a filter).  Compared
 * without a branch: a mispredicted "which slot" branch that waits on a
 * cache miss throws away the next lookups' misses the CPU had started,
 * and serialised misses cost ~2x at 65,536 keys (docs/maps.md).  Several
 * matches can only be stale tags of free slots. */
static inline unsigned bucket_tags(struct htab_bucket *b, uint64_t tag)
{
	/* Written out: GCC keeps a loop of five as a loop, with a shift by
	 * the counter, twice the instructions waiting on the bucket's miss. */
	_Static_assert(HTAB_SLOTS == 5, "bucket_tags compares five tags");
	return (unsigned)(atomic_load_explicit(&b->tag[0], memory_order_relaxed) == tag) |
	       (unsigned)(atomic_load_explicit(&b->tag[1], memory_order_relaxed) == tag) << 1 |
	       (unsigned)(atomic_load_explicit(&b->tag[2], memory_order_relaxed) == tag) << 2 |
	       (unsigned)(atomic_load_explicit(&b->tag[3], memory_order_relaxed) == tag) << 3 |
	       (unsigned)(atomic_load_explicit(&b->tag[4], memory_order_relaxed) == tag) << 4;
}

/* The reference in bucket b holding the key whose tag is `tag` (keys <= 8
 * bytes), or 0. */
static inline uint32_t bucket_match(struct htab_bucket *b, uint64_t tag, unsigned *slot)
{
	for (unsigned m = bucket_tags(b, tag); m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		uint32_t r = slot_confirm(b, i, tag);
		if (r) {
			*slot = i;
			return r;
		}
	}
	return 0;
}

/* Under the read side: the element holding key, or NULL; with `where`
 * non-NULL, also its bucket and slot index. */
static inline struct htab_elem *htab_find(struct map_htab *h, const void *key, struct htab_pos p,
                                          struct htab_bucket **where, unsigned *slot)
{
	struct htab_bucket *b = p.home;
	unsigned i;
	if (h->kind != HTAB_KLONG) {
		do {
			uint32_t r = bucket_match(b, p.tag, &i);
			if (r) {
				if (where) {
					*where = b;
					*slot = i;
				}
				return elem_at(h, r);
			}
		} while ((b = bucket_next(h, b)));
		return NULL;
	}
	do {
		for (unsigned m = bucket_tags(b, p.tag); m; m &= m - 1) {
			i = (unsigned)__builtin_ctz(m);
			/* The element's key never changes while it is reachable:
			 * a tag that is stale only costs a key compare. */
			uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_acquire);
			if (!r)
				continue;
			struct htab_elem *e = elem_at(h, r);
			if (key_eq_long(e->data, key, h->map.key_size)) {
				if (where) {
					*where = b;
					*slot = i;
				}
				return e;
			}
		}
	} while ((b = bucket_next(h, b)));
	return NULL;
}

/* ---- elements ---- */

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

/* Takes free elements: with `one`, a single element, else a whole chain
 * of the free list or, that empty, up to HTAB_MAG elements carved from
 * the blocks (the first block, then growth blocks, added here as needed:
 * a full map's replaces need elements while the replaced ones wait for
 * their grace period).  Returns a NULL-terminated chain (through link),
 * NULL when out of memory or element numbers. */
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
	for (uint32_t n = one ? 1 : HTAB_MAG; k < n && used < HTAB_MAX_ELEMS; k++, used++) {
		/* Carve lazily: creating a map with a huge max_entries must
		 * not touch every element up front. */
		if (!segs_ensure(&h->elems, used))
			break;
		e = (struct htab_elem *)(segs_at(&h->elems, used) + h->pre);
		e->ref = used + 1;
		e->owner = h;
		*tail = e;
		tail = &e->link;
	}
	atomic_store_explicit(&h->pool_used, used, memory_order_relaxed);
	map_spin_unlock(&h->pool_lock);
	*tail = NULL;
	return first;
}

/* Pushes a NULL-terminated chain of free elements on the pool. */
static void pool_give(struct map_htab *h, struct htab_elem *first)
{
	map_spin_lock(&h->pool_lock);
	struct htab_elem *top = atomic_load_explicit(&h->freelist, memory_order_relaxed);
	first->rcu.next = top ? &top->rcu : NULL;
	atomic_store_explicit(&h->freelist, first, memory_order_relaxed);
	map_spin_unlock(&h->pool_lock);
}

/* A free element for an insert or replace, or NULL (out of memory).
 * Programs can't wait for a grace period, so when every element is linked
 * or retired the pool grows; our retire batch is not submitted early
 * (replaces in a full map would then call rcu_call once per operation,
 * ~1 us): it goes at HTAB_RETIRE_BATCH as usual. */
static struct htab_elem *elem_alloc(struct map_htab *h, struct htab_tcache *tc)
{
	if (!tc)
		return pool_take(h, true);
	if (!tc->free)
		tc->free = pool_take(h, false);
	struct htab_elem *e = tc->free;
	if (e)
		tc->free = e->link;
	return e;
}

/* After a grace period: a batch of unlinked elements goes back to the
 * pool as one chain, without a walk: the callback runs on RCU's thread,
 * and touching each element there (as it did) moved its line to that
 * thread's core, from where the next writer to allocate it had to fetch
 * it back (measured: a 1-thread 64K-key replace cost up to 2x a 2-thread
 * one per thread, whose callbacks often ran on the core of the thread
 * that got the elements). */
static void retire_batch_rcu(struct rcu_head *head)
{
	struct htab_elem *e = (struct htab_elem *)((char *)head - offsetof(struct htab_elem, rcu));
	struct map_htab *h = e->owner;
	pool_give(h, e);
	map_put(&h->map); /* the pending batch held the map */
}

/* Puts a chain of retired elements on the orphans of a map whose last
 * reference is gone (they go with the map's blocks; no reader can reach
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
static void retire_hand_over(struct map_htab *h, struct htab_elem *first)
{
	if (map_tryget(&h->map)) {
		map_defer(&first->rcu, retire_batch_rcu);
		return;
	}
	pthread_mutex_lock(&htab_all_lock);
	retire_orphan(h, first);
	pthread_mutex_unlock(&htab_all_lock);
}

/* Hands the shared pending retired elements over.  retire_lock held. */
static void retire_flush_locked(struct map_htab *h)
{
	struct htab_elem *first = h->retired;
	if (!first)
		return;
	h->retired = NULL;
	h->nretired = 0;
	retire_hand_over(h, first);
}

/* The same for this thread's batch. */
static void tc_retire_flush(struct map_htab *h, struct htab_tcache *tc)
{
	struct htab_elem *first = tc->retired;
	if (!first)
		return;
	tc->retired = NULL;
	tc->nretired = 0;
	retire_hand_over(h, first);
}

/* e was unlinked (under its bucket lock): reuse it after a grace period.
 * Elements are batched; until its batch is handed over an element is
 * merely not reused yet, which only delays reuse. */
static void elem_retire(struct map_htab *h, struct htab_tcache *tc, struct htab_elem *e)
{
	if (h->release)
		h->release(elem_value(h, e));
	if (tc) {
		e->link = tc->retired;
		tc->retired = e;
		if (++tc->nretired >= HTAB_RETIRE_BATCH)
			tc_retire_flush(h, tc);
		return;
	}
	map_spin_lock(&h->retire_lock);
	e->link = h->retired;
	h->retired = e;
	if (++h->nretired >= HTAB_RETIRE_BATCH)
		retire_flush_locked(h);
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
 * still referenced, else (its free already queued) left to the orphans:
 * map_get on a dying map would free it twice.
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
		struct htab_elem *first = tc->retired;
		if (!first)
			continue;
		tc->retired = NULL;
		tc->nretired = 0;
		if (map_tryget(&h->map))
			map_defer(&first->rcu, retire_batch_rcu);
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

/* Home buckets: about max_entries / 3, so a full map fills 60% of the
 * five slots of its buckets and keeps about 4.5% of its elements in
 * overflow buckets (Poisson tail, docs/maps.md); a 1M-entry map's buckets
 * take 21 MiB.  At max_entries / 4 (80%, 16 MiB) 10% of a full map's
 * keys were in overflow buckets, and their lookups' second miss and
 * mispredicted branch made 1M-key lookups ~10% and 65,536-key lookups
 * ~20% slower; the smaller array didn't help. */
static uint64_t htab_nbuckets(uint32_t max_entries)
{
	return ((uint64_t)max_entries + 2) / 3;
}

/* LRU maps: a struct lru_node in front of each element, and spare
 * preallocated elements.  An evicted element is reused only after a grace
 * period, so a full map's inserts take spares meanwhile (then, as a plain
 * hash's inserts after deletes, elements of growth blocks). */
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

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

struct bpfvm_map *map_htab_alloc(const struct bpfvm_map_attr *attr, uint32_t vsize, void (*release)(void *value))
{
	struct map_htab *h = map_alloc_base(attr, sizeof(*h));
	if (!h)
		return NULL;
	uint64_t n = htab_nbuckets(attr->max_entries);
	h->nbuckets = n;
	h->kind = attr->key_size == 8 ? HTAB_K8 : attr->key_size < 8 ? HTAB_KSMALL : HTAB_KLONG;
#if HTAB_AVX512
	/* k8_hit_avx512 uses 512-bit (F) and 256-bit EVEX (VL) forms.
	 * BPFVM_NO_AVX512 (tests): the scalar path on any CPU. */
	h->avx512 = h->kind == HTAB_K8 && getenv("BPFVM_NO_AVX512") == NULL && __builtin_cpu_supports("avx512f") &&
	            __builtin_cpu_supports("avx512vl");
#endif
	h->key_round = (attr->key_size + 7) & ~7u;
	h->vsize = vsize;
	h->elem_size = sizeof(struct htab_elem) + h->key_round + ((vsize + 7) & ~7u);
	h->release = release;
	h->pre = htab_pre(attr);
	h->estride = h->pre + h->elem_size;
	if (getrandom(&h->seed, sizeof(h->seed), 0) != sizeof(h->seed))
		h->seed = (uintptr_t)h * 0x9e3779b97f4a7c15ull;
	/* Untouched zero pages for big tables, cache-line aligned. */
	h->buckets = htab_zalloc(&h->buckets_mem, n, sizeof(struct htab_bucket));
	if (!h->buckets)
		goto fail;
	/* Elements: preallocated maps carve the first block lazily:
	 * max_entries, and spares (LRU's, or as many for a plain map: a full
	 * map's replaces take elements while the replaced ones wait for their
	 * grace period, and an 8-byte key whose element is outside the first
	 * block costs its lookups a call, see value_at).  The spares are not
	 * counted against the 1 GiB limit: like growth blocks, they are only
	 * touched when used.  BPF_F_NO_PREALLOC maps start with growth blocks.
	 * Growth blocks double, from an eighth of the map. */
	uint64_t first = htab_pool_cap(attr);
	if (!htab_is_lru(attr))
		first += first / 8 + 2 * HTAB_RETIRE_BATCH;
	if (attr->map_flags & BPFVM_F_NO_PREALLOC)
		first = 0;
	if (!segs_init(&h->elems, h->estride, (uint32_t)first, max_u64(2 * HTAB_MAG, attr->max_entries / 8)))
		goto fail;
	h->efirst = (uint32_t)first;
	h->vbase = (uintptr_t)atomic_load_explicit(&h->elems.seg[0], memory_order_relaxed) + h->pre +
	           offsetof(struct htab_elem, data) + h->key_round - h->estride;
	/* Overflow buckets: none up front (about a fifth of the home buckets'
	 * count in a full map). */
	segs_init(&h->ovf, sizeof(struct htab_bucket), 0, max_u64(4, n / 8));
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
	segs_free(&h->elems);
	if (h->buckets)
		htab_zfree(&h->buckets_mem);
	free(h);
	return NULL;
}

static struct bpfvm_map *htab_alloc(const struct bpfvm_map_attr *attr)
{
	return map_htab_alloc(attr, attr->value_size, NULL);
}

/* No reader or writer is left: every element and overflow bucket goes
 * with its block (batches already handed to rcu_call held the map, so
 * they have run). */
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
	/* Linked values leave the map (retired ones left at their retire). */
	if (h->release)
		for (uint64_t home = 0; home < h->nbuckets; home++)
			for (struct htab_bucket *b = &h->buckets[home]; b; b = bucket_next(h, b))
				for (unsigned i = 0; i < HTAB_SLOTS; i++) {
					uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_relaxed);
					if (r)
						h->release(elem_value(h, elem_at(h, r)));
				}
	free(h->tc);
	segs_free(&h->elems);
	segs_free(&h->ovf);
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

/*
 * An 8-byte key's lookup in its home bucket, given m, the slots whose tag
 * (loaded as a filter) is k.  A hit in the home bucket (about 90% of the
 * hits of a full map) takes one branch after the bucket's cache miss: the
 * slot is picked and confirmed (slot_confirm's three loads) with flag
 * arithmetic, and the value's address is computed from the reference.
 * At 1M keys, where every lookup misses the cache, the instructions
 * between the miss and the result decide how many lookups the CPU keeps
 * in flight (docs/maps.md): bucket_match's loop of branches and
 * slot_confirm cost about twice the plain table's time there.
 * Anything else (no tag match, several, a slot changing under us, an
 * element of a growth block) takes k8_slow.
 */
static __attribute__((noinline)) void *k8_slow(const struct map_htab *h, struct htab_bucket *b, uint64_t k)
{
	do {
		unsigned i;
		uint32_t r = bucket_match(b, k, &i);
		if (r)
			return value_at(h, r);
	} while ((b = bucket_next(h, b)));
	return NULL;
}

static inline __attribute__((always_inline)) void *k8_hit(const struct map_htab *h, struct htab_bucket *b,
                                                          uint64_t k, unsigned m)
{
	/* The first matching slot, or the last slot if none matched (its tag
	 * then fails the check, unless the slot became k's meanwhile, which
	 * the check confirms like any other).  A first match that is a stale
	 * tag of a free slot (r1 == 0) takes k8_slow. */
	uint64_t i = (unsigned)__builtin_ctz(m | 1u << (HTAB_SLOTS - 1));
	uint32_t r1 = atomic_load_explicit(&b->ref[i], memory_order_acquire);
	uint64_t t = atomic_load_explicit(&b->tag[i], memory_order_acquire);
	uint32_t r2 = atomic_load_explicit(&b->ref[i], memory_order_acquire);
	/* The slot held r1 throughout and its tag is k (slot_confirm), and
	 * r1 is in the first block (r1 - 1 wraps for a free slot). */
	if (__builtin_expect((((r1 ^ r2) | (t ^ k)) == 0) & (r1 - 1 < h->efirst), 1))
		return (void *)(h->vbase + (uintptr_t)r1 * h->estride);
	return k8_slow(h, b, k);
}

#if HTAB_AVX512
/*
 * k8_hit with AVX-512, as one block of inline assembly (no call and no
 * target attribute: the scalar and the vector path share one function).
 * Three loads, in this order, which x86 keeps for loads of separate
 * instructions: A, the references (a 32-byte load of the line's second
 * half); B, the five tags compared with k in one instruction; C, the
 * reference of slot i, the first slot whose tag matched (slot 4 if none).
 * A and B have the bucket's address, so they issue at once; only C waits
 * for the line.  ok when B matched slot i, C is not 0 and A read the same
 * reference in slot i: then A, B, C are slot_confirm's r1, t, r2
 * (docs/maps.md).  Measured at 1M keys: k8_hit after an AVX-512 compare
 * (three loads at the matched slot, all waiting for the line) took 2.1x
 * the plain table's time, this 1.5-1.7x; a variant with C alone (not
 * correct) 1.3x.  Every load that waits for the line costs, for reasons
 * this VM (no performance counters) doesn't show.  The vector loads are
 * not atomic as a whole, which the argument doesn't need: each lane it
 * uses is one aligned word (x86 never tears those).  ymm16-17 (EVEX-
 * only) leave the upper halves of ymm0-15 untouched: no vzeroupper.
 * zmm16-17 and k1-k2 are not in the clobbers (GCC refuses them without
 * -mavx512f): this file is compiled without AVX-512, so no compiler-
 * generated code here can hold a value in them, and all are call-clobbered
 * in the x86-64 ABI, so no caller can either.
 */
static inline __attribute__((always_inline)) void *k8_hit_avx512(const struct map_htab *h, struct htab_bucket *b,
                                                                 uint64_t k)
{
	uint64_t m, i, r, eq;
	__asm__("vmovdqu32 32(%[b]), %%ymm17\n\t"    /* A: tag 4, references, ctl */
	        "vpbroadcastq %[k], %%zmm16\n\t"
	        "vpcmpeqq (%[b]), %%zmm16, %%k1\n\t" /* B: lanes 0-4 are the tags */
	        "kmovw %%k1, %k[m]\n\t"
	        "mov %k[m], %k[i]\n\t"
	        "or $16, %k[i]\n\t"
	        "tzcnt %k[i], %k[i]\n\t"
	        "mov 40(%[b],%[i],4), %k[r]\n\t"     /* C: ref[i] */
	        "vpbroadcastd %k[r], %%ymm16\n\t"
	        "vpcmpeqd %%ymm16, %%ymm17, %%k2\n\t" /* dword lane 2 + j of A is ref[j] */
	        "kmovw %%k2, %k[eq]"
	        : [m] "=&r"(m), [i] "=&r"(i), [r] "=&r"(r), [eq] "=&r"(eq)
	        : [b] "r"(b), [k] "r"(k), "m"(*(const char(*)[sizeof(*b)])b));
	/* Bit i of m (B matched slot i) and of eq >> 2 (A's reference i is
	 * C's), C not 0 and in the first block. */
	if (__builtin_expect(((m & eq >> 2) >> i) & 1, 1) && __builtin_expect(r - 1 < h->efirst, 1))
		return (void *)(h->vbase + r * h->estride);
	return k8_slow(h, b, k);
}
#endif

/* Programs and host, lock-free under the read side.  8-byte keys take a
 * leaf path with no saved registers: 3x faster than the general one when
 * the table is in cache (docs/maps.md); a hit reads the home bucket's
 * line only.  always_inline: GCC otherwise keeps one out-of-line copy
 * that htab_lookup jumps to, one more taken branch per helper call. */
static inline __attribute__((always_inline)) void *htab_lookup_inline(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	uint64_t k;
#if HTAB_AVX512
	if (__builtin_expect(h->avx512, 1)) { /* 8-byte keys only */
		memcpy(&k, key, 8);
		return k8_hit_avx512(h, home_of(h, hash_word(h, k)), k);
	}
#endif
	if (__builtin_expect(h->kind != HTAB_K8, 0))
		return htab_lookup_other(h, key);
	memcpy(&k, key, 8);
	struct htab_bucket *b = home_of(h, hash_word(h, k));
	return k8_hit(h, b, k, bucket_tags(b, k));
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

/* A new overflow bucket (zeroed: every slot free, end of chain) and its
 * number in *n, or NULL when out of memory.  Under its chain's home lock;
 * ovf_lock orders the growth block's allocation before our link's release
 * store. */
static struct htab_bucket *ovf_alloc(struct map_htab *h, uint32_t *n)
{
	struct htab_bucket *b = NULL;
	map_spin_lock(&h->ovf_lock);
	*n = h->ovf_used;
	if (*n < HTAB_MAX_OVF - 1 && segs_ensure(&h->ovf, *n)) {
		b = (struct htab_bucket *)segs_at(&h->ovf, *n);
		h->ovf_used = *n + 1;
	}
	map_spin_unlock(&h->ovf_lock);
	return b;
}

/* The first free slot of the chain of `home` (we hold its lock), linking
 * a new overflow bucket if every slot is taken.  False: out of memory. */
static bool chain_free_slot(struct map_htab *h, struct htab_bucket *home, struct htab_bucket **fb, unsigned *fi)
{
	struct htab_bucket *last = home;
	for (struct htab_bucket *k = home; k; k = bucket_next(h, k)) {
		last = k;
		for (unsigned j = 0; j < HTAB_SLOTS; j++)
			if (!atomic_load_explicit(&k->ref[j], memory_order_relaxed)) {
				*fb = k;
				*fi = j;
				return true;
			}
	}
	uint32_t n;
	struct htab_bucket *fresh = ovf_alloc(h, &n);
	if (!fresh)
		return false;
	/* Linked empty: a reader following the link sees free slots (zeroed
	 * memory, ordered before this release by ovf_lock), and if the insert
	 * then fails the bucket just waits to be used.  The lock bit of a
	 * home bucket is ours and stays set. */
	uint32_t c = atomic_load_explicit(&last->ctl, memory_order_relaxed);
	atomic_store_explicit(&last->ctl, (c & 1) | (n + 1) << 1, memory_order_release);
	*fb = fresh;
	*fi = 0;
	return true;
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
	struct htab_bucket *b = NULL, *free_b = NULL;
	unsigned i = 0, free_i = 0;
	int err = 0;
	uint32_t lru_list = 0; /* LRU: the list the new element is charged to */

	bucket_lock(p.home);
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
		/* After the eviction: it may have freed a slot of this chain. */
		if (!chain_free_slot(h, p.home, &free_b, &free_i)) {
			err = -ENOMEM;
			goto unreserve;
		}
	}
	struct htab_elem *e = elem_alloc(h, tc);
	if (!e) {
		err = -ENOMEM;
		goto unreserve;
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
		 * value to a reader that loads the new reference. */
		atomic_store_explicit(&b->ref[i], e->ref, memory_order_release);
		elem_retire(h, tc, old);
		goto out;
	}
	/* Tag, then reference, both release (see slot_confirm). */
	atomic_store_explicit(&free_b->tag[free_i], p.tag, memory_order_release);
	atomic_store_explicit(&free_b->ref[free_i], e->ref, memory_order_release);
	goto out;
unreserve:
	if (!old) {
		atomic_fetch_sub(&h->count, 1);
		if (h->lru)
			map_lru_unreserve(h->lru, lru_list);
	}
out:
	bucket_unlock(p.home);
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
	unsigned i;
	int err = 0;

	bucket_lock(p.home);
	struct htab_elem *e = htab_find(h, key, p, &b, &i);
	if (!e)
		err = -ENOENT;
	else if (copy)
		err = map->ops->lookup_copy(map, key, copy, flags);
	if (!err) {
		/* Readers standing on e keep using it until their section
		 * ends; the slot's tag stays until the slot is reused. */
		atomic_store_explicit(&b->ref[i], 0, memory_order_release);
		atomic_fetch_sub(&h->count, 1);
		if (h->lru)
			map_lru_remove(h->lru, (struct lru_node *)e - 1);
		elem_retire(h, htab_tc(h), e);
	}
	bucket_unlock(p.home);
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
static struct htab_elem *first_from(struct map_htab *h, uint64_t home, struct htab_bucket *b, unsigned i)
{
	for (;;) {
		for (; b; b = bucket_next(h, b), i = 0)
			for (; i < HTAB_SLOTS; i++) {
				uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_acquire);
				if (r)
					return elem_at(h, r);
			}
		if (++home >= h->nbuckets)
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
		unsigned i;
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
	for (uint64_t home = 0; home < h->nbuckets; home++)
		for (struct htab_bucket *b = &h->buckets[home]; b; b = bucket_next(h, b))
			for (unsigned i = 0; i < HTAB_SLOTS; i++) {
				uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_acquire);
				if (!r)
					continue;
				struct htab_elem *e = elem_at(h, r);
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
	h->nbuckets = 1; /* the other buckets stay unused until the map is freed */
	return 0;
}

/* Test hook (map_impl.h): marks one element seen; false if it is not an
 * element carved from the blocks or was seen already. */
static bool census_mark(struct map_htab *h, uint8_t *seen, uint32_t used, struct htab_elem *e)
{
	uint32_t n = e->ref - 1;
	if (!e->ref || n >= used || elem_at(h, e->ref) != e)
		return false;
	if (seen[n / 8] & (1u << (n % 8)))
		return false;
	seen[n / 8] |= (uint8_t)(1u << (n % 8));
	return true;
}

static int census_list(struct map_htab *h, uint8_t *seen, uint32_t used, struct htab_elem *e, uint32_t *n,
                       bool chains)
{
	for (; e; e = chains ? chain_next(e) : NULL)
		for (struct htab_elem *k = e; k; k = k->link) {
			if (!census_mark(h, seen, used, k))
				return -EUCLEAN;
			++*n;
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
	c->overflow = h->ovf_used;
	for (uint64_t home = 0; home < h->nbuckets; home++)
		for (struct htab_bucket *b = &h->buckets[home]; b; b = bucket_next(h, b))
			for (unsigned i = 0; i < HTAB_SLOTS; i++) {
				uint32_t r = atomic_load(&b->ref[i]);
				if (!r)
					continue;
				if (r > used || !census_mark(h, seen, used, elem_at(h, r)))
					err = -EUCLEAN;
				c->linked++;
			}
	if (!err)
		err = census_list(h, seen, used, atomic_load(&h->freelist), &c->freelist, true);
	for (unsigned t = 0; t < HTAB_TSLOTS && !err; t++) {
		err = census_list(h, seen, used, h->tc[t].free, &c->magazines, false);
		if (!err)
			err = census_list(h, seen, used, h->tc[t].retired, &c->tretired, false);
	}
	if (!err)
		err = census_list(h, seen, used, h->retired, &c->shared_retired, false);
	if (!err)
		err = census_list(h, seen, used, h->orphans, &c->orphans, false);
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
	if (p.home != held && !bucket_trylock(p.home))
		return -EBUSY;
	for (struct htab_bucket *b = p.home; b; b = bucket_next(h, b))
		for (unsigned i = 0; i < HTAB_SLOTS; i++)
			if (atomic_load_explicit(&b->ref[i], memory_order_relaxed) == e->ref) {
				/* As a delete: readers on e keep it for their section. */
				atomic_store_explicit(&b->ref[i], 0, memory_order_release);
				atomic_fetch_sub(&h->count, 1);
				elem_retire(h, htab_tc(h), e);
				err = 0;
				goto out;
			}
out:
	if (p.home != held)
		bucket_unlock(p.home);
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
