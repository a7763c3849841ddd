/*
 * BPF_MAP_TYPE_PERCPU_HASH: the hash table of hash.c whose stored value is
 * one value per possible CPU (vm/cpu.c says what a CPU is in bpfvm), each
 * value_size rounded up to 8 bytes ("stride"), CPU 0 first, inline in the
 * element (Linux keeps a pointer to per-CPU memory instead; userspace has
 * no per-CPU allocator, and inline values keep a lookup to one miss more
 * than the bucket, like a plain hash lookup that reads its value).
 *
 * Programs see their CPU's value; bpf_map_update_elem from a program
 * writes only that CPU's value (a new key's other CPUs read zero, as
 * Linux); bpf_map_lookup_percpu_elem reads another CPU's.  The host reads
 * and writes every CPU's value at once.  An update of an existing key
 * rewrites the values in place (as Linux), so a program's atomic add on
 * its CPU's value is never lost to another CPU's update.  Deletes, keys,
 * preallocation and the memory-ordering argument are hash.c's.  No spin
 * locks (as Linux).
 */
#include "map_impl.h"

/* As Linux (PCPU_MIN_UNIT_SIZE): per-CPU values of at most 32 KiB. */
#define PCPU_MAX_VALUE_SIZE 32768

static inline uint32_t stride(const struct bpfvm_map *map)
{
	return (map->value_size + 7) & ~7u;
}

static int pcpu_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->spin_lock_off != -1) {
		*why = "per-CPU maps can't hold a bpf_spin_lock (as Linux): each CPU has its own value";
		return -EINVAL;
	}
	if (attr->value_size > PCPU_MAX_VALUE_SIZE) {
		*why = "a per-CPU hash value is over 32 KiB (Linux's per-CPU allocation limit)";
		return -E2BIG;
	}
	return map_htab_check_attr(attr, ((attr->value_size + 7ull) & ~7ull) * vm_nr_cpus(), why);
}

static struct bpfvm_map *pcpu_alloc(const struct bpfvm_map_attr *attr)
{
	/* check_attr bounded stride x CPUs by the 1 GiB map limit. */
	return map_htab_alloc(attr, ((attr->value_size + 7) & ~7u) * vm_nr_cpus(), NULL);
}

/* Programs, under the run's read side: this run's CPU's value. */
static void *pcpu_lookup(struct bpfvm_map *map, const void *key)
{
	uint8_t *v = map_htab_lookup(map, key);
	return v ? v + (size_t)vm_cpu_current() * stride(map) : NULL;
}

/* bpf_map_lookup_percpu_elem: a given CPU's value (NULL past the last). */
static void *pcpu_lookup_cpu(struct bpfvm_map *map, const void *key, uint32_t cpu)
{
	if (cpu >= vm_nr_cpus())
		return NULL;
	uint8_t *v = map_htab_lookup(map, key);
	return v ? v + (size_t)cpu * stride(map) : NULL;
}

/* Host: every CPU's value, CPU 0 first; padding to 8 bytes reads as zero. */
static int pcpu_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)flags; /* BPF_F_LOCK was refused: no spin lock */
	const uint8_t *v = map_htab_lookup(map, key);
	if (!v)
		return -ENOENT;
	uint32_t n = vm_nr_cpus(), st = stride(map);
	for (uint32_t c = 0; c < n; c++) {
		uint8_t *dst = (uint8_t *)value + (size_t)c * st;
		map_copy_words_out(dst, v + (size_t)c * st, map->value_size);
		memset(dst + map->value_size, 0, st - map->value_size);
	}
	return 0;
}

/* Host updates: src holds every CPU's value.  A fresh element is not yet
 * visible (plain writes; its padding zeroed); an existing one is rewritten
 * in place with relaxed word stores, readers seeing each word old or new. */
static void fill_all(struct bpfvm_map *map, void *dst, const void *src, bool fresh)
{
	uint32_t n = vm_nr_cpus(), st = stride(map);
	for (uint32_t c = 0; c < n; c++) {
		uint8_t *d = (uint8_t *)dst + (size_t)c * st;
		const uint8_t *s = (const uint8_t *)src + (size_t)c * st;
		if (fresh) {
			memcpy(d, s, map->value_size);
			memset(d + map->value_size, 0, st - map->value_size);
		} else {
			map_copy_words_in(d, s, map->value_size);
		}
	}
}

/* Program updates: src is one value, for this run's CPU; a fresh element's
 * other CPUs start at zero (as Linux's pcpu_init_value). */
static void fill_this_cpu(struct bpfvm_map *map, void *dst, const void *src, bool fresh)
{
	uint32_t st = stride(map);
	uint8_t *d = (uint8_t *)dst + (size_t)vm_cpu_current() * st;
	if (fresh) {
		memset(dst, 0, (size_t)st * vm_nr_cpus());
		memcpy(d, src, map->value_size);
	} else {
		map_copy_words_in(d, src, map->value_size);
	}
}

/* Host update (value: every CPU's) and program update (value: this CPU's);
 * either may run concurrently with readers and other writers. */
static int pcpu_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return map_htab_update_fill(map, key, value, flags, fill_all);
}

static int pcpu_update_prog(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	return map_htab_update_fill(map, key, value, flags, fill_this_cpu);
}

/* bpf_for_each_map_elem: the callback gets this CPU's values, as Linux. */
struct pcpu_each {
	int (*cb)(struct bpfvm_map *, void *, void *, void *);
	void *ctx;
	size_t off;
};

static int pcpu_each_cb(struct bpfvm_map *map, void *key, void *value, void *c)
{
	struct pcpu_each *pe = c;
	return pe->cb(map, key, (uint8_t *)value + pe->off, pe->ctx);
}

static long pcpu_for_each(struct bpfvm_map *map, int (*cb)(struct bpfvm_map *, void *, void *, void *), void *ctx)
{
	struct pcpu_each pe = { cb, ctx, (size_t)vm_cpu_current() * stride(map) };
	return map_htab_for_each(map, pcpu_each_cb, &pe);
}

/* As hash maps: max_entries isn't compared (as Linux). */
static bool pcpu_meta_equal(const struct bpfvm_map *t, const struct bpfvm_map *o)
{
	return t->type == o->type && t->key_size == o->key_size && t->value_size == o->value_size &&
	       t->map_flags == o->map_flags;
}

const struct map_ops map_percpu_hash_ops = {
	.check_attr = pcpu_check_attr,
	.alloc = pcpu_alloc,
	.free = map_htab_free,
	.lookup = pcpu_lookup,
	.lookup_cpu = pcpu_lookup_cpu,
	.update = pcpu_update,
	.update_prog = pcpu_update_prog,
	.delete = map_htab_delete,
	.reclaim = map_htab_reclaim,
	.lookup_and_delete = map_htab_lookup_and_delete,
	.get_next_key = map_htab_get_next_key,
	.lookup_copy = pcpu_lookup_copy,
	.for_each = pcpu_for_each,
	.meta_equal = pcpu_meta_equal,
};
