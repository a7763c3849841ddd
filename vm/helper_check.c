/*
 * Checked mode's helper-call checks (see helper_check.h).  One copy for
 * both engines, so a misbehaving unverified program gets the same error
 * from the checked interpreter and the checked JIT.
 */
#include "helper_check.h"
#include "map.h"

struct bpfvm_map *vm_chk_is_map(const struct vm_chk_env *env, uint64_t v, uint32_t type)
{
	for (uint32_t i = 0; i < env->nmaps; i++)
		if ((uintptr_t)env->maps[i] == v && (!type || env->maps[i]->type == type))
			return env->maps[i];
	return NULL;
}

bool vm_chk_helper_args(const struct vm_chk_env *env, const struct vm_helper *h, const uint64_t *args, uint32_t idx)
{
	struct vm_run *run = env->run;
	struct bpfvm_map *map = NULL;
	for (int i = 0; i < 5; i++) {
		uint32_t k = h->proto.args[i];
		uint64_t v = args[i];
		uint64_t size = i < 4 ? args[i + 1] : 0;
		uint64_t msz;
		bool ok = true, wr = false;
		const char *what = "memory";
		switch (k) {
		case BPFVM_ARG_NONE: case BPFVM_ARG_ANYTHING: case BPFVM_ARG_SCALAR:
		case BPFVM_ARG_CONST_SIZE: case BPFVM_ARG_CONST_SIZE_OR_ZERO:
		case BPFVM_ARG_CONST_ALLOC_SIZE_OR_ZERO:
			continue;
		case BPFVM_ARG_PTR_TO_MEM_OR_NULL:
		case BPFVM_ARG_PTR_TO_STACK_OR_NULL:
			if (v == 0)
				continue;
			/* fallthrough */
		case BPFVM_ARG_PTR_TO_MEM:
		case BPFVM_ARG_PTR_TO_UNINIT_MEM:
		case BPFVM_ARG_PTR_TO_ALLOC_MEM:
		case BPFVM_ARG_PTR_TO_STACK:
			wr = k == BPFVM_ARG_PTR_TO_UNINIT_MEM;
			msz = (i < 4 && (h->proto.args[i + 1] == BPFVM_ARG_CONST_SIZE ||
			                 h->proto.args[i + 1] == BPFVM_ARG_CONST_SIZE_OR_ZERO)) ? size : 1;
			if (msz == 0)
				continue;
			ok = env->mem_ok(env, (uintptr_t)v, msz, wr);
			break;
		case BPFVM_ARG_PTR_TO_LONG:
			ok = (v & 7) == 0 && env->mem_ok(env, (uintptr_t)v, 8, true);
			what = "8 writable, 8-aligned bytes";
			break;
		case BPFVM_ARG_PTR_TO_CTX:
			ok = v == (uintptr_t)run->ctx;
			what = "the context";
			break;
		case BPFVM_ARG_PTR_TO_CONST_STR: {
			/* Some NUL must lie inside an accessible region. */
			ok = false;
			for (uint64_t n = 0; n < 4096 && env->mem_ok(env, (uintptr_t)v + n, 1, false); n++)
				if (((const char *)(uintptr_t)v)[n] == '\0') {
					ok = true;
					break;
				}
			what = "a NUL-terminated string";
			break;
		}
		case BPFVM_ARG_PTR_TO_FUNC: {
			const struct bpfvm_prog *p = run->prog;
			ok = p->nsubprogs && v >= (uintptr_t)&p->subprogs[0] && v < (uintptr_t)&p->subprogs[p->nsubprogs] &&
			     (v - (uintptr_t)&p->subprogs[0]) % sizeof(p->subprogs[0]) == 0;
			what = "a callback (lddw src=4)";
			break;
		}
		case BPFVM_ARG_CONST_MAP_PTR:
			map = vm_chk_is_map(env, v, 0);
			ok = map != NULL;
			what = "a map this program loaded";
			break;
		case BPFVM_ARG_PTR_TO_MAP_KEY:
			ok = map && env->mem_ok(env, (uintptr_t)v, map->key_size, false);
			break;
		case BPFVM_ARG_PTR_TO_MAP_VALUE:
		case BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE:
			ok = map && env->mem_ok(env, (uintptr_t)v, map->value_size, k == BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE);
			break;
		case BPFVM_ARG_PTR_TO_SPIN_LOCK:
			ok = (v & 3) == 0 && env->mem_ok(env, (uintptr_t)v, 4, true);
			what = "a bpf_spin_lock in a map value";
			break;
		default:
			ok = false;
			what = "an argument kind checked mode cannot check";
			break;
		}
		if (!ok) {
			vm_run_fail(run, -EFAULT, idx, v, "helper %s: argument r%d = 0x%llx is not %s the program may access",
			            h->name, i + 1, (unsigned long long)v, what);
			return false;
		}
	}
	return true;
}

void vm_chk_helper_ret(struct vm_run *run, const struct vm_helper *h, uint64_t r0, const uint64_t *args)
{
	if (h->proto.ret != BPFVM_RET_MAP_VALUE_OR_NULL || !r0)
		return;
	for (int i = 0; i < 5; i++)
		if (h->proto.args[i] == BPFVM_ARG_CONST_MAP_PTR) {
			struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)args[i];
			vm_run_add_region(run, (void *)(uintptr_t)r0, m->value_size, !(m->map_flags & BPFVM_F_RDONLY_PROG));
			break;
		}
}
