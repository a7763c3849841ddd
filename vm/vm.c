/*
 * The VM object: creation and destruction, the helper registry, program
 * handles and program lifetime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "vm.h"
#include "map.h"
/* maps/: frees every map, pin and deferred free left in the VM. */
void map_vm_cleanup(bpfvm *vm);
#include "jit.h"

VM_HIDDEN int vm_prog_types_init(bpfvm *vm);
VM_HIDDEN void vm_prog_types_free(bpfvm *vm);
VM_HIDDEN int vm_helpers_init(bpfvm *vm);
VM_HIDDEN void vm_ffi_free(struct vm_helper *h);

int bpfvm_create(const struct bpfvm_opts *opts, bpfvm **out)
{
	if (!out || (opts && opts->sz < offsetof(struct bpfvm_opts, print)))
		return -EINVAL;
	bpfvm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	if (opts)
		memcpy(&vm->opts, opts, opts->sz < sizeof(vm->opts) ? opts->sz : sizeof(vm->opts));
	vm->opts.sz = sizeof(vm->opts);
	if (vm->opts.flags & ~(uint32_t)BPFVM_VM_BARE) {
		free(vm);
		return -EINVAL;
	}
	pthread_mutex_init(&vm->lock, NULL);
	int err = vm_prog_types_init(vm);
	if (!err && !(vm->opts.flags & BPFVM_VM_BARE))
		err = vm_helpers_init(vm);
	if (err) {
		bpfvm_destroy(vm);
		return err;
	}
	*out = vm;
	return 0;
}

static void prog_free(struct bpfvm_prog *prog);

void bpfvm_destroy(bpfvm *vm)
{
	if (!vm)
		return;
	/* Let programs already released finish their deferred frees (they
	 * still hold map references); tt callbacks queue normal ones. */
	rcu_tt_barrier();
	rcu_barrier();
	/* Programs drop their map references first, so that maps/ sees the
	 * true counts; then maps (which may drop programs held by prog
	 * arrays and pins); then whatever programs remain. */
	for (size_t i = 0; i < vm->progs_cap; i++) {
		struct bpfvm_prog *p = vm->progs[i];
		for (uint32_t k = 0; p && k < p->len; k++) {
			if (p->aux[k].map)
				map_put(p->aux[k].map);
			p->aux[k].map = NULL;
		}
	}
	map_vm_cleanup(vm);
	for (size_t i = 0; i < vm->progs_cap; i++)
		if (vm->progs[i])
			prog_free(vm->progs[i]);
	free(vm->progs);
	free(vm->maps);
	struct vm_helper_tab *t = atomic_load_explicit(&vm->htab, memory_order_relaxed);
	for (size_t i = 0; t && i < t->n; i++) {
		vm_ffi_free(t->h[i]);
		free(t->h[i]);
	}
	free(t); /* replaced tables went through rcu_call, done by the rcu_barrier above */
	vm_prog_types_free(vm);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

/* ---- helpers ---- */

static size_t helper_pos(const struct vm_helper_tab *t, uint32_t id)
{
	size_t lo = 0, hi = t ? t->n : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->h[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Lock-free: any thread, any time before bpfvm_destroy (callx at run time).
 * The acquire load pairs with the release store in vm_helper_add, so the
 * table and the helpers it points to are seen fully written; the read
 * section keeps the table alive while it is searched.  The helper found
 * outlives it. */
const struct vm_helper *vm_helper_find(const bpfvm *vm, uint32_t id)
{
	rcu_read_lock();
	const struct vm_helper_tab *t = atomic_load_explicit(&((bpfvm *)vm)->htab, memory_order_acquire);
	size_t i = helper_pos(t, id);
	const struct vm_helper *h = t && i < t->n && t->h[i]->id == id ? t->h[i] : NULL;
	rcu_read_unlock();
	return h;
}

/* Load time only (extern resolution): under the registration lock, so the
 * table can't be replaced, let alone freed, while it is searched. */
const struct vm_helper *vm_helper_find_name(const bpfvm *vm, const char *name)
{
	bpfvm *v = (bpfvm *)vm;
	const struct vm_helper *h = NULL;
	pthread_mutex_lock(&v->lock);
	const struct vm_helper_tab *t = atomic_load_explicit(&v->htab, memory_order_relaxed);
	for (size_t i = 0; t && i < t->n && !h; i++)
		if (!strcmp(t->h[i]->name, name))
			h = t->h[i];
	pthread_mutex_unlock(&v->lock);
	return h;
}

static void helper_tab_free(struct rcu_head *head)
{
	free((char *)head - offsetof(struct vm_helper_tab, rcu));
}

static bool is_mem_arg(uint32_t k)
{
	return k == BPFVM_ARG_PTR_TO_MEM || k == BPFVM_ARG_PTR_TO_MEM_OR_NULL || k == BPFVM_ARG_PTR_TO_UNINIT_MEM ||
	       k == BPFVM_ARG_PTR_TO_ALLOC_MEM;
}

/* Adds a helper (internal: no id-range rule).  Takes ownership of ffi. */
VM_HIDDEN int vm_helper_add(bpfvm *vm, uint32_t id, uint32_t kind, bpfvm_helper_fn fn,
                            const struct bpfvm_helper_proto *proto, void *ffi)
{
	if (!proto || proto->sz < sizeof(*proto) || (!fn && kind != VM_HELPER_TAIL_CALL) ||
	    proto->ret > BPFVM_RET_ALLOC_MEM_OR_NULL ||
	    (proto->flags & ~(uint32_t)(BPFVM_HELPER_ACQUIRE | BPFVM_HELPER_RELEASE | BPFVM_HELPER_LOCK_SAFE |
	                                BPFVM_HELPER_MAY_SLEEP)))
		return -EINVAL;
	for (int i = 0; i < 5; i++) {
		uint32_t k = proto->args[i];
		if (k > BPFVM_ARG_PTR_TO_LONG)
			return -EINVAL;
		/* A size must follow the memory it describes. */
		if ((k == BPFVM_ARG_CONST_SIZE || k == BPFVM_ARG_CONST_SIZE_OR_ZERO) && (i == 0 || !is_mem_arg(proto->args[i - 1])))
			return -EINVAL;
		/* No argument after an unused one. */
		if (i > 0 && proto->args[i - 1] == BPFVM_ARG_NONE && k != BPFVM_ARG_NONE)
			return -EINVAL;
	}
	struct vm_helper *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->id = id;
	h->kind = kind;
	h->fn = fn;
	h->proto = *proto;
	h->proto.sz = sizeof(h->proto);
	if (proto->name)
		snprintf(h->name, sizeof(h->name), "%s", proto->name);
	else
		snprintf(h->name, sizeof(h->name), "helper_%u", id);
	h->proto.name = h->name;
	h->ffi = ffi;
	int err = 0;
	pthread_mutex_lock(&vm->lock);
	struct vm_helper_tab *old = atomic_load_explicit(&vm->htab, memory_order_relaxed);
	size_t n = old ? old->n : 0, i = helper_pos(old, id);
	if (i < n && old->h[i]->id == id) {
		err = -EEXIST;
	} else {
		struct vm_helper_tab *t = malloc(sizeof(*t) + (n + 1) * sizeof(t->h[0]));
		if (!t) {
			err = -ENOMEM;
		} else {
			t->n = n + 1;
			if (n) {
				memcpy(t->h, old->h, i * sizeof(t->h[0]));
				memcpy(&t->h[i + 1], &old->h[i], (n - i) * sizeof(t->h[0]));
			}
			t->h[i] = h;
			atomic_store_explicit(&vm->htab, t, memory_order_release);
			if (old)
				rcu_call(&old->rcu, helper_tab_free);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	if (err) {
		h->ffi = NULL; /* the caller still owns it on failure */
		free(h);
	}
	return err;
}

VM_HIDDEN bool vm_helper_id_ok(const bpfvm *vm, uint32_t id)
{
	return id >= BPFVM_HELPER_USER_BASE || (vm->opts.flags & BPFVM_VM_BARE);
}

int bpfvm_helper_register(bpfvm *vm, uint32_t id, bpfvm_helper_fn fn, const struct bpfvm_helper_proto *proto)
{
	if (!vm || !fn || !vm_helper_id_ok(vm, id))
		return -EINVAL;
	return vm_helper_add(vm, id, VM_HELPER_PLAIN, fn, proto, NULL);
}

/* ---- program handles and lifetime ---- */

VM_HIDDEN int vm_prog_fd_alloc(struct bpfvm_prog *prog)
{
	bpfvm *vm = prog->vm;
	int fd = -ENOMEM;
	pthread_mutex_lock(&vm->lock);
	/* Handle 0 is never used, so a zeroed field is never a valid handle. */
	for (size_t i = 1; i < vm->progs_cap; i++)
		if (!vm->progs[i]) {
			fd = (int)i;
			break;
		}
	if (fd < 0) {
		size_t cap = vm->progs_cap ? vm->progs_cap * 2 : 16;
		void *p = realloc(vm->progs, cap * sizeof(*vm->progs));
		if (p) {
			memset((struct bpfvm_prog **)p + vm->progs_cap, 0, (cap - vm->progs_cap) * sizeof(*vm->progs));
			fd = vm->progs_cap ? (int)vm->progs_cap : 1;
			vm->progs = p;
			vm->progs_cap = cap;
		}
	}
	if (fd > 0) {
		vm->progs[fd] = prog;
		prog->fd = fd;
	}
	pthread_mutex_unlock(&vm->lock);
	return fd < 0 ? fd : 0;
}

struct bpfvm_prog *vm_prog_from_fd(bpfvm *vm, int fd)
{
	struct bpfvm_prog *p = NULL;
	if (!vm || fd <= 0)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	if ((size_t)fd < vm->progs_cap && vm->progs[fd]) {
		/* Only if still alive: a program whose count reached zero is
		 * on its way out (vm_prog_release) even if its slot is not
		 * cleared yet. */
		struct bpfvm_prog *c = vm->progs[fd];
		long n = atomic_load(&c->refcnt);
		while (n > 0)
			if (atomic_compare_exchange_weak(&c->refcnt, &n, n + 1)) {
				p = c;
				break;
			}
	}
	pthread_mutex_unlock(&vm->lock);
	return p;
}

/* Frees a program now.  Callers guarantee no run can still reach it (a
 * prog array drops its reference through an RCU grace period). */
static void prog_free(struct bpfvm_prog *prog)
{
	bpfvm *vm = prog->vm;
	if (prog->fd > 0) {
		pthread_mutex_lock(&vm->lock);
		if ((size_t)prog->fd < vm->progs_cap && vm->progs[prog->fd] == prog)
			vm->progs[prog->fd] = NULL;
		pthread_mutex_unlock(&vm->lock);
	}
	if (prog->jit)
		jit_free(prog);
	vm_interp_free(prog);
	for (uint32_t i = 0; prog->aux && i < prog->len; i++) {
		if (prog->aux[i].map)
			map_put(prog->aux[i].map);
	}
	free(prog->tail_maps);
	free(prog->debug);
	free(prog->subprogs);
	free(prog->aux);
	free(prog->ops);
	free(prog->insns);
	free(prog);
}

VM_HIDDEN void vm_prog_free_now(struct bpfvm_prog *prog) { prog_free(prog); }

void vm_prog_get(struct bpfvm_prog *prog)
{
	atomic_fetch_add(&prog->refcnt, 1);
}

static void prog_free_rcu(struct rcu_head *head)
{
	prog_free(vm_container_of(head, struct bpfvm_prog, rcu));
}

static void prog_free_after_tt(struct rcu_head *head)
{
	rcu_call(head, prog_free_rcu);
}

void vm_prog_release(struct bpfvm_prog *prog)
{
	if (!prog || atomic_fetch_sub(&prog->refcnt, 1) != 1)
		return;
	/* Unpublish the handle now, so nothing new can find the program. */
	bpfvm *vm = prog->vm;
	if (prog->fd > 0) {
		pthread_mutex_lock(&vm->lock);
		if ((size_t)prog->fd < vm->progs_cap && vm->progs[prog->fd] == prog)
			vm->progs[prog->fd] = NULL;
		pthread_mutex_unlock(&vm->lock);
		prog->fd = 0;
	}
	/* A run on another thread may still be executing it: a tail call
	 * picked it out of a prog array slot just before the slot was
	 * cleared.  As Linux's bpf_prog_put, free it only after every run
	 * that could hold it has ended: those in tasks-trace read sections
	 * (sleepable runs) first, then those in normal read sections. */
	rcu_tt_call(&prog->rcu, prog_free_after_tt);
}

void bpfvm_prog_put(bpfvm_prog *prog)
{
	vm_prog_release(prog);
}

int bpfvm_prog_fd(const bpfvm_prog *prog)
{
	return prog ? prog->fd : -EINVAL;
}

const char *bpfvm_prog_name(const bpfvm_prog *prog)
{
	return prog ? prog->name : NULL;
}

uint32_t bpfvm_prog_engine(const bpfvm_prog *prog)
{
	return prog ? prog->engine : BPFVM_ENGINE_INTERP;
}

int bpfvm_prog_verify_stats(const bpfvm_prog *prog, struct bpfvm_verify_stats *st)
{
	if (!prog || !st || st->sz < sizeof(size_t))
		return -EINVAL;
	size_t sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct bpfvm_verify_stats s = prog->vstats;
	s.sz = st->sz;
	memcpy(st, &s, sz);
	return 0;
}
