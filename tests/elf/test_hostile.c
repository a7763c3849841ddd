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
#include "vm.h"

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
	/* Each program's source line table, from whatever .BTF.ext survived. */
	for (uint32_t i = 0; !err && i < o.nprogs; i++) {
		struct vm_prog_debug *d;
		err = btf_ext_prog_debug(&o, &o.progs[i], &d, &L);
		free(d);
	}
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

/* .BTF.ext: header, then func_info and line_info blocks (see btf_ext.c). */
static uint8_t *ext_hdr(struct ctx *c) { return c->buf + sec_off(c, sec(c, ".BTF.ext")); }
/* Start of the func_info (which 0) or line_info (which 1) block. */
static uint8_t *ext_info(struct ctx *c, int which)
{
	uint8_t *h = ext_hdr(c);
	return h + elf_rd32(h + 4) + elf_rd32(h + 8 + 8 * which);
}
static uint32_t btf_name_of(struct ctx *c, uint32_t kind, const char *name)
{
	return elf_rd32(btf_type(c, kind, name, NULL)); /* the type's name_off */
}
M(ext_magic) { w16(ext_hdr(c), 0x9feb); }
M(ext_version) { ext_hdr(c)[2] = 7; }
M(ext_hdr_len_small) { w32(ext_hdr(c) + 4, 8); }
M(ext_hdr_len_huge) { w32(ext_hdr(c) + 4, 0x7fffffff); }
M(ext_func_off_misaligned) { uint8_t *h = ext_hdr(c); w32(h + 8, elf_rd32(h + 8) + 2); }
M(ext_line_len_past_end) { w32(ext_hdr(c) + 20, 0x7fffff00); }
M(ext_line_off_huge) { w32(ext_hdr(c) + 16, 0xfffffffc); }
M(ext_line_len_tiny) { w32(ext_hdr(c) + 20, 2); }
M(ext_line_len_cut_header) { w32(ext_hdr(c) + 20, 4 + 4); }
M(ext_func_rec_small) { w32(ext_info(c, 0), 4); }
M(ext_line_rec_unaligned) { w32(ext_info(c, 1), 18); }
M(ext_line_rec_huge) { w32(ext_info(c, 1), 0x7ffffffc); }
M(ext_line_num_overflow) { w32(ext_info(c, 1) + 8, 0xffffffff); }
M(ext_line_num_zero) { w32(ext_info(c, 1) + 8, 0); }
M(ext_sec_name_off) { w32(ext_info(c, 1) + 4, 0x7fffffff); }
M(ext_sec_not_code) { w32(ext_info(c, 1) + 4, btf_name_of(c, BTF_K_DATASEC, "license")); }
M(ext_sec_twice) { /* the second section's name made equal to the first's */
	uint8_t *i = ext_info(c, 1);
	uint32_t rec = elf_rd32(i), n = elf_rd32(i + 8);
	w32(i + 12 + (uint64_t)n * rec, elf_rd32(i + 4));
}
M(ext_insn_misaligned) { w32(ext_info(c, 1) + 12, 3); }
M(ext_insn_past_sec) { w32(ext_info(c, 1) + 12, 0x100000); }
M(ext_insn_huge) { w32(ext_info(c, 0) + 12, 0xfffffff8); }
M(ext_file_name_off) { w32(ext_info(c, 1) + 16, 0x7fffffff); }
M(ext_line_off) { w32(ext_info(c, 1) + 20, elf_rd32(btf_hdr(c) + 20)); } /* = the string section's size */
M(ext_func_type_range) { w32(ext_info(c, 0) + 16, 0x7fffffff); }
M(ext_func_type_not_func) { uint32_t id; btf_type(c, BTF_K_INT, "", &id); w32(ext_info(c, 0) + 16, id); }

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

/* A malformed .BTF.ext is reported and ignored, as libbpf does: the
 * object still loads, without line info. */
static const struct hcase ext_cases[] = {
	{ "lines.o", "ext magic", ext_magic, "bad magic" },
	{ "lines.o", "ext version", ext_version, "unsupported version" },
	{ "lines.o", "ext hdr_len small", ext_hdr_len_small, "header length" },
	{ "lines.o", "ext hdr_len huge", ext_hdr_len_huge, "header length" },
	{ "lines.o", "ext func_info misaligned", ext_func_off_misaligned, "not 4-byte aligned" },
	{ "lines.o", "ext line_info past end", ext_line_len_past_end, "runs past the end" },
	{ "lines.o", "ext line_info offset huge", ext_line_off_huge, "runs past the end" },
	{ "lines.o", "ext line_info tiny", ext_line_len_tiny, "too short for its record size" },
	{ "lines.o", "ext line_info cut header", ext_line_len_cut_header, "truncated" },
	{ "lines.o", "ext func rec_size small", ext_func_rec_small, "record size 4" },
	{ "lines.o", "ext line rec_size unaligned", ext_line_rec_unaligned, "record size 18" },
	{ "lines.o", "ext line rec_size huge", ext_line_rec_huge, "run past the end" },
	{ "lines.o", "ext num_info overflow", ext_line_num_overflow, "run past the end" },
	{ "lines.o", "ext num_info zero", ext_line_num_zero, "no records" },
	{ "lines.o", "ext section name", ext_sec_name_off, "section name offset" },
	{ "lines.o", "ext section not code", ext_sec_not_code, "'license' is not a code section" },
	{ "lines.o", "ext section twice", ext_sec_twice, "appears twice" },
	{ "lines.o", "ext insn_off misaligned", ext_insn_misaligned, "insn_off 3 is not an instruction" },
	{ "lines.o", "ext insn_off past section", ext_insn_past_sec, "is not an instruction" },
	{ "lines.o", "ext func insn_off huge", ext_insn_huge, "is not an instruction" },
	{ "lines.o", "ext file name offset", ext_file_name_off, "outside .BTF's strings" },
	{ "lines.o", "ext line offset", ext_line_off, "outside .BTF's strings" },
	{ "lines.o", "ext func type range", ext_func_type_range, "is not a BTF function" },
	{ "lines.o", "ext func type not func", ext_func_type_not_func, "is not a BTF function" },
};

static void run_ext_case(const struct hcase *hc)
{
	struct ctx c;
	uint8_t *orig = t_read(hc->file, &c.len);
	c.orig = orig;
	cr_assert_eq(elf_open(&c.f, orig, c.len, NULL), 0);
	c.buf = malloc(c.len);
	memcpy(c.buf, orig, c.len);
	hc->fn(&c);
	char log[1024] = "";
	struct vm_log L;
	struct elf_obj o;
	vm_log_init(&L, log, sizeof(log), 0);
	cr_assert_eq(elf_obj_parse(&o, c.buf, c.len, &L), 0, "%s: %s", hc->name, log);
	cr_expect(!o.has_ext, "%s: line info kept", hc->name);
	cr_expect(strstr(log, hc->msg), "%s: log lacks \"%s\": %s", hc->name, hc->msg, log);
	cr_expect(strstr(log, "without source line info"), "%s: %s", hc->name, log);
	elf_obj_free(&o);
	/* ... and links, with no line tables. */
	cr_expect_eq(load(c.buf, c.len, log, sizeof(log)), 0, "%s: %s", hc->name, log);
	elf_close(&c.f);
	free(c.buf);
	free(orig);
}

Test(elf_hostile, btf_ext_cases)
{
	for (size_t i = 0; i < sizeof(ext_cases) / sizeof(ext_cases[0]); i++)
		run_ext_case(&ext_cases[i]);
}

/* Random flips inside .BTF.ext only, so they reach the record checks and
 * the mapping onto programs rather than dying in the ELF header. */
Test(elf_hostile, btf_ext_random_flips, .timeout = 60)
{
	size_t len;
	uint8_t *buf = t_read("lines.o", &len);
	struct elf_file f;
	cr_assert_eq(elf_open(&f, buf, len, NULL), 0);
	int s = elf_sec_by_name(&f, ".BTF.ext");
	cr_assert(s > 0);
	size_t off = (size_t)(f.secs[s].data - buf), size = f.secs[s].size;
	uint8_t *m = malloc(len);
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned kept = 0;
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(m, buf, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
			m[off + seed % size] ^= (uint8_t)(seed >> 32) | 1;
		}
		char log[256];
		struct vm_log L;
		struct elf_obj o;
		vm_log_init(&L, log, sizeof(log), 0);
		if (elf_obj_parse(&o, m, len, &L) == 0) {
			kept += o.has_ext;
			elf_obj_free(&o);
		}
		load(m, len, log, sizeof(log));
	}
	/* Some flips only touch line numbers or columns: those tables load. */
	cr_expect_gt(kept, 0);
	elf_close(&f);
	free(m);
	free(buf);
}

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
	const char *files[] = { "subprogs_v3.o", "full.o", "lines.o" };
	for (int i = 0; i < 3; i++) {
		size_t len;
		uint8_t *buf = t_read(files[i], &len);
		char log[1024] = "";
		cr_expect_eq(load(buf, len, log, sizeof(log)), 0, "%s: %s", files[i], log);
		cr_expect(!strstr(log, "btf.ext"), "%s: %s", files[i], log);
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
