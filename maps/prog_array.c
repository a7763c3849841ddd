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

struct map_prog_array {
	struct bpfvm_map map;
	pthread_mutex_t lock;       /* serializes updates: owner_type check and set */
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

/* Host: value is a program handle.  As Linux's fd arrays, only BPF_ANY. */
static int pa_update_fd(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	struct map_prog_array *a = (struct map_prog_array *)map;
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
	if (fd > 0 && (size_t)fd < vm->progs_cap && vm->progs[fd]) {
		struct bpfvm_prog *c = vm->progs[fd];
		long n = atomic_load(&c->refcnt);
		while (n > 0)
			if (atomic_compare_exchange_weak(&c->refcnt, &n, n + 1)) {
				p = c;
				break;
			}
	}
	pthread_mutex_unlock(&vm->lock);
	if (!p)
		return -EBADF;
	int err = 0;
	pthread_mutex_lock(&a->lock);
	/* As Linux: every program in one array has the first one's type, so
	 * a tail call never hands a program a context it doesn't expect. */
	if (!map->owner_type)
		map->owner_type = p->type;
	else if (map->owner_type != p->type)
		err = -EINVAL;
	pthread_mutex_unlock(&a->lock);
	if (err) {
		vm_prog_release(p);
		return err;
	}
	bool patched = false;
	struct bpfvm_prog *old = pa_set(a, i, p, &patched);
	if (patched)
		jit_poke_sync();
	if (old)
		vm_prog_release(old);
	return 0;
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
