/*
 * The tail-call graph (see tailgraph.h): per-program stack facts from the
 * subprogram call graph, edges from the current slot contents, cycles by
 * Tarjan's strongly connected components, and the deepest chain by a
 * longest-path pass bounded at 33 tail calls (cycles make it unbounded
 * otherwise, and 33 is where Linux and bpfvm stop them at run time).
 */
#include "tailgraph.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"

static bool prog_verified(const struct bpfvm_prog *p)
{
	return !(p->flags & (BPFVM_PROG_NO_VERIFY | BPFVM_PROG_UNCHECKED));
}

static bool is_tail_call(const struct bpfvm_prog *p, uint32_t i)
{
	return p->ops && p->aux && p->ops[i] == VM_OP_CALL && p->aux[i].helper &&
	       p->aux[i].helper->kind == VM_HELPER_TAIL_CALL;
}

/* As Linux's interpreter sizes frames (and cfg.c): 32-byte steps, at least one. */
static uint32_t frame_bytes(uint32_t stack)
{
	return stack ? (stack + 31) & ~31u : 32;
}

static int grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
	if (n < *cap)
		return 0;
	uint32_t nc = *cap ? *cap * 2 : 8;
	void *a = realloc(*arr, (size_t)nc * elem);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = nc;
	return 0;
}

struct builder {
	struct vfy_tailgraph *g;
	uint32_t cap_nodes, cap_sites, cap_edges, cap_arrays;
	const struct vfy_tg_override *ov;
};

static int add_array(struct builder *b, struct bpfvm_map *m)
{
	struct vfy_tailgraph *g = b->g;
	if (!m || m->type != BPFVM_MAP_PROG_ARRAY)
		return 0;
	for (uint32_t i = 0; i < g->narrays; i++)
		if (g->arrays[i] == m)
			return 0;
	if (grow((void **)&g->arrays, g->narrays, &b->cap_arrays, sizeof(*g->arrays)))
		return -ENOMEM;
	g->arrays[g->narrays++] = m;
	return 0;
}

static int find_or_add_node(struct builder *b, struct bpfvm_prog *p, uint32_t *out)
{
	struct vfy_tailgraph *g = b->g;
	for (uint32_t i = 0; i < g->nnodes; i++)
		if (g->nodes[i].prog == p) {
			*out = i;
			return 0;
		}
	if (grow((void **)&g->nodes, g->nnodes, &b->cap_nodes, sizeof(*g->nodes)))
		return -ENOMEM;
	g->nodes[g->nnodes] = (struct vfy_tg_node){ .prog = p, .verified = prog_verified(p) };
	*out = g->nnodes++;
	return 0;
}

/*
 * Stack facts of one program: for each subprogram the most bytes and frames
 * of callers below it over every call path, level by level (a path has at
 * most 8 frames, so 8 levels cover every path, recursion in unverified
 * programs included).  Roots: the main program and callbacks.
 */
static int node_facts(struct builder *b, uint32_t ni)
{
	struct vfy_tailgraph *g = b->g;
	struct bpfvm_prog *p = g->nodes[ni].prog;
	uint32_t ns = p->nsubprogs ? p->nsubprogs : 1;
	int64_t *cur = malloc(ns * sizeof(*cur)), *nxt = malloc(ns * sizeof(*nxt));
	int64_t *best = malloc(ns * sizeof(*best));
	uint32_t *bframes = calloc(ns, sizeof(*bframes));
	int err = -ENOMEM;
	if (!cur || !nxt || !best || !bframes)
		goto out;
	for (uint32_t k = 0; k < ns; k++)
		cur[k] = best[k] = -1;
	cur[0] = best[0] = 0;
	/* callbacks (lddw src=4 targets) run from a helper: roots too */
	for (uint32_t i = 0; p->ops && i < p->len; i++)
		if (p->ops[i] == VM_OP_LDDW && p->insns[i].src_reg == BPF_PSEUDO_FUNC) {
			uint32_t t = (uint32_t)((int64_t)i + 1 + p->insns[i].imm);
			if (t < p->len && p->aux[t].subprog < ns)
				cur[p->aux[t].subprog] = best[p->aux[t].subprog] = 0;
		}
	uint32_t stack = 0, frames = 0;
	for (uint32_t level = 0; level < BPF_MAX_CALL_FRAMES; level++) {
		bool any = false;
		for (uint32_t k = 0; k < ns; k++) {
			if (cur[k] < 0)
				continue;
			any = true;
			uint32_t sd = p->subprogs ? p->subprogs[k].stack_depth : BPF_STACK_SIZE;
			if ((uint64_t)cur[k] + frame_bytes(sd) > stack)
				stack = (uint32_t)cur[k] + frame_bytes(sd);
			if (level + 1 > frames)
				frames = level + 1;
			if (cur[k] > best[k])
				best[k] = cur[k];
			if (level > bframes[k])
				bframes[k] = level;
		}
		if (!any)
			break;
		for (uint32_t k = 0; k < ns; k++)
			nxt[k] = -1;
		for (uint32_t i = 0; p->ops && i < p->len; i++) {
			if (p->ops[i] != VM_OP_CALL_LOCAL)
				continue;
			uint32_t c = p->aux[i].subprog, t = (uint32_t)((int64_t)i + 1 + p->insns[i].imm);
			if (c >= ns || cur[c] < 0 || t >= p->len || p->aux[t].subprog >= ns)
				continue;
			uint32_t sd = p->subprogs ? p->subprogs[c].stack_depth : BPF_STACK_SIZE;
			int64_t v = cur[c] + frame_bytes(sd);
			if (v > nxt[p->aux[t].subprog])
				nxt[p->aux[t].subprog] = v;
		}
		int64_t *tmp = cur;
		cur = nxt;
		nxt = tmp;
	}
	g->nodes[ni].stack = stack;
	g->nodes[ni].frames = frames;

	/* Tail-call sites and the arrays each may use. */
	for (uint32_t i = 0; i < p->len; i++) {
		if (!is_tail_call(p, i))
			continue;
		uint32_t k = p->aux[i].subprog < ns ? p->aux[i].subprog : 0;
		if (grow((void **)&g->sites, g->nsites, &b->cap_sites, sizeof(*g->sites)))
			goto out;
		bool v = g->nodes[ni].verified;
		g->sites[g->nsites++] = (struct vfy_tg_site){
			.node = ni, .insn = i, .subprog = k,
			.caller_stack = best[k] > 0 ? (uint32_t)best[k] : 0, .caller_frames = bframes[k],
			.map = v ? p->aux[i].tail_map : NULL,
			.const_index = v && p->aux[i].const_tail_index, .index = p->aux[i].tail_index,
		};
	}
	err = 0;
out:
	free(cur);
	free(nxt);
	free(best);
	free(bframes);
	return err;
}

/* The prog arrays a site may use: the verifier's, or for a program loaded
 * without it every prog array it loads with lddw. */
static bool site_may_use(const struct vfy_tailgraph *g, const struct vfy_tg_site *s, const struct bpfvm_map *m)
{
	if (s->map)
		return s->map == m;
	const struct bpfvm_prog *p = g->nodes[s->node].prog;
	if (g->nodes[s->node].verified) {
		for (uint32_t i = 0; i < p->ntail_maps; i++)
			if (p->tail_maps[i] == m)
				return true;
		return false;
	}
	for (uint32_t i = 0; p->aux && i < p->len; i++)
		if (p->ops[i] == VM_OP_LDDW && p->aux[i].map == m)
			return true;
	return false;
}

static struct bpfvm_prog *slot_prog(const struct builder *b, struct bpfvm_map *m, uint32_t slot)
{
	if (b->ov && b->ov->map == m && b->ov->slot == slot)
		return b->ov->prog;
	return map_prog_array_get(m, slot);
}

static int add_edges(struct builder *b, uint32_t si)
{
	struct vfy_tailgraph *g = b->g;
	for (uint32_t a = 0; a < g->narrays; a++) {
		struct bpfvm_map *m = g->arrays[a];
		struct vfy_tg_site s = g->sites[si];
		if (!site_may_use(g, &s, m))
			continue;
		uint32_t lo = 0, hi = m->max_entries;
		if (s.const_index) {
			if (s.index >= m->max_entries)
				continue;
			lo = s.index;
			hi = s.index + 1;
		}
		for (uint32_t slot = lo; slot < hi; slot++) {
			struct bpfvm_prog *t = slot_prog(b, m, slot);
			uint32_t to;
			if (!t)
				continue;
			if (find_or_add_node(b, t, &to) ||
			    grow((void **)&g->edges, g->nedges, &b->cap_edges, sizeof(*g->edges)))
				return -ENOMEM;
			g->edges[g->nedges++] = (struct vfy_tg_edge){
				.site = si, .from = s.node, .to = to, .map = m, .slot = slot, .const_index = s.const_index,
			};
		}
	}
	return 0;
}

/* Tarjan's strongly connected components, iterative (a VM may hold more
 * programs than a thread's stack has frames for), over an adjacency list
 * of edge indexes grouped by source. */
struct tarjan {
	struct vfy_tailgraph *g;
	uint32_t *index, *low, *stack, nstack, next, nscc;
	bool *on;
	uint32_t *adj, *first;          /* edges of v: adj[first[v] .. first[v + 1]) */
	uint32_t *call_v, *call_e;      /* the DFS: node and its next edge cursor */
};

static void strongconnect(struct tarjan *t, uint32_t root)
{
	struct vfy_tailgraph *g = t->g;
	uint32_t depth = 0;
	t->call_v[0] = root;
	t->call_e[0] = t->first[root];
	t->index[root] = t->low[root] = ++t->next;
	t->stack[t->nstack++] = root;
	t->on[root] = true;
	for (;;) {
		uint32_t v = t->call_v[depth];
		if (t->call_e[depth] < t->first[v + 1]) {
			uint32_t w = g->edges[t->adj[t->call_e[depth]++]].to;
			if (!t->index[w]) {
				t->index[w] = t->low[w] = ++t->next;
				t->stack[t->nstack++] = w;
				t->on[w] = true;
				depth++;
				t->call_v[depth] = w;
				t->call_e[depth] = t->first[w];
			} else if (t->on[w] && t->index[w] < t->low[v]) {
				t->low[v] = t->index[w];
			}
			continue;
		}
		if (t->low[v] == t->index[v]) {
			uint32_t w, top = t->nstack, id = t->nscc++;
			do {
				w = t->stack[--t->nstack];
				t->on[w] = false;
				g->nodes[w].scc = id;
			} while (w != v);
			/* the popped entries are still in the array: the component */
			if (top - t->nstack > 1)
				for (uint32_t i = t->nstack; i < top; i++)
					g->nodes[t->stack[i]].in_cycle = true;
		}
		if (!depth)
			return;
		depth--;
		uint32_t u = t->call_v[depth];
		if (t->low[v] < t->low[u])
			t->low[u] = t->low[v];
	}
}

static int find_cycles(struct vfy_tailgraph *g)
{
	uint32_t n = g->nnodes ? g->nnodes : 1;
	struct tarjan t = { .g = g };
	t.index = calloc(n, sizeof(uint32_t));
	t.low = calloc(n, sizeof(uint32_t));
	t.stack = calloc(n, sizeof(uint32_t));
	t.on = calloc(n, sizeof(bool));
	t.call_v = calloc(n, sizeof(uint32_t));
	t.call_e = calloc(n, sizeof(uint32_t));
	t.first = calloc(n + 1, sizeof(uint32_t));
	t.adj = calloc(g->nedges ? g->nedges : 1, sizeof(uint32_t));
	int err = -ENOMEM;
	if (!t.index || !t.low || !t.stack || !t.on || !t.call_v || !t.call_e || !t.first || !t.adj)
		goto out;
	/* counting sort of the edges by source */
	for (uint32_t e = 0; e < g->nedges; e++)
		t.first[g->edges[e].from + 1]++;
	for (uint32_t v = 0; v < g->nnodes; v++)
		t.first[v + 1] += t.first[v];
	for (uint32_t e = 0; e < g->nedges; e++)
		t.adj[t.call_e[g->edges[e].from]++ + t.first[g->edges[e].from]] = e;
	memset(t.call_e, 0, n * sizeof(uint32_t));
	for (uint32_t v = 0; v < g->nnodes; v++)
		if (!t.index[v])
			strongconnect(&t, v);
	for (uint32_t e = 0; e < g->nedges; e++) {
		struct vfy_tg_edge *ed = &g->edges[e];
		if (ed->from == ed->to)
			g->nodes[ed->from].in_cycle = true; /* a self-loop */
	}
	for (uint32_t e = 0; e < g->nedges; e++) {
		struct vfy_tg_edge *ed = &g->edges[e];
		ed->in_cycle = g->nodes[ed->from].scc == g->nodes[ed->to].scc && g->nodes[ed->from].in_cycle;
	}
	/* count components holding a cycle */
	bool *seen = calloc(t.nscc ? t.nscc : 1, sizeof(bool));
	if (!seen)
		goto out;
	g->ncycles = 0;
	for (uint32_t v = 0; v < g->nnodes; v++)
		if (g->nodes[v].in_cycle && !seen[g->nodes[v].scc]) {
			seen[g->nodes[v].scc] = true;
			g->ncycles++;
		}
	free(seen);
	err = 0;
out:
	free(t.index);
	free(t.low);
	free(t.stack);
	free(t.on);
	free(t.call_v);
	free(t.call_e);
	free(t.first);
	free(t.adj);
	return err;
}

/*
 * The longest chain of at most BPF_MAX_TAIL_CALLS tail calls from any
 * program: val[h][v] is the most a chain of h tail calls ending at v left
 * behind (caller stack or frames at each site).  O(33 * edges).
 */
static int longest(struct vfy_tailgraph *g, bool frames, struct vfy_tg_chain *out)
{
	const uint32_t H = BPF_MAX_TAIL_CALLS + 1;
	size_t n = g->nnodes ? g->nnodes : 1;
	int64_t *val = malloc(H * n * sizeof(*val));
	int32_t *pred = malloc(H * n * sizeof(*pred));
	int err = -ENOMEM;
	*out = (struct vfy_tg_chain){ 0 };
	if (!val || !pred)
		goto out;
	for (size_t i = 0; i < H * n; i++) {
		val[i] = -1;
		pred[i] = -1;
	}
	for (uint32_t v = 0; v < g->nnodes; v++)
		if (!frames || g->nodes[v].verified)
			val[v] = 0;
	for (uint32_t h = 0; h + 1 < H; h++)
		for (uint32_t e = 0; e < g->nedges; e++) {
			const struct vfy_tg_edge *ed = &g->edges[e];
			int64_t a = val[h * n + ed->from];
			/* an unverified caller's runs are checked (or trusted):
			 * a frame overflow there is a run-time error, its mode's
			 * contract, so only verified chains count for frames */
			if (a < 0 || (frames && !g->nodes[ed->from].verified))
				continue;
			const struct vfy_tg_site *s = &g->sites[ed->site];
			int64_t c = a + (frames ? s->caller_frames : s->caller_stack);
			if (c > val[(h + 1) * n + ed->to]) {
				val[(h + 1) * n + ed->to] = c;
				pred[(h + 1) * n + ed->to] = (int32_t)e;
			}
		}
	int64_t best = -1;
	uint32_t bh = 0, bv = 0;
	for (uint32_t h = 0; h < H; h++)
		for (uint32_t v = 0; v < g->nnodes; v++) {
			if (val[h * n + v] < 0)
				continue;
			int64_t c = val[h * n + v] + (frames ? g->nodes[v].frames : g->nodes[v].stack);
			if (c > best) {
				best = c;
				bh = h;
				bv = v;
			}
		}
	err = 0;
	if (best < 0)
		goto out;
	out->value = (uint32_t)best;
	out->edges = malloc((bh ? bh : 1) * sizeof(uint32_t));
	if (!out->edges) {
		err = -ENOMEM;
		goto out;
	}
	out->nedges = bh;
	uint32_t v = bv;
	for (uint32_t h = bh; h > 0; h--) {
		int32_t e = pred[h * n + v];
		out->edges[h - 1] = (uint32_t)e;
		v = g->edges[e].from;
	}
	out->start = v;
out:
	free(val);
	free(pred);
	return err;
}

int vfy_tailgraph_build_held(struct vfy_tailgraph *g, struct bpfvm_prog *const *progs, uint32_t n,
                             struct bpfvm_map *const *maps, uint32_t nmaps, const struct vfy_tg_override *ov)
{
	struct builder b = { .g = g, .ov = ov };
	int err = 0;
	uint32_t idx;
	memset(g, 0, sizeof(*g));
	for (uint32_t i = 0; !err && i < nmaps; i++)
		err = add_array(&b, maps[i]);
	if (!err && ov)
		err = add_array(&b, ov->map);
	for (uint32_t i = 0; !err && i < n; i++)
		if (progs[i])
			err = find_or_add_node(&b, progs[i], &idx);
	/* Nodes found in slots join the end of the list, so one pass over a
	 * growing list reaches every program reachable by tail calls. */
	for (uint32_t v = 0; !err && v < g->nnodes; v++) {
		struct bpfvm_prog *p = g->nodes[v].prog;
		uint32_t first = g->nsites;
		for (uint32_t i = 0; !err && g->nodes[v].verified && i < p->ntail_maps; i++)
			err = add_array(&b, p->tail_maps[i]);
		for (uint32_t i = 0; !err && !g->nodes[v].verified && p->aux && i < p->len; i++)
			if (p->ops[i] == VM_OP_LDDW)
				err = add_array(&b, p->aux[i].map);
		if (!err)
			err = node_facts(&b, v);
		for (uint32_t s = first; !err && s < g->nsites; s++)
			err = add_edges(&b, s);
	}
	if (!err)
		err = find_cycles(g);
	if (!err)
		err = longest(g, false, &g->deepest_stack);
	if (!err)
		err = longest(g, true, &g->deepest_frames);
	if (err)
		vfy_tailgraph_free(g);
	return err;
}

int vfy_tailgraph_build(struct vfy_tailgraph *g, struct bpfvm_prog *const *progs, uint32_t n,
                        struct bpfvm_map *const *maps, uint32_t nmaps)
{
	bpfvm *vm = NULL;
	for (uint32_t i = 0; !vm && i < n; i++)
		vm = progs[i] ? progs[i]->vm : NULL;
	for (uint32_t i = 0; !vm && i < nmaps; i++)
		vm = maps[i] ? maps[i]->vm : NULL;
	if (vm)
		pthread_mutex_lock(&vm->lock);
	int err = vfy_tailgraph_build_held(g, progs, n, maps, nmaps, NULL);
	if (vm)
		pthread_mutex_unlock(&vm->lock);
	return err;
}

void vfy_tailgraph_free(struct vfy_tailgraph *g)
{
	free(g->nodes);
	free(g->sites);
	free(g->edges);
	free(g->arrays);
	free(g->deepest_stack.edges);
	free(g->deepest_frames.edges);
	memset(g, 0, sizeof(*g));
}

/* "a -> b (arr[1]) -> c" for a log message. */
static void log_chain(struct vm_log *log, const struct vfy_tailgraph *g, const struct vfy_tg_chain *c)
{
	vm_log(log, BPFVM_LOG_ERRORS, "'%s'", g->nodes[c->start].prog->name);
	for (uint32_t i = 0; i < c->nedges; i++) {
		const struct vfy_tg_edge *e = &g->edges[c->edges[i]];
		const struct vfy_tg_site *s = &g->sites[e->site];
		vm_log(log, BPFVM_LOG_ERRORS, " -(insn %u, %u caller frames)-> %s[%u] '%s'", s->insn, s->caller_frames,
		       e->map->name[0] ? e->map->name : "prog_array", e->slot, g->nodes[e->to].prog->name);
	}
}

/* The VM's programs plus `extra`, with vm->lock held. */
static int build_vm_held(struct vfy_tailgraph *g, bpfvm *vm, struct bpfvm_prog *extra, const struct vfy_tg_override *ov)
{
	size_t n = 0;
	struct bpfvm_prog **progs = malloc((vm->progs_cap + 1) * sizeof(*progs));
	if (!progs)
		return -ENOMEM;
	for (size_t i = 0; i < vm->progs_cap; i++)
		if (vm->progs[i])
			progs[n++] = vm->progs[i];
	if (extra)
		progs[n++] = extra;
	int err = vfy_tailgraph_build_held(g, progs, (uint32_t)n, NULL, 0, ov);
	free(progs);
	return err;
}

int vfy_tailgraph_build_vm(struct vfy_tailgraph *g, bpfvm *vm)
{
	pthread_mutex_lock(&vm->lock);
	int err = build_vm_held(g, vm, NULL, NULL);
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int vfy_tail_check_frames_held(bpfvm *vm, struct bpfvm_prog *extra, const struct vfy_tg_override *ov,
                               struct vm_log *log)
{
	struct vfy_tailgraph g;
	int err = build_vm_held(&g, vm, extra, ov);
	if (err)
		return err;
	if (g.deepest_frames.value > BPF_MAX_CALL_FRAMES) {
		vm_log(log, BPFVM_LOG_ERRORS, "a chain of tail calls would need %u call frames, more than the "
		       "interpreter's %d (each tail call from a subprogram keeps its callers' frames): ",
		       g.deepest_frames.value, BPF_MAX_CALL_FRAMES);
		log_chain(log, &g, &g.deepest_frames);
		vm_log(log, BPFVM_LOG_ERRORS, "; tail-call from the main program or call fewer subprograms\n");
		err = -E2BIG;
	}
	vfy_tailgraph_free(&g);
	return err;
}

int vfy_tail_check_load(struct bpfvm_prog *prog, struct vm_log *log)
{
	int err = 0;
	for (uint32_t i = 0; !err && i < prog->ntail_maps; i++)
		err = map_prog_array_use(prog->tail_maps[i], prog, log);
	if (err || !prog->ntail_maps || !prog->vm)
		return err;
	pthread_mutex_lock(&prog->vm->lock);
	err = vfy_tail_check_frames_held(prog->vm, prog, NULL, log);
	pthread_mutex_unlock(&prog->vm->lock);
	return err;
}
