/*
 * bpfvm's notion of "the CPU a program runs on", for per-CPU maps and
 * bpf_get_smp_processor_id.  As Linux runs a program with migration
 * disabled, a run keeps one CPU from its first question to its end: the
 * CPU is read (sched_getcpu, a read of the rseq area in glibc >= 2.35)
 * once per run and cached in the run.  Unlike the kernel, a thread may be
 * preempted mid-run and another thread may run a program on the same CPU
 * meanwhile; two runs then share that CPU's per-CPU values, as two
 * programs on one CPU share them in a preemptible Linux kernel.
 */
#include <sched.h>
#include <unistd.h>

#include "vm.h"

static unsigned possible_cpus(void)
{
	static _Atomic unsigned n;
	unsigned v = atomic_load_explicit(&n, memory_order_relaxed);
	if (!v) {
		long c = sysconf(_SC_NPROCESSORS_CONF);
		v = c < 1 ? 1 : c > 4096 ? 4096 : (unsigned)c;
		atomic_store_explicit(&n, v, memory_order_relaxed);
	}
	return v;
}

unsigned bpfvm_num_possible_cpus(void)
{
	return possible_cpus();
}

VM_HIDDEN uint32_t vm_nr_cpus(void)
{
	return possible_cpus();
}

VM_HIDDEN uint32_t vm_cpu_current(void)
{
	struct vm_run *run = vm_current_run;
	if (run && run->cpu >= 0)
		return (uint32_t)run->cpu;
	int c = sched_getcpu();
	uint32_t cpu = c < 0 ? 0 : (uint32_t)c % possible_cpus();
	if (run)
		run->cpu = (int32_t)cpu;
	return cpu;
}
