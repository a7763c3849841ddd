/* Queue and stack maps (maps/queue_stack.c): creation, the host API
 * (update = push, lookup = peek, lookup_and_delete = pop) as data-driven
 * scripts, and programs using bpf_map_push/pop/peek_elem. */
#include <stdlib.h>

#include "asm.h"
#include "map.h"
#include "mt.h"

enum { PUSH, PUSH_EXIST, PUSH_NOEXIST, POP, PEEK, END };

struct step {
	int op;
	uint64_t v;   /* pushed, or expected from pop/peek */
	int err;      /* expected result */
};

/* max_entries 3, 8-byte values */
static const struct {
	const char *name;
	uint32_t type;
	struct step s[16];
} scripts[] = {
	{ "queue is FIFO", BPFVM_MAP_QUEUE, { { PUSH, 1, 0 }, { PUSH, 2, 0 }, { PUSH, 3, 0 }, { PEEK, 1, 0 },
	  { POP, 1, 0 }, { POP, 2, 0 }, { PUSH, 4, 0 }, { POP, 3, 0 }, { POP, 4, 0 }, { POP, 0, -ENOENT },
	  { PEEK, 0, -ENOENT }, { END, 0, 0 } } },
	{ "stack is LIFO", BPFVM_MAP_STACK, { { PUSH, 1, 0 }, { PUSH, 2, 0 }, { PUSH, 3, 0 }, { PEEK, 3, 0 },
	  { POP, 3, 0 }, { PUSH, 4, 0 }, { POP, 4, 0 }, { POP, 2, 0 }, { POP, 1, 0 }, { POP, 0, -ENOENT }, { END, 0, 0 } } },
	{ "queue full", BPFVM_MAP_QUEUE, { { PUSH, 1, 0 }, { PUSH, 2, 0 }, { PUSH, 3, 0 }, { PUSH, 4, -E2BIG },
	  { POP, 1, 0 }, { END, 0, 0 } } },
	{ "queue BPF_EXIST drops the oldest", BPFVM_MAP_QUEUE, { { PUSH, 1, 0 }, { PUSH, 2, 0 }, { PUSH, 3, 0 },
	  { PUSH_EXIST, 4, 0 }, { POP, 2, 0 }, { POP, 3, 0 }, { POP, 4, 0 }, { POP, 0, -ENOENT }, { END, 0, 0 } } },
	{ "stack BPF_EXIST drops the oldest too (as Linux)", BPFVM_MAP_STACK, { { PUSH, 1, 0 }, { PUSH, 2, 0 },
	  { PUSH, 3, 0 }, { PUSH_EXIST, 4, 0 }, { POP, 4, 0 }, { POP, 3, 0 }, { POP, 2, 0 }, { POP, 0, -ENOENT }, { END, 0, 0 } } },
	{ "BPF_EXIST on a map with room just pushes", BPFVM_MAP_QUEUE, { { PUSH_EXIST, 1, 0 }, { POP, 1, 0 }, { END, 0, 0 } } },
	{ "BPF_NOEXIST is invalid", BPFVM_MAP_STACK, { { PUSH_NOEXIST, 1, -EINVAL }, { POP, 0, -ENOENT }, { END, 0, 0 } } },
	{ "wraps around many times", BPFVM_MAP_QUEUE, { { PUSH, 1, 0 }, { POP, 1, 0 }, { PUSH, 2, 0 }, { PUSH, 3, 0 },
	  { POP, 2, 0 }, { PUSH, 4, 0 }, { PUSH, 5, 0 }, { POP, 3, 0 }, { POP, 4, 0 }, { POP, 5, 0 }, { END, 0, 0 } } },
};

Test(queue_stack, host_scripts)
{
	bpfvm *vm = t_vm();
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		bpfvm_map *m = t_map(vm, scripts[i].type, 0, 8, 3, 0);
		for (const struct step *s = scripts[i].s; s->op != END; s++) {
			uint64_t v = s->v, got = 0xdead;
			int rc;
			switch (s->op) {
			case PUSH: rc = bpfvm_map_update(m, NULL, &v, BPFVM_ANY); break;
			case PUSH_EXIST: rc = bpfvm_map_update(m, NULL, &v, BPFVM_EXIST); break;
			case PUSH_NOEXIST: rc = bpfvm_map_update(m, NULL, &v, BPFVM_NOEXIST); break;
			case POP: rc = bpfvm_map_lookup_and_delete(m, NULL, &got, 0); break;
			default: rc = bpfvm_map_lookup(m, NULL, &got, 0); break;
			}
			cr_expect_eq(rc, s->err, "%s: step %zu: %d, expected %d", scripts[i].name,
			             (size_t)(s - scripts[i].s), rc, s->err);
			if ((s->op == POP || s->op == PEEK) && !s->err)
				cr_expect_eq(got, s->v, "%s: step %zu: got %llu, expected %llu", scripts[i].name,
				             (size_t)(s - scripts[i].s), (unsigned long long)got, (unsigned long long)s->v);
		}
		bpfvm_map_put(m);
	}
	bpfvm_destroy(vm);
}

Test(queue_stack, attributes_and_errors)
{
	bpfvm *vm = t_vm();
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_QUEUE, .value_size = 8, .max_entries = 2,
	                            .spin_lock_off = -1 };
	bpfvm_map *m = NULL;
	a.key_size = 4;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "a key");
	a.key_size = 0;
	a.value_size = 0;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "no value size");
	a.value_size = 8;
	a.max_entries = 0;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "no entries");
	a.max_entries = 2;
	a.map_flags = BPFVM_F_NO_PREALLOC;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "flags");
	a.map_flags = 0;
	a.spin_lock_off = 0;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "spin lock");
	a.spin_lock_off = -1;
	a.type = BPFVM_MAP_STACK;
	a.value_size = 4;
	a.max_entries = 1u << 30;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -E2BIG, "over the per-map limit");

	m = t_map(vm, BPFVM_MAP_STACK, 0, 12, 2, 0);
	uint8_t v[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, got[12];
	uint32_t k = 0;
	cr_expect_eq(bpfvm_map_update(m, NULL, v, BPFVM_F_LOCK), -EINVAL, "F_LOCK without a lock");
	cr_expect_eq(bpfvm_map_update(m, NULL, v, 0), 0);
	cr_expect_eq(bpfvm_map_lookup(m, NULL, got, 0), 0);
	cr_expect_arr_eq(got, v, 12, "12-byte values copied whole");
	cr_expect_eq(bpfvm_map_delete(m, &k), -EINVAL, "no delete (as Linux)");
	cr_expect_eq(bpfvm_map_get_next_key(m, NULL, &k), -EINVAL, "no keys to walk");
	cr_expect_eq(bpfvm_map_lookup_and_delete(m, NULL, got, 1), -EINVAL, "flags");
	cr_expect_eq(bpfvm_map_lookup_and_delete(m, NULL, NULL, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_lookup_and_delete(NULL, NULL, got, 0), -EINVAL);
	cr_expect_eq(bpfvm_map_freeze(m), 0);
	cr_expect_eq(bpfvm_map_update(m, NULL, v, 0), -EPERM, "frozen");
	cr_expect_eq(bpfvm_map_lookup_and_delete(m, NULL, got, 0), -EPERM, "frozen");
	cr_expect_eq(bpfvm_map_lookup(m, NULL, got, 0), 0, "peek still works");
	bpfvm_map *h = t_map(vm, BPFVM_MAP_HASH, 4, 8, 4, 0);
	cr_expect_eq(bpfvm_map_lookup_and_delete(h, &k, got, 0), -ENOENT, "hashes have it (tests/maps/test_maps.c)");
	cr_expect_eq(bpfvm_map_update(h, NULL, got, 0), -EINVAL, "keyed maps still need a key");
	/* Queue helpers given another map type (a checked run may) fail safely. */
	cr_expect_eq(map_helper_push((uintptr_t)h, (uintptr_t)v, 0, 0, 0), (uint64_t)-EINVAL);
	cr_expect_eq(map_helper_pop((uintptr_t)h, (uintptr_t)got, 0, 0, 0), (uint64_t)-EINVAL);
	cr_expect_eq(map_helper_peek((uintptr_t)h, (uintptr_t)got, 0, 0, 0), (uint64_t)-EINVAL);
	bpfvm_map_put(h);
	bpfvm_map *ro = t_map(vm, BPFVM_MAP_QUEUE, 0, 8, 2, BPFVM_F_RDONLY_PROG);
	cr_expect_eq(map_helper_push((uintptr_t)ro, (uintptr_t)v, 0, 0, 0), (uint64_t)-EPERM, "read-only to programs");
	cr_expect_eq(bpfvm_map_update(ro, NULL, v, 0), 0, "the host may still push");
	cr_expect_eq(map_helper_pop((uintptr_t)ro, (uintptr_t)got, 0, 0, 0), (uint64_t)-EPERM);
	cr_expect_eq(map_helper_peek((uintptr_t)ro, (uintptr_t)got, 0, 0, 0), 0);
	bpfvm_map_put(ro);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* Input {u64 x}: push x and x+1 (with BPF_EXIST), peek into fp-16, pop into
 * fp-24; returns peeked * 1000 + popped, or 1e6 + the error. */
static const char qs_prog[] =
	"ldxdw %%r6, [%%r1+0]\n"
	"stxdw [%%r10-8], %%r6\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %%r10\n"
	"add %%r2, -8\n"
	"mov %%r3, 2\n"
	"call 87\n"
	"jne %%r0, 0, +25\n"
	"add %%r6, 1\n"
	"stxdw [%%r10-8], %%r6\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %%r10\n"
	"add %%r2, -8\n"
	"mov %%r3, 2\n"
	"call 87\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %%r10\n"
	"add %%r2, -16\n"
	"call 89\n"
	"jne %%r0, 0, +11\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %%r10\n"
	"add %%r2, -24\n"
	"call 88\n"
	"jne %%r0, 0, +5\n"
	"ldxdw %%r0, [%%r10-16]\n"
	"mul %%r0, 1000\n"
	"ldxdw %%r1, [%%r10-24]\n"
	"add %%r0, %%r1\n"
	"exit\n"
	"add %%r0, 1000000\n"
	"exit\n";

static void run_prog(uint32_t type, uint32_t engine, uint64_t expect_first, uint64_t expect_second)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, type, 0, 8, 4, 0);
	int fd = bpfvm_map_fd(m);
	char text[4096], err[256], log[4096] = "";
	snprintf(text, sizeof(text), qs_prog, fd, fd, fd, fd);
	struct bpf_insn *insns;
	size_t n;
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "asm: %s", err);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .engine = engine, .mem_size = 8, .log_buf = log,
	                             .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &o, &p), 0, "%s", log);
	free(insns);
	uint64_t x = 10, r0 = 0;
	cr_assert_eq(bpfvm_prog_run(p, &x, sizeof(x), &r0), 0);
	cr_expect_eq(r0, expect_first, "%s: got %llu", type == BPFVM_MAP_QUEUE ? "queue" : "stack",
	             (unsigned long long)r0);
	x = 20;
	cr_assert_eq(bpfvm_prog_run(p, &x, sizeof(x), &r0), 0);
	cr_expect_eq(r0, expect_second, "second run: got %llu", (unsigned long long)r0);
	uint64_t v;
	/* the host sees what the programs left */
	cr_expect_eq(bpfvm_map_lookup_and_delete(m, NULL, &v, 0), 0);
	bpfvm_prog_put(p);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* queue: push 10, 11; peek 10, pop 10 -> 10010; then 11 20 21: peek/pop 11 -> 11011
 * stack: push 10, 11; peek 11, pop 11 -> 11011; then 10 20 21: 21021 */
Test(queue_stack, programs_interp)
{
	run_prog(BPFVM_MAP_QUEUE, BPFVM_ENGINE_INTERP, 10010, 11011);
	run_prog(BPFVM_MAP_STACK, BPFVM_ENGINE_INTERP, 11011, 21021);
}
Test(queue_stack, programs_jit)
{
	run_prog(BPFVM_MAP_QUEUE, BPFVM_ENGINE_JIT, 10010, 11011);
	run_prog(BPFVM_MAP_STACK, BPFVM_ENGINE_JIT, 11011, 21021);
}
