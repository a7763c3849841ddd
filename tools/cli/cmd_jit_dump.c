/*
 * `bpfvm jit-dump FILE`: loads a program on the JIT and prints its x86-64
 * code, disassembled with capstone, each block under the BPF instruction
 * it came from.
 */
#include <capstone/capstone.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "cli.h"
#include "jit_int.h"
#include "vm.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm jit-dump [--blind] [--checked] [--no-vector] [--prog NAME] FILE\n"
	           "Loads FILE on the JIT and prints the x86-64 code, each block under the BPF\n"
	           "instruction it came from.  Raw instructions or assembly load unverified into\n"
	           "a VM with the conformance suite's helpers (ids 0-5); an ELF object's programs\n"
	           "are verified first, as `bpfvm run` does, and each one is printed.\n"
	           "  --blind      blind constants (BPFVM_PROG_JIT_BLIND)\n"
	           "  --checked    checked mode (BPFVM_PROG_NO_VERIFY): inline run-time checks\n"
	           "  --no-vector  don't vectorize loops (BPFVM_PROG_JIT_NO_VECTOR)\n"
	           "  --prog NAME  ELF: only that program (function or section name)\n");
}

static void dump_range(csh cs, const uint8_t *base, size_t from, size_t to)
{
	if (to <= from)
		return;
	cs_insn *insn;
	size_t n = cs_disasm(cs, base + from, to - from, (uint64_t)from, 0, &insn);
	for (size_t i = 0; i < n; i++) {
		printf("    %6llx:  ", (unsigned long long)insn[i].address);
		for (int b = 0; b < 10; b++)
			printf(b < insn[i].size ? "%02x " : "   ", insn[i].bytes[b]);
		printf(" %s %s\n", insn[i].mnemonic, insn[i].op_str);
	}
	if (n)
		cs_free(insn, n);
}

/* The vectorized loop headed at insn i, if any. */
static const struct jit_vloop *vloop_at(const struct jit_image *img, uint32_t i)
{
	for (uint32_t k = 0; k < img->nvloops; k++)
		if (img->vloops[k].head == i)
			return &img->vloops[k];
	return NULL;
}

/* Prints one loaded program's image; log holds its load log (the reason
 * when the JIT fell back to the interpreter). */
static int dump_prog(csh cs, struct bpfvm_prog *prog, const char *path, const char *log)
{
	struct jit_image *img = prog->jit;
	if (!img) {
		cli_err("jit-dump", "%s: not JIT'd:\n%s", path, log);
		return CLI_FAIL;
	}
	const uint8_t *code = img->mem;
	printf("; %zu bytes of x86-64, %u passes\n; entry trampoline and abort stub\n", img->code_size, img->passes);
	dump_range(cs, code, 0, img->subs[0]);
	for (uint32_t i = 0; i < img->len; i++) {
		if (prog->ops[i] == VM_OP_INVALID)
			continue; /* second slot of lddw */
		for (uint32_t s = 0; s < img->nsubs; s++)
			if ((prog->nsubprogs ? prog->subprogs[s].start : 0) == i) {
				printf("; subprogram %u prologue\n", s);
				dump_range(cs, code, img->subs[s], img->addrs[i]);
			}
		uint32_t j = i + 1;
		while (j < img->len && prog->ops[j] == VM_OP_INVALID)
			j++;
		size_t end = img->addrs[j < img->len ? j : img->len];
		for (uint32_t s = 1; s < img->nsubs && j < img->len; s++)
			if (prog->subprogs[s].start == j)
				end = img->subs[s]; /* the next prologue is not this insn's code */
		const struct jit_vloop *vl = vloop_at(img, j);
		if (vl && j < img->len)
			end -= vl->len; /* the next loop's vector block */
		if ((vl = vloop_at(img, i))) {
			printf("; vectorized loop, insns %u-%u: %u iterations at a time in ymm registers (%u-byte elements)\n",
			       vl->head, vl->end, vl->lanes, vl->esize);
			dump_range(cs, code, img->addrs[i] - vl->len, img->addrs[i]);
			printf("; its scalar code: the remaining iterations, and every entry the vector block can't take\n");
		}
		char text[160];
		if (vm_disasm_insn(prog->insns, prog->len, i, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "(opcode %#x)", prog->insns[i].code);
		printf("%5u: %s\n", i, text);
		dump_range(cs, code, img->addrs[i], end);
	}
	return CLI_OK;
}

/* An ELF object: verified (or checked with --checked) as `bpfvm run`
 * loads it, in a VM with bpfvm's own helpers; every loaded program is
 * printed, or the one --prog names (loaded with the programs its prog
 * arrays start with, which are not printed). */
static int dump_elf(csh cs, const char *path, const char *name, uint32_t flags)
{
	static char log[1 << 16];
	bpfvm *vm = NULL;
	bpfvm_obj *obj = NULL;
	int rc = CLI_FAIL, err;
	if ((err = bpfvm_create(NULL, &vm))) {
		cli_err("jit-dump", "cannot create a VM: %s", bpfvm_strerror(err));
		return CLI_FAIL;
	}
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .log_level = BPFVM_LOG_ERRORS, .prog_flags = flags, .engine = BPFVM_ENGINE_JIT };
	if ((err = bpfvm_obj_open_file(vm, path, &oo, &obj))) {
		cli_err("jit-dump", "%s: cannot open the ELF object: %s\n%s", path, bpfvm_strerror(err), log);
		goto out;
	}
	if (name && (bpfvm_obj_set_autoload(obj, NULL, 0) || bpfvm_obj_set_autoload(obj, name, 1))) {
		cli_err("jit-dump", "%s: no program named '%s' (a function or section name)", path, name);
		goto out;
	}
	if ((err = bpfvm_obj_load(obj))) {
		cli_err("jit-dump", "%s: load failed: %s\n%s", path, bpfvm_strerror(err), log);
		goto out;
	}
	rc = CLI_OK;
	bpfvm_prog *only = name ? bpfvm_obj_prog(obj, name) : NULL;
	for (unsigned i = 0; i < bpfvm_obj_prog_count(obj) && rc == CLI_OK; i++) {
		bpfvm_prog *p = bpfvm_obj_prog_at(obj, i);
		if (!p || (only && p != only))
			continue;
		printf("; program %s\n", bpfvm_prog_name(p));
		rc = dump_prog(cs, p, path, log);
	}
out:
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
	return rc;
}

int cli_cmd_jit_dump(int argc, char **argv)
{
	static const struct option opts[] = { { "blind", no_argument, NULL, 'b' }, { "checked", no_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		                              { "no-vector", no_argument, NULL, 'n' }, { "prog", required_argument, NULL, 'p' },
		                              { NULL, 0, NULL, 0 } };
	uint32_t flags = 0; /* BPFVM_PROG_UNCHECKED for raw input, below */
	bool checked = false;
	const char *elf_prog = NULL;
	int c, rc = CLI_FAIL;
	while ((c = getopt_long(argc, argv, "bchnp:", opts, NULL)) != -1) {
		if (c == 'b') {
			flags |= BPFVM_PROG_JIT_BLIND;
		} else if (c == 'n') {
			flags |= BPFVM_PROG_JIT_NO_VECTOR;
		} else if (c == 'c') {
			checked = true;
		} else if (c == 'p') {
			elf_prog = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return CLI_OK;
		} else {
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *path = argv[optind];
	char *buf = NULL;
	size_t len = 0, n = 0;
	struct bpf_insn *insns = NULL;
	bpfvm *vm = NULL;
	bpfvm_prog *prog = NULL;
	csh cs = 0;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		cli_err("jit-dump", "capstone cannot open x86-64");
		goto out;
	}
	int err = cli_read_file(path, &buf, &len);
	if (err) {
		cli_err("jit-dump", "%s: %s", path, strerror(-err));
		goto out;
	}
	enum cli_prog_kind kind = cli_prog_kind(buf, len);
	if (kind == CLI_PROG_ELF) {
		rc = dump_elf(cs, path, elf_prog, flags | (checked ? BPFVM_PROG_NO_VERIFY : 0));
		goto out;
	}
	if (elf_prog) {
		cli_err("jit-dump", "%s: --prog needs an ELF object", path);
		rc = CLI_USAGE;
		goto out;
	}
	flags |= checked ? BPFVM_PROG_NO_VERIFY : BPFVM_PROG_UNCHECKED;
	if (cli_parse_prog("jit-dump", path, buf, len, kind, &insns, &n))
		goto out;
	if ((err = cli_conformance_vm(&vm))) {
		cli_err("jit-dump", "cannot create a VM: %s", bpfvm_strerror(err));
		goto out;
	}
	char log[4096] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = flags, .engine = BPFVM_ENGINE_JIT,
		                      .log_buf = log, .log_size = sizeof(log) };
	if ((err = bpfvm_prog_load(vm, insns, n, &po, &prog))) {
		cli_err("jit-dump", "%s: %s\n%s", path, bpfvm_strerror(err), log);
		goto out;
	}
	rc = dump_prog(cs, prog, path, log);
out:
	if (cs)
		cs_close(&cs);
	bpfvm_prog_put(prog);
	bpfvm_destroy(vm);
	free(insns);
	free(buf);
	return rc;
}
