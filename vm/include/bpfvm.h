/*
 * bpfvm: a userspace eBPF virtual machine and verifier.
 *
 * This is the only header an embedder includes.  Handles are opaque; options
 * are passed in structs whose first member `sz` is set to sizeof(struct), so
 * that fields can be added without breaking callers.  Every function that
 * can fail returns 0 or a negative errno; bpfvm_strerror() names it.
 *
 * Threads: unless a function says otherwise, a VM and the objects created in
 * it may be used from any thread, concurrently.  Programs run on many threads
 * at once; maps may be updated by the host while programs run.
 */
#ifndef BPFVM_H
#define BPFVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BPFVM_API __attribute__((visibility("default")))
#else
#define BPFVM_API
#endif

/* ------------------------------------------------------------------ */
/* Instructions                                                        */
/* ------------------------------------------------------------------ */

/* One BPF instruction, 8 bytes, the layout RFC 9669 and Linux use. */
struct bpf_insn {
	uint8_t code;
	uint8_t dst_reg : 4;
	uint8_t src_reg : 4;
	int16_t off;
	int32_t imm;
};

/* ------------------------------------------------------------------ */
/* The VM                                                              */
/* ------------------------------------------------------------------ */

typedef struct bpfvm bpfvm;
typedef struct bpfvm_prog bpfvm_prog;
typedef struct bpfvm_map bpfvm_map;
typedef struct bpfvm_obj bpfvm_obj;

enum bpfvm_vm_flags {
	/* Install no built-in helpers: the helper id space is the embedder's
	 * alone (the conformance suite uses ids 0-5 this way). */
	BPFVM_VM_BARE = 1u << 0,
};

struct bpfvm_opts {
	size_t sz;       /* sizeof(struct bpfvm_opts) */
	uint32_t flags;  /* enum bpfvm_vm_flags */
	/* Where bpf_trace_printk output goes; NULL means stderr.  Called from
	 * program threads, possibly concurrently. */
	void (*print)(void *user, const char *line);
	void *print_user;
};

/* Creates a VM.  opts may be NULL.  The caller owns *out. */
BPFVM_API int bpfvm_create(const struct bpfvm_opts *opts, bpfvm **out);
/* Destroys a VM and everything still created in it, after waiting for
 * running programs and pending deferred frees.  No program of this VM may
 * be running or started concurrently. */
BPFVM_API void bpfvm_destroy(bpfvm *vm);

/* Static message for a negative errno returned by bpfvm. */
BPFVM_API const char *bpfvm_strerror(int err);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Linux helper ids for the helpers bpfvm implements itself. */
enum bpfvm_builtin_helper {
	BPFVM_FN_map_lookup_elem = 1,
	BPFVM_FN_map_update_elem = 2,
	BPFVM_FN_map_delete_elem = 3,
	BPFVM_FN_ktime_get_ns = 5,
	BPFVM_FN_trace_printk = 6,
	BPFVM_FN_get_prandom_u32 = 7,
	BPFVM_FN_get_smp_processor_id = 8,
	BPFVM_FN_tail_call = 12,
	BPFVM_FN_map_push_elem = 87,
	BPFVM_FN_map_pop_elem = 88,
	BPFVM_FN_map_peek_elem = 89,
	BPFVM_FN_spin_lock = 93,
	BPFVM_FN_spin_unlock = 94,
	BPFVM_FN_strtol = 105,
	BPFVM_FN_strtoul = 106,
	BPFVM_FN_jiffies64 = 118,
	BPFVM_FN_ktime_get_boot_ns = 125,
	BPFVM_FN_ringbuf_output = 130,
	BPFVM_FN_ringbuf_reserve = 131,
	BPFVM_FN_ringbuf_submit = 132,
	BPFVM_FN_ringbuf_discard = 133,
	BPFVM_FN_ringbuf_query = 134,
	BPFVM_FN_ktime_get_coarse_ns = 160,
	BPFVM_FN_for_each_map_elem = 164,
	BPFVM_FN_snprintf = 165,
	BPFVM_FN_loop = 181,
	BPFVM_FN_strncmp = 182,
	BPFVM_FN_map_lookup_percpu_elem = 195,
};

/* Embedder helpers use ids from here up.  Ids below are reserved for
 * Linux-numbered helpers, unless the VM was created BPFVM_VM_BARE. */
#define BPFVM_HELPER_USER_BASE 0x10000

/* What a helper argument must be; the verifier checks each call against it
 * (the names follow Linux's ARG_* kinds). */
enum bpfvm_arg {
	BPFVM_ARG_NONE = 0,          /* unused argument */
	BPFVM_ARG_ANYTHING,          /* any initialized value */
	BPFVM_ARG_SCALAR,            /* a number, never a pointer */
	BPFVM_ARG_PTR_TO_MEM,        /* readable initialized memory; size in the next arg */
	BPFVM_ARG_PTR_TO_MEM_OR_NULL,
	BPFVM_ARG_PTR_TO_UNINIT_MEM, /* writable memory, may be uninitialized; size in the next arg */
	BPFVM_ARG_CONST_SIZE,        /* size of the preceding memory argument, > 0 */
	BPFVM_ARG_CONST_SIZE_OR_ZERO,
	BPFVM_ARG_CONST_MAP_PTR,     /* a map handle (lddw src=1) */
	BPFVM_ARG_PTR_TO_MAP_KEY,    /* key_size bytes of the map in the preceding CONST_MAP_PTR */
	BPFVM_ARG_PTR_TO_MAP_VALUE,  /* value_size bytes, initialized */
	BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE,
	BPFVM_ARG_PTR_TO_CTX,
	BPFVM_ARG_PTR_TO_STACK,      /* any pointer into the program's stack */
	BPFVM_ARG_PTR_TO_SPIN_LOCK,  /* the bpf_spin_lock inside a map value */
	BPFVM_ARG_PTR_TO_FUNC,       /* a callback subprogram (lddw src=4) */
	BPFVM_ARG_PTR_TO_STACK_OR_NULL,
	BPFVM_ARG_PTR_TO_ALLOC_MEM,  /* memory from an acquiring helper (ring buffer record) */
	BPFVM_ARG_CONST_ALLOC_SIZE_OR_ZERO,
	BPFVM_ARG_PTR_TO_CONST_STR,  /* NUL-terminated string in read-only map memory */
	BPFVM_ARG_PTR_TO_LONG,       /* 8 writable bytes, 8-aligned, may be uninitialized (a result) */
};

enum bpfvm_ret {
	BPFVM_RET_INTEGER = 0,
	BPFVM_RET_VOID,
	BPFVM_RET_MAP_VALUE_OR_NULL, /* value of the map passed as CONST_MAP_PTR */
	BPFVM_RET_ALLOC_MEM_OR_NULL, /* memory of the size given by a CONST_ALLOC_SIZE arg */
};

enum bpfvm_helper_flags {
	BPFVM_HELPER_ACQUIRE = 1u << 0,   /* returns a reference that must be released */
	BPFVM_HELPER_RELEASE = 1u << 1,   /* releases the reference in its pointer arg */
	BPFVM_HELPER_LOCK_SAFE = 1u << 2, /* may be called while a bpf_spin_lock is held */
	BPFVM_HELPER_MAY_SLEEP = 1u << 3, /* may block: runs under the tasks-trace RCU flavour */
};

struct bpfvm_helper_proto {
	size_t sz;          /* sizeof(struct bpfvm_helper_proto) */
	const char *name;   /* used in logs and to resolve `extern` declarations in ELF objects */
	uint32_t ret;       /* enum bpfvm_ret */
	uint32_t args[5];   /* enum bpfvm_arg, r1..r5 */
	uint32_t flags;     /* enum bpfvm_helper_flags */
};

/* A helper receives r1..r5 and returns r0.  Called on program threads,
 * concurrently; pointer arguments point into program-visible memory. */
typedef uint64_t (*bpfvm_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

/* Registers a helper under `id`.  The proto is copied.  -EEXIST if the id is
 * taken, -EINVAL if the id is reserved or the proto is malformed.  Register
 * helpers before loading the programs that call them. */
BPFVM_API int bpfvm_helper_register(bpfvm *vm, uint32_t id, bpfvm_helper_fn fn,
                                    const struct bpfvm_helper_proto *proto);

/* C types a host function may take or return, for bpfvm_helper_bind(). */
enum bpfvm_ctype {
	BPFVM_CT_VOID = 0, BPFVM_CT_U8, BPFVM_CT_S8, BPFVM_CT_U16, BPFVM_CT_S16,
	BPFVM_CT_U32, BPFVM_CT_S32, BPFVM_CT_U64, BPFVM_CT_S64, BPFVM_CT_PTR,
	BPFVM_CT_DOUBLE_BITS, /* a double passed and returned as its 64-bit pattern */
};

/* Binds an arbitrary host C function (up to 5 arguments) as a helper through
 * libffi: each BPF argument register is converted to the declared C type
 * and the result widened back into r0.  ctypes has nargs entries; the proto
 * describes the same arguments for the verifier. */
BPFVM_API int bpfvm_helper_bind(bpfvm *vm, uint32_t id, void (*fn)(void), enum bpfvm_ctype ret,
                                const enum bpfvm_ctype *ctypes, unsigned nargs,
                                const struct bpfvm_helper_proto *proto);

/* From inside a helper: ends the current program run as soon as the helper
 * returns, with r0 = `ret`.  Has no effect outside a program run. */
BPFVM_API void bpfvm_run_stop(uint64_t ret);

/* ------------------------------------------------------------------ */
/* Program types: what r1 points to                                    */
/* ------------------------------------------------------------------ */

enum bpfvm_ctx_access {
	BPFVM_CTX_READ = 1u << 0,
	BPFVM_CTX_WRITE = 1u << 1,
	BPFVM_CTX_PKT_DATA = 1u << 2, /* a load gives the packet start */
	BPFVM_CTX_PKT_END = 1u << 3,  /* a load gives the packet end */
	BPFVM_CTX_PKT_META = 1u << 4, /* a load gives the metadata start */
};

struct bpfvm_ctx_field {
	uint32_t off, size; /* bytes within the context as programs see it */
	uint32_t access;    /* enum bpfvm_ctx_access */
	/* Packet pointer fields: programs see a 4-byte field (as Linux's
	 * __u32 data), the run-time context holds an 8-byte pointer at
	 * real_off; the verifier rewrites the load (as Linux's
	 * convert_ctx_access).  Other fields: real_off == off. */
	uint32_t real_off;
};

/* A program type: names the context a program receives.  Built-in types:
 *   "mem"  r1 = the input bytes, r2 = their length (the default);
 *   "xdp"  r1 = struct xdp_md with data/data_end over the input bytes.
 * Embedders may register their own. */
struct bpfvm_prog_type {
	size_t sz;
	const char *name;
	uint32_t ctx_size;                    /* bytes of the context as programs see it */
	uint32_t real_ctx_size;               /* bytes of the run-time context */
	const struct bpfvm_ctx_field *fields; /* accessible fields */
	uint32_t nfields;
	/* Builds the context for one run from the caller's input.  ctx has
	 * ctx_size bytes.  May be NULL when the input is the context itself. */
	int (*make_ctx)(void *ctx, void *data, size_t len, void *user);
	void *user;
};

BPFVM_API int bpfvm_prog_type_register(bpfvm *vm, const struct bpfvm_prog_type *type);

/* ------------------------------------------------------------------ */
/* Programs                                                            */
/* ------------------------------------------------------------------ */

enum bpfvm_engine {
	BPFVM_ENGINE_INTERP = 0,
	BPFVM_ENGINE_JIT = 1, /* falls back to the interpreter when it can't JIT (see log) */
};

enum bpfvm_prog_flags {
	/* Run without the verifier, in checked mode: every memory access,
	 * jump and call is checked at run time, and an instruction budget
	 * stops runaway loops. */
	BPFVM_PROG_NO_VERIFY = 1u << 0,
	/* Run without the verifier and without runtime checks: for trusted
	 * programs and benchmarks only. */
	BPFVM_PROG_UNCHECKED = 1u << 1,
	/* As Linux's BPF_F_ANY_ALIGNMENT. */
	BPFVM_PROG_ANY_ALIGNMENT = 1u << 2,
	/* JIT: blind constants against JIT spraying. */
	BPFVM_PROG_JIT_BLIND = 1u << 3,
	/* JIT: don't vectorize loops (docs/jit.md); their results are the
	 * same either way, this is for comparing and debugging. */
	BPFVM_PROG_JIT_NO_VECTOR = 1u << 4,
};

enum bpfvm_log_level {
	BPFVM_LOG_ERRORS = 1, /* why a program was rejected */
	BPFVM_LOG_STATES = 2, /* per-instruction register state */
	BPFVM_LOG_STATS = 4,  /* statistics at the end */
};

struct bpfvm_prog_opts {
	size_t sz;              /* sizeof(struct bpfvm_prog_opts) */
	const char *name;       /* for logs; copied */
	const char *type;       /* program type name; NULL = "mem" */
	uint32_t flags;         /* enum bpfvm_prog_flags */
	uint32_t engine;        /* enum bpfvm_engine */
	/* "mem" programs under the verifier: the input length the program may
	 * assume; runs with shorter input fail with -EINVAL. */
	uint32_t mem_size;
	/* Caller-owned log: the verifier and loader write NUL-terminated text. */
	char *log_buf;
	size_t log_size;
	uint32_t log_level;     /* enum bpfvm_log_level bits */
	/* Maps for lddw src=5/6 (BPF_PSEUDO_MAP_IDX*): map handles by index. */
	const int *fd_array;
	uint32_t fd_array_cnt;
	/* Checked mode: instructions one run may execute; 0 = default (1e9). */
	uint64_t insn_budget;
};

/* Loads (decodes, validates, verifies unless told not to, and prepares the
 * engine for) a program.  insns are copied.  On failure nothing is created
 * and the log says why.  The caller owns *out. */
BPFVM_API int bpfvm_prog_load(bpfvm *vm, const struct bpf_insn *insns, size_t ninsns,
                              const struct bpfvm_prog_opts *opts, bpfvm_prog **out);
/* Drops the caller's reference.  Programs held by prog arrays live on until
 * those arrays drop them. */
BPFVM_API void bpfvm_prog_put(bpfvm_prog *prog);
BPFVM_API int bpfvm_prog_fd(const bpfvm_prog *prog);   /* handle for prog arrays */
BPFVM_API const char *bpfvm_prog_name(const bpfvm_prog *prog);
BPFVM_API uint32_t bpfvm_prog_engine(const bpfvm_prog *prog); /* the engine it actually runs on */

struct bpfvm_run_opts {
	size_t sz;            /* sizeof(struct bpfvm_run_opts) */
	void *data;           /* input bytes; the program may write them */
	size_t len;
	uint64_t r0;          /* out: the program's return value */
	/* out, on failure of a checked run: what went wrong, where. */
	char *err_buf;
	size_t err_size;
	uint32_t err_insn;    /* out: instruction index of the failure */
	uint64_t err_addr;    /* out: the faulting address, when a memory access failed */
};

/* Runs a program once on the calling thread.  Returns 0 with opts->r0 set,
 * or a negative errno: -EFAULT bad memory access, -ELOOP instruction budget
 * exhausted, -EINVAL bad input or bad call target, -E2BIG call stack too
 * deep (checked runs only).  Thread-safe; many threads may run one program. */
BPFVM_API int bpfvm_prog_run_opts(bpfvm_prog *prog, struct bpfvm_run_opts *opts);
/* Shorthand: run on data/len and store r0. */
BPFVM_API int bpfvm_prog_run(bpfvm_prog *prog, void *data, size_t len, uint64_t *r0);

struct bpfvm_verify_stats {
	size_t sz;
	uint64_t insns_processed;
	uint64_t states_total;
	uint64_t states_peak;
	uint64_t time_ns;
	uint32_t stack_depth;  /* deepest combined stack use, bytes */
};

/* Statistics of the verification of a loaded program (zeros if unverified). */
BPFVM_API int bpfvm_prog_verify_stats(const bpfvm_prog *prog, struct bpfvm_verify_stats *st);

/* ------------------------------------------------------------------ */
/* Maps                                                                */
/* ------------------------------------------------------------------ */

/* Map types, numbered as Linux numbers them.  Those marked "not yet" are
 * reserved: bpfvm_map_create() rejects them with -EINVAL. */
enum bpfvm_map_type {
	BPFVM_MAP_HASH = 1,
	BPFVM_MAP_ARRAY = 2,
	BPFVM_MAP_PROG_ARRAY = 3,
	BPFVM_MAP_PERCPU_HASH = 5,   /* one value per possible CPU per key (docs/maps.md) */
	BPFVM_MAP_PERCPU_ARRAY = 6,  /* one value per possible CPU (docs/maps.md) */
	BPFVM_MAP_LRU_HASH = 9,      /* a full map evicts (docs/maps.md) */
	BPFVM_MAP_LRU_PERCPU_HASH = 10,
	BPFVM_MAP_ARRAY_OF_MAPS = 12,
	BPFVM_MAP_HASH_OF_MAPS = 13,
	BPFVM_MAP_QUEUE = 22,        /* key_size 0: push, pop, peek */
	BPFVM_MAP_STACK = 23,        /* key_size 0: push, pop, peek */
	BPFVM_MAP_RINGBUF = 27,      /* max_entries = data bytes; key/value size 0 */
};

/* Map flags and update flags, as Linux. */
#define BPFVM_F_NO_PREALLOC (1u << 0)
#define BPFVM_F_RDONLY_PROG (1u << 7)
#define BPFVM_F_INNER_MAP   (1u << 12)
#define BPFVM_ANY     0
#define BPFVM_NOEXIST 1
#define BPFVM_EXIST   2
#define BPFVM_F_LOCK  4

struct bpfvm_map_attr {
	size_t sz;              /* sizeof(struct bpfvm_map_attr) */
	uint32_t type;          /* enum bpfvm_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	const char *name;       /* copied */
	/* Offset of a struct bpf_spin_lock (4 bytes) in the value, or -1. */
	int32_t spin_lock_off;
	/* Map-in-map: a map whose shape inner maps must match. */
	bpfvm_map *inner_template;
	/* Optional, caller-owned: why a creation was refused (one line,
	 * NUL-terminated; empty on success). */
	char *log_buf;
	size_t log_size;
};

/* Creates a map.  The caller owns one user reference in *out. */
BPFVM_API int bpfvm_map_create(bpfvm *vm, const struct bpfvm_map_attr *attr, bpfvm_map **out);
/* Drops a user reference.  When the last user reference goes, a prog array
 * is cleared (as Linux), so circular tail-call chains are freed. */
BPFVM_API void bpfvm_map_put(bpfvm_map *map);
/* The map's handle: what lddw src=1 and map-in-map updates take. */
BPFVM_API int bpfvm_map_fd(const bpfvm_map *map);
/* Finds a map by handle and takes a user reference; NULL if none. */
BPFVM_API bpfvm_map *bpfvm_map_from_fd(bpfvm *vm, int fd);

struct bpfvm_map_info {
	size_t sz;
	uint32_t type, key_size, value_size, max_entries, map_flags;
	int32_t spin_lock_off;
	char name[64];
};
BPFVM_API int bpfvm_map_info(const bpfvm_map *map, struct bpfvm_map_info *info);

/* bpfvm's possible CPUs (the machine's configured CPUs).  A per-CPU map's
 * value, as the host reads and writes it, is this many slots of
 * value_size rounded up to 8 bytes, CPU 0 first (as libbpf's
 * libbpf_num_possible_cpus()). */
BPFVM_API unsigned bpfvm_num_possible_cpus(void);

/* Host access, as Linux's bpf(BPF_MAP_*_ELEM).  key/value have the map's
 * key_size/value_size.  For map-in-map and prog arrays the value is a
 * 4-byte handle; for per-CPU maps, every CPU's value (see
 * bpfvm_num_possible_cpus).  flags: BPFVM_ANY/NOEXIST/EXIST, plus BPFVM_F_LOCK to copy
 * under the value's spin lock.  Called from any thread; may run
 * concurrently with programs. */
BPFVM_API int bpfvm_map_lookup(bpfvm_map *map, const void *key, void *value, uint64_t flags);
BPFVM_API int bpfvm_map_update(bpfvm_map *map, const void *key, const void *value, uint64_t flags);
BPFVM_API int bpfvm_map_delete(bpfvm_map *map, const void *key);
/* Copies the element out and removes it, atomically (as Linux's
 * BPF_MAP_LOOKUP_AND_DELETE_ELEM).  Queues pop their oldest element,
 * stacks their newest (key NULL, flags 0; -ENOENT when empty).  Hash maps
 * (plain, per-CPU, LRU) copy key's value out as bpfvm_map_lookup does
 * (flags 0 or BPFVM_F_LOCK) and delete it; -ENOENT if absent.  Other keyed
 * maps: -ENOTSUP, as Linux.  Queues and stacks also take key NULL in
 * bpfvm_map_update (push; BPFVM_EXIST overwrites the oldest element when
 * full) and bpfvm_map_lookup (peek). */
BPFVM_API int bpfvm_map_lookup_and_delete(bpfvm_map *map, const void *key, void *value, uint64_t flags);
/* key NULL gives the first key; -ENOENT after the last. */
BPFVM_API int bpfvm_map_get_next_key(bpfvm_map *map, const void *key, void *next_key);
/* Puts `prog` in slot `index` of a prog array, as bpfvm_map_update with its
 * handle, and on refusal writes the reason into log_buf (may be NULL).
 * Refused: a program of another type than the array's (fixed by the first
 * program put in it or tail-calling through it, as Linux), a verified or
 * unchecked program in an array a BPFVM_PROG_NO_VERIFY program uses, and
 * one that would let a chain of tail calls need more call frames than the
 * interpreter has (docs/verifier.md).  The array takes its own reference.
 * Called from any thread; may run concurrently with programs. */
BPFVM_API int bpfvm_prog_array_update(bpfvm_map *map, uint32_t index, bpfvm_prog *prog, char *log_buf,
                                      size_t log_size);
/* Makes the map read-only to the host (as BPF_MAP_FREEZE). */
BPFVM_API int bpfvm_map_freeze(bpfvm_map *map);

/* ------------------------------------------------------------------ */
/* Ring buffers (BPFVM_MAP_RINGBUF): the consumer side                 */
/* ------------------------------------------------------------------ */

/* Called once per committed record, in reservation order; data/size is
 * the record's payload, valid only during the call.  Return 0 to go on, a
 * negative errno to stop (the record counts as consumed). */
typedef int (*bpfvm_ringbuf_sample_fn)(void *ctx, void *data, size_t size);

/* Consumes every committed record available now, stopping at the first
 * record a producer reserved but has not yet submitted (as Linux).
 * Returns the number of records passed to fn (discarded records are
 * skipped silently), or fn's negative return.  One consumer per ring
 * buffer: any thread, one at a time (-EBUSY if another thread, or fn
 * itself, is consuming).  Programs may produce concurrently on any
 * threads. */
BPFVM_API int bpfvm_ringbuf_consume(bpfvm_map *map, bpfvm_ringbuf_sample_fn fn, void *ctx);
/* As bpfvm_ringbuf_consume(), but when nothing is available waits up to
 * timeout_ms (-1: forever, 0: don't wait) for a producer to commit one.
 * Returns the records consumed, 0 on timeout.  Not from inside a program
 * run (-EDEADLK) unless timeout_ms is 0. */
BPFVM_API int bpfvm_ringbuf_poll(bpfvm_map *map, bpfvm_ringbuf_sample_fn fn, void *ctx, int timeout_ms);

/* Waits until every program run that was in progress when it was called
 * has finished (in the spirit of the proposed BPF_SYNCHRONIZE_MAPS): after
 * swapping an inner map out, the host may then drain the old one. */
BPFVM_API int bpfvm_synchronize(bpfvm *vm);

/* ------------------------------------------------------------------ */
/* Pinning: a per-VM namespace of maps and programs by path            */
/* ------------------------------------------------------------------ */

BPFVM_API int bpfvm_pin_map(bpfvm *vm, const char *path, bpfvm_map *map);
BPFVM_API int bpfvm_pin_prog(bpfvm *vm, const char *path, bpfvm_prog *prog);
/* Take a new reference (user reference for maps) to a pinned object. */
BPFVM_API int bpfvm_pin_get_map(bpfvm *vm, const char *path, bpfvm_map **out);
BPFVM_API int bpfvm_pin_get_prog(bpfvm *vm, const char *path, bpfvm_prog **out);
BPFVM_API int bpfvm_unpin(bpfvm *vm, const char *path);

/* ------------------------------------------------------------------ */
/* ELF objects (clang -target bpf)                                     */
/* ------------------------------------------------------------------ */

struct bpfvm_obj_opts {
	size_t sz;
	char *log_buf;      /* caller-owned; loader and verifier messages */
	size_t log_size;
	uint32_t log_level;
	uint32_t prog_flags; /* enum bpfvm_prog_flags, for every program */
	uint32_t engine;     /* enum bpfvm_engine */
};

/* Opens an object from memory (copied) and creates its maps; programs are
 * loaded by bpfvm_obj_load().  The caller owns *out. */
BPFVM_API int bpfvm_obj_open_mem(bpfvm *vm, const void *buf, size_t len,
                                 const struct bpfvm_obj_opts *opts, bpfvm_obj **out);
BPFVM_API int bpfvm_obj_open_file(bpfvm *vm, const char *path,
                                  const struct bpfvm_obj_opts *opts, bpfvm_obj **out);
/* Whether bpfvm_obj_load() loads program `name` (function or section
 * name; NULL: every program, e.g. all off, then one on).  By default
 * every program is loaded, as libbpf's autoload.
 * Call before bpfvm_obj_load() (-EBUSY after); -ENOENT for no such
 * program.  Same thread as the other calls on obj. */
BPFVM_API int bpfvm_obj_set_autoload(bpfvm_obj *obj, const char *name, int autoload);
/* Links, relocates, verifies and loads the object's programs: those left
 * to autoload, plus the programs in the initial slots of any prog array
 * they reference (transitively), so their tail calls work.  Programs not
 * loaded are never linked: their unresolved externs can't fail the load. */
BPFVM_API int bpfvm_obj_load(bpfvm_obj *obj);
BPFVM_API void bpfvm_obj_close(bpfvm_obj *obj);
/* Programs by section or function name; maps by name.  Borrowed pointers,
 * valid until bpfvm_obj_close(). */
BPFVM_API bpfvm_prog *bpfvm_obj_prog(bpfvm_obj *obj, const char *name);
BPFVM_API bpfvm_prog *bpfvm_obj_prog_at(bpfvm_obj *obj, unsigned i);
/* Programs in the object, loaded or not (bpfvm_obj_prog_at() is NULL for
 * one that is not loaded, see bpfvm_obj_set_autoload()). */
BPFVM_API unsigned bpfvm_obj_prog_count(const bpfvm_obj *obj);
BPFVM_API bpfvm_map *bpfvm_obj_map(bpfvm_obj *obj, const char *name);
BPFVM_API bpfvm_map *bpfvm_obj_map_at(bpfvm_obj *obj, unsigned i);

#ifdef __cplusplus
}
#endif
#endif
