/* See real_linux.h. */
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real_linux.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level; (void)fmt; (void)ap;
	return 0;
}

bool real_linux_bpf_allowed(void)
{
	struct bpf_insn insns[2] = { { .code = 0xb7 }, { .code = 0x95 } };
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = 2;
	a.license = (uintptr_t)"GPL";
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

int real_linux_load(const char *path, const char *prog, char *figure, size_t fsz, char *log, size_t lsz)
{
	static char klog[1 << 20];
	libbpf_set_print(quiet);
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	if (!o)
		return -2;
	struct bpf_program *p = bpf_object__find_program_by_name(o, prog);
	if (!p) {
		bpf_object__close(o);
		return -3;
	}
	klog[0] = 0;
	bpf_program__set_log_buf(p, klog, sizeof(klog));
	bpf_program__set_log_level(p, 4);
	int err = bpf_object__load(o);
	const char *pl = strstr(klog, "processed ");
	if (pl)
		snprintf(figure, fsz, "%.*s", (int)strcspn(pl, "\n"), pl);
	size_t n = strlen(klog);
	snprintf(log, lsz, "%s", n > lsz - 1 ? klog + n - (lsz - 1) : klog);
	bpf_object__close(o);
	return err;
}
