/*
 * bpfvm_helper_bind: any host C function (up to 5 arguments) as a helper.
 * A libffi closure of type bpfvm_helper_fn is the trampoline: engines call
 * it like any helper; it converts r1..r5 to the declared C types, calls the
 * target through a second cif, and widens the result into r0.
 */
#include <ffi.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

VM_HIDDEN int vm_helper_add(bpfvm *vm, uint32_t id, uint32_t kind, bpfvm_helper_fn fn,
                            const struct bpfvm_helper_proto *proto, void *ffi);
VM_HIDDEN bool vm_helper_id_ok(const bpfvm *vm, uint32_t id);

struct vm_ffi {
	ffi_closure *closure;
	void *code;              /* the closure's entry: a bpfvm_helper_fn */
	ffi_cif tramp_cif;       /* uint64_t (uint64_t x5) */
	ffi_type *tramp_args[5];
	ffi_cif target_cif;
	ffi_type *target_args[5];
	enum bpfvm_ctype ret, ctypes[5];
	unsigned nargs;
	void (*fn)(void);
};

static ffi_type *ctype_ffi(enum bpfvm_ctype t)
{
	switch (t) {
	case BPFVM_CT_VOID: return &ffi_type_void;
	case BPFVM_CT_U8: return &ffi_type_uint8;
	case BPFVM_CT_S8: return &ffi_type_sint8;
	case BPFVM_CT_U16: return &ffi_type_uint16;
	case BPFVM_CT_S16: return &ffi_type_sint16;
	case BPFVM_CT_U32: return &ffi_type_uint32;
	case BPFVM_CT_S32: return &ffi_type_sint32;
	case BPFVM_CT_U64: return &ffi_type_uint64;
	case BPFVM_CT_S64: return &ffi_type_sint64;
	case BPFVM_CT_PTR: return &ffi_type_pointer;
	case BPFVM_CT_DOUBLE_BITS: return &ffi_type_double;
	}
	return NULL;
}

union vm_ffi_val {
	uint8_t u8; int8_t s8; uint16_t u16; int16_t s16; uint32_t u32; int32_t s32;
	uint64_t u64; int64_t s64; void *ptr; double d; ffi_arg widened; ffi_sarg swidened;
};

static void to_c(enum bpfvm_ctype t, uint64_t r, union vm_ffi_val *v)
{
	switch (t) {
	case BPFVM_CT_U8: v->u8 = (uint8_t)r; break;
	case BPFVM_CT_S8: v->s8 = (int8_t)r; break;
	case BPFVM_CT_U16: v->u16 = (uint16_t)r; break;
	case BPFVM_CT_S16: v->s16 = (int16_t)r; break;
	case BPFVM_CT_U32: v->u32 = (uint32_t)r; break;
	case BPFVM_CT_S32: v->s32 = (int32_t)r; break;
	case BPFVM_CT_PTR: v->ptr = (void *)(uintptr_t)r; break;
	case BPFVM_CT_DOUBLE_BITS: memcpy(&v->d, &r, sizeof(double)); break;
	default: v->u64 = r; break;
	}
}

/* libffi widens integer returns narrower than a register to ffi_arg. */
static uint64_t from_c(enum bpfvm_ctype t, const union vm_ffi_val *v)
{
	switch (t) {
	case BPFVM_CT_VOID: return 0;
	case BPFVM_CT_U8: return (uint8_t)v->widened;
	case BPFVM_CT_S8: return (uint64_t)(int64_t)(int8_t)v->swidened;
	case BPFVM_CT_U16: return (uint16_t)v->widened;
	case BPFVM_CT_S16: return (uint64_t)(int64_t)(int16_t)v->swidened;
	case BPFVM_CT_U32: return (uint32_t)v->widened;
	case BPFVM_CT_S32: return (uint64_t)(int64_t)(int32_t)v->swidened;
	case BPFVM_CT_PTR: return (uintptr_t)v->ptr;
	case BPFVM_CT_DOUBLE_BITS: { uint64_t r; memcpy(&r, &v->d, sizeof(r)); return r; }
	default: return v->u64;
	}
}

static void trampoline(ffi_cif *cif, void *ret, void **args, void *user)
{
	(void)cif;
	struct vm_ffi *f = user;
	union vm_ffi_val vals[5], rv;
	void *ptrs[5];
	for (unsigned i = 0; i < f->nargs; i++) {
		to_c(f->ctypes[i], *(uint64_t *)args[i], &vals[i]);
		ptrs[i] = &vals[i];
	}
	memset(&rv, 0, sizeof(rv));
	ffi_call(&f->target_cif, f->fn, &rv, ptrs);
	*(uint64_t *)ret = from_c(f->ret, &rv);
}

VM_HIDDEN void vm_ffi_free(struct vm_helper *h)
{
	struct vm_ffi *f = h->ffi;
	if (!f)
		return;
	ffi_closure_free(f->closure);
	free(f);
	h->ffi = NULL;
}

int bpfvm_helper_bind(bpfvm *vm, uint32_t id, void (*fn)(void), enum bpfvm_ctype ret, const enum bpfvm_ctype *ctypes,
                      unsigned nargs, const struct bpfvm_helper_proto *proto)
{
	if (!vm || !fn || nargs > 5 || (nargs && !ctypes) || !ctype_ffi(ret) || !vm_helper_id_ok(vm, id))
		return -EINVAL;
	for (unsigned i = 0; i < nargs; i++)
		if (ctypes[i] == BPFVM_CT_VOID || !ctype_ffi(ctypes[i]))
			return -EINVAL;
	struct vm_ffi *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fn = fn;
	f->ret = ret;
	f->nargs = nargs;
	for (unsigned i = 0; i < nargs; i++) {
		f->ctypes[i] = ctypes[i];
		f->target_args[i] = ctype_ffi(ctypes[i]);
	}
	for (int i = 0; i < 5; i++)
		f->tramp_args[i] = &ffi_type_uint64;
	int err = -EINVAL;
	if (ffi_prep_cif(&f->target_cif, FFI_DEFAULT_ABI, nargs, ctype_ffi(ret), f->target_args) != FFI_OK ||
	    ffi_prep_cif(&f->tramp_cif, FFI_DEFAULT_ABI, 5, &ffi_type_uint64, f->tramp_args) != FFI_OK)
		goto fail;
	err = -ENOMEM;
	f->closure = ffi_closure_alloc(sizeof(ffi_closure), &f->code);
	if (!f->closure)
		goto fail;
	err = -EINVAL;
	if (ffi_prep_closure_loc(f->closure, &f->tramp_cif, trampoline, f, f->code) != FFI_OK)
		goto fail;
	bpfvm_helper_fn hfn;
	memcpy(&hfn, &f->code, sizeof(hfn)); /* object pointer to function pointer, as libffi intends */
	err = vm_helper_add(vm, id, VM_HELPER_FFI, hfn, proto, f);
	if (err)
		goto fail;
	return 0;
fail:
	if (f->closure)
		ffi_closure_free(f->closure);
	free(f);
	return err;
}
