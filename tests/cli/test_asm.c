/*
 * Assembler and disassembler: every opcodes.def entry round-trips, random
 * valid encodings round-trip, known encodings, and each error is reported
 * with its line.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"

static struct bpf_insn *assemble_ok(const char *text, size_t *n)
{
	struct bpf_insn *out = NULL;
	char err[256];
	int e = vm_asm(text, strlen(text), &out, n, err, sizeof(err));
	cr_assert_eq(e, 0, "assembling \"%s\" failed: %s", text, err);
	return out;
}

static void assemble_fails(const char *text, const char *msg_part)
{
	struct bpf_insn *out = NULL;
	size_t n;
	char err[256];
	int e = vm_asm(text, strlen(text), &out, &n, err, sizeof(err));
	cr_assert_eq(e, -EINVAL, "\"%s\" should be rejected", text);
	cr_assert(strstr(err, msg_part), "error for \"%s\" is \"%s\", expected it to mention \"%s\"", text, err,
	          msg_part);
	cr_assert(!strncmp(err, "line ", 5), "error \"%s\" should name the line", err);
}

/* Disassembles insns, assembles the text and requires identical bytes. */
static void round_trip(const struct bpf_insn *insns, size_t n)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	char err[256];
	int e = vm_disasm(insns, n, f, err, sizeof(err));
	fclose(f);
	cr_assert_eq(e, 0, "disassembly failed: %s", err);
	size_t m;
	struct bpf_insn *back = NULL;
	e = vm_asm(text, tlen, &back, &m, err, sizeof(err));
	cr_assert_eq(e, 0, "re-assembling \"%s\" failed: %s", text, err);
	cr_assert_eq(m, n, "slot count changed for \"%s\"", text);
	cr_assert(!memcmp(back, insns, n * sizeof(*insns)), "bytes changed for \"%s\"", text);
	free(back);
	free(text);
}

/* An instance of op with every used field set to something non-trivial. */
static size_t make_insn(enum vm_op op, struct bpf_insn *in, unsigned seed)
{
	const struct vm_opinfo *oi = &vm_opinfo[op];
	memset(in, 0, 2 * sizeof(*in));
	in->code = oi->code;
	uint8_t d = (uint8_t)(seed % 11), s = (uint8_t)((seed * 7 + 3) % 11);
	int16_t off = (int16_t)((int)(seed * 2654435761u >> 16) - 32768);
	int32_t imm = (int32_t)(seed * 2246822519u);
	switch ((enum vm_fmt)oi->fmt) {
	case FMT_ALU_K: in->dst_reg = d; in->imm = imm; break;
	case FMT_ALU_X: in->dst_reg = d; in->src_reg = s; break;
	case FMT_NEG: case FMT_END: case FMT_CALLX: in->dst_reg = d; break;
	case FMT_LDDW: in->dst_reg = d; in->imm = imm; in[1].imm = (int32_t)(seed * 40503u); break;
	case FMT_LDABS: in->imm = imm; break;
	case FMT_LDIND: in->src_reg = s; in->imm = imm; break;
	case FMT_LDX: case FMT_STX: case FMT_ATOMIC: in->dst_reg = d; in->src_reg = s; in->off = off; break;
	case FMT_ST: in->dst_reg = d; in->off = off; in->imm = imm; break;
	case FMT_JA: in->off = off; break;
	case FMT_JA32: case FMT_CALL: case FMT_CALL_LOCAL: in->imm = imm; break;
	case FMT_JCOND_K: in->dst_reg = d; in->imm = imm; in->off = off; break;
	case FMT_JCOND_X: in->dst_reg = d; in->src_reg = s; in->off = off; break;
	case FMT_EXIT: break;
	}
	switch (oi->sel) {
	case SEL_OFF: in->off = (int16_t)oi->selval; break;
	case SEL_IMM: in->imm = oi->selval; break;
	case SEL_SRC: in->src_reg = (uint8_t)oi->selval; break;
	}
	return oi->fmt == FMT_LDDW ? 2 : 1;
}

Test(asm, every_opcode_round_trips)
{
	for (int op = 0; op < VM_OP__COUNT; op++) {
		for (unsigned seed = 0; seed < 50; seed++) {
			struct bpf_insn in[2];
			size_t n = make_insn((enum vm_op)op, in, seed);
			cr_assert_eq(vm_decode(in), (enum vm_op)op, "%s does not decode to itself", vm_opinfo[op].name);
			round_trip(in, n);
		}
	}
}

Test(asm, every_mnemonic_assembles_to_its_op)
{
	/* Text written from the table's mnemonic and operand layout. */
	for (int op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		const char *ops = "";
		switch ((enum vm_fmt)oi->fmt) {
		case FMT_ALU_K: ops = "%r1, -5"; break;
		case FMT_ALU_X: ops = "%r1, %r2"; break;
		case FMT_NEG: case FMT_END: case FMT_CALLX: ops = "%r3"; break;
		case FMT_LDDW: ops = "%r4, 0x1122334455667788"; break;
		case FMT_LDABS: ops = "12"; break;
		case FMT_LDIND: ops = "%r5, 12"; break;
		case FMT_LDX: ops = "%r1, [%r2+8]"; break;
		case FMT_ST: ops = "[%r10-8], 7"; break;
		case FMT_STX: case FMT_ATOMIC: ops = "[%r10-8], %r1"; break;
		case FMT_JA: case FMT_JA32: case FMT_CALL_LOCAL: ops = "+0"; break;
		case FMT_JCOND_K: ops = "%r1, 3, +0"; break;
		case FMT_JCOND_X: ops = "%r1, %r2, +0"; break;
		case FMT_CALL: ops = "2"; break;
		case FMT_EXIT: break;
		}
		char text[128];
		snprintf(text, sizeof(text), "%s %s\n", oi->mnemonic, ops);
		size_t n;
		struct bpf_insn *in = assemble_ok(text, &n);
		cr_assert_eq(vm_decode(in), (enum vm_op)op, "\"%s\" assembled to 0x%02x, not %s", text, in->code, oi->name);
		free(in);
	}
}

Test(asm, known_encodings)
{
	size_t n;
	struct bpf_insn *in = assemble_ok("lddw %r0, 0x1122334455667788\nexit", &n);
	cr_assert_eq(n, 3);
	uint64_t w[3];
	memcpy(w, in, sizeof(w));
	cr_assert_eq(w[0], 0x5566778800000018ull);
	cr_assert_eq(w[1], 0x1122334400000000ull);
	cr_assert_eq(w[2], 0x95ull);
	free(in);

	in = assemble_ok("mov32 %r0, 0xffffffff\nmov %r1, -1\nldxh %r2, [%r1-2]\nlock fetch add32 [%r10-4], %r3\n"
	                 "call %r2\ncall local +1\nja32 -1\nsdiv %r1, 3\nmovsx864 %r6, %r5", &n);
	cr_assert_eq(n, 9);
	cr_assert_eq(in[0].code, 0xb4); cr_assert_eq(in[0].imm, -1);
	cr_assert_eq(in[1].code, 0xb7); cr_assert_eq(in[1].imm, -1);
	cr_assert_eq(in[2].code, 0x69); cr_assert_eq(in[2].off, -2); cr_assert_eq(in[2].src_reg, 1); cr_assert_eq(in[2].dst_reg, 2);
	cr_assert_eq(in[3].code, 0xc3); cr_assert_eq(in[3].imm, 0x01); cr_assert_eq(in[3].src_reg, 3);
	cr_assert_eq(in[4].code, 0x8d); cr_assert_eq(in[4].dst_reg, 2); cr_assert_eq(in[4].imm, 0);
	cr_assert_eq(in[5].code, 0x85); cr_assert_eq(in[5].src_reg, 1); cr_assert_eq(in[5].imm, 1);
	cr_assert_eq(in[6].code, 0x06); cr_assert_eq(in[6].imm, -1);
	cr_assert_eq(in[7].code, 0x37); cr_assert_eq(in[7].off, 1);
	cr_assert_eq(in[8].code, 0xbf); cr_assert_eq(in[8].off, 8); cr_assert_eq(in[8].dst_reg, 6);
	free(in);
}

Test(asm, labels)
{
	size_t n;
	struct bpf_insn *in = assemble_ok("start:\n  jeq %r1, 0, exit # 'exit' is a label here\n"
	                                  "  lddw %r0, 1\n  ja start\n  call local fn\nexit:\n  exit\nfn: mov %r0, 2\n exit", &n);
	cr_assert_eq(n, 8);
	cr_assert_eq(in[0].off, 4);  /* to slot 5 */
	cr_assert_eq(in[3].off, -4); /* back to slot 0 */
	cr_assert_eq(in[4].imm, 1);  /* call local to slot 6 */
	free(in);
}

Test(asm, pseudo_lddw_round_trips)
{
	size_t n;
	struct bpf_insn *in = assemble_ok("lddw %r1, map_fd(3)\nlddw %r2, map_value(3, 16)\nlddw %r3, func(+2)\n"
	                                  "lddw %r4, map_idx(0)\nlddw %r5, map_idx_value(1, 8)\nlddw %r6, btf_id(9)\nexit", &n);
	cr_assert_eq(n, 13);
	cr_assert_eq(in[0].src_reg, 1); cr_assert_eq(in[0].imm, 3);
	cr_assert_eq(in[2].src_reg, 2); cr_assert_eq(in[3].imm, 16);
	cr_assert_eq(in[4].src_reg, 4); cr_assert_eq(in[4].imm, 2);
	round_trip(in, n);
	free(in);
}

Test(asm, errors_name_line_and_problem)
{
	assemble_fails("mov %r0, 1\nldxq %r0, %r1\n", "line 2: invalid mnemonic 'ldxq'");
	assemble_fails("or %r0, %r50", "invalid register '%r50'");
	assemble_fails("ldxb %r0, %r1", "memory operand");
	assemble_fails("ldxb %r0, [%r1+0x10000]", "out of range");
	assemble_fails("lddw %r0", "invalid number of operands for lddw");
	assemble_fails("ja NOT_A_LABEL\nexit", "invalid label 'NOT_A_LABEL'");
	assemble_fails("lock or [%r10-8]", "invalid number of operands for lock or");
	assemble_fails("lock", "invalid number of operands for lock");
	assemble_fails("lock fetch", "invalid number of operands for lock fetch");
	assemble_fails("lock nand [%r10-8], %r1", "invalid mnemonic 'lock nand'");
	assemble_fails("mov32 %r0, 2147483648", "out of the 32-bit range");
	assemble_fails("mov32 %r0, 0x100000000", "out of the 32-bit range");
	assemble_fails("mov32 %r0, -2147483649", "out of the 32-bit range");
	assemble_fails("lddw %r0, 0x10000000000000000", "out of the 64-bit range");
	assemble_fails("ja +32768", "out of range");
	assemble_fails("x:\nx:\nexit", "defined twice");
	assemble_fails("add %r0, banana", "expected an immediate");
	assemble_fails("exit %r0", "invalid number of operands for exit");
	assemble_fails("lddw %r1, map_nope(1)", "unknown lddw pseudo source");
	assemble_fails("add %r0,", "empty operand");
	/* Accepted edges. */
	size_t n;
	free(assemble_ok("mov32 %r0, -2147483648\nmov32 %r0, 2147483647\nmov %r0, 0x80000000\n"
	                 "lddw %r0, -9223372036854775808\nlddw %r0, 18446744073709551615\nja -32768\n"
	                 "stb [%r1], 1\nldxb %r0, [ %r1 + 4 ]\n", &n));
}

Test(asm, disasm_rejects_invalid_encodings)
{
	char buf[256];
	struct bpf_insn bad[] = {
		{ .code = 0x07, .off = 1 },          /* add with an offset */
		{ .code = 0x95, .dst_reg = 1 },      /* exit with a register */
		{ .code = 0x00 },                    /* unknown opcode */
		{ .code = 0x85, .src_reg = 2 },      /* kfunc call */
		{ .code = 0xbf, .off = 4 },          /* movsx with a bad width */
		{ .code = 0x0f, .dst_reg = 12 },     /* register r12 */
		{ .code = 0x18, .src_reg = 9 },      /* unknown lddw pseudo source */
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct bpf_insn pair[2] = { bad[k], { 0 } };
		cr_assert_lt(vm_disasm_insn(pair, 2, 0, buf, sizeof(buf)), 0, "encoding %zu accepted: %s", k, buf);
	}
	struct bpf_insn lddw = { .code = 0x18 };
	cr_assert_lt(vm_disasm_insn(&lddw, 1, 0, buf, sizeof(buf)), 0);
	cr_assert(strstr(buf, "second slot"));
}

Test(asm, random_valid_encodings_round_trip)
{
	srand(12345);
	int valid = 0;
	for (int k = 0; k < 200000; k++) {
		struct bpf_insn in[2];
		unsigned char *b = (unsigned char *)in;
		for (size_t j = 0; j < sizeof(in); j++)
			b[j] = (unsigned char)rand();
		/* Bias towards legal fields so that many samples are valid. */
		if (rand() % 2) { in[0].dst_reg %= 11; in[0].src_reg %= 11; }
		if (rand() % 2) in[0].off = (int16_t)(rand() % 3 ? 0 : (rand() % 4) * 8);
		if (rand() % 2) in[0].imm = rand() % 2 ? 0 : in[0].imm;
		if (rand() % 4 == 0) { in[0].code = 0x18; in[0].src_reg %= 7; in[1].code = 0; in[1].dst_reg = 0; in[1].src_reg = 0; in[1].off = 0; }
		char buf[256];
		int slots = vm_disasm_insn(in, 2, 0, buf, sizeof(buf));
		if (slots < 0)
			continue;
		valid++;
		round_trip(in, (size_t)slots);
	}
	cr_assert_gt(valid, 10000, "only %d valid samples", valid);
}

/* The asm section of a .data file, into text (NUL-terminated). */
static void read_asm_section(const char *path, char *text, size_t size)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	char line[512];
	int in_asm = 0;
	text[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "--")) {
			in_asm = strstr(line, "asm") != NULL;
			continue;
		}
		if (in_asm && strlen(text) + strlen(line) < size)
			strcat(text, line);
	}
	fclose(f);
}

/* The public suite's programs: every asm section assembles, and
 * disassembling the result assembles back to the same bytes. */
Test(asm, conformance_programs_assemble_and_round_trip)
{
	char dir[1024];
	const char *root = getenv("BPFVM_CONFORMANCE");
	snprintf(dir, sizeof(dir), "%s/tests", root ? root : SOURCE_ROOT "/../shared/conformance");
	DIR *d = opendir(dir);
	if (!d)
		cr_skip_test("%s not present", dir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".data"))
			continue;
		char path[1024 + 300];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		static char text[1 << 16];
		read_asm_section(path, text, sizeof(text));
		size_t n;
		struct bpf_insn *in = NULL;
		char err[256];
		int e = vm_asm(text, strlen(text), &in, &n, err, sizeof(err));
		cr_assert_eq(e, 0, "%s: %s", de->d_name, err);
		round_trip(in, n);
		free(in);
		files++;
	}
	closedir(d);
	cr_assert_eq(files, 313);
}

/* The project's own tests/data files use every operation of opcodes.def. */
Test(asm, own_data_files_cover_every_opcode)
{
	const char *dir = SOURCE_ROOT "/tests/data";
	DIR *d = opendir(dir);
	cr_assert(d, "%s missing", dir);
	bool seen[VM_OP__COUNT] = { 0 };
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".data"))
			continue;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		static char text[1 << 20];
		read_asm_section(path, text, sizeof(text));
		size_t n;
		struct bpf_insn *in = NULL;
		char err[256];
		cr_assert_eq(vm_asm(text, strlen(text), &in, &n, err, sizeof(err)), 0, "%s: %s", de->d_name, err);
		for (size_t k = 0; k < n; k++) {
			enum vm_op op = vm_decode(&in[k]);
			if (op != VM_OP_INVALID)
				seen[op] = true;
			if (op == VM_OP_LDDW)
				k++;
		}
		free(in);
	}
	closedir(d);
	for (int op = 0; op < VM_OP__COUNT; op++)
		cr_expect(seen[op], "no tests/data file uses %s (%s)", vm_opinfo[op].name, vm_opinfo[op].mnemonic);
}
