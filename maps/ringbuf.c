/*
 * BPF_MAP_TYPE_RINGBUF: a multi-producer, single-consumer ring buffer with
 * Linux's semantics and record format.
 *
 * max_entries is the data size in bytes (a power of 2 and a multiple of the
 * page size); key and value sizes are 0.  Each record starts with an 8-byte
 * header {u32 len, u32 pg_off}: len holds the payload size with BUSY (bit
 * 31, reserved but not yet committed) and DISCARD (bit 30) flags; pg_off is
 * the header's page distance from the start of the mapping, which lets
 * submit/discard find the ring buffer from the record pointer alone (as
 * Linux).  Records are 8-byte aligned.
 *
 * Producers (programs, on any number of threads) reserve under a spin lock
 * (as Linux's raw spinlock) by advancing producer_pos, and commit without
 * it by clearing BUSY.  The consumer walks from consumer_pos to
 * producer_pos and stops at the first BUSY record, so records are seen in
 * reservation order even when committed out of order (as Linux).
 *
 * The data pages are mapped twice, back to back, so a record that wraps
 * around the end is still contiguous in memory (as Linux): programs get
 * one flat pointer, and the consumer one flat sample.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "map_impl.h"

#define RB_HDR_SZ 8u
#define RB_BUSY_BIT (1u << 31)
#define RB_DISCARD_BIT (1u << 30)
#define RB_MAX_RECORD (UINT32_MAX >> 2) /* as Linux's RINGBUF_MAX_RECORD_SZ */

/* Helper flags, as Linux's BPF_RB_*. */
#define RB_NO_WAKEUP (1u << 0)
#define RB_FORCE_WAKEUP (1u << 1)
enum { RB_AVAIL_DATA = 0, RB_RING_SIZE = 1, RB_CONS_POS = 2, RB_PROD_POS = 3 };

/* Reservations an unverified (checked) run may hold at once, as the
 * verifier's VFY_MAX_REFS for verified ones. */
#define RB_CHECKED_MAX 16

struct rb_hdr {
	_Atomic uint32_t len;
	uint32_t pg_off;
};

struct map_ringbuf {
	struct bpfvm_map map;
	uint8_t *base;       /* the mapping: one page holding a pointer back here, then data twice */
	uint8_t *data;       /* base + page */
	size_t page, map_len;
	uint64_t mask;       /* data size - 1 */
	/* Producer side (programs), its own cache line. */
	_Alignas(64) _Atomic uint32_t lock;
	_Atomic uint64_t producer_pos;
	/* Consumer side (the host), its own cache line. */
	_Alignas(64) _Atomic uint64_t consumer_pos;
	_Atomic bool consuming;      /* one consumer at a time */
	_Atomic uint32_t waiters;    /* consumers blocked in bpfvm_ringbuf_poll */
	_Atomic uint32_t wake_seq;   /* futex word bumped to wake them */
};

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

static inline uint32_t rb_round(uint32_t len)
{
	/* header plus payload, rounded to 8 bytes (as Linux) */
	return (uint32_t)(((uint64_t)(len & ~(RB_BUSY_BIT | RB_DISCARD_BIT)) + RB_HDR_SZ + 7) & ~7ull);
}

static int rb_check_attr(const struct bpfvm_map_attr *attr, const char **why)
{
	size_t pg = page_size();
	if (attr->key_size || attr->value_size) {
		*why = "ring buffer key_size and value_size must be 0";
		return -EINVAL;
	}
	if (attr->map_flags) {
		*why = "ring buffers take no map_flags";
		return -EINVAL;
	}
	if (attr->spin_lock_off != -1) {
		*why = "ring buffers have no values to hold a spin lock";
		return -EINVAL;
	}
	if (attr->inner_template) {
		*why = "ring buffers take no inner map template";
		return -EINVAL;
	}
	if (attr->max_entries & (attr->max_entries - 1) || attr->max_entries % pg) {
		*why = "ring buffer max_entries (its size in bytes) must be a power of 2 and a multiple of the page size";
		return -EINVAL;
	}
	return 0;
}

static struct bpfvm_map *rb_alloc(const struct bpfvm_map_attr *attr)
{
	struct map_ringbuf *rb = map_alloc_base(attr, sizeof(*rb));
	if (!rb)
		return NULL;
	size_t pg = page_size(), n = attr->max_entries;
	rb->page = pg;
	rb->mask = n - 1;
	rb->map_len = pg + 2 * n;
	int fd = -1;
	/* Reserve the whole range, then map the data file twice into it. */
	uint8_t *base = mmap(NULL, rb->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		goto fail;
	if (mprotect(base, pg, PROT_READ | PROT_WRITE))
		goto fail_unmap;
	fd = (int)syscall(SYS_memfd_create, "bpfvm-ringbuf", 1u /* MFD_CLOEXEC */);
	if (fd < 0 || ftruncate(fd, (off_t)n))
		goto fail_unmap;
	if (mmap(base + pg, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(base + pg + n, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		goto fail_unmap;
	close(fd);
	*(struct map_ringbuf **)base = rb;
	rb->base = base;
	rb->data = base + pg;
	return &rb->map;
fail_unmap:
	if (fd >= 0)
		close(fd);
	munmap(base, rb->map_len);
fail:
	free(rb);
	return NULL;
}

static void rb_free(struct bpfvm_map *map)
{
	struct map_ringbuf *rb = (struct map_ringbuf *)map;
	munmap(rb->base, rb->map_len);
	free(rb);
}

/* No keys and no values: the generic element ops fail as Linux's do. */
static void *rb_lookup(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return NULL;
}
static int rb_lookup_copy(struct bpfvm_map *map, const void *key, void *value, uint64_t flags)
{
	(void)map; (void)key; (void)value; (void)flags;
	return -ENOTSUP;
}
static int rb_update(struct bpfvm_map *map, const void *key, const void *value, uint64_t flags)
{
	(void)map; (void)key; (void)value; (void)flags;
	return -ENOTSUP;
}
static int rb_delete(struct bpfvm_map *map, const void *key)
{
	(void)map; (void)key;
	return -ENOTSUP;
}
static int rb_get_next_key(struct bpfvm_map *map, const void *key, void *next_key)
{
	(void)map; (void)key; (void)next_key;
	return -ENOTSUP;
}

const struct map_ops map_ringbuf_ops = {
	.check_attr = rb_check_attr,
	.alloc = rb_alloc,
	.free = rb_free,
	.lookup = rb_lookup,
	.update = rb_update,
	.delete = rb_delete,
	.get_next_key = rb_get_next_key,
	.lookup_copy = rb_lookup_copy,
};

/* ---- producer side ---- */

/* Reserves a record of `size` payload bytes; returns its header or NULL
 * when there is no room.  Called from programs on any thread. */
static struct rb_hdr *rb_reserve(struct map_ringbuf *rb, uint64_t size)
{
	if (size > RB_MAX_RECORD)
		return NULL;
	uint32_t len = rb_round((uint32_t)size);
	if (len > rb->mask + 1)
		return NULL;
	/* Acquire: the consumer finished reading the space it released
	 * (its release store of consumer_pos) before we may write it. */
	uint64_t cons = atomic_load_explicit(&rb->consumer_pos, memory_order_acquire);
	map_spin_lock(&rb->lock);
	uint64_t prod = atomic_load_explicit(&rb->producer_pos, memory_order_relaxed);
	uint64_t next = prod + len;
	if (next - cons > rb->mask) {
		map_spin_unlock(&rb->lock);
		return NULL;
	}
	struct rb_hdr *h = (struct rb_hdr *)(rb->data + (prod & rb->mask));
	atomic_store_explicit(&h->len, (uint32_t)size | RB_BUSY_BIT, memory_order_relaxed);
	h->pg_off = (uint32_t)(((uint8_t *)h - rb->base) / rb->page);
	/* Release: a consumer that sees the new producer_pos sees the BUSY
	 * header (never stale bytes of an older lap). */
	atomic_store_explicit(&rb->producer_pos, next, memory_order_release);
	map_spin_unlock(&rb->lock);
	return h;
}

static struct map_ringbuf *rb_of_record(struct rb_hdr *h)
{
	size_t pg = page_size();
	uint8_t *base = (uint8_t *)((uintptr_t)h & ~(uintptr_t)(pg - 1)) - (size_t)h->pg_off * pg;
	return *(struct map_ringbuf **)base;
}

static void rb_wake(struct map_ringbuf *rb)
{
	atomic_fetch_add(&rb->wake_seq, 1);
	syscall(SYS_futex, &rb->wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void rb_commit(struct rb_hdr *h, uint64_t flags, bool discard)
{
	struct map_ringbuf *rb = rb_of_record(h);
	uint32_t len = atomic_load_explicit(&h->len, memory_order_relaxed) & ~RB_BUSY_BIT;
	if (discard)
		len |= RB_DISCARD_BIT;
	/* A full barrier (a locked exchange): the payload stores happen
	 * before the consumer's acquire load sees BUSY clear, and this store
	 * is ordered before the load of `waiters` below (paired with the
	 * consumer's increment then re-check in rb_poll: one side always sees
	 * the other). */
	atomic_exchange_explicit(&h->len, len, memory_order_seq_cst);
	if (flags & RB_NO_WAKEUP)
		return;
	if (atomic_load_explicit(&rb->waiters, memory_order_seq_cst) || (flags & RB_FORCE_WAKEUP))
		rb_wake(rb);
}

/* ---- program helpers ---- */

/* Checked (unverified) runs: the reservations the run holds, so submit and
 * discard accept only real ones, and whatever the run leaks is discarded
 * when it ends (map_ringbuf_run_end) instead of stalling the consumer. */
static __thread struct {
	const struct vm_run *run;
	struct rb_hdr *h;
} rb_checked[RB_CHECKED_MAX];
static __thread uint32_t rb_nchecked;

static bool run_is_checked(const struct vm_run *run)
{
	return run && run->prog && (run->prog->flags & BPFVM_PROG_NO_VERIFY);
}

static struct map_ringbuf *rb_arg(uint64_t map)
{
	struct bpfvm_map *m = (struct bpfvm_map *)(uintptr_t)map;
	/* Verified programs pass ring buffers only; checked runs may pass any
	 * map this program loaded. */
	return m && m->type == BPFVM_MAP_RINGBUF ? (struct map_ringbuf *)m : NULL;
}

/* bpf_ringbuf_reserve(ringbuf, size, flags): a record or NULL. */
uint64_t map_helper_ringbuf_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t r4, uint64_t r5)
{
	(void)r4; (void)r5;
	struct map_ringbuf *rb = rb_arg(map);
	struct vm_run *run = vm_current_run;
	bool checked = run_is_checked(run);
	if (!rb || flags)
		return 0; /* as Linux: no reserve flags are defined */
	if (checked && rb_nchecked == RB_CHECKED_MAX)
		return 0;
	struct rb_hdr *h = rb_reserve(rb, size);
	if (!h)
		return 0;
	if (checked) {
		rb_checked[rb_nchecked].run = run;
		rb_checked[rb_nchecked].h = h;
		rb_nchecked++;
		vm_run_add_region(run, h + 1, size, true);
	}
	return (uintptr_t)(h + 1);
}

static uint64_t rb_release(uint64_t rec, uint64_t flags, bool discard)
{
	struct rb_hdr *h = (struct rb_hdr *)(uintptr_t)rec - 1;
	struct vm_run *run = vm_current_run;
	if (run_is_checked(run)) {
		uint32_t i = 0;
		while (i < rb_nchecked && (rb_checked[i].run != run || rb_checked[i].h != h))
			i++;
		if (i == rb_nchecked) {
			vm_run_fail(run, -EINVAL, 0, rec, "%s: 0x%llx is not a ring buffer record this run reserved and "
			            "has not yet submitted or discarded", discard ? "bpf_ringbuf_discard" : "bpf_ringbuf_submit",
			            (unsigned long long)rec);
			return 0;
		}
		rb_checked[i] = rb_checked[--rb_nchecked];
		/* The record belongs to the consumer now. */
		vm_run_remove_region(run, (uintptr_t)rec);
	}
	rb_commit(h, flags, discard);
	return 0;
}

/* bpf_ringbuf_submit(data, flags) / bpf_ringbuf_discard(data, flags) */
uint64_t map_helper_ringbuf_submit(uint64_t rec, uint64_t flags, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	return rb_release(rec, flags, false);
}
uint64_t map_helper_ringbuf_discard(uint64_t rec, uint64_t flags, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	return rb_release(rec, flags, true);
}

/* bpf_ringbuf_output(ringbuf, data, size, flags): 0 or -EAGAIN when full. */
uint64_t map_helper_ringbuf_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t r5)
{
	(void)r5;
	struct map_ringbuf *rb = rb_arg(map);
	if (!rb || (flags & ~(uint64_t)(RB_NO_WAKEUP | RB_FORCE_WAKEUP)))
		return (uint64_t)-EINVAL;
	struct rb_hdr *h = rb_reserve(rb, size);
	if (!h)
		return (uint64_t)-EAGAIN;
	if (size)
		memcpy(h + 1, (const void *)(uintptr_t)data, size);
	rb_commit(h, flags, false);
	return 0;
}

/* bpf_ringbuf_query(ringbuf, flags): positions and sizes, as Linux. */
uint64_t map_helper_ringbuf_query(uint64_t map, uint64_t flags, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r3; (void)r4; (void)r5;
	struct map_ringbuf *rb = rb_arg(map);
	if (!rb)
		return 0;
	uint64_t cons = atomic_load_explicit(&rb->consumer_pos, memory_order_acquire);
	uint64_t prod = atomic_load_explicit(&rb->producer_pos, memory_order_acquire);
	switch (flags) {
	case RB_AVAIL_DATA: return prod - cons;
	case RB_RING_SIZE: return rb->mask + 1;
	case RB_CONS_POS: return cons;
	case RB_PROD_POS: return prod;
	default: return 0;
	}
}

void map_ringbuf_run_end(const struct vm_run *run)
{
	for (uint32_t i = 0; i < rb_nchecked;) {
		if (rb_checked[i].run != run) {
			i++;
			continue;
		}
		rb_commit(rb_checked[i].h, 0, true);
		rb_checked[i] = rb_checked[--rb_nchecked];
	}
}

/* ---- consumer side (host) ---- */

/* Walks committed records in order; stops at the first busy one. */
static int rb_consume_locked(struct map_ringbuf *rb, bpfvm_ringbuf_sample_fn fn, void *ctx)
{
	/* Only this thread writes consumer_pos (the `consuming` flag). */
	uint64_t cons = atomic_load_explicit(&rb->consumer_pos, memory_order_relaxed);
	int64_t n = 0;
	bool more = true;
	while (more) {
		more = false;
		/* Acquire pairs with the producer's release of producer_pos: the
		 * BUSY headers of reserved records are visible. */
		uint64_t prod = atomic_load_explicit(&rb->producer_pos, memory_order_acquire);
		while (cons < prod) {
			struct rb_hdr *h = (struct rb_hdr *)(rb->data + (cons & rb->mask));
			/* Acquire pairs with the committing exchange: the payload
			 * written before it is visible. */
			uint32_t len = atomic_load_explicit(&h->len, memory_order_acquire);
			if (len & RB_BUSY_BIT)
				goto out;
			more = true;
			cons += rb_round(len);
			int err = 0;
			if (!(len & RB_DISCARD_BIT)) {
				err = fn ? fn(ctx, h + 1, len & ~RB_DISCARD_BIT) : 0;
				n++;
			}
			/* Release: done reading the space before producers reuse it. */
			atomic_store_explicit(&rb->consumer_pos, cons, memory_order_release);
			if (err < 0)
				return err;
		}
	}
out:
	return n > INT_MAX ? INT_MAX : (int)n;
}

int bpfvm_ringbuf_consume(bpfvm_map *map, bpfvm_ringbuf_sample_fn fn, void *ctx)
{
	if (!map || map->type != BPFVM_MAP_RINGBUF)
		return -EINVAL;
	struct map_ringbuf *rb = (struct map_ringbuf *)map;
	bool was = false;
	if (!atomic_compare_exchange_strong(&rb->consuming, &was, true))
		return -EBUSY; /* another thread (or this callback) is consuming */
	int n = rb_consume_locked(rb, fn, ctx);
	atomic_store_explicit(&rb->consuming, false, memory_order_release);
	return n;
}

static bool rb_has_committed(struct map_ringbuf *rb)
{
	uint64_t cons = atomic_load(&rb->consumer_pos);
	if (atomic_load(&rb->producer_pos) == cons)
		return false;
	struct rb_hdr *h = (struct rb_hdr *)(rb->data + (cons & rb->mask));
	return !(atomic_load(&h->len) & RB_BUSY_BIT);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bpfvm_ringbuf_poll(bpfvm_map *map, bpfvm_ringbuf_sample_fn fn, void *ctx, int timeout_ms)
{
	if (!map || map->type != BPFVM_MAP_RINGBUF)
		return -EINVAL;
	if (timeout_ms && vm_current_run)
		return -EDEADLK; /* a program run must not block on its own producers */
	struct map_ringbuf *rb = (struct map_ringbuf *)map;
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	for (;;) {
		int n = bpfvm_ringbuf_consume(map, fn, ctx);
		if (n != 0 || timeout_ms == 0)
			return n;
		struct timespec ts, *tsp = NULL;
		if (timeout_ms > 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return 0;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		/* Announce the wait, then re-check (seq_cst on both sides, see
		 * rb_commit): a commit either sees `waiters` and bumps
		 * wake_seq, or happened before our re-check sees it. */
		atomic_fetch_add_explicit(&rb->waiters, 1, memory_order_seq_cst);
		uint32_t seq = atomic_load_explicit(&rb->wake_seq, memory_order_seq_cst);
		if (!rb_has_committed(rb))
			syscall(SYS_futex, &rb->wake_seq, FUTEX_WAIT_PRIVATE, seq, tsp, NULL, 0);
		atomic_fetch_sub_explicit(&rb->waiters, 1, memory_order_relaxed);
	}
}
