/*
 * The ELF object loader's internal model (never installed).
 *
 * Loading an object is a pipeline of pure stages over an owned copy of the
 * file, so that every stage can be tested and fuzzed without a VM:
 *
 *   elf.c    ELF64 LE relocatable: sections, symbols, strings, all bounds
 *            checked once so later stages only see validated views;
 *   btf.c    the .BTF type graph, enough for map definitions and spin locks;
 *   btf_ext.c .BTF.ext func and line info, mapped onto linked programs so
 *            verifier errors name the source line;
 *   maps.c   map definitions: BTF .maps, legacy `maps`, global data sections;
 *   reloc.c  programs: one per function in an executable section, linked
 *            with the .text (or other) subprograms they call, map and data
 *            references turned into lddw src=5/6 with a map *index*;
 *   obj.c    the public bpfvm_obj_* API: creates the maps, rewrites the map
 *            indexes to handles, loads the programs, fills initial slots.
 *
 * Prefixes: elf_ (ELF and the parsed object), btf_ (BTF).
 */
#ifndef BPFVM_ELFOBJ_H
#define BPFVM_ELFOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfvm.h"
#include "log.h"

#define ELF_HIDDEN __attribute__((visibility("hidden")))

/* Limits that keep hostile files from costing time or memory. */
#define ELF_MAX_SECTIONS   65536u
#define ELF_MAX_SYMBOLS    (1u << 20)
#define ELF_MAX_PROG_INSNS (1u << 20)      /* a linked program, as Linux's limit */
#define ELF_MAX_DATA_SIZE  (64u << 20)     /* one global data section */
#define BTF_MAX_TYPES      (1u << 20)
#define BTF_MAX_DEPTH      32              /* typedef/const/array chains, as libbpf */

/* ---- elf.c ---- */

struct elf_sec {
	const char *name;      /* NUL-terminated, inside the file copy */
	uint32_t type;         /* SHT_* */
	uint64_t flags;        /* SHF_* */
	uint64_t size;
	uint32_t link, info;
	uint64_t entsize;
	const uint8_t *data;   /* NULL for SHT_NOBITS (and size 0) */
};

struct elf_sym {
	const char *name;      /* "" when unnamed */
	uint64_t value, size;
	uint32_t shndx;        /* SHN_UNDEF, a valid section index, or SHN_ABS/COMMON */
	uint8_t bind, type;    /* STB_*, STT_* */
};

struct elf_file {
	const uint8_t *buf;
	size_t len;
	struct elf_sec *secs;
	uint32_t nsecs;
	struct elf_sym *syms;
	uint32_t nsyms;
	uint32_t symtab;       /* section index of .symtab, 0 if none */
};

/* Validates and indexes an ELF64 LE BPF relocatable object in buf (which
 * must outlive f).  Errors name the section/symbol and file offset. */
ELF_HIDDEN int elf_open(struct elf_file *f, const uint8_t *buf, size_t len, struct vm_log *log);
ELF_HIDDEN void elf_close(struct elf_file *f);
/* Section index by name, or -1. */
ELF_HIDDEN int elf_sec_by_name(const struct elf_file *f, const char *name);
/* Reads little-endian values from validated memory (alignment-safe). */
static inline uint32_t elf_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t elf_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint64_t elf_rd64(const uint8_t *p) { return elf_rd32(p) | (uint64_t)elf_rd32(p + 4) << 32; }

/* ---- btf.c ---- */

enum btf_kind {
	BTF_K_UNKN = 0, BTF_K_INT, BTF_K_PTR, BTF_K_ARRAY, BTF_K_STRUCT, BTF_K_UNION,
	BTF_K_ENUM, BTF_K_FWD, BTF_K_TYPEDEF, BTF_K_VOLATILE, BTF_K_CONST,
	BTF_K_RESTRICT, BTF_K_FUNC, BTF_K_FUNC_PROTO, BTF_K_VAR, BTF_K_DATASEC,
	BTF_K_FLOAT, BTF_K_DECL_TAG, BTF_K_TYPE_TAG, BTF_K_ENUM64,
	BTF_K__MAX,
};

struct btf_type {
	const char *name;      /* "" for anonymous types */
	uint32_t kind, vlen;
	bool kflag;
	uint32_t size_type;    /* size (INT, STRUCT, ...) or referenced type id */
	const uint8_t *extra;  /* kind-specific data following the header */
};

struct btf {
	struct btf_type *types; /* types[0] is void */
	uint32_t ntypes;        /* including void */
	const char *strs;       /* string section, NUL-terminated at both ends */
	uint32_t str_len;
};

/* Parses .BTF (data must outlive btf).  Checks the header, every type's
 * kind and extent, string offsets and referenced ids. */
ELF_HIDDEN int btf_parse(struct btf *btf, const uint8_t *data, size_t size, struct vm_log *log);
ELF_HIDDEN void btf_free(struct btf *btf);
/* Type by id, or NULL when out of range. */
ELF_HIDDEN const struct btf_type *btf_type_by_id(const struct btf *btf, uint32_t id);
/* Follows typedef/const/volatile/restrict/type_tag to the underlying id.
 * -ELOOP on a cycle or a chain deeper than BTF_MAX_DEPTH. */
ELF_HIDDEN int btf_skip_mods(const struct btf *btf, uint32_t id, uint32_t *out);
/* Size in bytes of a type; -EINVAL for sizeless types, -ELOOP for loops,
 * -E2BIG for sizes over 4 GiB. */
ELF_HIDDEN int btf_type_size(const struct btf *btf, uint32_t id, uint64_t *size);
/* Members of STRUCT/UNION: i < vlen. */
ELF_HIDDEN void btf_member(const struct btf *btf, const struct btf_type *t, uint32_t i,
                           const char **name, uint32_t *type, uint32_t *bit_off);
ELF_HIDDEN void btf_array(const struct btf_type *t, uint32_t *elem, uint32_t *nelems);
/* DATASEC entries: i < vlen. */
ELF_HIDDEN void btf_datasec_var(const struct btf_type *t, uint32_t i, uint32_t *type,
                                uint32_t *off, uint32_t *size);
/* Type id of a named type of a kind, or 0. */
ELF_HIDDEN uint32_t btf_find(const struct btf *btf, const char *name, uint32_t kind);
/* Offset of the struct bpf_spin_lock inside type id: *off = -1 when there is
 * none; -EINVAL when there is more than one (as Linux). */
ELF_HIDDEN int btf_find_spin_lock(const struct btf *btf, uint32_t id, int32_t *off, struct vm_log *log);
/* Short C-like name of a type for `bpfvm show` ("struct foo", "__u32"). */
ELF_HIDDEN void btf_type_str(const struct btf *btf, uint32_t id, char *buf, size_t size);

/* ---- btf_ext.c ---- */

struct btf_ext_line {
	uint32_t insn;         /* instruction index in its section */
	uint32_t file_off, line_off, line_col; /* .BTF string offsets (checked); line << 10 | col */
};

struct btf_ext_func {
	uint32_t insn;
	uint32_t type_id;      /* a BTF FUNC (checked) */
};

/* func and line info of one ELF section, sorted by insn, one per insn. */
struct btf_ext_sec {
	struct btf_ext_line *lines;
	uint32_t nlines;
	struct btf_ext_func *funcs;
	uint32_t nfuncs;
};

struct btf_ext {
	struct btf_ext_sec *secs; /* indexed by ELF section */
	uint32_t nsecs;
};

/* Parses .BTF.ext against a parsed .BTF and the object's sections: checks
 * the header, each info block's record size, section names, counts,
 * instruction offsets and string offsets. */
ELF_HIDDEN int btf_ext_parse(struct btf_ext *x, const uint8_t *data, size_t size, const struct btf *btf,
                             const struct elf_file *f, struct vm_log *log);
ELF_HIDDEN void btf_ext_free(struct btf_ext *x);

/* ---- maps.c ---- */

enum elf_map_kind {
	ELF_MAP_USER = 0,   /* a BTF or legacy map definition */
	ELF_MAP_DATA,       /* .data, .data.*: writable global data */
	ELF_MAP_RODATA,     /* .rodata, .rodata.*: frozen */
	ELF_MAP_BSS,        /* .bss, .bss.*: zeroed */
};

enum elf_slot_kind { ELF_SLOT_MAP, ELF_SLOT_PROG };

/* An initial entry of a map-in-map or prog array (__array(values, ...)). */
struct elf_slot {
	uint32_t index;        /* key */
	uint32_t kind;         /* enum elf_slot_kind */
	uint32_t target;       /* map index, or program index */
};

struct elf_map {
	char name[64];
	uint32_t kind;         /* enum elf_map_kind */
	bool legacy;           /* from the `maps` section */
	struct bpfvm_map_attr attr; /* name points at .name */
	uint32_t pinning;      /* LIBBPF_PIN_* */
	uint32_t key_btf, value_btf; /* BTF ids, 0 if unknown */
	/* Where the definition or the data lives. */
	int sec;
	uint64_t sec_off;
	uint64_t def_size;     /* bytes of the definition (symbol size) */
	const uint8_t *init;   /* initial contents (data maps), NULL = zeros */
	/* Map-in-map: the template definition (owned); NULL otherwise. */
	struct elf_map *inner;
	/* __array(values, ...) slots; resolved after programs are known. */
	struct elf_slot *slots;
	uint32_t nslots;
	uint64_t values_off;   /* byte offset of `values` within the definition */
	bool has_values;
	bool is_inner_def;     /* used only as someone's template (BTF-only def) */
};

/* ---- reloc.c ---- */

struct elf_prog {
	char name[64];
	const char *sec_name;
	const char *type;      /* "xdp" or "mem" */
	int sec;
	uint32_t start, len;   /* the function, in instructions, within sec */
	/* Linked code: maps referenced as lddw src=5 (imm = map index) or
	 * src=6 (imm = map index, next imm = offset into the value). */
	struct bpf_insn *insns;
	uint32_t ninsns;
	/* For each linked insn, its origin (for line info and messages). */
	uint32_t *orig_sec, *orig_insn;
};

struct elf_obj;

/* Resolves an `extern` function to a helper id (0 = found). */
typedef int (*elf_resolve_fn)(void *user, const char *name, uint32_t *id);

struct elf_obj {
	uint8_t *buf;          /* owned copy of the file */
	size_t len;
	struct elf_file elf;
	struct btf btf;
	bool has_btf;
	struct btf_ext ext;    /* source lines; empty when has_ext is false */
	bool has_ext;
	int maps_sec, legacy_maps_sec;
	struct elf_map *maps;
	uint32_t nmaps;
	struct elf_prog *progs;
	uint32_t nprogs;
	char license[128];
};

/* Copies buf and runs elf_open, btf_parse, map and program discovery. */
ELF_HIDDEN int elf_obj_parse(struct elf_obj *o, const void *buf, size_t len, struct vm_log *log);
/* Links every program (subprograms, map/data/func relocations, externs). */
ELF_HIDDEN int elf_obj_link(struct elf_obj *o, elf_resolve_fn resolve, void *user, struct vm_log *log);
/* Links the programs i with want[i] that are not linked yet (insns NULL). */
ELF_HIDDEN int elf_obj_link_some(struct elf_obj *o, const bool *want, elf_resolve_fn resolve, void *user,
                                 struct vm_log *log);
/* A linked program's source line table for vm_prog_load_debug(): NULL
 * (and 0) when the object has no line info for it.  btf_ext.c. */
struct vm_prog_debug;
ELF_HIDDEN int btf_ext_prog_debug(const struct elf_obj *o, const struct elf_prog *p, struct vm_prog_debug **out,
                                  struct vm_log *log);
ELF_HIDDEN void elf_obj_free(struct elf_obj *o);

/* Stage internals. */
ELF_HIDDEN int elf_collect_maps(struct elf_obj *o, struct vm_log *log);
ELF_HIDDEN int elf_collect_progs(struct elf_obj *o, struct vm_log *log);
ELF_HIDDEN int elf_resolve_slots(struct elf_obj *o, struct vm_log *log);
ELF_HIDDEN int elf_map_by_sym(const struct elf_obj *o, const struct elf_sym *sym);
ELF_HIDDEN int elf_prog_by_name(const struct elf_obj *o, const char *name);
/* "xdp" for the section names libbpf gives XDP programs, else "mem". */
ELF_HIDDEN const char *elf_sec_prog_type(const char *sec_name);

#endif
