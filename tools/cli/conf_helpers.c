/*
 * The helpers the bpf_conformance suite expects under ids 0-5 (see
 * ../shared/conformance/README.md), installed in a BPFVM_VM_BARE VM because
 * the ids clash with Linux's numbering.  Called on the program's thread.
 */
#include <string.h>

#include "cli.h"

static uint64_t gather_bytes(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return (a & 0xff) << 32 | (b & 0xff) << 24 | (c & 0xff) << 16 | (d & 0xff) << 8 | (e & 0xff);
}

static uint64_t memfrob_(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c, (void)d, (void)e;
	uint8_t *p = (uint8_t *)(uintptr_t)a;
	for (uint64_t k = 0; k < b; k++)
		p[k] ^= 42;
	return 0;
}

static uint64_t no_op(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a, (void)b, (void)c, (void)d, (void)e;
	return 0;
}

/* floor(sqrt(a)) for all 64-bit a, bit by bit (no floating point rounding). */
static uint64_t sqrti(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b, (void)c, (void)d, (void)e;
	uint64_t res = 0, bit = 1ull << 62;
	while (bit > a)
		bit >>= 2;
	while (bit) {
		if (a >= res + bit) {
			a -= res + bit;
			res = (res >> 1) + bit;
		} else {
			res >>= 1;
		}
		bit >>= 2;
	}
	return res;
}

static uint64_t strcmp_ext(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)c, (void)d, (void)e;
	return (uint64_t)(int64_t)strcmp((const char *)(uintptr_t)a, (const char *)(uintptr_t)b);
}

static uint64_t unwind(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)b, (void)c, (void)d, (void)e;
	if (a == 0)
		bpfvm_run_stop(0);
	return a;
}

int cli_conformance_vm(bpfvm **out)
{
	static const struct {
		const char *name;
		bpfvm_helper_fn fn;
		uint32_t args[5];
	} helpers[] = {
		{ "gather_bytes", gather_bytes, { BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING } },
		{ "memfrob", memfrob_, { BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE } },
		{ "no_op", no_op, { 0 } },
		{ "sqrti", sqrti, { BPFVM_ARG_ANYTHING } },
		{ "strcmp_ext", strcmp_ext, { BPFVM_ARG_ANYTHING, BPFVM_ARG_ANYTHING } },
		{ "unwind", unwind, { BPFVM_ARG_ANYTHING } },
	};
	struct bpfvm_opts o = { .sz = sizeof(o), .flags = BPFVM_VM_BARE };
	bpfvm *vm;
	int e = bpfvm_create(&o, &vm);
	if (e)
		return e;
	for (uint32_t id = 0; id < sizeof(helpers) / sizeof(helpers[0]); id++) {
		struct bpfvm_helper_proto p = { .sz = sizeof(p), .name = helpers[id].name, .ret = BPFVM_RET_INTEGER };
		memcpy(p.args, helpers[id].args, sizeof(p.args));
		if ((e = bpfvm_helper_register(vm, id, helpers[id].fn, &p))) {
			bpfvm_destroy(vm);
			return e;
		}
	}
	*out = vm;
	return 0;
}
