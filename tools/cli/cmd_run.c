/*
 * bpfvm run: loads a program (raw instructions, assembly text or an ELF
 * object), verifies it unless told not to, runs it on the --mem bytes and
 * prints r0; --repeat N times the runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "maps_dump.h"
#include "seed.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: bpfvm run FILE [options]\n"
	        "FILE: raw instructions (8 bytes each), assembly text, or an ELF object.\n"
	        "  --mem FILE           input bytes: r1 = a private copy, r2 = their length\n"
	        "  --engine interp|jit  execution engine (default interp)\n"
	        "  --no-verify          skip the verifier; run in checked mode\n"
	        "  --unchecked          skip the verifier and runtime checks (trusted programs)\n"
	        "  --repeat N           run N times; report median and minimum ns per run\n"
	        "  --json               machine-readable output\n"
	        "  --prog NAME          ELF: the program (section or function name) to run; only it (and\n"
	        "                       the programs in its prog arrays' initial slots) is loaded\n"
	        "  --type mem|xdp       program type (default mem)\n"
	        "  --seed FILE.json     ELF: fill maps before the run ({\"maps\":[{\"name\":..,\"entries\":[{\"key\":..,\"value\":..}]}]})\n"
	        "  --dump-maps          ELF: print every map's entries after the run (a JSON line with --json)\n"
	        "Exit status: 0 ran, 1 load or run error, 2 usage error.\n");
}

struct run_args {
	const char *file, *mem, *prog, *type;
	uint32_t engine, flags;
	unsigned long repeat;
	bool json;
	bool dump_maps;
	const char *seed;
};

static const char *engine_name(uint32_t e) { return e == BPFVM_ENGINE_JIT ? "jit" : "interp"; }

static int report_error(const struct run_args *a, const char *what, int err, const char *detail)
{
	if (a->json) {
		printf("{\"r0\": null, \"runs\": 0, \"engine\": \"%s\", \"error\": ", engine_name(a->engine));
		char msg[4600];
		snprintf(msg, sizeof(msg), "%s: %s%s%s", what, bpfvm_strerror(err), detail[0] ? ": " : "", detail);
		cli_json_str(msg);
		printf("}\n");
	}
	size_t dl = strlen(detail);
	while (dl && detail[dl - 1] == '\n')
		dl--;
	cli_err("run", "%s: %s: %s%s%.*s", a->file, what, bpfvm_strerror(err), dl ? "\n" : "", (int)dl, detail);
	return CLI_FAIL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int run_loaded(const struct run_args *a, bpfvm_prog *prog, const uint8_t *mem, size_t memlen)
{
	uint8_t *copy = memlen ? malloc(memlen) : NULL;
	uint64_t *ns = calloc(a->repeat, sizeof(*ns));
	char errbuf[512] = "";
	int rc = CLI_FAIL;
	if ((memlen && !copy) || !ns) {
		cli_err("run", "out of memory");
		goto out;
	}
	uint64_t r0 = 0;
	for (unsigned long k = 0; k < a->repeat; k++) {
		/* Each run gets fresh input: programs may write it. */
		if (memlen)
			memcpy(copy, mem, memlen);
		struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = copy, .len = memlen,
		                             .err_buf = errbuf, .err_size = sizeof(errbuf) };
		uint64_t t0 = now_ns();
		int e = bpfvm_prog_run_opts(prog, &ro);
		ns[k] = now_ns() - t0;
		if (e) {
			char detail[700];
			snprintf(detail, sizeof(detail), "at insn %u: %s", ro.err_insn, errbuf);
			rc = report_error(a, "run failed", e, detail);
			goto out;
		}
		r0 = ro.r0;
	}
	qsort(ns, a->repeat, sizeof(*ns), cmp_u64);
	uint64_t median = ns[a->repeat / 2], min = ns[0];
	const char *eng = engine_name(bpfvm_prog_engine(prog));
	if (a->json) {
		printf("{\"r0\": %" PRIu64 ", \"runs\": %lu, \"ns_per_run_median\": %" PRIu64
		       ", \"ns_per_run_min\": %" PRIu64 ", \"engine\": \"%s\", \"error\": null}\n",
		       r0, a->repeat, median, min, eng);
	} else {
		printf("r0 = %" PRIu64 " (0x%" PRIx64 ")\n", r0, r0);
		if (a->repeat > 1)
			printf("%lu runs on %s: median %" PRIu64 " ns, min %" PRIu64 " ns per run\n", a->repeat, eng,
			       median, min);
	}
	rc = CLI_OK;
out:
	free(copy);
	free(ns);
	return rc;
}

static int run_elf(const struct run_args *a, bpfvm *vm, const uint8_t *mem, size_t memlen)
{
	static char log[1 << 16];
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = sizeof(log),
	                             .log_level = BPFVM_LOG_ERRORS, .prog_flags = a->flags, .engine = a->engine };
	bpfvm_obj *obj = NULL;
	int e = bpfvm_obj_open_file(vm, a->file, &oo, &obj);
	if (e)
		return report_error(a, "cannot open the ELF object", e, log);
	/* --prog: load that program alone (with the programs its prog arrays
	 * start with), so other programs' problems don't stop it. */
	if (a->prog && (bpfvm_obj_set_autoload(obj, NULL, 0) || (e = bpfvm_obj_set_autoload(obj, a->prog, 1)))) {
		bpfvm_obj_close(obj);
		cli_err("run", "%s: no program named '%s' (a function or section name)", a->file, a->prog);
		return CLI_FAIL;
	}
	if ((e = bpfvm_obj_load(obj))) {
		bpfvm_obj_close(obj);
		return report_error(a, "load failed", e, log);
	}
	if (a->seed) {
		char *text, msg[256];
		size_t tlen;
		if ((e = cli_read_file(a->seed, &text, &tlen))) {
			bpfvm_obj_close(obj);
			return report_error(a, "cannot read the --seed file", e, a->seed);
		}
		e = cli_seed_maps(obj, text, tlen, msg, sizeof(msg));
		free(text);
		if (e) {
			bpfvm_obj_close(obj);
			return report_error(a, "bad --seed file", e, msg);
		}
	}
	bpfvm_prog *prog = a->prog ? bpfvm_obj_prog(obj, a->prog) : bpfvm_obj_prog_at(obj, 0);
	int rc;
	if (!prog) {
		cli_err("run", "%s: no program %s%s%s", a->file, a->prog ? "named '" : "in the object",
		        a->prog ? a->prog : "", a->prog ? "'" : "");
		rc = CLI_FAIL;
	} else {
		rc = run_loaded(a, prog, mem, memlen);
		if (a->dump_maps)
			cli_dump_maps(obj, a->json);
	}
	bpfvm_obj_close(obj);
	return rc;
}

int cli_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "engine", required_argument, NULL, 'e' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ "unchecked", no_argument, NULL, 'u' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "prog", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "dump-maps", no_argument, NULL, 'D' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct run_args a = { .repeat = 1 };
	int o;
	char *end;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'm': a.mem = optarg; break;
		case 'e':
			if (!cli_parse_engine(optarg, &a.engine)) {
				cli_err("run", "unknown engine '%s' (interp, jit)", optarg);
				return CLI_USAGE;
			}
			break;
		case 'n': a.flags = BPFVM_PROG_NO_VERIFY; break;
		case 'u': a.flags = BPFVM_PROG_UNCHECKED; break;
		case 'r':
			errno = 0;
			a.repeat = strtoul(optarg, &end, 10);
			if (*end || errno || a.repeat == 0 || a.repeat > 100000000ul || optarg[0] == '-') {
				cli_err("run", "--repeat takes a count from 1 to 100000000, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'j': a.json = true; break;
		case 'D': a.dump_maps = true; break;
		case 'S': a.seed = optarg; break;
		case 'p': a.prog = optarg; break;
		case 't':
			if (strcmp(optarg, "mem") && strcmp(optarg, "xdp")) {
				cli_err("run", "unknown program type '%s' (mem, xdp)", optarg);
				return CLI_USAGE;
			}
			a.type = optarg;
			break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err("run", argc == optind ? "no program file given" : "more than one program file given");
		usage(stderr);
		return CLI_USAGE;
	}
	a.file = argv[optind];

	int rc = CLI_FAIL;
	char *buf = NULL, *membuf = NULL;
	size_t len, memlen = 0, n;
	struct bpf_insn *insns = NULL;
	bpfvm *vm = NULL;
	bpfvm_prog *prog = NULL;
	static char log[1 << 16];
	int e = cli_read_file(a.file, &buf, &len);
	if (e) {
		cli_err("run", "%s: %s", a.file, strerror(-e));
		return CLI_FAIL;
	}
	if (a.mem && (e = cli_read_file(a.mem, &membuf, &memlen))) {
		cli_err("run", "--mem %s: %s", a.mem, strerror(-e));
		goto out;
	}
	if (memlen > UINT32_MAX) {
		cli_err("run", "--mem %s: larger than 4 GiB", a.mem);
		goto out;
	}
	if ((e = bpfvm_create(NULL, &vm))) {
		cli_err("run", "cannot create the VM: %s", bpfvm_strerror(e));
		goto out;
	}
	enum cli_prog_kind kind = cli_prog_kind(buf, len);
	if (kind == CLI_PROG_ELF) {
		rc = run_elf(&a, vm, (uint8_t *)membuf, memlen);
		goto out;
	}
	if (a.prog)
		fprintf(stderr, "bpfvm run: note: --prog only applies to ELF objects\n");
	if (cli_parse_prog("run", a.file, buf, len, kind, &insns, &n))
		goto out;
	struct bpfvm_prog_opts po = {
		.sz = sizeof(po), .name = "main", .type = a.type, .flags = a.flags, .engine = a.engine,
		.mem_size = (uint32_t)memlen, .log_buf = log, .log_size = sizeof(log), .log_level = BPFVM_LOG_ERRORS,
	};
	if ((e = bpfvm_prog_load(vm, insns, n, &po, &prog))) {
		rc = report_error(&a, "load failed", e, log);
		goto out;
	}
	rc = run_loaded(&a, prog, (uint8_t *)membuf, memlen);
out:
	if (prog)
		bpfvm_prog_put(prog);
	if (vm)
		bpfvm_destroy(vm);
	free(insns);
	free(membuf);
	free(buf);
	return rc;
}
