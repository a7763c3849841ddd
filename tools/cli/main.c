/*
 * bpfvm: the command-line front end.  Dispatches to the subcommands listed
 * in commands.def.
 */
#include <stdbool.h>
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

/* Command names are C identifiers in commands.def; users type '-' for '_'
 * (jit_dump is `bpfvm jit-dump`). */
static bool name_matches(const char *name, const char *typed)
{
	for (; *name && *typed; name++, typed++)
		if (*name != *typed && !(*name == '_' && *typed == '-'))
			return false;
	return !*name && !*typed;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm COMMAND [options] ...\n\ncommands:\n");
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		char shown[32];
		snprintf(shown, sizeof(shown), "%s", commands[k].name);
		for (char *c = shown; *c; c++)
			if (*c == '_')
				*c = '-';
		fprintf(f, "  %-12s %s\n", shown, commands[k].summary);
	}
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
		if (name_matches(commands[k].name, argv[1]))
			return commands[k].fn(argc - 1, argv + 1);
	fprintf(stderr, "bpfvm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
