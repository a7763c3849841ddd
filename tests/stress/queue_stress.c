/*
 * Queue/stack stress (suite 'stress'): pusher threads (host API and
 * programs) against popper threads (programs, both engines) on one small
 * queue and one small stack.  Every value is unique; at the end the values
 * popped plus those left equal the values pushed (sum and xor), and each
 * popper saw each pusher's values in increasing order from the queue
 * (FIFO is linearizable).  ASan and TSan check the rest.
 * Usage: queue_stress [seconds].
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

#define NPUSH 2
#define NPOP 2

static atomic_bool stop;
static bpfvm_map *maps[2]; /* queue, stack */
static bpfvm_prog *pop_prog[2][2], *push_prog[2]; /* [map][engine], [map] */

/* pops into fp-8: returns the value, or 0 when empty */
static const char pop_text[] =
	"lddw %%r1, map_fd(%d)\nmov %%r2, %%r10\nadd %%r2, -8\ncall 88\njne %%r0, 0, +2\nldxdw %%r0, [%%r10-8]\nexit\n"
	"mov %%r0, 0\nexit\n";
/* pushes the input u64: returns 0 or the error */
static const char push_text[] =
	"ldxdw %%r6, [%%r1+0]\nstxdw [%%r10-8], %%r6\nlddw %%r1, map_fd(%d)\nmov %%r2, %%r10\nadd %%r2, -8\nmov %%r3, 0\n"
	"call 87\nexit\n";

static bpfvm_prog *load(bpfvm *vm, const char *fmt, int fd, uint32_t engine)
{
	char text[1024], err[256], log[2048] = "";
	snprintf(text, sizeof(text), fmt, fd);
	struct bpf_insn *insns;
	size_t n;
	if (vm_asm(text, strlen(text), &insns, &n, err, sizeof(err))) {
		fprintf(stderr, "queue_stress: asm: %s\n", err);
		exit(1);
	}
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .engine = engine, .mem_size = 8, .log_buf = log,
	                             .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &o, &p);
	free(insns);
	if (rc) {
		fprintf(stderr, "queue_stress: load: %s\n%s\n", bpfvm_strerror(rc), log);
		exit(1);
	}
	return p;
}

struct totals {
	uint64_t sum, xor;
	long n;
};

struct pusher {
	pthread_t t;
	uint64_t id;
	struct totals pushed[2];
};

static void *push_loop(void *arg)
{
	struct pusher *p = arg;
	for (uint64_t seq = 1; !atomic_load_explicit(&stop, memory_order_relaxed); seq++) {
		int which = (int)(seq & 1);
		uint64_t v = (p->id << 40) | seq, r0 = 0;
		int rc;
		if (p->id & 1) { /* through a program */
			rc = bpfvm_prog_run(push_prog[which], &v, sizeof(v), &r0);
			CHECK(rc == 0, "run: %s", bpfvm_strerror(rc));
			rc = (int)(int64_t)r0;
		} else {
			rc = bpfvm_map_update(maps[which], NULL, &v, BPFVM_ANY);
		}
		CHECK(rc == 0 || rc == -E2BIG, "push: %d", rc);
		if (rc == 0) {
			p->pushed[which].sum += v;
			p->pushed[which].xor ^= v;
			p->pushed[which].n++;
		}
	}
	return NULL;
}

struct popper {
	pthread_t t;
	int engine;
	struct totals popped[2];
	uint64_t last[NPUSH + 1];
};

static void *pop_loop(void *arg)
{
	struct popper *p = arg;
	for (uint64_t i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		int which = (int)(i & 1);
		uint64_t r0 = 0, in = 0;
		int rc = bpfvm_prog_run(pop_prog[which][p->engine], &in, sizeof(in), &r0);
		CHECK(rc == 0, "run: %s", bpfvm_strerror(rc));
		if (!r0)
			continue;
		uint64_t id = r0 >> 40, seq = r0 & ((1ull << 40) - 1);
		CHECK(id >= 1 && id <= NPUSH, "popped a value no one pushed: %llx", (unsigned long long)r0);
		if (which == 0 && id >= 1 && id <= NPUSH) {
			CHECK(seq > p->last[id], "queue: pusher %llu's %llu after %llu", (unsigned long long)id,
			      (unsigned long long)seq, (unsigned long long)p->last[id]);
			p->last[id] = seq;
		}
		p->popped[which].sum += r0;
		p->popped[which].xor ^= r0;
		p->popped[which].n++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	bpfvm *vm;
	if (bpfvm_create(NULL, &vm))
		return 1;
	for (int m = 0; m < 2; m++) {
		struct bpfvm_map_attr a = { .sz = sizeof(a), .type = m ? BPFVM_MAP_STACK : BPFVM_MAP_QUEUE, .value_size = 8,
		                            .max_entries = 64, .spin_lock_off = -1 };
		if (bpfvm_map_create(vm, &a, &maps[m]))
			return 1;
		for (int e = 0; e < 2; e++)
			pop_prog[m][e] = load(vm, pop_text, bpfvm_map_fd(maps[m]), e ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP);
		push_prog[m] = load(vm, push_text, bpfvm_map_fd(maps[m]), BPFVM_ENGINE_INTERP);
	}
	struct pusher pu[NPUSH];
	struct popper po[NPOP];
	for (int i = 0; i < NPUSH; i++) {
		pu[i] = (struct pusher){ .id = (uint64_t)i + 1 };
		pthread_create(&pu[i].t, NULL, push_loop, &pu[i]);
	}
	for (int i = 0; i < NPOP; i++) {
		po[i] = (struct popper){ .engine = i & 1 };
		pthread_create(&po[i].t, NULL, pop_loop, &po[i]);
	}
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < NPUSH; i++)
		pthread_join(pu[i].t, NULL);
	for (int i = 0; i < NPOP; i++)
		pthread_join(po[i].t, NULL);

	long moved = 0;
	for (int m = 0; m < 2; m++) {
		struct totals in = { 0 }, out = { 0 };
		for (int i = 0; i < NPUSH; i++) {
			in.sum += pu[i].pushed[m].sum;
			in.xor ^= pu[i].pushed[m].xor;
			in.n += pu[i].pushed[m].n;
		}
		for (int i = 0; i < NPOP; i++) {
			out.sum += po[i].popped[m].sum;
			out.xor ^= po[i].popped[m].xor;
			out.n += po[i].popped[m].n;
		}
		uint64_t v;
		while (bpfvm_map_lookup_and_delete(maps[m], NULL, &v, 0) == 0) {
			out.sum += v;
			out.xor ^= v;
			out.n++;
		}
		CHECK(in.n == out.n && in.sum == out.sum && in.xor == out.xor,
		      "%s: pushed %ld values, popped or left %ld (sums %s)", m ? "stack" : "queue", in.n, out.n,
		      in.sum == out.sum ? "equal" : "differ");
		moved += in.n;
	}
	CHECK(moved > 0, "nothing was pushed");
	printf("queue_stress: %.1f s, %d pushers, %d poppers, %ld values through, %ld failures\n", secs, NPUSH, NPOP, moved,
	       atomic_load(&failures));
	for (int m = 0; m < 2; m++) {
		for (int e = 0; e < 2; e++)
			bpfvm_prog_put(pop_prog[m][e]);
		bpfvm_prog_put(push_prog[m]);
		bpfvm_map_put(maps[m]);
	}
	bpfvm_destroy(vm);
	return atomic_load(&failures) ? 1 : 0;
}
