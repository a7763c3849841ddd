/*
 * The interpreter: load-time preparation of threaded code, the run-time
 * checks of the checked loop, and the two instantiations of the loop in
 * interp_loop.h.
 */
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "interp.h"
#include "interp_ops.h"
#include "map.h"

/* ---- checked mode: what memory a run may touch ---- */

static bool in_range(uintptr_t a, uint64_t sz, uintptr_t start, uintptr_t end)
{
	return a >= start && a <= end && sz <= end - a;
}

/* r10 is the current frame's top: the program may use its own frame and
 * its callers' frames, [r10 - 512, top of this loop's stack); outer loops'
 * stacks (callbacks) are in run->regions. */
static bool mem_ok(struct vm_run *run, const struct vm_interp *ip, uint64_t r10, uintptr_t a,
                   uint64_t sz, bool wr)
{
	uintptr_t top = (uintptr_t)run->stack_top;
	if (in_range(a, sz, (uintptr_t)r10 - BPF_STACK_SIZE, top))
		return true;
	if (run->data && in_range(a, sz, (uintptr_t)run->data, (uintptr_t)run->data + run->len))
		return true;
	if (run->ctx != run->data && run->ctx &&
	    in_range(a, sz, (uintptr_t)run->ctx, (uintptr_t)run->ctx + run->ctx_size))
		return true;
	for (uint32_t i = 0; i < ip->nregions; i++)
		if (in_range(a, sz, ip->regions[i].start, ip->regions[i].end) && (!wr || ip->regions[i].writable))
			return true;
	for (uint32_t i = 0; i < run->nregions; i++)
		if (in_range(a, sz, run->regions[i].start, run->regions[i].end) && (!wr || run->regions[i].writable))
			return true;
	return false;
}

static bool chk_mem(struct vm_run *run, const struct vm_interp *ip, uint64_t r10, uintptr_t a, uint64_t sz,
                    bool wr, uint32_t idx)
{
	if (__builtin_expect(mem_ok(run, ip, r10, a, sz, wr), 1))
		return true;
	vm_run_fail(run, -EFAULT, idx, a, "%u-byte %s 0x%llx outside any region the program may access",
	            (unsigned)sz, wr ? "store to" : "load from", (unsigned long long)a);
	return false;
}

static bool interp_mem_ok(const struct vm_chk_env *env, uintptr_t a, uint64_t sz, bool wr)
{
	return mem_ok(env->run, env->engine, env->r10, a, sz, wr);
}

static struct vm_chk_env chk_env(struct vm_run *run, const struct vm_interp *ip, uint64_t r10)
{
	return (struct vm_chk_env){ .run = run, .mem_ok = interp_mem_ok, .engine = (void *)(uintptr_t)ip,
	                            .r10 = r10, .maps = ip->maps, .nmaps = ip->nmaps };
}

static struct bpfvm_map *chk_is_map(const struct vm_interp *ip, uint64_t v, uint32_t type)
{
	struct vm_chk_env env = chk_env(NULL, ip, 0);
	return vm_chk_is_map(&env, v, type);
}

/* Checks helper arguments against the proto before a call from an
 * unverified program (helper_check.c, shared with the checked JIT). */
static bool chk_helper_args(struct vm_run *run, const struct vm_interp *ip, const struct vm_helper *h,
                            const uint64_t *R, uint32_t idx)
{
	struct vm_chk_env env = chk_env(run, ip, R[10]);
	return vm_chk_helper_args(&env, h, &R[1], idx);
}

/* Memory a helper returned becomes accessible for the rest of the run. */
static void chk_helper_ret(struct vm_run *run, const struct vm_helper *h, const uint64_t *R)
{
	vm_chk_helper_ret(run, h, R[0], &R[1]);
}

/* ---- the two loops ---- */

static uint64_t loop_checked(const struct vm_interp *ip, struct vm_run *run, const struct vm_tinsn *entry,
                             const uint64_t *args, const void *const **tab_out);

#define LOOP_NAME loop_fast
#define CHECKED 0
#include "interp_loop.h"
#undef LOOP_NAME
#undef CHECKED

#define LOOP_NAME loop_checked
#define CHECKED 1
#include "interp_loop.h"
#undef LOOP_NAME
#undef CHECKED

uint64_t vm_interp_loop_fast(const struct vm_interp *ip, struct vm_run *run, const struct vm_tinsn *entry,
                             const uint64_t *args)
{
	return loop_fast(ip, run, entry, args, NULL);
}

uint64_t vm_interp_loop_checked(const struct vm_interp *ip, struct vm_run *run, const struct vm_tinsn *entry,
                                const uint64_t *args)
{
	return loop_checked(ip, run, entry, args, NULL);
}

uint64_t vm_interp_run(struct bpfvm_prog *prog, struct vm_run *run, uint64_t r1, uint64_t r2)
{
	const struct vm_interp *ip = prog->interp;
	uint64_t args[5] = { r1, r2, 0, 0, 0 };
	return loop_fast(ip, run, ip->code, args, NULL);
}

uint64_t vm_interp_run_checked(struct bpfvm_prog *prog, struct vm_run *run, uint64_t r1, uint64_t r2)
{
	const struct vm_interp *ip = prog->interp;
	uint64_t args[5] = { r1, r2, 0, 0, 0 };
	return loop_checked(ip, run, ip->code, args, NULL);
}

/* ---- preparation ---- */

__attribute__((unused)) static const void *const *fast_labels;
static pthread_once_t labels_once = PTHREAD_ONCE_INIT;

static void get_labels(void)
{
#ifndef BPFVM_DISPATCH_SWITCH
	loop_fast(NULL, NULL, NULL, NULL, &fast_labels);
#endif
}

__attribute__((unused)) static int add_region(struct vm_interp *ip, uintptr_t start, uintptr_t end, bool wr)
{
	void *p = realloc(ip->regions, (ip->nregions + 1) * sizeof(*ip->regions));
	if (!p)
		return -ENOMEM;
	ip->regions = p;
	ip->regions[ip->nregions++] = (struct vm_region){ start, end, wr };
	return 0;
}

int vm_interp_prepare(struct bpfvm_prog *prog)
{
	pthread_once(&labels_once, get_labels);
	struct vm_interp *ip = calloc(1, sizeof(*ip));
	if (!ip)
		return -ENOMEM;
	ip->code = calloc(prog->len + 1, sizeof(*ip->code));
	if (!ip->code)
		goto nomem;
	ip->len = prog->len;
	ip->prog = prog;
	ip->checked = (prog->flags & BPFVM_PROG_NO_VERIFY) != 0;
	for (uint32_t i = 0; i < prog->len; i++) {
		const struct bpf_insn *in = &prog->insns[i];
		struct vm_tinsn *t = &ip->code[i];
		uint16_t op = prog->ops[i];
		t->op = op;
		t->dst = in->dst_reg;
		t->src = in->src_reg;
		t->off = in->off;
		t->imm = in->imm;
		if (op == VM_OP_INVALID) /* second lddw slot: never executed */
			continue;
#ifndef BPFVM_DISPATCH_SWITCH
		t->label = fast_labels[op];
#endif
		switch (vm_opinfo[op].fmt) {
		case FMT_JA: case FMT_JCOND_K: case FMT_JCOND_X: case FMT_CALL_LOCAL:
			t->x.tgt = &ip->code[(int64_t)i + 1 + (vm_opinfo[op].fmt == FMT_CALL_LOCAL ? in->imm : in->off)];
			break;
		case FMT_JA32:
			t->x.tgt = &ip->code[(int64_t)i + 1 + in->imm];
			break;
		case FMT_LDDW:
			t->x.u64 = (uint32_t)in->imm | ((uint64_t)(uint32_t)prog->insns[i + 1].imm << 32);
			break;
		case FMT_CALL:
			t->x.helper = prog->aux[i].helper;
			if (t->x.helper->proto.flags & BPFVM_HELPER_MAY_SLEEP)
				ip->may_sleep = true;
			break;
		default:
			break;
		}
		struct bpfvm_map *m = op == VM_OP_LDDW ? prog->aux[i].map : NULL;
		if (m) {
			void *p = realloc(ip->maps, (ip->nmaps + 1) * sizeof(*ip->maps));
			if (!p)
				goto nomem;
			ip->maps = p;
			ip->maps[ip->nmaps++] = m;
			if (in->src_reg == BPF_PSEUDO_MAP_VALUE || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE) {
				/* The region is the whole value at key 0 (the resolver
				 * only allows one-element arrays here).  Not derived
				 * from the lddw: after resolution insns[i+1].imm holds
				 * the pointer's high half, not the offset into the value. */
				uint32_t zero = 0;
				uintptr_t base = (uintptr_t)m->ops->lookup(m, &zero);
				if (base && add_region(ip, base, base + m->value_size, !(m->map_flags & BPFVM_F_RDONLY_PROG)))
					goto nomem;
			}
		}
	}
	prog->interp = ip;
	return 0;
nomem:
	free(ip->maps);
	free(ip->regions);
	free(ip->code);
	free(ip);
	return -ENOMEM;
}

void vm_interp_free(struct bpfvm_prog *prog)
{
	struct vm_interp *ip = prog->interp;
	if (!ip)
		return;
	free(ip->maps);
	free(ip->regions);
	free(ip->code);
	free(ip);
	prog->interp = NULL;
}

/* For helpers that take pointers their proto cannot describe (%s in
 * trace_printk): may the run read [a, a + sz)?  Any frame of the current
 * loop's stack counts. */
VM_HIDDEN bool vm_run_mem_ok(struct vm_run *run, uintptr_t a, size_t sz)
{
	const struct vm_interp *ip = run->prog->interp;
	uint64_t r10 = (uintptr_t)run->stack_top - BPF_STACK_SIZE * (BPF_MAX_CALL_FRAMES - 1);
	return mem_ok(run, ip, r10, a, sz, false);
}
