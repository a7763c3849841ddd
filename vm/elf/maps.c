/*
 * Map definitions, the three ways libbpf-style objects declare them:
 *
 *   .maps     BTF-defined: each variable's BTF struct says what the map is.
 *             __uint(f, N) is `int (*f)[N]` (N = element count of the
 *             pointed-to array), __type(f, T) is `typeof(T) *f`,
 *             __array(values, T) is `typeof(T) *values[]` whose initial
 *             slots are relocations in .rel.maps;
 *   maps      legacy struct bpf_map_def { type, key_size, value_size,
 *             max_entries, map_flags } per symbol;
 *   .data .rodata .bss and .data.* .rodata.* .bss.*: global data, each a
 *             single-element array whose value is the section.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

#define R_BPF_64_64    1
#define R_BPF_64_ABS64 2

static int bad(struct vm_log *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct vm_log *log, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(log, BPFVM_LOG_ERRORS, "maps: ");
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

static struct elf_map *new_map(struct elf_obj *o, const char *name)
{
	struct elf_map *maps = realloc(o->maps, (o->nmaps + 1) * sizeof(*maps));
	if (!maps)
		return NULL;
	o->maps = maps;
	struct elf_map *m = &maps[o->nmaps++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->attr.sz = sizeof(m->attr);
	m->attr.spin_lock_off = -1;
	m->sec = -1;
	return m;
}

/* __uint(name, N): pointer to an array of N elements. */
static int btf_uint(const struct btf *btf, uint32_t type, uint32_t *val)
{
	uint32_t id;
	if (btf_skip_mods(btf, type, &id) || btf->types[id].kind != BTF_K_PTR)
		return -EINVAL;
	if (btf_skip_mods(btf, btf->types[id].size_type, &id) || btf->types[id].kind != BTF_K_ARRAY)
		return -EINVAL;
	uint32_t elem;
	btf_array(&btf->types[id], &elem, val);
	return 0;
}

static int parse_btf_def(struct elf_obj *o, uint32_t type, struct elf_map *m, bool inner, struct vm_log *log)
{
	const struct btf *btf = &o->btf;
	uint32_t id;
	if (btf_skip_mods(btf, type, &id) || btf->types[id].kind != BTF_K_STRUCT)
		return bad(log, -EINVAL, "map '%s': its BTF type %u is not a struct", m->name, type);
	const struct btf_type *t = &btf->types[id];
	uint32_t key_size = 0, value_size = 0;
	for (uint32_t i = 0; i < t->vlen; i++) {
		const char *mname;
		uint32_t mtype, bit_off, v;
		btf_member(btf, t, i, &mname, &mtype, &bit_off);
		uint32_t *dst = NULL;
		if (!strcmp(mname, "type")) dst = &m->attr.type;
		else if (!strcmp(mname, "max_entries")) dst = &m->attr.max_entries;
		else if (!strcmp(mname, "map_flags")) dst = &m->attr.map_flags;
		else if (!strcmp(mname, "key_size")) dst = &key_size;
		else if (!strcmp(mname, "value_size")) dst = &value_size;
		else if (!strcmp(mname, "pinning")) dst = &m->pinning;
		if (dst || !strcmp(mname, "numa_node") || !strcmp(mname, "map_extra")) {
			if (btf_uint(btf, mtype, &v))
				return bad(log, -EINVAL, "map '%s': field '%s' is not __uint(%s, N)", m->name, mname, mname);
			if (dst)
				*dst = v;
			continue;
		}
		if (!strcmp(mname, "key") || !strcmp(mname, "value")) {
			uint32_t pid, target;
			uint64_t sz;
			if (btf_skip_mods(btf, mtype, &pid) || btf->types[pid].kind != BTF_K_PTR)
				return bad(log, -EINVAL, "map '%s': field '%s' is not __type(%s, T)", m->name, mname, mname);
			target = btf->types[pid].size_type;
			int err = btf_type_size(btf, target, &sz);
			if (err)
				return bad(log, err == -ELOOP ? -ELOOP : -EINVAL,
				           "map '%s': can't size the %s type (BTF type %u): %s", m->name, mname, target,
				           err == -ELOOP ? "type loop or chain too deep" : err == -E2BIG ? "too large" : "type has no size");
			if (sz == 0 || sz > UINT32_MAX)
				return bad(log, -EINVAL, "map '%s': %s type size %llu is invalid", m->name, mname, (unsigned long long)sz);
			if (mname[0] == 'k') {
				if (key_size && key_size != sz)
					return bad(log, -EINVAL, "map '%s': key_size %u conflicts with key type size %llu", m->name, key_size, (unsigned long long)sz);
				key_size = (uint32_t)sz;
				m->key_btf = target;
			} else {
				if (value_size && value_size != sz)
					return bad(log, -EINVAL, "map '%s': value_size %u conflicts with value type size %llu", m->name, value_size, (unsigned long long)sz);
				value_size = (uint32_t)sz;
				m->value_btf = target;
			}
			continue;
		}
		if (!strcmp(mname, "values")) {
			if (inner)
				return bad(log, -EINVAL, "map '%s': an inner map template can't have values", m->name);
			uint32_t aid, elem, n, pid, target;
			if (btf_skip_mods(btf, mtype, &aid) || btf->types[aid].kind != BTF_K_ARRAY)
				return bad(log, -EINVAL, "map '%s': 'values' is not __array(values, T)", m->name);
			btf_array(&btf->types[aid], &elem, &n);
			if (btf_skip_mods(btf, elem, &pid) || btf->types[pid].kind != BTF_K_PTR ||
			    btf_skip_mods(btf, btf->types[pid].size_type, &target))
				return bad(log, -EINVAL, "map '%s': 'values' elements are not pointers", m->name);
			m->has_values = true;
			m->values_off = bit_off / 8;
			if (btf->types[target].kind == BTF_K_STRUCT) {
				m->inner = calloc(1, sizeof(*m->inner));
				if (!m->inner)
					return -ENOMEM;
				snprintf(m->inner->name, sizeof(m->inner->name), "%.56s.inner", m->name);
				m->inner->attr.sz = sizeof(m->inner->attr);
				m->inner->attr.spin_lock_off = -1;
				m->inner->sec = -1;
				m->inner->is_inner_def = true;
				int err = parse_btf_def(o, target, m->inner, true, log);
				if (err)
					return err;
			} else if (btf->types[target].kind != BTF_K_FUNC_PROTO) {
				return bad(log, -EINVAL, "map '%s': 'values' must point to a map definition or a function", m->name);
			}
			continue;
		}
		return bad(log, -EINVAL, "map '%s': unknown field '%s'", m->name, mname);
	}
	if (!m->attr.type)
		return bad(log, -EINVAL, "map '%s': no map type (__uint(type, ...))", m->name);
	bool fd_values = m->attr.type == BPFVM_MAP_ARRAY_OF_MAPS || m->attr.type == BPFVM_MAP_HASH_OF_MAPS ||
	                 m->attr.type == BPFVM_MAP_PROG_ARRAY;
	if (m->has_values && !fd_values)
		return bad(log, -EINVAL, "map '%s': __array(values, ...) needs a map-in-map or prog array type, not %u", m->name, m->attr.type);
	if (fd_values) {
		/* As libbpf: the values are 4-byte handles. */
		if (value_size && value_size != 4)
			return bad(log, -EINVAL, "map '%s': value size %u, map-in-map and prog array values are 4 bytes", m->name, value_size);
		value_size = 4;
		if (!key_size)
			key_size = 4;
	}
	if ((m->attr.type == BPFVM_MAP_ARRAY_OF_MAPS || m->attr.type == BPFVM_MAP_HASH_OF_MAPS) && !m->inner)
		return bad(log, -EINVAL, "map '%s': map-in-map needs an inner map template (__array(values, struct {...}))", m->name);
	m->attr.key_size = key_size;
	m->attr.value_size = value_size;
	if (m->value_btf && !fd_values) {
		int err = btf_find_spin_lock(btf, m->value_btf, &m->attr.spin_lock_off, log);
		if (err)
			return bad(log, err, "map '%s': bad value type for a spin lock", m->name);
	}
	return 0;
}

/* The VAR of a DATASEC with this name, or 0. */
static uint32_t datasec_var(const struct btf *btf, uint32_t datasec, const char *name, uint32_t *var_off)
{
	const struct btf_type *ds = &btf->types[datasec];
	for (uint32_t i = 0; i < ds->vlen; i++) {
		uint32_t vtype, off, size;
		btf_datasec_var(ds, i, &vtype, &off, &size);
		const struct btf_type *v = &btf->types[vtype];
		if (v->kind == BTF_K_VAR && !strcmp(v->name, name)) {
			if (var_off)
				*var_off = off;
			return vtype;
		}
	}
	return 0;
}

static int btf_maps(struct elf_obj *o, struct vm_log *log)
{
	const struct elf_file *f = &o->elf;
	int sec = o->maps_sec;
	if (!o->has_btf)
		return bad(log, -EINVAL, "the object has a .maps section but no .BTF: compile with -g");
	uint32_t ds = btf_find(&o->btf, ".maps", BTF_K_DATASEC);
	if (!ds)
		return bad(log, -EINVAL, ".BTF has no DATASEC for .maps");
	for (uint32_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[i];
		if (s->shndx != (uint32_t)sec || s->type == STT_SECTION || !*s->name)
			continue;
		uint32_t var = datasec_var(&o->btf, ds, s->name, NULL);
		if (!var)
			return bad(log, -EINVAL, "map '%s': no BTF variable of that name in .maps", s->name);
		struct elf_map *m = new_map(o, s->name);
		if (!m)
			return -ENOMEM;
		m->sec = sec;
		m->sec_off = s->value;
		m->def_size = s->size;
		int err = parse_btf_def(o, o->btf.types[var].size_type, m, false, log);
		if (err)
			return err;
	}
	return 0;
}

static int legacy_maps(struct elf_obj *o, struct vm_log *log)
{
	const struct elf_file *f = &o->elf;
	const struct elf_sec *sec = &f->secs[o->legacy_maps_sec];
	if (!sec->data)
		return bad(log, -EINVAL, "legacy 'maps' section has no data");
	for (uint32_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *s = &f->syms[i];
		if (s->shndx != (uint32_t)o->legacy_maps_sec || s->type == STT_SECTION || !*s->name)
			continue;
		/* struct bpf_map_def: five u32; larger defs (extra fields) must
		 * leave the rest zero, as libbpf requires. */
		if (s->value > sec->size || sec->size - s->value < 20)
			return bad(log, -EINVAL, "legacy map '%s' at maps+%#llx: a struct bpf_map_def (20 bytes) does not fit in the section (%llu bytes)",
			           s->name, (unsigned long long)s->value, (unsigned long long)sec->size);
		const uint8_t *p = sec->data + s->value;
		for (uint64_t b = 20; b < s->size; b++)
			if (p[b])
				return bad(log, -EINVAL, "legacy map '%s': unsupported non-zero field at byte %llu of its definition",
				           s->name, (unsigned long long)b);
		struct elf_map *m = new_map(o, s->name);
		if (!m)
			return -ENOMEM;
		m->legacy = true;
		m->sec = o->legacy_maps_sec;
		m->sec_off = s->value;
		m->def_size = s->size ? s->size : 20;
		m->attr.type = elf_rd32(p);
		m->attr.key_size = elf_rd32(p + 4);
		m->attr.value_size = elf_rd32(p + 8);
		m->attr.max_entries = elf_rd32(p + 12);
		m->attr.map_flags = elf_rd32(p + 16);
	}
	return 0;
}

static bool has_prefix(const char *s, const char *p)
{
	size_t n = strlen(p);
	return !strncmp(s, p, n) && (s[n] == '\0' || s[n] == '.');
}

static int data_maps(struct elf_obj *o, struct vm_log *log)
{
	const struct elf_file *f = &o->elf;
	for (uint32_t i = 1; i < f->nsecs; i++) {
		const struct elf_sec *s = &f->secs[i];
		uint32_t kind;
		if (has_prefix(s->name, ".data"))
			kind = ELF_MAP_DATA;
		else if (has_prefix(s->name, ".rodata"))
			kind = ELF_MAP_RODATA;
		else if (has_prefix(s->name, ".bss"))
			kind = ELF_MAP_BSS;
		else
			continue;
		if (s->type != SHT_PROGBITS && s->type != SHT_NOBITS)
			continue;
		if (s->flags & SHF_EXECINSTR)
			return bad(log, -EINVAL, "section %s is executable, but its name says it is data", s->name);
		if (s->size == 0)
			continue; /* as libbpf: nothing to map */
		if (s->size > ELF_MAX_DATA_SIZE)
			return bad(log, -E2BIG, "global data section %s is %llu bytes, more than %u",
			           s->name, (unsigned long long)s->size, ELF_MAX_DATA_SIZE);
		struct elf_map *m = new_map(o, s->name);
		if (!m)
			return -ENOMEM;
		m->kind = s->type == SHT_NOBITS ? ELF_MAP_BSS : kind;
		m->sec = (int)i;
		m->def_size = s->size;
		m->init = s->data;
		m->attr.type = BPFVM_MAP_ARRAY;
		m->attr.key_size = 4;
		m->attr.value_size = (uint32_t)s->size;
		m->attr.max_entries = 1;
		if (kind == ELF_MAP_RODATA)
			m->attr.map_flags = BPFVM_F_RDONLY_PROG;
		/* A spin lock among the section's variables (issue: global
		 * data locks are identified by the section's single value). */
		if (o->has_btf) {
			uint32_t ds = btf_find(&o->btf, s->name, BTF_K_DATASEC);
			const struct btf_type *t = btf_type_by_id(&o->btf, ds);
			for (uint32_t v = 0; ds && v < t->vlen; v++) {
				uint32_t vtype, off, size;
				int32_t lock;
				btf_datasec_var(t, v, &vtype, &off, &size);
				if (o->btf.types[vtype].kind == BTF_K_VAR)
					vtype = o->btf.types[vtype].size_type;
				int err = btf_find_spin_lock(&o->btf, vtype, &lock, log);
				if (err)
					return bad(log, err, "section %s: bad variable type", s->name);
				if (lock < 0)
					continue;
				if (m->attr.spin_lock_off >= 0)
					return bad(log, -EINVAL, "section %s holds more than one bpf_spin_lock; put each in its own section",
					           s->name);
				if ((uint64_t)off + (uint64_t)lock + 4 > s->size)
					return bad(log, -EINVAL, "section %s: spin lock at %u+%d lies outside the section", s->name, off, lock);
				m->attr.spin_lock_off = (int32_t)(off + (uint32_t)lock);
			}
		}
	}
	return 0;
}

int elf_collect_maps(struct elf_obj *o, struct vm_log *log)
{
	int err = 0;
	if (o->maps_sec > 0 && (err = btf_maps(o, log)))
		return err;
	if (o->legacy_maps_sec > 0 && (err = legacy_maps(o, log)))
		return err;
	return data_maps(o, log);
}

int elf_map_by_sym(const struct elf_obj *o, const struct elf_sym *sym)
{
	for (uint32_t i = 0; i < o->nmaps; i++) {
		const struct elf_map *m = &o->maps[i];
		if (m->sec < 0 || (uint32_t)m->sec != sym->shndx)
			continue;
		if (m->kind != ELF_MAP_USER || (sym->type != STT_SECTION && m->sec_off == sym->value))
			return (int)i;
	}
	return -1;
}

/* Initial slots of __array(values, ...): relocations in .rel.maps. */
int elf_resolve_slots(struct elf_obj *o, struct vm_log *log)
{
	const struct elf_file *f = &o->elf;
	if (o->maps_sec <= 0)
		return 0;
	for (uint32_t r = 1; r < f->nsecs; r++) {
		const struct elf_sec *rs = &f->secs[r];
		if (rs->type != SHT_REL || rs->info != (uint32_t)o->maps_sec)
			continue;
		if (rs->link != f->symtab || !f->symtab)
			return bad(log, -EINVAL, "%s: relocations refer to section %u, not the symbol table", rs->name, rs->link);
		if (rs->entsize != sizeof(Elf64_Rel) || rs->size % sizeof(Elf64_Rel))
			return bad(log, -EINVAL, "%s: bad relocation entry size", rs->name);
		uint64_t n = rs->size / sizeof(Elf64_Rel);
		for (uint64_t k = 0; k < n; k++) {
			const uint8_t *p = rs->data + k * sizeof(Elf64_Rel);
			uint64_t off = elf_rd64(p), info = elf_rd64(p + 8);
			uint32_t symi = (uint32_t)(info >> 32), type = (uint32_t)info;
			if (type != R_BPF_64_ABS64 && type != R_BPF_64_64)
				return bad(log, -EINVAL, "%s: relocation %llu has type %u, expected R_BPF_64_ABS64", rs->name, (unsigned long long)k, type);
			if (symi >= f->nsyms)
				return bad(log, -EINVAL, "%s: relocation %llu refers to symbol %u, out of range (%u symbols)",
				           rs->name, (unsigned long long)k, symi, f->nsyms);
			struct elf_map *m = NULL;
			for (uint32_t i = 0; i < o->nmaps; i++) {
				struct elf_map *c = &o->maps[i];
				if (c->sec == o->maps_sec && !c->legacy && off >= c->sec_off && off - c->sec_off < c->def_size) {
					m = c;
					break;
				}
			}
			if (!m || !m->has_values || off - m->sec_off < m->values_off || (off - m->sec_off - m->values_off) % 8)
				return bad(log, -EINVAL, "%s: relocation at .maps+%#llx is not a slot of any map's values array",
				           rs->name, (unsigned long long)off);
			uint64_t slot = (off - m->sec_off - m->values_off) / 8;
			if (slot >= m->attr.max_entries)
				return bad(log, -EINVAL, "map '%s': initial slot %llu is beyond max_entries %u",
				           m->name, (unsigned long long)slot, m->attr.max_entries);
			const struct elf_sym *s = &f->syms[symi];
			struct elf_slot sl = { .index = (uint32_t)slot };
			if (m->attr.type == BPFVM_MAP_PROG_ARRAY) {
				int p = -1;
				for (uint32_t i = 0; i < o->nprogs; i++)
					if ((uint32_t)o->progs[i].sec == s->shndx && (uint64_t)o->progs[i].start * 8 == s->value &&
					    s->type == STT_FUNC)
						p = (int)i;
				if (p < 0)
					return bad(log, -EINVAL, "map '%s' slot %llu: '%s' is not a program", m->name,
					           (unsigned long long)slot, s->name);
				sl.kind = ELF_SLOT_PROG;
				sl.target = (uint32_t)p;
			} else {
				int t = s->shndx == (uint32_t)o->maps_sec ? elf_map_by_sym(o, s) : -1;
				if (t < 0)
					return bad(log, -EINVAL, "map '%s' slot %llu: '%s' is not a map in .maps", m->name,
					           (unsigned long long)slot, s->name);
				if (&o->maps[t] == m)
					return bad(log, -EINVAL, "map '%s' slot %llu: a map can't contain itself", m->name, (unsigned long long)slot);
				sl.kind = ELF_SLOT_MAP;
				sl.target = (uint32_t)t;
			}
			struct elf_slot *slots = realloc(m->slots, (m->nslots + 1) * sizeof(*slots));
			if (!slots)
				return -ENOMEM;
			m->slots = slots;
			m->slots[m->nslots++] = sl;
		}
	}
	return 0;
}
