/*
 * bpfvm: the command-line front end.  Dispatches to the subcommands listed
 * in commands.def.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
#define CLI_CMD(name, summary) { #name, cli_cmd_##name, summary },
#include "commands.def"
#undef CLI_CMD
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm COMMAND [options] ...\n\ncommands:\n");
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		fprintf(f, "  %-12s %s\n", commands[k].name, commands[k].summary);
	fprintf(f, "\n`bpfvm COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[1], commands[k].name))
			return commands[k].fn(argc - 1, argv + 1);
	fprintf(stderr, "bpfvm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
