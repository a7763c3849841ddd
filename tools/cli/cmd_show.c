/*
 * bpfvm show: a short bpftool-style summary of an ELF object: programs with
 * their sections, types and sizes; maps with types and sizes; global data.
 * Reads the object only (no VM, nothing created).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "elf/elfobj.h"

static const char *map_type_name(uint32_t t)
{
	switch (t) {
	case BPFVM_MAP_HASH: return "hash";
	case BPFVM_MAP_ARRAY: return "array";
	case BPFVM_MAP_PROG_ARRAY: return "prog_array";
	case BPFVM_MAP_PERCPU_HASH: return "percpu_hash";
	case BPFVM_MAP_PERCPU_ARRAY: return "percpu_array";
	case BPFVM_MAP_LRU_HASH: return "lru_hash";
	case BPFVM_MAP_LRU_PERCPU_HASH: return "lru_percpu_hash";
	case BPFVM_MAP_ARRAY_OF_MAPS: return "array_of_maps";
	case BPFVM_MAP_HASH_OF_MAPS: return "hash_of_maps";
	case BPFVM_MAP_QUEUE: return "queue";
	case BPFVM_MAP_STACK: return "stack";
	case BPFVM_MAP_RINGBUF: return "ringbuf";
	default: return "unknown";
	}
}

static const char *kind_name(uint32_t k)
{
	switch (k) {
	case ELF_MAP_DATA: return "data";
	case ELF_MAP_RODATA: return "rodata";
	case ELF_MAP_BSS: return "bss";
	default: return "map";
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm show FILE.o [--json]\n"
	           "Lists the programs (section, program type, instructions), the maps (type, key and\n"
	           "value sizes, max_entries, flags, spin lock, initial slots) and the global data\n"
	           "sections of a clang -target bpf object, without loading it.\n");
}

static void json_map(const struct elf_obj *o, const struct elf_map *m, const char *kind)
{
	printf("{\"name\":");
	cli_json_str(m->name);
	printf(",\"kind\":\"%s\",\"type\":\"%s\",\"type_id\":%u,\"key_size\":%u,\"value_size\":%u,"
	       "\"max_entries\":%u,\"flags\":%u,\"spin_lock_off\":%d,\"pinning\":%u,\"legacy\":%s",
	       kind, map_type_name(m->attr.type), m->attr.type, m->attr.key_size, m->attr.value_size,
	       m->attr.max_entries, m->attr.map_flags, m->attr.spin_lock_off, m->pinning, m->legacy ? "true" : "false");
	if (m->inner) {
		printf(",\"inner\":");
		json_map(o, m->inner, "template");
	}
	printf(",\"slots\":[");
	for (uint32_t s = 0; s < m->nslots; s++) {
		printf("%s{\"index\":%u,\"%s\":", s ? "," : "", m->slots[s].index,
		       m->slots[s].kind == ELF_SLOT_PROG ? "prog" : "map");
		cli_json_str(m->slots[s].kind == ELF_SLOT_PROG ? o->progs[m->slots[s].target].name
		                                                : o->maps[m->slots[s].target].name);
		printf("}");
	}
	printf("]}");
}

int cli_cmd_show(int argc, char **argv)
{
	const char *file = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_err("show", "unknown option '%s'", argv[i]);
			usage(stderr);
			return CLI_USAGE;
		} else if (!file) {
			file = argv[i];
		} else {
			cli_err("show", "more than one file");
			return CLI_USAGE;
		}
	}
	if (!file) {
		usage(stderr);
		return CLI_USAGE;
	}
	char *buf;
	size_t len;
	int err = cli_read_file(file, &buf, &len);
	if (err) {
		cli_err("show", "%s: %s", file, strerror(-err));
		return CLI_FAIL;
	}
	char log[4096] = "";
	struct vm_log L;
	struct elf_obj o;
	vm_log_init(&L, log, sizeof(log), 0);
	err = elf_obj_parse(&o, buf, len, &L);
	free(buf);
	if (err) {
		cli_err("show", "%s: not a loadable object: %s\n%s", file, bpfvm_strerror(err), log);
		return CLI_FAIL;
	}
	if (json) {
		printf("{\"file\":");
		cli_json_str(file);
		printf(",\"license\":");
		cli_json_str(o.license);
		printf(",\"programs\":[");
		for (uint32_t i = 0; i < o.nprogs; i++) {
			const struct elf_prog *p = &o.progs[i];
			printf("%s{\"name\":", i ? "," : "");
			cli_json_str(p->name);
			printf(",\"section\":");
			cli_json_str(p->sec_name);
			printf(",\"type\":\"%s\",\"insns\":%u,\"bytes\":%u}", p->type, p->len, p->len * 8);
		}
		printf("],\"maps\":[");
		for (uint32_t i = 0, n = 0; i < o.nmaps; i++) {
			if (o.maps[i].kind != ELF_MAP_USER)
				continue;
			printf("%s", n++ ? "," : "");
			json_map(&o, &o.maps[i], "map");
		}
		printf("],\"data\":[");
		for (uint32_t i = 0, n = 0; i < o.nmaps; i++) {
			if (o.maps[i].kind == ELF_MAP_USER)
				continue;
			printf("%s", n++ ? "," : "");
			json_map(&o, &o.maps[i], kind_name(o.maps[i].kind));
		}
		printf("]}\n");
		elf_obj_free(&o);
		return CLI_OK;
	}
	printf("%s: %u program%s, %u map%s", file, o.nprogs, o.nprogs == 1 ? "" : "s", o.nmaps, o.nmaps == 1 ? "" : "s");
	if (*o.license)
		printf(", license \"%s\"", o.license);
	printf("\n\nprograms:\n  %-24s %-24s %-5s %8s\n", "NAME", "SECTION", "TYPE", "INSNS");
	for (uint32_t i = 0; i < o.nprogs; i++)
		printf("  %-24s %-24s %-5s %8u\n", o.progs[i].name, o.progs[i].sec_name, o.progs[i].type, o.progs[i].len);
	bool any = false;
	for (uint32_t k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < o.nmaps; i++) {
			const struct elf_map *m = &o.maps[i];
			if ((m->kind == ELF_MAP_USER) != (k == 0))
				continue;
			if (!any) {
				printf("\n%s:\n  %-20s %-14s %6s %8s %11s  %s\n", k ? "global data" : "maps", "NAME",
				       k ? "KIND" : "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "NOTES");
				any = true;
			}
			printf("  %-20s %-14s %6u %8u %11u ", m->name, k ? kind_name(m->kind) : map_type_name(m->attr.type),
			       m->attr.key_size, m->attr.value_size, m->attr.max_entries);
			if (m->attr.map_flags)
				printf(" flags=%#x", m->attr.map_flags);
			if (m->attr.spin_lock_off >= 0)
				printf(" spin_lock@%d", m->attr.spin_lock_off);
			if (m->pinning)
				printf(" pinned");
			if (m->legacy)
				printf(" legacy");
			if (m->inner)
				printf(" inner=%s/%u/%u/%u", map_type_name(m->inner->attr.type), m->inner->attr.key_size,
				       m->inner->attr.value_size, m->inner->attr.max_entries);
			for (uint32_t s = 0; s < m->nslots; s++)
				printf(" [%u]=%s", m->slots[s].index,
				       m->slots[s].kind == ELF_SLOT_PROG ? o.progs[m->slots[s].target].name
				                                         : o.maps[m->slots[s].target].name);
			printf("\n");
		}
		any = false;
	}
	elf_obj_free(&o);
	return CLI_OK;
}
