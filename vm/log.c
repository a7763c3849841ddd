/*
 * Caller-owned log buffer.  Output that does not fit is counted and dropped;
 * the buffer always stays NUL-terminated.
 */
#include "log.h"

#include <stdio.h>

#include "bpfvm.h"

void vm_log_init(struct vm_log *log, char *buf, size_t size, uint32_t level)
{
	log->buf = buf;
	log->size = buf ? size : 0;
	log->len = 0;
	log->dropped = 0;
	log->level = level | BPFVM_LOG_ERRORS;
	if (log->size)
		log->buf[0] = '\0';
}

void vm_vlog(struct vm_log *log, uint32_t level, const char *fmt, va_list ap)
{
	if (!log || !log->size || !(log->level & level))
		return;
	size_t room = log->size - log->len;
	int n = vsnprintf(log->buf + log->len, room, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		log->dropped += (size_t)n - (room - 1);
		log->len = log->size - 1;
	} else {
		log->len += (size_t)n;
	}
}

void vm_log(struct vm_log *log, uint32_t level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vm_vlog(log, level, fmt, ap);
	va_end(ap);
}

int vm_log_err(struct vm_log *log, int err, long insn, const char *fmt, ...)
{
	va_list ap;
	if (insn >= 0)
		vm_log(log, BPFVM_LOG_ERRORS, "insn %ld: ", insn);
	va_start(ap, fmt);
	vm_vlog(log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(log, BPFVM_LOG_ERRORS, "\n");
	return err;
}
