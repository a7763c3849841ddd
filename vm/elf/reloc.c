/*
 * Programs and relocations.
 *
 * Every function in an executable section other than .text is a program
 * (libbpf's rule; a section without function symbols is one program named
 * after the section).  An object with no such section exposes its global
 * .text functions as programs, so plain `clang -target bpf -c` code runs.
 *
 * Linking a program copies its function, then walks the copy: each call
 * (R_BPF_64_32 against a function or a section symbol, or a pc-relative
 * bpf-to-bpf call with no relocation) and each lddw of a function address
 * (callbacks for bpf_loop & co.) names a target instruction in some
 * executable section; the function containing it is appended once per
 * program, wherever it lives (.text, another program's section, static or
 * global), and the call's offset is rewritten.  Appended code is walked in
 * turn, so transitive calls link too.  As libbpf computes it, a call's
 * target is sym.value/8 + imm + 1, which covers both clang's forms: imm =
 * -1 against a function symbol and imm = offset-1 against a section symbol.
 *
 * lddw relocations (R_BPF_64_64) become lddw src=5 (imm = map index) for
 * maps and src=6 (imm = map index, next imm = offset) for global data, the
 * offset being the symbol's value plus the addend already in the
 * instruction (how clang encodes static variables: the section symbol plus
 * the variable's offset).  obj.c turns map indexes into handles.
 *
 * Calls to undefined symbols are `extern` helper declarations, resolved by
 * name through the VM's helper registry.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"
#include "isa.h"

#define R_BPF_64_64 1
#define R_BPF_64_32 10

#define OP_LDDW 0x18
#define OP_CALL 0x85

static int bad(struct vm_log *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct vm_log *log, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(log, BPFVM_LOG_ERRORS, "link: ");
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

const char *elf_sec_prog_type(const char *s)
{
	/* libbpf: "xdp", "xdp/...", "xdp.frags", "xdp.frags/...". */
	if (!strncmp(s, "xdp", 3) && (s[3] == '\0' || s[3] == '/' || !strncmp(s + 3, ".frags", 6)))
		return "xdp";
	return "mem";
}

static bool is_exec(const struct elf_sec *s)
{
	return s->type == SHT_PROGBITS && (s->flags & SHF_EXECINSTR) && s->size;
}

int elf_prog_by_name(const struct elf_obj *o, const char *name)
{
	for (uint32_t i = 0; i < o->nprogs; i++)
		if (!strcmp(o->progs[i].name, name))
			return (int)i;
	for (uint32_t i = 0; i < o->nprogs; i++)
		if (!strcmp(o->progs[i].sec_name, name))
			return (int)i;
	return -1;
}

static int add_prog(struct elf_obj *o, const char *name, int sec, uint64_t start, uint64_t len)
{
	struct elf_prog *p = realloc(o->progs, (o->nprogs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	o->progs = p;
	p = &o->progs[o->nprogs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->sec = sec;
	p->sec_name = o->elf.secs[sec].name;
	p->type = elf_sec_prog_type(p->sec_name);
	p->start = (uint32_t)start;
	p->len = (uint32_t)len;
	return 0;
}

static int cmp_prog(const void *a, const void *b)
{
	const struct elf_prog *x = a, *y = b;
	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int elf_collect_progs(struct elf_obj *o, struct vm_log *log)
{
	const struct elf_file *f = &o->elf;
	bool any_named = false;
	for (uint32_t i = 1; i < f->nsecs; i++) {
		const struct elf_sec *s = &f->secs[i];
		if (!is_exec(s))
			continue;
		if (s->size % 8)
			return bad(log, -EINVAL, "section %s: size %llu is not a multiple of 8 (instruction size)",
			           s->name, (unsigned long long)s->size);
		if (s->size / 8 > ELF_MAX_PROG_INSNS)
			return bad(log, -E2BIG, "section %s: %llu instructions, more than %u", s->name,
			           (unsigned long long)s->size / 8, ELF_MAX_PROG_INSNS);
		if (strcmp(s->name, ".text"))
			any_named = true;
	}
	for (uint32_t i = 0; i < f->nsyms; i++) {
		const struct elf_sym *y = &f->syms[i];
		if (y->type != STT_FUNC || y->shndx == SHN_UNDEF || y->shndx >= f->nsecs)
			continue;
		if (!is_exec(&f->secs[y->shndx]))
			return bad(log, -EINVAL, "function '%s' is in section %s, which is not executable", y->name,
			           f->secs[y->shndx].name);
		if (y->value % 8 || y->size % 8)
			return bad(log, -EINVAL, "function '%s': offset %#llx or size %llu is not a multiple of 8",
			           y->name, (unsigned long long)y->value, (unsigned long long)y->size);
	}
	for (uint32_t i = 1; i < f->nsecs; i++) {
		const struct elf_sec *s = &f->secs[i];
		if (!is_exec(s))
			continue;
		bool text = !strcmp(s->name, ".text");
		if (text && any_named)
			continue;
		bool had_func = false;
		for (uint32_t k = 0; k < f->nsyms; k++) {
			const struct elf_sym *y = &f->syms[k];
			if (y->type != STT_FUNC || y->shndx != i)
				continue;
			had_func = true;
			if (text && y->bind == STB_LOCAL)
				continue; /* static .text functions are subprograms */
			if (!y->size)
				return bad(log, -EINVAL, "program '%s' in %s has size 0", y->name, s->name);
			int err = add_prog(o, y->name, (int)i, y->value / 8, y->size / 8);
			if (err)
				return err;
		}
		if (!had_func) {
			int err = add_prog(o, s->name, (int)i, 0, s->size / 8);
			if (err)
				return err;
		}
	}
	if (!o->nprogs)
		return bad(log, -ENOENT, "no programs: the object has no executable section with code");
	/* In file order (section, then offset), not symbol table order. */
	if (o->nprogs > 1)
		qsort(o->progs, o->nprogs, sizeof(*o->progs), cmp_prog);
	return 0;
}

/* ---- linking ---- */

struct rel {
	uint32_t sym, type;
};

struct func {
	uint32_t start, end; /* [start, end) instructions */
};

/* Per executable section: relocations by instruction, functions, and
 * where each function was placed in the program being linked. */
struct xsec {
	uint32_t ninsns;
	int32_t *rel_at;    /* index into rels or -1 */
	struct rel *rels;
	uint32_t nrels;
	struct func *funcs; /* sorted by start */
	uint32_t nfuncs;
	uint32_t *placed;   /* function start insn -> output position + 1 */
};

struct linker {
	struct elf_obj *o;
	struct xsec *xs;    /* indexed by section; NULL entries for non-exec */
	struct vm_log *log;
	elf_resolve_fn resolve;
	void *user;
	/* Output of the program being linked. */
	struct bpf_insn *out;
	uint32_t *osec, *oinsn;
	uint32_t n, cap;
	/* Functions placed in this program, to reset xs[].placed. */
	struct { uint32_t sec, start; } *done;
	uint32_t ndone, done_cap;
};

static int cmp_func(const void *a, const void *b)
{
	const struct func *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int index_section(struct linker *L, uint32_t si)
{
	const struct elf_file *f = &L->o->elf;
	const struct elf_sec *s = &f->secs[si];
	struct xsec *x = &L->xs[si];
	x->ninsns = (uint32_t)(s->size / 8);
	x->rel_at = malloc(x->ninsns * sizeof(*x->rel_at));
	x->placed = calloc(x->ninsns, sizeof(*x->placed));
	if (!x->rel_at || !x->placed)
		return -ENOMEM;
	memset(x->rel_at, 0xff, x->ninsns * sizeof(*x->rel_at));
	for (uint32_t r = 1; r < f->nsecs; r++) {
		const struct elf_sec *rs = &f->secs[r];
		if (rs->type != SHT_REL || rs->info != si)
			continue;
		if (!f->symtab || rs->link != f->symtab)
			return bad(L->log, -EINVAL, "%s: relocations refer to section %u, not the symbol table", rs->name, rs->link);
		if (rs->entsize != sizeof(Elf64_Rel) || rs->size % sizeof(Elf64_Rel))
			return bad(L->log, -EINVAL, "%s: relocation entry size %llu or section size %llu is wrong (expected %zu-byte entries)",
			           rs->name, (unsigned long long)rs->entsize, (unsigned long long)rs->size, sizeof(Elf64_Rel));
		uint64_t n = rs->size / sizeof(Elf64_Rel);
		if (n > x->ninsns)
			return bad(L->log, -EINVAL, "%s: %llu relocations for %u instructions", rs->name, (unsigned long long)n, x->ninsns);
		struct rel *rels = realloc(x->rels, (x->nrels + n) * sizeof(*rels));
		if (!rels)
			return -ENOMEM;
		x->rels = rels;
		for (uint64_t k = 0; k < n; k++) {
			const uint8_t *p = rs->data + k * sizeof(Elf64_Rel);
			uint64_t off = elf_rd64(p), info = elf_rd64(p + 8);
			uint32_t sym = (uint32_t)(info >> 32), type = (uint32_t)info;
			if (off % 8 || off / 8 >= x->ninsns)
				return bad(L->log, -EINVAL, "%s: relocation %llu at offset %#llx is not an instruction of %s (%u instructions)",
				           rs->name, (unsigned long long)k, (unsigned long long)off, s->name, x->ninsns);
			if (sym == 0 || sym >= f->nsyms)
				return bad(L->log, -EINVAL, "%s: relocation %llu refers to symbol %u, out of range (%u symbols)",
				           rs->name, (unsigned long long)k, sym, f->nsyms);
			if (type != R_BPF_64_64 && type != R_BPF_64_32)
				return bad(L->log, -EINVAL, "%s: relocation %llu (insn %llu) has unsupported type %u",
				           rs->name, (unsigned long long)k, (unsigned long long)off / 8, type);
			if (x->rel_at[off / 8] >= 0)
				return bad(L->log, -EINVAL, "%s: two relocations for insn %llu", rs->name, (unsigned long long)off / 8);
			x->rel_at[off / 8] = (int32_t)x->nrels;
			x->rels[x->nrels++] = (struct rel){ sym, type };
		}
	}
	for (uint32_t k = 0; k < f->nsyms; k++) {
		const struct elf_sym *y = &f->syms[k];
		if (y->type != STT_FUNC || y->shndx != si || !y->size)
			continue;
		struct func *fn = realloc(x->funcs, (x->nfuncs + 1) * sizeof(*fn));
		if (!fn)
			return -ENOMEM;
		x->funcs = fn;
		x->funcs[x->nfuncs++] = (struct func){ (uint32_t)(y->value / 8), (uint32_t)((y->value + y->size) / 8) };
	}
	if (x->nfuncs > 1)
		qsort(x->funcs, x->nfuncs, sizeof(*x->funcs), cmp_func);
	for (uint32_t k = 1; k < x->nfuncs; k++)
		if (x->funcs[k].start < x->funcs[k - 1].end)
			return bad(L->log, -EINVAL, "section %s: functions overlap at insn %u", s->name, x->funcs[k].start);
	return 0;
}

/* The function containing insn t: a symbol's range, else from t up to the
 * next function (code without symbols, e.g. hand-written). */
static struct func func_at(const struct xsec *x, uint32_t t)
{
	uint32_t lo = 0, hi = x->nfuncs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (x->funcs[mid].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && t < x->funcs[lo - 1].end)
		return x->funcs[lo - 1];
	return (struct func){ t, lo < x->nfuncs ? x->funcs[lo].start : x->ninsns };
}

static int append(struct linker *L, uint32_t si, uint32_t start, uint32_t end)
{
	const struct elf_sec *s = &L->o->elf.secs[si];
	uint32_t cnt = end - start;
	if (cnt > ELF_MAX_PROG_INSNS - L->n)
		return bad(L->log, -E2BIG, "linked program exceeds %u instructions", ELF_MAX_PROG_INSNS);
	if (L->n + cnt > L->cap) {
		uint32_t cap = L->cap ? L->cap : 64;
		while (cap < L->n + cnt)
			cap *= 2;
		struct bpf_insn *out = realloc(L->out, cap * sizeof(*out));
		if (!out)
			return -ENOMEM;
		L->out = out;
		uint32_t *os = realloc(L->osec, cap * sizeof(*os));
		if (!os)
			return -ENOMEM;
		L->osec = os;
		uint32_t *oi = realloc(L->oinsn, cap * sizeof(*oi));
		if (!oi)
			return -ENOMEM;
		L->oinsn = oi;
		L->cap = cap;
	}
	if (L->ndone == L->done_cap) {
		uint32_t cap = L->done_cap ? L->done_cap * 2 : 16;
		void *d = realloc(L->done, cap * sizeof(*L->done));
		if (!d)
			return -ENOMEM;
		L->done = d;
		L->done_cap = cap;
	}
	memcpy(L->out + L->n, s->data + (uint64_t)start * 8, (size_t)cnt * 8);
	for (uint32_t k = 0; k < cnt; k++) {
		L->osec[L->n + k] = si;
		L->oinsn[L->n + k] = start + k;
	}
	L->xs[si].placed[start] = L->n + 1;
	L->done[L->ndone].sec = si;
	L->done[L->ndone++].start = start;
	L->n += cnt;
	return 0;
}

/* Output position of section si's insn t, appending its function first if
 * this program doesn't have it yet. */
static int place(struct linker *L, uint32_t si, int64_t t, uint32_t from, uint32_t *pos)
{
	const struct elf_file *f = &L->o->elf;
	if (si >= f->nsecs || !L->xs[si].rel_at)
		return bad(L->log, -EINVAL, "insn %u (%s+%u): call target in section %s, which has no code", from,
		           f->secs[L->osec[from]].name, L->oinsn[from], si < f->nsecs ? f->secs[si].name : "?");
	struct xsec *x = &L->xs[si];
	if (t < 0 || t >= x->ninsns)
		return bad(L->log, -EINVAL, "insn %u (%s+%u): call target %lld is outside section %s (%u instructions)", from,
		           f->secs[L->osec[from]].name, L->oinsn[from], (long long)t, f->secs[si].name, x->ninsns);
	struct func fn = func_at(x, (uint32_t)t);
	if (!x->placed[fn.start]) {
		int err = append(L, si, fn.start, fn.end);
		if (err)
			return err;
	}
	*pos = x->placed[fn.start] - 1 + ((uint32_t)t - fn.start);
	return 0;
}

static int link_lddw(struct linker *L, uint32_t i, const struct rel *r)
{
	struct elf_obj *o = L->o;
	const struct elf_file *f = &o->elf;
	const struct elf_sym *y = &f->syms[r->sym];
	struct bpf_insn *in = &L->out[i];
	const char *where = f->secs[L->osec[i]].name;
	uint32_t at = L->oinsn[i];
	if (r->type != R_BPF_64_64)
		return bad(L->log, -EINVAL, "%s+%u: lddw has relocation type %u, expected R_BPF_64_64", where, at, r->type);
	if (y->shndx == SHN_UNDEF)
		return bad(L->log, -EINVAL, "%s+%u: extern variable '%s' is not supported (only extern functions, resolved as helpers)",
		           where, at, y->name);
	if (y->shndx >= f->nsecs)
		return bad(L->log, -EINVAL, "%s+%u: lddw refers to '%s', which is not in any section", where, at, y->name);
	int64_t off = (int64_t)y->value + in[0].imm;
	if (L->xs[y->shndx].rel_at) {
		/* Address of a function: a callback (lddw src=4). */
		if (off % 8)
			return bad(L->log, -EINVAL, "%s+%u: function address %s+%lld is not instruction-aligned", where, at,
			           f->secs[y->shndx].name, (long long)off);
		uint32_t pos;
		int err = place(L, y->shndx, off / 8, i, &pos);
		if (err)
			return err;
		in = &L->out[i]; /* place() may have moved the buffer */
		in[0].src_reg = BPF_PSEUDO_FUNC;
		in[0].imm = (int32_t)((int64_t)pos - i - 1);
		in[1].imm = 0;
		return 0;
	}
	int mi = elf_map_by_sym(o, y);
	if (mi < 0)
		return bad(L->log, -EINVAL, "%s+%u: lddw refers to '%s' in section %s, which is neither a map nor global data",
		           where, at, *y->name ? y->name : "(section)", f->secs[y->shndx].name);
	const struct elf_map *m = &o->maps[mi];
	if (m->kind == ELF_MAP_USER) {
		if (in[0].imm || in[1].imm)
			return bad(L->log, -EINVAL, "%s+%u: reference to map '%s' with a non-zero offset", where, at, m->name);
		in[0].src_reg = BPF_PSEUDO_MAP_IDX;
		in[0].imm = mi;
		return 0;
	}
	if (off < 0 || (uint64_t)off > m->attr.value_size)
		return bad(L->log, -EINVAL, "%s+%u: '%s'%+d is offset %lld, outside %s (%u bytes)", where, at,
		           *y->name ? y->name : m->name, in[0].imm, (long long)off, m->name, m->attr.value_size);
	in[0].src_reg = BPF_PSEUDO_MAP_IDX_VALUE;
	in[0].imm = mi;
	in[1].imm = (int32_t)off;
	return 0;
}

static int link_call(struct linker *L, uint32_t i, const struct rel *r)
{
	const struct elf_file *f = &L->o->elf;
	struct bpf_insn *in = &L->out[i];
	const char *where = f->secs[L->osec[i]].name;
	uint32_t at = L->oinsn[i];
	int64_t target;
	uint32_t tsec;
	if (r) {
		const struct elf_sym *y = &f->syms[r->sym];
		if (r->type != R_BPF_64_32)
			return bad(L->log, -EINVAL, "%s+%u: call has relocation type %u, expected R_BPF_64_32", where, at, r->type);
		if (y->shndx == SHN_UNDEF) {
			uint32_t id;
			if (!*y->name)
				return bad(L->log, -EINVAL, "%s+%u: call to an unnamed undefined symbol", where, at);
			if (!L->resolve || L->resolve(L->user, y->name, &id))
				return bad(L->log, -ENOENT, "%s+%u: extern function '%s' is not a helper of this VM (register it before loading)",
				           where, at, y->name);
			in->src_reg = 0;
			in->imm = (int32_t)id;
			return 0;
		}
		if (in->src_reg != BPF_PSEUDO_CALL)
			return bad(L->log, -EINVAL, "%s+%u: relocated call is not a bpf-to-bpf call (src %u)", where, at, in->src_reg);
		if (y->shndx >= f->nsecs || y->value % 8)
			return bad(L->log, -EINVAL, "%s+%u: call to '%s', which is not a function", where, at, y->name);
		tsec = y->shndx;
		target = (int64_t)(y->value / 8) + in->imm + 1;
	} else {
		tsec = L->osec[i];
		target = (int64_t)at + in->imm + 1;
	}
	uint32_t pos;
	int err = place(L, tsec, target, i, &pos);
	if (err)
		return err;
	in = &L->out[i];
	in->imm = (int32_t)((int64_t)pos - i - 1);
	return 0;
}

static int link_prog(struct linker *L, struct elf_prog *p)
{
	const struct elf_file *f = &L->o->elf;
	L->n = 0;
	int err = append(L, (uint32_t)p->sec, p->start, p->start + p->len);
	for (uint32_t i = 0; !err && i < L->n; i++) {
		struct xsec *x = &L->xs[L->osec[i]];
		uint32_t oi = L->oinsn[i];
		const struct rel *r = x->rel_at[oi] >= 0 ? &x->rels[x->rel_at[oi]] : NULL;
		const struct bpf_insn in = L->out[i];
		const char *where = f->secs[L->osec[i]].name;
		if (in.code == OP_LDDW) {
			if (i + 1 >= L->n || L->osec[i + 1] != L->osec[i] || L->oinsn[i + 1] != oi + 1)
				return bad(L->log, -EINVAL, "%s+%u: lddw is cut off by the end of its function", where, oi);
			if (x->rel_at[oi + 1] >= 0)
				return bad(L->log, -EINVAL, "%s+%u: relocation on the second half of an lddw", where, oi + 1);
			if (r)
				err = link_lddw(L, i, r);
			else if (in.src_reg)
				/* A raw pseudo lddw would name maps by host handle or
				 * by our internal index: neither is meaningful here. */
				return bad(L->log, -EINVAL, "%s+%u: lddw with src %u but no relocation", where, oi, in.src_reg);
			i++;
			continue;
		}
		if (in.code == OP_CALL && (r || in.src_reg == BPF_PSEUDO_CALL)) {
			err = link_call(L, i, r);
			continue;
		}
		if (r)
			return bad(L->log, -EINVAL, "%s+%u: relocation on an instruction (opcode %#x) that is neither lddw nor call",
			           where, oi, in.code);
	}
	/* Reset placement for the next program. */
	for (uint32_t k = 0; k < L->ndone; k++)
		L->xs[L->done[k].sec].placed[L->done[k].start] = 0;
	L->ndone = 0;
	if (err)
		return err;
	p->insns = malloc((size_t)L->n * sizeof(*p->insns));
	p->orig_sec = malloc((size_t)L->n * sizeof(uint32_t));
	p->orig_insn = malloc((size_t)L->n * sizeof(uint32_t));
	if (!p->insns || !p->orig_sec || !p->orig_insn) {
		free(p->insns);
		free(p->orig_sec);
		free(p->orig_insn);
		p->insns = NULL; /* not linked */
		p->orig_sec = p->orig_insn = NULL;
		return -ENOMEM;
	}
	memcpy(p->insns, L->out, (size_t)L->n * sizeof(*p->insns));
	memcpy(p->orig_sec, L->osec, (size_t)L->n * sizeof(uint32_t));
	memcpy(p->orig_insn, L->oinsn, (size_t)L->n * sizeof(uint32_t));
	p->ninsns = L->n;
	return 0;
}

int elf_obj_link(struct elf_obj *o, elf_resolve_fn resolve, void *user, struct vm_log *log)
{
	return elf_obj_link_some(o, NULL, resolve, user, log);
}

int elf_obj_link_some(struct elf_obj *o, const bool *want, elf_resolve_fn resolve, void *user, struct vm_log *log)
{
	struct linker L = { .o = o, .log = log, .resolve = resolve, .user = user };
	int err = 0;
	L.xs = calloc(o->elf.nsecs, sizeof(*L.xs));
	if (!L.xs)
		return -ENOMEM;
	for (uint32_t si = 1; si < o->elf.nsecs && !err; si++)
		if (is_exec(&o->elf.secs[si]))
			err = index_section(&L, si);
	for (uint32_t i = 0; i < o->nprogs && !err; i++) {
		if ((want && !want[i]) || o->progs[i].insns)
			continue;
		err = link_prog(&L, &o->progs[i]);
		if (err)
			vm_log(log, BPFVM_LOG_ERRORS, "link: while linking program '%s' (section %s)\n",
			       o->progs[i].name, o->progs[i].sec_name);
	}
	for (uint32_t si = 0; si < o->elf.nsecs; si++) {
		free(L.xs[si].rel_at);
		free(L.xs[si].rels);
		free(L.xs[si].funcs);
		free(L.xs[si].placed);
	}
	free(L.xs);
	free(L.out);
	free(L.osec);
	free(L.oinsn);
	free(L.done);
	return err;
}
