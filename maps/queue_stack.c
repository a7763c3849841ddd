/*
 * BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK, as Linux's queue_stack_maps.c:
 * no keys (key_size 0), value_size-byte elements in a ring of
 * max_entries + 1 slots (one kept empty to tell full from empty), one spin
 * lock per map (Linux uses a raw spinlock).  A queue pops its oldest
 * element, a stack its newest.  Push with BPF_EXIST on a full map
 * overwrites the oldest element, for both (as Linux).
 *
 * Every access copies under the lock, so no caller ever holds a pointer
 * into the map and nothing needs RCU deferral.
 */
#include "map_impl.h"

struct map_qs {
	struct bpfvm_map map;
	_Atomic uint32_t lock;
	uint32_t head, tail; /* next slot to push into; oldest element */
	uint32_t size;       /* max_entries + 1 */
	uint8_t *elems;
};

static int qs_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->key_size) {
		*why = "queue and stack maps have no keys: key_size must be 0";
		return -EINVAL;
	}
	if (!attr->value_size) {
		*why = "queue and stack maps need a value_size";
		return -EINVAL;
	}
	if (attr->map_flags & ~BPFVM_F_RDONLY_PROG) {
		*why = "queue and stack map_flags may only hold BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if (attr->spin_lock_off != -1 || attr->inner_template) {
		*why = "queue and stack values hold no spin lock and no inner map";
		return -EINVAL;
	}
	return 0;
}

static struct bpfvm_map *qs_alloc(const struct bpfvm_map_attr *attr)
{
	struct map_qs *q = map_alloc_base(attr, sizeof(*q));
	if (!q)
		return NULL;
	q->size = attr->max_entries + 1; /* check_common bounds max_entries well below 2^32 */
	q->elems = calloc(q->size, attr->value_size);
	if (!q->elems) {
		free(q);
		return NULL;
	}
	return &q->map;
}

static void qs_free(struct bpfvm_map *map)
{
	struct map_qs *q = (struct map_qs *)map;
	free(q->elems);
	free(q);
}

static inline uint8_t *slot(struct map_qs *q, uint32_t i)
{
	return q->elems + (size_t)i * q->map.value_size;
}

/* Push: programs (bpf_map_push_elem) and the host (bpfvm_map_update). */
static int qs_push(struct bpfvm_map *map, const void *value, uint64_t flags)
{
	struct map_qs *q = (struct map_qs *)map;
	if ((flags & BPFVM_NOEXIST) || flags > BPFVM_EXIST)
		return -EINVAL; /* as Linux: only BPF_ANY or BPF_EXIST */
	int err = 0;
	map_spin_lock(&q->lock);
	if ((q->head + 1) % q->size == q->tail) {
		if (!(flags & BPFVM_EXIST)) {
			err = -E2BIG;
			goto out;
		}
		q->tail = (q->tail + 1) % q->size; /* drop the oldest */
	}
	memcpy(slot(q, q->head), value, map->value_size);
	q->head = (q->head + 1) % q->size;
out:
	map_spin_unlock(&q->lock);
	return err;
}

/* Pop or peek: the oldest element (queue) or the newest (stack). */
static int qs_get(struct bpfvm_map *map, void *value, bool pop)
{
	struct map_qs *q = (struct map_qs *)map;
	int err = 0;
	map_spin_lock(&q->lock);
	if (q->head == q->tail) {
		err = -ENOENT;
		goto out;
	}
	if (map->type == BPFVM_MAP_QUEUE) {
		memcpy(value, slot(q, q->tail), map->value_size);
		if (pop)
			q->tail = (q->tail + 1) % q->size;
	} else {
		uint32_t top = q->head ? q->head - 1 : q->size - 1;
		memcpy(value, slot(q, top), map->value_size);
		if (pop)
			q->head = top;
	}
out:
	map_spin_unlock(&q->lock);
	return err;
}

static int qs_pop(struct bpfvm_map *map, void *value)
{
	return qs_get(map, value, true);
}
static int qs_peek(struct bpfvm_map *map, void *value)
{
	return qs_get(map, value, false);
}

/* The generic element ops, as Linux's syscall maps them: lookup peeks,
 * update pushes, delete and get_next_key don't exist. */
static void *qs_lookup(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return NULL; /* no pointer into the map ever leaves it */
}
static int qs_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)key;
	if (flags)
		return -EINVAL;
	return qs_peek(map, value);
}
static int qs_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	(void)key;
	return qs_push(map, value, flags);
}
static int qs_delete(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return -EINVAL;
}
static int qs_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	(void)map; (void)key; (void)next_key;
	return -EINVAL;
}

static bool qs_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return t->type == o->type && t->value_size == o->value_size && t->max_entries == o->max_entries &&
	       t->map_flags == o->map_flags;
}

#define QS_OPS                               \
	.check_attr = qs_check_attr,         \
	.alloc = qs_alloc,                   \
	.free = qs_free,                     \
	.lookup = qs_lookup,                 \
	.update = qs_update,                 \
	.delete = qs_delete,                 \
	.get_next_key = qs_get_next_key,     \
	.lookup_copy = qs_lookup_copy,       \
	.meta_equal = qs_meta_equal,         \
	.push = qs_push,                     \
	.pop = qs_pop,                       \
	.peek = qs_peek

const struct map_ops map_queue_ops = { QS_OPS };
const struct map_ops map_stack_ops = { QS_OPS };

/* ---- program helpers (Linux ids 87-89) ---- */

/* Verified programs pass queues and stacks only; a checked run may pass
 * any map it loaded. */
static struct bpfvm_map *qs_arg(uint64_t map)
{
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	return m && m->ops->push ? m : NULL;
}

/* bpf_map_push_elem(map, value, flags) */
uint64_t map_helper_push(uint64_t map, uint64_t value, uint64_t flags, uint64_t r4, uint64_t r5)
{
	(void)r4; (void)r5;
	struct bpfvm_map *m = qs_arg(map);
	if (!m)
		return (uint64_t)-EINVAL;
	if (m->map_flags & BPFVM_F_RDONLY_PROG)
		return (uint64_t)-EPERM;
	return (uint64_t)(int64_t)m->ops->push(m, (const void *)(uintptr_t)value, flags);
}

/* bpf_map_pop_elem(map, value) */
uint64_t map_helper_pop(uint64_t map, uint64_t value, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	struct bpfvm_map *m = qs_arg(map);
	if (!m)
		return (uint64_t)-EINVAL;
	if (m->map_flags & BPFVM_F_RDONLY_PROG)
		return (uint64_t)-EPERM; /* popping changes the map */
	return (uint64_t)(int64_t)m->ops->pop(m, (void *)(uintptr_t)value);
}

/* bpf_map_peek_elem(map, value) */
uint64_t map_helper_peek(uint64_t map, uint64_t value, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	struct bpfvm_map *m = qs_arg(map);
	if (!m)
		return (uint64_t)-EINVAL;
	return (uint64_t)(int64_t)m->ops->peek(m, (void *)(uintptr_t)value);
}

/* ---- host ---- */

int bpfvm_map_lookup_and_delete(bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	if (!map || !value || (!key && map->key_size))
		return -EINVAL;
	if (!map->ops->pop && !map->ops->lookup_and_delete)
		return -ENOTSUP; /* as Linux: arrays, prog arrays, map-in-map, ring buffers */
	if (atomic_load(&map->frozen))
		return -EPERM;
	if (map->ops->pop)
		return flags ? -EINVAL : map->ops->pop(map, value);
	/* Hashes: BPF_F_LOCK only, and only with a spin lock in the value. */
	if ((flags & ~(uint64_t)BPFVM_F_LOCK) || ((flags & BPFVM_F_LOCK) && map->spin_lock_off < 0))
		return -EINVAL;
	rcu_read_lock();
	int err = map->ops->lookup_and_delete(map, key, value, flags);
	rcu_read_unlock();
	return err;
}
