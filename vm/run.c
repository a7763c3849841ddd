/*
 * Running programs: the per-run state, the context per program type, the
 * RCU read side around each run, and the services helpers use (stopping a
 * run, failing it, calling back into the program).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "map.h"
#include "rcu.h"
#include "vm.h"

__thread struct vm_run *vm_current_run;

#define VM_MAX_CALLBACK_NESTING 8

int vm_run_fail(struct vm_run *run, int err, uint32_t insn, uint64_t addr, const char *fmt, ...)
{
	if (run->err) /* keep the first failure */
		return run->err;
	run->err = err;
	run->stop = true;
	struct bpfvm_run_opts *o = run->out;
	if (o && o->sz >= offsetof(struct bpfvm_run_opts, err_addr) + sizeof(o->err_addr)) {
		o->err_insn = insn;
		o->err_addr = addr;
		if (o->err_buf && o->err_size) {
			int n = snprintf(o->err_buf, o->err_size, "insn %u: ", insn);
			if (n >= 0 && (size_t)n < o->err_size) {
				va_list ap;
				va_start(ap, fmt);
				vsnprintf(o->err_buf + n, o->err_size - (size_t)n, fmt, ap);
				va_end(ap);
			}
			/* Programs from ELF objects built with -g: the source line,
			 * as the verifier prints it. */
			const struct vm_line *l = vm_line_of(run->prog, insn);
			size_t len = strnlen(o->err_buf, o->err_size);
			if (l && len + 1 < o->err_size)
				snprintf(o->err_buf + len, o->err_size - len, "\n; %s @ %s:%u", l->src, l->file, l->line);
		}
	}
	return err;
}

void bpfvm_run_stop(uint64_t ret)
{
	struct vm_run *run = vm_current_run;
	if (!run)
		return;
	run->stop = true;
	run->stop_ret = ret;
}

void vm_run_add_region(struct vm_run *run, void *start, size_t len, bool writable)
{
	uintptr_t s = (uintptr_t)start, e = s + len;
	if (e < s)
		return;
	for (uint32_t i = 0; i < run->nregions; i++)
		if (run->regions[i].start <= s && e <= run->regions[i].end && run->regions[i].writable >= writable)
			return;
	if (run->nregions == run->regions_cap) {
		uint32_t cap = run->regions_cap ? run->regions_cap * 2 : 8;
		void *p = realloc(run->regions, cap * sizeof(*run->regions));
		if (!p)
			return; /* the access then fails its check: safe */
		run->regions = p;
		run->regions_cap = cap;
	}
	run->regions[run->nregions++] = (struct vm_region){ s, e, writable };
}

void vm_run_remove_region(struct vm_run *run, uintptr_t start)
{
	for (uint32_t i = run->nregions; i-- > 0;)
		if (run->regions[i].start == start) {
			run->regions[i] = run->regions[--run->nregions];
			return;
		}
}

uint64_t vm_call_callback(struct vm_run *run, uint64_t cb, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                          uint64_t r5)
{
	const struct vm_subprog *sp = (const struct vm_subprog *)(uintptr_t)cb;
	struct bpfvm_prog *prog = sp->prog;
	const struct vm_interp *ip = prog->interp;
	uint64_t args[5] = { r1, r2, r3, r4, r5 };
	if (run->stop)
		return 0;
	if (run->cb_depth >= VM_MAX_CALLBACK_NESTING) {
		vm_run_fail(run, -E2BIG, sp->start, 0, "callbacks nest deeper than %d levels", VM_MAX_CALLBACK_NESTING);
		return 0;
	}
	run->cb_depth++;
	/* The callback's checks name its own program; a tail call inside it
	 * must not leave the caller's run->prog pointing at the target. */
	struct bpfvm_prog *caller = run->prog;
	run->prog = prog;
	uint64_t r0;
	if (ip->checked) {
		/* The caller's stack stays reachable (callbacks get pointers
		 * into it), for the duration of the callback only.  A JIT'd
		 * caller has no interpreter stack (stack_top NULL): its call
		 * shim registers its frames itself (jit/jit_rt.c). */
		uintptr_t top = (uintptr_t)run->stack_top;
		uintptr_t base = top - BPF_STACK_SIZE * BPF_MAX_CALL_FRAMES;
		if (top)
			vm_run_add_region(run, (void *)base, BPF_STACK_SIZE * BPF_MAX_CALL_FRAMES, true);
		r0 = vm_interp_loop_checked(ip, run, &ip->code[sp->start], args);
		if (top)
			vm_run_remove_region(run, base);
	} else {
		r0 = vm_interp_loop_fast(ip, run, &ip->code[sp->start], args);
	}
	run->prog = caller;
	run->cb_depth--;
	return r0;
}

int bpfvm_prog_run_opts(bpfvm_prog *prog, struct bpfvm_run_opts *opts)
{
	if (!prog || !opts || opts->sz < offsetof(struct bpfvm_run_opts, err_buf) || (!opts->data && opts->len))
		return -EINVAL;
	const struct vm_prog_type *type = prog->type;
	const struct vm_interp *ip = prog->interp;
	struct vm_run run = {
		.prog = prog, .data = opts->data, .len = opts->len, .out = opts, .budget = prog->insn_budget, .cpu = -1,
	};
	uint64_t ctxbuf[4096 / 8];
	uint64_t r1, r2 = 0;

	if (opts->sz >= offsetof(struct bpfvm_run_opts, err_addr) + sizeof(opts->err_addr)) {
		opts->err_insn = 0;
		opts->err_addr = 0;
		if (opts->err_buf && opts->err_size)
			opts->err_buf[0] = '\0';
	}
	if (type->is_mem) {
		/* A verified "mem" program may assume mem_size bytes. */
		bool verified = !(prog->flags & (BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED));
		if (verified && opts->len < prog->mem_size)
			return vm_run_fail(&run, -EINVAL, 0, 0, "input is %zu bytes but the program was verified for %u",
			                   opts->len, prog->mem_size);
		r1 = (uintptr_t)opts->data;
		r2 = opts->len;
		run.ctx = opts->data;
		run.ctx_size = opts->len;
	} else if (type->t.make_ctx) {
		size_t sz = type->t.real_ctx_size > type->t.ctx_size ? type->t.real_ctx_size : type->t.ctx_size;
		memset(ctxbuf, 0, sz);
		int err = type->t.make_ctx(ctxbuf, opts->data, opts->len, type->t.user);
		if (err)
			return vm_run_fail(&run, err < 0 ? err : -EINVAL, 0, 0, "program type '%s' could not build its context",
			                   type->t.name);
		r1 = (uintptr_t)ctxbuf;
		run.ctx = ctxbuf;
		run.ctx_size = sz;
	} else {
		/* The input is the context itself. */
		if (opts->len < type->t.ctx_size)
			return vm_run_fail(&run, -EINVAL, 0, 0, "input is %zu bytes, the '%s' context needs %u", opts->len,
			                   type->t.name, type->t.ctx_size);
		r1 = (uintptr_t)opts->data;
		run.ctx = opts->data;
		run.ctx_size = type->t.ctx_size;
	}

	struct vm_run *outer = vm_current_run; /* a helper may run another program */
	vm_current_run = &run;
	/* Programs whose helpers may block use the tasks-trace flavour. */
	bool tt = ip->may_sleep;
	if (tt)
		rcu_tt_read_lock();
	else
		rcu_read_lock();
	uint64_t r0;
	if (prog->jit_entry)
		r0 = prog->jit_entry((void *)(uintptr_t)r1, r2, prog);
	else if (ip->checked)
		r0 = vm_interp_run_checked(prog, &run, r1, r2);
	else
		r0 = vm_interp_run(prog, &run, r1, r2);
	/* Ring buffer records an unverified run reserved and never submitted
	 * are discarded, so they can't stall the consumer (verified programs
	 * release every reservation: the verifier proves it). */
	if (ip->checked)
		map_ringbuf_run_end(&run);
	if (tt)
		rcu_tt_read_unlock();
	else
		rcu_read_unlock();
	vm_current_run = outer;
	free(run.regions);
	if (run.err)
		return run.err;
	opts->r0 = run.stop ? run.stop_ret : r0;
	return 0;
}

int bpfvm_prog_run(bpfvm_prog *prog, void *data, size_t len, uint64_t *r0)
{
	struct bpfvm_run_opts o = { .sz = sizeof(o), .data = data, .len = len };
	int err = bpfvm_prog_run_opts(prog, &o);
	if (!err && r0)
		*r0 = o.r0;
	return err;
}
