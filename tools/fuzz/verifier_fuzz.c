/*
 * Verifier fuzz target (libFuzzer; AFL++ through its libFuzzer driver, or
 * build with -DVFY_FUZZ_MAIN for a plain file-driven binary).
 *
 * The input is a program: one control byte (program type, map mix), then
 * 8-byte instructions.  lddw src=1/2 immediates are redirected to the maps
 * the target created, and helper ids folded onto the ones bpfvm provides,
 * so that more inputs get past the loader into the verifier.  Oracles:
 *   - the verifier never crashes, hangs, or exceeds its limits (the
 *     sanitizers and libFuzzer's timeout watch that);
 *   - every accepted program also runs in checked mode on the same input:
 *     a memory or control-flow violation there is a verifier bug (abort).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"
#include "fix_jumps.h"
#include "isa.h"

static bpfvm *vm;
static bpfvm_map *maps[4];

static const int32_t helper_ids[] = { 1, 2, 3, 5, 7, 12, 93, 94, 181, 164, 6 };

static void setup(void)
{
	if (vm)
		return;
	if (bpfvm_create(NULL, &vm))
		abort();
	struct bpfvm_map_attr a[4] = {
		{ .sz = sizeof(a[0]), .type = BPFVM_MAP_HASH, .key_size = 8, .value_size = 16, .max_entries = 8, .spin_lock_off = -1 },
		{ .sz = sizeof(a[0]), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 48, .max_entries = 1, .spin_lock_off = -1 },
		{ .sz = sizeof(a[0]), .type = BPFVM_MAP_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 2, .spin_lock_off = 4 },
		{ .sz = sizeof(a[0]), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 4, .spin_lock_off = -1 },
	};
	for (int i = 0; i < 4; i++)
		if (bpfvm_map_create(vm, &a[i], &maps[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 9)
		return 0;
	uint8_t ctl = data[0];
	/* Each 4 input bytes make one instruction from the opcode table, so
	 * that nearly every input reaches the verifier: op, registers, a small
	 * offset (jumps kept inside the program), a small or special imm. */
	size_t n = (size - 1) / 4 + 1;
	if (n > 512)
		n = 512;
	struct bpf_insn *insns = calloc(n + 1, sizeof(*insns));
	if (!insns)
		return 0;
	static const int32_t imms[] = { 0, 1, -1, 8, -8, 16, -16, 48, 0x7fffffff, INT32_MIN, 63, 32, 4 };
	size_t k = 0;
	for (size_t i = 0; i + 1 < n && k + 2 < n; i++) {
		const uint8_t *b = data + 1 + 4 * i;
		enum vm_op op = (enum vm_op)(b[0] % VM_OP__COUNT);
		const struct vm_opinfo *oi = &vm_opinfo[op];
		struct bpf_insn *in = &insns[k];
		in->code = oi->code;
		in->dst_reg = b[1] % 11;
		in->src_reg = (b[1] >> 4) % 11;
		in->off = (int8_t)b[2];
		in->imm = (b[3] & 0x80) ? imms[b[3] % 13] : (int8_t)(b[3] << 1) >> 1;
		switch (oi->sel) {
		case SEL_OFF: in->off = (int16_t)oi->selval; break;
		case SEL_IMM: in->imm = oi->selval; break;
		case SEL_SRC: in->src_reg = (uint8_t)oi->selval; break;
		default: break;
		}
		if (oi->fmt == FMT_JA || oi->fmt == FMT_JCOND_K || oi->fmt == FMT_JCOND_X || oi->fmt == FMT_JA32 ||
		    oi->fmt == FMT_CALL_LOCAL) {
			int64_t t = (int8_t)b[2] % 12; /* fixed up below when out of range */
			if (oi->fmt == FMT_JA32 || oi->fmt == FMT_CALL_LOCAL)
				in->imm = (int32_t)t;
			else
				in->off = (int16_t)t;
		}
		if (oi->fmt == FMT_CALL)
			in->imm = helper_ids[b[3] % (sizeof(helper_ids) / sizeof(helper_ids[0]))];
		if (oi->fmt == FMT_LDDW) {
			in->src_reg = (b[1] >> 4) % 3;
			if (in->src_reg == 1) {
				in->imm = bpfvm_map_fd(maps[b[3] % 4]);
			} else if (in->src_reg == 2) {
				in->imm = bpfvm_map_fd(maps[1]);
				insns[k + 1].imm = b[2] % 48;
			}
			k++;
		}
		k++;
	}
	insns[k].code = 0x95; /* exit */
	n = k + 1;
	fuzz_fix_jumps(insns, (uint32_t)n);
	if (getenv("VFY_FUZZ_DUMP"))
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%zu: %02x dst=%u src=%u off=%d imm=%d\n", i, insns[i].code, insns[i].dst_reg,
			        insns[i].src_reg, insns[i].off, insns[i].imm);
	static char log[1 << 16];
	const char *type = (ctl & 1) ? "xdp" : NULL;
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = type, .mem_size = 64, .log_buf = log,
	                             .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS,
	                             .flags = (ctl & 2) ? BPFVM_PROG_ANY_ALIGNMENT : 0 };
	bpfvm_prog *prog = NULL;
	int err = bpfvm_prog_load(vm, insns, n, &o, &prog);
	if (err == -EFAULT && strstr(log, "verifier bug")) {
		fprintf(stderr, "verifier reported an internal inconsistency:\n%s\n", log);
		abort();
	}
	if (!err) {
		bpfvm_prog_put(prog);
		/* The same program unverified, in checked mode. */
		o.flags |= BPFVM_PROG_NO_VERIFY;
		o.insn_budget = 1000000;
		if (type) /* types that rewrite ctx loads need the verifier */
			goto out;
		/* The checked engine does not know direct value addresses
		 * (lddw src=2) as regions yet: no oracle for those programs. */
		for (size_t i = 0; i < n; i++)
			if (insns[i].code == 0x18 && insns[i].src_reg == 2)
				goto out;
		if (bpfvm_prog_load(vm, insns, n, &o, &prog))
			goto out;
		uint8_t mem[64];
		memset(mem, 0x5a, sizeof(mem));
		char ebuf[256] = "";
		struct bpfvm_run_opts r = { .sz = sizeof(r), .data = mem, .len = sizeof(mem), .err_buf = ebuf,
		                            .err_size = sizeof(ebuf) };
		int rc = bpfvm_prog_run_opts(prog, &r);
		bpfvm_prog_put(prog);
		if (rc == -EFAULT || rc == -EINVAL || rc == -E2BIG) {
			fprintf(stderr, "accepted program broke a rule at run time (%s) at insn %u: %s\n",
			        bpfvm_strerror(rc), r.err_insn, ebuf);
			abort();
		}
	}
out:
	free(insns);
	return 0;
}

#ifdef VFY_FUZZ_MAIN
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			continue;
		static uint8_t buf[1 << 16];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
	}
	return 0;
}
#endif
