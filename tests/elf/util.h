/* Shared by the ELF tests: reading the objects built from progs/. */
#ifndef BPFVM_TEST_ELF_UTIL_H
#define BPFVM_TEST_ELF_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "elf/elfobj.h"

static inline uint8_t *t_read(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ELF_TEST_DIR, name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "can't open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Opens and loads the object `name` built from progs/, its programs on
 * `engine` (enum bpfvm_engine); a failure fails the test with the
 * loader's log. */
static inline bpfvm_obj *t_load(bpfvm *vm, const char *name, uint32_t engine)
{
	char log[8192] = "", path[512];
	snprintf(path, sizeof(path), "%s/%s", ELF_TEST_DIR, name);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log), .engine = engine };
	bpfvm_obj *obj;
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s: %s", name, log);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s: %s", name, log);
	return obj;
}

#endif
