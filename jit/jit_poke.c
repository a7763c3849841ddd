/*
 * Direct tail calls (Linux's poke descriptors): where the verifier proved a
 * tail call's index constant, the JIT emits a `jmp rel32` whose target this
 * file keeps equal to what the prog array slot holds: the fall-through when
 * the slot is empty, the target's direct tail entry when it is a JIT'd
 * unchecked program, the site's indirect path otherwise.  See docs/jit.md,
 * "Direct tail calls", for the argument that patching is safe against
 * threads running the code.
 *
 * Locking: one process-wide mutex (poke_lock) serializes every slot store
 * of every prog array with the patching of the sites that depend on it, and
 * guards the registry of images that hold sites.  Nothing is waited for
 * while holding it (no RCU grace period, no other lock taken inside).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jit_int.h"
#include "map.h"

static pthread_mutex_t poke_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jit_image *images; /* images with sites, linked through poke_next/poke_prev */

static pthread_once_t support_once = PTHREAD_ONCE_INIT;
static bool supported;

/* Counters for tests and jit-dump: sites patched, syncs issued. */
_Atomic unsigned long jit_poke_patches, jit_poke_syncs;

static void check_support(void)
{
	/* Patching needs the core-serializing membarrier (after a patch,
	 * every thread of the process serializes before the old target may
	 * be released) and memfd (the writable alias of the image).  Without
	 * either, constant-index tail calls stay indirect. */
	if (getenv("BPFVM_JIT_NO_POKE"))
		return;
	long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
		return;
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		return;
	int fd = memfd_create("bpfvm-jit", MFD_CLOEXEC);
	if (fd < 0)
		return;
	close(fd);
	supported = true;
}

bool jit_poke_supported(void)
{
	pthread_once(&support_once, check_support);
	return supported;
}

int jit_poke_map_image(struct jit_image *img, const uint8_t *code, size_t len, size_t size)
{
	int err = 0;
	void *rx = MAP_FAILED, *rw = MAP_FAILED;
	int fd = memfd_create("bpfvm-jit", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size)) {
		err = -errno;
		goto out;
	}
	/* Two views of one file: rw is never executable, rx never writable.
	 * rw stays mapped for the image's life so that a patch cannot fail
	 * (a failed patch would leave a jump into a program about to be
	 * freed). */
	rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	memset(rw, 0xcc, size); /* int3 around the code, as for plain images */
	memcpy((uint8_t *)rw + JIT_ENTRY_GUARD, code, len);
	rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	if (rx == MAP_FAILED) {
		err = -errno;
		munmap(rw, size);
		goto out;
	}
	img->map = rx;
	img->map_size = size;
	img->mem = (uint8_t *)rx + JIT_ENTRY_GUARD;
	img->alias = rw;
out:
	close(fd); /* the mappings keep the file */
	return err;
}

/* Where a site should jump for slot program t (NULL: empty). */
static uint64_t site_target(const struct jit_image *img, const struct jit_poke_site *s, const struct bpfvm_prog *t)
{
	uintptr_t base = (uintptr_t)img->mem;
	if (!t)
		return base + s->out;
	const struct jit_image *ti = t->jit;
	if (ti && ti->tail_stub) {
		uintptr_t to = (uintptr_t)ti->mem + ti->tail_stub;
		int64_t d = (int64_t)(to - (base + s->rel + 4));
		if (d >= INT32_MIN && d <= INT32_MAX)
			return to;
	}
	/* not JIT'd, checked (runs on the checked interpreter), or more than
	 * 2 GiB away: the site's indirect path handles it */
	return base + s->slow;
}

/* Sets the site's rel32 with one aligned 4-byte store through the
 * writable alias: a thread fetching the jmp sees the old or the new
 * displacement, never a mix.  Returns true if the bytes changed. */
static bool patch(const struct jit_image *img, const struct jit_poke_site *s, uint64_t to)
{
	int32_t rel = (int32_t)(int64_t)(to - ((uintptr_t)img->mem + s->rel + 4));
	uint32_t *at = (uint32_t *)((uint8_t *)img->alias + JIT_ENTRY_GUARD + s->rel);
	if (__atomic_load_n(at, __ATOMIC_RELAXED) == (uint32_t)rel)
		return false;
	__atomic_store_n(at, (uint32_t)rel, __ATOMIC_RELEASE);
	jit_poke_patches++;
	return true;
}

void jit_poke_lock(void)
{
	pthread_mutex_lock(&poke_lock);
}

void jit_poke_unlock(void)
{
	pthread_mutex_unlock(&poke_lock);
}

bool jit_poke_retarget(struct bpfvm_map *map, uint32_t index, const struct bpfvm_prog *prog)
{
	bool changed = false;
	for (struct jit_image *img = images; img; img = img->poke_next)
		for (uint32_t k = 0; k < img->npokes; k++) {
			const struct jit_poke_site *s = &img->pokes[k];
			if (s->map == map && s->index == index)
				changed |= patch(img, s, site_target(img, s, prog));
		}
	return changed;
}

void jit_poke_sync(void)
{
	/* Every thread of the process executes a core-serializing
	 * instruction before this returns (x86: on the IPI's return to user
	 * space or its next scheduling in), so none can still run a stale
	 * copy of a patched jmp afterwards.  Registered in check_support();
	 * cannot fail then. */
	syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
	jit_poke_syncs++;
}

void jit_poke_register(struct jit_image *img)
{
	pthread_mutex_lock(&poke_lock);
	/* No thread runs this image yet: set every site to what its slot
	 * holds now.  Slot stores take poke_lock, so none is missed between
	 * this read and the registration. */
	for (uint32_t k = 0; k < img->npokes; k++) {
		const struct jit_poke_site *s = &img->pokes[k];
		patch(img, s, site_target(img, s, map_prog_array_get(s->map, s->index)));
	}
	img->poke_prev = NULL;
	img->poke_next = images;
	if (images)
		images->poke_prev = img;
	images = img;
	pthread_mutex_unlock(&poke_lock);
}

void jit_poke_unregister(struct jit_image *img)
{
	pthread_mutex_lock(&poke_lock);
	if (img->poke_prev)
		img->poke_prev->poke_next = img->poke_next;
	else if (images == img)
		images = img->poke_next;
	if (img->poke_next)
		img->poke_next->poke_prev = img->poke_prev;
	img->poke_next = img->poke_prev = NULL;
	pthread_mutex_unlock(&poke_lock);
}
