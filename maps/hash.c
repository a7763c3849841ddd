/*
 * BPF_MAP_TYPE_HASH: a bucketised table of cache-line buckets, each holding
 * five {tag, element number} slots and a control word (the writer lock and
 * the overflow link).
 *
 * Layout.  A bucket is one 64-byte line: five 8-byte tags, five 4-byte
 * refs and a 4-byte control word.  Elements live in one range reserved
 * per map, and a live ref counts 8-byte words from its start, so a slot
 * names an element in 4 bytes and a hit computes the value's address with
 * one lea.  For keys of up to 8 bytes the slot's tag *is* the key
 * (zero-extended), so a lookup hit reads one line and never touches the
 * element.  For longer keys the tag is the 64-bit hash and a tag match is
 * confirmed against the key stored in the element.  The bucket count need
 * not be a power of two (about max_entries / 3: 60% of the slots of a
 * full map); the hash's high bits pick the home bucket by multiply-high.
 * A bucket that fills links an overflow bucket, numbered, from a growing
 * block array; overflow buckets stay linked until the map is freed
 * (readers may always follow a link).  Elements never move between slots:
 * a delete leaves a tombstone, an insert fills a free slot of its chain
 * (slot_free), a replace swaps the ref of the key's slot.  No rehashing.
 *
 * Elements.  Every element, preallocated or not, is carved lazily from
 * the range, which has room for replaced and deleted elements waiting for
 * their grace period (htab_spares); past it updates fail with -ENOMEM.
 *
 * Concurrency.  Readers (programs and host calls, under the RCU read side)
 * take no lock and do no atomic read-modify-write.  Writers take the home
 * bucket's lock, which guards its whole overflow chain.  An element leaves
 * the table only through a retire batch (elem_retire below) and returns to
 * the pool only after a grace period, so a ref a reader loaded names the
 * same element, with the same key and value, until its read section ends.
 * A slot takes another key only after a whole grace period that began after
 * its delete (slot_free), which
 * makes a ref-then-tag read consistent (slot_confirm; docs/maps.md has the
 * memory-ordering argument).
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

/* 8-byte key lookups use AVX-512 where the CPU has it (k8_lookup_avx512),
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

#include "htab_probe.h"
#include "lru.h"
#include "map_impl.h"

/* LeakSanitizer doesn't scan memory from mmap, and the element range is
 * mmap'd: a heap object reachable only through it (an RCU callback queued
 * after a retire batch, whose rcu_head lives in an element; a hash-of-maps
 * value) would look leaked.  The carved part of the range is registered as
 * a root region (htab_lsan_carved). */
#if defined(__SANITIZE_ADDRESS__)
#define HTAB_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define HTAB_LSAN 1
#endif
#endif
#ifdef HTAB_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define HTAB_SLOTS 5
#define HTAB_RETIRE_BATCH 64 /* elements per rcu_call */
#define HTAB_MAG 32          /* elements a thread's magazine takes from the pool at once */
#define HTAB_TSLOTS 64       /* threads (by rcu_thread_index) with their own cache in a map */
#define HTAB_NSEG 34         /* block pointers of a struct htab_segs: the first and 33 growth blocks */

#define HTAB_TOMB 0x80000000u   /* a slot's ref with this bit: emptied by a delete (see slot_kill) */
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
 *        Written under the home lock into an empty slot; another key's
 *        only once the tombstone's snapshots are reached (slot_free).
 *   ref: 0: empty, never used; HTAB_TOMB | snapshots: emptied by a delete
 *        (slot_kill); else live: the value of the element is at
 *        vbase + 8 * ref (ref_value).
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
/* Refs count 8-byte words from vbase: every part of an element (LRU node,
 * header, rounded key and value) is a multiple of 8 bytes. */
_Static_assert(sizeof(struct htab_elem) % 8 == 0 && sizeof(struct lru_node) % 8 == 0, "elements in 8-byte words");

enum htab_kind { HTAB_K8, HTAB_KSMALL, HTAB_KLONG };

/* Unlinked elements waiting to be handed to rcu_call as one batch. */
struct htab_batch {
	struct htab_elem *first;
	uint32_t n;
};

/* One thread's cache in one map, touched only by the thread whose
 * rcu_thread_index() it is (and by htab_free and the thread's unregister
 * flush, see htab_thread_flush).  Own cache line: two writers never share
 * one. */
struct htab_tcache {
	struct htab_elem *free;     /* magazine: free pooled elements (one pool chain) */
	struct htab_batch retired;  /* this thread's unlinked elements */
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
 * Numbered items (overflow buckets) in blocks that never move:
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
	uintptr_t vbase;            /* the value of the element whose ref is r: vbase + 8 * r */
	size_t estride;             /* bytes per element: LRU node + header + key + value */
	void *(*lookup)(struct bpfvm_map *map, const void *key); /* k8_lookup_avx512 / _scalar, htab_lookup_other */
	enum htab_kind kind;
	uint32_t key_round;         /* key_size rounded up to 8 */
	uint32_t vsize;             /* bytes stored per value (8 for hash-of-maps) */
	uint8_t *ebase;             /* element n at ebase + n * estride (+ pre: its header) */
	uint32_t ecap;              /* elements the range holds (htab_pool_cap) */
	uint32_t lsan_regions;      /* HTAB_LSAN: root regions registered, the carved range in doubling steps */
	uint32_t lsan_upto;         /* elements they cover */
	uint32_t mag, batch;        /* per-thread magazine refill and retire batch sizes */
	struct htab_mem elems_mem;
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
	_Atomic uint32_t pool_used; /* elements carved from the range so far (<= ecap) */
	struct htab_elem *_Atomic freelist;
	/* Overflow buckets handed out so far, under ovf_lock (rarely taken:
	 * overflow buckets are reused, never unlinked). */
	_Atomic uint32_t ovf_lock;
	uint32_t ovf_used;
	/* Unlinked elements of threads without a cache, waiting to be handed
	 * to rcu_call as one batch, under retire_lock: one rcu_call (a mutex
	 * and a wake-up, ~1 us) per HTAB_RETIRE_BATCH deletes. */
	_Atomic uint32_t retire_lock __attribute__((aligned(64)));
	/* htab_kick's empty callback and whether it is queued. */
	_Atomic bool kick_pending;
	struct rcu_head kick_rcu;
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

/* ---- elements and buckets ---- */

/* A slot's ref names a live element (not empty, not a tombstone). */
static inline bool ref_live(uint32_t r)
{
	return (int32_t)r > 0;
}

/* The value of the element whose ref is r: refs count 8-byte words from
 * vbase, so a hit computes its result with one lea. */
static inline void *ref_value(const struct map_htab *h, uint32_t r)
{
	return (void *)(h->vbase + (uintptr_t)r * 8);
}

/* The element whose ref is r (live). */
static inline struct htab_elem *elem_at(const struct map_htab *h, uint32_t r)
{
	return (struct htab_elem *)((uint8_t *)ref_value(h, r) - h->key_round - offsetof(struct htab_elem, data));
}

static inline void *elem_value(const struct map_htab *h, struct htab_elem *e)
{
	return e->data + h->key_round;
}

/* Element n of the range. */
static inline struct htab_elem *elem_nth(const struct map_htab *h, uint64_t n)
{
	return (struct htab_elem *)(h->ebase + n * h->estride + h->pre);
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

/* Keys of up to 8 bytes (as one word): two rounds of a 128-bit product
 * with a constant, halves folded.  One round (with a fold of the word's
 * halves before it) spread multiples of 2^20 well with some seeds and
 * badly with others: over 40 seeds, 1,470 overflow buckets on average but
 * up to 3,846 for 100,000 keys, against ~2,800 for random keys, and
 * hash_layout/structured_keys_spread failed in CI.  Two rounds measured
 * 2,796-2,804 on average, worst 2,860-2,904, for sequential, high-bit,
 * power-of-two-multiple and random keys alike; the extra multiply comes
 * before the bucket's load, not after it. */
#define HTAB_MUL1 0x9e3779b97f4a7c15ull
#define HTAB_MUL2 0xd6e8feb86659fd93ull

static inline uint64_t hash_word(const struct map_htab *h, uint64_t w)
{
	unsigned __int128 p = (unsigned __int128)(w ^ h->seed) * HTAB_MUL1;
	w = (uint64_t)(p >> 64) ^ (uint64_t)p;
	p = (unsigned __int128)w * HTAB_MUL2;
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
 * Under the read side: the ref in slot i of b if it holds the key whose
 * tag is `tag` (keys <= 8 bytes), else 0.
 *
 * Two words, loaded in this order: r = ref (acquire), then t = tag.  If r
 * is live and t == tag, slot i held r when r was loaded and, later, tag
 * when t was loaded.  Could the slot have changed key in between?  Only
 * through a delete (ref to a tombstone) and a refill with another tag,
 * and the refill waits for a grace period after the delete (slot_free):
 * for our section, which began before r was loaded and so before the
 * delete, that grace period can't end before t is loaded.  A replace
 * keeps the slot's tag.  So r is tag's element.  A refill stores the tag
 * before publishing its ref with release: a reader that loads the new ref
 * loads the new tag after it.  docs/maps.md has the whole argument.
 */
static inline uint32_t slot_confirm(struct htab_bucket *b, unsigned i, uint64_t tag)
{
	uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_acquire);
	if (!ref_live(r) || atomic_load_explicit(&b->tag[i], memory_order_relaxed) != tag)
		return 0;
	return r;
}

/* Bit i set: slot i's tag is `tag` (relaxed loads: a filter).  Compared
 * without a branch: a mispredicted "which slot" branch that waits on a
 * cache miss throws away the next lookups' misses the CPU had started,
 * and serialised misses cost ~2x at 65,536 keys (docs/maps.md).  Several
 * matches can only be stale tags of empty slots. */
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

/* The ref in bucket b holding the key whose tag is `tag` (keys <= 8
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
			if (!ref_live(r))
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

/* HTAB_LSAN: elements 0 .. upto-1 are carved; register up to a doubling
 * of the covered part (pool lock held).  Regions: [0, 64), [64, 128),
 * [128, 256), ..., at most 33 of them. */
static void htab_lsan_carved(struct map_htab *h, uint32_t upto)
{
#ifdef HTAB_LSAN
	while (h->lsan_upto < upto) {
		uint64_t to = h->lsan_upto ? 2ull * h->lsan_upto : 64;
		if (to > h->ecap)
			to = h->ecap;
		__lsan_register_root_region(h->ebase + (size_t)h->lsan_upto * h->estride,
		                            (size_t)(to - h->lsan_upto) * h->estride);
		h->lsan_upto = (uint32_t)to;
		h->lsan_regions++;
	}
#else
	(void)h;
	(void)upto;
#endif
}

static void htab_lsan_unregister(struct map_htab *h)
{
#ifdef HTAB_LSAN
	for (uint32_t from = 0, k = 0; k < h->lsan_regions; k++) {
		uint64_t to = from ? 2ull * from : 64;
		if (to > h->ecap)
			to = h->ecap;
		__lsan_unregister_root_region(h->ebase + (size_t)from * h->estride, (size_t)(to - from) * h->estride);
		from = (uint32_t)to;
	}
#else
	(void)h;
#endif
}

/* Takes free elements: with `one`, a single element, else a whole chain
 * of the free list or, that empty, up to HTAB_MAG elements carved from
 * the range.  Returns a NULL-terminated chain (through link), NULL when
 * all ecap elements are linked, retired or in threads' magazines. */
static struct htab_elem *pool_take(struct map_htab *h, bool one)
{
	struct htab_elem *first = NULL, **tail = &first;
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
	/* Carve lazily (a map with a huge max_entries must not touch every
	 * element up front): claim the numbers under the lock, write the
	 * headers (first touch of their pages) after it. */
	uint32_t used = atomic_load_explicit(&h->pool_used, memory_order_relaxed);
	uint32_t n = one ? 1 : h->mag;
	if (n > h->ecap - used)
		n = h->ecap - used;
	atomic_store_explicit(&h->pool_used, used + n, memory_order_relaxed);
	htab_lsan_carved(h, used + n);
	map_spin_unlock(&h->pool_lock);
	for (uint32_t k = 0; k < n; k++) {
		e = elem_nth(h, used + k);
		e->ref = (uint32_t)(((uint8_t *)elem_value(h, e) - (uint8_t *)h->vbase) / 8);
		e->owner = h;
		*tail = e;
		tail = &e->link;
	}
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

static void batch_flush(struct map_htab *h, struct htab_batch *b);

/* A free element for an insert or replace, or NULL.  The range holds
 * max_entries elements plus spares for replaces whose old elements wait
 * for their grace period (htab_pool_cap); programs can't wait for one, so
 * when the spares are used up too the update fails with -ENOMEM (the host
 * API then waits, bpfvm_map_update).  Our retire batch goes to rcu_call
 * at HTAB_RETIRE_BATCH as usual (replaces in a full map would otherwise
 * call it once per operation, ~1 us), or now, when we ran dry. */
static struct htab_elem *elem_alloc(struct map_htab *h, struct htab_tcache *tc)
{
	if (!tc)
		return pool_take(h, true);
	if (!tc->free && !(tc->free = pool_take(h, false))) {
		batch_flush(h, &tc->retired);
		return NULL;
	}
	struct htab_elem *e = tc->free;
	tc->free = e->link;
	return e;
}

/* Gives back an element elem_alloc returned that was never linked (no
 * reader saw it: no grace period needed). */
static void elem_unalloc(struct map_htab *h, struct htab_tcache *tc, struct htab_elem *e)
{
	if (tc) {
		e->link = tc->free;
		tc->free = e;
		return;
	}
	e->link = NULL;
	pool_give(h, e);
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

static void retire_batch_after_tt(struct rcu_head *head)
{
	rcu_call(head, retire_batch_rcu);
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
		map_defer(&first->rcu, retire_batch_after_tt);
		return;
	}
	pthread_mutex_lock(&htab_all_lock);
	retire_orphan(h, first);
	pthread_mutex_unlock(&htab_all_lock);
}

/* Adds e to batch b; true when b is full. */
static bool batch_add(const struct map_htab *h, struct htab_batch *b, struct htab_elem *e)
{
	e->link = b->first;
	b->first = e;
	return ++b->n >= h->batch;
}

/* Empties b: its chain, NULL if it held none. */
static struct htab_elem *batch_take(struct htab_batch *b)
{
	struct htab_elem *first = b->first;
	*b = (struct htab_batch){ 0 };
	return first;
}

/* Hands batch b of map h over (the shared one under retire_lock). */
static void batch_flush(struct map_htab *h, struct htab_batch *b)
{
	struct htab_elem *first = batch_take(b);
	if (first)
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
		if (batch_add(h, &tc->retired, e))
			batch_flush(h, &tc->retired);
		return;
	}
	map_spin_lock(&h->retire_lock);
	if (batch_add(h, &h->retired, e))
		batch_flush(h, &h->retired);
	map_spin_unlock(&h->retire_lock);
}

/* Hands the calling thread's retired elements (and the shared batch) to
 * RCU now rather than when the batch is full: an update needs them back. */
static void htab_flush_retired(struct map_htab *h, struct htab_tcache *tc)
{
	if (tc)
		batch_flush(h, &tc->retired);
	map_spin_lock(&h->retire_lock);
	batch_flush(h, &h->retired);
	map_spin_unlock(&h->retire_lock);
}

static void htab_kick_done(struct rcu_head *head)
{
	struct map_htab *h = (struct map_htab *)((char *)head - offsetof(struct map_htab, kick_rcu));
	atomic_store_explicit(&h->kick_pending, false, memory_order_release);
	map_put(&h->map);
}

static void htab_kick_after_tt(struct rcu_head *head)
{
	rcu_call(head, htab_kick_done);
}

/* Makes a grace period happen soon: tombstones age only when one does,
 * and grace periods run only when something waits for one.  At most one
 * outstanding per map (an empty callback holding a map reference), so an
 * insert that keeps finding young tombstones costs one rcu_call per grace
 * period, not per insert. */
static void htab_kick(struct map_htab *h)
{
	if (atomic_exchange_explicit(&h->kick_pending, true, memory_order_acquire))
		return;
	if (!map_tryget(&h->map)) {
		atomic_store_explicit(&h->kick_pending, false, memory_order_relaxed);
		return;
	}
	map_defer(&h->kick_rcu, htab_kick_after_tt); /* both flavours: slot_free waits for both */
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
		struct htab_elem *first = batch_take(&tc->retired);
		if (!first)
			continue;
		if (map_tryget(&h->map))
			map_defer(&first->rcu, retire_batch_after_tt);
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

/* LRU maps: a struct lru_node in front of each element.  An evicted
 * element is reused only after a grace period, so a full map's inserts
 * take spare elements meanwhile, as a plain hash's replaces do. */
static bool htab_is_lru(const struct bpfvm_map_attr *attr)
{
	return attr->type == BPFVM_MAP_LRU_HASH || attr->type == BPFVM_MAP_LRU_PERCPU_HASH;
}

static uint32_t htab_pre(const struct bpfvm_map_attr *attr)
{
	return htab_is_lru(attr) ? sizeof(struct lru_node) : 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Elements beyond max_entries, for replaces (and LRU evictions) whose
 * old elements wait for their grace period, and for the free elements of
 * threads' magazines and the retired ones of their unsubmitted batches
 * (at most half of them, see htab_thread_sizes).  Programs can't wait for
 * a grace period, and writers on several threads, or back-to-back program
 * runs, can retire elements faster than grace periods return them, so
 * the room is large: the range is reserved for 16 * max_entries + 256
 * elements or HTAB_ROOM_BYTES of them, whichever is more.  Its pages are
 * used only when an element is first carved (htab_zalloc), the 1 GiB
 * per-map limit counts max_entries + max_entries / 8 + min(max_entries,
 * 64) elements (htab_counted: a map of a few big values must not be
 * refused for spares it may never use), and pages once used stay with
 * the map until it is
 * freed.  Past the room, updates fail with -ENOMEM (docs/maps.md). */
#define HTAB_ROOM_BYTES (64ull << 20)

static uint64_t htab_elem_bytes(const struct bpfvm_map_attr *attr, uint64_t vsize)
{
	return htab_pre(attr) + sizeof(struct htab_elem) + ((attr->key_size + 7ull) & ~7ull) + ((vsize + 7ull) & ~7ull);
}

static uint64_t htab_spares(const struct bpfvm_map_attr *attr, uint64_t vsize)
{
	uint64_t n = attr->max_entries, room = HTAB_ROOM_BYTES / htab_elem_bytes(attr, vsize);
	return max_u64(15 * n + 4 * HTAB_TSLOTS, room > n ? room - n : 0);
}

static uint64_t htab_pool_cap(const struct bpfvm_map_attr *attr, uint64_t vsize)
{
	return attr->max_entries + htab_spares(attr, vsize);
}

static uint64_t htab_counted(const struct bpfvm_map_attr *attr)
{
	uint64_t n = attr->max_entries;
	return n + n / 8 + (n < 64 ? n : 64);
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
	 * the real element header, the spares and the bucket array count too. */
	uint64_t elem = htab_elem_bytes(attr, vsize);
	if (elem * htab_counted(attr) + htab_nbuckets(attr->max_entries) * sizeof(struct htab_bucket) > MAP_MAX_BYTES) {
		*why = "the hash map would take more than bpfvm's 1 GiB per-map limit (elements, their spares and buckets)";
		return -E2BIG;
	}
	/* A ref counts 8-byte words from the range's start in 31 bits. */
	if (elem * htab_pool_cap(attr, vsize) / 8 + 8 >= HTAB_TOMB) {
		*why = "the hash map's elements would need more than 16 GiB of address space";
		return -E2BIG;
	}
	return 0;
}

static int htab_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	return map_htab_check_attr(attr, attr->value_size, why);
}

/* How many free elements a thread's magazine takes at once and how many
 * retired ones its batch holds before rcu_call: HTAB_MAG and
 * HTAB_RETIRE_BATCH, less in small maps, so that every thread slot's
 * magazine and batch together strand at most half the spares. */
static void htab_thread_sizes(struct map_htab *h, uint64_t spares)
{
	uint64_t each = spares / (4 * HTAB_TSLOTS);
	h->mag = (uint32_t)(each < 1 ? 1 : each > HTAB_MAG ? HTAB_MAG : each);
	h->batch = (uint32_t)(each < 1 ? 1 : each > HTAB_RETIRE_BATCH ? HTAB_RETIRE_BATCH : each);
}

static void *htab_lookup_other(struct bpfvm_map *map, const void *key);
static void *k8_lookup_scalar(struct bpfvm_map *map, const void *key);
#if HTAB_AVX512
__attribute__((target("avx512f,avx512vl"))) static void *k8_lookup_avx512(struct bpfvm_map *map, const void *key);
#else
#define k8_lookup_avx512 k8_lookup_scalar
#endif

/* 8-byte key lookups with AVX-512 (k8_lookup_avx512): where the CPU has
 * F and VL, unless BPFVM_NO_AVX512 is set to anything but "0" (tests run
 * the scalar path with it), read once. */
static bool htab_avx512(void)
{
#if HTAB_AVX512
	static _Atomic int use = -1;
	int u = atomic_load_explicit(&use, memory_order_relaxed);
	if (u < 0) {
		const char *env = getenv("BPFVM_NO_AVX512");
		u = !(env && strcmp(env, "0")) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
		atomic_store_explicit(&use, u, memory_order_relaxed);
	}
	return u;
#else
	return false;
#endif
}

struct bpfvm_map *map_htab_alloc(const struct bpfvm_map_attr *attr, uint32_t vsize, void (*release)(void *value))
{
	struct map_htab *h = map_alloc_base(attr, sizeof(*h));
	if (!h)
		return NULL;
	uint64_t n = htab_nbuckets(attr->max_entries);
	h->nbuckets = n;
	h->kind = attr->key_size == 8 ? HTAB_K8 : attr->key_size < 8 ? HTAB_KSMALL : HTAB_KLONG;
	h->lookup = h->kind != HTAB_K8 ? htab_lookup_other : htab_avx512() ? k8_lookup_avx512 : k8_lookup_scalar;
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
	/* Elements: one range of htab_pool_cap elements, reserved up front
	 * and carved lazily (untouched pages cost nothing), with or without
	 * BPF_F_NO_PREALLOC: a ref is then a fixed offset from vbase. */
	h->ecap = (uint32_t)htab_pool_cap(attr, vsize);
	h->ebase = htab_zalloc(&h->elems_mem, h->ecap, h->estride);
	if (!h->ebase)
		goto fail;
	h->vbase = (uintptr_t)h->ebase - 8;
	htab_thread_sizes(h, htab_spares(attr, vsize));
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
	if (h->ebase)
		htab_zfree(&h->elems_mem);
	if (h->buckets)
		htab_zfree(&h->buckets_mem);
	free(h);
	return NULL;
}

static struct bpfvm_map *htab_alloc(const struct bpfvm_map_attr *attr)
{
	struct bpfvm_map *map = map_htab_alloc(attr, attr->value_size, NULL);
	if (map) /* the helper's call: straight to the key size's lookup */
		map->lookup = ((struct map_htab *)map)->lookup;
	return map;
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
					if (ref_live(r))
						h->release(elem_value(h, elem_at(h, r)));
				}
	free(h->tc);
	htab_lsan_unregister(h);
	htab_zfree(&h->elems_mem);
	segs_free(&h->ovf);
	htab_zfree(&h->buckets_mem);
	map_lru_free(h->lru);
	free(h);
}

/* ---- operations ---- */

/* Keys of other sizes. */
static void *htab_lookup_other(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	struct htab_elem *e = htab_find(h, key, htab_pos(h, key), NULL, NULL);
	return e ? elem_value(h, e) : NULL;
}

/*
 * 8-byte keys.  A hit in the home bucket (about 95% of the hits of a full
 * map) loads the bucket's refs, then its tags, and picks the first slot
 * that is live and holds k: slot_confirm's two loads for all five slots
 * at once, without a branch on which slot.  At 1M keys, where every
 * lookup misses the cache, the work that waits for the bucket's line
 * decides how many lookups the CPU keeps in flight (docs/maps.md), so
 * that work is kept short: no load waits for another, and the value's
 * address is one lea on the ref.  Anything else (no slot matched: the key
 * is in an overflow bucket or absent) takes k8_slow.
 */
static __attribute__((noinline)) void *k8_slow(const struct map_htab *h, struct htab_bucket *b, uint64_t k)
{
	do {
		unsigned i;
		uint32_t r = bucket_match(b, k, &i);
		if (r)
			return ref_value(h, r);
	} while ((b = bucket_next(h, b)));
	return NULL;
}

static void *k8_lookup_scalar(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	uint64_t k;
	memcpy(&k, key, 8);
	struct htab_bucket *b = home_of(h, hash_word(h, k));
	/* Refs with acquire, so the tag loads of bucket_tags come after. */
	uint32_t r[HTAB_SLOTS];
	unsigned live = 0;
#pragma GCC unroll 5
	for (unsigned j = 0; j < HTAB_SLOTS; j++) {
		r[j] = atomic_load_explicit(&b->ref[j], memory_order_acquire);
		live |= (unsigned)ref_live(r[j]) << j;
	}
	unsigned m = bucket_tags(b, k) & live;
	if (__builtin_expect(m != 0, 1))
		return ref_value(h, r[__builtin_ctz(m)]);
	return k8_slow(h, b, k);
}

#if HTAB_AVX512
/*
 * The same with AVX-512 F and VL, the five slots in one probe of the
 * bucket's line (maps/htab_probe.h: the instructions, and why they are
 * in this order), which the JIT also emits inline in programs.  x86 keeps
 * loads in order, and the argument (slot_confirm, docs/maps.md) also
 * assumes each ref lane of the probe's first load is read as one access:
 * the manuals state neither for vector loads, docs/maps.md says why we
 * rely on them.  Not under ThreadSanitizer, which can't see the loads.
 */
__attribute__((target("avx512f,avx512vl"))) static void *k8_lookup_avx512(struct bpfvm_map *map, const void *key)
{
	struct map_htab *h = (struct map_htab *)map;
	uint64_t k;
	memcpy(&k, key, 8);
	struct htab_bucket *b = home_of(h, hash_word(h, k));
	uint64_t r;
	__asm__(HTAB_PROBE_ASM
	        : "=a"(r)
	        : "d"(b), "c"(k), "m"(*b)
	        : "xmm16", "xmm17", "k1", "k2", "k3");
	if (__builtin_expect(r != 0, 1))
		return (void *)(h->vbase + r * 8);
	return k8_slow(h, b, k);
}
#endif

/* Programs and host, lock-free under the read side. */
void *map_htab_lookup(struct bpfvm_map *map, const void *key)
{
	return ((struct map_htab *)map)->lookup(map, key);
}

/* Host lookups copy the value out.  Without a spin lock the copy is
 * inlined here: the generic one (map_value_copy_out) costs a few calls. */
static int htab_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	void *v = map_htab_lookup(map, key);
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

/*
 * Empties slot i of b (its home lock held): the ref becomes a tombstone
 * holding the grace-period snapshots of both flavours, so that slot_free
 * lets an insert put another key there only once every read section that
 * could have loaded the old ref has ended (slot_confirm).  The tag stays:
 * a reader that loaded the old ref and then the tag gets the deleted
 * key's old element, which the grace period protects.  The exchange is
 * the full barrier the snapshots ask for after the store.  Snapshots are
 * even, so their halves are kept: 16 bits of the normal one, 15 of the
 * tasks-trace one.
 */
#define TOMB_N_BITS 16
#define TOMB_T_BITS 15

static void slot_kill(struct htab_bucket *b, unsigned i)
{
	atomic_exchange_explicit(&b->ref[i], HTAB_TOMB, memory_order_seq_cst);
	uint32_t n = (uint32_t)(rcu_gp_snapshot() >> 1) & ((1u << TOMB_N_BITS) - 1);
	/* No tt section ever: none can have loaded the old ref, and tt grace
	 * periods may never run: a snapshot that is reached already. */
	uint32_t t = (uint32_t)((rcu_tt_ever_used() ? rcu_tt_gp_snapshot() : rcu_tt_gp_seq()) >> 1) &
	             ((1u << TOMB_T_BITS) - 1);
	atomic_store_explicit(&b->ref[i], HTAB_TOMB | n | t << TOMB_N_BITS, memory_order_relaxed);
}

/* Whether a sequence has reached a snapshot taken after it was read,
 * from the low `bits` bits of their halves: the sequence is at most 3
 * short of such a snapshot, so its half at most 2, and those two residues
 * mean "not yet"; any other is a true "reached" (a tombstone 2^bits half
 * steps old may look young again, which only delays its reuse). */
static inline bool seq_reached(unsigned long seq, uint32_t half_snap, unsigned bits)
{
	uint32_t mask = (1u << bits) - 1;
	return (((uint32_t)(seq >> 1) - half_snap) & mask) < mask - 1;
}

/* Whether an insert of a key whose tag is `tag` may fill slot i of b
 * (home lock held): never used, or a tombstone whose snapshots both
 * flavours' sequences have reached, or one whose tag is the same (the
 * deleted key's: readers that loaded the old ref and then read that tag
 * get the same key's old element).  *young: set if the slot is a
 * tombstone that must still wait. */
static bool slot_free(struct htab_bucket *b, unsigned i, uint64_t tag, bool *young)
{
	uint32_t r = atomic_load_explicit(&b->ref[i], memory_order_relaxed);
	if (!r)
		return true;
	if (ref_live(r))
		return false;
	if ((seq_reached(rcu_gp_seq(), r & ((1u << TOMB_N_BITS) - 1), TOMB_N_BITS) &&
	     seq_reached(rcu_tt_gp_seq(), (r >> TOMB_N_BITS) & ((1u << TOMB_T_BITS) - 1), TOMB_T_BITS)) ||
	    atomic_load_explicit(&b->tag[i], memory_order_relaxed) == tag)
		return true;
	*young = true;
	return false;
}

/* The first free slot (slot_free) for a key whose tag is `tag` in the
 * chain of `home` (we hold its lock), linking a new overflow bucket if
 * there is none.  False: out of memory.  A young tombstone passed over
 * asks for a grace period (htab_kick): without one it stays young, and
 * every later insert into this chain would take other slots or link
 * overflow buckets (which stay until the map is freed). */
static bool chain_free_slot(struct map_htab *h, struct htab_bucket *home, uint64_t tag, struct htab_bucket **fb,
                            unsigned *fi)
{
	struct htab_bucket *last = home;
	bool young = false;
	for (struct htab_bucket *k = home; k; k = bucket_next(h, k)) {
		last = k;
		for (unsigned j = 0; j < HTAB_SLOTS; j++)
			if (slot_free(k, j, tag, &young)) {
				*fb = k;
				*fi = j;
				if (young)
					htab_kick(h);
				return true;
			}
	}
	if (young)
		htab_kick(h);
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
	/* The element first: an LRU insert that could not get one must not
	 * have evicted a key for it. */
	struct htab_elem *e = elem_alloc(h, tc);
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	if (!old) {
		/* Count first so that racing inserts can't overshoot max_entries. */
		bool full = atomic_fetch_add(&h->count, 1) >= (long)map->max_entries;
		/* LRU: full is not an error, lru.c evicts an element. */
		err = h->lru ? map_lru_reserve(h->lru, p.home, full, &lru_list) : full ? -E2BIG : 0;
		if (err) {
			atomic_fetch_sub(&h->count, 1);
			elem_unalloc(h, tc, e);
			goto out;
		}
		/* After the eviction: it may have freed a slot of this chain. */
		if (!chain_free_slot(h, p.home, p.tag, &free_b, &free_i)) {
			err = -ENOMEM;
			elem_unalloc(h, tc, e);
			goto unreserve;
		}
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
		slot_kill(b, i);
		atomic_fetch_sub(&h->count, 1);
		if (h->lru)
			map_lru_remove(h->lru, (struct lru_node *)e - 1);
		elem_retire(h, htab_tc(h), e);
	}
	bucket_unlock(p.home);
	return err;
}

void map_htab_reclaim(struct bpfvm_map *map)
{
	struct map_htab *h = (struct map_htab *)map;
	htab_flush_retired(h, htab_tc(h));
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
				if (ref_live(r))
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
				if (!ref_live(r))
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

bool map_htab_inline_k8(const struct bpfvm_map *map, struct map_htab_inline *out)
{
	const struct map_htab *h = (const struct map_htab *)map;
	if (map->type != BPFVM_MAP_HASH || h->lookup != k8_lookup_avx512 || k8_lookup_avx512 == k8_lookup_scalar)
		return false;
	*out = (struct map_htab_inline){
		.seed = offsetof(struct map_htab, seed),
		.nbuckets = offsetof(struct map_htab, nbuckets),
		.buckets = offsetof(struct map_htab, buckets),
		.vbase = offsetof(struct map_htab, vbase),
		.mul1 = HTAB_MUL1,
		.mul2 = HTAB_MUL2,
	};
	return true;
}

/* Test hook: which lookup the map's keys take. */
const char *map_htab_test_lookup_path(struct bpfvm_map *map)
{
	struct map_htab *h = (struct map_htab *)map;
	return h->lookup == k8_lookup_scalar ? "scalar" : h->lookup == htab_lookup_other ? "other" : "avx512";
}

/* Test hook (map_impl.h): marks one element seen; false if it is not an
 * element carved from the blocks or was seen already. */
static bool census_mark(struct map_htab *h, uint8_t *seen, uint32_t used, struct htab_elem *e)
{
	uintptr_t off = (uintptr_t)((uint8_t *)e - h->pre - h->ebase);
	uint64_t n = off / h->estride;
	if ((uint8_t *)e < h->ebase + h->pre || off % h->estride || n >= used || !ref_live(e->ref) ||
	    elem_at(h, e->ref) != e)
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
				if (!ref_live(r))
					continue;
				if (r > (uint64_t)used * h->estride / 8 + 8 || !census_mark(h, seen, used, elem_at(h, r)))
					err = -EUCLEAN;
				c->linked++;
			}
	if (!err)
		err = census_list(h, seen, used, atomic_load(&h->freelist), &c->freelist, true);
	for (unsigned t = 0; t < HTAB_TSLOTS && !err; t++) {
		err = census_list(h, seen, used, h->tc[t].free, &c->magazines, false);
		if (!err)
			err = census_list(h, seen, used, h->tc[t].retired.first, &c->tretired, false);
	}
	if (!err)
		err = census_list(h, seen, used, h->retired.first, &c->shared_retired, false);
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
				slot_kill(b, i);
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
	void *v = map_htab_lookup(map, key);
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
	.reclaim = map_htab_reclaim,
	.lookup_and_delete = map_htab_lookup_and_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = htab_lookup_copy,
	.for_each = map_htab_for_each,
	.meta_equal = htab_meta_equal,
};
