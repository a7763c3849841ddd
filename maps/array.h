/*
 * The array map's layout, exposed so the JIT can inline lookups (as
 * Linux's array_map_gen_lookup):
 *
 *     if ((uint32_t)*key >= map->max_entries) r0 = NULL;
 *     else r0 = arr->values + (uint64_t)index * arr->elem_size;
 *
 * Not for arrays with BPF_F_INNER_MAP: those may be swapped for an inner
 * map of another max_entries, so the lookup must go through the call.
 */
#ifndef BPFVM_MAPS_ARRAY_H
#define BPFVM_MAPS_ARRAY_H

#include "map.h"

struct map_array {
	struct bpfvm_map map;
	uint32_t elem_size;  /* value_size rounded up to 8 */
	uint8_t *values;     /* max_entries * elem_size bytes, zeroed, 16-byte aligned (calloc) */
};

static inline void *map_array_lookup_inline(struct bpfvm_map *map, uint32_t index)
{
	struct map_array *a = (struct map_array *)map;
	if (index >= map->max_entries)
		return NULL;
	return a->values + (uint64_t)index * a->elem_size;
}

#endif
