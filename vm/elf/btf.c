/*
 * .BTF: just enough of the type graph for BTF-defined maps (member names,
 * pointers to arrays whose element count is the value, key and value types
 * and their sizes), DATASEC layouts of global data, and the offset of a
 * struct bpf_spin_lock in a map value.
 *
 * The whole graph is validated at parse time (kinds, extents, string
 * offsets, referenced ids), so lookups never leave the section.  Cycles are
 * legal in BTF only through pointers; every walk that follows non-pointer
 * edges is bounded by BTF_MAX_DEPTH, and the spin-lock search by a visit
 * budget, so a hostile graph costs bounded time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

#define BTF_MAGIC 0xeb9f
#define BTF_HDR_MIN 24
#define SPIN_LOCK_BUDGET 100000 /* member visits when searching for a lock */

static int bad(struct vm_log *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct vm_log *log, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(log, BPFVM_LOG_ERRORS, "btf: ");
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

/* Bytes of kind-specific data after the 12-byte header. */
static uint64_t extra_size(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case BTF_K_INT: return 4;
	case BTF_K_ARRAY: return 12;
	case BTF_K_STRUCT: case BTF_K_UNION: return 12ull * vlen;
	case BTF_K_ENUM: return 8ull * vlen;
	case BTF_K_FUNC_PROTO: return 8ull * vlen;
	case BTF_K_VAR: return 4;
	case BTF_K_DATASEC: return 12ull * vlen;
	case BTF_K_DECL_TAG: return 4;
	case BTF_K_ENUM64: return 12ull * vlen;
	default: return 0;
	}
}

static bool refs_type(uint32_t kind)
{
	switch (kind) {
	case BTF_K_PTR: case BTF_K_TYPEDEF: case BTF_K_VOLATILE: case BTF_K_CONST:
	case BTF_K_RESTRICT: case BTF_K_FUNC: case BTF_K_FUNC_PROTO: case BTF_K_VAR:
	case BTF_K_DECL_TAG: case BTF_K_TYPE_TAG:
		return true;
	default:
		return false;
	}
}

/* Second pass: every id a type refers to must exist. */
static int check_refs(const struct btf *btf, uint32_t id, struct vm_log *log)
{
	const struct btf_type *t = &btf->types[id];
	uint32_t n = btf->ntypes;
#define CHECK(ref, what) do { \
		if ((ref) >= n) \
			return bad(log, -EINVAL, "type %u: %s refers to type %u, but there are only %u types", id, what, (ref), n - 1); \
	} while (0)
	if (refs_type(t->kind))
		CHECK(t->size_type, "its type");
	switch (t->kind) {
	case BTF_K_ARRAY:
		CHECK(elf_rd32(t->extra), "the element type");
		CHECK(elf_rd32(t->extra + 4), "the index type");
		break;
	case BTF_K_STRUCT: case BTF_K_UNION:
		for (uint32_t i = 0; i < t->vlen; i++)
			CHECK(elf_rd32(t->extra + 12 * i + 4), "a member");
		break;
	case BTF_K_FUNC_PROTO:
		for (uint32_t i = 0; i < t->vlen; i++)
			CHECK(elf_rd32(t->extra + 8 * i + 4), "a parameter");
		break;
	case BTF_K_DATASEC:
		for (uint32_t i = 0; i < t->vlen; i++)
			CHECK(elf_rd32(t->extra + 12 * i), "a variable");
		break;
	}
#undef CHECK
	return 0;
}

int btf_parse(struct btf *btf, const uint8_t *data, size_t size, struct vm_log *log)
{
	memset(btf, 0, sizeof(*btf));
	if (size < BTF_HDR_MIN)
		return bad(log, -EINVAL, ".BTF is %zu bytes, too short for its header", size);
	if (elf_rd16(data) != BTF_MAGIC)
		return bad(log, -EINVAL, "bad magic %#x (big-endian BTF is not supported)", elf_rd16(data));
	if (data[2] != 1)
		return bad(log, -EINVAL, "unsupported version %u", data[2]);
	uint32_t hdr_len = elf_rd32(data + 4);
	uint32_t type_off = elf_rd32(data + 8), type_len = elf_rd32(data + 12);
	uint32_t str_off = elf_rd32(data + 16), str_len = elf_rd32(data + 20);
	if (hdr_len < BTF_HDR_MIN || hdr_len > size)
		return bad(log, -EINVAL, "header length %u out of range (section is %zu bytes)", hdr_len, size);
	size_t body = size - hdr_len;
	if ((uint64_t)type_off + type_len > body)
		return bad(log, -EINVAL, "type section [%u, +%u) runs past the end of .BTF (%zu bytes of data)", type_off, type_len, body);
	if ((uint64_t)str_off + str_len > body)
		return bad(log, -EINVAL, "string section [%u, +%u) runs past the end of .BTF (%zu bytes of data)", str_off, str_len, body);
	if (type_off % 4)
		return bad(log, -EINVAL, "type section offset %u is not 4-byte aligned", type_off);
	const uint8_t *types = data + hdr_len + type_off;
	const char *strs = (const char *)data + hdr_len + str_off;
	if (str_len == 0 || strs[0] != '\0' || strs[str_len - 1] != '\0')
		return bad(log, -EINVAL, "string section must start and end with a NUL byte");

	/* First pass: count the types (each is at least 12 bytes). */
	uint32_t cap = type_len / 12 + 1;
	if (cap > BTF_MAX_TYPES)
		return bad(log, -E2BIG, "room for %u types, more than the %u bpfvm accepts", cap, BTF_MAX_TYPES);
	btf->types = calloc(cap, sizeof(*btf->types));
	if (!btf->types)
		return -ENOMEM;
	btf->types[0] = (struct btf_type){ .name = "", .kind = BTF_K_UNKN };
	uint32_t n = 1;
	uint64_t pos = 0;
	int err;
	while (pos < type_len) {
		if (type_len - pos < 12) {
			err = bad(log, -EINVAL, "type %u at offset %llu is truncated", n, (unsigned long long)pos);
			goto fail;
		}
		const uint8_t *p = types + pos;
		uint32_t name_off = elf_rd32(p), info = elf_rd32(p + 4);
		struct btf_type *t = &btf->types[n];
		t->kind = (info >> 24) & 0x1f;
		t->vlen = info & 0xffff;
		t->kflag = info >> 31;
		t->size_type = elf_rd32(p + 8);
		t->extra = p + 12;
		if (t->kind == BTF_K_UNKN || t->kind >= BTF_K__MAX) {
			err = bad(log, -EINVAL, "type %u: unknown kind %u", n, t->kind);
			goto fail;
		}
		if (name_off >= str_len) {
			err = bad(log, -EINVAL, "type %u: name offset %u outside the string section (%u bytes)", n, name_off, str_len);
			goto fail;
		}
		t->name = strs + name_off;
		uint64_t ext = extra_size(t->kind, t->vlen);
		if (ext > type_len - pos - 12) {
			err = bad(log, -EINVAL, "type %u (kind %u): %u entries need %llu bytes, past the end of the type section",
			           n, t->kind, t->vlen, (unsigned long long)ext);
			goto fail;
		}
		/* Member and enumerator names must be valid strings too. */
		uint32_t stride = 0;
		if (t->kind == BTF_K_STRUCT || t->kind == BTF_K_UNION || t->kind == BTF_K_DATASEC || t->kind == BTF_K_ENUM64)
			stride = 12;
		else if (t->kind == BTF_K_ENUM || t->kind == BTF_K_FUNC_PROTO)
			stride = 8;
		if (stride && t->kind != BTF_K_DATASEC) {
			for (uint32_t i = 0; i < t->vlen; i++) {
				uint32_t off = elf_rd32(t->extra + (uint64_t)stride * i);
				if (off >= str_len) {
					err = bad(log, -EINVAL, "type %u: member %u name offset %u outside the string section", n, i, off);
					goto fail;
				}
			}
		}
		pos += 12 + ext;
		n++;
	}
	btf->ntypes = n;
	for (uint32_t id = 1; id < n; id++) {
		err = check_refs(btf, id, log);
		if (err)
			goto fail;
	}
	btf->strs = strs;
	btf->str_len = str_len;
	return 0;
fail:
	btf_free(btf);
	return err;
}

void btf_free(struct btf *btf)
{
	free(btf->types);
	btf->types = NULL;
	btf->ntypes = 0;
}

const struct btf_type *btf_type_by_id(const struct btf *btf, uint32_t id)
{
	return id < btf->ntypes ? &btf->types[id] : NULL;
}

static bool is_mod(uint32_t kind)
{
	return kind == BTF_K_TYPEDEF || kind == BTF_K_VOLATILE || kind == BTF_K_CONST ||
	       kind == BTF_K_RESTRICT || kind == BTF_K_TYPE_TAG;
}

int btf_skip_mods(const struct btf *btf, uint32_t id, uint32_t *out)
{
	for (int depth = 0; depth <= BTF_MAX_DEPTH; depth++) {
		const struct btf_type *t = btf_type_by_id(btf, id);
		if (!t)
			return -EINVAL;
		if (!is_mod(t->kind)) {
			*out = id;
			return 0;
		}
		id = t->size_type;
	}
	return -ELOOP;
}

static int type_size(const struct btf *btf, uint32_t id, uint64_t *size, int depth)
{
	if (depth > BTF_MAX_DEPTH)
		return -ELOOP;
	const struct btf_type *t = btf_type_by_id(btf, id);
	if (!t)
		return -EINVAL;
	switch (t->kind) {
	case BTF_K_INT: case BTF_K_ENUM: case BTF_K_ENUM64: case BTF_K_STRUCT:
	case BTF_K_UNION: case BTF_K_FLOAT: case BTF_K_DATASEC:
		*size = t->size_type;
		return 0;
	case BTF_K_PTR:
		*size = 8;
		return 0;
	case BTF_K_TYPEDEF: case BTF_K_VOLATILE: case BTF_K_CONST: case BTF_K_RESTRICT:
	case BTF_K_TYPE_TAG: case BTF_K_VAR:
		return type_size(btf, t->size_type, size, depth + 1);
	case BTF_K_ARRAY: {
		uint32_t elem, nelems;
		uint64_t esz;
		btf_array(t, &elem, &nelems);
		int err = type_size(btf, elem, &esz, depth + 1);
		if (err)
			return err;
		if (esz && nelems > UINT32_MAX / esz)
			return -E2BIG;
		*size = esz * nelems;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int btf_type_size(const struct btf *btf, uint32_t id, uint64_t *size)
{
	return type_size(btf, id, size, 0);
}

void btf_member(const struct btf *btf, const struct btf_type *t, uint32_t i,
                const char **name, uint32_t *type, uint32_t *bit_off)
{
	const uint8_t *m = t->extra + 12 * (uint64_t)i;
	if (name)
		*name = btf->strs + elf_rd32(m);
	if (type)
		*type = elf_rd32(m + 4);
	if (bit_off) {
		uint32_t off = elf_rd32(m + 8);
		/* With kind_flag the top 8 bits are a bitfield size. */
		*bit_off = t->kflag ? off & 0xffffff : off;
	}
}

void btf_array(const struct btf_type *t, uint32_t *elem, uint32_t *nelems)
{
	*elem = elf_rd32(t->extra);
	*nelems = elf_rd32(t->extra + 8);
}

void btf_datasec_var(const struct btf_type *t, uint32_t i, uint32_t *type, uint32_t *off, uint32_t *size)
{
	const uint8_t *v = t->extra + 12 * (uint64_t)i;
	*type = elf_rd32(v);
	*off = elf_rd32(v + 4);
	*size = elf_rd32(v + 8);
}

uint32_t btf_find(const struct btf *btf, const char *name, uint32_t kind)
{
	for (uint32_t id = 1; id < btf->ntypes; id++)
		if (btf->types[id].kind == kind && !strcmp(btf->types[id].name, name))
			return id;
	return 0;
}

static int find_lock(const struct btf *btf, uint32_t id, uint64_t base, int depth, long *budget,
                     int64_t *found, struct vm_log *log)
{
	if (depth > BTF_MAX_DEPTH)
		return bad(log, -ELOOP, "type %u: nesting deeper than %d (a type loop?)", id, BTF_MAX_DEPTH);
	if (--*budget < 0)
		return bad(log, -E2BIG, "type %u: too many members to search for a bpf_spin_lock", id);
	uint32_t rid;
	if (btf_skip_mods(btf, id, &rid))
		return bad(log, -ELOOP, "type %u: modifier chain loops or is deeper than %d", id, BTF_MAX_DEPTH);
	const struct btf_type *t = &btf->types[rid];
	if (t->kind != BTF_K_STRUCT && t->kind != BTF_K_UNION)
		return 0;
	if (t->kind == BTF_K_STRUCT && !strcmp(t->name, "bpf_spin_lock")) {
		if (*found >= 0)
			return bad(log, -EINVAL, "more than one struct bpf_spin_lock in a map value (at %lld and %llu)",
			           (long long)*found, (unsigned long long)base);
		if (t->size_type != 4)
			return bad(log, -EINVAL, "struct bpf_spin_lock has size %u, expected 4", t->size_type);
		*found = (int64_t)base;
		return 0;
	}
	for (uint32_t i = 0; i < t->vlen; i++) {
		uint32_t mtype, bit_off;
		btf_member(btf, t, i, NULL, &mtype, &bit_off);
		int err = find_lock(btf, mtype, base + bit_off / 8, depth + 1, budget, found, log);
		if (err)
			return err;
	}
	return 0;
}

int btf_find_spin_lock(const struct btf *btf, uint32_t id, int32_t *off, struct vm_log *log)
{
	long budget = SPIN_LOCK_BUDGET;
	int64_t found = -1;
	int err = find_lock(btf, id, 0, 0, &budget, &found, log);
	if (err)
		return err;
	if (found > INT32_MAX)
		return bad(log, -E2BIG, "struct bpf_spin_lock at offset %lld is too far into the value", (long long)found);
	if (found >= 0 && found % 4)
		return bad(log, -EINVAL, "struct bpf_spin_lock at offset %lld is not 4-byte aligned", (long long)found);
	*off = (int32_t)found;
	return 0;
}

void btf_type_str(const struct btf *btf, uint32_t id, char *buf, size_t size)
{
	const struct btf_type *t = btf_type_by_id(btf, id);
	if (!size)
		return;
	if (!t || id == 0) {
		snprintf(buf, size, "%s", id ? "?" : "void");
		return;
	}
	switch (t->kind) {
	case BTF_K_STRUCT: snprintf(buf, size, "struct %s", *t->name ? t->name : "(anon)"); break;
	case BTF_K_UNION: snprintf(buf, size, "union %s", *t->name ? t->name : "(anon)"); break;
	case BTF_K_ENUM: case BTF_K_ENUM64: snprintf(buf, size, "enum %s", *t->name ? t->name : "(anon)"); break;
	case BTF_K_PTR: snprintf(buf, size, "pointer"); break;
	case BTF_K_ARRAY: {
		uint32_t elem, nelems;
		char inner[64];
		btf_array(t, &elem, &nelems);
		/* One level only: the element's own name, never a recursive walk. */
		const struct btf_type *e = btf_type_by_id(btf, elem);
		snprintf(inner, sizeof(inner), "%s", e && *e->name ? e->name : "?");
		snprintf(buf, size, "%s[%u]", inner, nelems);
		break;
	}
	default: snprintf(buf, size, "%s", *t->name ? t->name : "?"); break;
	}
}
