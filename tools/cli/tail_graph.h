/* bpfvm verify --tail-calls (tail_graph.c). */
#ifndef BPFVM_CLI_TAIL_GRAPH_H
#define BPFVM_CLI_TAIL_GRAPH_H

#include <stdbool.h>

#include "bpfvm.h"

/* Prints the tail-call graph of a loaded object: text, or JSON members
 * (no braces) to splice into an object.  Returns 0 or -ENOMEM. */
int cli_tail_graph(bpfvm_obj *obj, const char *path, bool json);

#endif
