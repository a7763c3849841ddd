/*
 * .BTF.ext: function and line info, so that verifier errors can name the
 * source line (as Linux prints "; <line> @ <file>:<n>").
 *
 * Layout (all little-endian, offsets relative to the end of the header):
 *   header   magic 0xeb9f, version 1, flags, hdr_len,
 *            func_info_off/len, line_info_off/len[, core_relo_off/len];
 *   an info  u32 rec_size, then per ELF section: u32 sec_name_off (into
 *            .BTF's strings), u32 num_info, num_info records of rec_size
 *            bytes (a newer compiler may append fields: rec_size only has
 *            to cover ours and keep 4-byte alignment, as libbpf checks);
 *   func     { u32 insn_off; u32 type_id (a BTF FUNC) }
 *   line     { u32 insn_off; u32 file_name_off; u32 line_off; u32 line_col }
 * In an object file insn_off is a byte offset into the named section.
 *
 * Every offset, count and string index is checked here, once; records are
 * kept per ELF section, sorted by instruction.  btf_ext_prog_debug() then
 * maps them onto a linked program through its per-instruction origins
 * (elf_prog.orig_sec/orig_insn), so .text subprograms appended to a program
 * keep their own lines.  The loader treats a malformed .BTF.ext as libbpf
 * does: reported, then ignored (programs load without line info).
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"
#include "vm.h"

#define BTF_EXT_MAGIC 0xeb9f
#define BTF_EXT_HDR_MIN 24          /* up to line_info_len */
#define FUNC_REC_MIN 8
#define LINE_REC_MIN 16
#define DBG_STR_MAX 255             /* bytes kept of one file name or source line */
#define DBG_STRS_MAX (16u << 20)    /* string bytes of one program's table */
#define DBG_SCAN_MAX 4096           /* bytes of a string searched for '/' or indentation */

static int bad(struct vm_log *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct vm_log *log, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(log, BPFVM_LOG_ERRORS, "btf.ext: ");
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

static int cmp_u32_pair(const void *a, const void *b)
{
	/* Records start with insn; ties keep file order (second key). */
	const uint32_t *x = a, *y = b;
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* One info block (func_info or line_info): validated and stored per section. */
static int parse_info(struct btf_ext *x, const uint8_t *info, uint32_t len, bool lines, const struct btf *btf,
                      const struct elf_file *f, struct vm_log *log)
{
	const char *what = lines ? "line_info" : "func_info";
	uint32_t min_rec = lines ? LINE_REC_MIN : FUNC_REC_MIN;
	if (len == 0)
		return 0;
	if (len < 4)
		return bad(log, -EINVAL, "%s is %u bytes, too short for its record size", what, len);
	uint32_t rec_size = elf_rd32(info);
	if (rec_size < min_rec || rec_size % 4)
		return bad(log, -EINVAL, "%s record size %u: must be a multiple of 4 and at least %u", what, rec_size, min_rec);
	uint64_t pos = 4;
	while (pos < len) {
		if (len - pos < 8)
			return bad(log, -EINVAL, "%s: section header at offset %llu is truncated", what, (unsigned long long)pos);
		uint32_t name_off = elf_rd32(info + pos), num = elf_rd32(info + pos + 4);
		if (name_off >= btf->str_len)
			return bad(log, -EINVAL, "%s: section name offset %u is outside .BTF's strings (%u bytes)", what,
			           name_off, btf->str_len);
		const char *name = btf->strs + name_off;
		if (num == 0)
			return bad(log, -EINVAL, "%s: section '%s' has no records", what, name);
		pos += 8;
		if ((uint64_t)num * rec_size > len - pos)
			return bad(log, -EINVAL, "%s: section '%s': %u records of %u bytes run past the end (%llu bytes left)",
			           what, name, num, rec_size, (unsigned long long)(len - pos));
		int si = elf_sec_by_name(f, name);
		const struct elf_sec *s = si > 0 ? &f->secs[si] : NULL;
		if (!s || s->type != SHT_PROGBITS || !(s->flags & SHF_EXECINSTR))
			return bad(log, -EINVAL, "%s: section '%s' is not a code section of the object", what, name);
		struct btf_ext_sec *xs = &x->secs[si];
		if (lines ? xs->lines != NULL : xs->funcs != NULL)
			return bad(log, -EINVAL, "%s: section '%s' appears twice", what, name);
		uint64_t ninsns = s->size / 8;
		/* Records as {insn, file position, fields...} so a sort keeps
		 * file order among equal insns. */
		uint32_t width = lines ? 5 : 3;
		uint32_t *recs = malloc((size_t)num * width * sizeof(uint32_t));
		if (!recs)
			return -ENOMEM;
		for (uint32_t k = 0; k < num; k++) {
			const uint8_t *r = info + pos + (uint64_t)k * rec_size;
			uint32_t off = elf_rd32(r), *out = recs + (size_t)k * width;
			int err = 0;
			if (off % 8 || off / 8 >= ninsns)
				err = bad(log, -EINVAL, "%s: section '%s' record %u: insn_off %u is not an instruction of the "
				          "section (%llu instructions)", what, name, k, off, (unsigned long long)ninsns);
			out[0] = off / 8;
			out[1] = k;
			if (!err && lines) {
				out[2] = elf_rd32(r + 4);
				out[3] = elf_rd32(r + 8);
				out[4] = elf_rd32(r + 12);
				if (out[2] >= btf->str_len || out[3] >= btf->str_len)
					err = bad(log, -EINVAL, "%s: section '%s' record %u: file name offset %u or line offset %u "
					          "is outside .BTF's strings (%u bytes)", what, name, k, out[2], out[3], btf->str_len);
			} else if (!err) {
				out[2] = elf_rd32(r + 4);
				const struct btf_type *t = btf_type_by_id(btf, out[2]);
				if (!t || t->kind != BTF_K_FUNC)
					err = bad(log, -EINVAL, "%s: section '%s' record %u: type %u is not a BTF function", what,
					          name, k, out[2]);
			}
			if (err) {
				free(recs);
				return err;
			}
		}
		pos += (uint64_t)num * rec_size;
		qsort(recs, num, width * sizeof(uint32_t), cmp_u32_pair);
		/* One record per instruction: the first in file order. */
		uint32_t n = 0;
		if (lines) {
			xs->lines = malloc((size_t)num * sizeof(*xs->lines));
			if (!xs->lines) {
				free(recs);
				return -ENOMEM;
			}
			for (uint32_t k = 0; k < num; k++) {
				const uint32_t *r = recs + (size_t)k * width;
				if (n && xs->lines[n - 1].insn == r[0])
					continue;
				xs->lines[n++] = (struct btf_ext_line){ r[0], r[2], r[3], r[4] };
			}
			xs->nlines = n;
		} else {
			xs->funcs = malloc((size_t)num * sizeof(*xs->funcs));
			if (!xs->funcs) {
				free(recs);
				return -ENOMEM;
			}
			for (uint32_t k = 0; k < num; k++) {
				const uint32_t *r = recs + (size_t)k * width;
				if (n && xs->funcs[n - 1].insn == r[0])
					continue;
				xs->funcs[n++] = (struct btf_ext_func){ r[0], r[2] };
			}
			xs->nfuncs = n;
		}
		free(recs);
	}
	return 0;
}

int btf_ext_parse(struct btf_ext *x, const uint8_t *data, size_t size, const struct btf *btf,
                  const struct elf_file *f, struct vm_log *log)
{
	int err;
	memset(x, 0, sizeof(*x));
	if (size < 8)
		return bad(log, -EINVAL, ".BTF.ext is %zu bytes, too short for its header", size);
	if (elf_rd16(data) != BTF_EXT_MAGIC)
		return bad(log, -EINVAL, "bad magic %#x (big-endian BTF is not supported)", elf_rd16(data));
	if (data[2] != 1)
		return bad(log, -EINVAL, "unsupported version %u", data[2]);
	uint32_t hdr_len = elf_rd32(data + 4);
	if (hdr_len < BTF_EXT_HDR_MIN || hdr_len > size)
		return bad(log, -EINVAL, "header length %u out of range (at least %u, section is %zu bytes)", hdr_len,
		           BTF_EXT_HDR_MIN, size);
	struct { uint32_t off, len; bool lines; } part[2] = {
		{ elf_rd32(data + 8), elf_rd32(data + 12), false },
		{ elf_rd32(data + 16), elf_rd32(data + 20), true },
	};
	for (int i = 0; i < 2; i++) {
		const char *what = part[i].lines ? "line_info" : "func_info";
		if (!part[i].len)
			continue;
		if (part[i].off % 4)
			return bad(log, -EINVAL, "%s offset %u is not 4-byte aligned", what, part[i].off);
		if ((uint64_t)part[i].off + part[i].len > size - hdr_len)
			return bad(log, -EINVAL, "%s [%u, +%u) runs past the end of .BTF.ext (%zu bytes after the header)",
			           what, part[i].off, part[i].len, size - hdr_len);
	}
	x->secs = calloc(f->nsecs ? f->nsecs : 1, sizeof(*x->secs));
	if (!x->secs)
		return -ENOMEM;
	x->nsecs = f->nsecs;
	for (int i = 0; i < 2; i++) {
		err = parse_info(x, data + hdr_len + part[i].off, part[i].len, part[i].lines, btf, f, log);
		if (err) {
			btf_ext_free(x);
			return err;
		}
	}
	return 0;
}

void btf_ext_free(struct btf_ext *x)
{
	for (uint32_t i = 0; x->secs && i < x->nsecs; i++) {
		free(x->secs[i].lines);
		free(x->secs[i].funcs);
	}
	free(x->secs);
	memset(x, 0, sizeof(*x));
}

/* The line record in effect at section insn t, not before lo (the first
 * insn of the function this copy came from), or NULL. */
static const struct btf_ext_line *line_at(const struct btf_ext_sec *xs, uint32_t t, uint32_t lo)
{
	uint32_t a = 0, b = xs->nlines;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		if (xs->lines[mid].insn <= t)
			a = mid + 1;
		else
			b = mid;
	}
	return a && xs->lines[a - 1].insn >= lo ? &xs->lines[a - 1] : NULL;
}

static const struct btf_ext_func *func_at(const struct btf_ext_sec *xs, uint32_t t)
{
	uint32_t a = 0, b = xs->nfuncs;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		if (xs->funcs[mid].insn < t)
			a = mid + 1;
		else
			b = mid;
	}
	return a < xs->nfuncs && xs->funcs[a].insn == t ? &xs->funcs[a] : NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Index of string offset off in the sorted unique array u[n]. */
static uint32_t str_index(const uint32_t *u, uint32_t n, uint32_t off)
{
	uint32_t a = 0, b = n;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		if (u[mid] < off)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/* What a table keeps of string off: a file's base name, or a source line
 * without its indentation; at most DBG_STR_MAX bytes. */
static const char *str_view(const struct btf *btf, uint32_t off, bool file, size_t *len)
{
	const char *s = btf->strs + off;
	/* Scans are bounded, so that a hostile table of many offsets into
	 * one huge string costs linear time. */
	size_t n = strnlen(s, DBG_SCAN_MAX);
	if (file) {
		const char *slash = n < DBG_SCAN_MAX ? memrchr(s, '/', n) : NULL;
		if (slash)
			s = slash + 1;
	} else {
		for (size_t k = 0; k < n && (*s == ' ' || *s == '\t'); k++)
			s++;
	}
	*len = strnlen(s, DBG_STR_MAX);
	return s;
}

/* Kinds of string a table entry refers to, for str_view(): the offsets of
 * file names are tagged with the top bit (BTF strings are < 2 GiB here:
 * .BTF lies inside a file bpfvm read into memory). */
#define FILE_TAG 0x80000000u

/* One walk over a linked program's instructions; run three times: to
 * count entries, to collect string offsets, and to fill the table. */
enum walk_mode { WALK_COUNT, WALK_STRINGS, WALK_FILL };

struct walk {
	const struct elf_obj *o;
	const struct elf_prog *p;
	enum walk_mode mode;
	uint32_t nlines, nfuncs;
	uint32_t *offs, nstr;       /* string offsets (file names tagged), sorted unique after WALK_STRINGS */
	char **copies;              /* per offs entry: its copy in the table */
	struct vm_prog_debug *d;
};

static void walk_add_str(struct walk *w, uint32_t off)
{
	if (w->mode == WALK_STRINGS)
		w->offs[w->nstr++] = off;
}

static const char *walk_str(const struct walk *w, uint32_t off)
{
	return w->mode == WALK_FILL ? w->copies[str_index(w->offs, w->nstr, off)] : NULL;
}

static void walk(struct walk *w)
{
	const struct btf_ext *x = &w->o->ext;
	const struct btf *btf = &w->o->btf;
	const struct elf_prog *p = w->p;
	const struct btf_ext_line *prev = NULL;
	uint32_t piece_lo = 0;
	w->nlines = w->nfuncs = 0;
	for (uint32_t i = 0; i < p->ninsns; i++) {
		uint32_t si = p->orig_sec[i], t = p->orig_insn[i];
		/* A piece is one function's copy: the linker appends whole
		 * functions, so a jump in origins starts another one, whose
		 * lines must not be taken from the code before it. */
		bool piece = i == 0 || si != p->orig_sec[i - 1] || t != p->orig_insn[i - 1] + 1;
		if (piece)
			piece_lo = t;
		const struct btf_ext_sec *xs = si < x->nsecs ? &x->secs[si] : NULL;
		const struct btf_ext_line *l = xs ? line_at(xs, t, piece_lo) : NULL;
		/* clang emits a record per statement or column; the table keeps
		 * one entry per run of the same source line. */
		bool same = l && prev && l->file_off == prev->file_off && l->line_off == prev->line_off &&
		            l->line_col >> 10 == prev->line_col >> 10;
		if (i == 0 || (l != prev && !same) || (piece && !l)) {
			if (l) {
				walk_add_str(w, l->file_off | FILE_TAG);
				walk_add_str(w, l->line_off);
			}
			if (w->mode == WALK_FILL) {
				struct vm_line *e = &w->d->lines[w->nlines];
				*e = (struct vm_line){ .insn = i };
				if (l) {
					e->line = l->line_col >> 10;
					e->col = l->line_col & 0x3ff;
					e->file = walk_str(w, l->file_off | FILE_TAG);
					e->src = walk_str(w, l->line_off);
				}
			}
			w->nlines++;
			prev = l;
		}
		const struct btf_ext_func *fn = xs ? func_at(xs, t) : NULL;
		if (fn || piece) {
			/* Pieces without func info get a nameless entry, so the
			 * function before them does not seem to extend over them. */
			const char *name = fn ? btf->types[fn->type_id].name : NULL;
			uint32_t off = name && *name ? (uint32_t)(name - btf->strs) : 0;
			if (off)
				walk_add_str(w, off);
			if (w->mode == WALK_FILL)
				w->d->funcs[w->nfuncs] = (struct vm_func_name){ .insn = i, .name = off ? walk_str(w, off) : NULL };
			w->nfuncs++;
		}
	}
}

int btf_ext_prog_debug(const struct elf_obj *o, const struct elf_prog *p, struct vm_prog_debug **out,
                       struct vm_log *log)
{
	const struct btf *btf = &o->btf;
	struct walk w = { .o = o, .p = p, .mode = WALK_COUNT };
	int err = 0;
	*out = NULL;
	if (!o->has_ext || !p->ninsns || btf->str_len >= FILE_TAG)
		return 0;
	walk(&w);
	w.offs = malloc(((size_t)w.nlines * 2 + w.nfuncs) * sizeof(*w.offs));
	if (!w.offs)
		return -ENOMEM;
	w.mode = WALK_STRINGS;
	walk(&w);
	if (!w.nstr)
		goto out; /* nothing known about this program's source */
	qsort(w.offs, w.nstr, sizeof(*w.offs), cmp_u32);
	uint32_t u = 0;
	for (uint32_t k = 0; k < w.nstr; k++)
		if (!u || w.offs[u - 1] != w.offs[k])
			w.offs[u++] = w.offs[k];
	w.nstr = u;
	size_t strbytes = 0;
	for (uint32_t k = 0; k < w.nstr; k++) {
		size_t len;
		str_view(btf, w.offs[k] & ~FILE_TAG, w.offs[k] & FILE_TAG, &len);
		strbytes += len + 1;
	}
	if (strbytes > DBG_STRS_MAX) {
		bad(log, 0, "program '%s': its source lines need %zu bytes of strings, more than %u: loading it "
		    "without line info", p->name, strbytes, DBG_STRS_MAX);
		goto out;
	}
	size_t head = sizeof(*w.d) + (size_t)w.nlines * sizeof(struct vm_line) +
	              (size_t)w.nfuncs * sizeof(struct vm_func_name);
	w.d = calloc(1, head + strbytes);
	w.copies = malloc((size_t)w.nstr * sizeof(*w.copies));
	if (!w.d || !w.copies) {
		err = -ENOMEM;
		goto out;
	}
	w.d->lines = (struct vm_line *)(w.d + 1);
	w.d->nlines = w.nlines;
	w.d->funcs = (struct vm_func_name *)(w.d->lines + w.nlines);
	w.d->nfuncs = w.nfuncs;
	char *s = (char *)(w.d->funcs + w.nfuncs);
	for (uint32_t k = 0; k < w.nstr; k++) {
		size_t len;
		const char *v = str_view(btf, w.offs[k] & ~FILE_TAG, w.offs[k] & FILE_TAG, &len);
		memcpy(s, v, len);
		s[len] = '\0';
		w.copies[k] = s;
		s += len + 1;
	}
	w.mode = WALK_FILL;
	walk(&w);
	*out = w.d;
	w.d = NULL;
out:
	free(w.d);
	free(w.copies);
	free(w.offs);
	return err;
}
