/* bpfvm run --dump-maps (tools/cli/maps_dump.c). */
#ifndef BPFVM_CLI_MAPS_DUMP_H
#define BPFVM_CLI_MAPS_DUMP_H

#include <stdbool.h>

#include "bpfvm.h"

/* Prints every map of obj with its entries (one JSON line when json). */
void cli_dump_maps(bpfvm_obj *obj, bool json);

#endif
