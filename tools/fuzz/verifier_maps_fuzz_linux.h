/*
 * verifier_maps_fuzz's optional second opinion: the running kernel's
 * verifier.  Enabled by BPFVM_FUZZ_LINUX=<log file>; needs root (or
 * CAP_BPF) and a kernel that permits bpf().  Only BPF_MAP_CREATE,
 * BPF_BTF_LOAD and BPF_PROG_LOAD are used: nothing is attached or run.
 * The same map shapes are created in the kernel (spin-lock values get a
 * small BTF description, as Linux requires), map handles in lddw are
 * patched to kernel fds, and the program is loaded as XDP.
 *
 * Disagreements are appended to the log, not treated as bugs: bpfvm and
 * Linux differ in policy in places.  bpfvm-accepts/Linux-rejects entries
 * are the ones worth reading; their count is printed at exit.
 */
#ifndef VERIFIER_MAPS_FUZZ_LINUX_H
#define VERIFIER_MAPS_FUZZ_LINUX_H

/* linux/bpf.h has its own struct bpf_insn: renamed out of bpfvm.h's way */
#define bpf_insn lx_bpf_insn
#include <linux/bpf.h>
#undef bpf_insn
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpfvm.h"

static struct {
	bool on;
	FILE *log;
	int fd[16];
	uint64_t asked, both_accept, both_reject, vm_only, linux_only, logged;
} lx;

static int lx_bpf(int cmd, union bpf_attr *a)
{
	return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

/* BTF: int; struct bpf_spin_lock { int val; }; struct lockval (24 bytes,
 * lock at 8); struct gval (32 bytes, lock at 16). */
static int lx_btf(void)
{
	static const char strs[] = "\0int\0bpf_spin_lock\0val\0lockval\0l\0gval";
	enum { S_INT = 1, S_LOCK = 5, S_VAL = 19, S_LOCKVAL = 23, S_L = 31, S_GVAL = 33 };
	uint32_t types[] = {
		/* 1: int */
		S_INT, 1u << 24, 4, (1u << 24) | 32,
		/* 2: struct bpf_spin_lock { int val; } */
		S_LOCK, (4u << 24) | 1, 4, S_VAL, 1, 0,
		/* 3: struct lockval { struct bpf_spin_lock l; } at byte 8, size 24 */
		S_LOCKVAL, (4u << 24) | 1, 24, S_L, 2, 64,
		/* 4: struct gval, lock at byte 16, size 32 */
		S_GVAL, (4u << 24) | 1, 32, S_L, 2, 128,
	};
	struct {
		uint16_t magic;
		uint8_t version, flags;
		uint32_t hdr_len, type_off, type_len, str_off, str_len;
	} hdr = { 0xeB9F, 1, 0, 24, 0, sizeof(types), sizeof(types), sizeof(strs) };
	static uint8_t blob[512];
	memcpy(blob, &hdr, sizeof(hdr));
	memcpy(blob + sizeof(hdr), types, sizeof(types));
	memcpy(blob + sizeof(hdr) + sizeof(types), strs, sizeof(strs));
	static char log[4096];
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.btf = (uintptr_t)blob;
	a.btf_size = (uint32_t)(sizeof(hdr) + sizeof(types) + sizeof(strs));
	a.btf_log_buf = (uintptr_t)log;
	a.btf_log_size = sizeof(log);
	a.btf_log_level = 1;
	int fd = lx_bpf(BPF_BTF_LOAD, &a);
	if (fd < 0 && lx.log)
		fprintf(lx.log, "BTF load failed: %s\n%s\n", strerror(errno), log);
	return fd;
}

static void lx_report(void)
{
	if (!lx.on)
		return;
	fprintf(stderr, "linux oracle: %llu asked, %llu both accept, %llu both reject, %llu bpfvm-only accepts, "
	        "%llu linux-only accepts\n", (unsigned long long)lx.asked, (unsigned long long)lx.both_accept,
	        (unsigned long long)lx.both_reject, (unsigned long long)lx.vm_only, (unsigned long long)lx.linux_only);
	if (lx.log) {
		fprintf(lx.log, "# summary: %llu asked, %llu both accept, %llu both reject, %llu bpfvm-only accepts, "
		        "%llu linux-only accepts\n", (unsigned long long)lx.asked, (unsigned long long)lx.both_accept,
		        (unsigned long long)lx.both_reject, (unsigned long long)lx.vm_only,
		        (unsigned long long)lx.linux_only);
		fflush(lx.log);
	}
}

static void linux_setup(const struct bpfvm_map_attr *attrs, int n)
{
	const char *path = getenv("BPFVM_FUZZ_LINUX");
	if (!path || n > 16)
		return;
	lx.log = fopen(path, "a");
	if (!lx.log)
		return;
	int btf = lx_btf();
	int inner = -1;
	for (int i = 0; i < n; i++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = attrs[i].type;
		a.key_size = attrs[i].key_size;
		a.value_size = attrs[i].value_size;
		a.max_entries = attrs[i].max_entries;
		a.map_flags = attrs[i].map_flags;
		if (attrs[i].type == BPFVM_MAP_ARRAY_OF_MAPS || attrs[i].type == BPFVM_MAP_HASH_OF_MAPS)
			a.inner_map_fd = (uint32_t)inner;
		if (attrs[i].spin_lock_off >= 0) {
			if (btf < 0) {
				lx.fd[i] = -1;
				continue;
			}
			a.btf_fd = (uint32_t)btf;
			a.btf_key_type_id = 1;
			a.btf_value_type_id = attrs[i].value_size == 24 ? 3 : 4;
		}
		lx.fd[i] = lx_bpf(BPF_MAP_CREATE, &a);
		if (lx.fd[i] < 0) {
			fprintf(lx.log, "map %d: BPF_MAP_CREATE refused (%s): Linux oracle off\n", i, strerror(errno));
			return;
		}
		if (attrs[i].type == BPFVM_MAP_ARRAY && attrs[i].value_size == 32 && attrs[i].max_entries == 2)
			inner = lx.fd[i]; /* the inner template (first 2-entry 32-byte array) */
		if (a.inner_map_fd) {
			uint32_t zero = 0;
			union bpf_attr u;
			memset(&u, 0, sizeof(u));
			u.map_fd = (uint32_t)lx.fd[i];
			u.key = (uintptr_t)&zero;
			u.value = (uintptr_t)&inner;
			lx_bpf(BPF_MAP_UPDATE_ELEM, &u);
		}
	}
	lx.on = true;
	atexit(lx_report);
	fprintf(lx.log, "# linux oracle on (pid %d)\n", (int)getpid());
	fflush(lx.log);
}

static void linux_verdict(const struct bpf_insn *insns, uint32_t n, const int *fds, int nmaps, bool any_align,
                          bool vm_ok, const char *vm_log)
{
	if (!lx.on)
		return;
	static struct bpf_insn p[2048];
	if (n > 2048)
		return;
	memcpy(p, insns, n * sizeof(*p));
	for (uint32_t i = 0; i + 1 < n; i++) {
		if (p[i].code != 0x18 || (p[i].src_reg != 1 && p[i].src_reg != 2))
			continue;
		for (int m = 0; m < nmaps; m++)
			if (p[i].imm == fds[m]) {
				if (lx.fd[m] < 0)
					return; /* that map couldn't be made in the kernel */
				p[i].imm = lx.fd[m];
				break;
			}
		i++;
	}
	static char log[1 << 16];
	log[0] = '\0';
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_XDP;
	a.insns = (uintptr_t)p;
	a.insn_cnt = n;
	a.license = (uintptr_t)"GPL";
	a.prog_flags = any_align ? BPF_F_ANY_ALIGNMENT : 0;
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	int fd = lx_bpf(BPF_PROG_LOAD, &a);
	int e = errno;
	if (fd < 0 && log[0] == '\0' && a.log_level) {
		/* a log too small or some refusal not about the program: ask
		 * once more without a log to get the plain verdict */
		a.log_buf = 0;
		a.log_size = 0;
		a.log_level = 0;
		fd = lx_bpf(BPF_PROG_LOAD, &a);
		e = errno;
	}
	if (fd >= 0)
		close(fd);
	else if (e == EPERM || e == ENOSYS)
		return; /* not permitted: no verdict */
	lx.asked++;
	bool lx_ok = fd >= 0;
	if (lx_ok && vm_ok) {
		lx.both_accept++;
		return;
	}
	if (!lx_ok && !vm_ok) {
		lx.both_reject++;
		return;
	}
	if (vm_ok)
		lx.vm_only++;
	else
		lx.linux_only++;
	/* bpfvm-only accepts always; the other direction sampled */
	if (!vm_ok && lx.linux_only > 300)
		return;
	if (lx.logged++ > 5000)
		return;
	/* The reason: the last lines of Linux's log, without its statistics. */
	size_t len = strlen(log);
	while (len && log[len - 1] == '\n')
		log[--len] = '\0';
	const char *st = strstr(log, "\nprocessed ");
	if (st)
		len = (size_t)(st - log);
	size_t from = len;
	for (int lines = 0; from > 0 && lines < 3; from--)
		if (log[from - 1] == '\n' && ++lines == 3)
			break;
	fprintf(lx.log, "== %s (linux errno %s)\nlinux: %.*s\nbpfvm: %s\n", vm_ok ? "bpfvm accepts, linux rejects"
	        : "linux accepts, bpfvm rejects", lx_ok ? "-" : strerror(e), (int)(len - from), log + from,
	        vm_ok ? "ok" : vm_log);
	for (uint32_t i = 0; i < n; i++)
		fprintf(lx.log, "\t{ 0x%02x, %u, %u, %d, %d },\n", insns[i].code, insns[i].dst_reg, insns[i].src_reg,
		        insns[i].off, insns[i].imm);
	fflush(lx.log);
}

#endif
