/*
 * The verifier's abstract state: what it knows about each register and
 * stack slot of each frame on one path.  Shared by every verifier file.
 * Prefix: vfy_.
 */
#ifndef BPFVM_VFY_REGSTATE_H
#define BPFVM_VFY_REGSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "tnum.h"
#include "vm.h"

/* Register types, as Linux's enum bpf_reg_type (the ones bpfvm models). */
enum vfy_type {
	VT_NOT_INIT = 0,
	VT_SCALAR,
	VT_CTX,          /* the program's context */
	VT_MAP_PTR,      /* CONST_PTR_TO_MAP: a map handle */
	VT_MAP_VALUE,    /* into a map value (maybe_null until checked) */
	VT_MAP_KEY,      /* a key handed to a callback */
	VT_STACK,        /* into the frame `frameno`'s stack */
	VT_PKT_META,
	VT_PKT,          /* packet data, `range` bytes past off known readable */
	VT_PKT_END,
	VT_MEM,          /* memory of mem_size bytes (mem program input, helper memory) */
	VT_FUNC,         /* a callback subprogram (lddw src=4) */
	VT__COUNT,
};

struct vfy_reg {
	uint8_t type;         /* enum vfy_type */
	bool maybe_null;      /* pointer not yet compared against 0 */
	bool rdonly;          /* VT_MEM / map value: writes rejected */
	uint8_t frameno;      /* VT_STACK: frame the pointer points into */
	/* Scalar: holds exactly the "mem" program's input length (r2 at
	 * entry).  Kept by 64-bit register copies and full 8-byte spill/fill,
	 * dropped by any ALU op writing the register.  Adding it to the start
	 * of the input (VT_PKT, off 0, no variable part) gives VT_PKT_END. */
	bool mem_len;
	int32_t off;          /* pointers: fixed offset */
	/* Scalars: the value; pointers: the variable part of the offset. */
	struct tnum var_off;
	int64_t smin, smax;
	uint64_t umin, umax;
	int32_t s32_min, s32_max;
	uint32_t u32_min, u32_max;
	/* Pointers: copies share an id so a null check marks them all;
	 * packet pointers share it to share a range.  Scalars: copies share
	 * an id so a bounds check on one bounds all (find_equal_scalars). */
	uint32_t id;
	uint32_t ref_obj_id;  /* acquired reference this pointer holds */
	uint32_t range;       /* VT_PKT: bytes readable past off */
	uint32_t mem_size;    /* VT_MEM: bytes */
	uint32_t subprog;     /* VT_FUNC: target subprogram */
	struct bpfvm_map *map; /* VT_MAP_PTR / VT_MAP_VALUE / VT_MAP_KEY */
	/* Map-in-map: a VT_MAP_PTR from an outer lookup is typed from the
	 * template, the value lookup keeps this as its identity. */
};

/* Stack byte kinds, as Linux's STACK_*. */
enum vfy_slot_type {
	SLOT_INVALID = 0, /* never written */
	SLOT_SPILL,       /* part of a spilled register (8-byte slot) */
	SLOT_MISC,        /* some initialized bytes */
	SLOT_ZERO,        /* known zero bytes */
};

#define VFY_SLOT 8

struct vfy_slot {
	struct vfy_reg spilled; /* valid when every byte is SLOT_SPILL */
	uint8_t type[VFY_SLOT]; /* per byte, enum vfy_slot_type; index 0 = lowest address */
};

struct vfy_frame {
	struct vfy_reg regs[BPF_MAX_REG];
	struct vfy_slot *stack;  /* stack[i] covers [fp - 8*(i+1), fp - 8*i) */
	uint32_t nslots;
	int32_t callsite;        /* caller's call insn, -1 for the main frame */
	uint32_t subprog;
	uint32_t frameno;
	bool in_callback;        /* frame runs a helper callback (bpf_loop ...) */
	uint32_t cb_helper;      /* which helper called it */
	struct vfy_reg cb_args[6]; /* callback frames: r0-r5 at entry, for re-runs */
};

/* An acquired reference (ringbuf record, embedder ACQUIRE helpers). */
struct vfy_ref {
	uint32_t id;
	uint32_t insn; /* acquiring instruction, named in leak errors */
};

#define VFY_MAX_REFS 16

struct vfy_state {
	struct vfy_frame *frame[BPF_MAX_CALL_FRAMES];
	uint32_t curframe;
	uint32_t insn_idx;       /* where this state is (stored) / resumes (queued) */
	/* Held spin lock: (map, value identity id, offset); id 0 = none.
	 * Global data values (.bss/.data, lddw src=2) use the map as identity. */
	struct bpfvm_map *lock_map;
	uint32_t lock_id;
	int32_t lock_off;
	uint32_t nrefs;
	struct vfy_ref refs[VFY_MAX_REFS];
	/* Exploration bookkeeping: the stored state this path descends
	 * from, and (for stored states) how many live paths descend from it. */
	struct vfy_state *parent;
	uint32_t branches;
	uint32_t loop_entry_insns; /* insns processed when stored (loop heuristics) */
	/* Repeated callback runs explored on this path (as Linux's
	 * callback_unroll_depth): a state repeating in the next run of a
	 * callback is the helper calling it again, not an infinite loop. */
	uint32_t cb_iter;
};

#endif
