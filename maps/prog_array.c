/*
 * BPF_MAP_TYPE_PROG_ARRAY: slots of referenced programs for tail calls.
 *
 * Lifetime as Linux: the array holds a reference on each program, and is
 * cleared when its last *user* reference (host handle or pin) goes, not its
 * last reference.  A program that tail-calls through an array holding
 * itself keeps the array alive only through its own map reference, so
 * dropping the user references breaks the cycle and both are freed.
 */
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

static void pa_clear(struct bpfvm_map *map)
{
	struct map_prog_array *a = (struct map_prog_array *)map;
	for (uint32_t i = 0; i < map->max_entries; i++) {
		struct bpfvm_prog *p = atomic_exchange(&a->slots[i], NULL);
		if (p)
			vm_prog_release(p);
	}
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
	struct bpfvm_prog *old = atomic_exchange(&a->slots[i], p);
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
	struct bpfvm_prog *old = atomic_exchange(&((struct map_prog_array *)map)->slots[i], NULL);
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
