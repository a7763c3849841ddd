/*
 * bpfvm plugin: the public bpf_conformance runner's plugin protocol.  The
 * runner starts `bpfvm plugin [MEMHEX] [options]`, writes the program as hex
 * bytes on stdin, and reads r0 in hex from stdout; on failure the error
 * goes to stdout (where the runner looks for it) and stderr, exit 1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: bpfvm plugin [--program HEX] [--engine interp|jit] [--checked|--unchecked] [--debug] [MEMHEX]\n"
	        "Reads a program as hex bytes from stdin (or --program), runs it with the\n"
	        "bpf_conformance helpers 0-5 on the input bytes MEMHEX, prints r0 in hex.\n"
	        "Default mode: --checked (no verifier, runtime checks), since the program\n"
	        "comes from outside.\n");
}

static int plugin_fail(const char *fmt, const char *a, const char *b)
{
	printf(fmt, a, b);
	putchar('\n');
	fprintf(stderr, "bpfvm plugin: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_cmd_plugin(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "program", required_argument, NULL, 'p' },
		{ "engine", required_argument, NULL, 'e' },
		{ "checked", no_argument, NULL, 'c' },
		{ "unchecked", no_argument, NULL, 'u' },
		{ "debug", no_argument, NULL, 'd' },
		{ "elf", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *program = NULL, *memhex = NULL;
	uint32_t engine = BPFVM_ENGINE_INTERP, flags = BPFVM_PROG_NO_VERIFY;
	bool debug = false;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': program = optarg; break;
		case 'e':
			if (!cli_parse_engine(optarg, &engine)) {
				cli_err("plugin", "unknown engine '%s' (interp, jit)", optarg);
				return CLI_USAGE;
			}
			break;
		case 'c': flags = BPFVM_PROG_NO_VERIFY; break;
		case 'u': flags = BPFVM_PROG_UNCHECKED; break;
		case 'd': debug = true; break;
		case 'E': return plugin_fail("%s%s", "--elf is not supported by the plugin; use `bpfvm run FILE.o`", "");
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_USAGE;
		}
	}
	/* The runner passes the memory and its (possibly empty) options as
	 * separate arguments; empty ones are ignored. */
	for (int i = optind; i < argc; i++) {
		if (!argv[i][0])
			continue;
		if (memhex) {
			cli_err("plugin", "unexpected argument '%s'", argv[i]);
			return CLI_USAGE;
		}
		memhex = argv[i];
	}
	char *in = NULL;
	size_t inlen;
	if (!program) {
		if (cli_read_file("-", &in, &inlen))
			return plugin_fail("%s%s", "cannot read the program from stdin", "");
		program = in;
	}
	int rc = CLI_FAIL;
	uint8_t *code = NULL, *mem = NULL;
	size_t codelen = 0, memlen = 0;
	bpfvm *vm = NULL;
	bpfvm_prog *prog = NULL;
	char log[4096] = "", errbuf[256] = "";
	if (cli_parse_hex_bytes(program, &code, &codelen) || codelen == 0 || codelen % 8) {
		rc = plugin_fail("%s%s", "the program must be a non-empty sequence of 8-byte instructions in hex bytes", "");
		goto out;
	}
	if (memhex && cli_parse_hex_bytes(memhex, &mem, &memlen)) {
		rc = plugin_fail("bad memory argument '%s'%s: expected hex bytes", memhex, "");
		goto out;
	}
	int e = cli_conformance_vm(&vm);
	if (e) {
		rc = plugin_fail("cannot create the VM: %s%s", bpfvm_strerror(e), "");
		goto out;
	}
	struct bpfvm_prog_opts po = {
		.sz = sizeof(po), .name = "plugin", .flags = flags, .engine = engine,
		.mem_size = (uint32_t)memlen, .log_buf = log, .log_size = sizeof(log),
	};
	e = bpfvm_prog_load(vm, (const struct bpf_insn *)(const void *)code, codelen / 8, &po, &prog);
	if (e) {
		rc = plugin_fail("Failed to load program: %s: %s", bpfvm_strerror(e), log);
		goto out;
	}
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = mem, .len = memlen, .err_buf = errbuf, .err_size = sizeof(errbuf) };
	e = bpfvm_prog_run_opts(prog, &ro);
	if (e) {
		rc = plugin_fail("Program failed: %s: %s", bpfvm_strerror(e), errbuf);
		goto out;
	}
	if (debug)
		fprintf(stderr, "bpfvm plugin: %zu instructions, %zu bytes of memory, r0 = %" PRIu64 "\n",
		        codelen / 8, memlen, ro.r0);
	printf("%" PRIx64 "\n", ro.r0);
	rc = CLI_OK;
out:
	if (prog)
		bpfvm_prog_put(prog);
	if (vm)
		bpfvm_destroy(vm);
	free(code);
	free(mem);
	free(in);
	return rc;
}
