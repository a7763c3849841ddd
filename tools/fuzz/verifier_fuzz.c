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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"

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
	size_t n = (size - 1) / 8;
	if (n > 512)
		n = 512;
	struct bpf_insn *insns = malloc(n * sizeof(*insns));
	if (!insns)
		return 0;
	memcpy(insns, data + 1, n * sizeof(*insns));
	for (size_t i = 0; i < n; i++) {
		struct bpf_insn *in = &insns[i];
		if (in->code == 0x18 && i + 1 < n && (in->src_reg == 1 || in->src_reg == 2)) {
			/* value addresses need a single-element array (map 1) */
			bpfvm_map *m = in->src_reg == 2 ? maps[1] : maps[(unsigned)in->imm % 4];
			in->imm = bpfvm_map_fd(m);
			if (in->src_reg == 2)
				insns[i + 1].imm = (int32_t)((uint32_t)insns[i + 1].imm % 48);
		}
		if (in->code == 0x85 && in->src_reg == 0)
			in->imm = helper_ids[(uint32_t)in->imm % (sizeof(helper_ids) / sizeof(helper_ids[0]))];
	}
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
