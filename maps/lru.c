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

struct map_lru {
	_Atomic uint32_t lock;          /* guards the lists and every node's `list` */
	uint32_t n[3];                  /* nodes on each list, by LRU_ACTIVE / LRU_INACTIVE */
	struct lru_node head[3];        /* circular list heads (head[LRU_NONE] unused) */
	struct bpfvm_map *map;
};

/* ---- lists (LRU lock held) ---- */

static void list_add_head(struct map_lru *l, int which, struct lru_node *n)
{
	struct lru_node *h = &l->head[which];
	n->prev = h;
	n->next = h->next;
	h->next->prev = n;
	h->next = n;
	n->list = (uint8_t)which;
	l->n[which]++;
}

static void list_del(struct map_lru *l, struct lru_node *n)
{
	if (n->list == LRU_NONE)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	l->n[n->list]--;
	n->list = LRU_NONE;
}

static struct lru_node *list_tail(struct map_lru *l, int which)
{
	struct lru_node *t = l->head[which].prev;
	return t == &l->head[which] ? NULL : t;
}

static void list_move(struct map_lru *l, int which, struct lru_node *n)
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
	struct map_lru *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	for (int i = 0; i < 3; i++)
		l->head[i].prev = l->head[i].next = &l->head[i];
	l->map = map;
	return l;
}

void map_lru_free(struct map_lru *l)
{
	free(l);
}

void map_lru_push(struct map_lru *l, struct lru_node *n)
{
	/* Not yet published: no lookup can be setting the flag.  A reused
	 * element's old readers are gone too (it was reused only after a
	 * grace period), so nothing carries a stale mark over. */
	atomic_store_explicit(&n->ref, 0, memory_order_relaxed);
	map_spin_lock(&l->lock);
	list_add_head(l, LRU_INACTIVE, n);
	map_spin_unlock(&l->lock);
}

void map_lru_remove(struct map_lru *l, struct lru_node *n)
{
	map_spin_lock(&l->lock);
	list_del(l, n);
	map_spin_unlock(&l->lock);
}

/* One eviction attempt: 0, or -EBUSY when every candidate's bucket was
 * busy or the lists were empty. */
static int evict_locked(struct map_lru *l, const void *held)
{
	/* Age the active list: the oldest active nodes not referenced since
	 * their promotion go back to the inactive list; referenced ones get
	 * another round at the active head.  As Linux's rotation, as many as
	 * it takes (up to LRU_ROTATE) to keep the active list no longer than
	 * the inactive one; unlike it, at least one per eviction, so an
	 * element looked up once, long ago, does not stay forever. */
	for (unsigned i = 0; l->n[LRU_ACTIVE] && (i < 1 || (i < LRU_ROTATE && l->n[LRU_ACTIVE] > l->n[LRU_INACTIVE]));
	     i++) {
		struct lru_node *a = list_tail(l, LRU_ACTIVE);
		list_move(l, ref_take(a) ? LRU_ACTIVE : LRU_INACTIVE, a);
	}
	/* Each node is promoted at most once per round (its flag cleared) and
	 * demoted at most once, so twice the node count bounds the scan
	 * unless lookups keep re-marking or buckets are busy. */
	for (uint64_t budget = 2ull * (l->n[LRU_ACTIVE] + l->n[LRU_INACTIVE]) + 2; budget; budget--) {
		struct lru_node *v = list_tail(l, LRU_INACTIVE);
		if (!v) {
			/* Everything was referenced: demote the oldest active node
			 * (examined next, so it goes unless looked up since). */
			v = list_tail(l, LRU_ACTIVE);
			if (!v)
				return -EBUSY; /* all elements are mid-insert elsewhere */
			list_move(l, LRU_INACTIVE, v);
			continue;
		}
		if (ref_take(v)) {
			list_move(l, LRU_ACTIVE, v); /* second chance */
			continue;
		}
		int err = map_htab_evict(l->map, v, held);
		if (err == -EBUSY) {
			/* Its bucket is being written: look at the next one. */
			list_move(l, LRU_INACTIVE, v);
			continue;
		}
		list_del(l, v);
		if (!err)
			return 0;
		/* -ENOENT: listed but not linked, which hash.c never leaves
		 * (both change under the bucket lock); dropped from the lists. */
	}
	return -EBUSY;
}

int map_lru_evict(struct map_lru *l, const void *held)
{
	for (unsigned round = 0;; round++) {
		map_spin_lock(&l->lock);
		int err = evict_locked(l, held);
		map_spin_unlock(&l->lock);
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

/* ---- the map type ---- */

/* What both LRU types refuse; the table's own checks come after. */
static int lru_check_flags(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->map_flags & BPFVM_F_NO_PREALLOC) {
		/* Linux: -ENOTSUPP (kernel-internal 524); its userspace
		 * counterpart is EOPNOTSUPP. */
		*why = "LRU hash maps are always preallocated: drop BPF_F_NO_PREALLOC (as Linux)";
		return -EOPNOTSUPP;
	}
	if (attr->map_flags & LRU_F_NO_COMMON_LRU) {
		*why = "BPF_F_NO_COMMON_LRU (per-CPU LRU lists) is not supported yet: drop the flag to use one LRU "
		       "shared by all threads";
		return -EINVAL;
	}
	if (attr->map_flags & ~BPFVM_F_RDONLY_PROG) {
		*why = "LRU hash map_flags may only hold BPF_F_RDONLY_PROG";
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
	return err ? err : map_htab_check_attr(attr, attr->value_size, why);
}

static struct bpfvm_map *lru_alloc(const struct bpfvm_map_attr *attr)
{
	return map_htab_alloc_lru(attr, attr->value_size);
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
	return err ? err : map_percpu_hash_ops.check_attr(attr, why);
}

static struct bpfvm_map *lru_pcpu_alloc(const struct bpfvm_map_attr *attr)
{
	/* check_attr bounded stride x CPUs by the 1 GiB map limit. */
	return map_htab_alloc_lru(attr, ((attr->value_size + 7) & ~7u) * vm_nr_cpus());
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
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = lru_pcpu_lookup_copy,
	.for_each = lru_pcpu_for_each,
	.meta_equal = lru_pcpu_meta_equal,
};
