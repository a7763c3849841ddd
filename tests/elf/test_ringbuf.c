/*
 * progs/ringbuf.bpf.c: a BTF `.maps` ring buffer (key and value sizes 0)
 * loads from a clang-compiled object, its program verifies and runs on
 * both engines, and the host consumes what it produced.
 */
#include <string.h>

#include "util.h"

struct event {
	uint64_t seq, avail;
	char tag[8];
};

struct got {
	int n;
	struct event ev[8];
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct got *g = ctx;
	cr_assert_eq(size, sizeof(struct event));
	if (g->n < 8)
		memcpy(&g->ev[g->n], data, size);
	g->n++;
	return 0;
}

static void run_engine(uint32_t engine)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_obj *obj = t_load(vm, "ringbuf.o", engine);
	bpfvm_map *rb = bpfvm_obj_map(obj, "events");
	cr_assert(rb);
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	cr_assert_eq(bpfvm_map_info(rb, &info), 0);
	cr_expect_eq(info.type, BPFVM_MAP_RINGBUF);
	cr_expect_eq(info.max_entries, 4096);
	cr_expect_eq(info.key_size, 0);
	cr_expect_eq(info.value_size, 0);
	bpfvm_prog *p = bpfvm_obj_prog(obj, "produce");
	cr_assert(p);
	uint8_t in[64] = { 0 };
	uint64_t r0 = 99;
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(bpfvm_prog_run(p, in, sizeof(in), &r0), 0);
		cr_expect_eq(r0, 0, "run %d: step %llu failed", i, (unsigned long long)r0);
	}
	struct got g = { 0 };
	cr_expect_eq(bpfvm_ringbuf_consume(rb, on_sample, &g), 4, "two submitted + two output; discards skipped");
	cr_expect_eq(g.ev[0].seq, 1);
	cr_expect_eq(g.ev[0].avail, 32, "the reserved record itself: 8-byte header + 24");
	cr_expect_str_eq(g.ev[0].tag, "reserve");
	cr_expect_eq(g.ev[1].seq, 2);
	cr_expect_eq(g.ev[1].avail, 4096);
	cr_expect_str_eq(g.ev[1].tag, "output");
	cr_expect_eq(g.ev[2].seq, 3);
	cr_expect_eq(g.ev[3].seq, 4);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_ringbuf, interp) { run_engine(BPFVM_ENGINE_INTERP); }
Test(elf_ringbuf, jit) { run_engine(BPFVM_ENGINE_JIT); }

/* progs/queue_stack.bpf.c: keyless BTF map definitions load; push with
 * BPF_EXIST on a full queue/stack drops the oldest element. */
static void qs_engine(uint32_t engine)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_obj *obj = t_load(vm, "queue_stack.o", engine);
	bpfvm_map *fifo = bpfvm_obj_map(obj, "fifo"), *lifo = bpfvm_obj_map(obj, "lifo");
	cr_assert(fifo && lifo);
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	cr_assert_eq(bpfvm_map_info(lifo, &info), 0);
	cr_expect_eq(info.type, BPFVM_MAP_STACK);
	cr_expect_eq(info.key_size, 0);
	cr_expect_eq(info.value_size, 8);
	uint8_t in[8] = { 0 };
	uint64_t r0 = 0;
	cr_assert_eq(bpfvm_prog_run(bpfvm_obj_prog(obj, "qs"), in, sizeof(in), &r0), 0);
	/* fifo 2,3,4,5 (1 dropped): pop 2; lifo 2,3,4,5: pop 5, peek 4 */
	cr_expect_eq(r0, 254, "got %llu", (unsigned long long)r0);
	uint64_t v;
	cr_expect_eq(bpfvm_map_lookup_and_delete(fifo, NULL, &v, 0), 0);
	cr_expect_eq(v, 3);
	cr_expect_eq(bpfvm_map_lookup(lifo, NULL, &v, 0), 0);
	cr_expect_eq(v, 4);
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
}

Test(elf_queue_stack, interp) { qs_engine(BPFVM_ENGINE_INTERP); }
Test(elf_queue_stack, jit) { qs_engine(BPFVM_ENGINE_JIT); }
