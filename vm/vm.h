/*
 * Internal state of the VM, programs, helpers and runs.  Never installed.
 * Prefix: vm_.
 */
#ifndef BPFVM_VM_H
#define BPFVM_VM_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfvm.h"
#include "isa.h"
#include "rcu.h"

#define VM_HIDDEN __attribute__((visibility("hidden")))
#define vm_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct bpfvm_map;
struct vm_log;

/* ---- helpers ---- */

enum vm_helper_kind {
	VM_HELPER_PLAIN = 0, /* call fn(r1..r5) */
	VM_HELPER_TAIL_CALL, /* bpf_tail_call: handled by each engine, never "called" */
	VM_HELPER_FFI,       /* host C function bound through libffi */
};

struct vm_helper {
	uint32_t id;
	uint32_t kind;         /* enum vm_helper_kind */
	bpfvm_helper_fn fn;    /* for PLAIN, and for FFI a trampoline */
	struct bpfvm_helper_proto proto;
	void *ffi;             /* FFI binding state, owned */
	char name[48];
};

/* ---- program types ---- */

struct vm_prog_type {
	struct bpfvm_prog_type t; /* fields array and name are owned copies */
	bool is_mem;              /* the built-in "mem" type: r1 = data, r2 = len */
};

/* ---- the VM ---- */

struct vm_helper_tab {
	struct rcu_head rcu;
	size_t n;
	struct vm_helper *h[];
};

struct bpfvm {
	struct bpfvm_opts opts;
	pthread_mutex_t lock;        /* guards the tables below (not the run path) */

	/* Helpers sorted by id, as an immutable table that registration
	 * replaces (under lock) and publishes with a release store, so lookups
	 * (callx at run time) take no lock: they search under an RCU read
	 * section, and a replaced table is freed after a grace period.  The
	 * helpers themselves live until bpfvm_destroy. */
	struct vm_helper_tab *_Atomic htab;

	struct vm_prog_type **types;
	size_t ntypes;

	/* Handle tables: index = handle (fd).  Entries hold no reference;
	 * objects clear their slot when freed. */
	struct bpfvm_map **maps;
	size_t maps_cap;
	struct bpfvm_prog **progs;
	size_t progs_cap;

	void *pins;                  /* pin namespace, maps/pin.c */
};

VM_HIDDEN const struct vm_helper *vm_helper_find(const bpfvm *vm, uint32_t id);
VM_HIDDEN const struct vm_helper *vm_helper_find_name(const bpfvm *vm, const char *name);
VM_HIDDEN const struct vm_prog_type *vm_prog_type_find(const bpfvm *vm, const char *name);

/* ---- programs ---- */

/* Per-instruction facts resolved at load time. */
struct vm_insn_aux {
	const struct vm_helper *helper; /* CALL: the resolved helper */
	struct bpfvm_map *map;          /* LDDW of a map or map value */
	uint32_t subprog;               /* index of the subprogram this insn belongs to */
	bool zext_dst;                  /* verifier: 32-bit result's upper half is read */
	bool const_tail_index;          /* verifier: tail call index proven constant */
	uint32_t tail_index;
	struct bpfvm_map *tail_map;     /* verifier: a tail call's prog array; NULL if several
	                                 * or unknown (no reference: the lddw holds one) */
};

struct vm_subprog {
	struct bpfvm_prog *prog; /* back-pointer: lddw src=4 yields &prog->subprogs[i] */
	uint32_t start;       /* first instruction */
	uint32_t stack_depth; /* bytes, rounded to 8; BPF_STACK_SIZE when unverified */
};

/* A checked run's view of one memory region a program may touch. */
struct vm_region {
	uintptr_t start, end; /* [start, end) */
	bool writable;
};

/* Source lines of a program's instructions, from an ELF object's .BTF.ext,
 * for the verifier's messages (as Linux's "; <line> @ <file>:<n>").  One
 * allocation holds the header, both arrays and the strings; free() frees it. */
struct vm_line {
	uint32_t insn;         /* first instruction of the line; it lasts until the next entry */
	uint32_t line, col;
	const char *file;      /* base name; NULL: no source line for these insns */
	const char *src;       /* the line's text, leading blanks trimmed; may be "" */
};

struct vm_func_name {
	uint32_t insn;         /* first instruction of the function */
	const char *name;
};

struct vm_prog_debug {
	struct vm_line *lines;      /* sorted, strictly increasing insn */
	uint32_t nlines;
	struct vm_func_name *funcs; /* sorted, strictly increasing insn */
	uint32_t nfuncs;
};

struct bpfvm_prog {
	bpfvm *vm;
	char name[64];
	const struct vm_prog_type *type;
	uint32_t flags;                /* enum bpfvm_prog_flags */
	uint32_t engine;               /* engine actually used */
	uint32_t mem_size;
	uint64_t insn_budget;
	int fd;

	_Atomic long refcnt;           /* all references: host handle, prog arrays, pins */

	struct bpf_insn *insns;        /* after lddw resolution; imm64 of map lddws = pointer */
	uint16_t *ops;                 /* enum vm_op per slot (second lddw slot: VM_OP_INVALID) */
	struct vm_insn_aux *aux;
	uint32_t len;

	struct vm_subprog *subprogs;   /* subprogs[0] is the main program */
	uint32_t nsubprogs;

	struct bpfvm_verify_stats vstats;

	/* The last reference frees the program after both RCU flavours'
	 * grace periods (vm/vm.c). */
	struct rcu_head rcu;

	/* Prog arrays this program may tail-call through (verifier). */
	struct bpfvm_map **tail_maps;
	uint32_t ntail_maps;
	uint32_t max_tail_stack;       /* stack of the frames a tail call may leave behind */

	/* Engines. */
	void *interp;                  /* interpreter's prepared code, vm/interp*.c */
	void *jit;                     /* jit/ state */
	uint64_t (*jit_entry)(void *ctx, uint64_t r2, struct bpfvm_prog *self);

	struct vm_prog_debug *debug;   /* source lines (ELF objects), or NULL; owned */
};

VM_HIDDEN void vm_prog_get(struct bpfvm_prog *prog);
VM_HIDDEN void vm_prog_release(struct bpfvm_prog *prog); /* drop any reference */
/* bpfvm_prog_load with source line info: the program takes ownership of
 * debug (a single allocation, may be NULL), also when loading fails. */
VM_HIDDEN int vm_prog_load_debug(bpfvm *vm, const struct bpf_insn *insns, size_t ninsns,
                                 const struct bpfvm_prog_opts *opts, struct vm_prog_debug *debug,
                                 bpfvm_prog **out);
/* The source line in effect at insn (NULL if none), and the function
 * containing it (NULL if unnamed); vm/lines.c. */
VM_HIDDEN const struct vm_line *vm_line_of(const struct bpfvm_prog *prog, uint32_t insn);
VM_HIDDEN const struct vm_func_name *vm_func_of(const struct bpfvm_prog *prog, uint32_t insn);
/* Finds a program by handle and takes a reference (prog arrays, pins); NULL if none. */
VM_HIDDEN struct bpfvm_prog *vm_prog_from_fd(bpfvm *vm, int fd);

/* ---- runs ---- */

/*
 * The state of the program run in progress on this thread.  Lives on the
 * stack of bpfvm_prog_run_opts(); helpers reach it through vm_current_run.
 */
struct vm_run {
	struct bpfvm_prog *prog;       /* the program running now (changes on tail calls) */
	uint32_t tail_calls;           /* as Linux: at most 33 per run */
	bool stop;                     /* bpfvm_run_stop() was called */
	uint64_t stop_ret;
	void *ctx;                     /* r1 at entry */
	uint8_t *data;                 /* the input bytes */
	size_t len;
	/* Checked mode only: the regions this run may touch, besides stack. */
	struct vm_region *regions;
	uint32_t nregions, regions_cap;
	struct bpfvm_run_opts *out;    /* where errors are reported */
	uint64_t budget;
	int err;
	void *spin_lock_held;          /* the lock this run holds, if any */
	size_t ctx_size;               /* bytes at ctx (checked mode region) */
	void *stack_top;               /* top of the innermost interpreter loop's stack */
	uint32_t cb_depth;             /* nested callback loops (bpf_loop etc.), bounded */
	int32_t cpu;                   /* the run's CPU once asked for (vm/cpu.c), else -1 */
};

extern __thread struct vm_run *vm_current_run;

/* Possible CPUs (sysconf _SC_NPROCESSORS_CONF) and the current run's CPU,
 * fixed for the run (vm/cpu.c). */
VM_HIDDEN uint32_t vm_nr_cpus(void);
VM_HIDDEN uint32_t vm_cpu_current(void);

/* Records a run-time failure (checked mode, helper misuse): message and
 * instruction index go to the caller's run opts.  Returns err. */
VM_HIDDEN int vm_run_fail(struct vm_run *run, int err, uint32_t insn, uint64_t addr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Calls a callback subprogram (the value lddw src=4 produced) with r1..r5
 * on the current run's engine, as bpf_loop/for_each_map_elem do. */
VM_HIDDEN uint64_t vm_call_callback(struct vm_run *run, uint64_t cb, uint64_t r1, uint64_t r2,
                                    uint64_t r3, uint64_t r4, uint64_t r5);

/* Adds memory a helper handed to the program (checked mode). */
VM_HIDDEN void vm_run_add_region(struct vm_run *run, void *start, size_t len, bool writable);
/* Takes back a region added at `start` (a ring buffer record once submitted). */
VM_HIDDEN void vm_run_remove_region(struct vm_run *run, uintptr_t start);

/* ---- load-time stages (vm/load.c drives them) ---- */

/* Validates raw bytecode: opcodes, registers, jump targets, lddw pairs,
 * falling off the end.  Fills prog->ops.  Errors name the instruction. */
VM_HIDDEN int vm_validate(struct bpfvm_prog *prog, struct vm_log *log);
/* Resolves lddw pseudo sources and helper ids; fills prog->aux. */
VM_HIDDEN int vm_resolve(struct bpfvm_prog *prog, const struct bpfvm_prog_opts *opts, struct vm_log *log);
/* Finds subprograms from call local / lddw src=4 targets. */
VM_HIDDEN int vm_find_subprogs(struct bpfvm_prog *prog, struct vm_log *log);

/* ---- engines ---- */

VM_HIDDEN int vm_interp_prepare(struct bpfvm_prog *prog);
VM_HIDDEN void vm_interp_free(struct bpfvm_prog *prog);
/* Fast engine: no checks. */
VM_HIDDEN uint64_t vm_interp_run(struct bpfvm_prog *prog, struct vm_run *run, uint64_t r1, uint64_t r2);
/* Checked engine: bounds, targets, budget; returns error via run->err. */
VM_HIDDEN uint64_t vm_interp_run_checked(struct bpfvm_prog *prog, struct vm_run *run, uint64_t r1, uint64_t r2);

#endif
