/* Ring buffers (maps/ringbuf.c): creation, the record protocol through the
 * helpers called directly, the host consumer, and programs (verified on
 * both engines, and checked runs that misbehave). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "asm.h"
#include "map.h"
#include "mt.h"

static bpfvm_map *t_rb(bpfvm *vm, uint32_t size)
{
	return t_map(vm, BPFVM_MAP_RINGBUF, 0, 0, size, 0);
}

static const struct {
	const char *what;
	struct bpfvm_map_attr a;
} bad_rb[] = {
	{ "not a power of 2", { .type = BPFVM_MAP_RINGBUF, .max_entries = 3 * 4096, .spin_lock_off = -1 } },
	{ "smaller than a page", { .type = BPFVM_MAP_RINGBUF, .max_entries = 1024, .spin_lock_off = -1 } },
	{ "zero size", { .type = BPFVM_MAP_RINGBUF, .max_entries = 0, .spin_lock_off = -1 } },
	{ "key size", { .type = BPFVM_MAP_RINGBUF, .key_size = 4, .max_entries = 4096, .spin_lock_off = -1 } },
	{ "value size", { .type = BPFVM_MAP_RINGBUF, .value_size = 8, .max_entries = 4096, .spin_lock_off = -1 } },
	{ "map flags", { .type = BPFVM_MAP_RINGBUF, .max_entries = 4096, .map_flags = BPFVM_F_NO_PREALLOC, .spin_lock_off = -1 } },
	{ "spin lock", { .type = BPFVM_MAP_RINGBUF, .max_entries = 4096, .spin_lock_off = 0 } },
};

Test(ringbuf, attributes)
{
	bpfvm *vm = t_vm();
	for (size_t i = 0; i < sizeof(bad_rb) / sizeof(bad_rb[0]); i++) {
		struct bpfvm_map_attr a = bad_rb[i].a;
		a.sz = sizeof(a);
		bpfvm_map *m = NULL;
		cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "%s", bad_rb[i].what);
	}
	struct bpfvm_map_attr big = { .sz = sizeof(big), .type = BPFVM_MAP_RINGBUF, .max_entries = 1u << 31, .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	cr_expect_eq(bpfvm_map_create(vm, &big, &m), -E2BIG, "over the 1 GiB per-map limit");
	m = t_rb(vm, 4096);
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	cr_assert_eq(bpfvm_map_info(m, &info), 0);
	cr_expect_eq(info.type, BPFVM_MAP_RINGBUF);
	cr_expect_eq(info.max_entries, 4096);
	/* No keys, no values: the element calls fail. */
	uint32_t k = 0;
	uint64_t v = 0;
	cr_expect_eq(bpfvm_map_lookup(m, &k, &v, 0), -ENOTSUP);
	cr_expect_eq(bpfvm_map_update(m, &k, &v, 0), -ENOTSUP);
	cr_expect_eq(bpfvm_map_delete(m, &k), -ENOTSUP);
	cr_expect_eq(bpfvm_map_get_next_key(m, NULL, &k), -ENOTSUP);
	/* The consumer API takes ring buffers only. */
	bpfvm_map *h = t_map(vm, BPFVM_MAP_HASH, 4, 8, 4, 0);
	cr_expect_eq(bpfvm_ringbuf_consume(h, NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_ringbuf_consume(NULL, NULL, NULL), -EINVAL);
	cr_expect_eq(bpfvm_ringbuf_poll(h, NULL, NULL, 0), -EINVAL);
	bpfvm_map_put(h);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* Records the samples a consume passes. */
struct seen {
	int n;
	size_t size[64];
	uint64_t first[64];
	int stop_at; /* return -ECANCELED at this sample (1-based), 0 never */
};

static int collect(void *ctx, void *data, size_t size)
{
	struct seen *s = ctx;
	if (s->n < 64) {
		s->size[s->n] = size;
		s->first[s->n] = 0;
		memcpy(&s->first[s->n], data, size < 8 ? size : 8);
	}
	s->n++;
	return s->n == s->stop_at ? -ECANCELED : 0;
}

#define M(map) ((uint64_t)(uintptr_t)(map))

static uint64_t *reserve(bpfvm_map *m, uint64_t size, uint64_t tag)
{
	uint64_t *p = (uint64_t *)(uintptr_t)map_helper_ringbuf_reserve(M(m), size, 0, 0, 0);
	if (p && size >= 8)
		*p = tag;
	return p;
}

Test(ringbuf, consumer_stops_at_the_first_busy_record)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	uint64_t *a = reserve(m, 8, 1), *b = reserve(m, 16, 2), *c = reserve(m, 12, 3);
	cr_assert(a && b && c);
	cr_expect_eq((uintptr_t)a % 8, 0, "records are 8-byte aligned");
	cr_expect_eq((char *)b - (char *)a, 16, "8-byte header + 8 bytes");
	cr_expect_eq((char *)c - (char *)b, 24);
	map_helper_ringbuf_submit((uintptr_t)c, 0, 0, 0, 0);
	map_helper_ringbuf_submit((uintptr_t)b, 0, 0, 0, 0);
	struct seen s = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 0, "the first record is still busy");
	map_helper_ringbuf_submit((uintptr_t)a, 0, 0, 0, 0);
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 3);
	cr_expect_eq(s.n, 3);
	cr_expect_eq(s.first[0], 1);
	cr_expect_eq(s.first[1], 2);
	cr_expect_eq(s.first[2], 3);
	cr_expect_eq(s.size[0], 8);
	cr_expect_eq(s.size[1], 16);
	cr_expect_eq(s.size[2], 12);
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 0, "nothing left");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(ringbuf, discard_output_and_query)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	uint64_t *a = reserve(m, 8, 1);
	cr_assert(a);
	cr_expect_eq(map_helper_ringbuf_query(M(m), 0, 0, 0, 0), 16, "BPF_RB_AVAIL_DATA");
	cr_expect_eq(map_helper_ringbuf_query(M(m), 1, 0, 0, 0), 4096, "BPF_RB_RING_SIZE");
	cr_expect_eq(map_helper_ringbuf_query(M(m), 2, 0, 0, 0), 0, "BPF_RB_CONS_POS");
	cr_expect_eq(map_helper_ringbuf_query(M(m), 3, 0, 0, 0), 16, "BPF_RB_PROD_POS");
	cr_expect_eq(map_helper_ringbuf_query(M(m), 9, 0, 0, 0), 0, "unknown query flag");
	map_helper_ringbuf_discard((uintptr_t)a, 0, 0, 0, 0);
	uint64_t v = 42;
	cr_expect_eq(map_helper_ringbuf_output(M(m), (uintptr_t)&v, 8, 0, 0), 0);
	cr_expect_eq(map_helper_ringbuf_output(M(m), (uintptr_t)&v, 8, 4, 0), (uint64_t)-EINVAL, "unknown output flag");
	cr_expect_eq(map_helper_ringbuf_output(M(m), 0, 0, 0, 0), 0, "an empty record");
	cr_expect_eq(map_helper_ringbuf_reserve(M(m), 8, 1, 0, 0), 0, "reserve takes no flags");
	struct seen s = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 2, "the discarded record is skipped");
	cr_expect_eq(s.first[0], 42);
	cr_expect_eq(s.size[1], 0);
	cr_expect_eq(map_helper_ringbuf_query(M(m), 0, 0, 0, 0), 0);
	cr_expect_eq(map_helper_ringbuf_query(M(m), 2, 0, 0, 0), 40, "16 + 16 + 8 bytes consumed");
	/* Helpers given another map type (a checked run may) fail safely. */
	bpfvm_map *h = t_map(vm, BPFVM_MAP_HASH, 4, 8, 4, 0);
	cr_expect_eq(map_helper_ringbuf_reserve(M(h), 8, 0, 0, 0), 0);
	cr_expect_eq(map_helper_ringbuf_output(M(h), (uintptr_t)&v, 8, 0, 0), (uint64_t)-EINVAL);
	cr_expect_eq(map_helper_ringbuf_query(M(h), 0, 0, 0, 0), 0);
	bpfvm_map_put(h);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(ringbuf, full_then_wraps_contiguously)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	cr_expect_eq(map_helper_ringbuf_reserve(M(m), 4096, 0, 0, 0), 0, "record + header larger than the ring");
	cr_expect_eq(map_helper_ringbuf_reserve(M(m), 1ull << 40, 0, 0, 0), 0, "absurd size");
	uint64_t *r[5];
	for (int i = 0; i < 4; i++) {
		r[i] = reserve(m, 1000, (uint64_t)i);
		cr_assert(r[i], "record %d fits (4 x 1008 bytes)", i);
	}
	cr_expect_eq(reserve(m, 1000, 9), NULL, "full");
	/* 64 bytes are left: a 56-byte payload needs exactly 64, and a full
	 * ring is one byte short of its size (as Linux: pos - cons <= mask). */
	uint64_t v[8] = { 1 };
	cr_expect_eq(map_helper_ringbuf_output(M(m), (uintptr_t)v, 56, 0, 0), (uint64_t)-EAGAIN);
	for (int i = 0; i < 4; i++)
		map_helper_ringbuf_submit((uintptr_t)r[i], 0, 0, 0, 0);
	struct seen s = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 4);
	/* The next record starts at 4032 and wraps: still one flat block. */
	uint8_t *w = (uint8_t *)reserve(m, 1000, 0);
	cr_assert(w);
	for (int i = 0; i < 1000; i++)
		w[i] = (uint8_t)(i * 7);
	map_helper_ringbuf_submit((uintptr_t)w, 0, 0, 0, 0);
	s = (struct seen){ 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 1);
	cr_expect_eq(s.size[0], 1000);
	/* the data pages are mapped twice: the wrapped bytes alias the start */
	uint8_t *start = w - 8 - 4032;
	cr_expect_eq(start[1000 + 8 - 64 - 1], (uint8_t)((1000 - 1) * 7), "tail of the record aliases the ring start");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(ringbuf, callback_error_stops_and_consumes_that_record)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	for (uint64_t i = 1; i <= 3; i++)
		cr_assert_eq(map_helper_ringbuf_output(M(m), (uintptr_t)&i, 8, 0, 0), 0);
	struct seen s = { .stop_at = 2 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), -ECANCELED);
	s = (struct seen){ 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 1);
	cr_expect_eq(s.first[0], 3);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

struct nest {
	int rc;
	bpfvm_map *m;
};

static int nested(void *ctx, void *data, size_t size)
{
	(void)data; (void)size;
	struct nest *c = ctx;
	c->rc = bpfvm_ringbuf_consume(c->m, NULL, NULL);
	return 0;
}

Test(ringbuf, one_consumer_at_a_time)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	uint64_t v = 1;
	map_helper_ringbuf_output(M(m), (uintptr_t)&v, 8, 0, 0);
	struct nest c = { 0, m };
	cr_expect_eq(bpfvm_ringbuf_consume(m, nested, &c), 1);
	cr_expect_eq(c.rc, -EBUSY, "a consume inside the callback is a second consumer");
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

struct producer {
	bpfvm_map *m;
	int delay_ms;
};

static void *produce_later(void *arg)
{
	struct producer *p = arg;
	struct timespec ts = { 0, p->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	uint64_t v = 77;
	map_helper_ringbuf_output(M(p->m), (uintptr_t)&v, 8, 0, 0);
	return NULL;
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(ringbuf, poll_waits_for_a_producer_or_times_out)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	int64_t t0 = ms_now();
	cr_expect_eq(bpfvm_ringbuf_poll(m, NULL, NULL, 50), 0, "timeout");
	cr_expect_geq(ms_now() - t0, 49);
	cr_expect_eq(bpfvm_ringbuf_poll(m, NULL, NULL, 0), 0);
	struct producer p = { m, 30 };
	pthread_t t;
	pthread_create(&t, NULL, produce_later, &p);
	struct seen s = { 0 };
	t0 = ms_now();
	cr_expect_eq(bpfvm_ringbuf_poll(m, collect, &s, 10000), 1, "woken by the producer");
	cr_expect_lt(ms_now() - t0, 5000);
	cr_expect_eq(s.first[0], 77);
	pthread_join(t, NULL);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* ---- programs ---- */

/* r1 = input {u64 a, u64 b}: reserves 16 bytes, stores a and b+1, submits
 * (or discards when a is 0); returns 1 if it got a record. */
static const char rb_prog[] =
	"ldxdw %%r6, [%%r1+0]\n"
	"ldxdw %%r7, [%%r1+8]\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, 16\n"
	"mov %%r3, 0\n"
	"call 131\n"
	"jeq %%r0, 0, +12\n"
	"stxdw [%%r0+0], %%r6\n"
	"add %%r7, 1\n"
	"stxdw [%%r0+8], %%r7\n"
	"mov %%r1, %%r0\n"
	"mov %%r2, 0\n"
	"jeq %%r6, 0, +3\n"
	"call 132\n"
	"mov %%r0, 1\n"
	"exit\n"
	"call 133\n"
	"mov %%r0, 1\n"
	"exit\n"
	"mov %%r0, 0\n"
	"exit\n";

static bpfvm_prog *load_text(bpfvm *vm, const char *fmt, int fd, uint32_t flags, uint32_t engine)
{
	char text[4096], err[256], log[4096] = "";
	snprintf(text, sizeof(text), fmt, fd, fd, fd);
	struct bpf_insn *insns;
	size_t n;
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "asm: %s", err);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .flags = flags, .engine = engine, .mem_size = 16,
	                             .log_buf = log, .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &o, &p);
	free(insns);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

static void run_engine(uint32_t engine)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	bpfvm_prog *p = load_text(vm, rb_prog, bpfvm_map_fd(m), 0, engine);
	uint64_t in[2] = { 5, 10 }, r0 = 0;
	cr_assert_eq(bpfvm_prog_run(p, in, sizeof(in), &r0), 0);
	cr_expect_eq(r0, 1);
	in[0] = 0; /* discarded */
	cr_assert_eq(bpfvm_prog_run(p, in, sizeof(in), &r0), 0);
	in[0] = 6;
	in[1] = 20;
	cr_assert_eq(bpfvm_prog_run(p, in, sizeof(in), &r0), 0);
	struct seen s = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 2);
	cr_expect_eq(s.first[0], 5);
	cr_expect_eq(s.first[1], 6);
	cr_expect_eq(s.size[0], 16);
	bpfvm_prog_put(p);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(ringbuf, verified_program_interp) { run_engine(BPFVM_ENGINE_INTERP); }
Test(ringbuf, verified_program_jit) { run_engine(BPFVM_ENGINE_JIT); }

/* Checked (unverified) runs: a leaked record is discarded at the end of
 * the run; a forged record pointer or a write after submit fails the run. */
Test(ringbuf, checked_runs_misbehaving)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_rb(vm, 4096);
	int fd = bpfvm_map_fd(m);
	const char *leak = "lddw %%r1, map_fd(%d)\nmov %%r2, 16\nmov %%r3, 0\ncall 131\nmov %%r0, 0\nexit\n";
	const char *forged = "lddw %%r1, map_fd(%d)\nmov %%r2, 16\nmov %%r3, 0\ncall 131\njeq %%r0, 0, +5\n"
	                     "mov %%r6, %%r0\nmov %%r1, %%r0\nadd %%r1, 8\nmov %%r2, 0\ncall 132\nmov %%r0, 0\nexit\n";
	const char *after = "lddw %%r1, map_fd(%d)\nmov %%r2, 16\nmov %%r3, 0\ncall 131\njeq %%r0, 0, +5\n"
	                    "mov %%r6, %%r0\nmov %%r1, %%r0\nmov %%r2, 0\ncall 132\nstdw [%%r6+0], 1\nmov %%r0, 0\nexit\n";
	uint64_t in[2] = { 0 }, r0;
	char err[256];
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = in, .len = sizeof(in), .err_buf = err, .err_size = sizeof(err) };

	bpfvm_prog *p = load_text(vm, leak, fd, BPFVM_PROG_NO_VERIFY, 0);
	cr_expect_eq(bpfvm_prog_run(p, in, sizeof(in), &r0), 0);
	bpfvm_prog_put(p);
	cr_expect_eq(map_helper_ringbuf_output(M(m), (uintptr_t)in, 8, 0, 0), 0);
	struct seen s = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 1, "the leaked record was discarded, not left busy");

	p = load_text(vm, forged, fd, BPFVM_PROG_NO_VERIFY, 0);
	cr_expect_eq(bpfvm_prog_run_opts(p, &ro), -EINVAL);
	cr_expect(strstr(err, "not a ring buffer record"), "%s", err);
	bpfvm_prog_put(p);

	p = load_text(vm, after, fd, BPFVM_PROG_NO_VERIFY, 0);
	cr_expect_eq(bpfvm_prog_run_opts(p, &ro), -EFAULT, "the submitted record is no longer the program's");
	bpfvm_prog_put(p);
	s = (struct seen){ 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(m, collect, &s), 1, "forged run's record discarded, the other submitted");
	cr_expect_eq(map_helper_ringbuf_query(M(m), 0, 0, 0, 0), 0);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
