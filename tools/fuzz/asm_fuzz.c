/*
 * Fuzzes the assembler and disassembler.  Input text that assembles must
 * disassemble and assemble back to the same bytes; the input read as raw
 * instructions must disassemble without crashing, and what disassembles
 * must round-trip.  Any mismatch aborts (a bug).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"

static void round_trip(const struct bpf_insn *insns, size_t n)
{
	char *text = NULL, err[256];
	size_t tlen = 0, m;
	FILE *f = open_memstream(&text, &tlen);
	if (!f)
		return;
	int e = vm_disasm(insns, n, f, err, sizeof(err));
	fclose(f);
	if (!e) {
		struct bpf_insn *back = NULL;
		if (vm_asm(text, tlen, &back, &m, err, sizeof(err)) || m != n ||
		    (n && memcmp(back, insns, n * sizeof(*insns)))) {
			fprintf(stderr, "round trip failed (%s):\n%s", err, text);
			abort();
		}
		free(back);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bpf_insn *insns = NULL;
	size_t n;
	char err[256];
	if (!vm_asm((const char *)data, size, &insns, &n, err, sizeof(err))) {
		round_trip(insns, n);
		free(insns);
	}
	n = size / sizeof(struct bpf_insn);
	if (n) {
		insns = malloc(n * sizeof(*insns));
		memcpy(insns, data, n * sizeof(*insns));
		/* Disassemble instruction by instruction; keep the valid ones. */
		char line[160];
		for (size_t pc = 0; pc < n;) {
			int k = vm_disasm_insn(insns, n, pc, line, sizeof(line));
			if (k > 0)
				round_trip(insns + pc, (size_t)k);
			pc += k > 0 ? (size_t)k : 1;
		}
		free(insns);
	}
	return 0;
}
