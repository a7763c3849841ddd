/*
 * The program-side map helpers (Linux helper ids), declared in maps/map.h
 * and registered by vm/helpers.c.  Called on program threads, inside the
 * run's read-side section, concurrently with everything.
 */
#include "map_impl.h"

static bool is_fd_map(const struct bpfvm_map *m)
{
	return m->type == BPFVM_MAP_PROG_ARRAY || m->type == BPFVM_MAP_ARRAY_OF_MAPS ||
	       m->type == BPFVM_MAP_HASH_OF_MAPS;
}

uint64_t map_helper_lookup(uint64_t map, uint64_t key, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	/* One indirect jump, to the lookup for the map's shape (map.h). */
	return (uintptr_t)m->lookup(m, (const void *)(uintptr_t)key);
}

uint64_t map_helper_update(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t r5)
{
	(void)r5;
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	/* As Linux: programs don't insert handles into map-in-map or prog arrays. */
	if (is_fd_map(m) || !m->ops->update)
		return (uint64_t)-EINVAL;
	if (m->map_flags & BPFVM_F_RDONLY_PROG)
		return (uint64_t)-EPERM;
	int err = map_check_update_flags(m, flags);
	if (!err)
		err = (m->ops->update_prog ? m->ops->update_prog : m->ops->update)(m, (const void *)(uintptr_t)key,
		                                                                   (const void *)(uintptr_t)value, flags);
	return (uint64_t)(int64_t)err;
}

/* bpf_map_lookup_percpu_elem(map, key, cpu): the verifier allows only
 * per-CPU maps; NULL for a CPU bpfvm doesn't have. */
uint64_t map_helper_lookup_percpu(uint64_t map, uint64_t key, uint64_t cpu, uint64_t r4, uint64_t r5)
{
	(void)r4; (void)r5;
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	if (!m->ops->lookup_cpu || cpu > UINT32_MAX)
		return 0;
	return (uintptr_t)m->ops->lookup_cpu(m, (const void *)(uintptr_t)key, (uint32_t)cpu);
}

uint64_t map_helper_delete(uint64_t map, uint64_t key, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	if (is_fd_map(m))
		return (uint64_t)-EINVAL;
	if (m->map_flags & BPFVM_F_RDONLY_PROG)
		return (uint64_t)-EPERM;
	return (uint64_t)(int64_t)m->ops->delete(m, (const void *)(uintptr_t)key);
}

struct for_each_ctx {
	struct vm_run *run;
	uint64_t cb, ctx;
};

static int for_each_cb(struct bpfvm_map *map, void *key, void *value, void *c)
{
	struct for_each_ctx *fc = c;
	if (fc->run->prog && (fc->run->prog->flags & BPFVM_PROG_NO_VERIFY)) {
		/* Checked runs: the callback may touch this key and value. */
		vm_run_add_region(fc->run, key, map->key_size, false);
		vm_run_add_region(fc->run, value, map->value_size, !(map->map_flags & BPFVM_F_RDONLY_PROG));
	}
	uint64_t r = vm_call_callback(fc->run, fc->cb, (uintptr_t)map, (uintptr_t)key, (uintptr_t)value, fc->ctx, 0);
	/* As Linux: 0 continues, 1 stops; a failed or stopped run stops too. */
	return r != 0 || fc->run->err || fc->run->stop;
}

uint64_t map_helper_for_each(uint64_t map, uint64_t cb, uint64_t ctx, uint64_t flags, uint64_t r5)
{
	(void)r5;
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	struct vm_run *run = vm_current_run;
	if (flags)
		return (uint64_t)-EINVAL; /* as Linux: no flags defined */
	if (!m->ops->for_each || !run)
		return (uint64_t)-EINVAL; /* this map type can't be iterated */
	struct for_each_ctx fc = { run, cb, ctx };
	return (uint64_t)m->ops->for_each(m, for_each_cb, &fc);
}
