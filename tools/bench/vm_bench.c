/*
 * vm_bench: runs the compute kernels of tools/bench/kernels on each bpfvm
 * engine and natively (gcc -O2 and clang-19 -O2, the faster one being
 * "native"), checks that every engine returns native's result, and prints
 * ns per run and the ratio to native.  See docs/benchmarks.md.
 *
 * A benchmark tool, never a timed test: the default test suite runs it with
 * --verify-only, which checks results and measures nothing.
 *
 * Programs are loaded BPFVM_PROG_UNCHECKED (trusted code: no verifier, no
 * run-time checks), which is the fast path the verifier will unlock for
 * verified programs.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpfvm.h"
#include "isa.h"

#ifndef BENCH_KERNEL_DIR
#define BENCH_KERNEL_DIR "."
#endif

#define HDR 64u /* KERNEL_HDR of kernels/kernel.h */

typedef uint64_t (*native_fn)(uint8_t *mem, uint64_t len);

/* ---- kernel inputs ------------------------------------------------- */

/* A fixed generator so every run of vm_bench sees the same inputs. */
static uint64_t rng_state;
static uint32_t rng32(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 32);
}

static void put32(uint8_t *mem, unsigned i, uint32_t v)
{
	memcpy(mem + 4 * i, &v, 4);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng32();
}

/* Each setup writes the parameter header and the data of one kernel's
 * buffer (already zeroed, `len` bytes). */
static void setup_fib(uint8_t *mem, size_t len)
{
	(void)len;
	put32(mem, 0, 200000); /* n: far past the 2^64 wraparound at n = 93 */
	put32(mem, 1, 0);
	put32(mem, 2, 1);
}

static void setup_bytes(uint8_t *mem, size_t len)
{
	put32(mem, 0, (uint32_t)(len - HDR));
	fill_random(mem + HDR, len - HDR);
}

static void setup_isort(uint8_t *mem, size_t len)
{
	uint32_t n = (uint32_t)((len - HDR) / 8); /* input array + scratch array */
	put32(mem, 0, n);
	for (uint32_t i = 0; i < n; i++)
		put32(mem + HDR, i, rng32());
}

static void setup_sieve(uint8_t *mem, size_t len)
{
	put32(mem, 0, (uint32_t)(len - HDR));
}

#define MATMUL_N 32
static void setup_matmul(uint8_t *mem, size_t len)
{
	(void)len;
	put32(mem, 0, MATMUL_N);
	for (uint32_t i = 0; i < 2 * MATMUL_N * MATMUL_N; i++)
		put32(mem + HDR, i, rng32());
}

static void setup_collatz(uint8_t *mem, size_t len)
{
	(void)len;
	put32(mem, 0, 1000001); /* start */
	put32(mem, 1, 1000);    /* count */
}

static void setup_xorshift(uint8_t *mem, size_t len)
{
	(void)len;
	put32(mem, 0, 40000);      /* steps */
	put32(mem, 1, 2463534242u); /* seed */
}

/* The kernels: each has a <name>.bin (BPF) and two native functions built
 * by tools/bench/meson.build from kernels/<name>.c. */
#define BENCH_KERNELS(X) \
	X(fib, "iterative Fibonacci, n = 200000, mod 2^64", HDR, setup_fib) \
	X(crc32, "bitwise CRC-32 over 8 KiB", HDR + 8192, setup_bytes) \
	X(fnv1a, "64-bit FNV-1a over 64 KiB", HDR + 65536, setup_bytes) \
	X(isort, "insertion sort of 384 random u32", HDR + 384 * 8, setup_isort) \
	X(sieve, "sieve of Eratosthenes below 65536", HDR + 65536, setup_sieve) \
	X(matmul, "32x32 u32 matrix multiply", HDR + 3 * MATMUL_N * MATMUL_N * 4, setup_matmul) \
	X(collatz, "Collatz steps of 1000 starts from 1000001", HDR, setup_collatz) \
	X(xorshift, "40000 xorshift32 steps with / and %", HDR, setup_xorshift)

#define X(name, what, len, setup) \
	uint64_t bench_##name##_gcc(uint8_t *mem, uint64_t n); \
	uint64_t bench_##name##_clang(uint8_t *mem, uint64_t n);
BENCH_KERNELS(X)
#undef X

struct kernel {
	const char *name;
	const char *what;
	size_t len;
	void (*setup)(uint8_t *mem, size_t len);
	native_fn gcc, clang;
};

static const struct kernel kernels[] = {
#define X(name, what, len, setup) { #name, what, len, setup, bench_##name##_gcc, bench_##name##_clang },
	BENCH_KERNELS(X)
#undef X
};
#define NKERNELS (sizeof(kernels) / sizeof(kernels[0]))

/* ---- options -------------------------------------------------------- */

/* "checked" is the interpreter in checked mode (BPFVM_PROG_NO_VERIFY: every
 * access bounds-checked, an instruction budget): verified by default, timed
 * only when asked for with -e, since the targets are about the fast path. */
/* "jit-scalar" is the JIT without its loop vectorizer
 * (BPFVM_PROG_JIT_NO_VECTOR), timed only when asked for too. */
enum { ENG_INTERP, ENG_JIT, ENG_CHECKED, ENG_JIT_SCALAR, NENGINES };
static const char *const engine_names[NENGINES] = { "interp", "jit", "checked", "jit-scalar" };
static const uint32_t engine_ids[NENGINES] = {
	BPFVM_ENGINE_INTERP, BPFVM_ENGINE_JIT, BPFVM_ENGINE_INTERP, BPFVM_ENGINE_JIT };
static const uint32_t engine_flags[NENGINES] = {
	BPFVM_PROG_UNCHECKED, BPFVM_PROG_UNCHECKED, BPFVM_PROG_NO_VERIFY,
	BPFVM_PROG_UNCHECKED | BPFVM_PROG_JIT_NO_VECTOR };

static struct {
	const char *dir;
	bool want_kernel[NKERNELS];
	bool want_engine[NENGINES];
	bool json, quick, verify_only;
	unsigned samples;
	double cell_sec; /* time budget of one timed cell, all samples */
} opt;

/* ---- timing --------------------------------------------------------- */

/* The thread's CPU time, not wall time: on a shared machine, time spent
 * descheduled while other processes run would otherwise land in whichever
 * cell happened to be running (measured here: the same native kernel at
 * 72 us and 327 us per run under load with CLOCK_MONOTONIC). */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* What one timed cell runs: a native function or a loaded program. */
struct runner {
	native_fn fn;
	bpfvm_prog *prog;
};

/* Runs `iters` times on mem and returns the elapsed ns; *err is set when a
 * run fails or the last run returns something other than `expect`. */
static uint64_t run_iters(const struct runner *r, uint8_t *mem, size_t len, uint64_t iters,
                          uint64_t expect, int *err)
{
	uint64_t t0, t1, r0 = expect;
	*err = 0;
	if (r->fn) {
		/* volatile: the call must happen every iteration. */
		native_fn volatile fn = r->fn;
		t0 = now_ns();
		for (uint64_t i = 0; i < iters; i++)
			r0 = fn(mem, len);
		t1 = now_ns();
	} else {
		t0 = now_ns();
		for (uint64_t i = 0; i < iters && !*err; i++)
			*err = bpfvm_prog_run(r->prog, mem, len, &r0);
		t1 = now_ns();
	}
	if (!*err && r0 != expect)
		*err = -EDOM;
	return t1 - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One timed cell of a kernel's row: a native build or an engine. */
struct cell {
	struct runner r;
	double *ns_out;
	uint64_t iters;
	uint64_t s[64];
};

/* Warm-up, then the iteration count that makes one sample last about
 * cell_sec / samples. */
static int calibrate(struct cell *c, uint8_t *mem, size_t len, uint64_t expect)
{
	int err;
	uint64_t warm_ns = (uint64_t)(opt.cell_sec * 1e9 / 10), spent = 0, runs = 0;
	while (spent < warm_ns || runs < 2) {
		spent += run_iters(&c->r, mem, len, 1, expect, &err);
		runs++;
		if (err)
			return err;
	}
	double per_run = (double)spent / (double)runs;
	double sample_ns = opt.cell_sec * 1e9 / opt.samples;
	c->iters = per_run > 0 ? (uint64_t)(sample_ns / per_run) : 1;
	if (c->iters < 1)
		c->iters = 1;
	return 0;
}

/* Median ns per run of each cell over opt.samples samples.  The samples of
 * the cells are interleaved (round i times every cell once) so that a burst
 * of load from other processes hits native and VM alike and the ratios stay
 * meaningful.  Returns a negative errno on a failed or wrong run. */
static int measure(struct cell *cells, unsigned ncells, uint8_t *mem, size_t len, uint64_t expect)
{
	int err;
	for (unsigned c = 0; c < ncells; c++)
		if ((err = calibrate(&cells[c], mem, len, expect)))
			return err;
	unsigned n = opt.samples;
	for (unsigned i = 0; i < n; i++)
		for (unsigned c = 0; c < ncells; c++) {
			cells[c].s[i] = run_iters(&cells[c].r, mem, len, cells[c].iters, expect, &err);
			if (err)
				return err;
		}
	for (unsigned c = 0; c < ncells; c++) {
		uint64_t *v = cells[c].s;
		qsort(v, n, sizeof(v[0]), cmp_u64);
		double med = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
		*cells[c].ns_out = med / (double)cells[c].iters;
	}
	return 0;
}

/* ---- loading -------------------------------------------------------- */

/* Reads dir/<name>.bin; the caller frees *out. */
static int read_bin(const char *name, struct bpf_insn **out, size_t *ninsns)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.bin", opt.dir, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		fprintf(stderr, "vm_bench: %s: %s (build the benchmark with ninja, or pass --dir)\n",
		        path, strerror(e));
		return -e;
	}
	int err = 0;
	struct bpf_insn *insns = NULL;
	long sz;
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		err = -errno;
		fprintf(stderr, "vm_bench: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (sz == 0 || sz % 8) {
		err = -EINVAL;
		fprintf(stderr, "vm_bench: %s: %ld bytes is not a whole number of 8-byte instructions\n",
		        path, sz);
		goto out;
	}
	insns = malloc((size_t)sz);
	if (!insns) {
		err = -ENOMEM;
		goto out;
	}
	if (fread(insns, 1, (size_t)sz, f) != (size_t)sz) {
		err = -EIO;
		fprintf(stderr, "vm_bench: %s: short read\n", path);
		goto out;
	}
	/* Nothing here resolves calls or map references: a kernel that has
	 * them was built wrong (bpf_extract.sh refuses relocated ones). */
	for (size_t i = 0; i < (size_t)sz / 8; i++) {
		enum vm_op op = vm_decode(&insns[i]);
		if (op == VM_OP_INVALID)
			continue; /* second half of an lddw, or left to the loader to report */
		uint8_t fmt = vm_opinfo[op].fmt;
		if (fmt == FMT_CALL || fmt == FMT_CALL_LOCAL || fmt == FMT_CALLX ||
		    (fmt == FMT_LDDW && insns[i].src_reg != 0)) {
			err = -EINVAL;
			fprintf(stderr, "vm_bench: %s: instruction %zu is a %s; kernels must be one "
			        "self-contained function\n", path, i, vm_opinfo[op].mnemonic);
			goto out;
		}
		if (fmt == FMT_LDDW)
			i++;
	}
	*out = insns;
	*ninsns = (size_t)sz / 8;
	insns = NULL;
out:
	free(insns);
	fclose(f);
	return err;
}

/* Loads a kernel for one engine.  *prog is NULL (and 0 returned) when the
 * engine asked for is not the one the program runs on (the JIT fell back). */
static int load(bpfvm *vm, const struct kernel *k, const struct bpf_insn *insns, size_t n,
                int eng, bpfvm_prog **prog)
{
	char log[4096] = "";
	struct bpfvm_prog_opts po = {
		.sz = sizeof(po),
		.name = k->name,
		.flags = engine_flags[eng],
		.engine = engine_ids[eng],
		.log_buf = log,
		.log_size = sizeof(log),
		.log_level = BPFVM_LOG_ERRORS,
	};
	*prog = NULL;
	int err = bpfvm_prog_load(vm, insns, n, &po, prog);
	if (err) {
		fprintf(stderr, "vm_bench: %s: loading for %s failed: %s\n%s", k->name,
		        engine_names[eng], bpfvm_strerror(err), log);
		return err;
	}
	if (bpfvm_prog_engine(*prog) != engine_ids[eng]) {
		/* Said per kernel: with a JIT in the build, a fallback means it
		 * could not translate this program, which the table must not
		 * hide behind an empty cell. */
		fprintf(stderr, "vm_bench: note: %s: not run on %s: bpfvm_prog_engine() reports the "
		        "interpreter (no %s in this build, or it fell back)%s%s%s", k->name,
		        engine_names[eng], engine_names[eng], log[0] ? ":\n" : "\n", log,
		        log[0] && log[strlen(log) - 1] != '\n' ? "\n" : "");
		bpfvm_prog_put(*prog);
		*prog = NULL;
	}
	return 0;
}

/* ---- one kernel ----------------------------------------------------- */

struct result {
	uint64_t r0;
	double gcc_ns, clang_ns, native_ns;
	double ns[NENGINES];  /* 0: not measured */
	bool ran[NENGINES];   /* verified on this engine */
};

static int bench_kernel(bpfvm *vm, const struct kernel *k, struct result *res)
{
	int err = 0;
	struct bpf_insn *insns = NULL;
	size_t ninsns = 0;
	bpfvm_prog *progs[NENGINES] = { NULL };
	uint8_t *pristine = calloc(1, k->len), *mem = malloc(k->len);
	if (!pristine || !mem) {
		err = -ENOMEM;
		goto out;
	}
	rng_state = 0x6a09e667f3bcc908ull; /* same data whatever kernels are picked */
	k->setup(pristine, k->len);

	memset(res, 0, sizeof(*res));
	memcpy(mem, pristine, k->len);
	uint64_t want = k->gcc(mem, k->len);
	memcpy(mem, pristine, k->len);
	uint64_t want_clang = k->clang(mem, k->len);
	if (want != want_clang) {
		fprintf(stderr, "vm_bench: MISMATCH %s: gcc build returns %#llx, clang build %#llx "
		        "(undefined behaviour in the kernel?)\n", k->name,
		        (unsigned long long)want, (unsigned long long)want_clang);
		err = -EDOM;
		goto out;
	}
	res->r0 = want;

	err = read_bin(k->name, &insns, &ninsns);
	if (err)
		goto out;

	struct cell cells[2 + NENGINES];
	unsigned ncells = 0;
	cells[ncells++] = (struct cell){ .r.fn = k->gcc, .ns_out = &res->gcc_ns };
	cells[ncells++] = (struct cell){ .r.fn = k->clang, .ns_out = &res->clang_ns };

	for (int e = 0; e < NENGINES; e++) {
		if (!opt.want_engine[e])
			continue;
		bpfvm_prog *prog;
		err = load(vm, k, insns, ninsns, e, &prog);
		if (err)
			goto out;
		if (!prog)
			continue;
		progs[e] = prog;
		uint64_t r0 = 0;
		memcpy(mem, pristine, k->len);
		err = bpfvm_prog_run(prog, mem, k->len, &r0);
		if (!err && r0 != want) {
			fprintf(stderr, "vm_bench: MISMATCH %s on %s: native returns %#llx, bpfvm %#llx\n",
			        k->name, engine_names[e], (unsigned long long)want, (unsigned long long)r0);
			err = -EDOM;
			goto out;
		}
		if (err) {
			fprintf(stderr, "vm_bench: %s on %s: run failed: %s\n", k->name, engine_names[e],
			        bpfvm_strerror(err));
			goto out;
		}
		res->ran[e] = true;
		cells[ncells++] = (struct cell){ .r.prog = prog, .ns_out = &res->ns[e] };
	}

	if (!opt.verify_only) {
		/* Every timed run checks its result too: the kernels are
		 * repeatable on one buffer (kernels/kernel.h). */
		memcpy(mem, pristine, k->len);
		err = measure(cells, ncells, mem, k->len, want);
		if (err == -EDOM)
			fprintf(stderr, "vm_bench: MISMATCH %s: a repeated run returned something other "
			        "than %#llx\n", k->name, (unsigned long long)want);
		else if (err)
			fprintf(stderr, "vm_bench: %s: a timed run failed: %s\n", k->name,
			        bpfvm_strerror(err));
		if (err)
			goto out;
		res->native_ns = res->gcc_ns < res->clang_ns ? res->gcc_ns : res->clang_ns;
	}
out:
	for (int e = NENGINES - 1; e >= 0; e--)
		if (progs[e])
			bpfvm_prog_put(progs[e]);
	free(insns);
	free(mem);
	free(pristine);
	return err;
}

/* ---- output --------------------------------------------------------- */

static void cpu_name(char *buf, size_t size)
{
	snprintf(buf, size, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 1 + strspn(c + 1, " \t");
			c[strcspn(c, "\n")] = 0;
			snprintf(buf, size, "%s", c);
			break;
		}
	}
	fclose(f);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_num(double v)
{
	if (v > 0)
		printf("%.1f", v);
	else
		printf("null");
}

static void print_results(const struct result *res, const bool *done)
{
	double logsum[NENGINES] = { 0 }, worst[NENGINES] = { 0 };
	unsigned cnt[NENGINES] = { 0 };
	for (size_t i = 0; i < NKERNELS; i++) {
		if (!done[i])
			continue;
		for (int e = 0; e < NENGINES; e++) {
			if (res[i].ns[e] <= 0 || res[i].native_ns <= 0)
				continue;
			double ratio = res[i].ns[e] / res[i].native_ns;
			logsum[e] += log(ratio);
			cnt[e]++;
			if (ratio > worst[e])
				worst[e] = ratio;
		}
	}
	double geo[NENGINES];
	for (int e = 0; e < NENGINES; e++)
		geo[e] = cnt[e] ? exp(logsum[e] / cnt[e]) : 0;
	char cpu[256];
	cpu_name(cpu, sizeof(cpu));

	if (opt.json) {
		printf("{\"cpu\": ");
		json_str(cpu);
		printf(", \"quick\": %s, \"verify_only\": %s, \"kernels\": [",
		       opt.quick ? "true" : "false", opt.verify_only ? "true" : "false");
		bool first = true;
		for (size_t i = 0; i < NKERNELS; i++) {
			if (!done[i])
				continue;
			const struct result *r = &res[i];
			printf("%s\n  {\"name\": \"%s\", \"r0\": %llu, \"native_gcc_ns\": ", first ? "" : ",",
			       kernels[i].name, (unsigned long long)r->r0);
			first = false;
			json_num(r->gcc_ns);
			printf(", \"native_clang_ns\": ");
			json_num(r->clang_ns);
			printf(", \"native_ns\": ");
			json_num(r->native_ns);
			for (int e = 0; e < NENGINES; e++) {
				printf(", \"%s_verified\": %s, \"%s_ns\": ", engine_names[e],
				       r->ran[e] ? "true" : "false", engine_names[e]);
				json_num(r->ns[e]);
				printf(", \"%s_ratio\": ", engine_names[e]);
				if (r->ns[e] > 0 && r->native_ns > 0)
					printf("%.3f", r->ns[e] / r->native_ns);
				else
					printf("null");
			}
			printf("}");
		}
		printf("\n], \"geomean\": {");
		for (int e = 0; e < NENGINES; e++) {
			printf("%s\"%s\": ", e ? ", " : "", engine_names[e]);
			if (cnt[e])
				printf("%.3f", geo[e]);
			else
				printf("null");
		}
		printf("}}\n");
		return;
	}

	if (opt.verify_only) {
		for (size_t i = 0; i < NKERNELS; i++) {
			if (!done[i])
				continue;
			printf("%-9s r0=%#018llx native(gcc,clang)", kernels[i].name,
			       (unsigned long long)res[i].r0);
			for (int e = 0; e < NENGINES; e++)
				if (res[i].ran[e])
					printf(" %s", engine_names[e]);
			printf(": equal\n");
		}
		return;
	}

	printf("cpu: %s%s\n", cpu, opt.quick ? "   (--quick: short samples, rough figures)" : "");
	bool shown[NENGINES];
	printf("%-9s %10s %10s %10s", "kernel", "gcc ns", "clang ns", "native ns");
	for (int e = 0; e < NENGINES; e++) {
		/* interp and jit always have columns; the others when measured. */
		shown[e] = (e != ENG_CHECKED && e != ENG_JIT_SCALAR) || cnt[e];
		if (shown[e])
			printf(" %9s ns %7s", engine_names[e], "ratio");
	}
	printf("\n");
	for (size_t i = 0; i < NKERNELS; i++) {
		if (!done[i])
			continue;
		const struct result *r = &res[i];
		printf("%-9s %10.0f %10.0f %10.0f", kernels[i].name, r->gcc_ns, r->clang_ns, r->native_ns);
		for (int e = 0; e < NENGINES; e++) {
			if (!shown[e])
				continue;
			if (r->ns[e] > 0)
				printf(" %12.0f %7.2f", r->ns[e], r->ns[e] / r->native_ns);
			else
				printf(" %12s %7s", "-", "-");
		}
		printf("\n");
	}
	printf("%-9s %10s %10s %10s", "geomean", "", "", "");
	for (int e = 0; e < NENGINES; e++) {
		if (!shown[e])
			continue;
		if (cnt[e])
			printf(" %12s %7.2f", "", geo[e]);
		else
			printf(" %12s %7s", "", "-");
	}
	printf("\n");
	printf("targets: interp geomean <= 30%s", cnt[ENG_INTERP] ? (geo[ENG_INTERP] <= 30 ? " (met)" : " (NOT met)") : "");
	printf("; jit geomean <= 1.3 and every kernel <= 2x");
	if (cnt[ENG_JIT])
		printf(" (%s; worst %.2fx)", geo[ENG_JIT] <= 1.3 && worst[ENG_JIT] <= 2 ? "met" : "NOT met",
		       worst[ENG_JIT]);
	printf("\n");
}

/* ---- main ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vm_bench [options]\n"
		"Runs compute kernels on bpfvm's engines and natively; prints ns per run\n"
		"and the ratio to native (the faster of gcc -O2 and clang-19 -O2).\n"
		"  -k, --kernels LIST   comma-separated kernels (default: all; see --list)\n"
		"  -e, --engines LIST   comma-separated engines: interp, jit, checked (the\n"
		"                       interpreter in checked mode), jit-scalar (the JIT\n"
		"                       without its loop vectorizer); default interp,jit, and\n"
		"                       all four with --verify-only.  A kernel the JIT\n"
		"                       can't translate is skipped there with a note\n"
		"  -q, --quick          short samples: a rough table in a few seconds\n"
		"      --verify-only    only check every engine's result against native\n"
		"  -s, --samples N      timed samples per cell, median reported (default 5)\n"
		"  -t, --time SEC       time budget per cell (default 0.3, --quick 0.03)\n"
		"  -j, --json           machine-readable output\n"
		"  -d, --dir DIR        where the kernels' .bin files are (default: build dir)\n"
		"  -l, --list           list the kernels\n"
		"  -h, --help\n"
		"Exits 1 if any engine's result differs from native's or a kernel fails to\n"
		"load or run, 2 on a usage error.\n");
}

/* Marks each name of a comma-separated list in want[]; -1 on an unknown name. */
static int parse_list(const char *arg, bool *want, size_t n, const char *(*name)(size_t),
                      const char *what)
{
	char *dup = strdup(arg), *save = NULL;
	int err = 0;
	if (!dup)
		return -1;
	for (size_t i = 0; i < n; i++)
		want[i] = false;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < n && strcmp(t, name(i)); i++)
			;
		if (i == n) {
			fprintf(stderr, "vm_bench: unknown %s '%s' (see --help)\n", what, t);
			err = -1;
			break;
		}
		want[i] = true;
	}
	free(dup);
	return err;
}

static const char *kernel_name(size_t i) { return kernels[i].name; }
static const char *engine_name(size_t i) { return engine_names[i]; }

int main(int argc, char **argv)
{
	enum { OPT_VERIFY = 256 };
	static const struct option lopts[] = {
		{ "kernels", required_argument, NULL, 'k' },
		{ "engines", required_argument, NULL, 'e' },
		{ "quick", no_argument, NULL, 'q' },
		{ "verify-only", no_argument, NULL, OPT_VERIFY },
		{ "samples", required_argument, NULL, 's' },
		{ "time", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "dir", required_argument, NULL, 'd' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double cell_sec = 0;
	opt.dir = BENCH_KERNEL_DIR;
	opt.samples = 0;
	for (size_t i = 0; i < NKERNELS; i++)
		opt.want_kernel[i] = true;
	bool engines_given = false;
	for (int e = 0; e < NENGINES; e++)
		opt.want_engine[e] = true;

	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "k:e:qs:t:jd:lh", lopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (parse_list(optarg, opt.want_kernel, NKERNELS, kernel_name, "kernel"))
				return 2;
			break;
		case 'e':
			if (parse_list(optarg, opt.want_engine, NENGINES, engine_name, "engine"))
				return 2;
			engines_given = true;
			break;
		case 'q':
			opt.quick = true;
			break;
		case OPT_VERIFY:
			opt.verify_only = true;
			break;
		case 's': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 64) {
				fprintf(stderr, "vm_bench: --samples takes 1..64, not '%s'\n", optarg);
				return 2;
			}
			opt.samples = (unsigned)v;
			break;
		}
		case 't':
			cell_sec = strtod(optarg, &end);
			if (*end || !(cell_sec > 0 && cell_sec <= 60)) {
				fprintf(stderr, "vm_bench: --time takes seconds in (0, 60], not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			opt.json = true;
			break;
		case 'd':
			opt.dir = optarg;
			break;
		case 'l':
			for (size_t i = 0; i < NKERNELS; i++)
				printf("%-9s %s\n", kernels[i].name, kernels[i].what);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vm_bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!engines_given && !opt.verify_only)
		opt.want_engine[ENG_CHECKED] = opt.want_engine[ENG_JIT_SCALAR] = false;
	opt.cell_sec = cell_sec > 0 ? cell_sec : opt.quick ? 0.03 : 0.3;
	if (!opt.samples)
		opt.samples = opt.quick ? 3 : 5;

	bpfvm *vm;
	int err = bpfvm_create(NULL, &vm);
	if (err) {
		fprintf(stderr, "vm_bench: bpfvm_create: %s\n", bpfvm_strerror(err));
		return 1;
	}
	static struct result res[NKERNELS];
	bool done[NKERNELS] = { false };
	int failed = 0;
	for (size_t i = 0; i < NKERNELS; i++) {
		if (!opt.want_kernel[i])
			continue;
		if (bench_kernel(vm, &kernels[i], &res[i]))
			failed++;
		else
			done[i] = true;
	}
	print_results(res, done);
	bpfvm_destroy(vm);
	if (failed) {
		fprintf(stderr, "vm_bench: FAILED: %d kernel(s) mismatched or failed (see above)\n", failed);
		return 1;
	}
	return 0;
}
