/*
 * Programs as users write them (progs/NAME.bpf.c, built with clang-19): bpfvm's
 * verifier must accept each on both engines, and runs must compute what
 * the C says.  Where this kernel lets the test call bpf() (root, not
 * refused by the sandbox) and libbpf is installed, Linux's verifier loads
 * the same objects and must accept them too; the processed-insns figures
 * of both are printed side by side.  Nothing is ever attached.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfvm.h"

#ifdef HAVE_LIBBPF
#include "real_linux.h"
#endif

static bpfvm_obj *open_obj(bpfvm *vm, const char *name, uint32_t engine, char *log, size_t logsz)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", REAL_PROGS_DIR, name);
	struct bpfvm_obj_opts oo = { .sz = sizeof(oo), .log_buf = log, .log_size = logsz, .engine = engine,
	                             .log_level = BPFVM_LOG_ERRORS | BPFVM_LOG_STATS };
	bpfvm_obj *obj = NULL;
	cr_assert_eq(bpfvm_obj_open_file(vm, path, &oo, &obj), 0, "%s: %s", name, log);
	cr_assert_eq(bpfvm_obj_load(obj), 0, "%s: bpfvm rejects it:\n%s", name, log);
	return obj;
}

static uint64_t run(bpfvm_obj *obj, const char *prog, const void *pkt, size_t len)
{
	bpfvm_prog *p = bpfvm_obj_prog(obj, prog);
	cr_assert(p, "no program %s", prog);
	uint8_t buf[256];
	cr_assert_leq(len, sizeof(buf));
	memcpy(buf, pkt, len);
	char err[256] = "";
	struct bpfvm_run_opts ro = { .sz = sizeof(ro), .data = buf, .len = len, .err_buf = err, .err_size = sizeof(err) };
	cr_assert_eq(bpfvm_prog_run_opts(p, &ro), 0, "%s: %s", prog, err);
	return ro.r0;
}

static uint64_t processed(bpfvm_obj *obj, const char *prog)
{
	struct bpfvm_verify_stats st = { .sz = sizeof(st) };
	cr_assert_eq(bpfvm_prog_verify_stats(bpfvm_obj_prog(obj, prog), &st), 0);
	return st.insns_processed;
}

/* Ethernet + IPv4 + TCP SYN from 10.0.0.1:1234 to 10.0.0.2:80, with the
 * MSS option (1460) when mss is set. */
static size_t syn_packet(uint8_t *p, bool mss)
{
	memset(p, 0, 80);
	memset(p, 0xff, 6);
	memset(p + 6, 0x11, 6);
	p[12] = 0x08; p[13] = 0x00;
	uint8_t *ip = p + 14;
	size_t tcplen = mss ? 24 : 20;
	ip[0] = 0x45; ip[2] = 0; ip[3] = (uint8_t)(20 + tcplen); ip[8] = 64; ip[9] = 6;
	ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2;
	uint8_t *th = ip + 20;
	th[0] = 1234 >> 8; th[1] = 1234 & 0xff; th[3] = 80;
	th[12] = (uint8_t)((tcplen / 4) << 4);
	th[13] = 0x02; /* SYN */
	if (mss) {
		th[20] = 2; th[21] = 4; th[22] = 1460 >> 8; th[23] = 1460 & 0xff;
	}
	return 14 + 20 + tcplen;
}

Test(real, programs_verify_and_compute)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		static char log[1 << 16];

		/* branches: the accumulator as the C computes it */
		bpfvm_obj *o = open_obj(vm, "branches.o", engine, log, sizeof(log));
		uint8_t pkt[80];
		for (int i = 0; i < 64; i++)
			pkt[i] = (uint8_t)(i * 37 + 11);
		unsigned long acc = 0;
		for (int i = 0; i < 32; i++)
			acc = pkt[i] & 1 ? acc + (unsigned long)i * 3 : acc ^ (unsigned long)i;
		cr_expect_eq(run(o, "branches", pkt, 64), acc & 3);
		cr_expect_lt(processed(o, "branches"), 2000, "branches: %llu insns", (unsigned long long)processed(o, "branches"));
		bpfvm_obj_close(o);

		/* flowstat: one SYN counted, one flow of 1 packet */
		o = open_obj(vm, "flowstat.o", engine, log, sizeof(log));
		size_t n = syn_packet(pkt, false);
		cr_expect_eq(run(o, "flowstat", pkt, n), 2 /* XDP_PASS */);
		uint32_t k = 3;
		uint64_t v = 0;
		cr_expect_eq(bpfvm_map_lookup(bpfvm_obj_map(o, "counters"), &k, &v, 0), 0);
		cr_expect_eq(v, 1, "SYN counter %llu", (unsigned long long)v);
		uint8_t fk[16], fnext[16];
		uint64_t st[2];
		bpfvm_map *flows = bpfvm_obj_map(o, "flows");
		cr_assert_eq(bpfvm_map_get_next_key(flows, NULL, fk), 0);
		cr_expect_eq(bpfvm_map_lookup(flows, fk, st, 0), 0);
		cr_expect_eq(st[0], 1);
		cr_expect_eq(st[1], n);
		cr_expect_eq(bpfvm_map_get_next_key(flows, fk, fnext), -ENOENT, "one flow");
		bpfvm_obj_close(o);

		/* tcpopt: the MSS found, or the packet dropped without one */
		o = open_obj(vm, "tcpopt.o", engine, log, sizeof(log));
		n = syn_packet(pkt, true);
		cr_expect_eq(run(o, "tcpopt", pkt, n), 2);
		k = 0;
		cr_expect_eq(bpfvm_map_lookup(bpfvm_obj_map(o, "mss_seen"), &k, &v, 0), 0);
		cr_expect_eq(v, 1460);
		n = syn_packet(pkt, false);
		cr_expect_eq(run(o, "tcpopt", pkt, n), 1 /* XDP_DROP */);
		bpfvm_obj_close(o);

		/* strings: sum of the bytes * 100 + capitals */
		o = open_obj(vm, "strings.o", engine, log, sizeof(log));
		cr_expect_eq(run(o, "strings", "Hello World", 11), 105202);
		bpfvm_obj_close(o);
		bpfvm_destroy(vm);
	}
}

#ifdef HAVE_LIBBPF
/* Linux's verdict on the same objects: it must accept them as bpfvm does. */
Test(real, linux_agrees)
{
	if (!real_linux_bpf_allowed()) {
		cr_log_info("bpf() is refused here: Linux's verdicts skipped");
		cr_skip_test("bpf() is refused here");
	}
	const char *objs[][2] = { { "branches.o", "branches" }, { "flowstat.o", "flowstat" }, { "tcpopt.o", "tcpopt" },
	                          { "strings.o", "strings" } };
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		char path[512], figure[128] = "", klog[4096] = "";
		snprintf(path, sizeof(path), "%s/%s", REAL_PROGS_DIR, objs[i][0]);
		int err = real_linux_load(path, objs[i][1], figure, sizeof(figure), klog, sizeof(klog));
		cr_expect_eq(err, 0, "%s: Linux rejects it (%d):\n%s", objs[i][0], err, klog);
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		static char log[1 << 16];
		bpfvm_obj *o = open_obj(vm, objs[i][0], BPFVM_ENGINE_INTERP, log, sizeof(log));
		printf("%-10s bpfvm: %llu insns processed; Linux: %s\n", objs[i][1],
		       (unsigned long long)processed(o, objs[i][1]), figure[0] ? figure : "(no figure)");
		bpfvm_obj_close(o);
		bpfvm_destroy(vm);
	}
}
#endif
