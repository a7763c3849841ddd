/*
 * ELF64 little-endian relocatable objects, as clang -target bpf writes them.
 *
 * Every offset, size and index the file contains is checked here, once, so
 * that later stages work on validated views: a section's data lies inside
 * the file, a name is NUL-terminated inside its string table, a symbol's
 * section index is valid.  Nothing is read through a raw struct cast (the
 * file may be unaligned); values are read byte-wise as little-endian.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

#ifndef EM_BPF
#define EM_BPF 247
#endif

static int bad(struct vm_log *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct vm_log *log, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(log, BPFVM_LOG_ERRORS, "elf: ");
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

/* [off, off+size) inside [0, len)? */
static bool in_file(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

/* A NUL-terminated string at `off` of string section `s`, or NULL. */
static const char *str_at(const struct elf_sec *s, uint64_t off)
{
	if (!s->data || off >= s->size)
		return NULL;
	const char *p = (const char *)s->data + off;
	if (!memchr(p, '\0', s->size - off))
		return NULL;
	return p;
}

int elf_sec_by_name(const struct elf_file *f, const char *name)
{
	for (uint32_t i = 1; i < f->nsecs; i++)
		if (!strcmp(f->secs[i].name, name))
			return (int)i;
	return -1;
}

static int read_sections(struct elf_file *f, const uint8_t *eh, struct vm_log *log)
{
	const uint8_t *buf = f->buf;
	uint64_t shoff = elf_rd64(eh + 0x28);
	uint16_t shentsize = elf_rd16(eh + 0x3a);
	uint32_t shnum = elf_rd16(eh + 0x3c);
	uint32_t shstrndx = elf_rd16(eh + 0x3e);

	if (shentsize != sizeof(Elf64_Shdr))
		return bad(log, -EINVAL, "section header entry size %u, expected %zu", shentsize, sizeof(Elf64_Shdr));
	if (shoff == 0 || !in_file(f->len, shoff, sizeof(Elf64_Shdr)))
		return bad(log, -EINVAL, "section header table offset %#llx is outside the file (%zu bytes)",
		           (unsigned long long)shoff, f->len);
	/* Extended numbering: the real counts live in section 0. */
	const uint8_t *sh0 = buf + shoff;
	if (shnum == 0)
		shnum = (uint32_t)elf_rd64(sh0 + 0x20);
	if (shstrndx == SHN_XINDEX)
		shstrndx = elf_rd32(sh0 + 0x2c);
	if (shnum == 0 || shnum > ELF_MAX_SECTIONS)
		return bad(log, -EINVAL, "bad section count %u", shnum);
	if (!in_file(f->len, shoff, (uint64_t)shnum * sizeof(Elf64_Shdr)))
		return bad(log, -EINVAL, "section header table (%u entries at %#llx) runs past the end of the file (%zu bytes)",
		           shnum, (unsigned long long)shoff, f->len);
	if (shstrndx == 0 || shstrndx >= shnum)
		return bad(log, -EINVAL, "section name table index %u out of range (%u sections)", shstrndx, shnum);

	f->secs = calloc(shnum, sizeof(*f->secs));
	if (!f->secs)
		return -ENOMEM;
	f->nsecs = shnum;
	for (uint32_t i = 0; i < shnum; i++) {
		const uint8_t *sh = buf + shoff + (uint64_t)i * sizeof(Elf64_Shdr);
		struct elf_sec *s = &f->secs[i];
		s->type = elf_rd32(sh + 0x04);
		s->flags = elf_rd64(sh + 0x08);
		uint64_t off = elf_rd64(sh + 0x18);
		s->size = elf_rd64(sh + 0x20);
		s->link = elf_rd32(sh + 0x28);
		s->info = elf_rd32(sh + 0x2c);
		s->entsize = elf_rd64(sh + 0x38);
		s->name = "";
		if (i == 0 || s->type == SHT_NULL)
			continue;
		if (s->type != SHT_NOBITS && s->size) {
			if (!in_file(f->len, off, s->size))
				return bad(log, -EINVAL, "section %u: data at offset %#llx size %#llx is outside the file (%zu bytes)",
				           i, (unsigned long long)off, (unsigned long long)s->size, f->len);
			s->data = buf + off;
		}
	}
	const struct elf_sec *shstr = &f->secs[shstrndx];
	if (shstr->type != SHT_STRTAB || !shstr->data)
		return bad(log, -EINVAL, "section name table (section %u) is not a string table", shstrndx);
	for (uint32_t i = 1; i < shnum; i++) {
		const uint8_t *sh = buf + shoff + (uint64_t)i * sizeof(Elf64_Shdr);
		uint32_t name_off = elf_rd32(sh);
		const char *name = str_at(shstr, name_off);
		if (!name)
			return bad(log, -EINVAL, "section %u: name offset %u is outside the section name table (%llu bytes) or unterminated",
			           i, name_off, (unsigned long long)shstr->size);
		f->secs[i].name = name;
	}
	return 0;
}

static int read_symbols(struct elf_file *f, struct vm_log *log)
{
	uint32_t symtab = 0;
	for (uint32_t i = 1; i < f->nsecs; i++) {
		if (f->secs[i].type == SHT_SYMTAB) {
			if (symtab)
				return bad(log, -EINVAL, "more than one symbol table (sections %u and %u)", symtab, i);
			symtab = i;
		}
	}
	if (!symtab)
		return 0; /* a file without symbols has no programs; caught later */
	const struct elf_sec *st = &f->secs[symtab];
	if (st->entsize != sizeof(Elf64_Sym))
		return bad(log, -EINVAL, "symbol table entry size %llu, expected %zu",
		           (unsigned long long)st->entsize, sizeof(Elf64_Sym));
	if (st->size % sizeof(Elf64_Sym))
		return bad(log, -EINVAL, "symbol table size %llu is not a multiple of %zu",
		           (unsigned long long)st->size, sizeof(Elf64_Sym));
	if (st->link == 0 || st->link >= f->nsecs || f->secs[st->link].type != SHT_STRTAB)
		return bad(log, -EINVAL, "symbol table's string table index %u is not a string table", st->link);
	uint64_t n = st->size / sizeof(Elf64_Sym);
	if (n > ELF_MAX_SYMBOLS)
		return bad(log, -E2BIG, "%llu symbols, more than the %u bpfvm accepts", (unsigned long long)n, ELF_MAX_SYMBOLS);
	f->symtab = symtab;
	if (!n)
		return 0;
	f->syms = calloc(n, sizeof(*f->syms));
	if (!f->syms)
		return -ENOMEM;
	f->nsyms = (uint32_t)n;
	const struct elf_sec *strs = &f->secs[st->link];
	for (uint32_t i = 0; i < f->nsyms; i++) {
		const uint8_t *p = st->data + (uint64_t)i * sizeof(Elf64_Sym);
		struct elf_sym *s = &f->syms[i];
		uint32_t name_off = elf_rd32(p);
		uint8_t info = p[4];
		s->bind = ELF64_ST_BIND(info);
		s->type = ELF64_ST_TYPE(info);
		s->shndx = elf_rd16(p + 6);
		s->value = elf_rd64(p + 8);
		s->size = elf_rd64(p + 16);
		s->name = "";
		if (name_off) {
			s->name = str_at(strs, name_off);
			if (!s->name)
				return bad(log, -EINVAL, "symbol %u: name offset %u is outside the string table (%llu bytes) or unterminated",
				           i, name_off, (unsigned long long)strs->size);
		}
		if (s->shndx == SHN_XINDEX)
			return bad(log, -EINVAL, "symbol %u (%s): extended section indexes are not supported", i, s->name);
		if (s->shndx != SHN_UNDEF && s->shndx < SHN_LORESERVE && s->shndx >= f->nsecs)
			return bad(log, -EINVAL, "symbol %u (%s): section index %u out of range (%u sections)",
			           i, s->name, s->shndx, f->nsecs);
		/* Symbols that name bytes of a section must lie inside it. */
		if (s->shndx != SHN_UNDEF && s->shndx < f->nsecs && s->type != STT_SECTION && s->type != STT_FILE) {
			const struct elf_sec *sec = &f->secs[s->shndx];
			if (s->value > sec->size || s->size > sec->size - s->value)
				return bad(log, -EINVAL, "symbol %u (%s): value %#llx size %llu lies outside section %s (%llu bytes)",
				           i, s->name, (unsigned long long)s->value, (unsigned long long)s->size,
				           sec->name, (unsigned long long)sec->size);
		}
	}
	return 0;
}

int elf_open(struct elf_file *f, const uint8_t *buf, size_t len, struct vm_log *log)
{
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	if (len < sizeof(Elf64_Ehdr))
		return bad(log, -EINVAL, "file is %zu bytes, too short for an ELF header (%zu)", len, sizeof(Elf64_Ehdr));
	if (memcmp(buf, ELFMAG, SELFMAG))
		return bad(log, -EINVAL, "not an ELF file (bad magic)");
	if (buf[EI_CLASS] != ELFCLASS64)
		return bad(log, -EINVAL, "not a 64-bit ELF file (class %u)", buf[EI_CLASS]);
	if (buf[EI_DATA] != ELFDATA2LSB)
		return bad(log, -EINVAL, "not a little-endian ELF file (big-endian BPF objects are not supported)");
	if (buf[EI_VERSION] != EV_CURRENT)
		return bad(log, -EINVAL, "unknown ELF version %u", buf[EI_VERSION]);
	uint16_t type = elf_rd16(buf + 0x10), machine = elf_rd16(buf + 0x12);
	if (type != ET_REL)
		return bad(log, -EINVAL, "ELF type %u is not a relocatable object (compile with clang -c)", type);
	if (machine != EM_BPF)
		return bad(log, -EINVAL, "ELF machine %u is not BPF (%u): compile with -target bpf", machine, EM_BPF);
	int err = read_sections(f, buf, log);
	if (!err)
		err = read_symbols(f, log);
	if (err)
		elf_close(f);
	return err;
}

void elf_close(struct elf_file *f)
{
	free(f->secs);
	free(f->syms);
	f->secs = NULL;
	f->syms = NULL;
	f->nsecs = f->nsyms = 0;
}
