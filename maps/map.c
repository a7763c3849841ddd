/*
 * Common map code: attribute checks, the handle (fd) table in vm->maps,
 * reference counting, value copies, and the public bpfvm_map_* API.
 *
 * Lifetime (as Linux): `refcnt` counts every reference (host handles, pins,
 * programs, outer maps); `usercnt` counts user references (host handles and
 * pins), each of which also holds a refcnt.  The last user reference calls
 * ops->release_uref (a prog array clears itself, breaking cycles); the last
 * reference removes the handle and frees the map after a grace period.
 */
#include <stdio.h>

#include "map_impl.h"

static const struct map_ops *map_type_ops(uint32_t type)
{
	switch (type) {
	case BPFVM_MAP_HASH: return &map_hash_ops;
	case BPFVM_MAP_ARRAY: return &map_array_ops;
	case BPFVM_MAP_PROG_ARRAY: return &map_prog_array_ops;
	case BPFVM_MAP_ARRAY_OF_MAPS: return &map_array_of_maps_ops;
	case BPFVM_MAP_HASH_OF_MAPS: return &map_hash_of_maps_ops;
	case BPFVM_MAP_RINGBUF: return &map_ringbuf_ops;
	case BPFVM_MAP_QUEUE: return &map_queue_ops;
	case BPFVM_MAP_STACK: return &map_stack_ops;
	case BPFVM_MAP_PERCPU_ARRAY: return &map_percpu_array_ops;
	case BPFVM_MAP_PERCPU_HASH: return &map_percpu_hash_ops;
	case BPFVM_MAP_LRU_HASH: return &map_lru_hash_ops;
	case BPFVM_MAP_LRU_PERCPU_HASH: return &map_lru_percpu_hash_ops;
	default: return NULL;
	}
}

/* ---- deferred frees ---- */

void map_defer(struct rcu_head *head, void (*after_tt)(struct rcu_head *))
{
	/* Until a sleepable program has run in the process, no tasks-trace
	 * section can hold what was unlinked before this fence: the normal
	 * grace period alone (the tt stage's thread hop cost 1-thread hash
	 * writes up to ~2x). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!rcu_tt_ever_used())
		after_tt(head);
	else
		rcu_tt_call(head, after_tt);
}

void map_barrier(void)
{
	rcu_tt_barrier();
	rcu_barrier();
}

/* Runs every deferred free queued so far, and those they queue in turn
 * (an outer map's free drops its inner maps, an element free drops the
 * map reference it held). */
static void map_defer_drain(struct map_vm_state *st)
{
	do
		map_barrier();
	while (atomic_load(&st->pending));
}

struct map_vm_state *map_vm_state(bpfvm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->pins)
		vm->pins = calloc(1, sizeof(struct map_vm_state));
	struct map_vm_state *st = vm->pins;
	pthread_mutex_unlock(&vm->lock);
	return st;
}

/* ---- reference counting ---- */

void map_get(struct bpfvm_map *map)
{
	atomic_fetch_add_explicit(&map->refcnt, 1, memory_order_relaxed);
}

bool map_tryget(struct bpfvm_map *map)
{
	long c = atomic_load(&map->refcnt);
	while (c > 0)
		if (atomic_compare_exchange_weak(&map->refcnt, &c, c + 1))
			return true;
	return false;
}

static void map_free_rcu(struct rcu_head *head)
{
	struct bpfvm_map *map = (struct bpfvm_map *)((char *)head - offsetof(struct bpfvm_map, rcu));
	struct map_vm_state *st = map->vm->pins;
	if (map->inner_meta)
		free(map->inner_meta);
	map->ops->free(map);
	atomic_fetch_sub(&st->pending, 1);
}

static void map_free_after_tt(struct rcu_head *head)
{
	rcu_call(head, map_free_rcu);
}

void map_put(struct bpfvm_map *map)
{
	if (!map || atomic_fetch_sub_explicit(&map->refcnt, 1, memory_order_acq_rel) != 1)
		return;
	bpfvm *vm = map->vm;
	pthread_mutex_lock(&vm->lock);
	if (map->fd > 0 && (size_t)map->fd < vm->maps_cap && vm->maps[map->fd] == map)
		vm->maps[map->fd] = NULL;
	pthread_mutex_unlock(&vm->lock);
	/* Programs that looked the map up (an inner map just swapped out)
	 * may still use it: free after a grace period. */
	atomic_fetch_add(&((struct map_vm_state *)vm->pins)->pending, 1);
	map_defer(&map->rcu, map_free_after_tt);
}

void map_get_uref(struct bpfvm_map *map)
{
	map_get(map);
	atomic_fetch_add(&map->usercnt, 1);
}

void map_put_uref(struct bpfvm_map *map)
{
	if (!map)
		return;
	if (atomic_fetch_sub(&map->usercnt, 1) == 1 && map->ops->release_uref)
		map->ops->release_uref(map);
	map_put(map);
}

struct bpfvm_map *map_from_fd(bpfvm *vm, int fd)
{
	struct bpfvm_map *map = NULL;
	if (!vm || fd <= 0)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	if ((size_t)fd < vm->maps_cap)
		map = vm->maps[fd];
	pthread_mutex_unlock(&vm->lock);
	return map;
}

/* ---- value copies ---- */

void map_copy_words_in(void *dst_map, const void *src, size_t n)
{
	_Atomic uint64_t *d = dst_map;
	const uint8_t *s = src;
	size_t i = 0;
	for (; i + 8 <= n; i += 8, s += 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		atomic_store_explicit(d++, w, memory_order_relaxed);
	}
	for (uint8_t *b = (uint8_t *)d; i < n; i++)
		__atomic_store_n(b++, *s++, __ATOMIC_RELAXED);
}

void map_copy_words_out(void *dst, const void *src_map, size_t n)
{
	const _Atomic uint64_t *s = src_map;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8, d += 8) {
		uint64_t w = atomic_load_explicit(s++, memory_order_relaxed);
		memcpy(d, &w, 8);
	}
	for (const uint8_t *b = (const uint8_t *)s; i < n; i++)
		*d++ = __atomic_load_n(b++, __ATOMIC_RELAXED);
}

/* Copies value_size bytes, skipping the spin lock word (never copied in or
 * out, as Linux's copy_map_value).  Which side is map memory doesn't
 * matter to the word copy's atomicity, so callers pass map memory as dst
 * for updates and as src for lookups through the in/out variants below. */
static void copy_skip_lock(const struct bpfvm_map *map, void *dst, const void *src, bool into_map)
{
	void (*cp)(void *, const void *, size_t) = into_map ? map_copy_words_in : map_copy_words_out;
	if (map->spin_lock_off < 0) {
		cp(dst, src, map->value_size);
		return;
	}
	size_t off = (size_t)map->spin_lock_off;
	/* Word copies need 8-byte aligned map memory: copy the pieces bytewise
	 * where the lock splits a word. */
	if (off % 8 == 0) {
		cp(dst, src, off);
	} else {
		size_t w = off & ~(size_t)7;
		cp(dst, src, w);
		for (size_t i = w; i < off; i++)
			__atomic_store_n((uint8_t *)dst + i, __atomic_load_n((const uint8_t *)src + i, __ATOMIC_RELAXED),
			                 __ATOMIC_RELAXED);
	}
	size_t s = off + 4, e = map->value_size;
	size_t a = (s + 7) & ~(size_t)7;
	for (; s < a && s < e; s++)
		__atomic_store_n((uint8_t *)dst + s, __atomic_load_n((const uint8_t *)src + s, __ATOMIC_RELAXED),
		                 __ATOMIC_RELAXED);
	if (s < e)
		cp((uint8_t *)dst + s, (const uint8_t *)src + s, e - s);
}

void map_copy_value(const struct bpfvm_map *map, void *dst, const void *src)
{
	/* Direction unknown here: byte-atomic either way is correct; use the
	 * "in" flavour (atomic stores into dst). */
	copy_skip_lock(map, dst, src, true);
}

void map_copy_value_locked(const struct bpfvm_map *map, void *dst, const void *src, void *lock_in_value)
{
	map_spin_lock(lock_in_value);
	copy_skip_lock(map, dst, src, true);
	map_spin_unlock(lock_in_value);
}

/* Host-side copies: into a map slot, or out of one. */
static void copy_in(const struct bpfvm_map *map, void *slot, const void *src, bool lock)
{
	if (lock) {
		_Atomic uint32_t *l = (void *)((char *)slot + map->spin_lock_off);
		map_spin_lock(l);
		copy_skip_lock(map, slot, src, true);
		map_spin_unlock(l);
	} else {
		copy_skip_lock(map, slot, src, true);
	}
}

static void copy_out(const struct bpfvm_map *map, void *dst, const void *slot, bool lock)
{
	if (lock) {
		_Atomic uint32_t *l = (void *)((char *)slot + map->spin_lock_off);
		map_spin_lock(l);
		copy_skip_lock(map, dst, slot, false);
		map_spin_unlock(l);
	} else {
		copy_skip_lock(map, dst, slot, false);
	}
	if (map->spin_lock_off >= 0) /* as Linux: the lock word reads as zero */
		memset((char *)dst + map->spin_lock_off, 0, 4);
}

void map_value_copy_in(const struct bpfvm_map *map, void *slot, const void *src, uint64_t flags)
{
	copy_in(map, slot, src, flags & BPFVM_F_LOCK);
}

void map_value_copy_out(const struct bpfvm_map *map, void *dst, const void *slot, uint64_t flags)
{
	copy_out(map, dst, slot, flags & BPFVM_F_LOCK);
}

int map_check_update_flags(const struct bpfvm_map *map, uint64_t flags)
{
	if (flags & ~(uint64_t)(BPFVM_F_LOCK | 3))
		return -EINVAL; /* unknown update flag bits */
	if ((flags & 3) == 3)
		return -EINVAL; /* NOEXIST and EXIST together */
	if ((flags & BPFVM_F_LOCK) && map->spin_lock_off < 0)
		return -EINVAL; /* BPF_F_LOCK on a map whose value has no spin lock */
	return 0;
}

/* ---- creation ---- */

void *map_alloc_base(const struct bpfvm_map_attr *attr, size_t size)
{
	/* Cache-line aligned: map types keep fields that writers update on
	 * lines of their own (hash.c) and that only works from an aligned
	 * base. */
	size = (size + 63) & ~(size_t)63;
	struct bpfvm_map *map = aligned_alloc(64, size);
	if (!map)
		return NULL;
	memset(map, 0, size);
	map->type = attr->type;
	map->key_size = attr->key_size;
	map->value_size = attr->value_size;
	map->max_entries = attr->max_entries;
	map->map_flags = attr->map_flags;
	map->spin_lock_off = attr->spin_lock_off;
	if (attr->name)
		snprintf(map->name, sizeof(map->name), "%s", attr->name);
	return map;
}

/* Types without keys (as Linux: key_size 0); their check_attr checks the
 * sizes. */
static bool map_keyless(uint32_t type)
{
	return type == BPFVM_MAP_RINGBUF || type == BPFVM_MAP_QUEUE || type == BPFVM_MAP_STACK;
}

static int check_common(const struct bpfvm_map_attr *attr, const char **why)
{
	if (attr->max_entries == 0 || (!map_keyless(attr->type) && (attr->key_size == 0 || attr->value_size == 0))) {
		*why = "key_size, value_size and max_entries must be non-zero";
		return -EINVAL;
	}
	if (attr->key_size > MAP_MAX_KEY_SIZE) {
		*why = "key_size is over 512 bytes (keys live on the program's stack)";
		return -E2BIG;
	}
	if (attr->value_size > MAP_MAX_VALUE_SIZE) {
		*why = "value_size is over 4 MiB";
		return -E2BIG;
	}
	/* A userspace VM has no memory cgroup to charge: bound what one map
	 * may take (roughly: entries times rounded key + value + element
	 * header), so a hostile object can't exhaust the host's memory. */
	uint64_t per = ((attr->key_size + 7ull) & ~7ull) + ((attr->value_size + 7ull) & ~7ull) + 32;
	if (attr->type == BPFVM_MAP_RINGBUF)
		per = 1; /* max_entries is the size in bytes */
	if (per * attr->max_entries > MAP_MAX_BYTES) {
		*why = "the map would take more than bpfvm's 1 GiB per-map limit (max_entries x key and value size)";
		return -E2BIG;
	}
	if (attr->spin_lock_off != -1) {
		if (attr->spin_lock_off < 0 || attr->spin_lock_off % 4 ||
		    (uint64_t)attr->spin_lock_off + 4 > attr->value_size) {
			*why = "spin_lock_off must be -1 or a 4-byte aligned offset of 4 bytes inside the value";
			return -EINVAL;
		}
	}
	return 0;
}

static int fd_install(bpfvm *vm, struct bpfvm_map *map)
{
	int err = 0;
	pthread_mutex_lock(&vm->lock);
	size_t fd = 1; /* 0 is never a handle: zeroed slots read as "none" */
	while (fd < vm->maps_cap && vm->maps[fd])
		fd++;
	if (fd >= vm->maps_cap) {
		size_t cap = vm->maps_cap ? vm->maps_cap * 2 : 16;
		struct bpfvm_map **t = realloc(vm->maps, cap * sizeof(*t));
		if (!t) {
			err = -ENOMEM;
			goto out;
		}
		memset(t + vm->maps_cap, 0, (cap - vm->maps_cap) * sizeof(*t));
		vm->maps = t;
		vm->maps_cap = cap;
	}
	vm->maps[fd] = map;
	map->fd = (int)fd;
out:
	pthread_mutex_unlock(&vm->lock);
	return err;
}

/* The reason of a refused creation, into the caller's log if it gave one. */
static int create_err(const struct bpfvm_map_attr *a, int err, const char *why, uint32_t type)
{
	if (a->log_buf && a->log_size) {
		char t[32] = "";
		if (!why)
			snprintf(t, sizeof(t), "unknown map type %u", type);
		snprintf(a->log_buf, a->log_size, "%s\n", why ? why : t);
	}
	return err;
}

int bpfvm_map_create(bpfvm *vm, const struct bpfvm_map_attr *attr, bpfvm_map **out)
{
	const char *why = NULL;
	if (!vm || !attr || !out || attr->sz < offsetof(struct bpfvm_map_attr, inner_template))
		return -EINVAL;
	/* Fields the caller's struct doesn't have read as zero/-1. */
	struct bpfvm_map_attr a = { .spin_lock_off = -1 };
	memcpy(&a, attr, attr->sz < sizeof(a) ? attr->sz : sizeof(a));
	a.sz = sizeof(a);
	if (a.log_buf && a.log_size)
		a.log_buf[0] = '\0';
	const struct map_ops *ops = map_type_ops(a.type);
	if (!ops)
		return create_err(&a, -EINVAL, NULL, a.type);
	int err = check_common(&a, &why);
	if (!err)
		err = ops->check_attr(&a, &why);
	if (err)
		return create_err(&a, err, why ? why : "invalid attributes", a.type);
	if (!map_vm_state(vm))
		return -ENOMEM;
	struct bpfvm_map *map = ops->alloc(&a);
	if (!map)
		return -ENOMEM;
	map->ops = ops;
	if (!map->lookup)
		map->lookup = ops->lookup;
	map->vm = vm;
	atomic_init(&map->refcnt, 1);
	atomic_init(&map->usercnt, 1);
	if (a.inner_template) {
		map->inner_meta = malloc(sizeof(*map->inner_meta));
		if (!map->inner_meta) {
			err = -ENOMEM;
			goto fail;
		}
		/* A snapshot of the template's shape: the template itself may be
		 * freed while the outer map lives (as Linux's bpf_map_meta_alloc). */
		*map->inner_meta = *a.inner_template;
		map->inner_meta->rcu = (struct rcu_head){ 0 };
	}
	err = fd_install(vm, map);
	if (err)
		goto fail;
	*out = map;
	return 0;
fail:
	free(map->inner_meta);
	ops->free(map);
	return err;
}

void bpfvm_map_put(bpfvm_map *map)
{
	map_put_uref(map);
}

int bpfvm_map_fd(const bpfvm_map *map)
{
	return map ? map->fd : -EINVAL;
}

bpfvm_map *bpfvm_map_from_fd(bpfvm *vm, int fd)
{
	struct bpfvm_map *map = NULL;
	if (!vm || fd <= 0)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	if ((size_t)fd < vm->maps_cap && vm->maps[fd] && map_tryget(vm->maps[fd])) {
		map = vm->maps[fd];
		atomic_fetch_add(&map->usercnt, 1);
	}
	pthread_mutex_unlock(&vm->lock);
	return map;
}

int bpfvm_map_info(const bpfvm_map *map, struct bpfvm_map_info *info)
{
	if (!map || !info || info->sz < offsetof(struct bpfvm_map_info, name) + sizeof(info->name))
		return -EINVAL;
	info->type = map->type;
	info->key_size = map->key_size;
	info->value_size = map->value_size;
	info->max_entries = map->max_entries;
	info->map_flags = map->map_flags;
	info->spin_lock_off = map->spin_lock_off;
	memcpy(info->name, map->name, sizeof(info->name));
	return 0;
}

/* ---- host element access ---- */

int bpfvm_map_lookup(bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	if (!map || (!key && map->key_size) || !value)
		return -EINVAL;
	if (flags & ~(uint64_t)BPFVM_F_LOCK)
		return -EINVAL;
	if ((flags & BPFVM_F_LOCK) && map->spin_lock_off < 0)
		return -EINVAL;
	rcu_read_lock();
	int err = map->ops->lookup_copy(map, key, value, flags);
	rcu_read_unlock();
	return err;
}

int bpfvm_map_update(bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	if (!map || (!key && map->key_size) || !value)
		return -EINVAL;
	int err = map_check_update_flags(map, flags);
	if (err)
		return err;
	if (atomic_load(&map->frozen))
		return -EPERM; /* as Linux: a frozen map is read-only to the host */
	/* A host caller outside any read section (of either flavour: a
	 * sleepable program's helpers run in a tt section) and outside RCU's
	 * callbacks may wait. */
	bool outer = !rcu_read_ongoing() && !rcu_tt_read_ongoing() && !rcu_callback_ongoing();
	for (int tries = 0;; tries++) {
		rcu_read_lock();
		err = map->ops->update_fd ? map->ops->update_fd(map, key, value, flags)
		                          : map->ops->update(map, key, value, flags);
		bool wait = err == -ENOMEM && map->ops->reclaim && tries == 0 && outer;
		if (wait)
			map->ops->reclaim(map);
		rcu_read_unlock();
		if (!wait)
			return err;
		/* A host caller can wait for the elements its earlier updates
		 * retired (the map's spares are in use): their callbacks give
		 * them back to the pool. */
		map_barrier();
	}
}

int bpfvm_map_delete(bpfvm_map *map, const void *key)
{
	if (!map || !key)
		return -EINVAL;
	if (atomic_load(&map->frozen))
		return -EPERM;
	rcu_read_lock();
	int err = map->ops->delete(map, key);
	rcu_read_unlock();
	return err;
}

int bpfvm_map_get_next_key(bpfvm_map *map, const void *key, void *next_key)
{
	if (!map || !next_key)
		return -EINVAL;
	rcu_read_lock();
	int err = map->ops->get_next_key(map, key, next_key);
	rcu_read_unlock();
	return err;
}

int bpfvm_map_freeze(bpfvm_map *map)
{
	if (!map)
		return -EINVAL;
	bool was = false;
	if (!atomic_compare_exchange_strong(&map->frozen, &was, true))
		return -EBUSY; /* as Linux: already frozen */
	return 0;
}

int bpfvm_synchronize(bpfvm *vm)
{
	if (!vm)
		return -EINVAL;
	if (vm_current_run)
		return -EDEADLK; /* from inside a program run: it would wait for itself */
	rcu_synchronize();
	rcu_tt_synchronize(); /* sleepable runs */
	return 0;
}

/* ---- VM teardown ---- */

void map_pin_cleanup(bpfvm *vm);

/* Called by bpfvm_destroy() after programs dropped their map references
 * and with no program running: frees every pin and map left. */
void map_vm_cleanup(bpfvm *vm)
{
	struct map_vm_state *st = vm->pins;
	if (!st)
		return;
	map_pin_cleanup(vm);
	/* Drop the user references the embedder never put (each also holds a
	 * reference): prog arrays clear themselves, outer maps free and drop
	 * their inner maps, in the normal order. */
	for (size_t i = 0; i < vm->maps_cap; i++) {
		pthread_mutex_lock(&vm->lock);
		struct bpfvm_map *map = vm->maps[i];
		bool got = map && map_tryget(map);
		pthread_mutex_unlock(&vm->lock);
		if (!got)
			continue;
		long n = atomic_exchange(&map->usercnt, 0);
		if (n > 0 && map->ops->release_uref)
			map->ops->release_uref(map);
		while (n-- > 0)
			map_put(map);
		map_put(map);
	}
	map_defer_drain(st);
	/* Nothing should be left; a map still here is held by a program that
	 * outlived its VM's teardown order.  Free it anyway. */
	for (size_t i = 0; i < vm->maps_cap; i++) {
		struct bpfvm_map *map = vm->maps[i];
		if (!map)
			continue;
		vm->maps[i] = NULL;
		free(map->inner_meta);
		map->ops->free(map);
	}
	map_defer_drain(st);
	free(st);
	vm->pins = NULL;
}
