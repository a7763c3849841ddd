/*
 * Source line info (.BTF.ext) in verifier errors, and the per-program line
 * table behind it.  progs/lines.bpf.c marks each line that fails with
 * "BAD:<name>"; the expected line numbers are read from the source, so
 * editing the file never silently breaks the tests.
 */
#include <errno.h>
#include <string.h>

#include "util.h"
#include "vm.h"

/* Line number of the first source line containing `needle`. */
static uint32_t src_line(const char *file, const char *needle)
{
	char path[512], buf[512];
	snprintf(path, sizeof(path), "%s/progs/%s", ELF_SRC_DIR, file);
	FILE *f = fopen(path, "r");
	cr_assert(f, "can't open %s", path);
	uint32_t n = 0, found = 0;
	while (!found && fgets(buf, sizeof(buf), f)) {
		n++;
		if (strstr(buf, needle))
			found = n;
	}
	fclose(f);
	cr_assert(found, "%s: no line contains \"%s\"", file, needle);
	return found;
}

/* Opens `file` with only program `prog` to load; returns the load error. */
static int load_one(bpfvm *vm, const char *file, const char *prog, uint32_t flags, uint32_t level, char *log,
                    size_t logsz, bpfvm_obj **out)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ELF_TEST_DIR, file);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = logsz, .log_level = level,
	                             .prog_flags = flags };
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, out), 0, "%s", log);
	cr_assert_eq(bpfvm_obj_set_autoload(*out, NULL, 0), 0);
	cr_assert_eq(bpfvm_obj_set_autoload(*out, prog, 1), 0);
	return bpfvm_obj_load(*out);
}

struct lcase {
	const char *prog;
	const char *marker;  /* "BAD:<name>" on the failing line */
	const char *subprog; /* the function named in the log when the error is in a subprogram */
};

static const struct lcase lcases[] = {
	{ "null_deref", "BAD:null_deref", NULL },
	{ "sub_oob", "BAD:sum_past", "sum_past" },       /* static .text subprogram */
	{ "global_oob", "BAD:global_past", "global_past" }, /* global .text function */
};

Test(elf_lines, error_names_the_source_line)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	for (size_t i = 0; i < sizeof(lcases) / sizeof(lcases[0]); i++) {
		const struct lcase *c = &lcases[i];
		static char log[1 << 16];
		bpfvm_obj *obj;
		int err = load_one(vm, "lines.o", c->prog, 0, BPFVM_LOG_ERRORS, log, sizeof(log), &obj);
		cr_expect_eq(err, -EACCES, "%s: %d: %s", c->prog, err, log);
		char want[128];
		snprintf(want, sizeof(want), " @ lines.bpf.c:%u\n", src_line("lines.bpf.c", c->marker));
		const char *at = strstr(log, want);
		cr_expect(at, "%s: log lacks \"%s\":\n%s", c->prog, want, log);
		/* As Linux: "; <source text> @ <file>:<line>" right before "insn N: ..." */
		if (at) {
			const char *bol = at;
			while (bol > log && bol[-1] != '\n')
				bol--;
			cr_expect(!strncmp(bol, "; ", 2) && strstr(bol, c->marker) && bol + 2 < at, "%s: %s", c->prog, log);
			cr_expect(!strncmp(strchr(at, '\n') + 1, "insn ", 5), "%s: no error line after the source line:\n%s",
			          c->prog, log);
		}
		if (c->subprog) {
			snprintf(want, sizeof(want), "; in subprogram %s() (insn ", c->subprog);
			cr_expect(strstr(log, want), "%s: log lacks \"%s\":\n%s", c->prog, want, log);
		} else {
			cr_expect(!strstr(log, "; in subprogram"), "%s: %s", c->prog, log);
		}
		bpfvm_obj_close(obj);
	}
	bpfvm_destroy(vm);
}

/* Level 2: each new source line is printed once, before the states of
 * its instructions, as the walk proceeds. */
Test(elf_lines, state_log_prints_lines_as_it_walks)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	static char log[1 << 18];
	bpfvm_obj *obj;
	cr_expect_eq(load_one(vm, "lines.o", "sub_oob", 0, BPFVM_LOG_STATES, log, sizeof(log), &obj), -EACCES, "%s", log);
	char want[64];
	/* The caller's lines, then the subprogram's. */
	uint32_t caller = src_line("lines.bpf.c", "return a + sum_past(");
	uint32_t callee = src_line("lines.bpf.c", "s += p[n] * 3;");
	snprintf(want, sizeof(want), " @ lines.bpf.c:%u\n", caller);
	const char *a = strstr(log, want);
	snprintf(want, sizeof(want), " @ lines.bpf.c:%u\n", callee);
	const char *b = strstr(log, want);
	cr_expect(a && b && a < b, "caller line %u then callee line %u expected:\n%s", caller, callee, log);
	/* Every source line is followed by a state line "N: frameK:". */
	for (const char *p = strstr(log, "\n; "); p; p = strstr(p + 1, "\n; ")) {
		const char *next = strchr(p + 1, '\n');
		cr_assert(next);
		if (!strncmp(p + 1, "; in subprogram", 15))
			continue;
		unsigned insn, frame;
		cr_expect(sscanf(next + 1, "%u: frame%u:", &insn, &frame) == 2 || !strncmp(next + 1, "; ", 2) ||
		          !strncmp(next + 1, "insn ", 5), "a source line not followed by a state: %.80s", p + 1);
	}
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

/* The table itself: loaded without the verifier, the program keeps it;
 * the appended subprogram's instructions map to its own lines, and
 * func info names it. */
Test(elf_lines, table_follows_appended_subprograms)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	bpfvm_obj *obj;
	cr_assert_eq(load_one(vm, "lines.o", "sub_oob", BPFVM_PROG_NO_VERIFY, 0, log, sizeof(log), &obj), 0, "%s", log);
	struct bpfvm_prog *p = bpfvm_obj_prog(obj, "sub_oob");
	cr_assert(p && p->debug, "no line table");
	const struct vm_prog_debug *d = p->debug;
	uint32_t main_lo = src_line("lines.bpf.c", "int sub_oob(void *ctx)") - 1;
	uint32_t main_hi = src_line("lines.bpf.c", "return a + sum_past(");
	uint32_t sub_lo = src_line("lines.bpf.c", "int sum_past(int *p, int n)");
	uint32_t sub_hi = src_line("lines.bpf.c", "BAD:sum_past") + 1;
	/* Strictly increasing, inside the program. */
	for (uint32_t k = 0; k < d->nlines; k++) {
		cr_expect_lt(d->lines[k].insn, p->len);
		if (k)
			cr_expect_gt(d->lines[k].insn, d->lines[k - 1].insn);
	}
	const struct vm_func_name *sub = NULL;
	for (uint32_t k = 0; k < d->nfuncs; k++)
		if (d->funcs[k].name && !strcmp(d->funcs[k].name, "sum_past"))
			sub = &d->funcs[k];
	cr_assert(sub && sub->insn > 0, "func info lacks sum_past");
	cr_expect_str_eq(vm_func_of(p, 0)->name, "sub_oob");
	cr_expect_eq(vm_func_of(p, p->len - 1), sub);
	uint32_t seen_main = 0, seen_sub = 0;
	for (uint32_t i = 0; i < p->len; i++) {
		const struct vm_line *l = vm_line_of(p, i);
		if (!l)
			continue;
		cr_expect_str_eq(l->file, "lines.bpf.c");
		if (i < sub->insn) {
			cr_expect(l->line >= main_lo && l->line <= main_hi, "insn %u: line %u outside sub_oob", i, l->line);
			seen_main++;
		} else {
			cr_expect(l->line >= sub_lo && l->line <= sub_hi, "insn %u: line %u outside sum_past", i, l->line);
			seen_sub++;
		}
	}
	cr_expect(seen_main && seen_sub);
	cr_expect_null(vm_line_of(p, p->len));
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

/* A call into another program's section: that section's lines follow. */
Test(elf_lines, cross_section_subprogram)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char log[4096] = "";
	bpfvm_obj *obj;
	cr_assert_eq(load_one(vm, "subprogs_v3.o", "cross", BPFVM_PROG_NO_VERIFY, 0, log, sizeof(log), &obj), 0, "%s", log);
	struct bpfvm_prog *p = bpfvm_obj_prog(obj, "cross");
	cr_assert(p && p->debug);
	uint32_t callee = src_line("subprogs.bpf.c", "int other_sec(int x)");
	const struct vm_line *last = vm_line_of(p, p->len - 1);
	cr_assert(last);
	cr_expect_eq(last->line, callee, "last insn at line %u, expected other_sec's %u", last->line, callee);
	cr_expect_str_eq(vm_func_of(p, p->len - 1)->name, "other_sec");
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

/* Programs loaded from raw instructions have no table, and nothing changes. */
Test(elf_lines, raw_programs_have_none)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpf_insn prog[] = { { .code = 0xb7, .dst_reg = 0, .imm = 0 }, { .code = 0x95 } };
	bpfvm_prog *p;
	cr_assert_eq(bpfvm_prog_load(vm, prog, 2, NULL, &p), 0);
	cr_expect_null(p->debug);
	cr_expect_null(vm_line_of(p, 0));
	cr_expect_null(vm_func_of(p, 0));
	bpfvm_prog_put(p);
	bpfvm_destroy(vm);
}

/* Checked mode (no verifier): a run-time failure names the source line
 * too, on both engines. */
Test(elf_lines, checked_run_error_names_the_source_line)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	char want[64];
	snprintf(want, sizeof(want), "\n; s += p[12]; /* BAD:sum_past */ @ lines.bpf.c:%u",
	         src_line("lines.bpf.c", "BAD:sum_past"));
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		char log[4096] = "", path[512];
		snprintf(path, sizeof(path), "%s/lines.o", ELF_TEST_DIR);
		struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
		                             .prog_flags = BPFVM_PROG_NO_VERIFY, .engine = engine };
		bpfvm_obj *obj;
		cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s", log);
		cr_assert_eq(bpfvm_obj_load(obj), 0, "%s", log);
		char mem[16] = { 0 }, err[512] = "";
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = sizeof(mem), .err_buf = err,
		                             .err_size = sizeof(err) };
		cr_expect_lt(bpfvm_prog_run_opts(bpfvm_obj_prog(obj, "sub_oob"), &ro), 0);
		cr_expect(strstr(err, want), "engine %u: \"%s\" lacks \"%s\"", engine, err, want);
		cr_expect(!strncmp(err, "insn ", 5), "%s", err);
		/* A short buffer still gets the error, NUL-terminated. */
		char small[24];
		ro.err_buf = small;
		ro.err_size = sizeof(small);
		cr_expect_lt(bpfvm_prog_run_opts(bpfvm_obj_prog(obj, "sub_oob"), &ro), 0);
		cr_expect_lt(strlen(small), sizeof(small));
		bpfvm_obj_close(obj);
	}
	bpfvm_destroy(vm);
}

/* .BTF.ext of every test object, parsed directly: each function symbol in
 * a code section has a func record at its first instruction naming it,
 * and a line record there (clang's -g output), so insn_off is read as a
 * byte offset into the right section. */
Test(elf_lines, btf_ext_records_match_function_symbols)
{
	const char *files[] = { "subprogs_v1.o", "subprogs_v3.o", "subprogs_v4.o", "full.o", "maps_v3.o",
	                        "helpers.o", "lines.o", "autoload.o" };
	for (size_t fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
		size_t len;
		uint8_t *buf = t_read(files[fi], &len);
		char log[1024] = "";
		struct vm_log L;
		vm_log_init(&L, log, sizeof(log), 0);
		struct elf_obj o;
		cr_assert_eq(elf_obj_parse(&o, buf, len, &L), 0, "%s: %s", files[fi], log);
		cr_assert(o.has_ext, "%s: no line info: %s", files[fi], log);
		uint32_t checked = 0;
		for (uint32_t i = 0; i < o.elf.nsyms; i++) {
			const struct elf_sym *y = &o.elf.syms[i];
			if (y->type != 2 /* STT_FUNC */ || !y->size || y->shndx >= o.elf.nsecs)
				continue;
			const struct btf_ext_sec *xs = &o.ext.secs[y->shndx];
			uint32_t at = (uint32_t)(y->value / 8);
			bool func = false, line = false;
			for (uint32_t k = 0; k < xs->nfuncs; k++)
				if (xs->funcs[k].insn == at && !strcmp(o.btf.types[xs->funcs[k].type_id].name, y->name))
					func = true;
			for (uint32_t k = 0; k < xs->nlines; k++) {
				line |= xs->lines[k].insn == at;
				cr_expect_lt(xs->lines[k].insn, o.elf.secs[y->shndx].size / 8);
				if (k)
					cr_expect_gt(xs->lines[k].insn, xs->lines[k - 1].insn);
			}
			cr_expect(func && line, "%s: %s (%s+%u): func record %d, line record %d", files[fi], y->name,
			          o.elf.secs[y->shndx].name, at, func, line);
			checked++;
		}
		cr_expect_gt(checked, 0);
		elf_obj_free(&o);
		free(buf);
	}
}
