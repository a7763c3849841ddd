/*
 * RCU torture test (suite 'stress'), bounded in time.
 *
 * Readers of both flavours repeatedly dereference RCU-protected pointers
 * and check that the object they reach is live and self-consistent, while
 * writers swap in new versions and retire the old ones through rcu_call /
 * rcu_tt_call (poison, then free) or synchronize + poison + free.  Freed
 * objects go through a delay ring before free() so that, without ASan, a
 * reader touching a retired object finds the poison rather than reused
 * memory; under ASan the free itself catches it.  Short-lived threads
 * join and exit without unregistering meanwhile.
 *
 * Usage: rcu_torture [seconds]   (default 5; exit 0 when clean)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "rcu.h"

#define NSLOTS 8
#define NPAYLOAD 6
#define LIVE 0x11fe11feULL
#define DEAD 0xdeadULL
#define RING 256

struct obj {
	_Atomic uint64_t magic;   /* atomic: poisoning races with buggy readers by design */
	uint64_t gen;
	uint64_t payload[NPAYLOAD];
	struct rcu_head rh;
};

static _Atomic(struct obj *) slots[2][NSLOTS];   /* [flavour][slot] */
static atomic_int stop;
static atomic_long errors, reads[2], retired, freed;

/* Objects poisoned by callbacks wait here before free(). */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj *ring[RING];
static unsigned ring_pos;

static void ring_free(struct obj *o)
{
	struct obj *old;
	pthread_mutex_lock(&ring_lock);
	old = ring[ring_pos];
	ring[ring_pos] = o;
	ring_pos = (ring_pos + 1) % RING;
	pthread_mutex_unlock(&ring_lock);
	free(old);
	atomic_fetch_add(&freed, 1);
}

static struct obj *obj_new(uint64_t gen)
{
	struct obj *o = malloc(sizeof(*o));
	if (!o)
		abort();
	o->gen = gen;
	for (int i = 0; i < NPAYLOAD; i++)
		o->payload[i] = gen * (i + 3);
	atomic_store_explicit(&o->magic, LIVE, memory_order_relaxed);
	return o;
}

static void retire(struct obj *o)
{
	atomic_store_explicit(&o->magic, DEAD, memory_order_relaxed);
	ring_free(o);
}

static void retire_cb(struct rcu_head *h)
{
	retire((struct obj *)((char *)h - offsetof(struct obj, rh)));
}

static void check(struct obj *o, int f)
{
	uint64_t m = atomic_load_explicit(&o->magic, memory_order_relaxed);
	if (m != LIVE) {
		atomic_fetch_add(&errors, 1);
		fprintf(stderr, "rcu_torture: flavour %d reader reached a retired object (magic %#llx)\n",
		        f, (unsigned long long)m);
		return;
	}
	for (int i = 0; i < NPAYLOAD; i++)
		if (o->payload[i] != o->gen * (i + 3)) {
			atomic_fetch_add(&errors, 1);
			fprintf(stderr, "rcu_torture: corrupt payload in gen %llu\n", (unsigned long long)o->gen);
			return;
		}
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void *reader(void *arg)
{
	int f = (int)(intptr_t)arg;
	uint32_t seed = 0x9e3779b9u ^ (uint32_t)(uintptr_t)&seed;
	long n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned s = xorshift(&seed) % NSLOTS;
		if (f == 0)
			rcu_read_lock();
		else
			rcu_tt_read_lock();
		struct obj *o = atomic_load_explicit(&slots[f][s], memory_order_acquire);
		check(o, f);
		if ((n & 7) == 0) {   /* nested section on another slot */
			if (f == 0)
				rcu_read_lock();
			else
				rcu_tt_read_lock();
			check(atomic_load_explicit(&slots[f][(s + 1) % NSLOTS], memory_order_acquire), f);
			if (f == 0)
				rcu_read_unlock();
			else
				rcu_tt_read_unlock();
		}
		if (f == 1 && (n & 255) == 0)
			usleep(50);   /* tt sections may sleep */
		for (int i = 0; i < 20; i++)   /* keep the section open a little */
			__asm__ __volatile__("" ::: "memory");
		check(o, f);
		if (f == 0)
			rcu_read_unlock();
		else
			rcu_tt_read_unlock();
		n++;
	}
	atomic_fetch_add(&reads[f], n);
	return NULL;
}

static void *writer(void *arg)
{
	int f = (int)(intptr_t)arg;
	uint32_t seed = 0x12345u + f;
	uint64_t gen = 1000000 * (f + 1);

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned s = xorshift(&seed) % NSLOTS;
		struct obj *old = atomic_exchange_explicit(&slots[f][s], obj_new(gen++), memory_order_acq_rel);
		atomic_fetch_add(&retired, 1);
		if (xorshift(&seed) % 16 == 0) {
			if (f == 0)
				rcu_synchronize();
			else
				rcu_tt_synchronize();
			retire(old);
		} else if (f == 0) {
			rcu_call(&old->rh, retire_cb);
		} else {
			rcu_tt_call(&old->rh, retire_cb);
		}
		if (xorshift(&seed) % 4096 == 0) {
			if (f == 0)
				rcu_barrier();
			else
				rcu_tt_barrier();
		}
		if (f == 1)
			usleep(20);   /* tt writers are rarer; let tt readers run */
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		rcu_read_lock();
		check(atomic_load_explicit(&slots[0][i % NSLOTS], memory_order_acquire), 0);
		rcu_read_unlock();
	}
	return NULL;   /* exits registered: the key destructor unregisters */
}

static void *thread_churn(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, NULL) == 0)
			pthread_join(t, NULL);
		usleep(1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	pthread_t r[4], w[3], churn;

	for (int f = 0; f < 2; f++)
		for (int s = 0; s < NSLOTS; s++)
			atomic_store(&slots[f][s], obj_new(s));
	for (int i = 0; i < 4; i++)
		pthread_create(&r[i], NULL, reader, (void *)(intptr_t)(i < 3 ? 0 : 1));
	for (int i = 0; i < 3; i++)
		pthread_create(&w[i], NULL, writer, (void *)(intptr_t)(i < 2 ? 0 : 1));
	pthread_create(&churn, NULL, thread_churn, NULL);

	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(r[i], NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(w[i], NULL);
	pthread_join(churn, NULL);

	/* Teardown: everything queued runs, then the current objects and
	 * the delay ring go; LeakSanitizer checks nothing is left. */
	rcu_shutdown();
	for (int f = 0; f < 2; f++)
		for (int s = 0; s < NSLOTS; s++)
			retire(atomic_load(&slots[f][s]));
	for (int i = 0; i < RING; i++)
		free(ring[i]);

	printf("rcu_torture: %.1f s, %ld normal reads, %ld tt reads, %ld retired, %ld freed, %ld errors, membarrier %s\n",
	       secs, atomic_load(&reads[0]), atomic_load(&reads[1]), atomic_load(&retired),
	       atomic_load(&freed), atomic_load(&errors), getenv("BPFVM_RCU_NO_MEMBARRIER") ? "off" : "auto");
	if (atomic_load(&retired) + 2 * NSLOTS != atomic_load(&freed)) {
		fprintf(stderr, "rcu_torture: %ld objects retired but %ld went through their callback\n",
		        atomic_load(&retired) + 2 * NSLOTS, atomic_load(&freed));
		return 1;
	}
	return atomic_load(&errors) ? 1 : 0;
}
