/* Per-CPU arrays: host access to every CPU's value, programs seeing and
 * updating their own CPU's, bpf_map_lookup_percpu_elem, concurrent runs. */
#include <pthread.h>
#include <stdlib.h>

#include "mt.h"

#define KEY0 STDW(10, -8, 0)
#define KEYPTR(r) MOV64_X(r, 10), ALU64_K(OP_ADD, r, -8)

static bpfvm_prog *load(bpfvm *vm, const struct bpf_insn *insns, size_t n, uint32_t engine)
{
	char log[2048] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log), .engine = engine,
	                              .mem_size = 8 };
	bpfvm_prog *p = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &po, &p);
	cr_assert_eq(rc, 0, "load: %d %s", rc, log);
	return p;
}

static uint64_t run(bpfvm_prog *p, uint64_t in)
{
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &in, .len = sizeof(in) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0);
	return ro.r0;
}

Test(percpu_array, attributes)
{
	bpfvm *vm = t_vm();
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PERCPU_ARRAY, .key_size = 4, .value_size = 8,
	                            .max_entries = 4, .spin_lock_off = 0 };
	bpfvm_map *m = NULL;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "no spin locks in per-CPU maps");
	a.spin_lock_off = -1;
	a.key_size = 8;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -EINVAL, "4-byte keys");
	a.key_size = 4;
	a.max_entries = 1u << 30;
	cr_expect_eq(bpfvm_map_create(vm, &a, &m), -E2BIG);
	bpfvm_destroy(vm);
}

Test(percpu_array, host_sees_every_cpu)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	cr_assert_geq(ncpu, 1);
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_ARRAY, 4, 12, 3, 0);
	size_t stride = 16;
	uint8_t *in = calloc(ncpu, stride), *out = calloc(ncpu, stride);
	for (unsigned c = 0; c < ncpu; c++)
		memset(in + c * stride, (int)(c + 1), 12);
	uint32_t k = 2;
	cr_expect_eq(bpfvm_map_update(m, &k, in, BPFVM_NOEXIST), -EEXIST);
	cr_expect_eq(bpfvm_map_update(m, &k, in, BPFVM_ANY), 0);
	memset(out, 0xee, ncpu * stride);
	cr_expect_eq(bpfvm_map_lookup(m, &k, out, 0), 0);
	for (unsigned c = 0; c < ncpu; c++) {
		cr_expect_eq(out[c * stride], c + 1);
		cr_expect_eq(out[c * stride + 11], c + 1);
		cr_expect_eq(out[c * stride + 12], 0, "padding to 8 bytes reads as zero");
	}
	k = 0;
	cr_expect_eq(bpfvm_map_lookup(m, &k, out, 0), 0);
	cr_expect_eq(out[0], 0, "values start zeroed");
	k = 3;
	cr_expect_eq(bpfvm_map_lookup(m, &k, out, 0), -ENOENT);
	cr_expect_eq(bpfvm_map_update(m, &k, in, 0), -E2BIG);
	cr_expect_eq(bpfvm_map_delete(m, &k), -EINVAL);
	cr_expect_eq(bpfvm_map_lookup(m, &k, out, BPFVM_F_LOCK), -EINVAL);
	free(in);
	free(out);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(percpu_array, programs_see_and_update_their_cpu)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_ARRAY, 4, 8, 2, 0);
	uint64_t *vals = calloc(ncpu, 8);
	for (unsigned c = 0; c < ncpu; c++)
		vals[c] = 1000 + c;
	uint32_t k = 0;
	cr_assert_eq(bpfvm_map_update(m, &k, vals, 0), 0);
	/* r0 = value << 16 | cpu */
	struct bpf_insn see[] = {
		CALL(BPFVM_FN_get_smp_processor_id), MOV64_X(6, 0), KEY0, KEYPTR(2), MAPFD(1, m), CALL(1),
		JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), ALU64_K(OP_LSH, 0, 16), ALU64_X(OP_OR, 0, 6), EXIT,
	};
	/* this CPU's value := 77; r0 = cpu */
	struct bpf_insn upd[] = {
		KEY0, STDW(10, -16, 77), KEYPTR(2), MOV64_X(3, 10), ALU64_K(OP_ADD, 3, -16), MAPFD(1, m), MOV64_K(4, 0),
		CALL(2), JEQ_K(0, 0, 2), MOV64_K(0, -1), EXIT, CALL(BPFVM_FN_get_smp_processor_id), EXIT,
	};
	/* r0 = the value of the CPU in the input, or -1 */
	struct bpf_insn other[] = {
		LDXDW(6, 1, 0), KEY0, KEYPTR(2), MAPFD(1, m), MOV64_X(3, 6), CALL(BPFVM_FN_map_lookup_percpu_elem),
		JNE_K(0, 0, 2), MOV64_K(0, -1), EXIT, LDXDW(0, 0, 0), EXIT,
	};
	for (uint32_t e = BPFVM_ENGINE_INTERP; e <= BPFVM_ENGINE_JIT; e++) {
		bpfvm_prog *ps = load(vm, see, N(see), e), *pu = load(vm, upd, N(upd), e), *po = load(vm, other, N(other), e);
		uint64_t r = run(ps, 0), cpu = r & 0xffff;
		cr_expect_lt(cpu, ncpu);
		cr_expect_eq(r >> 16, 1000 + cpu, "engine %u: cpu %llu read %llu", e, (unsigned long long)cpu,
		             (unsigned long long)(r >> 16));
		for (unsigned c = 0; c < ncpu; c++)
			cr_expect_eq(run(po, c), vals[c], "engine %u: lookup_percpu_elem cpu %u", e, c);
		cr_expect_eq(run(po, ncpu), (uint64_t)-1, "a CPU bpfvm doesn't have gives NULL");
		cr_expect_eq(run(po, 1ull << 40), (uint64_t)-1);
		cpu = run(pu, 0);
		uint64_t *now = calloc(ncpu, 8);
		cr_assert_eq(bpfvm_map_lookup(m, &k, now, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			cr_expect_eq(now[c], c == cpu ? 77 : vals[c], "engine %u: cpu %u after the update on cpu %llu", e, c,
			             (unsigned long long)cpu);
		free(now);
		cr_assert_eq(bpfvm_map_update(m, &k, vals, 0), 0);
		bpfvm_prog_put(ps);
		bpfvm_prog_put(pu);
		bpfvm_prog_put(po);
	}
	free(vals);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

Test(percpu_array, lookup_percpu_elem_needs_a_percpu_map)
{
	bpfvm *vm = t_vm();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_ARRAY, 4, 8, 2, 0);
	struct bpf_insn p[] = { KEY0, KEYPTR(2), MAPFD(1, m), MOV64_K(3, 0), CALL(BPFVM_FN_map_lookup_percpu_elem),
	                        MOV64_K(0, 0), EXIT };
	char log[1024] = "";
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .log_buf = log, .log_size = sizeof(log) };
	bpfvm_prog *prog = NULL;
	cr_expect_neq(bpfvm_prog_load(vm, p, N(p), &po, &prog), 0);
	cr_expect(strstr(log, "cannot pass map_type 2 into func bpf_map_lookup_percpu_elem"), "%s", log);
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}

/* Threads add 1 to their CPU's counter with atomic adds; however the
 * threads share CPUs, the counters sum to the number of runs. */
#define THREADS 4
#define RUNS 20000
static bpfvm_prog *counter_prog;

static void *counter_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < RUNS; i++) {
		uint64_t in = 0;
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = &in, .len = sizeof(in) };
		if (bpfvm_prog_run_opts(counter_prog, &ro) || ro.r0)
			return (void *)1;
	}
	return NULL;
}

Test(percpu_array, counters_from_many_threads)
{
	bpfvm *vm = t_vm();
	unsigned ncpu = bpfvm_num_possible_cpus();
	bpfvm_map *m = t_map(vm, BPFVM_MAP_PERCPU_ARRAY, 4, 8, 1, 0);
	struct bpf_insn p[] = { KEY0, KEYPTR(2), MAPFD(1, m), CALL(1), JEQ_K(0, 0, 2), MOV64_K(1, 1),
	                        ATOMIC64(0, 1, 0, 0x00), MOV64_K(0, 0), EXIT };
	for (uint32_t e = BPFVM_ENGINE_INTERP; e <= BPFVM_ENGINE_JIT; e++) {
		counter_prog = load(vm, p, N(p), e);
		pthread_t th[THREADS];
		for (int i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, counter_thread, NULL);
		for (int i = 0; i < THREADS; i++) {
			void *rv;
			pthread_join(th[i], &rv);
			cr_expect_null(rv);
		}
		uint64_t *v = calloc(ncpu, 8), sum = 0;
		uint32_t k = 0;
		cr_assert_eq(bpfvm_map_lookup(m, &k, v, 0), 0);
		for (unsigned c = 0; c < ncpu; c++)
			sum += v[c];
		cr_expect_eq(sum, (uint64_t)THREADS * RUNS * (e + 1), "engine %u: counters sum to %llu", e,
		             (unsigned long long)sum);
		free(v);
		bpfvm_prog_put(counter_prog);
	}
	bpfvm_map_put(m);
	bpfvm_destroy(vm);
}
