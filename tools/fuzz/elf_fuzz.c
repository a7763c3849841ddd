/*
 * Fuzz target for the ELF loader: any bytes go through the pure stages
 * (ELF, BTF, .BTF.ext line info, maps, programs, linking) and the public
 * open/load path.
 * Findings are crashes, sanitizer reports and leaks; every verdict is fine.
 *
 * libFuzzer: CC=clang-19 meson setup -Dfuzz=true (suite 'fuzz' runs it for
 * ~60 s seeded with the tests/elf objects).  AFL++: build this file with
 * -DBPFVM_FUZZ_MAIN and afl-clang-fast; it then reads one input from the
 * file named by argv[1] (or stdin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"
#include "elf/elfobj.h"

static int resolve(void *user, const char *name, uint32_t *id)
{
	(void)user;
	if (strcmp(name, "bpfvm_test_mul"))
		return -1;
	*id = 0x10000;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bpfvm *vm;
	char log[512];
	struct vm_log L;
	struct elf_obj o;

	vm_log_init(&L, log, sizeof(log), 0);
	if (elf_obj_parse(&o, data, size, &L) == 0) {
		/* Source line tables (.BTF.ext mapped onto each linked program). */
		if (elf_obj_link(&o, resolve, NULL, &L) == 0) {
			for (uint32_t i = 0; i < o.nprogs; i++) {
				struct vm_prog_debug *d;
				if (btf_ext_prog_debug(&o, &o.progs[i], &d, &L) == 0)
					free(d);
			}
		}
		elf_obj_free(&o);
	}
	if (!vm && bpfvm_create(NULL, &vm))
		return 0;
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .prog_flags = BPFVM_PROG_NO_VERIFY };
	bpfvm_obj *obj;
	if (bpfvm_obj_open_mem(vm, data, size, &oo, &obj) == 0) {
		bpfvm_obj_load(obj);
		bpfvm_obj_close(obj);
	}
	return 0;
}

#ifdef BPFVM_FUZZ_MAIN
int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
	if (!f)
		return 1;
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap && cap < (64u << 20))
			buf = realloc(buf, cap *= 2);
		else if (len == cap)
			break;
	}
	if (buf)
		LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}
#endif
