/*
 * Hostile input: valid clang-19 objects with one field broken at a time
 * (truncations, bad offsets, sizes, string indexes, section and symbol
 * indexes, relocation targets, BTF loops and huge counts).  Each must fail
 * with a clear message naming what is wrong, never crash or read out of
 * bounds (run under ASan in CI).  A seeded random-flip sweep follows.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "util.h"

static int resolve(void *user, const char *name, uint32_t *id)
{
	(void)user;
	(void)name;
	*id = 0x10000;
	return 0;
}

/* Parses and links; returns the first error, log in log. */
static int load(const uint8_t *buf, size_t len, char *log, size_t logsz)
{
	struct vm_log L;
	struct elf_obj o;
	vm_log_init(&L, log, logsz, 0);
	int err = elf_obj_parse(&o, buf, len, &L);
	if (err)
		return err;
	err = elf_obj_link(&o, resolve, NULL, &L);
	elf_obj_free(&o);
	return err;
}

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void w64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

struct ctx {
	uint8_t *buf;
	size_t len;
	struct elf_file f; /* views into the pristine copy, for offsets */
	const uint8_t *orig;
};

static uint8_t *shdr(struct ctx *c, uint32_t i) { return c->buf + elf_rd64(c->buf + 0x28) + 64ull * i; }
static uint32_t sec(struct ctx *c, const char *name)
{
	int i = elf_sec_by_name(&c->f, name);
	cr_assert(i > 0, "no section %s", name);
	return (uint32_t)i;
}
static size_t sec_off(struct ctx *c, uint32_t i) { return (size_t)(c->f.secs[i].data - c->orig); }
static uint8_t *sym(struct ctx *c, const char *name)
{
	for (uint32_t i = 0; i < c->f.nsyms; i++)
		if (!strcmp(c->f.syms[i].name, name))
			return c->buf + sec_off(c, c->f.symtab) + 24ull * i;
	cr_assert_fail("no symbol %s", name);
	return NULL;
}
static uint8_t *btf_hdr(struct ctx *c) { return c->buf + sec_off(c, sec(c, ".BTF")); }
/* Header of the first BTF type of `kind` named `name` ("" any). */
static uint8_t *btf_type(struct ctx *c, uint32_t kind, const char *name, uint32_t *id)
{
	struct btf b;
	uint32_t s = sec(c, ".BTF");
	cr_assert_eq(btf_parse(&b, c->f.secs[s].data, c->f.secs[s].size, NULL), 0);
	for (uint32_t i = 1; i < b.ntypes; i++) {
		if (b.types[i].kind == kind && (!*name || !strcmp(b.types[i].name, name))) {
			uint8_t *p = c->buf + (b.types[i].extra - 12 - c->orig);
			if (id)
				*id = i;
			btf_free(&b);
			return p;
		}
	}
	btf_free(&b);
	cr_assert_fail("no BTF type %s", name);
	return NULL;
}
/* The first relocation of section `rel`. */
static uint8_t *rel0(struct ctx *c, const char *rel) { return c->buf + sec_off(c, sec(c, rel)); }

typedef void (*mutate_fn)(struct ctx *c);

#define M(name) static void name(struct ctx *c)
M(bad_magic) { c->buf[1] = 'X'; }
M(big_endian) { c->buf[EI_DATA] = ELFDATA2MSB; }
M(elf32) { c->buf[EI_CLASS] = ELFCLASS32; }
M(not_rel) { w16(c->buf + 0x10, ET_EXEC); }
M(not_bpf) { w16(c->buf + 0x12, EM_X86_64); }
M(shoff_past_end) { w64(c->buf + 0x28, c->len + 8); }
M(shoff_huge) { w64(c->buf + 0x28, UINT64_MAX - 10); }
M(shentsize) { w16(c->buf + 0x3a, 40); }
M(shnum_past_end) { w16(c->buf + 0x3c, 0xfff0); }
M(shstrndx_range) { w16(c->buf + 0x3e, 0xfff0); }
M(shstrndx_not_strtab) { w16(c->buf + 0x3e, (uint16_t)sec(c, ".text")); }
M(sec_offset_past_end) { w64(shdr(c, sec(c, ".text")) + 0x18, c->len - 4); }
M(sec_size_huge) { w64(shdr(c, sec(c, ".text")) + 0x20, UINT64_MAX - 3); }
M(sec_name_off) { w32(shdr(c, sec(c, ".text")), 0x7fffffff); }
M(symtab_entsize) { w64(shdr(c, c->f.symtab) + 0x38, 16); }
M(symtab_size_odd) { w64(shdr(c, c->f.symtab) + 0x20, c->f.secs[c->f.symtab].size - 5); }
M(symtab_link) { w32(shdr(c, c->f.symtab) + 0x28, 999); }
M(sym_name_off) { w32(sym(c, "calls"), 0x7fffffff); }
M(sym_shndx) { w16(sym(c, "calls") + 6, 0xfeee); }
M(sym_value_past_sec) { w64(sym(c, "calls") + 8, 0x100000); }
M(sym_size_past_sec) { w64(sym(c, "calls") + 16, 0x100000); }
M(func_misaligned) { w64(sym(c, "calls") + 8, 3); w64(sym(c, "calls") + 16, 0); }
M(text_size_odd) { w64(shdr(c, sec(c, "mem")) + 0x20, c->f.secs[sec(c, "mem")].size - 3); }
M(rel_offset_past_sec) { w64(rel0(c, ".relmem/cross"), 0x100000); }
M(rel_offset_misaligned) { w64(rel0(c, ".relmem/cross"), 3); }
M(rel_sym_range) { w32(rel0(c, ".relmem/cross") + 12, 0x7ffffff); }
M(rel_sym_zero) { w32(rel0(c, ".relmem/cross") + 12, 0); }
M(rel_type) { w32(rel0(c, ".relmem/cross") + 8, 77); }
M(rel_on_alu) { w64(rel0(c, ".relmem/cross"), 0); } /* insn 0 is not a call */
M(rel_entsize) { w64(shdr(c, sec(c, ".relmem/cross")) + 0x38, 8); }
M(call_target_out) { /* a pc-relative call far outside its section */
	uint32_t s = sec(c, "mem");
	uint8_t *code = c->buf + sec_off(c, s);
	for (uint64_t i = 0; i < c->f.secs[s].size / 8; i++)
		if (code[8 * i] == 0x85) { code[8 * i + 1] = 0x10; w32(code + 8 * i + 4, 0x40000000); }
	/* drop the section's relocations so the raw call is used */
	w32(shdr(c, sec(c, ".relmem")) + 0x2c, 0);
}
M(btf_magic) { w16(btf_hdr(c), 0x1234); }
M(btf_hdr_len) { w32(btf_hdr(c) + 4, 0x7fffffff); }
M(btf_type_len) { w32(btf_hdr(c) + 12, 0x7fffff00); }
M(btf_str_off) { w32(btf_hdr(c) + 16, 0x7fffff00); }
M(btf_str_unterminated) { uint8_t *h = btf_hdr(c); h[elf_rd32(h + 4) + elf_rd32(h + 16) + elf_rd32(h + 20) - 1] = 'x'; }
M(btf_name_off) { w32(btf_type(c, BTF_K_STRUCT, "", NULL), 0x7fffffff); }
M(btf_unknown_kind) { w32(btf_type(c, BTF_K_STRUCT, "", NULL) + 4, 30u << 24); }
M(btf_huge_vlen) { uint8_t *t = btf_type(c, BTF_K_STRUCT, "", NULL); w32(t + 4, elf_rd32(t + 4) | 0xffff); }
M(btf_ref_range) { w32(btf_type(c, BTF_K_PTR, "", NULL) + 8, 0x7fffffff); }
M(btf_typedef_loop) { uint32_t id; uint8_t *t = btf_type(c, BTF_K_TYPEDEF, "__u32", &id); w32(t + 8, id); }
M(btf_array_loop) { /* an array whose element is itself, used as a key type */
	uint32_t id, tid;
	uint8_t *a = btf_type(c, BTF_K_ARRAY, "", &id);
	w32(a + 12, id);
	uint8_t *t = btf_type(c, BTF_K_TYPEDEF, "__u32", &tid);
	w32(t + 8, id);
}
M(btf_huge_array) { /* key type u64[0x7fffffff]: over 4 GiB */
	uint32_t id, tid, u64;
	uint8_t *a = btf_type(c, BTF_K_ARRAY, "", &id);
	btf_type(c, BTF_K_TYPEDEF, "__u64", &u64);
	w32(a + 12, u64);
	w32(a + 20, 0x7fffffff);
	uint8_t *t = btf_type(c, BTF_K_TYPEDEF, "__u32", &tid);
	w32(t + 8, id);
}
M(maps_slot_reloc) { w64(rel0(c, ".rel.maps"), 0x7ffff); }
M(maps_slot_sym) { w32(rel0(c, ".rel.maps") + 12, 0x7ffffff); }
M(lddw_offset_out) { /* a data reference (addend 4) far past its section */
	uint32_t s = sec(c, "mem");
	uint8_t *code = c->buf + sec_off(c, s);
	for (uint64_t i = 0; i < c->f.secs[s].size / 8; i++)
		if (code[8 * i] == 0x18 && elf_rd32(code + 8 * i + 4) == 4) w32(code + 8 * i + 4, 0x100004);
}
M(legacy_past_end) { w64(sym(c, "legacy") + 8, c->f.secs[sec(c, "maps")].size - 8); w64(sym(c, "legacy") + 16, 0); }
M(data_huge) { uint32_t s = sec(c, ".bss"); w64(shdr(c, s) + 0x20, 1ull << 40); }

struct hcase {
	const char *file;
	const char *name;
	mutate_fn fn;
	const char *msg; /* expected in the log */
};

static const struct hcase cases[] = {
	{ "subprogs_v3.o", "bad magic", bad_magic, "not an ELF file" },
	{ "subprogs_v3.o", "big endian", big_endian, "little-endian" },
	{ "subprogs_v3.o", "elf32", elf32, "64-bit" },
	{ "subprogs_v3.o", "not relocatable", not_rel, "relocatable" },
	{ "subprogs_v3.o", "not bpf", not_bpf, "not BPF" },
	{ "subprogs_v3.o", "shoff past end", shoff_past_end, "section header table" },
	{ "subprogs_v3.o", "shoff huge", shoff_huge, "section header table" },
	{ "subprogs_v3.o", "shentsize", shentsize, "entry size" },
	{ "subprogs_v3.o", "shnum past end", shnum_past_end, "runs past the end" },
	{ "subprogs_v3.o", "shstrndx range", shstrndx_range, "out of range" },
	{ "subprogs_v3.o", "shstrndx not strtab", shstrndx_not_strtab, "not a string table" },
	{ "subprogs_v3.o", "section offset", sec_offset_past_end, "outside the file" },
	{ "subprogs_v3.o", "section size", sec_size_huge, "outside the file" },
	{ "subprogs_v3.o", "section name", sec_name_off, "name offset" },
	{ "subprogs_v3.o", "symtab entsize", symtab_entsize, "symbol table entry size" },
	{ "subprogs_v3.o", "symtab size", symtab_size_odd, "not a multiple" },
	{ "subprogs_v3.o", "symtab link", symtab_link, "string table" },
	{ "subprogs_v3.o", "symbol name", sym_name_off, "symbol" },
	{ "subprogs_v3.o", "symbol shndx", sym_shndx, "section index" },
	{ "subprogs_v3.o", "symbol value", sym_value_past_sec, "lies outside section" },
	{ "subprogs_v3.o", "symbol size", sym_size_past_sec, "lies outside section" },
	{ "subprogs_v3.o", "function misaligned", func_misaligned, "multiple of 8" },
	{ "subprogs_v3.o", "code size", text_size_odd, "lies outside section" },
	{ "subprogs_v3.o", "reloc offset", rel_offset_past_sec, "is not an instruction" },
	{ "subprogs_v3.o", "reloc misaligned", rel_offset_misaligned, "is not an instruction" },
	{ "subprogs_v3.o", "reloc symbol", rel_sym_range, "out of range" },
	{ "subprogs_v3.o", "reloc symbol 0", rel_sym_zero, "out of range" },
	{ "subprogs_v3.o", "reloc type", rel_type, "unsupported type" },
	{ "subprogs_v3.o", "reloc on alu", rel_on_alu, "neither lddw nor call" },
	{ "subprogs_v3.o", "reloc entsize", rel_entsize, "entry size" },
	{ "subprogs_v3.o", "call target", call_target_out, "outside section" },
	{ "full.o", "btf magic", btf_magic, "bad magic" },
	{ "full.o", "btf hdr_len", btf_hdr_len, "header length" },
	{ "full.o", "btf type_len", btf_type_len, "type section" },
	{ "full.o", "btf str_off", btf_str_off, "string section" },
	{ "full.o", "btf str unterminated", btf_str_unterminated, "NUL" },
	{ "full.o", "btf name offset", btf_name_off, "name offset" },
	{ "full.o", "btf unknown kind", btf_unknown_kind, "unknown kind" },
	{ "full.o", "btf huge vlen", btf_huge_vlen, "past the end" },
	{ "full.o", "btf ref range", btf_ref_range, "refers to type" },
	{ "full.o", "btf typedef loop", btf_typedef_loop, "loop" },
	{ "full.o", "btf array loop", btf_array_loop, "loop" },
	{ "full.o", "btf huge array", btf_huge_array, "too large" },
	{ "full.o", "maps slot reloc", maps_slot_reloc, "not a slot" },
	{ "full.o", "maps slot symbol", maps_slot_sym, "out of range" },
	{ "full.o", "lddw offset", lddw_offset_out, "outside .data" },
	{ "full.o", "legacy def past end", legacy_past_end, "does not fit" },
	{ "full.o", "bss huge", data_huge, "bytes, more than" },
};

static void run_case(const struct hcase *hc)
{
	struct ctx c;
	uint8_t *orig = t_read(hc->file, &c.len);
	c.orig = orig;
	cr_assert_eq(elf_open(&c.f, orig, c.len, NULL), 0);
	c.buf = malloc(c.len);
	memcpy(c.buf, orig, c.len);
	hc->fn(&c);
	/* An exact-size heap copy: ASan catches any read past the end. */
	char log[1024] = "";
	int err = load(c.buf, c.len, log, sizeof(log));
	cr_expect_lt(err, 0, "%s: accepted", hc->name);
	cr_expect(strstr(log, hc->msg), "%s: log lacks \"%s\": %s", hc->name, hc->msg, log);
	elf_close(&c.f);
	free(c.buf);
	free(orig);
}

Test(elf_hostile, cases)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* The pristine files load, so the cases above fail for their own reason. */
Test(elf_hostile, pristine)
{
	const char *files[] = { "subprogs_v3.o", "full.o" };
	for (int i = 0; i < 2; i++) {
		size_t len;
		uint8_t *buf = t_read(files[i], &len);
		char log[1024] = "";
		cr_expect_eq(load(buf, len, log, sizeof(log)), 0, "%s: %s", files[i], log);
		free(buf);
	}
}

/* Every truncation is an error (or, past the last byte that matters, fine). */
Test(elf_hostile, truncations)
{
	size_t len;
	uint8_t *buf = t_read("full.o", &len);
	for (size_t n = 0; n < len; n += (n < 256 ? 1 : 7)) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, buf, n);
		char log[512] = "";
		int err = load(cut, n, log, sizeof(log));
		cr_expect(err < 0 || n > len - 64, "truncated to %zu bytes: accepted", n);
		if (err < 0)
			cr_expect(log[0], "truncated to %zu bytes: error %d without a message", n, err);
		free(cut);
	}
	free(buf);
}

/* Seeded random byte flips: any verdict, but never a crash (ASan). */
Test(elf_hostile, random_flips, .timeout = 60)
{
	const char *files[] = { "subprogs_v3.o", "full.o" };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (int fi = 0; fi < 2; fi++) {
		size_t len;
		uint8_t *buf = t_read(files[fi], &len);
		uint8_t *m = malloc(len);
		for (int iter = 0; iter < 20000; iter++) {
			memcpy(m, buf, len);
			int flips = 1 + iter % 8;
			for (int k = 0; k < flips; k++) {
				seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
				m[seed % len] ^= (uint8_t)(seed >> 32) | 1;
			}
			char log[256];
			load(m, len, log, sizeof(log));
		}
		free(m);
		free(buf);
	}
}
