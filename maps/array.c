/*
 * BPF_MAP_TYPE_ARRAY: preallocated, zeroed values indexed by a 4-byte key.
 * Lookups take no lock.  Elements can't be deleted (as Linux: -EINVAL).
 */
#include "array.h"
#include "map_impl.h"

static int array_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->key_size != 4) {
		*why = "array keys are 4-byte indexes";
		return -EINVAL;
	}
	if (attr->map_flags & ~(BPFVM_F_INNER_MAP | BPFVM_F_RDONLY_PROG)) {
		*why = "array map_flags may only hold BPF_F_INNER_MAP and BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if ((uint64_t)((attr->value_size + 7) & ~7u) * attr->max_entries > (1ull << 32)) {
		*why = "array is over 4 GiB";
		return -E2BIG;
	}
	return 0;
}

static struct bpfvm_map *array_alloc(const struct bpfvm_map_attr *attr)
{
	struct map_array *a = map_alloc_base(attr, sizeof(*a));
	if (!a)
		return NULL;
	a->elem_size = (attr->value_size + 7) & ~7u;
	size_t bytes = (size_t)a->elem_size * attr->max_entries;
	/* calloc, not memalign+memset: a big array comes from fresh zeroed
	 * pages that are only touched when used (a hostile object declaring a
	 * 4 GiB array must not cost a 4 GiB memset).  16-byte alignment
	 * covers every BPF access size. */
	a->values = calloc(1, bytes ? bytes : 1);
	if (!a->values) {
		free(a);
		return NULL;
	}
	return &a->map;
}

static void array_free(struct bpfvm_map *map)
{
	struct map_array *a = (struct map_array *)map;
	free(a->values);
	free(a);
}

/* Called from programs and the host, concurrently with everything. */
static void *array_lookup(struct bpfvm_map *map, const void *key)
{
	uint32_t i;
	memcpy(&i, key, 4);
	return map_array_lookup_inline(map, i);
}

static int array_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	void *v = array_lookup(map, key);
	if (!v)
		return -ENOENT;
	map_value_copy_out(map, value, v, flags);
	return 0;
}

/* Programs and the host; concurrent readers may see a value half-written
 * (as Linux), word by word, unless both sides use the value's spin lock. */
static int array_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	uint32_t i;
	memcpy(&i, key, 4);
	if ((flags & 3) == BPFVM_NOEXIST)
		return -EEXIST; /* every array element always exists */
	if (i >= map->max_entries)
		return -E2BIG;
	map_value_copy_in(map, map_array_lookup_inline(map, i), value, flags);
	return 0;
}

static int array_delete(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return -EINVAL; /* as Linux: array elements can't be deleted */
}

static int array_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	uint32_t i, next;
	if (!key) {
		next = 0;
	} else {
		memcpy(&i, key, 4);
		if (i >= map->max_entries)
			next = 0; /* as Linux: an unknown key restarts */
		else if (i + 1 == map->max_entries)
			return -ENOENT;
		else
			next = i + 1;
	}
	memcpy(next_key, &next, 4);
	return 0;
}

static long array_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	long n = 0;
	for (uint32_t i = 0; i < map->max_entries; i++) {
		n++;
		if (cb(map, &i, map_array_lookup_inline(map, i), ctx))
			break;
	}
	return n;
}

/* As Linux's array_map_meta_equal: max_entries must match unless the
 * template is BPF_F_INNER_MAP. */
static bool array_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	if (t->type != o->type || t->key_size != o->key_size || t->value_size != o->value_size ||
	    t->map_flags != o->map_flags || t->spin_lock_off != o->spin_lock_off)
		return false;
	return (t->map_flags & BPFVM_F_INNER_MAP) || t->max_entries == o->max_entries;
}

const struct map_ops map_array_ops = {
	.check_attr = array_check_attr,
	.alloc = array_alloc,
	.free = array_free,
	.lookup = array_lookup,
	.update = array_update,
	.delete = array_delete,
	.get_next_key = array_get_next_key,
	.lookup_copy = array_lookup_copy,
	.for_each = array_for_each,
	.meta_equal = array_meta_equal,
};
