/*
 * Ring buffer stress (suite 'stress'): producer threads run verified
 * programs (interpreter and JIT) that reserve, fill and submit or discard
 * records of several sizes, or bpf_ringbuf_output them, into one small
 * ring buffer that fills and wraps constantly; one consumer thread polls.
 * The consumer checks every record: whole (its check word), never a
 * discarded one, and in each producer's order.  At the end every
 * submitted record has been consumed exactly once.  ASan and TSan check
 * the rest.  Usage: ringbuf_stress [seconds].
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asm.h"
#include "bpfvm.h"
#include "stress.h"

#define NPROD 3
#define RB_SIZE (16 * 1024)
#define CHECK_XOR 0x5a5a

static atomic_bool stop;
static bpfvm_map *rb;

/* Input {tid, seq}.  Reserves SZ bytes and writes tid, seq and a check
 * word at the end; discards when seq % 7 == 0; returns 1 if it reserved. */
static const char reserve_prog[] =
	"ldxdw %%r6, [%%r1+0]\n"
	"ldxdw %%r7, [%%r1+8]\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %d\n"
	"mov %%r3, 0\n"
	"call 131\n"
	"jeq %%r0, 0, +17\n"
	"stxdw [%%r0+0], %%r6\n"
	"stxdw [%%r0+8], %%r7\n"
	"mov %%r8, %%r6\n"
	"xor %%r8, %%r7\n"
	"xor %%r8, %d\n"
	"stxdw [%%r0+%d], %%r8\n"
	"mov %%r1, %%r0\n"
	"mov %%r2, 0\n"
	"mov %%r8, %%r7\n"
	"mod %%r8, 7\n"
	"jeq %%r8, 0, +3\n"
	"call 132\n"
	"mov %%r0, 1\n"
	"exit\n"
	"call 133\n"
	"mov %%r0, 1\n"
	"exit\n"
	"mov %%r0, 0\n"
	"exit\n";

/* The same 24-byte record through bpf_ringbuf_output: 1 if written. */
static const char output_prog[] =
	"ldxdw %%r6, [%%r1+0]\n"
	"ldxdw %%r7, [%%r1+8]\n"
	"stxdw [%%r10-24], %%r6\n"
	"stxdw [%%r10-16], %%r7\n"
	"mov %%r8, %%r6\n"
	"xor %%r8, %%r7\n"
	"xor %%r8, %d\n"
	"stxdw [%%r10-8], %%r8\n"
	"lddw %%r1, map_fd(%d)\n"
	"mov %%r2, %%r10\n"
	"add %%r2, -24\n"
	"mov %%r3, 24\n"
	"mov %%r4, 0\n"
	"call 130\n"
	"mov %%r1, %%r0\n"
	"mov %%r0, 1\n"
	"jeq %%r1, 0, +1\n"
	"mov %%r0, 0\n"
	"exit\n";

static const uint32_t sizes[] = { 32, 40, 200 }; /* output writes 24 */
#define NPROGS 4 /* three reserve sizes, then output */
static bpfvm_prog *progs[2][NPROGS]; /* [engine] */

static bpfvm_prog *load(bpfvm *vm, const char *text, uint32_t engine)
{
	char err[256], log[2048] = "";
	struct bpf_insn *insns;
	size_t n;
	if (vm_asm(text, strlen(text), &insns, &n, err, sizeof(err))) {
		fprintf(stderr, "ringbuf_stress: asm: %s\n", err);
		exit(1);
	}
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .engine = engine, .mem_size = 16, .log_buf = log,
	                             .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &o, &p);
	free(insns);
	if (rc) {
		fprintf(stderr, "ringbuf_stress: load: %s\n%s\n", bpfvm_strerror(rc), log);
		exit(1);
	}
	return p;
}

struct producer {
	pthread_t t;
	uint64_t tid;
	long submitted, full;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint64_t in[2] = { p->tid, 0 };
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t seq = ++in[1];
		unsigned k = (unsigned)(seq % NPROGS);
		uint64_t r0 = 0;
		int rc = bpfvm_prog_run(progs[p->tid & 1][k], in, sizeof(in), &r0);
		CHECK(rc == 0, "run: %s", bpfvm_strerror(rc));
		if (!r0)
			p->full++;
		else if (k == NPROGS - 1 || seq % 7)
			p->submitted++;
	}
	return NULL;
}

struct consumer {
	uint64_t last_seq[NPROD];
	long consumed[NPROD];
};

static int check_record(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	uint64_t w[3];
	CHECK(size == 24 || size == sizes[0] || size == sizes[1] || size == sizes[2], "record of %zu bytes", size);
	if (size < 16)
		return 0;
	memcpy(w, data, 16);
	memcpy(&w[2], (char *)data + size - 8, 8);
	uint64_t tid = w[0], seq = w[1];
	CHECK(tid < NPROD, "record from producer %llu", (unsigned long long)tid);
	if (tid >= NPROD)
		return 0;
	CHECK(w[2] == (tid ^ seq ^ CHECK_XOR), "torn record: tid %llu seq %llu check %llx", (unsigned long long)tid,
	      (unsigned long long)seq, (unsigned long long)w[2]);
	CHECK(seq % 7 || size == 24, "a discarded record (seq %llu) was delivered", (unsigned long long)seq);
	CHECK(seq > c->last_seq[tid], "producer %llu: seq %llu after %llu (out of reservation order)",
	      (unsigned long long)tid, (unsigned long long)seq, (unsigned long long)c->last_seq[tid]);
	c->last_seq[tid] = seq;
	c->consumed[tid]++;
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	bpfvm *vm;
	if (bpfvm_create(NULL, &vm))
		return 1;
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_RINGBUF, .max_entries = RB_SIZE,
	                            .spin_lock_off = -1, .name = "rb" };
	if (bpfvm_map_create(vm, &a, &rb))
		return 1;
	char text[4096];
	for (int e = 0; e < 2; e++) {
		for (int k = 0; k < NPROGS - 1; k++) {
			snprintf(text, sizeof(text), reserve_prog, bpfvm_map_fd(rb), sizes[k], CHECK_XOR, sizes[k] - 8);
			progs[e][k] = load(vm, text, e ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP);
		}
		snprintf(text, sizeof(text), output_prog, CHECK_XOR, bpfvm_map_fd(rb));
		progs[e][NPROGS - 1] = load(vm, text, e ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP);
	}

	struct producer prod[NPROD];
	for (int i = 0; i < NPROD; i++) {
		prod[i] = (struct producer){ .tid = (uint64_t)i };
		pthread_create(&prod[i].t, NULL, produce, &prod[i]);
	}
	struct consumer c = { 0 };
	long polls = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int n = bpfvm_ringbuf_poll(rb, check_record, &c, 10);
		CHECK(n >= 0, "poll: %s", bpfvm_strerror(n));
		polls++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	atomic_store(&stop, true);
	for (int i = 0; i < NPROD; i++)
		pthread_join(prod[i].t, NULL);
	/* Everything committed is visible now: drain it. */
	int n = bpfvm_ringbuf_consume(rb, check_record, &c);
	CHECK(n >= 0, "final consume: %s", bpfvm_strerror(n));

	long total = 0, full = 0;
	for (int i = 0; i < NPROD; i++) {
		CHECK(c.consumed[i] == prod[i].submitted, "producer %d: submitted %ld, consumed %ld", i, prod[i].submitted,
		      c.consumed[i]);
		total += c.consumed[i];
		full += prod[i].full;
	}
	CHECK(total > 0, "nothing was consumed");
	printf("ringbuf_stress: %.1f s, %d producers, %ld records consumed, %ld reservations found the ring full, "
	       "%ld polls, %ld failures\n", secs, NPROD, total, full, polls, atomic_load(&failures));
	for (int e = 0; e < 2; e++)
		for (int k = 0; k < NPROGS; k++)
			bpfvm_prog_put(progs[e][k]);
	bpfvm_map_put(rb);
	bpfvm_destroy(vm);
	return atomic_load(&failures) ? 1 : 0;
}
