/*
 * BPF_MAP_TYPE_LRU_HASH: hash.c's table where an insert into a full map
 * evicts the least recently used element instead of failing with -E2BIG.
 *
 * LRU order is approximated as Linux's common LRU does (bpf_lru_list.c):
 * two lists, `inactive` (new elements, and elements not looked up lately)
 * and `active` (elements looked up since they were last examined), plus a
 * per-element `ref` flag that lookups set without a lock.  The evictor
 * takes victims from the inactive tail, giving each referenced element a
 * second chance on the active list (its flag cleared), and keeps the
 * active list no longer than the inactive one by demoting the active
 * elements not referenced since their promotion (and aging it by at least
 * one element per eviction).  What this guarantees
 * (and tests rely on): an element looked up since the evictor last
 * examined it is not evicted while an unreferenced element can be; among
 * unreferenced elements, roughly the oldest insert goes first.
 *
 * With BPF_F_NO_COMMON_LRU each possible CPU has its own lists and lock
 * and an equal share of max_entries, as Linux: an insert evicts from its
 * CPU's lists when that CPU's share is full.
 *
 * Concurrency.  Lookups never take the LRU lock (lru.h: one relaxed load,
 * at most one relaxed store).  Inserts, replaces and deletes take it once,
 * under their bucket lock, to list or unlist the element; the evictor
 * holds it while it examines nodes and only trylocks victims' buckets.
 * An evicted element is unlinked and retired exactly as a deleted one
 * (hash.c), so a reader still holding it keeps valid memory until its read
 * section ends, and the element is reused only after a grace period.
 * docs/maps.md has the ordering argument.
 */
#include "lru.h"
#include "map_impl.h"

#define LRU_F_NO_COMMON_LRU (1u << 1) /* Linux's BPF_F_NO_COMMON_LRU */
#define LRU_ROTATE 16                 /* active nodes examined per eviction to rebalance */
#define LRU_RETRIES 10000             /* eviction rounds, the lock released between them */

/* One LRU: the common one, or one CPU's (BPF_F_NO_COMMON_LRU). */
struct lru_list {
	_Atomic uint32_t lock;          /* guards the lists and their nodes' `list` */
	uint32_t n[3];                  /* nodes on each list, by LRU_ACTIVE / LRU_INACTIVE */
	struct lru_node head[3];        /* circular list heads (head[LRU_NONE] unused) */
	/* Per-CPU lists: elements charged to this list (listed, or reserved
	 * by an insert in progress), at most `cap`. */
	_Atomic uint32_t used;
} __attribute__((aligned(64)));     /* one CPU's list doesn't share another's line */

struct map_lru {
	struct bpfvm_map *map;
	uint32_t nlists;                /* 1, or one per possible CPU */
	uint32_t cap;                   /* per-CPU lists: max_entries / nlists */
	struct lru_list list[];
};

/* ---- lists (their lock held) ---- */

static void list_add_head(struct lru_list *l, int which, struct lru_node *n)
{
	struct lru_node *h = &l->head[which];
	n->prev = h;
	n->next = h->next;
	h->next->prev = n;
	h->next = n;
	n->list = (uint8_t)which;
	l->n[which]++;
}

static void list_del(struct lru_list *l, struct lru_node *n)
{
	if (n->list == LRU_NONE)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	l->n[n->list]--;
	n->list = LRU_NONE;
}

static struct lru_node *list_tail(struct lru_list *l, int which)
{
	struct lru_node *t = l->head[which].prev;
	return t == &l->head[which] ? NULL : t;
}

static void list_move(struct lru_list *l, int which, struct lru_node *n)
{
	list_del(l, n);
	list_add_head(l, which, n);
}

/* Reads and clears a node's ref flag.  Two plain accesses, not an
 * exchange: a lookup setting the flag in between is lost, which costs one
 * element its second chance, never memory safety. */
static bool ref_take(struct lru_node *n)
{
	if (!atomic_load_explicit(&n->ref, memory_order_relaxed))
		return false;
	atomic_store_explicit(&n->ref, 0, memory_order_relaxed);
	return true;
}

/* ---- hooks called by hash.c ---- */

struct map_lru *map_lru_new(struct bpfvm_map *map)
{
	uint32_t n = (map->map_flags & LRU_F_NO_COMMON_LRU) ? vm_nr_cpus() : 1;
	struct map_lru *l = aligned_alloc(64, (sizeof(*l) + n * sizeof(l->list[0]) + 63) & ~(size_t)63);
	if (!l)
		return NULL;
	memset(l, 0, sizeof(*l) + n * sizeof(l->list[0]));
	l->map = map;
	l->nlists = n;
	l->cap = map->max_entries / n; /* max_entries is a multiple of n (lru_entries) */
	for (uint32_t c = 0; c < n; c++)
		for (int i = 0; i < 3; i++)
			l->list[c].head[i].prev = l->list[c].head[i].next = &l->list[c].head[i];
	return l;
}

void map_lru_free(struct map_lru *l)
{
	free(l);
}

void map_lru_push(struct map_lru *l, struct lru_node *n, uint32_t list)
{
	struct lru_list *ll = &l->list[list];
	/* Not yet published: no lookup can be setting the flag.  A reused
	 * element's old readers are gone too (it was reused only after a
	 * grace period), so nothing carries a stale mark over. */
	atomic_store_explicit(&n->ref, 0, memory_order_relaxed);
	n->owner = list;
	map_spin_lock(&ll->lock);
	list_add_head(ll, LRU_INACTIVE, n);
	map_spin_unlock(&ll->lock);
}

static int evict(struct map_lru *l, struct lru_list *ll, const void *held);

void map_lru_replace(struct map_lru *l, struct lru_node *old, struct lru_node *fresh, const void *held)
{
	uint32_t to = old->owner;
	if (l->nlists > 1 && vm_cpu_current() != to) {
		/* As Linux's per-CPU LRU: the new element is charged to the
		 * updating CPU, which evicts from its own lists if its share is
		 * full (never `old`: that is on another CPU's lists), and old's
		 * place in its CPU's share is freed.  If nothing could be
		 * evicted, the element stays in old's share instead. */
		uint32_t c = vm_cpu_current();
		struct lru_list *cl = &l->list[c];
		if (atomic_fetch_add_explicit(&cl->used, 1, memory_order_relaxed) < l->cap || !evict(l, cl, held)) {
			atomic_fetch_sub_explicit(&l->list[to].used, 1, memory_order_relaxed);
			to = c;
		} else {
			atomic_fetch_sub_explicit(&cl->used, 1, memory_order_relaxed);
		}
	}
	struct lru_list *ol = &l->list[old->owner];
	map_spin_lock(&ol->lock);
	list_del(ol, old);
	map_spin_unlock(&ol->lock);
	map_lru_push(l, fresh, to);
}

void map_lru_remove(struct map_lru *l, struct lru_node *n)
{
	struct lru_list *ll = &l->list[n->owner];
	map_spin_lock(&ll->lock);
	list_del(ll, n);
	map_spin_unlock(&ll->lock);
	if (l->nlists > 1)
		atomic_fetch_sub_explicit(&ll->used, 1, memory_order_relaxed);
}

/* One eviction attempt from one list: 0, or -EBUSY when every candidate's
 * bucket was busy or the list was empty. */
static int evict_locked(struct map_lru *l, struct lru_list *ll, const void *held)
{
	/* Age the active list: the oldest active nodes not referenced since
	 * their promotion go back to the inactive list; referenced ones get
	 * another round at the active head.  As Linux's rotation, as many as
	 * it takes (up to LRU_ROTATE) to keep the active list no longer than
	 * the inactive one; unlike it, at least one per eviction, so an
	 * element looked up once, long ago, does not stay forever. */
	for (unsigned i = 0; ll->n[LRU_ACTIVE] && (i < 1 || (i < LRU_ROTATE && ll->n[LRU_ACTIVE] > ll->n[LRU_INACTIVE]));
	     i++) {
		struct lru_node *a = list_tail(ll, LRU_ACTIVE);
		list_move(ll, ref_take(a) ? LRU_ACTIVE : LRU_INACTIVE, a);
	}
	/* Each node is promoted at most once per round (its flag cleared) and
	 * demoted at most once, so twice the node count bounds the scan
	 * unless lookups keep re-marking or buckets are busy. */
	for (uint64_t budget = 2ull * (ll->n[LRU_ACTIVE] + ll->n[LRU_INACTIVE]) + 2; budget; budget--) {
		struct lru_node *v = list_tail(ll, LRU_INACTIVE);
		if (!v) {
			/* Everything was referenced: demote the oldest active node
			 * (examined next, so it goes unless looked up since). */
			v = list_tail(ll, LRU_ACTIVE);
			if (!v)
				return -EBUSY; /* all elements are mid-insert elsewhere */
			list_move(ll, LRU_INACTIVE, v);
			continue;
		}
		if (ref_take(v)) {
			list_move(ll, LRU_ACTIVE, v); /* second chance */
			continue;
		}
		int err = map_htab_evict(l->map, v, held);
		if (err == -EBUSY) {
			/* Its bucket is being written: look at the next one. */
			list_move(ll, LRU_INACTIVE, v);
			continue;
		}
		list_del(ll, v);
		if (l->nlists > 1)
			atomic_fetch_sub_explicit(&ll->used, 1, memory_order_relaxed);
		if (!err)
			return 0;
		/* -ENOENT: listed but not linked, which hash.c never leaves
		 * (both change under the bucket lock); dropped from the lists. */
	}
	return -EBUSY;
}

static int evict(struct map_lru *l, struct lru_list *ll, const void *held)
{
	for (unsigned round = 0;; round++) {
		map_spin_lock(&ll->lock);
		int err = evict_locked(l, ll, held);
		map_spin_unlock(&ll->lock);
		if (err != -EBUSY)
			return err;
		if (round == LRU_RETRIES)
			return -ENOMEM; /* as Linux when no element can be freed */
		/* The buckets we tried, or the elements other inserts counted but
		 * have not listed yet, belong to threads that may be waiting for
		 * the LRU lock: let them run. */
		sched_yield();
	}
}

int map_lru_reserve(struct map_lru *l, const void *held, bool full, uint32_t *list)
{
	if (l->nlists == 1) {
		*list = 0;
		return full ? evict(l, &l->list[0], held) : 0;
	}
	/* As Linux's per-CPU LRU: an insert takes a place in its CPU's share
	 * of max_entries and, that share full, evicts from its CPU's list,
	 * even when other CPUs' shares have room. */
	uint32_t c = vm_cpu_current();
	struct lru_list *ll = &l->list[c];
	*list = c;
	if (atomic_fetch_add_explicit(&ll->used, 1, memory_order_relaxed) < l->cap)
		return 0;
	int err = evict(l, ll, held);
	if (err)
		atomic_fetch_sub_explicit(&ll->used, 1, memory_order_relaxed);
	return err;
}

void map_lru_unreserve(struct map_lru *l, uint32_t list)
{
	if (l->nlists > 1)
		atomic_fetch_sub_explicit(&l->list[list].used, 1, memory_order_relaxed);
}

/* ---- the map type ---- */

/* The attributes the table is built with: with per-CPU lists,
 * max_entries rounded up to a multiple of the CPU count so every CPU gets
 * the same share, at least one (as Linux; rounded down if that
 * overflows), and the flag the table doesn't know about dropped. */
static struct bpfvm_map_attr lru_table_attr(const struct bpfvm_map_attr *attr)
{
	struct bpfvm_map_attr a = *attr;
	if (attr->map_flags & LRU_F_NO_COMMON_LRU) {
		uint64_t n = vm_nr_cpus(), r = (attr->max_entries + n - 1) / n * n;
		a.max_entries = (uint32_t)(r > UINT32_MAX ? attr->max_entries / n * n : r);
		a.map_flags &= ~LRU_F_NO_COMMON_LRU;
	}
	return a;
}

/* What both LRU types refuse; the table's own checks come after. */
static int lru_check_flags(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->map_flags & BPFVM_F_NO_PREALLOC) {
		/* Linux: -ENOTSUPP (kernel-internal 524); its userspace
		 * counterpart is EOPNOTSUPP. */
		*why = "LRU hash maps are always preallocated: drop BPF_F_NO_PREALLOC (as Linux)";
		return -EOPNOTSUPP;
	}
	if (attr->map_flags & ~(BPFVM_F_RDONLY_PROG | LRU_F_NO_COMMON_LRU)) {
		*why = "LRU hash map_flags may only hold BPF_F_NO_COMMON_LRU and BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if (attr->spin_lock_off >= 0) {
		/* As Linux's map_check_btf: spin locks only in hash, array and
		 * local-storage maps. */
		*why = "an LRU hash value can't hold a bpf_spin_lock (as Linux); use BPF_MAP_TYPE_HASH";
		return -EOPNOTSUPP;
	}
	return 0;
}

static int lru_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	int err = lru_check_flags(attr, why);
	struct bpfvm_map_attr a = lru_table_attr(attr);
	return err ? err : map_htab_check_attr(&a, a.value_size, why);
}

static struct bpfvm_map *lru_alloc(const struct bpfvm_map_attr *attr)
{
	struct bpfvm_map_attr a = lru_table_attr(attr);
	a.map_flags = attr->map_flags; /* the map keeps its flags */
	return map_htab_alloc_lru(&a, a.value_size);
}

/* Called from programs and the host, concurrently with everything (as
 * BPF_MAP_TYPE_HASH); only program lookups mark elements referenced. */
const struct map_ops map_lru_hash_ops = {
	.check_attr = lru_check_attr,
	.alloc = lru_alloc,
	.free = map_htab_free,
	.lookup = map_htab_lookup_lru,
	.update = map_htab_update_raw,
	.delete = map_htab_delete,
	.reclaim = map_htab_reclaim,
	.lookup_and_delete = map_htab_lookup_and_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = map_htab_lookup_copy,
	.for_each = map_htab_for_each,
	.meta_equal = map_htab_meta_equal,
};

/*
 * BPF_MAP_TYPE_LRU_PERCPU_HASH: the per-CPU hash (percpu_hash.c: every
 * CPU's value inline in the element, programs see their CPU's) with this
 * file's eviction.  Value copies, updates and for_each are the per-CPU
 * hash's, called through its ops table; lookups from programs, including
 * bpf_map_lookup_percpu_elem, and in-place updates mark the element (as
 * Linux).  One LRU shared by all CPUs, as Linux's default.
 */

static uint32_t pcpu_stride(const struct bpfvm_map *map)
{
	return (map->value_size + 7) & ~7u;
}

static int lru_pcpu_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	int err = lru_check_flags(attr, why);
	struct bpfvm_map_attr a = lru_table_attr(attr);
	return err ? err : map_percpu_hash_ops.check_attr(&a, why);
}

static struct bpfvm_map *lru_pcpu_alloc(const struct bpfvm_map_attr *attr)
{
	struct bpfvm_map_attr a = lru_table_attr(attr);
	a.map_flags = attr->map_flags;
	/* check_attr bounded stride x CPUs by the 1 GiB map limit. */
	return map_htab_alloc_lru(&a, ((a.value_size + 7) & ~7u) * vm_nr_cpus());
}

static void *lru_pcpu_lookup(struct bpfvm_map *map, const void *key)
{
	uint8_t *v = map_htab_lookup_lru(map, key);
	return v ? v + (size_t)vm_cpu_current() * pcpu_stride(map) : NULL;
}

static void *lru_pcpu_lookup_cpu(struct bpfvm_map *map, const void *key, uint32_t cpu)
{
	if (cpu >= vm_nr_cpus())
		return NULL;
	uint8_t *v = map_htab_lookup_lru(map, key);
	return v ? v + (size_t)cpu * pcpu_stride(map) : NULL;
}

static int lru_pcpu_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return map_percpu_hash_ops.update(map, key, value, flags);
}

static int lru_pcpu_update_prog(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return map_percpu_hash_ops.update_prog(map, key, value, flags);
}

static int lru_pcpu_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	return map_percpu_hash_ops.lookup_copy(map, key, value, flags);
}

static long lru_pcpu_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	return map_percpu_hash_ops.for_each(map, cb, ctx);
}

static bool lru_pcpu_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return map_percpu_hash_ops.meta_equal(t, o);
}

const struct map_ops map_lru_percpu_hash_ops = {
	.check_attr = lru_pcpu_check_attr,
	.alloc = lru_pcpu_alloc,
	.free = map_htab_free,
	.lookup = lru_pcpu_lookup,
	.lookup_cpu = lru_pcpu_lookup_cpu,
	.update = lru_pcpu_update,
	.update_prog = lru_pcpu_update_prog,
	.delete = map_htab_delete,
	.reclaim = map_htab_reclaim,
	.lookup_and_delete = map_htab_lookup_and_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = lru_pcpu_lookup_copy,
	.for_each = lru_pcpu_for_each,
	.meta_equal = lru_pcpu_meta_equal,
};
