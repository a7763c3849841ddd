/*
 * The caller-owned text log that the loader and the verifier write into.
 * Writes past the end are dropped (and counted), never overflow.
 */
#ifndef BPFVM_LOG_H
#define BPFVM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct vm_log {
	char *buf;       /* caller-owned, may be NULL */
	size_t size;
	size_t len;      /* bytes written so far, excluding NUL */
	size_t dropped;  /* bytes that did not fit */
	uint32_t level;  /* enum bpfvm_log_level bits */
};

void vm_log_init(struct vm_log *log, char *buf, size_t size, uint32_t level);
/* Appends formatted text if `level` is enabled (BPFVM_LOG_ERRORS is always
 * written when a buffer exists). */
void vm_log(struct vm_log *log, uint32_t level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vm_vlog(struct vm_log *log, uint32_t level, const char *fmt, va_list ap);
/* Logs an error at instruction `insn` ("insn 12: ...") and returns err. */
int vm_log_err(struct vm_log *log, int err, long insn, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
