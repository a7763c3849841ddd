/* bpfvm disasm: raw instructions in, assembly text out (see docs/cli.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm disasm IN\n"
	           "Disassembles raw instructions (8 bytes each; \"-\" = stdin), one line per\n"
	           "instruction; jump targets are relative offsets, so `bpfvm asm` gives the\n"
	           "same bytes back.\n");
}

int cli_cmd_disasm(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return CLI_OK;
		}
		usage(stderr);
		return CLI_USAGE;
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *inp = argv[optind];
	char *buf;
	size_t len, n;
	int e = cli_read_file(inp, &buf, &len);
	if (e) {
		cli_err("disasm", "%s: %s", inp, strerror(-e));
		return CLI_FAIL;
	}
	int rc = CLI_FAIL;
	struct bpf_insn *insns = NULL;
	if (cli_prog_kind(buf, len) == CLI_PROG_ELF) {
		cli_err("disasm", "%s: is an ELF object; disasm takes raw instructions", inp);
		goto out;
	}
	if (cli_parse_prog("disasm", inp, buf, len, CLI_PROG_RAW, &insns, &n))
		goto out;
	char err[256];
	if (vm_disasm(insns, n, stdout, err, sizeof(err))) {
		fflush(stdout);
		cli_err("disasm", "%s: %s", inp, err);
		goto out;
	}
	rc = CLI_OK;
out:
	free(insns);
	free(buf);
	return rc;
}
