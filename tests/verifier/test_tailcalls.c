/*
 * Tail calls: the verifier's per-program rule (caller frames of a tail call
 * from a subprogram below 256 bytes, as Linux), the checks a program's load
 * makes against the prog arrays it tail-calls through, and the tail-call
 * graph (verifier/tailgraph.c) over hand-built prog arrays.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "bpfvm.h"
#include "tailgraph.h"

static char g_log[8192];

static bpfvm_map *new_array(bpfvm *vm, const char *name, uint32_t n)
{
	struct bpfvm_map_attr a = { .sz = sizeof(a), .type = BPFVM_MAP_PROG_ARRAY, .key_size = 4, .value_size = 4,
	                            .max_entries = n, .spin_lock_off = -1, .name = name };
	bpfvm_map *m = NULL;
	cr_assert_eq(bpfvm_map_create(vm, &a, &m), 0);
	return m;
}

/* Loads assembly in which every "%d" is `fd`; returns the load's result. */
static int load(bpfvm *vm, const char *name, const char *fmt, int fd, const char *type, bpfvm_prog **out)
{
	char text[4096], err[256];
	snprintf(text, sizeof(text), fmt, fd, fd, fd, fd);
	struct bpf_insn *insns;
	size_t n;
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", name, err);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .name = name, .type = type, .log_buf = g_log,
	                             .log_size = sizeof(g_log), .log_level = BPFVM_LOG_ERRORS };
	*out = NULL;
	int rc = bpfvm_prog_load(vm, insns, n, &o, out);
	free(insns);
	return rc;
}

static bpfvm_prog *must_load(bpfvm *vm, const char *name, const char *fmt, int fd)
{
	bpfvm_prog *p;
	cr_assert_eq(load(vm, name, fmt, fd, NULL, &p), 0, "%s: %s", name, g_log);
	return p;
}

static void put(bpfvm_map *m, uint32_t slot, bpfvm_prog *p)
{
	char log[1024] = "";
	cr_assert_eq(bpfvm_prog_array_update(m, slot, p, log, sizeof(log)), 0, "slot %u: %s", slot, log);
}

/* ---- the 256-byte rule ---- */

/* main uses `stack` bytes and calls a subprogram that tail-calls. */
static int caller_stack_case(uint32_t stack)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 2);
	char fmt[512];
	snprintf(fmt, sizeof(fmt),
	         "stdw [%%%%r10-%u], 0\ncall local +2\nmov %%%%r0, 0\nexit\n"
	         "mov %%%%r3, 0\nlddw %%%%r2, map_fd(%%d)\ncall 12\nmov %%%%r0, 0\nexit\n", stack);
	bpfvm_prog *p;
	g_log[0] = 0;
	int rc = load(vm, "caller", fmt, bpfvm_map_fd(arr), NULL, &p);
	if (p)
		bpfvm_prog_put(p);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
	return rc;
}

Test(tailcalls, caller_frames_below_256_accepted)
{
	cr_expect_eq(caller_stack_case(8), 0, "%s", g_log);
	cr_expect_eq(caller_stack_case(224), 0, "%s", g_log);
}

/* 232 bytes round up to a 256-byte frame (32-byte steps, as Linux's
 * interpreter sizing): exactly 256 is already too much (Linux: >= 256). */
Test(tailcalls, caller_frames_of_256_rejected)
{
	cr_expect_eq(caller_stack_case(232), -EACCES);
	cr_expect(strstr(g_log, "tail_calls are not allowed when call stack of previous frames is 256 bytes"), "%s", g_log);
	cr_expect_eq(caller_stack_case(512), -EACCES);
}

/* A tail call from the main program leaves nothing behind: any stack. */
Test(tailcalls, main_program_tail_call_with_full_stack)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 1);
	bpfvm_prog *p = must_load(vm, "main",
	                          "stdw [%%r10-512], 0\nmov %%r3, 0\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n",
	                          bpfvm_map_fd(arr));
	bpfvm_prog_put(p);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

/* ---- load-time checks against the arrays a program tail-calls through ---- */

#define TAIL0 "mov %%r3, 0\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n"

/* As Linux's bpf_check_tail_call: an array holding "mem" programs can't be
 * tail-called through by an XDP program (it would hand them an XDP frame). */
Test(tailcalls, load_refused_when_array_holds_another_type)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 1);
	bpfvm_prog *t = must_load(vm, "target", "mov %%r0, 1\nexit\n", 0);
	put(arr, 0, t);
	bpfvm_prog *x;
	cr_expect_eq(load(vm, "xdp_caller", TAIL0, bpfvm_map_fd(arr), "xdp", &x), -EINVAL);
	cr_expect(strstr(g_log, "holds programs of type 'mem'") && strstr(g_log, "'xdp_caller' of type 'xdp'"), "%s",
	          g_log);
	/* the same program as "mem" is fine */
	bpfvm_prog *m;
	cr_expect_eq(load(vm, "mem_caller", TAIL0, bpfvm_map_fd(arr), NULL, &m), 0, "%s", g_log);
	if (m)
		bpfvm_prog_put(m);
	bpfvm_prog_put(t);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

/* The first program tail-calling through an empty array owns it (as
 * Linux): another type is then refused at insertion. */
Test(tailcalls, first_user_fixes_the_type)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 1);
	bpfvm_prog *x;
	cr_assert_eq(load(vm, "xdp_caller", TAIL0, bpfvm_map_fd(arr), "xdp", &x), 0, "%s", g_log);
	bpfvm_prog *t = must_load(vm, "mem_target", "mov %%r0, 1\nexit\n", 0);
	char log[1024] = "";
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, t, log, sizeof(log)), -EINVAL);
	cr_expect(strstr(log, "holds programs of type 'xdp'") && strstr(log, "can't be put in"), "%s", log);
	uint32_t k = 0;
	int fd = bpfvm_prog_fd(t);
	cr_expect_eq(bpfvm_map_update(arr, &k, &fd, BPFVM_ANY), -EINVAL, "the fd path refuses it too");
	bpfvm_prog_put(t);
	bpfvm_prog_put(x);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

/* A caller whose tail call from 4 frames deep lands in a program with 5
 * frames of calls needs 9 frames: the interpreter has 8.  Each caller
 * returns what its callee returned, so the target's r0 comes out. */
static const char *deep_caller =
	"call local +1\nexit\n"
	"call local +1\nexit\n"
	"call local +1\nexit\n"
	"call local +1\nexit\n"
	"mov %%r3, 0\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 99\nexit\n";

/* `frames` frames of nested calls, returning 7 from the innermost. */
static void deep_target(char *buf, size_t len, unsigned frames)
{
	buf[0] = 0;
	for (unsigned i = 1; i < frames; i++)
		strncat(buf, "call local +1\nexit\n", len - strlen(buf) - 1);
	strncat(buf, "mov %%r0, 7\nexit\n", len - strlen(buf) - 1);
}

Test(tailcalls, load_refused_when_frames_overflow)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 1);
	char text[512];
	deep_target(text, sizeof(text), 5);
	bpfvm_prog *t = must_load(vm, "deep5", text, 0);
	put(arr, 0, t);
	bpfvm_prog *c;
	cr_expect_eq(load(vm, "caller", deep_caller, bpfvm_map_fd(arr), NULL, &c), -E2BIG);
	cr_expect(strstr(g_log, "would need 9 call frames") && strstr(g_log, "'caller'") && strstr(g_log, "jmp[0] 'deep5'"),
	          "%s", g_log);
	bpfvm_prog_put(t);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

/* The same chain the other way round: the caller is loaded first, the
 * deep target's insertion is refused (and a shallower one goes in). */
Test(tailcalls, insertion_refused_when_frames_overflow)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "jmp", 1);
	bpfvm_prog *c = must_load(vm, "caller", deep_caller, bpfvm_map_fd(arr));
	char text[512], log[2048] = "";
	deep_target(text, sizeof(text), 5);
	bpfvm_prog *t5 = must_load(vm, "deep5", text, 0);
	deep_target(text, sizeof(text), 4);
	bpfvm_prog *t4 = must_load(vm, "deep4", text, 0);
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, t5, log, sizeof(log)), -E2BIG);
	cr_expect(strstr(log, "would need 9 call frames") && strstr(log, "refused for slot 0"), "%s", log);
	uint32_t k = 0;
	int fd = bpfvm_prog_fd(t5);
	cr_expect_eq(bpfvm_map_update(arr, &k, &fd, BPFVM_ANY), -E2BIG, "the fd path too");
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, t4, log, sizeof(log)), 0, "%s", log);
	bpfvm_prog_put(t4);
	bpfvm_prog_put(t5);
	bpfvm_prog_put(c);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

static bpfvm_prog *load_engine(bpfvm *vm, const char *name, const char *fmt, int fd, uint32_t engine)
{
	char text[4096], err[256];
	snprintf(text, sizeof(text), fmt, fd, fd, fd, fd);
	struct bpf_insn *insns;
	size_t n;
	cr_assert_eq(vm_asm(text, strlen(text), &insns, &n, err, sizeof(err)), 0, "%s: asm: %s", name, err);
	struct bpfvm_prog_opts o = { .sz = sizeof(o), .name = name, .engine = engine, .log_buf = g_log,
	                             .log_size = sizeof(g_log), .log_level = BPFVM_LOG_ERRORS };
	bpfvm_prog *p = NULL;
	cr_assert_eq(bpfvm_prog_load(vm, insns, n, &o, &p), 0, "%s: %s", name, g_log);
	cr_assert_eq(bpfvm_prog_engine(p), engine, "%s: %s", name, g_log);
	free(insns);
	return p;
}

/* 4 + 4 frames fit, and run to the innermost frame on both engines. */
Test(tailcalls, frames_that_fit_run)
{
	for (uint32_t engine = BPFVM_ENGINE_INTERP; engine <= BPFVM_ENGINE_JIT; engine++) {
		bpfvm *vm;
		cr_assert_eq(bpfvm_create(NULL, &vm), 0);
		bpfvm_map *arr = new_array(vm, "jmp", 1);
		char text[512];
		deep_target(text, sizeof(text), 4);
		bpfvm_prog *t = load_engine(vm, "deep4", text, 0, engine);
		put(arr, 0, t);
		bpfvm_prog *c = load_engine(vm, "caller", deep_caller, bpfvm_map_fd(arr), engine);
		uint64_t r0 = 0;
		cr_expect_eq(bpfvm_prog_run(c, NULL, 0, &r0), 0, "engine %u", engine);
		cr_expect_eq(r0, 7, "engine %u: r0 %llu", engine, (unsigned long long)r0);
		bpfvm_prog_put(c);
		bpfvm_prog_put(t);
		bpfvm_map_put(arr);
		bpfvm_destroy(vm);
	}
}

/* ---- the graph ---- */

struct fixture {
	bpfvm *vm;
	bpfvm_map *arr, *arr2;
	bpfvm_prog *a, *b, *c, *d, *s;
};

/*
 * a: main (64 bytes) calls a subprogram that tail-calls arr[1] (constant)
 * b (arr[1]): tail-calls arr at a variable index (slots 1, 2, 3 are full)
 * c (arr[2]): tail-calls arr[1]                 -> cycle b <-> c, b self-loop
 * d (arr[3]): 256 bytes of stack, no tail calls
 * s (arr2[0]): tail-calls arr2[0]               -> a self-loop alone
 */
static void build(struct fixture *f)
{
	cr_assert_eq(bpfvm_create(NULL, &f->vm), 0);
	f->arr = new_array(f->vm, "arr", 4);
	f->arr2 = new_array(f->vm, "arr2", 1);
	int fd = bpfvm_map_fd(f->arr), fd2 = bpfvm_map_fd(f->arr2);
	f->a = must_load(f->vm, "a", "stdw [%%r10-64], 0\ncall local +2\nmov %%r0, 0\nexit\n"
	                             "mov %%r3, 1\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n", fd);
	f->b = must_load(f->vm, "b", "mov %%r6, %%r1\ncall 7\nmov %%r3, %%r0\nmov %%r1, %%r6\n"
	                             "lddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n", fd);
	f->c = must_load(f->vm, "c", "mov %%r3, 1\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n", fd);
	f->d = must_load(f->vm, "d", "stdw [%%r10-256], 0\nmov %%r0, 0\nexit\n", 0);
	f->s = must_load(f->vm, "s", "mov %%r3, 0\nlddw %%r2, map_fd(%d)\ncall 12\nmov %%r0, 0\nexit\n", fd2);
	put(f->arr, 1, f->b);
	put(f->arr, 2, f->c);
	put(f->arr, 3, f->d);
	put(f->arr2, 0, f->s);
}

static void destroy(struct fixture *f)
{
	bpfvm_prog *all[] = { f->a, f->b, f->c, f->d, f->s };
	for (unsigned i = 0; i < 5; i++)
		bpfvm_prog_put(all[i]);
	bpfvm_map_put(f->arr);
	bpfvm_map_put(f->arr2);
	bpfvm_destroy(f->vm);
}

static int node_of(const struct vfy_tailgraph *g, const char *name)
{
	for (uint32_t i = 0; i < g->nnodes; i++)
		if (!strcmp(g->nodes[i].prog->name, name))
			return (int)i;
	return -1;
}

static bool has_edge(const struct vfy_tailgraph *g, const char *from, const char *to, uint32_t slot, bool cycle)
{
	int f = node_of(g, from), t = node_of(g, to);
	for (uint32_t e = 0; e < g->nedges; e++)
		if ((int)g->edges[e].from == f && (int)g->edges[e].to == t && g->edges[e].slot == slot)
			return g->edges[e].in_cycle == cycle;
	return false;
}

Test(tailgraph, cycles_self_loops_and_deepest_stack)
{
	struct fixture f;
	build(&f);
	struct bpfvm_prog *progs[] = { f.a, f.b, f.c, f.d, f.s };
	struct bpfvm_map *maps[] = { f.arr, f.arr2 };
	struct vfy_tailgraph g;
	cr_assert_eq(vfy_tailgraph_build(&g, progs, 5, maps, 2), 0);
	cr_expect_eq(g.nnodes, 5);
	cr_expect_eq(g.narrays, 2);
	cr_expect_eq(g.nsites, 4);
	cr_expect_eq(g.nedges, 6, "a->b, b->b, b->c, b->d, c->b, s->s; got %u", g.nedges);
	cr_expect(has_edge(&g, "a", "b", 1, false));
	cr_expect(has_edge(&g, "b", "b", 1, true));
	cr_expect(has_edge(&g, "b", "c", 2, true));
	cr_expect(has_edge(&g, "b", "d", 3, false));
	cr_expect(has_edge(&g, "c", "b", 1, true));
	cr_expect(has_edge(&g, "s", "s", 0, true));
	cr_expect_eq(g.ncycles, 2, "{b, c} and {s}");
	cr_expect(!g.nodes[node_of(&g, "a")].in_cycle);
	cr_expect(g.nodes[node_of(&g, "b")].in_cycle && g.nodes[node_of(&g, "c")].in_cycle);
	cr_expect(!g.nodes[node_of(&g, "d")].in_cycle && g.nodes[node_of(&g, "s")].in_cycle);
	/* a's constant index is known; b's is not */
	for (uint32_t s = 0; s < g.nsites; s++) {
		const char *n = g.nodes[g.sites[s].node].prog->name;
		if (!strcmp(n, "a"))
			cr_expect(g.sites[s].const_index && g.sites[s].index == 1 && g.sites[s].caller_stack == 64 &&
			          g.sites[s].caller_frames == 1);
		if (!strcmp(n, "b"))
			cr_expect(!g.sites[s].const_index && g.sites[s].caller_stack == 0);
	}
	cr_expect_eq(g.nodes[node_of(&g, "a")].stack, 96, "64 + a 32-byte subprogram frame");
	/* the verifier's own figure agrees (cfg.c) */
	cr_expect_eq(f.a->max_tail_stack, 64);
	cr_expect_eq(f.b->max_tail_stack, 0);
	cr_expect_eq(g.nodes[node_of(&g, "d")].stack, 256);
	/* deepest: a's 64 bytes of caller frames left below d's 256 */
	cr_expect_eq(g.deepest_stack.value, 320, "got %u", g.deepest_stack.value);
	cr_expect_eq(g.deepest_stack.start, (uint32_t)node_of(&g, "a"));
	cr_expect_eq(g.deepest_stack.nedges, 2);
	if (g.deepest_stack.nedges == 2)
		cr_expect_eq(g.edges[g.deepest_stack.edges[1]].to, (uint32_t)node_of(&g, "d"));
	cr_expect_eq(g.deepest_frames.value, 2);
	vfy_tailgraph_free(&g);
	destroy(&f);
}

/* Programs reached through slots join the graph without being listed. */
Test(tailgraph, slot_programs_join)
{
	struct fixture f;
	build(&f);
	struct bpfvm_prog *progs[] = { f.a };
	struct vfy_tailgraph g;
	cr_assert_eq(vfy_tailgraph_build(&g, progs, 1, NULL, 0), 0);
	cr_expect_eq(g.nnodes, 4, "a, b, c, d (not s)");
	cr_expect_eq(node_of(&g, "s"), -1);
	cr_expect_eq(g.ncycles, 1);
	vfy_tailgraph_free(&g);
	destroy(&f);
}

/* An empty slot gives no edge; replacing a slot changes the graph. */
Test(tailgraph, follows_slot_contents)
{
	struct fixture f;
	build(&f);
	uint32_t k = 2;
	cr_assert_eq(bpfvm_map_delete(f.arr, &k), 0);
	struct bpfvm_prog *progs[] = { f.a, f.b, f.d };
	struct vfy_tailgraph g;
	cr_assert_eq(vfy_tailgraph_build(&g, progs, 3, NULL, 0), 0);
	cr_expect_eq(node_of(&g, "c"), -1);
	cr_expect_eq(g.ncycles, 1, "only b's self-loop is left");
	cr_expect(has_edge(&g, "b", "b", 1, true));
	vfy_tailgraph_free(&g);
	destroy(&f);
}

/* A self-loop from a subprogram keeps one more frame per tail call: 33 of
 * them can't fit the interpreter's 8 frames, so closing the loop is refused
 * (Linux, JIT-only for this mix, accepts it: its stack grows < 256 bytes per
 * call). */
Test(tailgraph, self_loop_from_subprogram_refused)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	bpfvm_map *arr = new_array(vm, "loop", 1);
	bpfvm_prog *p = must_load(vm, "selfsub", "call local +2\nmov %%r0, 0\nexit\n" TAIL0, bpfvm_map_fd(arr));
	char log[2048] = "";
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, p, log, sizeof(log)), -E2BIG);
	cr_expect(strstr(log, "call frames") && strstr(log, "loop[0] 'selfsub'"), "%s", log);
	/* from the main program it is fine: nothing is left behind */
	bpfvm_prog *q = must_load(vm, "selfmain", TAIL0, bpfvm_map_fd(arr));
	cr_expect_eq(bpfvm_prog_array_update(arr, 0, q, log, sizeof(log)), 0, "%s", log);
	uint64_t r0 = 1;
	cr_expect_eq(bpfvm_prog_run(q, NULL, 0, &r0), 0);
	cr_expect_eq(r0, 0);
	bpfvm_prog_put(q);
	bpfvm_prog_put(p);
	bpfvm_map_put(arr);
	bpfvm_destroy(vm);
}

/* The VM's graph: every loaded program, the same cycles. */
Test(tailgraph, whole_vm)
{
	struct fixture f;
	build(&f);
	struct vfy_tailgraph g;
	cr_assert_eq(vfy_tailgraph_build_vm(&g, f.vm), 0);
	cr_expect_eq(g.nnodes, 5);
	cr_expect_eq(g.nedges, 6);
	cr_expect_eq(g.ncycles, 2);
	cr_expect_eq(g.deepest_stack.value, 320);
	vfy_tailgraph_free(&g);
	destroy(&f);
}
