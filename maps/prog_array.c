/*
 * BPF_MAP_TYPE_PROG_ARRAY: slots of referenced programs for tail calls.
 *
 * Lifetime as Linux: the array holds a reference on each program, and is
 * cleared when its last *user* reference (host handle or pin) goes, not its
 * last reference.  A program that tail-calls through an array holding
 * itself keeps the array alive only through its own map reference, so
 * dropping the user references breaks the cycle and both are freed.
 */
#include "jit.h"
#include "map_impl.h"
#include "log.h"
#include "tailgraph.h"

struct map_prog_array {
	struct bpfvm_map map;
	pthread_mutex_t lock;       /* guards owner_type */
	struct bpfvm_prog *_Atomic slots[];
};

static int pa_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->key_size != 4 || attr->value_size != 4) {
		*why = "prog array keys are 4-byte indexes and values 4-byte program handles";
		return -EINVAL;
	}
	if (attr->map_flags) {
		*why = "prog arrays take no map_flags";
		return -EINVAL;
	}
	if (attr->spin_lock_off != -1) {
		*why = "prog array values can't hold a spin lock";
		return -EINVAL;
	}
	return 0;
}

static struct bpfvm_map *pa_alloc(const struct bpfvm_map_attr *attr)
{
	struct map_prog_array *a =
		map_alloc_base(attr, sizeof(*a) + sizeof(struct bpfvm_prog *) * (size_t)attr->max_entries);
	if (a)
		pthread_mutex_init(&a->lock, NULL);
	return a ? &a->map : NULL;
}

/*
 * Every slot store goes through here: under the JIT's poke lock, the
 * store and the patching of the direct tail calls into this slot
 * (jit/jit_poke.c); after a patch, the core-serializing sync, so no
 * thread can still take a stale direct jump when the caller releases the
 * old program (whose free then waits for an RCU grace period, as for
 * indirect tail calls).
 */
static struct bpfvm_prog *pa_set(struct map_prog_array *a, uint32_t i, struct bpfvm_prog *p, bool *patched)
{
	jit_poke_lock();
	struct bpfvm_prog *old = atomic_exchange(&a->slots[i], p);
	if (old != p && jit_poke_retarget(&a->map, i, p))
		*patched = true;
	jit_poke_unlock();
	return old;
}

static void pa_clear(struct bpfvm_map *map)
{
	struct map_prog_array *a = (struct map_prog_array *)map;
	bool patched = false;
	struct bpfvm_prog *held[64];
	uint32_t n = 0;
	for (uint32_t i = 0; i < map->max_entries; i++) {
		if (!atomic_load(&a->slots[i]))
			continue;
		struct bpfvm_prog *p = pa_set(a, i, NULL, &patched);
		if (!p)
			continue;
		/* releases wait for one sync per batch, not one per slot */
		if (n == sizeof(held) / sizeof(held[0])) {
			if (patched)
				jit_poke_sync();
			patched = false;
			for (uint32_t k = 0; k < n; k++)
				vm_prog_release(held[k]);
			n = 0;
		}
		held[n++] = p;
	}
	if (patched)
		jit_poke_sync();
	for (uint32_t k = 0; k < n; k++)
		vm_prog_release(held[k]);
}

static void pa_free(struct bpfvm_map *map)
{
	pa_clear(map);
	pthread_mutex_destroy(&((struct map_prog_array *)map)->lock);
	free(map);
}

/* Tail calls: the program at index under the read side, or NULL. */
struct bpfvm_prog *map_prog_array_get(struct bpfvm_map *map, uint32_t index)
{
	if (index >= map->max_entries)
		return NULL;
	return atomic_load_explicit(&((struct map_prog_array *)map)->slots[index], memory_order_acquire);
}

/* Programs can't look into a prog array (as Linux). */
static void *pa_lookup(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return NULL;
}

static int pa_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	uint32_t i;
	(void)flags;
	memcpy(&i, key, 4);
	struct bpfvm_prog *p = map_prog_array_get(map, i);
	if (!p)
		return -ENOENT;
	int32_t fd = p->fd;
	memcpy(value, &fd, 4);
	return 0;
}

static const char *type_name(const void *t)
{
	const struct vm_prog_type *pt = t;
	return pt && pt->t.name ? pt->t.name : "mem";
}

static const char *array_name(const struct bpfvm_map *map)
{
	return map->name[0] ? map->name : "(unnamed)";
}

/*
 * As Linux's bpf_prog_map_compatible: the array's owner -- the first
 * program put in it or verified tail-calling through it -- fixes the
 * program type, so a tail call never hands a program a context it doesn't
 * expect (an XDP frame to a "mem" program, say).  Linux also fixes
 * jited-ness; bpfvm's engines mix freely, and its one unsafe mix (a checked
 * run entering an unchecked program) is checked in map_prog_array_insert.
 */
static int claim_owner(struct bpfvm_map *map, const struct bpfvm_prog *prog, bool user, struct vm_log *log)
{
	struct map_prog_array *a = (struct map_prog_array *)map;
	int err = 0;
	const void *owner;
	pthread_mutex_lock(&a->lock);
	owner = map->owner_type;
	if (!owner)
		map->owner_type = prog->type;
	else if (owner != prog->type)
		err = -EINVAL;
	pthread_mutex_unlock(&a->lock);
	if (err)
		vm_log(log, BPFVM_LOG_ERRORS, "prog array '%s' holds programs of type '%s' (fixed by its first program, as "
		       "Linux): program '%s' of type '%s' can't %s it\n", array_name(map), type_name(owner), prog->name,
		       type_name(prog->type), user ? "tail-call through" : "be put in");
	return err;
}

int map_prog_array_use(struct bpfvm_map *map, const struct bpfvm_prog *prog, struct vm_log *log)
{
	if (!map || map->type != BPFVM_MAP_PROG_ARRAY)
		return 0;
	return claim_owner(map, prog, true, log);
}

/* A program loaded with BPFVM_PROG_NO_VERIFY that loads `map` (and so may
 * tail-call through it), or NULL.  vm->lock held. */
static const struct bpfvm_prog *checked_user(bpfvm *vm, const struct bpfvm_map *map)
{
	for (size_t i = 0; i < vm->progs_cap; i++) {
		const struct bpfvm_prog *q = vm->progs[i];
		if (!q || !(q->flags & BPFVM_PROG_NO_VERIFY))
			continue;
		for (uint32_t k = 0; q->aux && k < q->len; k++)
			if (q->ops[k] == VM_OP_LDDW && q->aux[k].map == map)
				return q;
	}
	return NULL;
}

int map_prog_array_insert(struct bpfvm_map *map, uint32_t index, struct bpfvm_prog *prog, struct vm_log *log)
{
	struct map_prog_array *a = (struct map_prog_array *)map;
	if (!map || !prog || map->type != BPFVM_MAP_PROG_ARRAY)
		return -EINVAL;
	if (index >= map->max_entries) {
		vm_log(log, BPFVM_LOG_ERRORS, "prog array '%s': slot %u is beyond max_entries %u\n", array_name(map), index,
		       map->max_entries);
		return -E2BIG;
	}
	if (prog->vm != map->vm) {
		vm_log(log, BPFVM_LOG_ERRORS, "prog array '%s': program '%s' belongs to another VM\n", array_name(map),
		       prog->name);
		return -EINVAL;
	}
	bpfvm *vm = map->vm;
	struct bpfvm_prog *old = NULL;
	bool patched = false;
	int err = 0;
	/* vm->lock serializes insertions and program loads' checks, so two
	 * insertions can't each pass the frame bound and together break it;
	 * it also keeps every program of the VM in memory for the graph. */
	pthread_mutex_lock(&vm->lock);
	long n = atomic_load(&prog->refcnt);
	bool got = false;
	while (n > 0 && !got)
		got = atomic_compare_exchange_weak(&prog->refcnt, &n, n + 1);
	if (!got) {
		err = -EBADF;
		goto unlock;
	}
	/* The run-time rule (interp_loop.h) refuses a checked run entering a
	 * verified or trusted program; refuse it here already when a checked
	 * program that loads this array exists.  The other way round is safe:
	 * a checked target of a fast run runs on the checked loop. */
	const struct bpfvm_prog *cu;
	if (!(prog->flags & BPFVM_PROG_NO_VERIFY) && (cu = checked_user(vm, map))) {
		vm_log(log, BPFVM_LOG_ERRORS, "prog array '%s': program '%s' was loaded %s, but '%s', loaded with "
		       "BPFVM_PROG_NO_VERIFY, uses this array and a checked run may only tail-call checked programs; load "
		       "'%s' with BPFVM_PROG_NO_VERIFY too\n", array_name(map), prog->name,
		       prog->flags & BPFVM_PROG_UNCHECKED ? "with BPFVM_PROG_UNCHECKED" : "verified", cu->name, prog->name);
		err = -EINVAL;
		goto unlock;
	}
	pthread_mutex_lock(&a->lock);
	const void *owner = map->owner_type; /* a program load may be claiming it */
	pthread_mutex_unlock(&a->lock);
	if (owner && owner != prog->type) {
		err = claim_owner(map, prog, false, log);
		goto unlock;
	}
	struct vfy_tg_override ov = { .map = map, .slot = index, .prog = prog };
	if ((err = vfy_tail_check_frames_held(vm, NULL, &ov, log))) {
		if (err == -E2BIG)
			vm_log(log, BPFVM_LOG_ERRORS, "prog array '%s': program '%s' refused for slot %u\n", array_name(map),
			       prog->name, index);
		goto unlock;
	}
	if ((err = claim_owner(map, prog, false, log)))
		goto unlock;
	old = pa_set(a, index, prog, &patched);
	got = false; /* the slot owns the reference now */
unlock:
	pthread_mutex_unlock(&vm->lock);
	if (patched)
		jit_poke_sync(); /* before the old program's release (see pa_set) */
	/* Releases outside vm->lock: a program's final free takes it. */
	if (got)
		vm_prog_release(prog);
	if (old)
		vm_prog_release(old);
	return err;
}

/* Host: value is a program handle.  As Linux's fd arrays, only BPF_ANY. */
static int pa_update_fd(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	uint32_t i;
	int32_t fd;
	memcpy(&i, key, 4);
	memcpy(&fd, value, 4);
	if (flags != BPFVM_ANY)
		return -EINVAL;
	if (i >= map->max_entries)
		return -E2BIG;
	bpfvm *vm = map->vm;
	struct bpfvm_prog *p = NULL;
	pthread_mutex_lock(&vm->lock);
	if (fd > 0 && (size_t)fd < vm->progs_cap && vm->progs[fd])
		p = vm->progs[fd];
	/* pinned across the unlock by taking a reference */
	long n = p ? atomic_load(&p->refcnt) : 0;
	bool got = false;
	while (n > 0 && !got)
		got = atomic_compare_exchange_weak(&p->refcnt, &n, n + 1);
	pthread_mutex_unlock(&vm->lock);
	if (!got)
		return -EBADF;
	int err = map_prog_array_insert(map, i, p, NULL);
	vm_prog_release(p);
	return err;
}

int bpfvm_prog_array_update(bpfvm_map *map, uint32_t index, bpfvm_prog *prog, char *log_buf, size_t log_size)
{
	struct vm_log log;
	vm_log_init(&log, log_buf, log_size, BPFVM_LOG_ERRORS);
	if (!map || !prog || map->type != BPFVM_MAP_PROG_ARRAY) {
		vm_log(&log, BPFVM_LOG_ERRORS, "bpfvm_prog_array_update: %s\n",
		       !map || !prog ? "map and prog are required" : "the map is not a prog array");
		return -EINVAL;
	}
	if (atomic_load(&map->frozen)) {
		vm_log(&log, BPFVM_LOG_ERRORS, "prog array '%s' is frozen: read-only to the host\n", array_name(map));
		return -EPERM;
	}
	rcu_read_lock();
	int err = map_prog_array_insert(map, index, prog, &log);
	rcu_read_unlock();
	return err;
}

static int pa_delete(struct bpfvm_map *map, const void *key)
{
	uint32_t i;
	memcpy(&i, key, 4);
	if (i >= map->max_entries)
		return -E2BIG;
	bool patched = false;
	struct bpfvm_prog *old = pa_set((struct map_prog_array *)map, i, NULL, &patched);
	if (patched)
		jit_poke_sync();
	if (!old)
		return -ENOENT;
	vm_prog_release(old);
	return 0;
}

static int pa_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	return map_array_ops.get_next_key(map, key, next_key);
}

const struct map_ops map_prog_array_ops = {
	.check_attr = pa_check_attr,
	.alloc = pa_alloc,
	.free = pa_free,
	.lookup = pa_lookup,
	.delete = pa_delete,
	.get_next_key = pa_get_next_key,
	.lookup_copy = pa_lookup_copy,
	.update_fd = pa_update_fd,
	.release_uref = pa_clear,
};
