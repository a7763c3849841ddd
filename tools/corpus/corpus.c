/*
 * bpfvm-corpus: runs verifier test cases in the JSON-lines format of
 * ../shared/verifier-corpus/README.md through the public API: creates each
 * case's maps, patches the lddw immediates with their handles, loads
 * (verifies) the program, and compares the verdict with Linux's privileged
 * one.  Prog arrays get their `slots` programs (loaded with the case's
 * program type and put in through bpfvm_prog_array_update, so the
 * insertion checks run too).  With --run, accepted cases that Linux also
 * ran are run on their inputs and r0 is compared with Linux's retval
 * (--jit: programs load with the JIT engine).
 * Prints one line per disagreeing case, a per-file report with -s or
 * --by-file, and last `N passed, N failed` (verdicts only).
 *
 *   bpfvm-corpus [-v] [-s|--by-file] [--run [--jit]] [-f NAME-SUBSTRING] FILE.jsonl
 *
 * Exit status: 0 when every verdict (and with --run every r0) agrees, 1
 * otherwise, 2 on usage errors.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfvm.h"
#include "json.h"

struct file_stat {
	char name[64];
	unsigned pass, fail, false_accept, false_reject;
	unsigned run_ok, run_total; /* --run: r0 agreeing with Linux's retval */
};

static struct file_stat stats[256];
static uint32_t g_engine = BPFVM_ENGINE_INTERP; /* --jit */
static unsigned nstats;

static struct file_stat *stat_for(const char *file)
{
	for (unsigned i = 0; i < nstats; i++)
		if (!strcmp(stats[i].name, file))
			return &stats[i];
	if (nstats == 256)
		return &stats[255];
	snprintf(stats[nstats].name, sizeof(stats[nstats].name), "%s", file);
	return &stats[nstats++];
}

static const struct { const char *name; uint32_t type; } map_types[] = {
	{ "BPF_MAP_TYPE_HASH", BPFVM_MAP_HASH }, { "BPF_MAP_TYPE_ARRAY", BPFVM_MAP_ARRAY },
	{ "BPF_MAP_TYPE_PROG_ARRAY", BPFVM_MAP_PROG_ARRAY }, { "BPF_MAP_TYPE_PERCPU_HASH", BPFVM_MAP_PERCPU_HASH },
	{ "BPF_MAP_TYPE_PERCPU_ARRAY", BPFVM_MAP_PERCPU_ARRAY }, { "BPF_MAP_TYPE_LRU_HASH", BPFVM_MAP_LRU_HASH },
	{ "BPF_MAP_TYPE_LRU_PERCPU_HASH", BPFVM_MAP_LRU_PERCPU_HASH },
	{ "BPF_MAP_TYPE_ARRAY_OF_MAPS", BPFVM_MAP_ARRAY_OF_MAPS }, { "BPF_MAP_TYPE_HASH_OF_MAPS", BPFVM_MAP_HASH_OF_MAPS },
	{ "BPF_MAP_TYPE_QUEUE", BPFVM_MAP_QUEUE }, { "BPF_MAP_TYPE_STACK", BPFVM_MAP_STACK },
	{ "BPF_MAP_TYPE_RINGBUF", BPFVM_MAP_RINGBUF },
};

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int create_map(bpfvm *vm, const struct json *m, bpfvm_map **out, char *why, size_t whylen)
{
	const char *tn = json_str(json_get(m, "map_type"), "");
	struct bpfvm_map_attr a = { .sz = sizeof(a), .spin_lock_off = -1, .name = "corpus" };
	bpfvm_map *inner = NULL;
	int err;
	for (size_t i = 0; i < sizeof(map_types) / sizeof(map_types[0]); i++)
		if (!strcmp(map_types[i].name, tn))
			a.type = map_types[i].type;
	if (!a.type) {
		snprintf(why, whylen, "map type %s not modelled", tn);
		return -EOPNOTSUPP;
	}
	a.key_size = (uint32_t)json_num(json_get(m, "key_size"), 0);
	a.value_size = (uint32_t)json_num(json_get(m, "value_size"), 0);
	a.max_entries = (uint32_t)json_num(json_get(m, "max_entries"), 0);
	a.map_flags = (uint32_t)json_num(json_get(m, "map_flags"), 0);
	const struct json *sf = json_get(json_get(m, "btf"), "special_fields");
	for (const struct json *f = sf ? sf->child : NULL; f; f = f->next)
		if (!strcmp(json_str(json_get(f, "kind"), ""), "bpf_spin_lock"))
			a.spin_lock_off = (int32_t)json_num(json_get(f, "offset"), -1);
	const struct json *im = json_get(m, "inner_map");
	if (im && im->kind == JSON_OBJ) {
		if ((err = create_map(vm, im, &inner, why, whylen)))
			return err;
		a.inner_template = inner;
	}
	err = bpfvm_map_create(vm, &a, out);
	if (err)
		snprintf(why, whylen, "map create (%s): %s", tn, bpfvm_strerror(err));
	/* initial contents: {"key": N, "value_hex": ...}, or a list of them */
	const struct json *init = err ? NULL : json_get(m, "init");
	const struct json *one = init && init->kind == JSON_ARR ? init->child : init;
	for (; one && one->kind == JSON_OBJ; one = init->kind == JSON_ARR ? one->next : NULL) {
		uint8_t key[64] = { 0 }, *val = calloc(1, a.value_size ? a.value_size : 1);
		uint64_t k = (uint64_t)json_num(json_get(one, "key"), 0);
		const char *hex = json_str(json_get(one, "value_hex"), "");
		if (!val || a.key_size > sizeof(key))
			break;
		memcpy(key, &k, a.key_size < 8 ? a.key_size : 8);
		for (size_t i = 0; i < a.value_size && hex[2 * i] && hex[2 * i + 1]; i++)
			val[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
		int uerr = bpfvm_map_update(*out, key, val, BPFVM_ANY);
		if (uerr)
			snprintf(why, whylen, "map init (%s): %s", tn, bpfvm_strerror(uerr));
		free(val);
	}
	if (inner)
		bpfvm_map_put(inner);
	return err;
}

/* "BPF_PROG_TYPE_XDP" -> "xdp": the built-in type; others get a context of
 * __sk_buff's size with no fields (the corpus never touches them). */
static const char *prog_type(bpfvm *vm, const char *linux_name)
{
	static char name[64];
	const char *p = strncmp(linux_name, "BPF_PROG_TYPE_", 14) ? linux_name : linux_name + 14;
	size_t i;
	for (i = 0; p[i] && i < sizeof(name) - 1; i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[i] = 0;
	if (!strcmp(name, "xdp"))
		return name;
	/* __sk_buff-like: readable numbers, data/data_end packet pointers
	 * (at offsets 76/80, as Linux) for the types that have them. */
	static const struct bpfvm_ctx_field skb[] = {
		{ 0, 76, BPFVM_CTX_READ, 0 },
		{ 76, 4, BPFVM_CTX_READ | BPFVM_CTX_PKT_DATA, 96 },
		{ 80, 4, BPFVM_CTX_READ | BPFVM_CTX_PKT_END, 104 },
		{ 84, 108, BPFVM_CTX_READ, 84 },
	};
	static const struct bpfvm_ctx_field plain[] = { { 0, 192, BPFVM_CTX_READ, 0 } };
	bool pkt = !strcmp(name, "sched_cls") || !strcmp(name, "sched_act") || !strcmp(name, "cgroup_skb");
	struct bpfvm_prog_type t = { .sz = sizeof(t), .name = name, .ctx_size = 192, .real_ctx_size = 192,
	                             .fields = pkt ? skb : plain, .nfields = pkt ? 4 : 1 };
	int err = bpfvm_prog_type_register(vm, &t);
	(void)err; /* -EEXIST after the first case of the type */
	return name;
}

struct result {
	bool ran;
	bool accepted;
	char why[512];
	unsigned run_ok, run_total;
	char run_why[128];
	char setup_note[256];
};

/*
 * A slot program of the corpus: statements separated by ';' among
 * "mov rD, IMM", "r2 = <this prog array>", "call tail_call", "exit".
 * Returns the instruction count, or 0 for a statement it doesn't know.
 */
static size_t slot_prog(const char *text, int array_fd, struct bpf_insn *out, size_t max)
{
	size_t n = 0;
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char st[96];
		snprintf(st, sizeof(st), "%.*s", (int)(len < sizeof(st) ? len : sizeof(st) - 1), p);
		unsigned reg;
		long imm;
		if (n + 2 > max)
			return 0;
		if (sscanf(st, "mov r%u, %ld", &reg, &imm) == 2 && reg < 10) {
			out[n++] = (struct bpf_insn){ .code = 0xb7, .dst_reg = reg, .imm = (int32_t)imm };
		} else if (!strcmp(st, "r2 = <this prog array>")) {
			out[n++] = (struct bpf_insn){ .code = 0x18, .dst_reg = 2, .src_reg = 1, .imm = array_fd };
			out[n++] = (struct bpf_insn){ 0 };
		} else if (!strcmp(st, "call tail_call")) {
			out[n++] = (struct bpf_insn){ .code = 0x85, .imm = BPFVM_FN_tail_call };
		} else if (!strcmp(st, "exit")) {
			out[n++] = (struct bpf_insn){ .code = 0x95 };
		} else {
			return 0;
		}
		p += len;
	}
	return n;
}

/* Fills a prog array's slots; a refusal is reported in why (the verdict
 * doesn't depend on it).  The array holds the programs' references. */
static void fill_slots(bpfvm *vm, bpfvm_map *map, const struct json *slots, const char *type, char *why, size_t whylen)
{
	for (const struct json *s = slots ? slots->child : NULL; s; s = s->next) {
		struct bpf_insn insns[16];
		size_t n = slot_prog(json_str(s, ""), bpfvm_map_fd(map), insns, 16);
		uint32_t key = (uint32_t)strtoul(s->key ? s->key : "0", NULL, 10);
		char log[1024] = "";
		if (!n) {
			snprintf(why, whylen, "slot %u: program '%s' not modelled", key, json_str(s, ""));
			continue;
		}
		struct bpfvm_prog_opts o = { .sz = sizeof(o), .type = type, .name = "slot", .log_buf = log,
		                             .log_size = sizeof(log), .log_level = 1, .engine = g_engine };
		bpfvm_prog *p = NULL;
		int err = bpfvm_prog_load(vm, insns, n, &o, &p);
		if (!err)
			err = bpfvm_prog_array_update(map, key, p, log, sizeof(log));
		if (err) {
			char *nl = strchr(log, '\n');
			if (nl)
				*nl = 0;
			snprintf(why, whylen, "slot %u refused: %s", key, log[0] ? log : bpfvm_strerror(err));
		}
		if (p)
			bpfvm_prog_put(p);
	}
}

/* Program types Linux's BPF_PROG_TEST_RUN runs (the corpus gives others
 * a default retval of 0 that Linux never checked). */
static bool runnable(const char *type)
{
	static const char *const t[] = { "socket_filter", "sched_cls", "sched_act", "xdp", "cgroup_skb", "lwt_in",
	                                 "lwt_out", "lwt_xmit", "lwt_seg6local", "flow_dissector" };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(type, t[i]))
			return true;
	return false;
}

/* --run: runs prog on each of the case's inputs; counts agreements with
 * Linux's retval (0xcafe4a, "some pointer", only needs a clean run). */
static void run_retvals(bpfvm_prog *prog, bool is_xdp, const struct json *retvals, struct result *res)
{
	for (const struct json *r = retvals ? retvals->child : NULL; r; r = r->next) {
		const char *hex = json_str(json_get(r, "data_hex"), "");
		size_t dlen = strlen(hex) / 2, size = dlen < 256 ? 256 : dlen;
		uint8_t *buf = calloc(1, size);
		if (!buf)
			return;
		for (size_t i = 0; i < dlen; i++)
			buf[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
		/* The input is the context: model __sk_buff.len (offset 0) as
		 * the packet's length, which a few cases read. */
		if (!is_xdp) {
			uint32_t l32 = (uint32_t)dlen;
			memcpy(buf, &l32, 4);
		}
		uint64_t r0 = 0;
		int err = bpfvm_prog_run(prog, buf, size, &r0);
		uint32_t want = (uint32_t)json_num(json_get(r, "retval"), 0);
		bool ok = !err && (want == 0xcafe4a || (uint32_t)r0 == want);
		res->run_total++;
		res->run_ok += ok;
		if (!ok && !res->run_why[0])
			snprintf(res->run_why, sizeof(res->run_why), "r0 %#x, linux %#x%s%s", (uint32_t)r0, want,
			         err ? ": " : "", err ? bpfvm_strerror(err) : "");
		free(buf);
	}
}

static void run_case(const struct json *c, bool verbose, bool run, struct result *res)
{
	bpfvm *vm = NULL;
	bpfvm_map *maps[16] = { 0 };
	unsigned nmaps = 0;
	struct bpf_insn *insns = NULL;
	char log[4096];
	int err;

	res->ran = false;
	res->why[0] = 0;
	res->run_ok = res->run_total = 0;
	res->run_why[0] = 0;
	res->setup_note[0] = 0;
	const struct json *ji = json_get(c, "insns");
	size_t n = json_len(ji);
	if (!n || !(insns = calloc(n, sizeof(*insns)))) {
		snprintf(res->why, sizeof(res->why), "no instructions");
		return;
	}
	size_t k = 0;
	for (const struct json *e = ji->child; e; e = e->next, k++) {
		const char *h = json_str(e, "");
		uint8_t b[8] = { 0 };
		for (int i = 0; i < 8 && h[2 * i] && h[2 * i + 1]; i++)
			b[i] = (uint8_t)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
		memcpy(&insns[k], b, 8);
	}
	if ((err = bpfvm_create(NULL, &vm))) {
		snprintf(res->why, sizeof(res->why), "bpfvm_create: %s", bpfvm_strerror(err));
		goto out;
	}
	const struct json *fx = json_get(c, "map_fixups");
	for (const struct json *f = fx ? fx->child : NULL; f; f = f->next) {
		if (nmaps == 16)
			break;
		if ((err = create_map(vm, json_get(f, "map"), &maps[nmaps], res->why, sizeof(res->why))))
			goto out;
		int fd = bpfvm_map_fd(maps[nmaps]);
		nmaps++;
		const struct json *ix = json_get(f, "insn_indices");
		for (const struct json *i = ix ? ix->child : NULL; i; i = i->next) {
			size_t at = (size_t)json_num(i, -1);
			if (at < n)
				insns[at].imm = fd;
		}
	}
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log), .log_level = 1,
	                             .engine = g_engine };
	o.type = prog_type(vm, json_str(json_get(c, "prog_type"), "BPF_PROG_TYPE_SOCKET_FILTER"));
	unsigned mi = 0;
	for (const struct json *f = fx ? fx->child : NULL; f && mi < nmaps; f = f->next, mi++)
		fill_slots(vm, maps[mi], json_get(json_get(f, "map"), "slots"), o.type, res->setup_note,
		           sizeof(res->setup_note));
	const struct json *lf = json_get(c, "load_flags");
	for (const struct json *f = lf ? lf->child : NULL; f; f = f->next)
		if (!strcmp(json_str(f, ""), "BPF_F_ANY_ALIGNMENT"))
			o.flags |= BPFVM_PROG_ANY_ALIGNMENT;
	bpfvm_prog *prog = NULL;
	log[0] = 0;
	err = bpfvm_prog_load(vm, insns, n, &o, &prog);
	res->ran = true;
	res->accepted = !err;
	if (err) {
		char *nl = strchr(log, '\n');
		if (nl)
			*nl = 0;
		snprintf(res->why, sizeof(res->why), "%s", log[0] ? log : bpfvm_strerror(err));
	}
	if (prog && run && runnable(o.type))
		run_retvals(prog, !strcmp(o.type, "xdp"), json_get(c, "retvals"), res);
	if (prog)
		bpfvm_prog_put(prog);
	(void)verbose;
out:
	for (unsigned i = 0; i < nmaps; i++)
		bpfvm_map_put(maps[i]);
	if (vm)
		bpfvm_destroy(vm);
	free(insns);
}

int main(int argc, char **argv)
{
	bool verbose = false, summary = false, run = false;
	const char *filter = NULL, *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--by-file"))
			summary = true;
		else if (!strcmp(argv[i], "--run"))
			run = true;
		else if (!strcmp(argv[i], "--jit"))
			g_engine = BPFVM_ENGINE_JIT;
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			filter = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s [-v] [-s|--by-file] [--run [--jit]] [-f NAME-SUBSTRING] FILE.jsonl\n", argv[0]);
			return 0;
		} else
			path = argv[i];
	}
	if (!path) {
		fprintf(stderr, "usage: %s [-v] [-s|--by-file] [--run [--jit]] [-f NAME-SUBSTRING] FILE.jsonl\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return 2;
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned pass = 0, fail = 0, false_accept = 0, false_reject = 0, lineno = 0, run_ok = 0, run_total = 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		struct json *c = json_parse(line);
		if (!c) {
			fprintf(stderr, "%s:%u: malformed JSON line, skipped\n", path, lineno);
			continue;
		}
		const char *name = json_str(json_get(c, "name"), "?");
		if (filter && !strstr(name, filter)) {
			json_free(c);
			continue;
		}
		const char *want = json_str(json_get(json_get(json_get(c, "expected"), "priv"), "result"), "accept");
		bool want_accept = !strcmp(want, "accept");
		struct result r;
		run_case(c, verbose, run, &r);
		bool ok = r.ran && r.accepted == want_accept;
		if (!r.ran)
			ok = !want_accept; /* a case whose setup bpfvm refuses counts as a rejection */
		struct file_stat *fs = stat_for(json_str(json_get(c, "file"), "?"));
		if (ok) {
			pass++;
			fs->pass++;
		} else {
			fail++;
			fs->fail++;
			if (r.ran && r.accepted) {
				false_accept++;
				fs->false_accept++;
			} else {
				false_reject++;
				fs->false_reject++;
			}
		}
		fs->run_ok += r.run_ok;
		fs->run_total += r.run_total;
		run_ok += r.run_ok;
		run_total += r.run_total;
		if (r.setup_note[0])
			printf("NOTE %s: %s\n", name, r.setup_note);
		if (r.run_ok < r.run_total)
			printf("RUN  %s: %s\n", name, r.run_why);
		if (verbose || !ok)
			printf("%s %s: linux %s, bpfvm %s%s%s\n", ok ? "PASS" : "FAIL", name, want,
			       !r.ran ? "setup-failed" : r.accepted ? "accept" : "reject", r.why[0] ? " -- " : "", r.why);
		json_free(c);
	}
	free(line);
	fclose(f);
	if (summary) {
		printf("per file: verdicts agreeing/total, accepted where Linux rejects, rejected where Linux accepts%s\n",
		       run ? ", runs with Linux's r0/runs" : "");
		for (unsigned i = 0; i < nstats; i++) {
			printf("  %-36s %3u/%-3u %3u %3u", stats[i].name, stats[i].pass, stats[i].pass + stats[i].fail,
			       stats[i].false_accept, stats[i].false_reject);
			if (run)
				printf("   %3u/%-3u", stats[i].run_ok, stats[i].run_total);
			printf("\n");
		}
		printf("accepted where Linux rejects: %u, rejected where Linux accepts: %u\n", false_accept, false_reject);
		if (run)
			printf("runs: %u of %u agree with Linux's r0\n", run_ok, run_total);
	}
	printf("%u passed, %u failed\n", pass, fail);
	return fail || run_ok < run_total ? 1 : 0;
}
