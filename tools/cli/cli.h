/*
 * Shared pieces of the bpfvm command.  Each subcommand lives in its own
 * cmd_<name>.c and is listed in commands.def.  Single-threaded.
 */
#ifndef BPFVM_CLI_H
#define BPFVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfvm.h"

/* Exit codes of every subcommand. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_CMD(name, summary) int cli_cmd_##name(int argc, char **argv);
#include "commands.def"
#undef CLI_CMD

/* Per-CPU maps: the host reads and writes one value per possible CPU. */
static inline bool cli_map_percpu(const struct bpfvm_map_info *info)
{
	return info->type == BPFVM_MAP_PERCPU_ARRAY || info->type == BPFVM_MAP_PERCPU_HASH ||
	       info->type == BPFVM_MAP_LRU_PERCPU_HASH;
}
/* Bytes of a value as bpfvm_map_lookup/update take it. */
static inline size_t cli_map_value_bytes(const struct bpfvm_map_info *info)
{
	return cli_map_percpu(info) ? ((info->value_size + 7u) & ~7u) * (size_t)bpfvm_num_possible_cpus()
	                            : info->value_size;
}

/* Prints "bpfvm <cmd>: message" to stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a whole file ("-" = stdin).  Returns 0 or -errno; *buf is malloc'd
 * and NUL-terminated (the NUL is not counted in *len). */
int cli_read_file(const char *path, char **buf, size_t *len);

enum cli_prog_kind { CLI_PROG_RAW, CLI_PROG_ASM, CLI_PROG_ELF };

/* Decides what a program file holds: ELF magic, raw bytes (has a NUL
 * byte), else assembly text. */
enum cli_prog_kind cli_prog_kind(const char *buf, size_t len);

/*
 * Turns raw bytes or assembly text into instructions (*out malloc'd).
 * Errors are printed, naming `path`.  Returns 0 or -EINVAL.
 */
int cli_parse_prog(const char *cmd, const char *path, const char *buf, size_t len, enum cli_prog_kind kind,
                   struct bpf_insn **out, size_t *n);

/* Parses hex bytes separated by white space ("aa bb 0x1c"), as the
 * conformance files and the plugin protocol write them.  Returns 0 or
 * -EINVAL (bad token). */
int cli_parse_hex_bytes(const char *s, uint8_t **out, size_t *len);

/* Writes s as a JSON string literal. */
void cli_json_str(const char *s);

/* Parses an engine name ("interp", "jit"); false if unknown. */
bool cli_parse_engine(const char *s, uint32_t *engine);

/* The bpf_conformance suite's helpers 0-5 in a bare VM. */
int cli_conformance_vm(bpfvm **out);

#endif
