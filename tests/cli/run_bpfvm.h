/*
 * Runs the built bpfvm command as a user would, for the CLI tests
 * (test_cli.c, test_tail_graph.c) and the ELF tests that drive the command
 * (test_autoload.c, test_lru.c, test_percpu.c): `bpfvm ARGS` through the
 * shell.
 */
#ifndef BPFVM_TEST_CLI_RUN_H
#define BPFVM_TEST_CLI_RUN_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#ifndef BPFVM_EXE
#error "BPFVM_EXE must name the built bpfvm binary"
#endif

/* Stderr discarded.  Returns the exit status (-1 if killed) and, with out
 * non-NULL, the captured stdout (caller frees). */
static int run_bpfvm(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int run_bpfvm(char **out, const char *fmt, ...)
{
	char args[4096], cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", BPFVM_EXE, args);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen failed");
	size_t cap = 1 << 16, n = 0, k;
	char *b = malloc(cap);
	while ((k = fread(b + n, 1, cap - n - 1, p)) > 0) {
		n += k;
		if (n + 1 == cap)
			b = realloc(b, cap *= 2);
	}
	b[n] = '\0';
	int st = pclose(p);
	if (out)
		*out = b;
	else
		free(b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Stdout and stderr together into out (truncated to outsz - 1 bytes);
 * returns the exit status (-1 if killed). */
static int bpfvm_cmd(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4), unused));
static int bpfvm_cmd(char *out, size_t outsz, const char *fmt, ...)
{
	char args[4096], cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", BPFVM_EXE, args);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen failed");
	size_t n = fread(out, 1, outsz - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
