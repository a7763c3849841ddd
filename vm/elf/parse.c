/*
 * Drives the pure stages of loading an object (no VM involved): ELF, BTF,
 * maps, programs, initial slots.  Linking is separate because resolving
 * `extern` helpers needs a VM's registry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

int elf_obj_parse(struct elf_obj *o, const void *buf, size_t len, struct vm_log *log)
{
	int err;
	memset(o, 0, sizeof(*o));
	o->maps_sec = o->legacy_maps_sec = -1;
	/* Our own copy: the caller's buffer may go away, and malloc's
	 * alignment is better than nothing for the readers. */
	o->buf = malloc(len ? len : 1);
	if (!o->buf)
		return -ENOMEM;
	if (len)
		memcpy(o->buf, buf, len);
	o->len = len;
	err = elf_open(&o->elf, o->buf, len, log);
	if (err)
		goto fail;
	int btf_sec = elf_sec_by_name(&o->elf, ".BTF");
	if (btf_sec > 0) {
		const struct elf_sec *s = &o->elf.secs[btf_sec];
		if (!s->data) {
			err = -EINVAL;
			vm_log(log, BPFVM_LOG_ERRORS, "btf: .BTF section has no data\n");
			goto fail;
		}
		err = btf_parse(&o->btf, s->data, s->size, log);
		if (err)
			goto fail;
		o->has_btf = true;
	}
	/* As libbpf: line info only helps messages, so a malformed
	 * .BTF.ext is reported and ignored rather than failing the load. */
	int ext_sec = elf_sec_by_name(&o->elf, ".BTF.ext");
	if (ext_sec > 0) {
		const struct elf_sec *s = &o->elf.secs[ext_sec];
		if (!o->has_btf || !s->data) {
			vm_log(log, BPFVM_LOG_ERRORS, "btf.ext: %s; programs load without source line info\n",
			       !o->has_btf ? ".BTF.ext without .BTF" : ".BTF.ext has no data");
		} else if ((err = btf_ext_parse(&o->ext, s->data, s->size, &o->btf, &o->elf, log))) {
			if (err == -ENOMEM)
				goto fail;
			vm_log(log, BPFVM_LOG_ERRORS, "btf.ext: ignored: programs load without source line info\n");
			err = 0;
		} else {
			o->has_ext = true;
		}
	}
	o->maps_sec = elf_sec_by_name(&o->elf, ".maps");
	o->legacy_maps_sec = elf_sec_by_name(&o->elf, "maps");
	int lic = elf_sec_by_name(&o->elf, "license");
	if (lic > 0 && o->elf.secs[lic].data) {
		size_t n = o->elf.secs[lic].size < sizeof(o->license) - 1 ? o->elf.secs[lic].size : sizeof(o->license) - 1;
		memcpy(o->license, o->elf.secs[lic].data, n);
		o->license[n] = '\0';
	}
	err = elf_collect_maps(o, log);
	if (err)
		goto fail;
	err = elf_collect_progs(o, log);
	if (err)
		goto fail;
	err = elf_resolve_slots(o, log);
	if (err)
		goto fail;
	return 0;
fail:
	elf_obj_free(o);
	return err;
}

static void free_map(struct elf_map *m)
{
	if (m->inner) {
		free_map(m->inner);
		free(m->inner);
	}
	free(m->slots);
}

void elf_obj_free(struct elf_obj *o)
{
	for (uint32_t i = 0; i < o->nmaps; i++)
		free_map(&o->maps[i]);
	free(o->maps);
	for (uint32_t i = 0; i < o->nprogs; i++) {
		free(o->progs[i].insns);
		free(o->progs[i].orig_sec);
		free(o->progs[i].orig_insn);
	}
	free(o->progs);
	btf_ext_free(&o->ext);
	btf_free(&o->btf);
	elf_close(&o->elf);
	free(o->buf);
	memset(o, 0, sizeof(*o));
}
