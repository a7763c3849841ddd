/*
 * The JIT driver: runs translation passes until the image converges, then
 * copies it into fresh memory that is never writable and executable at
 * once (mmap read+write, copy, mprotect read+execute).  A program the
 * backend cannot translate is left to the interpreter, with the reason in
 * the log.  The image holds no mutable state, so any number of threads may
 * run it at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "jit_int.h"
#include "log.h"
#include "map.h"

/* As Linux: a program that has not converged after this many passes is
 * left to the interpreter rather than looping forever. */
#define JIT_MAX_PASSES 32

static int fail(struct vm_log *log, int err, long insn, const char *why)
{
	return vm_log_err(log, err, insn, "jit: %s", why);
}

int jit_compile(struct bpfvm_prog *prog, struct vm_log *log)
{
	int err = 0;
	uint32_t nsubs = prog->nsubprogs ? prog->nsubprogs : 1;
	uint32_t *a = NULL, *b = NULL, *sa = NULL, *sb = NULL;
	uint8_t *tgt = NULL;
	struct jit_plan *plan = NULL;
	struct jit_vloop *vloops = NULL;
	uint32_t nvloops = 0;
	int32_t *vat = NULL;
	struct jit_image *img = NULL;
	struct jit_pass p;
	memset(&p, 0, sizeof(p));
	x86_init(&p.e, false);

	if (!prog->len || !prog->insns)
		return fail(log, -EINVAL, -1, "empty program");
	if (prog->nsubprogs && prog->subprogs[0].start != 0)
		return fail(log, -EINVAL, -1, "subprogram 0 does not start at instruction 0");

	a = calloc((size_t)prog->len + 1, sizeof(*a));
	b = calloc((size_t)prog->len + 1, sizeof(*b));
	sa = calloc(nsubs, sizeof(*sa));
	sb = calloc(nsubs, sizeof(*sb));
	img = calloc(1, sizeof(*img));
	if (!a || !b || !sa || !sb || !img) {
		err = fail(log, -ENOMEM, -1, "out of memory");
		goto out;
	}
	if (prog->flags & BPFVM_PROG_JIT_BLIND) {
		p.blind = true;
		if (getrandom(&p.blind_key, sizeof(p.blind_key), 0) != sizeof(p.blind_key))
			p.blind_key = (uint32_t)random();
		p.blind_key |= 0x80000001u; /* never 0: every constant changes */
	}

	/* Where jumps and calls land: the translator fuses no instruction
	 * pair across such a point. */
	tgt = calloc((size_t)prog->len + 1, 1);
	if (!tgt) {
		err = fail(log, -ENOMEM, -1, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < prog->len; i++) {
		const struct bpf_insn *in = &prog->insns[i];
		enum vm_op op = prog->ops ? (enum vm_op)prog->ops[i] : vm_decode(in);
		if (op == VM_OP_INVALID)
			continue;
		int64_t t = -1;
		switch (vm_opinfo[op].fmt) {
		case FMT_JA: case FMT_JCOND_K: case FMT_JCOND_X: t = (int64_t)i + 1 + in->off; break;
		case FMT_JA32: case FMT_CALL_LOCAL: t = (int64_t)i + 1 + in->imm; break;
		case FMT_LDDW: i++; break;
		default: break;
		}
		if (t >= 0 && t <= (int64_t)prog->len)
			tgt[t] |= JIT_TGT_ANY | (t <= (int64_t)i && vm_opinfo[op].fmt != FMT_CALL_LOCAL ? JIT_TGT_LOOP : 0);
	}
	for (uint32_t k = 0; k < prog->nsubprogs; k++)
		if (prog->subprogs[k].start <= prog->len)
			tgt[prog->subprogs[k].start] |= JIT_TGT_ANY;
	p.pads = calloc((size_t)prog->len + 1, 1);
	if (!p.pads) {
		err = fail(log, -ENOMEM, -1, "out of memory");
		goto out;
	}
	p.is_target = tgt;
	p.checked = prog->flags & BPFVM_PROG_NO_VERIFY;
	if (!p.checked) {
		/* Checked mode keeps one x86 access per BPF access: its bounds
		 * checks work on [reg + off]. */
		err = jit_x86_plan(prog, tgt, p.blind, &plan);
		if (err == -ENOMEM) {
			err = fail(log, err, -1, "out of memory");
			goto out;
		}
		err = 0;
		p.plan = plan;
	}
	/* Loops that can run W iterations at a time (x86_64_vec.c): not in
	 * checked mode (one check per access), nor blinded (the blocks hold
	 * constant vectors). */
	if (!p.checked && !p.blind && !(prog->flags & BPFVM_PROG_JIT_NO_VECTOR) && jit_x86_vec_supported()) {
		if (jit_x86_vec_plan(prog, tgt, &vloops, &nvloops)) {
			err = fail(log, -ENOMEM, -1, "out of memory");
			goto out;
		}
		if (nvloops) {
			vat = malloc(((size_t)prog->len + 1) * sizeof(*vat));
			if (!vat) {
				err = fail(log, -ENOMEM, -1, "out of memory");
				goto out;
			}
			for (uint32_t i = 0; i <= prog->len; i++)
				vat[i] = -1;
			for (uint32_t k = 0; k < nvloops; k++)
				vat[vloops[k].head] = (int32_t)k;
			p.vloops = vloops;
			p.vat = vat;
		}
	}
	/* Checked mode: the map values the program addresses directly (lddw
	 * src=2/6), as the interpreter's checked mode allows them. */
	for (uint32_t i = 0; p.checked && i + 1 < prog->len; i++) {
		const struct bpf_insn *in = &prog->insns[i];
		if (in->code != 0x18)
			continue;
		struct bpfvm_map *m = prog->aux ? prog->aux[i].map : NULL;
		if (m) {
			/* helper and tail-call map arguments are checked against these */
			struct bpfvm_map **ms = realloc(img->maps, (img->nmaps + 1) * sizeof(*ms));
			if (!ms) {
				err = fail(log, -ENOMEM, -1, "out of memory");
				goto out;
			}
			img->maps = ms;
			ms[img->nmaps++] = m;
		}
		if (m && (in->src_reg == BPF_PSEUDO_MAP_VALUE || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE)) {
			/* The resolver only allows one-element arrays here; the
			 * region is that element (insns[i+1].imm now holds the
			 * pointer's high half, not the offset). */
			uint32_t zero = 0;
			uintptr_t base = (uintptr_t)m->ops->lookup(m, &zero);
			if (!base) {
				i++;
				continue;
			}
			struct vm_region *r = realloc(img->regions, (img->nregions + 1) * sizeof(*r));
			if (!r) {
				err = fail(log, -ENOMEM, -1, "out of memory");
				goto out;
			}
			img->regions = r;
			r[img->nregions++] = (struct vm_region){ base, base + m->value_size,
			                                         !(m->map_flags & BPFVM_F_RDONLY_PROG) };
		}
		i++;
	}

	/* Direct tail calls: only verified programs have constant-index
	 * sites; the process must be able to patch them. */
	for (uint32_t i = 0; !p.checked && prog->aux && i < prog->len && !p.can_poke; i++)
		if (prog->aux[i].const_tail_index)
			p.can_poke = jit_poke_supported();

	for (uint32_t i = 0; prog->aux && i < prog->len && !p.tail_calls; i++)
		p.tail_calls = prog->aux[i].helper && prog->aux[i].helper->kind == VM_HELPER_TAIL_CALL;

	p.prog = prog;
	uint32_t pass;
	bool converged = false;
	for (pass = 0; pass < JIT_MAX_PASSES && !converged; pass++) {
		p.first = pass == 0;
		p.pass = pass;
		p.addrs = a;
		p.naddrs = b;
		p.subs = sa;
		p.nsubs = sb;
		p.e.len = 0;
		p.e.err = 0;
		p.npokes = 0;
		err = jit_x86_translate(&p);
		if (err) {
			if (p.why)
				err = fail(log, err, p.err_insn, p.why);
			else
				err = fail(log, err, -1, "the encoder failed");
			goto out;
		}
		/* Converged when this pass laid out every instruction where the
		 * previous one did: then every jump emitted in this pass used
		 * the final offsets. */
		converged = !p.first && !memcmp(a, b, ((size_t)prog->len + 1) * sizeof(*a)) &&
		            !memcmp(sa, sb, nsubs * sizeof(*sa)) && p.abort_off == p.nabort_off;
		uint32_t *t = a; a = b; b = t;
		t = sa; sa = sb; sb = t;
		p.abort_off = p.nabort_off;
	}
	if (!converged) {
		err = fail(log, -E2BIG, -1, "the image size did not converge");
		goto out;
	}

	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (JIT_ENTRY_GUARD + p.e.len + page - 1) & ~(page - 1);
	if (p.npokes) {
		/* sites to patch later: a read+execute view and a writable
		 * alias of one memfd (jit_poke.c) */
		int perr = jit_poke_map_image(img, p.e.buf, p.e.len, size);
		if (perr) {
			err = fail(log, perr, -1, "cannot map memory for the image (memfd)");
			goto out;
		}
		img->pokes = p.pokes;
		img->npokes = p.npokes;
		p.pokes = NULL;
		goto mapped;
	}
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		err = fail(log, -ENOMEM, -1, "cannot map memory for the image");
		goto out;
	}
	/* int3 before the entry (see JIT_ENTRY_GUARD) and after the code, so
	 * a stray jump past it traps. */
	memset(map, 0xcc, size);
	uint8_t *mem = (uint8_t *)map + JIT_ENTRY_GUARD;
	memcpy(mem, p.e.buf, p.e.len);
	if (mprotect(map, size, PROT_READ | PROT_EXEC)) {
		munmap(map, size);
		err = fail(log, -errno, -1, "cannot make the image executable (mprotect)");
		goto out;
	}
	img->map = map;
	img->map_size = size;
	img->mem = mem;
mapped:
	img->code_size = p.e.len;
	img->tail_stub = p.checked ? 0 : p.ntail_stub;
	img->addrs = a; /* the converged layout: for jit-dump */
	a = NULL;
	img->len = prog->len;
	img->subs = sa;
	sa = NULL;
	img->nsubs = nsubs;
	img->passes = pass;
	prog->jit = img;
	if (img->npokes)
		jit_poke_register(img);
	prog->jit_entry = (uint64_t (*)(void *, uint64_t, struct bpfvm_prog *))img->mem;
	vm_log(log, BPFVM_LOG_STATS, "jit: %zu bytes of x86-64 in %u passes, %u direct tail call%s\n", p.e.len, pass,
	       img->npokes, img->npokes == 1 ? "" : "s");
	for (uint32_t k = 0; k < nvloops; k++)
		vm_log(log, BPFVM_LOG_STATS, "jit: vectorized the loop at insns %u-%u: %u iterations at a time (%u-byte elements)\n",
		       vloops[k].head, vloops[k].end, vloops[k].lanes, vloops[k].esize);
	img->vloops = vloops;
	img->nvloops = nvloops;
	vloops = NULL;
	img = NULL;
out:
	x86_fini(&p.e);
	free(a);
	free(b);
	free(sa);
	free(sb);
	free(tgt);
	free(p.pokes);
	free(plan);
	free(p.pads);
	free(vloops);
	free(vat);
	if (img) {
		free(img->regions);
		free(img->maps);
	}
	free(img);
	return err;
}

void jit_free(struct bpfvm_prog *prog)
{
	struct jit_image *img = prog->jit;
	if (!img)
		return;
	/* Out of the registry first: no slot change may patch it now.  No
	 * site of another image points here: this program is in no slot
	 * (a slot holds a reference), and removing it from one retargeted
	 * those sites before the release that led here. */
	if (img->npokes)
		jit_poke_unregister(img);
	if (img->alias)
		munmap(img->alias, img->map_size);
	free(img->pokes);
	munmap(img->map, img->map_size);
	free(img->addrs);
	free(img->subs);
	free(img->vloops);
	free(img->regions);
	free(img->maps);
	free(img);
	prog->jit = NULL;
	prog->jit_entry = NULL;
}
