/*
 * bpfvm run --seed: the JSON reader fills an object's maps (and rejects
 * malformed files with a message naming the byte), then a program sees the
 * seeded data.
 */
#include <errno.h>
#include <string.h>

#include "seed.h"
#include "util.h"

static bpfvm_obj *open_maps(bpfvm **vm)
{
	char path[512], log[4096] = "";
	snprintf(path, sizeof(path), "%s/maps_v3.o", ELF_TEST_DIR);
	cr_assert_eq(bpfvm_create(NULL, vm), 0);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .prog_flags = BPFVM_PROG_UNCHECKED };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(*vm, path, &oo, &obj), 0, "%s", log);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s", log);
	return obj;
}

Test(elf_seed, seeds_and_runs)
{
	bpfvm *vm;
	bpfvm_obj *obj = open_maps(&vm);
	const char *json = "{\"maps\": [{\"name\": \"in2\", \"type\": 2, \"entries\": [{\"key\": 0, \"value\": 1234}]},"
	                   " {\"name\": \"arr\", \"entries\": [{\"key\": \"03000000\", \"value\": \"0700000000000000\"}]}]}";
	char err[256] = "";
	cr_assert_eq(cli_seed_maps(obj, json, strlen(json), err, sizeof(err)), 0, "%s", err);
	uint32_t k = 3;
	uint64_t v = 0, r0 = 0;
	cr_assert_eq(bpfvm_map_lookup(bpfvm_obj_map(obj, "arr"), &k, &v, 0), 0);
	cr_expect_eq(v, 7);
	char in[8] = { 0 };
	cr_assert_eq(bpfvm_prog_run(bpfvm_obj_prog(obj, "mim"), in, sizeof(in), &r0), 0);
	cr_expect_eq(r0, 2468);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_seed, malformed)
{
	static const struct { const char *json, *msg; } bad[] = {
		{ "", "expected" },
		{ "[]", "expected" },
		{ "{\"maps\": [{\"name\": \"nope\"}]}", "no map named 'nope'" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": \"01\", \"value\": 1}]}]}", "hex string length" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": 1}]}]}", "needs both" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": 4294967296, \"value\": 1}]}]}", "does not fit" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": 9, \"value\": 1}]}]}", "update failed" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": \"zz000000\", \"value\": 1}]}]}", "bad hex" },
		{ "{\"maps\": [{\"name\": \"arr\"", "expected" },
		{ "{\"x\": [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]}", "too deep" },
		{ "{\"maps\": [{\"name\": \"arr\", \"entries\": [{\"key\": \"0100", "unterminated" },
	};
	bpfvm *vm;
	bpfvm_obj *obj = open_maps(&vm);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		cr_expect_lt(cli_seed_maps(obj, bad[i].json, strlen(bad[i].json), err, sizeof(err)), 0, "case %zu accepted", i);
		cr_expect(strstr(err, bad[i].msg), "case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
	}
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}
