/*
 * bpf_spin_lock / bpf_spin_unlock for programs: a test-and-set lock on the
 * 4-byte struct bpf_spin_lock inside a map value (map_spin_lock in
 * map_impl.h).  As Linux, the verifier guarantees a program holds at most
 * one lock and releases it before exit; the run records the held lock so
 * that unverified (checked) runs misusing locks fail instead of deadlocking.
 */
#include "map_impl.h"

uint64_t map_helper_spin_lock(uint64_t lock, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r2; (void)r3; (void)r4; (void)r5;
	struct vm_run *run = vm_current_run;
	void *l = (void *)(uintptr_t)lock;
	if (run && run->spin_lock_held) {
		/* A second lock (or the same one again) would deadlock. */
		vm_run_fail(run, -EDEADLK, 0, lock, "bpf_spin_lock: the program already holds a spin lock");
		return 0;
	}
	map_spin_lock(l);
	if (run)
		run->spin_lock_held = l;
	return 0;
}

uint64_t map_helper_spin_unlock(uint64_t lock, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r2; (void)r3; (void)r4; (void)r5;
	struct vm_run *run = vm_current_run;
	void *l = (void *)(uintptr_t)lock;
	if (run && run->spin_lock_held != l) {
		vm_run_fail(run, -EINVAL, 0, lock, "bpf_spin_unlock: the program doesn't hold this spin lock");
		return 0;
	}
	if (run)
		run->spin_lock_held = NULL;
	map_spin_unlock(l);
	return 0;
}
