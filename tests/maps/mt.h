/* Shared helpers for the map tests. */
#ifndef BPFVM_TEST_MAPS_H
#define BPFVM_TEST_MAPS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "bpfvm.h"
#include "../vm/insn.h"

static inline bpfvm *t_vm(void)
{
	bpfvm *vm = NULL;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	return vm;
}

static inline bpfvm_map *t_map(bpfvm *vm, uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = type, .key_size = ks, .value_size = vs,
	                            .max_entries = max, .map_flags = flags, .spin_lock_off = -1, .name = "t" };
	bpfvm_map *m = NULL;
	int rc = bpfvm_map_create(vm, &a, &m);
	cr_assert_eq(rc, 0, "map_create type %u: %s", type, bpfvm_strerror(rc));
	return m;
}

/* Loads an unchecked (trusted) program: the verifier isn't merged here. */
static inline bpfvm_prog *t_prog(bpfvm *vm, const struct bpf_insn *insns, size_t n)
{
	char log[512] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .flags = BPFVM_PROG_UNCHECKED, .log_buf = log,
	                              .log_size = sizeof(log) };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

#define MAPFD(d, m) LDDW_SRC(d, 1, bpfvm_map_fd(m), 0)

#endif
