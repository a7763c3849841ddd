/*
 * Map contents after a run (bpfvm run --dump-maps): every map of an ELF
 * object, key and value bytes in hex, as text or as one JSON line
 * {"maps": [{"name": ..., "type": N, "entries": [{"key": "hex", "value": "hex"}]}]}; for per-CPU
 * maps each entry has "values": ["hex", ...], one per possible CPU, instead of "value".
 * Single-threaded; called once the run is over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "maps_dump.h"

#define DUMP_MAX_ENTRIES 100000 /* per map: enough for tests, bounded for huge hashes */

static void hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

void cli_dump_maps(bpfvm_obj *obj, bool json)
{
	if (json)
		printf("{\"maps\": [");
	for (unsigned i = 0;; i++) {
		bpfvm_map *m = bpfvm_obj_map_at(obj, i);
		if (!m)
			break;
		struct bpfvm_map_info info = { .sz = sizeof(info) };
		if (bpfvm_map_info(m, &info))
			continue;
		if (json) {
			printf("%s{\"name\": ", i ? ", " : "");
			cli_json_str(info.name);
			printf(", \"type\": %u, \"key_size\": %u, \"value_size\": %u, \"entries\": [", info.type, info.key_size,
			       info.value_size);
		} else {
			printf("map %s (type %u, key %u, value %u):\n", info.name, info.type, info.key_size, info.value_size);
		}
		uint8_t *key = calloc(1, info.key_size + 1), *next = calloc(1, info.key_size + 1);
		bool percpu = cli_map_percpu(&info);
		size_t stride = (info.value_size + 7u) & ~7u;
		uint8_t *val = calloc(1, cli_map_value_bytes(&info) + 1);
		unsigned n = 0;
		const void *prev = NULL;
		/* Queues, stacks and ring buffers have no keys: nothing to list. */
		while (key && next && val && info.key_size && n < DUMP_MAX_ENTRIES &&
		       bpfvm_map_get_next_key(m, prev, next) == 0) {
			memcpy(key, next, info.key_size);
			prev = key;
			if (bpfvm_map_lookup(m, key, val, 0))
				continue;
			if (json) {
				printf("%s{\"key\": \"", n ? ", " : "");
				hex(key, info.key_size);
				if (percpu) {
					printf("\", \"values\": [");
					for (unsigned c = 0; c < bpfvm_num_possible_cpus(); c++) {
						printf("%s\"", c ? ", " : "");
						hex(val + c * stride, info.value_size);
						printf("\"");
					}
					printf("]}");
				} else {
					printf("\", \"value\": \"");
					hex(val, info.value_size);
					printf("\"}");
				}
			} else {
				printf("  key ");
				hex(key, info.key_size);
				for (unsigned c = 0; c < (percpu ? bpfvm_num_possible_cpus() : 1); c++) {
					if (percpu)
						printf("  cpu%u ", c);
					else
						printf("  value ");
					hex(val + c * stride, info.value_size);
				}
				printf("\n");
			}
			n++;
		}
		if (json)
			printf("]}");
		free(key);
		free(next);
		free(val);
	}
	if (json)
		printf("]}\n");
}
