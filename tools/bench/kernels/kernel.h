/*
 * Common frame of the benchmark kernels.
 *
 * Each kernel is one C function `uint64_t k(uint8_t *mem, uint64_t len)` in
 * its own file, compiled three times from the same source:
 *   - for BPF (clang-19 -O2 -mcpu=v4 -target bpf): the function is put alone
 *     in section "kernel", whose raw bytes llvm-objcopy extracts into a
 *     .bin that vm_bench loads with bpfvm_prog_load();
 *   - natively with gcc -O2 and with clang-19 -O2, named
 *     bench_<kernel>_<KERNEL_SUFFIX> (gcc / clang), linked into vm_bench.
 *
 * The BPF build has no loader behind it, so a kernel must be one
 * self-contained function: no calls (helpers marked always_inline), no
 * global or static data (which would need relocations), no constant tables
 * (.rodata), no struct copies (memcpy calls).  vm_bench rejects a .bin with
 * a call or a relocated lddw.
 *
 * Inputs: the first KERNEL_HDR bytes of mem hold the kernel's parameters as
 * little-endian u32 words (so no compiler can fold the work away); data
 * follows.  Every kernel clamps its parameters to len, and leaves its input
 * region untouched, so that running it again on the same buffer does the
 * same work and returns the same value: the runner times repeated runs on
 * one buffer without resetting it.
 */
#ifndef BENCH_KERNEL_H
#define BENCH_KERNEL_H

#if defined(__bpf__)
/* No libc headers for the BPF target: the compiler's own type macros. */
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
#else
#include <stdint.h>
#endif

#define KERNEL_HDR 64u

#define KERNEL_CAT_(a, b, c) a##b##c
#define KERNEL_CAT(a, b, c) KERNEL_CAT_(a, b, c)

#if defined(__bpf__)
#define KERNEL(name) \
	__attribute__((section("kernel"), used)) uint64_t bench_##name(uint8_t *mem, uint64_t len)
#else
#ifndef KERNEL_SUFFIX
#error "native kernel builds define KERNEL_SUFFIX (gcc or clang)"
#endif
/* noinline and external: the runner calls it through a pointer anyway, but a
 * kernel must never be specialised for the runner's constants. */
#define KERNEL(name) \
	__attribute__((noinline)) uint64_t KERNEL_CAT(bench_##name, _, KERNEL_SUFFIX)( \
		uint8_t *mem, uint64_t len); \
	__attribute__((noinline)) uint64_t KERNEL_CAT(bench_##name, _, KERNEL_SUFFIX)( \
		uint8_t *mem, uint64_t len)
#endif

#define KINLINE static inline __attribute__((always_inline))

/* Parameter word i of the header. */
KINLINE uint32_t kparam(const uint8_t *mem, unsigned i)
{
	return *(const uint32_t *)(mem + 4 * i);
}

/* Largest count of `elem`-byte items that fit in len bytes after `off`. */
KINLINE uint64_t kfit(uint64_t len, uint64_t off, uint64_t elem)
{
	return len > off ? (len - off) / elem : 0;
}

#endif
