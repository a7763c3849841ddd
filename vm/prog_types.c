/*
 * Program types: what r1 points to.  Built in: "mem" (r1 = input bytes,
 * r2 = length) and "xdp" (Linux's struct xdp_md over the input bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "vm.h"

#define VM_MAX_CTX 4096 /* the run-time context lives on the run's stack */

/* Programs see Linux's struct xdp_md { u32 data, data_end, data_meta,
 * ingress_ifindex, rx_queue_index, egress_ifindex }; the run-time context
 * holds 8-byte pointers for the packet fields (the verifier rewrites the
 * loads, as Linux's convert_ctx_access). */
struct vm_xdp_ctx {
	uint64_t data, data_end, data_meta;
	uint32_t ingress_ifindex, rx_queue_index, egress_ifindex, pad;
};

static const struct bpfvm_ctx_field xdp_fields[] = {
	{ 0, 4, BPFVM_CTX_READ | BPFVM_CTX_PKT_DATA, offsetof(struct vm_xdp_ctx, data) },
	{ 4, 4, BPFVM_CTX_READ | BPFVM_CTX_PKT_END, offsetof(struct vm_xdp_ctx, data_end) },
	{ 8, 4, BPFVM_CTX_READ | BPFVM_CTX_PKT_META, offsetof(struct vm_xdp_ctx, data_meta) },
	{ 12, 4, BPFVM_CTX_READ, offsetof(struct vm_xdp_ctx, ingress_ifindex) },
	{ 16, 4, BPFVM_CTX_READ, offsetof(struct vm_xdp_ctx, rx_queue_index) },
	{ 20, 4, BPFVM_CTX_READ, offsetof(struct vm_xdp_ctx, egress_ifindex) },
};

static int xdp_make_ctx(void *ctx, void *data, size_t len, void *user)
{
	(void)user;
	struct vm_xdp_ctx *x = ctx;
	memset(x, 0, sizeof(*x));
	x->data = x->data_meta = (uintptr_t)data;
	x->data_end = (uintptr_t)data + len;
	return 0;
}

static int type_add(bpfvm *vm, const struct bpfvm_prog_type *t, bool is_mem)
{
	if (!t || t->sz < sizeof(*t) || !t->name || !t->name[0] || t->ctx_size > VM_MAX_CTX ||
	    t->real_ctx_size > VM_MAX_CTX || (t->nfields && !t->fields))
		return -EINVAL;
	for (uint32_t i = 0; i < t->nfields; i++) {
		const struct bpfvm_ctx_field *f = &t->fields[i];
		if ((uint64_t)f->off + f->size > t->ctx_size || !f->size)
			return -EINVAL;
		uint32_t rsz = f->real_off != f->off ? 8 : f->size;
		if ((uint64_t)f->real_off + rsz > (t->real_ctx_size ? t->real_ctx_size : t->ctx_size))
			return -EINVAL;
	}
	struct vm_prog_type *vt = calloc(1, sizeof(*vt));
	char *name = strdup(t->name);
	struct bpfvm_ctx_field *fields = t->nfields ? malloc(t->nfields * sizeof(*fields)) : NULL;
	if (!vt || !name || (t->nfields && !fields)) {
		free(vt); free(name); free(fields);
		return -ENOMEM;
	}
	if (fields)
		memcpy(fields, t->fields, t->nfields * sizeof(*fields));
	vt->t = *t;
	vt->t.sz = sizeof(vt->t);
	vt->t.name = name;
	vt->t.fields = fields;
	vt->is_mem = is_mem;
	int err = 0;
	pthread_mutex_lock(&vm->lock);
	for (size_t i = 0; i < vm->ntypes; i++)
		if (!strcmp(vm->types[i]->t.name, name))
			err = -EEXIST;
	if (!err) {
		void *p = realloc(vm->types, (vm->ntypes + 1) * sizeof(*vm->types));
		if (p) {
			vm->types = p;
			vm->types[vm->ntypes++] = vt;
		} else {
			err = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	if (err) {
		free(vt); free(name); free(fields);
	}
	return err;
}

int bpfvm_prog_type_register(bpfvm *vm, const struct bpfvm_prog_type *type)
{
	if (!vm)
		return -EINVAL;
	return type_add(vm, type, false);
}

const struct vm_prog_type *vm_prog_type_find(const bpfvm *vm, const char *name)
{
	bpfvm *v = (bpfvm *)vm;
	const struct vm_prog_type *t = NULL;
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < vm->ntypes && !t; i++)
		if (!strcmp(vm->types[i]->t.name, name))
			t = vm->types[i];
	pthread_mutex_unlock(&v->lock);
	return t;
}

VM_HIDDEN int vm_prog_types_init(bpfvm *vm)
{
	struct bpfvm_prog_type mem = { .sz = sizeof(mem), .name = "mem" };
	struct bpfvm_prog_type xdp = {
		.sz = sizeof(xdp), .name = "xdp", .ctx_size = 24, .real_ctx_size = sizeof(struct vm_xdp_ctx),
		.fields = xdp_fields, .nfields = sizeof(xdp_fields) / sizeof(xdp_fields[0]), .make_ctx = xdp_make_ctx,
	};
	int err = type_add(vm, &mem, true);
	return err ? err : type_add(vm, &xdp, false);
}

VM_HIDDEN void vm_prog_types_free(bpfvm *vm)
{
	for (size_t i = 0; i < vm->ntypes; i++) {
		free((void *)vm->types[i]->t.name);
		free((void *)vm->types[i]->t.fields);
		free(vm->types[i]);
	}
	free(vm->types);
}

/* Does the type need the verifier's ctx load rewriting? */
VM_HIDDEN bool vm_prog_type_rewrites(const struct vm_prog_type *t)
{
	for (uint32_t i = 0; i < t->t.nfields; i++)
		if (t->t.fields[i].real_off != t->t.fields[i].off)
			return true;
	return false;
}
