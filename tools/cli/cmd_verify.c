/*
 * bpfvm verify FILE [--type T] [--mem-size N] [--json] [--log-level N] [--tail-calls]
 * Loads a program (raw instructions or assembly) or every program of an ELF
 * object through the verifier and prints the log: exit 0 accepted, 1
 * rejected, 2 usage.  --json prints
 * {"accepted": bool, "error": ..., "log": ..., statistics}.  --tail-calls
 * (ELF objects) adds the tail-call graph (tail_graph.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tail_graph.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bpfvm verify FILE [--type TYPE] [--mem-size N] [--any-alignment] [--json] [--log-level N]\n"
	           "                    [--prog NAME] [--tail-calls]\n"
	           "  Verifies a program (raw bytes, assembly, or every program of an ELF object)\n"
	           "  and prints the verifier log; objects built with -g name the source line.\n"
	           "  --prog: ELF: only that program (and those in its prog arrays' initial slots).\n"
	           "  --tail-calls (ELF objects): print the tail-call graph: programs, prog arrays,\n"
	           "  edges, cycles, and the deepest stack along any chain of tail calls.\n"
	           "  --type, --mem-size, --any-alignment: for raw or assembly input, the program type\n"
	           "  (default mem), its input size if fixed, and BPFVM_PROG_ANY_ALIGNMENT; an ELF\n"
	           "  object's programs take their types from their section names.\n"
	           "  --log-level: bits: 1 errors, 2 per-insn states, 4 statistics (default 5).\n"
	           "  Exit status: 0 accepted, 1 rejected, 2 usage error.\n");
}

static void print_stats_json(const struct bpfvm_verify_stats *st)
{
	printf("\"insns_processed\": %llu, \"states_total\": %llu, \"states_peak\": %llu, \"time_ns\": %llu, "
	       "\"stack_depth\": %u", (unsigned long long)st->insns_processed, (unsigned long long)st->states_total,
	       (unsigned long long)st->states_peak, (unsigned long long)st->time_ns, st->stack_depth);
}

/* Every program of an ELF object: the loader links, relocates and verifies
 * them all (as `bpfvm run` does); one rejection rejects the object. */
static int verify_elf(const char *path, const char *prog, uint32_t level, uint32_t flags, bool json,
                      bool tail_calls)
{
	bpfvm *vm = NULL;
	int err = bpfvm_create(NULL, &vm);
	if (err) {
		cli_err("verify", "%s", bpfvm_strerror(err));
		return CLI_FAIL;
	}
	size_t logsz = 1 << 20;
	char *log = calloc(1, logsz);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = log ? logsz : 0,
	                             .log_level = level, .prog_flags = flags };
	bpfvm_obj *obj = NULL;
	err = bpfvm_obj_open_file(vm, path, &oo, &obj);
	if (!err && prog && !(err = bpfvm_obj_set_autoload(obj, NULL, 0)))
		err = bpfvm_obj_set_autoload(obj, prog, 1);
	if (!err)
		err = bpfvm_obj_load(obj);
	if (json) {
		printf("{\"accepted\": %s, \"error\": ", err ? "false" : "true");
		cli_json_str(err ? bpfvm_strerror(err) : "");
		printf(", \"programs\": [");
		for (unsigned i = 0, n = 0; !err && i < bpfvm_obj_prog_count(obj); i++) {
			struct bpfvm_verify_stats st = { .sz = sizeof(st) };
			bpfvm_prog *p = bpfvm_obj_prog_at(obj, i);
			if (!p)
				continue;
			bpfvm_prog_verify_stats(p, &st);
			printf("%s{\"name\": ", n++ ? ", " : "");
			cli_json_str(bpfvm_prog_name(p));
			printf(", ");
			print_stats_json(&st);
			printf("}");
		}
		printf("]");
		if (!err && tail_calls) {
			printf(", \"tail_calls\": {");
			if ((err = cli_tail_graph(obj, path, true)))
				cli_err("verify", "tail-call graph: %s", bpfvm_strerror(err));
			printf("}");
		}
		printf(", \"log\": ");
		cli_json_str(log ? log : "");
		printf("}\n");
	} else {
		if (log && log[0])
			fputs(log, stdout);
		for (unsigned i = 0; !err && i < bpfvm_obj_prog_count(obj); i++) {
			struct bpfvm_verify_stats st = { .sz = sizeof(st) };
			bpfvm_prog *p = bpfvm_obj_prog_at(obj, i);
			if (!p)
				continue;
			bpfvm_prog_verify_stats(p, &st);
			printf("%s: accepted (%llu insns processed, %llu states, stack %u bytes)\n", bpfvm_prog_name(p),
			       (unsigned long long)st.insns_processed, (unsigned long long)st.states_total, st.stack_depth);
		}
		if (!err && tail_calls && (err = cli_tail_graph(obj, path, false)))
			cli_err("verify", "tail-call graph: %s", bpfvm_strerror(err));
		printf("%s: %s\n", path, err ? "rejected" : "accepted");
	}
	bpfvm_obj_close(obj);
	bpfvm_destroy(vm);
	free(log);
	return err ? CLI_FAIL : CLI_OK;
}

int cli_cmd_verify(int argc, char **argv)
{
	const char *path = NULL, *type = NULL, *elf_prog = NULL;
	bool json = false, tail_calls = false;
	uint32_t level = BPFVM_LOG_ERRORS | BPFVM_LOG_STATS, mem_size = 0, flags = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--tail-calls")) {
			tail_calls = true;
		} else if (!strcmp(argv[i], "--any-alignment")) {
			flags |= BPFVM_PROG_ANY_ALIGNMENT;
		} else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			level = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--prog") && i + 1 < argc) {
			elf_prog = argv[++i];
		} else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
			type = argv[++i];
		} else if (!strcmp(argv[i], "--mem-size") && i + 1 < argc) {
			mem_size = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_err("verify", "unknown option '%s'", argv[i]);
			usage(stderr);
			return CLI_USAGE;
		} else if (!path) {
			path = argv[i];
		} else {
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (!path) {
		usage(stderr);
		return CLI_USAGE;
	}
	char *buf = NULL;
	size_t len = 0, n = 0;
	struct bpf_insn *insns = NULL;
	int err = cli_read_file(path, &buf, &len);
	if (err) {
		cli_err("verify", "%s: %s", path, strerror(-err));
		return CLI_FAIL;
	}
	enum cli_prog_kind kind = cli_prog_kind(buf, len);
	if (kind == CLI_PROG_ELF) {
		free(buf);
		return verify_elf(path, elf_prog, level, flags, json, tail_calls);
	}
	if (tail_calls) {
		cli_err("verify", "%s: --tail-calls needs an ELF object (prog arrays and their initial slots)", path);
		free(buf);
		return CLI_USAGE;
	}
	if (cli_parse_prog("verify", path, buf, len, kind, &insns, &n)) {
		free(buf);
		return CLI_FAIL;
	}
	bpfvm *vm = NULL;
	if ((err = bpfvm_create(NULL, &vm))) {
		cli_err("verify", "%s", bpfvm_strerror(err));
		free(insns);
		free(buf);
		return CLI_FAIL;
	}
	size_t logsz = 1 << 20;
	char *log = calloc(1, logsz);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = type, .flags = flags, .mem_size = mem_size,
	                             .log_buf = log, .log_size = log ? logsz : 0, .log_level = level };
	bpfvm_prog *prog = NULL;
	err = bpfvm_prog_load(vm, insns, n, &o, &prog);
	struct bpfvm_verify_stats st = { .sz = sizeof(st) };
	if (prog)
		bpfvm_prog_verify_stats(prog, &st);
	if (json) {
		printf("{\"accepted\": %s, \"error\": ", err ? "false" : "true");
		cli_json_str(err ? bpfvm_strerror(err) : "");
		printf(", \"insns\": %zu, ", n);
		print_stats_json(&st);
		printf(", \"log\": ");
		cli_json_str(log ? log : "");
		printf("}\n");
	} else {
		if (log && log[0])
			fputs(log, stdout);
		printf("%s: %s\n", path, err ? "rejected" : "accepted");
	}
	if (prog)
		bpfvm_prog_put(prog);
	bpfvm_destroy(vm);
	free(log);
	free(insns);
	free(buf);
	return err ? CLI_FAIL : CLI_OK;
}
