/*
 * bpfvm-corpus: runs verifier test cases in the JSON-lines format of
 * ../shared/verifier-corpus/README.md through the public API: creates each
 * case's maps, patches the lddw immediates with their handles, loads
 * (verifies) the program, and compares the verdict with Linux's privileged
 * one.  Prints one line per case, a per-file summary with -s, and last
 * `N passed, N failed`.
 *
 *   bpfvm-corpus [-v] [-s] [-f NAME-SUBSTRING] FILE.jsonl
 *
 * Exit status: 0 when every case passed, 1 otherwise, 2 on usage errors.
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
	unsigned pass, fail, false_accept;
};

static struct file_stat stats[256];
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

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

struct result {
	bool ran;
	bool accepted;
	char why[512];
};

static void run_case(const struct json *c, bool verbose, struct result *res)
{
	bpfvm *vm = NULL;
	bpfvm_map *maps[16] = { 0 };
	unsigned nmaps = 0;
	struct bpf_insn *insns = NULL;
	char log[4096];
	int err;

	res->ran = false;
	res->why[0] = 0;
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
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .log_buf = log, .log_size = sizeof(log), .log_level = 1 };
	o.type = prog_type(vm, json_str(json_get(c, "prog_type"), "BPF_PROG_TYPE_SOCKET_FILTER"));
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
	bool verbose = false, summary = false;
	const char *filter = NULL, *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "-s"))
			summary = true;
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			filter = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s [-v] [-s] [-f NAME-SUBSTRING] FILE.jsonl\n", argv[0]);
			return 0;
		} else
			path = argv[i];
	}
	if (!path) {
		fprintf(stderr, "usage: %s [-v] [-s] [-f NAME-SUBSTRING] FILE.jsonl\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return 2;
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned pass = 0, fail = 0, false_accept = 0, lineno = 0;
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
		run_case(c, verbose, &r);
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
			}
		}
		if (verbose || !ok)
			printf("%s %s: linux %s, bpfvm %s%s%s\n", ok ? "PASS" : "FAIL", name, want,
			       !r.ran ? "setup-failed" : r.accepted ? "accept" : "reject", r.why[0] ? " -- " : "", r.why);
		json_free(c);
	}
	free(line);
	fclose(f);
	if (summary) {
		printf("per file (pass/total, accepted-where-linux-rejects):\n");
		for (unsigned i = 0; i < nstats; i++)
			printf("  %-36s %3u/%-3u %u\n", stats[i].name, stats[i].pass, stats[i].pass + stats[i].fail,
			       stats[i].false_accept);
		printf("accepted where Linux rejects: %u\n", false_accept);
	}
	printf("%u passed, %u failed\n", pass, fail);
	return fail ? 1 : 0;
}
