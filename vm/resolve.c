/*
 * Load-time resolution: subprogram boundaries, lddw pseudo sources (map
 * handles, map values, callbacks) and helper ids.  After this, prog->insns
 * hold resolved pointers in map lddws and prog->aux names each helper.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vm.h"
#include "map.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int vm_find_subprogs(struct bpfvm_prog *prog, struct vm_log *log)
{
	uint32_t n = 1, *starts = malloc(sizeof(uint32_t) * (prog->len + 1));
	if (!starts)
		return -ENOMEM;
	starts[0] = 0;
	for (uint32_t i = 0; i < prog->len; i++) {
		uint16_t op = prog->ops[i];
		if (op == VM_OP_CALL_LOCAL || (op == VM_OP_LDDW && prog->insns[i].src_reg == BPF_PSEUDO_FUNC))
			starts[n++] = (uint32_t)((int64_t)i + 1 + prog->insns[i].imm);
	}
	qsort(starts, n, sizeof(*starts), cmp_u32);
	uint32_t u = 0;
	for (uint32_t i = 0; i < n; i++)
		if (u == 0 || starts[i] != starts[u - 1])
			starts[u++] = starts[i];
	prog->subprogs = calloc(u, sizeof(*prog->subprogs));
	if (!prog->subprogs) {
		free(starts);
		return -ENOMEM;
	}
	prog->nsubprogs = u;
	for (uint32_t k = 0; k < u; k++) {
		prog->subprogs[k] = (struct vm_subprog){ .prog = prog, .start = starts[k], .stack_depth = BPF_STACK_SIZE };
		uint32_t end = k + 1 < u ? starts[k + 1] : prog->len;
		for (uint32_t i = starts[k]; i < end; i++)
			prog->aux[i].subprog = k;
		/* As Linux: each subprogram ends in exit or ja, it never falls
		 * into the next one. */
		if (k + 1 < u) {
			uint32_t last = end - 1;
			if (prog->ops[last] == VM_OP_INVALID)
				last--;
			uint16_t op = prog->ops[last];
			if (op != VM_OP_EXIT && op != VM_OP_JA && op != VM_OP_JA32) {
				free(starts);
				return vm_log_err(log, -EINVAL, last,
				                  "falls through into the subprogram at insn %u: end the previous function with exit or ja",
				                  end);
			}
		}
	}
	free(starts);
	return 0;
}

static int subprog_at(const struct bpfvm_prog *prog, uint32_t start)
{
	for (uint32_t k = 0; k < prog->nsubprogs; k++)
		if (prog->subprogs[k].start == start)
			return (int)k;
	return -1;
}

static void set_imm64(struct bpf_insn *in, uint64_t v)
{
	in[0].imm = (int32_t)(uint32_t)v;
	in[1].imm = (int32_t)(uint32_t)(v >> 32);
}

static int resolve_lddw(struct bpfvm_prog *prog, const struct bpfvm_prog_opts *opts, struct vm_log *log, uint32_t i)
{
	struct bpf_insn *in = &prog->insns[i];
	uint32_t src = in->src_reg;
	int fd = in->imm;
	switch (src) {
	case 0:
		return 0;
	case BPF_PSEUDO_BTF_ID:
		return vm_log_err(log, -EINVAL, i, "lddw src=3: kernel BTF ids are not available in userspace");
	case BPF_PSEUDO_FUNC: {
		int k = subprog_at(prog, (uint32_t)((int64_t)i + 1 + in->imm));
		if (k < 0)
			return vm_log_err(log, -EFAULT, i, "internal error: callback target is not a subprogram");
		set_imm64(in, (uint64_t)(uintptr_t)&prog->subprogs[k]);
		return 0;
	}
	case BPF_PSEUDO_MAP_IDX:
	case BPF_PSEUDO_MAP_IDX_VALUE:
		if (!opts || !opts->fd_array || (uint32_t)in->imm >= opts->fd_array_cnt)
			return vm_log_err(log, -EINVAL, i, "lddw src=%u: index %d is outside fd_array (%u entries)", src, in->imm,
			                  opts && opts->fd_array ? opts->fd_array_cnt : 0);
		fd = opts->fd_array[in->imm];
		break;
	default:
		break;
	}
	struct bpfvm_map *map = map_from_fd(prog->vm, fd);
	if (!map)
		return vm_log_err(log, -EBADF, i, "lddw src=%u: %d is not a map handle", src, fd);
	if (src == BPF_PSEUDO_MAP_FD || src == BPF_PSEUDO_MAP_IDX) {
		set_imm64(in, (uint64_t)(uintptr_t)map);
	} else {
		uint32_t off = (uint32_t)in[1].imm, zero = 0;
		if (map->type != BPFVM_MAP_ARRAY || map->max_entries != 1)
			return vm_log_err(log, -EINVAL, i,
			                  "lddw src=%u: map '%s' must be an array with one element to take a value address", src,
			                  map->name);
		if (off >= map->value_size)
			return vm_log_err(log, -EINVAL, i, "lddw src=%u: offset %u is past the %u-byte value of map '%s'", src,
			                  off, map->value_size, map->name);
		uint8_t *v = map->ops->lookup(map, &zero);
		if (!v)
			return vm_log_err(log, -EINVAL, i, "lddw src=%u: map '%s' has no value at key 0", src, map->name);
		set_imm64(in, (uint64_t)(uintptr_t)(v + off));
	}
	map_get(map);
	prog->aux[i].map = map;
	return 0;
}

int vm_resolve(struct bpfvm_prog *prog, const struct bpfvm_prog_opts *opts, struct vm_log *log)
{
	for (uint32_t i = 0; i < prog->len; i++) {
		uint16_t op = prog->ops[i];
		int r = 0;
		if (op == VM_OP_LDDW) {
			r = resolve_lddw(prog, opts, log, i);
		} else if (op == VM_OP_CALL) {
			const struct vm_helper *h = vm_helper_find(prog->vm, (uint32_t)prog->insns[i].imm);
			if (!h)
				r = vm_log_err(log, -EINVAL, i, "unknown helper %d", prog->insns[i].imm);
			prog->aux[i].helper = h;
		}
		if (r)
			return r;
	}
	return 0;
}
