/*
 * bpfvm conformance: runs bpf_conformance `.data` files (see
 * docs/cli.md for the format) in a bare VM with the suite's helpers 0-5.
 * Prints one line per failure and ends with "N passed, N failed".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asm.h"
#include "cli.h"

struct datafile {
	char *asm_text;       /* -- asm */
	size_t asm_len;
	uint64_t *raw;        /* -- raw */
	size_t nraw;
	char *mem_text;       /* -- mem */
	bool has_result;
	uint64_t result;
	char error[256];      /* -- error text, "" if none */
	bool has_raw;
};

static void datafile_free(struct datafile *d)
{
	free(d->asm_text);
	free(d->raw);
	free(d->mem_text);
}

static int append(char **buf, size_t *len, const char *s)
{
	size_t l = strlen(s);
	char *nb = realloc(*buf, *len + l + 2);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, s, l);
	nb[*len + l] = '\n';
	nb[*len + l + 1] = '\0';
	*buf = nb;
	*len += l + 1;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	*v = strtoull(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
	return !*end && !errno;
}

/* Parses a .data file.  Returns 0, or -EINVAL with the reason in why. */
static int datafile_parse(const char *path, struct datafile *d, char *why, size_t whysz)
{
	memset(d, 0, sizeof(*d));
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(why, whysz, "cannot open: %s", strerror(errno));
		return -errno;
	}
	enum { S_NONE, S_ASM, S_RAW, S_MEM, S_RESULT, S_ERROR, S_IGNORE } st = S_NONE;
	char *line = NULL;
	size_t cap = 0, memlen = 0, lineno = 0;
	int e = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *dash = strstr(line, "--");
		if (dash) {
			char *dir = trim(dash + 2);
			if (!strcmp(dir, "asm")) st = S_ASM;
			else if (!strcmp(dir, "raw")) st = S_RAW, d->has_raw = true;
			else if (!strcmp(dir, "mem")) st = S_MEM;
			else if (!strcmp(dir, "result")) st = S_RESULT;
			else if (!strcmp(dir, "error")) st = S_ERROR;
			else if (!strcmp(dir, "no register offset") || !strcmp(dir, "c")) st = S_IGNORE;
			else {
				snprintf(why, whysz, "line %zu: unknown directive '-- %s'", lineno, dir);
				e = -EINVAL;
				goto out;
			}
			continue;
		}
		if (st == S_ASM) {
			/* Keep line numbers of the asm section meaningful: the
			 * assembler counts from the section start. */
			if ((e = append(&d->asm_text, &d->asm_len, trim(line))))
				goto out;
			continue;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *t = trim(line);
		if (!*t)
			continue;
		switch (st) {
		case S_RAW:
			for (char *tok = strtok(t, " \t"); tok; tok = strtok(NULL, " \t")) {
				uint64_t v;
				if (!parse_u64(tok, &v)) {
					snprintf(why, whysz, "line %zu: bad raw instruction word '%s' (0x-hex or decimal)", lineno, tok);
					e = -EINVAL;
					goto out;
				}
				uint64_t *nr = realloc(d->raw, (d->nraw + 1) * sizeof(*nr));
				if (!nr) {
					e = -ENOMEM;
					goto out;
				}
				d->raw = nr;
				d->raw[d->nraw++] = v;
			}
			break;
		case S_MEM:
			if ((e = append(&d->mem_text, &memlen, t)))
				goto out;
			break;
		case S_RESULT:
			if (d->has_result || !parse_u64(t, &d->result)) {
				snprintf(why, whysz, "line %zu: bad result '%s'", lineno, t);
				e = -EINVAL;
				goto out;
			}
			d->has_result = true;
			break;
		case S_ERROR:
			if (!d->error[0])
				snprintf(d->error, sizeof(d->error), "%s", t);
			break;
		default:
			break;
		}
	}
	if (!d->has_result && !d->error[0]) {
		snprintf(why, whysz, "no '-- result' and no (non-empty) '-- error' section");
		e = -EINVAL;
	}
out:
	free(line);
	fclose(f);
	if (e)
		datafile_free(d);
	return e;
}

struct conf {
	bpfvm *vm;
	uint32_t engine, flags;
	unsigned passed, failed;
};

static void fail(struct conf *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct conf *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL %s: ", path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	c->failed++;
}

static void run_file(struct conf *c, const char *path)
{
	struct datafile d;
	char why[512], log[4096] = "", errbuf[256] = "";
	struct bpf_insn *insns = NULL;
	size_t n = 0;
	uint8_t *mem = NULL;
	size_t memlen = 0;
	bpfvm_prog *prog = NULL;
	if (datafile_parse(path, &d, why, sizeof(why))) {
		fail(c, path, "%s", why);
		return;
	}
	if (d.has_raw) {
		if (!d.nraw) {
			fail(c, path, "empty '-- raw' section");
			goto out;
		}
		n = d.nraw;
		insns = malloc(n * sizeof(*insns));
		if (!insns) {
			fail(c, path, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++)
			memcpy(&insns[k], &d.raw[k], sizeof(insns[k])); /* little-endian host */
	} else {
		if (!d.asm_text) {
			fail(c, path, "no BPF instructions ('-- asm' or '-- raw')");
			goto out;
		}
		if (vm_asm(d.asm_text, d.asm_len, &insns, &n, why, sizeof(why))) {
			fail(c, path, "assembler: %s (counting from the '-- asm' line)", why);
			goto out;
		}
		if (!n) {
			fail(c, path, "no BPF instructions in '-- asm'");
			goto out;
		}
	}
	if (d.mem_text && cli_parse_hex_bytes(d.mem_text, &mem, &memlen)) {
		fail(c, path, "bad '-- mem' bytes (hex bytes separated by spaces)");
		goto out;
	}
	struct bpfvm_prog_opts po = {
		.sz = sizeof(po), .name = "conformance", .flags = c->flags, .engine = c->engine,
		.mem_size = (uint32_t)memlen, .log_buf = log, .log_size = sizeof(log),
	};
	int e = bpfvm_prog_load(c->vm, insns, n, &po, &prog);
	if (e) {
		if (d.error[0])
			c->passed++;
		else
			fail(c, path, "load failed: %s: %s", bpfvm_strerror(e), trim(log));
		goto out;
	}
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = memlen, .err_buf = errbuf, .err_size = sizeof(errbuf) };
	e = bpfvm_prog_run_opts(prog, &ro);
	if (e) {
		if (d.error[0])
			c->passed++;
		else
			fail(c, path, "run failed at insn %u: %s (%s)", ro.err_insn, errbuf, bpfvm_strerror(e));
		goto out;
	}
	if (d.error[0])
		fail(c, path, "expected an error (%s), but the program ran and returned r0 = 0x%" PRIx64, d.error, ro.r0);
	else if (ro.r0 != d.result)
		fail(c, path, "r0 = 0x%" PRIx64 ", expected 0x%" PRIx64, ro.r0, d.result);
	else
		c->passed++;
out:
	if (prog)
		bpfvm_prog_put(prog);
	free(mem);
	free(insns);
	datafile_free(&d);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* Runs one path: a file, or every *.data below a directory (sorted). */
static int run_path(struct conf *c, const char *path, unsigned *files)
{
	struct stat sb;
	if (stat(path, &sb)) {
		cli_err("conformance", "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(sb.st_mode)) {
		run_file(c, path);
		(*files)++;
		return 0;
	}
	struct dirent **ents;
	int k = scandir(path, &ents, NULL, alphasort);
	if (k < 0) {
		cli_err("conformance", "%s: %s", path, strerror(errno));
		return -errno;
	}
	int e = 0;
	for (int i = 0; i < k; i++) {
		const char *nm = ents[i]->d_name;
		if (!e && nm[0] != '.') {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, nm);
			struct stat ss;
			if (!stat(sub, &ss) && (S_ISDIR(ss.st_mode) || has_suffix(nm, ".data")))
				e = run_path(c, sub, files);
		}
		free(ents[i]);
	}
	free(ents);
	return e;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: bpfvm conformance [--engine interp|jit] [--checked|--unchecked] PATH...\n"
	        "Runs bpf_conformance .data files (PATH: files, or directories searched for *.data)\n"
	        "in a bare VM with the suite's helpers 0-5, and prints `N passed, N failed`.\n"
	        "  --engine E    interp (default) or jit\n"
	        "  --unchecked   no verifier, no runtime checks (default)\n"
	        "  --checked     no verifier, every access checked at run time\n"
	        "Exit status: 0 all passed, 1 a test failed, 2 usage error.\n");
}

int cli_cmd_conformance(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "checked", no_argument, NULL, 'c' },
		{ "unchecked", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct conf c = { .flags = BPFVM_PROG_UNCHECKED };
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'e':
			if (!cli_parse_engine(optarg, &c.engine)) {
				cli_err("conformance", "unknown engine '%s' (interp, jit)", optarg);
				return CLI_USAGE;
			}
			break;
		case 'c': c.flags = BPFVM_PROG_NO_VERIFY; break;
		case 'u': c.flags = BPFVM_PROG_UNCHECKED; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		cli_err("conformance", "no test files or directories given");
		usage(stderr);
		return CLI_USAGE;
	}
	int e = cli_conformance_vm(&c.vm);
	if (e) {
		cli_err("conformance", "cannot create the VM: %s", bpfvm_strerror(e));
		return CLI_FAIL;
	}
	unsigned files = 0;
	for (int i = optind; i < argc && !e; i++)
		e = run_path(&c, argv[i], &files);
	bpfvm_destroy(c.vm);
	if (e)
		return CLI_FAIL;
	if (!files) {
		cli_err("conformance", "no .data files found");
		return CLI_FAIL;
	}
	printf("%u passed, %u failed\n", c.passed, c.failed);
	return c.failed ? CLI_FAIL : CLI_OK;
}
