/*
 * Pinning: a per-VM namespace of maps and programs by path.  A pin holds a
 * user reference on a map (a reference on a program).  The table lives in
 * the VM's maps/ state and is guarded by vm->lock; references are dropped
 * after the lock is released (dropping a map's last one takes vm->lock).
 */
#include <uthash.h>

#include "map_impl.h"

#define MAP_PIN_PATH_MAX 256

struct map_pin {
	char *path;
	struct bpfvm_map *map;      /* exactly one of map and prog */
	struct bpfvm_prog *prog;
	UT_hash_handle hh;
};

static int check_path(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	if (strnlen(path, MAP_PIN_PATH_MAX) == MAP_PIN_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int pin_add(bpfvm *vm, const char *path, struct bpfvm_map *map, struct bpfvm_prog *prog)
{
	struct map_vm_state *st;
	int err = check_path(path);
	if (err)
		return err;
	if (!(st = map_vm_state(vm)))
		return -ENOMEM;
	struct map_pin *p = calloc(1, sizeof(*p)), *old;
	if (!p || !(p->path = strdup(path))) {
		free(p);
		return -ENOMEM;
	}
	if (map)
		map_get_uref(map);
	else
		vm_prog_get(prog);
	p->map = map;
	p->prog = prog;
	pthread_mutex_lock(&vm->lock);
	HASH_FIND_STR(st->pins, path, old);
	if (!old)
		HASH_ADD_KEYPTR(hh, st->pins, p->path, strlen(p->path), p);
	pthread_mutex_unlock(&vm->lock);
	if (old) {
		if (map)
			map_put_uref(map);
		else
			vm_prog_release(prog);
		free(p->path);
		free(p);
		return -EEXIST;
	}
	return 0;
}

int bpfvm_pin_map(bpfvm *vm, const char *path, bpfvm_map *map)
{
	if (!vm || !map || map->vm != vm)
		return -EINVAL;
	return pin_add(vm, path, map, NULL);
}

int bpfvm_pin_prog(bpfvm *vm, const char *path, bpfvm_prog *prog)
{
	if (!vm || !prog || prog->vm != vm)
		return -EINVAL;
	return pin_add(vm, path, NULL, prog);
}

/* Finds path and takes a reference of the wanted kind under vm->lock. */
static int pin_get(bpfvm *vm, const char *path, bool want_map, void **out)
{
	int err = check_path(path);
	if (err || !vm || !out)
		return err ? err : -EINVAL;
	struct map_vm_state *st = map_vm_state(vm);
	if (!st)
		return -ENOMEM;
	struct map_pin *p;
	pthread_mutex_lock(&vm->lock);
	HASH_FIND_STR(st->pins, path, p);
	if (!p)
		err = -ENOENT;
	else if (want_map != (p->map != NULL))
		err = -EINVAL; /* a pinned program asked for as a map, or back */
	else if (want_map)
		map_get_uref(p->map), *out = p->map;
	else
		vm_prog_get(p->prog), *out = p->prog;
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int bpfvm_pin_get_map(bpfvm *vm, const char *path, bpfvm_map **out)
{
	return pin_get(vm, path, true, (void **)out);
}

int bpfvm_pin_get_prog(bpfvm *vm, const char *path, bpfvm_prog **out)
{
	return pin_get(vm, path, false, (void **)out);
}

static void pin_free(struct map_pin *p)
{
	if (p->map)
		map_put_uref(p->map);
	else
		vm_prog_release(p->prog);
	free(p->path);
	free(p);
}

int bpfvm_unpin(bpfvm *vm, const char *path)
{
	int err = check_path(path);
	if (err || !vm)
		return err ? err : -EINVAL;
	struct map_vm_state *st = map_vm_state(vm);
	if (!st)
		return -ENOMEM;
	struct map_pin *p;
	pthread_mutex_lock(&vm->lock);
	HASH_FIND_STR(st->pins, path, p);
	if (p)
		HASH_DEL(st->pins, p);
	pthread_mutex_unlock(&vm->lock);
	if (!p)
		return -ENOENT;
	pin_free(p);
	return 0;
}

/* bpfvm_destroy(): drops every pin. */
void map_pin_cleanup(bpfvm *vm)
{
	struct map_vm_state *st = vm->pins;
	struct map_pin *p, *tmp;
	pthread_mutex_lock(&vm->lock);
	struct map_pin *all = st->pins;
	st->pins = NULL;
	pthread_mutex_unlock(&vm->lock);
	HASH_ITER(hh, all, p, tmp) {
		HASH_DEL(all, p);
		pin_free(p);
	}
}
