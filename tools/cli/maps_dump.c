/*
 * Map contents after a run (bpfvm run --dump-maps): every map of an ELF
 * object, key and value bytes in hex, as text or as one JSON line
 * {"maps": [{"name": ..., "type": N, "entries": [{"key": "hex", "value": "hex"}]}]}; for per-CPU
 * maps each entry has "values": ["hex", ...], one per possible CPU, instead of "value".
 * Ring buffers have no keys: their committed records are consumed and
 * printed in order, as "records": ["hex", ...] in JSON.  Queues and stacks
 * are popped empty, in pop order, as a map-level "values": ["hex", ...].
 * Single-threaded; called once the run is over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "maps_dump.h"

#define DUMP_MAX_ENTRIES 100000 /* per map: enough for tests, bounded for huge hashes */

struct rec_ctx {
	bool json;
	unsigned n;
};

static void hex(const uint8_t *p, size_t n);

static int print_record(void *ctx, void *data, size_t size)
{
	struct rec_ctx *c = ctx;
	if (c->json) {
		printf("%s\"", c->n ? ", " : "");
		hex(data, size);
		printf("\"");
	} else {
		printf("  record %zu bytes  ", size);
		hex(data, size);
		printf("\n");
	}
	return ++c->n >= DUMP_MAX_ENTRIES ? -1 : 0;
}

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
		if (info.type == BPFVM_MAP_RINGBUF) {
			struct rec_ctx rc = { json, 0 };
			if (json)
				printf("], \"records\": [");
			bpfvm_ringbuf_consume(m, print_record, &rc);
			printf(json ? "]}" : "");
			continue;
		}
		if (info.type == BPFVM_MAP_QUEUE || info.type == BPFVM_MAP_STACK) {
			uint8_t *v = calloc(1, info.value_size);
			if (json)
				printf("], \"values\": [");
			for (unsigned k = 0; v && k < DUMP_MAX_ENTRIES && !bpfvm_map_lookup_and_delete(m, NULL, v, 0); k++) {
				printf(json ? "%s\"" : "  value ", json && k ? ", " : "");
				hex(v, info.value_size);
				printf(json ? "\"" : "\n");
			}
			printf(json ? "]}" : "");
			free(v);
			continue;
		}
		uint8_t *key = calloc(1, info.key_size + 1), *next = calloc(1, info.key_size + 1);
		bool percpu = cli_map_percpu(&info);
		size_t stride = (info.value_size + 7u) & ~7u;
		uint8_t *val = calloc(1, cli_map_value_bytes(&info) + 1);
		unsigned n = 0;
		const void *prev = NULL;
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
