/*
 * Shared by the stress drivers: CHECK counts a failed condition in
 * `failures` (the driver exits nonzero when it is not 0) and prints where,
 * the first 20 times; rnd is a small xorshift generator, one state per
 * thread.
 */
#ifndef BPFVM_TEST_STRESS_H
#define BPFVM_TEST_STRESS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

static atomic_long failures;

#define CHECK(c, ...)                                                          \
	do {                                                                   \
		if (!(c) && atomic_fetch_add(&failures, 1) < 20) {            \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);        \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
