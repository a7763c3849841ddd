/* bpfvm run --seed FILE.json (tools/cli/seed.c). */
#ifndef BPFVM_CLI_SEED_H
#define BPFVM_CLI_SEED_H

#include <stddef.h>

#include "bpfvm.h"

/* Stores the entries of a --dump-maps style JSON text into obj's maps.
 * Returns 0 or a negative errno with a message (naming the byte) in err. */
int cli_seed_maps(bpfvm_obj *obj, const char *text, size_t len, char *err, size_t errsz);

#endif
