/*
 * The pure loader stages on real clang-19 objects: map definitions of every
 * kind, global data, initial slots, spin-lock offsets, programs, and the
 * linked code (map and data references, subprograms, externs).
 */
#include <errno.h>
#include <string.h>

#include "isa.h"
#include "util.h"

static const struct elf_map *map_named(const struct elf_obj *o, const char *name)
{
	for (uint32_t i = 0; i < o->nmaps; i++)
		if (!strcmp(o->maps[i].name, name))
			return &o->maps[i];
	cr_assert_fail("no map %s", name);
	return NULL;
}

static int resolve(void *user, const char *name, uint32_t *id)
{
	(void)user;
	if (strcmp(name, "bpfvm_test_mul"))
		return -1;
	*id = 0x10000;
	return 0;
}

static void check_full(const char *file)
{
	size_t len;
	uint8_t *buf = t_read(file, &len);
	char log[1024] = "";
	struct vm_log L;
	vm_log_init(&L, log, sizeof(log), 0);
	struct elf_obj o;
	cr_assert_eq(elf_obj_parse(&o, buf, len, &L), 0, "%s", log);
	free(buf);

	/* Map definitions, with their shapes. */
	struct { const char *name; uint32_t type, key, value, max, flags; int32_t lock; } want[] = {
		{ "in1", BPFVM_MAP_ARRAY, 4, 8, 4, 0, -1 },
		{ "outer", BPFVM_MAP_ARRAY_OF_MAPS, 4, 4, 3, 0, -1 },
		{ "houter", BPFVM_MAP_HASH_OF_MAPS, 4, 4, 8, 0, -1 },
		{ "locked", BPFVM_MAP_HASH, 8, 24, 16, BPFVM_F_NO_PREALLOC, 8 },
		{ "pcpu", BPFVM_MAP_PERCPU_ARRAY, 4, 8, 2, 0, -1 },
		{ "lru", BPFVM_MAP_LRU_HASH, 4, 4, 2, 0, -1 },
		{ "q", BPFVM_MAP_QUEUE, 0, 4, 8, 0, -1 },
		{ "rb", BPFVM_MAP_RINGBUF, 0, 0, 4096, 0, -1 },
		{ "jmp", BPFVM_MAP_PROG_ARRAY, 4, 4, 4, 0, -1 },
		{ "legacy", BPFVM_MAP_ARRAY, 4, 16, 10, 0, -1 },
		{ ".data", BPFVM_MAP_ARRAY, 4, 8, 1, 0, -1 },
		{ ".bss", BPFVM_MAP_ARRAY, 4, 8, 1, 0, -1 },
		{ ".rodata", BPFVM_MAP_ARRAY, 4, 8, 1, BPFVM_F_RDONLY_PROG, -1 },
		{ ".data.named", BPFVM_MAP_ARRAY, 4, 16, 1, 0, -1 },
		{ ".rodata.named", BPFVM_MAP_ARRAY, 4, 16, 1, BPFVM_F_RDONLY_PROG, -1 },
		{ ".data.lock", BPFVM_MAP_ARRAY, 4, 16, 1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct elf_map *m = map_named(&o, want[i].name);
		cr_expect_eq(m->attr.type, want[i].type, "%s type %u", m->name, m->attr.type);
		cr_expect_eq(m->attr.key_size, want[i].key, "%s key %u", m->name, m->attr.key_size);
		cr_expect_eq(m->attr.value_size, want[i].value, "%s value %u", m->name, m->attr.value_size);
		cr_expect_eq(m->attr.max_entries, want[i].max, "%s max %u", m->name, m->attr.max_entries);
		cr_expect_eq(m->attr.map_flags, want[i].flags, "%s flags %#x", m->name, m->attr.map_flags);
		cr_expect_eq(m->attr.spin_lock_off, want[i].lock, "%s lock %d", m->name, m->attr.spin_lock_off);
	}
	cr_expect_eq(map_named(&o, "lru")->pinning, 1);
	cr_expect(map_named(&o, "legacy")->legacy);
	cr_expect_eq(map_named(&o, ".bss")->kind, ELF_MAP_BSS);
	cr_expect_eq(map_named(&o, ".rodata")->kind, ELF_MAP_RODATA);
	/* .data holds g_data = 5 then static s_data = 9. */
	const struct elf_map *d = map_named(&o, ".data");
	cr_assert(d->init);
	cr_expect_eq(elf_rd32(d->init), 5);
	cr_expect_eq(elf_rd32(d->init + 4), 9);

	/* Inner templates and initial slots. */
	const struct elf_map *outer = map_named(&o, "outer");
	cr_assert(outer->inner);
	cr_expect_eq(outer->inner->attr.type, BPFVM_MAP_ARRAY);
	cr_expect_eq(outer->inner->attr.value_size, 8);
	cr_assert_eq(outer->nslots, 2);
	cr_expect_eq(outer->slots[0].index, 0);
	cr_expect_str_eq(o.maps[outer->slots[0].target].name, "in1");
	cr_expect_eq(outer->slots[1].index, 2);
	cr_expect_str_eq(o.maps[outer->slots[1].target].name, "in2");
	const struct elf_map *houter = map_named(&o, "houter");
	cr_assert_eq(houter->nslots, 1);
	cr_expect_eq(houter->slots[0].index, 1);
	const struct elf_map *jmp = map_named(&o, "jmp");
	cr_assert_eq(jmp->nslots, 1);
	cr_expect_eq(jmp->slots[0].kind, ELF_SLOT_PROG);
	cr_expect_str_eq(o.progs[jmp->slots[0].target].name, "tail_a");

	/* Programs and linking. */
	cr_assert_eq(o.nprogs, 2);
	int mp = elf_prog_by_name(&o, "main_prog");
	cr_assert(mp >= 0);
	cr_expect_str_eq(o.progs[mp].sec_name, "mem");
	cr_expect_eq(elf_prog_by_name(&o, "mem/tail"), elf_prog_by_name(&o, "tail_a"));
	cr_assert_eq(elf_obj_link(&o, resolve, NULL, &L), 0, "%s", log);
	const struct elf_prog *p = &o.progs[mp];
	int seen_static_ro = 0, seen_named_ro = 0, seen_legacy = 0;
	for (uint32_t i = 0; i < p->ninsns; i++) {
		const struct bpf_insn *in = &p->insns[i];
		if (in->code != 0x18)
			continue;
		cr_assert(in->src_reg == BPF_PSEUDO_MAP_IDX || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE, "insn %u src %u", i, in->src_reg);
		const struct elf_map *m = &o.maps[in->imm];
		/* static const s_ro lives at .rodata+4: section symbol + addend. */
		if (!strcmp(m->name, ".rodata") && in[1].imm == 4)
			seen_static_ro++;
		if (!strcmp(m->name, ".rodata.named"))
			seen_named_ro++;
		if (!strcmp(m->name, "legacy"))
			seen_legacy += in->src_reg == BPF_PSEUDO_MAP_IDX;
		i++;
	}
	cr_expect_eq(seen_static_ro, 1);
	cr_expect_eq(seen_named_ro, 1);
	cr_expect_eq(seen_legacy, 1);
	elf_obj_free(&o);
}

Test(elf_parse, every_map_kind_v3) { check_full("full.o"); }
Test(elf_parse, every_map_kind_v4) { check_full("full_v4.o"); }

/* Subprograms are appended once per program and calls point at them. */
Test(elf_parse, subprograms_linked)
{
	size_t len;
	uint8_t *buf = t_read("subprogs_v3.o", &len);
	char log[1024] = "";
	struct vm_log L;
	vm_log_init(&L, log, sizeof(log), 0);
	struct elf_obj o;
	cr_assert_eq(elf_obj_parse(&o, buf, len, &L), 0, "%s", log);
	free(buf);
	cr_assert_eq(elf_obj_link(&o, resolve, NULL, &L), 0, "%s", log);
	int calls = elf_prog_by_name(&o, "calls");
	cr_assert(calls >= 0);
	/* calls -> deep -> twice -> add3: main + 3 subprograms, each once. */
	const struct elf_prog *p = &o.progs[calls];
	uint32_t local_calls = 0;
	for (uint32_t i = 0; i < p->ninsns; i++) {
		if (p->insns[i].code == 0x85 && p->insns[i].src_reg == BPF_PSEUDO_CALL) {
			int64_t t = (int64_t)i + p->insns[i].imm + 1;
			cr_assert(t > i && t < p->ninsns, "call at %u lands at %lld", i, (long long)t);
			local_calls++;
		}
	}
	cr_expect_geq(local_calls, 3);
	const struct elf_prog *e = &o.progs[elf_prog_by_name(&o, "ext")];
	int found = 0;
	for (uint32_t i = 0; i < e->ninsns; i++)
		found += e->insns[i].code == 0x85 && e->insns[i].src_reg == 0 && e->insns[i].imm == 0x10000;
	cr_expect_eq(found, 1);
	/* The callback of bpf_loop became lddw src=4 to an appended function. */
	const struct elf_prog *lp = &o.progs[elf_prog_by_name(&o, "loop")];
	found = 0;
	for (uint32_t i = 0; i < lp->ninsns; i++)
		found += lp->insns[i].code == 0x18 && lp->insns[i].src_reg == BPF_PSEUDO_FUNC;
	cr_expect_eq(found, 1);
	cr_expect_str_eq(o.progs[calls].type, "mem");
	elf_obj_free(&o);
}

/* Without the resolver, an extern is a clear error naming it. */
Test(elf_parse, unresolved_extern)
{
	size_t len;
	uint8_t *buf = t_read("subprogs_v3.o", &len);
	char log[1024] = "";
	struct vm_log L;
	vm_log_init(&L, log, sizeof(log), 0);
	struct elf_obj o;
	cr_assert_eq(elf_obj_parse(&o, buf, len, &L), 0, "%s", log);
	free(buf);
	cr_expect_eq(elf_obj_link(&o, NULL, NULL, &L), -ENOENT);
	cr_expect(strstr(log, "bpfvm_test_mul"), "%s", log);
	elf_obj_free(&o);
}

Test(elf_parse, section_types)
{
	cr_expect_str_eq(elf_sec_prog_type("xdp"), "xdp");
	cr_expect_str_eq(elf_sec_prog_type("xdp/foo"), "xdp");
	cr_expect_str_eq(elf_sec_prog_type("xdp.frags"), "xdp");
	cr_expect_str_eq(elf_sec_prog_type("xdpfoo"), "mem");
	cr_expect_str_eq(elf_sec_prog_type("socket"), "mem");
}
