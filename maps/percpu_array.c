/*
 * BPF_MAP_TYPE_PERCPU_ARRAY: an array with one value per possible CPU
 * for each index (vm/cpu.c says what a CPU is in bpfvm).  Programs see
 * their CPU's value; the host reads and writes all of them at once, as
 * bpfvm_num_possible_cpus() slots of value_size rounded up to 8.  Values
 * are preallocated and zeroed; lookups take no lock; no spin locks (as
 * Linux) and no deletes.
 */
#include "map_impl.h"

struct map_percpu_array {
	struct bpfvm_map map;
	uint32_t stride;    /* value_size rounded up to 8 */
	uint32_t ncpus;
	uint8_t *values;    /* [index][cpu] stride bytes each */
};

static inline void *slot(struct map_percpu_array *a, uint32_t i, uint32_t cpu)
{
	return a->values + ((uint64_t)i * a->ncpus + cpu) * a->stride;
}

static int pa_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->key_size != 4) {
		*why = "array keys are 4-byte indexes";
		return -EINVAL;
	}
	if (attr->map_flags & ~(BPFVM_F_INNER_MAP | BPFVM_F_RDONLY_PROG)) {
		*why = "array map_flags may only hold BPF_F_INNER_MAP and BPF_F_RDONLY_PROG";
		return -EINVAL;
	}
	if (attr->spin_lock_off != -1) {
		*why = "per-CPU maps can't hold a bpf_spin_lock (as Linux): each CPU has its own value";
		return -EINVAL;
	}
	if (((attr->value_size + 7ull) & ~7ull) * attr->max_entries * vm_nr_cpus() > MAP_MAX_BYTES) {
		*why = "the per-CPU array would take more than bpfvm's 1 GiB per-map limit (max_entries x value "
		       "size x possible CPUs)";
		return -E2BIG;
	}
	return 0;
}

static struct bpfvm_map *pa_alloc(const struct bpfvm_map_attr *attr)
{
	struct map_percpu_array *a = map_alloc_base(attr, sizeof(*a));
	if (!a)
		return NULL;
	a->stride = (attr->value_size + 7) & ~7u;
	a->ncpus = vm_nr_cpus();
	a->values = calloc((size_t)attr->max_entries * a->ncpus, a->stride);
	if (!a->values) {
		free(a);
		return NULL;
	}
	return &a->map;
}

static void pa_free(struct bpfvm_map *map)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	free(a->values);
	free(a);
}

/* Programs: this run's CPU's value. */
static void *pa_lookup(struct bpfvm_map *map, const void *key)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t i;
	memcpy(&i, key, 4);
	return i < map->max_entries ? slot(a, i, vm_cpu_current()) : NULL;
}

/* bpf_map_lookup_percpu_elem: a given CPU's value. */
static void *pa_lookup_cpu(struct bpfvm_map *map, const void *key, uint32_t cpu)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t i;
	memcpy(&i, key, 4);
	return i < map->max_entries && cpu < a->ncpus ? slot(a, i, cpu) : NULL;
}

/* Host: every CPU's value, CPU 0 first. */
static int pa_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)flags;
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t i;
	memcpy(&i, key, 4);
	if (i >= map->max_entries)
		return -ENOENT;
	for (uint32_t c = 0; c < a->ncpus; c++) {
		uint8_t *dst = (uint8_t *)value + (size_t)c * a->stride;
		map_copy_words_out(dst, slot(a, i, c), map->value_size);
		memset(dst + map->value_size, 0, a->stride - map->value_size);
	}
	return 0;
}

static int pa_update_common(struct bpfvm_map *map, const void *key, uint64_t flags, uint32_t *i)
{
	memcpy(i, key, 4);
	if ((flags & 3) == BPFVM_NOEXIST)
		return -EEXIST; /* every element always exists */
	if (*i >= map->max_entries)
		return -E2BIG;
	return 0;
}

/* Host: value holds every CPU's value. */
static int pa_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t i;
	int err = pa_update_common(map, key, flags, &i);
	if (err)
		return err;
	for (uint32_t c = 0; c < a->ncpus; c++)
		map_copy_words_in(slot(a, i, c), (const uint8_t *)value + (size_t)c * a->stride, map->value_size);
	return 0;
}

/* Programs (bpf_map_update_elem): this CPU's value only, as Linux. */
static int pa_update_prog(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t i;
	int err = pa_update_common(map, key, flags, &i);
	if (!err)
		map_copy_words_in(slot(a, i, vm_cpu_current()), value, map->value_size);
	return err;
}

static int pa_delete(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return -EINVAL; /* as Linux: array elements can't be deleted */
}

static int pa_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	uint32_t i, next = 0;
	if (key) {
		memcpy(&i, key, 4);
		if (i < map->max_entries && i + 1 == map->max_entries)
			return -ENOENT;
		next = i < map->max_entries ? i + 1 : 0; /* as Linux: an unknown key restarts */
	}
	memcpy(next_key, &next, 4);
	return 0;
}

/* bpf_for_each_map_elem: this CPU's values, as Linux. */
static long pa_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	struct map_percpu_array *a = (struct map_percpu_array *)map;
	uint32_t cpu = vm_cpu_current();
	long n = 0;
	for (uint32_t i = 0; i < map->max_entries; i++) {
		n++;
		if (cb(map, &i, slot(a, i, cpu), ctx))
			break;
	}
	return n;
}

static bool pa_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	if (t->type != o->type || t->key_size != o->key_size || t->value_size != o->value_size ||
	    t->map_flags != o->map_flags)
		return false;
	return (t->map_flags & BPFVM_F_INNER_MAP) || t->max_entries == o->max_entries;
}

const struct map_ops map_percpu_array_ops = {
	.check_attr = pa_check_attr,
	.alloc = pa_alloc,
	.free = pa_free,
	.lookup = pa_lookup,
	.lookup_cpu = pa_lookup_cpu,
	.update = pa_update,
	.update_prog = pa_update_prog,
	.delete = pa_delete,
	.get_next_key = pa_get_next_key,
	.lookup_copy = pa_lookup_copy,
	.for_each = pa_for_each,
	.meta_equal = pa_meta_equal,
};
