/* bpfvm asm: assembly text in, raw instructions (8 bytes each) out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm asm IN [-o OUT]\n"
	           "Assembles IN (\"-\" = stdin) into raw little-endian instructions, written\n"
	           "to OUT (default: stdout, unless it is a terminal).\n");
}

int cli_cmd_asm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *outp = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'o': outp = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *inp = argv[optind];
	if (!outp && isatty(STDOUT_FILENO)) {
		cli_err("asm", "refusing to write binary to a terminal; use -o FILE");
		return CLI_USAGE;
	}
	char *buf;
	size_t len, n;
	int e = cli_read_file(inp, &buf, &len);
	if (e) {
		cli_err("asm", "%s: %s", inp, strerror(-e));
		return CLI_FAIL;
	}
	struct bpf_insn *insns = NULL;
	int rc = CLI_FAIL;
	if (cli_prog_kind(buf, len) != CLI_PROG_ASM) {
		cli_err("asm", "%s: not assembly text (binary data)", inp);
		goto out;
	}
	if (cli_parse_prog("asm", inp, buf, len, CLI_PROG_ASM, &insns, &n))
		goto out;
	FILE *f = outp ? fopen(outp, "wb") : stdout;
	if (!f) {
		cli_err("asm", "%s: %m", outp);
		goto out;
	}
	size_t w = fwrite(insns, sizeof(*insns), n, f);
	if ((outp ? fclose(f) : fflush(f)) || w != n)
		cli_err("asm", "%s: write failed", outp ? outp : "stdout");
	else
		rc = CLI_OK;
out:
	free(insns);
	free(buf);
	return rc;
}
