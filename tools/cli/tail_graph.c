/*
 * bpfvm verify --tail-calls: prints the tail-call graph of a loaded ELF
 * object (verifier/tailgraph.c) as text or JSON: programs with their stack,
 * prog arrays with their slots, edges program -> array[slot] -> program,
 * cycles, and the deepest stack and call frames along any chain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "tail_graph.h"
#include "map.h"
#include "tailgraph.h"

static const char *map_name(const struct bpfvm_map *m)
{
	return m->name[0] ? m->name : "(unnamed)";
}

static const char *node_name(const struct vfy_tailgraph *g, uint32_t v)
{
	return g->nodes[v].prog->name;
}

/* Cycle numbers from 1, in the order their first program appears. */
static uint32_t *number_cycles(const struct vfy_tailgraph *g)
{
	uint32_t *num = calloc(g->nnodes ? g->nnodes : 1, sizeof(*num));
	uint32_t next = 0;
	for (uint32_t v = 0; num && v < g->nnodes; v++) {
		if (!g->nodes[v].in_cycle || num[v])
			continue;
		next++;
		for (uint32_t w = v; w < g->nnodes; w++)
			if (g->nodes[w].in_cycle && g->nodes[w].scc == g->nodes[v].scc)
				num[w] = next;
	}
	return num;
}

static void print_chain_text(const struct vfy_tailgraph *g, const struct vfy_tg_chain *c)
{
	printf("%s", node_name(g, c->start));
	for (uint32_t i = 0; i < c->nedges; i++) {
		const struct vfy_tg_edge *e = &g->edges[c->edges[i]];
		printf(" -> %s[%u] -> %s", map_name(e->map), e->slot, node_name(g, e->to));
	}
	printf("\n");
}

static void print_text(const char *path, const struct vfy_tailgraph *g, const uint32_t *cyc)
{
	printf("tail-call graph of %s: %u program%s, %u prog array%s, %u edge%s, %u cycle%s\n", path, g->nnodes,
	       g->nnodes == 1 ? "" : "s", g->narrays, g->narrays == 1 ? "" : "s", g->nedges, g->nedges == 1 ? "" : "s",
	       g->ncycles, g->ncycles == 1 ? "" : "s");
	printf("programs:\n");
	for (uint32_t v = 0; v < g->nnodes; v++) {
		printf("  %-20s stack %u bytes, %u frame%s%s", node_name(g, v), g->nodes[v].stack, g->nodes[v].frames,
		       g->nodes[v].frames == 1 ? "" : "s", g->nodes[v].verified ? "" : " (not verified: worst case)");
		if (cyc[v])
			printf("  [cycle %u]", cyc[v]);
		printf("\n");
	}
	printf("prog arrays:\n");
	for (uint32_t a = 0; a < g->narrays; a++) {
		printf("  %s (%u slots):", map_name(g->arrays[a]), g->arrays[a]->max_entries);
		bool any = false;
		for (uint32_t s = 0; s < g->arrays[a]->max_entries; s++) {
			struct bpfvm_prog *p = map_prog_array_get(g->arrays[a], s);
			if (p) {
				printf(" [%u] %s", s, p->name);
				any = true;
			}
		}
		printf("%s\n", any ? "" : " empty");
	}
	printf("edges:\n");
	for (uint32_t e = 0; e < g->nedges; e++) {
		const struct vfy_tg_edge *ed = &g->edges[e];
		const struct vfy_tg_site *s = &g->sites[ed->site];
		printf("  %s -> %s[%u] -> %s  (insn %u, %s index; leaves %u bytes in %u frame%s)%s\n", node_name(g, ed->from),
		       map_name(ed->map), ed->slot, node_name(g, ed->to), s->insn, ed->const_index ? "constant" : "variable",
		       s->caller_stack, s->caller_frames, s->caller_frames == 1 ? "" : "s", ed->in_cycle ? "  [cycle]" : "");
	}
	for (uint32_t s = 0; s < g->nsites; s++) {
		bool used = false;
		for (uint32_t e = 0; e < g->nedges; e++)
			used |= g->edges[e].site == s;
		if (!used)
			printf("  %s: tail call at insn %u reaches no program (empty slots fall through)\n",
			       node_name(g, g->sites[s].node), g->sites[s].insn);
	}
	if (g->ncycles) {
		printf("cycles (legal: at most 33 tail calls per run):\n");
		for (uint32_t c = 1; c <= g->ncycles; c++) {
			printf("  %u:", c);
			for (uint32_t v = 0; v < g->nnodes; v++)
				if (cyc[v] == c)
					printf(" %s", node_name(g, v));
			printf("\n");
		}
	}
	printf("deepest stack: %u bytes: ", g->deepest_stack.value);
	print_chain_text(g, &g->deepest_stack);
	printf("deepest call frames: %u (the interpreter has %d): ", g->deepest_frames.value, BPF_MAX_CALL_FRAMES);
	print_chain_text(g, &g->deepest_frames);
}

static void print_chain_json(const struct vfy_tailgraph *g, const struct vfy_tg_chain *c, const char *unit)
{
	printf("{\"%s\": %u, \"chain\": [", unit, c->value);
	cli_json_str(node_name(g, c->start));
	for (uint32_t i = 0; i < c->nedges; i++) {
		printf(", ");
		cli_json_str(node_name(g, g->edges[c->edges[i]].to));
	}
	printf("], \"via\": [");
	for (uint32_t i = 0; i < c->nedges; i++) {
		const struct vfy_tg_edge *e = &g->edges[c->edges[i]];
		printf("%s{\"array\": ", i ? ", " : "");
		cli_json_str(map_name(e->map));
		printf(", \"slot\": %u, \"insn\": %u}", e->slot, g->sites[e->site].insn);
	}
	printf("]}");
}

static void print_json(const struct vfy_tailgraph *g, const uint32_t *cyc)
{
	printf("\"programs\": [");
	for (uint32_t v = 0; v < g->nnodes; v++) {
		printf("%s{\"name\": ", v ? ", " : "");
		cli_json_str(node_name(g, v));
		printf(", \"stack\": %u, \"frames\": %u, \"verified\": %s, \"in_cycle\": %s, \"cycle\": %u}", g->nodes[v].stack,
		       g->nodes[v].frames, g->nodes[v].verified ? "true" : "false", g->nodes[v].in_cycle ? "true" : "false",
		       cyc[v]);
	}
	printf("], \"arrays\": [");
	for (uint32_t a = 0; a < g->narrays; a++) {
		printf("%s{\"name\": ", a ? ", " : "");
		cli_json_str(map_name(g->arrays[a]));
		printf(", \"max_entries\": %u, \"slots\": [", g->arrays[a]->max_entries);
		bool first = true;
		for (uint32_t s = 0; s < g->arrays[a]->max_entries; s++) {
			struct bpfvm_prog *p = map_prog_array_get(g->arrays[a], s);
			if (!p)
				continue;
			printf("%s{\"slot\": %u, \"program\": ", first ? "" : ", ", s);
			cli_json_str(p->name);
			printf("}");
			first = false;
		}
		printf("]}");
	}
	printf("], \"edges\": [");
	for (uint32_t e = 0; e < g->nedges; e++) {
		const struct vfy_tg_edge *ed = &g->edges[e];
		const struct vfy_tg_site *s = &g->sites[ed->site];
		printf("%s{\"from\": ", e ? ", " : "");
		cli_json_str(node_name(g, ed->from));
		printf(", \"array\": ");
		cli_json_str(map_name(ed->map));
		printf(", \"slot\": %u, \"to\": ", ed->slot);
		cli_json_str(node_name(g, ed->to));
		printf(", \"insn\": %u, \"const_index\": %s, \"caller_stack\": %u, \"caller_frames\": %u, \"in_cycle\": %s}",
		       s->insn, ed->const_index ? "true" : "false", s->caller_stack, s->caller_frames,
		       ed->in_cycle ? "true" : "false");
	}
	printf("], \"cycles\": [");
	for (uint32_t c = 1; c <= g->ncycles; c++) {
		printf("%s[", c > 1 ? ", " : "");
		bool first = true;
		for (uint32_t v = 0; v < g->nnodes; v++)
			if (cyc[v] == c) {
				printf("%s", first ? "" : ", ");
				cli_json_str(node_name(g, v));
				first = false;
			}
		printf("]");
	}
	printf("], \"max_tail_calls\": %d, \"deepest_stack\": ", BPF_MAX_TAIL_CALLS);
	print_chain_json(g, &g->deepest_stack, "bytes");
	printf(", \"deepest_frames\": ");
	print_chain_json(g, &g->deepest_frames, "frames");
}

int cli_tail_graph(bpfvm_obj *obj, const char *path, bool json)
{
	/* programs not loaded (verify --prog) are NULL and skipped */
	uint32_t np = bpfvm_obj_prog_count(obj), nm = 0;
	while (bpfvm_obj_map_at(obj, nm))
		nm++;
	struct bpfvm_prog **progs = calloc(np + 1, sizeof(*progs));
	struct bpfvm_map **maps = calloc(nm + 1, sizeof(*maps));
	struct vfy_tailgraph g;
	int err = -ENOMEM;
	if (!progs || !maps)
		goto out;
	uint32_t n = 0;
	for (uint32_t i = 0; i < np; i++)
		if (bpfvm_obj_prog_at(obj, i))
			progs[n++] = bpfvm_obj_prog_at(obj, i);
	np = n;
	for (uint32_t i = 0; i < nm; i++)
		maps[i] = bpfvm_obj_map_at(obj, i);
	if ((err = vfy_tailgraph_build(&g, progs, np, maps, nm)))
		goto out;
	uint32_t *cyc = number_cycles(&g);
	if (!cyc) {
		err = -ENOMEM;
	} else if (json) {
		print_json(&g, cyc);
	} else {
		print_text(path, &g, cyc);
	}
	free(cyc);
	vfy_tailgraph_free(&g);
out:
	free(progs);
	free(maps);
	return err;
}
