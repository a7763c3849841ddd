/*
 * Helpers shared by the subcommands: file reading, program detection and
 * parsing, hex bytes, JSON strings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "cli.h"

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bpfvm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return -errno;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);
	int e = 0;
	if (!b) {
		e = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb) {
				e = -ENOMEM;
				goto out;
			}
			b = nb;
			cap *= 2;
		}
		size_t k = fread(b + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f))
		e = -EIO;
out:
	if (f != stdin)
		fclose(f);
	if (e) {
		free(b);
		return e;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

enum cli_prog_kind cli_prog_kind(const char *buf, size_t len)
{
	if (len >= 4 && !memcmp(buf, "\x7f" "ELF", 4))
		return CLI_PROG_ELF;
	/* Every raw program holds a zero byte (exit is 95 00 ...); text never does. */
	if (memchr(buf, '\0', len))
		return CLI_PROG_RAW;
	return len == 0 ? CLI_PROG_RAW : CLI_PROG_ASM;
}

int cli_parse_prog(const char *cmd, const char *path, const char *buf, size_t len, enum cli_prog_kind kind,
                   struct bpf_insn **out, size_t *n)
{
	if (kind == CLI_PROG_ASM) {
		char err[512];
		int e = vm_asm(buf, len, out, n, err, sizeof(err));
		if (e)
			cli_err(cmd, "%s: %s", path, err);
		return e;
	}
	if (len % sizeof(struct bpf_insn)) {
		cli_err(cmd, "%s: raw program size %zu is not a multiple of 8 bytes", path, len);
		return -EINVAL;
	}
	if (len == 0) {
		cli_err(cmd, "%s: the program is empty", path);
		return -EINVAL;
	}
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, buf, len);
	*n = len / sizeof(struct bpf_insn);
	return 0;
}

int cli_parse_hex_bytes(const char *s, uint8_t **out, size_t *len)
{
	size_t cap = strlen(s) / 2 + 1, n = 0;
	uint8_t *b = malloc(cap);
	if (!b)
		return -ENOMEM;
	while (*s) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		const char *start = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		char tok[8];
		size_t tl = (size_t)(s - start);
		if (tl >= sizeof(tok))
			goto bad;
		memcpy(tok, start, tl);
		tok[tl] = '\0';
		char *end;
		unsigned long v = strtoul(tok, &end, 16);
		if (*end || v > 0xff)
			goto bad;
		b[n++] = (uint8_t)v;
	}
	*out = b;
	*len = n;
	return 0;
bad:
	free(b);
	return -EINVAL;
}

void cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			printf("\\n");
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

bool cli_parse_engine(const char *s, uint32_t *engine)
{
	if (!strcmp(s, "interp"))
		*engine = BPFVM_ENGINE_INTERP;
	else if (!strcmp(s, "jit"))
		*engine = BPFVM_ENGINE_JIT;
	else
		return false;
	return true;
}
