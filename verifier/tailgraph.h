/*
 * Tail-call reachability: which programs can reach which through which
 * prog arrays, the cycles among them, and the deepest stack a chain of tail
 * calls can build up.  Nodes are programs; an edge is one tail-call site of
 * a program -> a prog array -> the program in one of its slots (the slot
 * the verifier proved constant, else every slot).  A snapshot: slots may
 * change right after it is taken.  Prefix: vfy_tg_.
 *
 * Why the stack adds up: a tail call replaces only the frame that makes it.
 * From a subprogram, its callers' frames stay below the target, so along a
 * chain P0 -> P1 -> ... -> Pn the stack is the sum of the caller frames left
 * at each tail-call site plus Pn's own deepest call chain.  Linux bounds each
 * site's caller frames below 256 bytes (verified per program, cfg.c), so 33
 * tail calls stay near 8 KiB; cycles are legal and end at 33 tail calls.
 */
#ifndef BPFVM_TAILGRAPH_H
#define BPFVM_TAILGRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "vm.h"
#include "log.h"

struct vfy_tg_node {
	struct bpfvm_prog *prog;   /* borrowed: valid while the caller keeps the programs */
	uint32_t stack;            /* deepest combined stack of its call chains (32-byte frames, as Linux) */
	uint32_t frames;           /* deepest call chain, in frames */
	bool verified;             /* false: loaded without the verifier, facts are worst cases */
	bool in_cycle;             /* on a cycle of tail calls (self-loops included) */
	uint32_t scc;              /* strongly connected component */
};

/* One tail-call instruction. */
struct vfy_tg_site {
	uint32_t node, insn;
	uint32_t subprog;
	uint32_t caller_stack;     /* bytes of caller frames a tail call here leaves behind */
	uint32_t caller_frames;    /* and how many frames */
	struct bpfvm_map *map;     /* the prog array; NULL: any the program uses */
	bool const_index;
	uint32_t index;
};

struct vfy_tg_edge {
	uint32_t site, from, to;
	struct bpfvm_map *map;
	uint32_t slot;
	bool const_index;          /* the site's index is this constant slot */
	bool in_cycle;
};

/* A chain of tail calls: start, then edges in order. */
struct vfy_tg_chain {
	uint32_t value;            /* bytes or frames, see below */
	uint32_t start;            /* node */
	uint32_t *edges;
	uint32_t nedges;
};

struct vfy_tailgraph {
	struct vfy_tg_node *nodes;
	uint32_t nnodes;
	struct vfy_tg_site *sites;
	uint32_t nsites;
	struct vfy_tg_edge *edges;
	uint32_t nedges;
	struct bpfvm_map **arrays; /* prog arrays in the graph (given or tail-called through) */
	uint32_t narrays;
	uint32_t ncycles;          /* strongly connected components holding a cycle */
	/* Over every chain of at most 33 tail calls from any program: */
	struct vfy_tg_chain deepest_stack;  /* caller frames left behind + the last program's stack */
	struct vfy_tg_chain deepest_frames; /* the same in call frames; chains from verified programs only */
};

/* Pretend slot `slot` of `map` holds `prog` (an insertion being checked). */
struct vfy_tg_override {
	struct bpfvm_map *map;
	uint32_t slot;
	struct bpfvm_prog *prog;
};

/*
 * Builds the graph of progs[0..n) and maps[0..nmaps) (non prog arrays are
 * ignored); programs found in slots join as nodes.  ov may be NULL.  The
 * caller holds prog->vm->lock (vfy_tailgraph_build takes it), which keeps
 * every program of the VM in memory.  Returns 0 or -ENOMEM.
 */
int vfy_tailgraph_build_held(struct vfy_tailgraph *g, struct bpfvm_prog *const *progs, uint32_t n,
                             struct bpfvm_map *const *maps, uint32_t nmaps, const struct vfy_tg_override *ov);
int vfy_tailgraph_build(struct vfy_tailgraph *g, struct bpfvm_prog *const *progs, uint32_t n,
                        struct bpfvm_map *const *maps, uint32_t nmaps);
/* Every program loaded in vm (and the prog arrays they use). */
int vfy_tailgraph_build_vm(struct vfy_tailgraph *g, bpfvm *vm);
void vfy_tailgraph_free(struct vfy_tailgraph *g);

/*
 * The checks run when a verified program is loaded (verifier.c): as Linux's
 * bpf_check_tail_call, each prog array it tail-calls through takes its type
 * (or must already hold it); and bpfvm's call-frame bound (tailgraph.c)
 * must hold with it added to the VM's programs.  Errors go to log.
 */
int vfy_tail_check_load(struct bpfvm_prog *prog, struct vm_log *log);

/* The bpfvm-specific bound: the interpreter's 8 frames of 512 bytes hold
 * every frame a chain leaves behind.  With vm->lock held: 0, or -E2BIG with
 * the chain in log when putting ov->prog in its slot (or loading `extra`)
 * would let a chain of verified programs need more. */
int vfy_tail_check_frames_held(bpfvm *vm, struct bpfvm_prog *extra, const struct vfy_tg_override *ov,
                               struct vm_log *log);

#endif
