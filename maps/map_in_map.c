/*
 * Map-in-map: BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS.
 *
 * The host stores 4-byte map handles; the map stores a referenced pointer
 * to the inner map and a program lookup yields that pointer.  An inner map
 * is accepted only if it matches the outer map's template (Linux's
 * map_meta_equal, through the template type's meta_equal op).  Replacing or
 * deleting an inner map drops the outer map's reference; the inner map is
 * freed only after a grace period (map_put defers), so a program that
 * looked it up keeps using it until its run ends.
 */
#include "map_impl.h"

int map_htab_update_raw(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags);
int map_htab_delete(struct bpfvm_map *map, const void *key);
int map_htab_get_next_key(struct bpfvm_map *map, const void *key, void *next_key);
void *map_htab_lookup_raw(struct bpfvm_map *map, const void *key);
void map_htab_free(struct bpfvm_map *map);

struct map_aom {
	struct bpfvm_map map;
	struct bpfvm_map *_Atomic slots[];
};

static int mim_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	const struct bpfvm_map *t = attr->inner_template;
	if (attr->value_size != 4) {
		*why = "map-in-map values are 4-byte map handles";
		return -EINVAL;
	}
	if (attr->type == BPFVM_MAP_ARRAY_OF_MAPS && attr->key_size != 4) {
		*why = "array-of-maps keys are 4-byte indexes";
		return -EINVAL;
	}
	if (attr->map_flags & ~(attr->type == BPFVM_MAP_HASH_OF_MAPS ? BPFVM_F_NO_PREALLOC : 0)) {
		*why = "unsupported map_flags for a map-in-map";
		return -EINVAL;
	}
	if (attr->spin_lock_off != -1) {
		*why = "map-in-map values can't hold a spin lock";
		return -EINVAL;
	}
	if (!t) {
		*why = "map-in-map needs inner_template";
		return -EINVAL;
	}
	/* hash-of-maps is a hash map of 8-byte values (inner-map pointers):
	 * the same size limits (maps/hash.c). */
	if (attr->type == BPFVM_MAP_HASH_OF_MAPS) {
		int err = map_htab_check_attr(attr, 8, why);
		if (err)
			return err;
	}
	/* As Linux: no prog arrays and no nesting as inner maps. */
	if (!t->ops->meta_equal || t->type == BPFVM_MAP_PROG_ARRAY || t->type == BPFVM_MAP_ARRAY_OF_MAPS ||
	    t->type == BPFVM_MAP_HASH_OF_MAPS) {
		*why = "this map type can't be an inner map";
		return -EINVAL;
	}
	return 0;
}

/* A referenced map from a host handle that fits the outer map's template. */
static int inner_from_fd(struct bpfvm_map *outer, const void *value, struct bpfvm_map **out)
{
	int32_t fd;
	memcpy(&fd, value, 4);
	bpfvm *vm = outer->vm;
	struct bpfvm_map *inner = NULL;
	pthread_mutex_lock(&vm->lock);
	if (fd > 0 && (size_t)fd < vm->maps_cap && vm->maps[fd] && map_tryget(vm->maps[fd]))
		inner = vm->maps[fd];
	pthread_mutex_unlock(&vm->lock);
	if (!inner)
		return -EBADF;
	const struct bpfvm_map *t = outer->inner_meta;
	if (inner == outer || !t->ops->meta_equal(t, inner)) {
		map_put(inner);
		return -EINVAL; /* doesn't match the template */
	}
	*out = inner;
	return 0;
}

/* ---- array of maps ---- */

static struct bpfvm_map *aom_alloc(const struct bpfvm_map_attr *attr)
{
	return map_alloc_base(attr, sizeof(struct map_aom) + sizeof(struct bpfvm_map *) * (size_t)attr->max_entries);
}

static void aom_free(struct bpfvm_map *map)
{
	struct map_aom *a = (struct map_aom *)map;
	for (uint32_t i = 0; i < map->max_entries; i++)
		map_put(atomic_load_explicit(&a->slots[i], memory_order_relaxed));
	free(a);
}

/* Programs: the inner map, or NULL. */
static void *aom_lookup(struct bpfvm_map *map, const void *key)
{
	uint32_t i;
	memcpy(&i, key, 4);
	if (i >= map->max_entries)
		return NULL;
	/* Acquire pairs with the update's exchange: the inner map is fully
	 * built before a program can reach it. */
	return atomic_load_explicit(&((struct map_aom *)map)->slots[i], memory_order_acquire);
}

static int mim_copy_fd(struct bpfvm_map *inner, void *value)
{
	if (!inner)
		return -ENOENT;
	int32_t fd = inner->fd;
	memcpy(value, &fd, 4);
	return 0;
}

static int aom_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)flags;
	return mim_copy_fd(aom_lookup(map, key), value);
}

/* Host: value is a map handle.  As Linux's fd arrays, only BPF_ANY. */
static int aom_update_fd(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	uint32_t i;
	memcpy(&i, key, 4);
	if (flags != BPFVM_ANY)
		return -EINVAL;
	if (i >= map->max_entries)
		return -E2BIG;
	struct bpfvm_map *inner;
	int err = inner_from_fd(map, value, &inner);
	if (err)
		return err;
	map_put(atomic_exchange(&((struct map_aom *)map)->slots[i], inner));
	return 0;
}

static int aom_delete(struct bpfvm_map *map, const void *key)
{
	uint32_t i;
	memcpy(&i, key, 4);
	if (i >= map->max_entries)
		return -E2BIG;
	struct bpfvm_map *old = atomic_exchange(&((struct map_aom *)map)->slots[i], NULL);
	if (!old)
		return -ENOENT;
	map_put(old);
	return 0;
}

static int aom_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	return map_array_ops.get_next_key(map, key, next_key);
}

const struct map_ops map_array_of_maps_ops = {
	.check_attr = mim_check_attr,
	.alloc = aom_alloc,
	.free = aom_free,
	.lookup = aom_lookup,
	.delete = aom_delete,
	.get_next_key = aom_get_next_key,
	.lookup_copy = aom_lookup_copy,
	.update_fd = aom_update_fd,
};

/* ---- hash of maps: the hash table storing 8-byte inner map pointers ---- */

static void hom_release(void *value)
{
	struct bpfvm_map *inner;
	memcpy(&inner, value, sizeof(inner));
	map_put(inner);
}

static struct bpfvm_map *hom_alloc(const struct bpfvm_map_attr *attr)
{
	return map_htab_alloc(attr, sizeof(struct bpfvm_map *), hom_release);
}

static void *hom_lookup(struct bpfvm_map *map, const void *key)
{
	struct bpfvm_map **v = map_htab_lookup_raw(map, key);
	return v ? *v : NULL; /* elements are immutable once published */
}

static int hom_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)flags;
	return mim_copy_fd(hom_lookup(map, key), value);
}

static int hom_update_fd(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	struct bpfvm_map *inner;
	int err = inner_from_fd(map, value, &inner);
	if (err)
		return err;
	err = map_htab_update_raw(map, key, &inner, flags);
	if (err)
		map_put(inner); /* not stored */
	return err;
}

const struct map_ops map_hash_of_maps_ops = {
	.check_attr = mim_check_attr,
	.alloc = hom_alloc,
	.free = map_htab_free,
	.lookup = hom_lookup,
	.delete = map_htab_delete,
	.reclaim = map_htab_reclaim,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = hom_lookup_copy,
	.update_fd = hom_update_fd,
};
