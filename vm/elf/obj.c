/*
 * The public bpfvm_obj_* API: turns a parsed object (parse.c) into live
 * maps and programs of a VM.
 *
 * open:  parse, create every map (global data filled in, .rodata frozen,
 *        pinned maps reused or pinned), put initial inner maps in place;
 * load:  link each program, resolving `extern` helpers by name in the
 *        VM's registry, load it (verified unless opts say otherwise) with
 *        the object's maps as its fd_array, then fill prog array slots.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"
#include "vm.h"

#define PIN_ROOT "/sys/fs/bpf/" /* libbpf's default for LIBBPF_PIN_BY_NAME */

struct bpfvm_obj {
	bpfvm *vm;
	struct elf_obj o;
	struct bpfvm_obj_opts opts;
	struct vm_log log;
	bpfvm_map **maps;   /* per o.maps entry */
	int *fds;           /* per o.maps entry: the fd_array given to programs */
	bpfvm_prog **progs; /* per o.progs entry, after load */
	bool *autoload;     /* per o.progs entry: chosen by bpfvm_obj_set_autoload */
	bool loaded;
};

static int obj_err(struct bpfvm_obj *obj, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int obj_err(struct bpfvm_obj *obj, int err, const char *fmt, ...)
{
	va_list ap;
	vm_log(&obj->log, BPFVM_LOG_ERRORS, "obj: ");
	va_start(ap, fmt);
	vm_vlog(&obj->log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(&obj->log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

static int create_one(struct bpfvm_obj *obj, struct elf_map *m, bpfvm_map **out)
{
	struct bpfvm_map_attr attr = m->attr;
	bpfvm_map *inner = NULL;
	int err;
	attr.name = m->name;
	if (m->inner) {
		err = create_one(obj, m->inner, &inner);
		if (err)
			return err;
		attr.inner_template = inner;
	}
	char why[256] = "";
	attr.log_buf = why;
	attr.log_size = sizeof(why);
	err = bpfvm_map_create(obj->vm, &attr, out);
	if (inner)
		bpfvm_map_put(inner); /* the outer map keeps its own copy of the shape */
	if (err) {
		size_t l = strlen(why);
		while (l && why[l - 1] == '\n')
			why[--l] = '\0';
		return obj_err(obj, err, "can't create map '%s' (type %u, key %u, value %u, max_entries %u): %s%s%s",
		               m->name, attr.type, attr.key_size, attr.value_size, attr.max_entries, bpfvm_strerror(err),
		               l ? ": " : "", l ? why : "");
	}
	return 0;
}

static int create_maps(struct bpfvm_obj *obj)
{
	struct elf_obj *o = &obj->o;
	int err;
	for (uint32_t i = 0; i < o->nmaps; i++) {
		struct elf_map *m = &o->maps[i];
		char path[128];
		snprintf(path, sizeof(path), PIN_ROOT "%s", m->name);
		if (m->pinning == 1 && bpfvm_pin_get_map(obj->vm, path, &obj->maps[i]) == 0) {
			struct bpfvm_map_info info = { .sz = sizeof(info) };
			bpfvm_map_info(obj->maps[i], &info);
			if (info.type != m->attr.type || info.key_size != m->attr.key_size ||
			    info.value_size != m->attr.value_size || info.max_entries != m->attr.max_entries ||
			    info.map_flags != m->attr.map_flags)
				return obj_err(obj, -EINVAL, "map '%s': pinned map at %s has a different definition", m->name, path);
			obj->fds[i] = bpfvm_map_fd(obj->maps[i]);
			continue;
		}
		if (m->pinning > 1)
			return obj_err(obj, -EINVAL, "map '%s': unsupported pinning %u", m->name, m->pinning);
		err = create_one(obj, m, &obj->maps[i]);
		if (err)
			return err;
		obj->fds[i] = bpfvm_map_fd(obj->maps[i]);
		if (m->kind != ELF_MAP_USER && m->init) {
			uint32_t key = 0;
			err = bpfvm_map_update(obj->maps[i], &key, m->init, BPFVM_ANY);
			if (err)
				return obj_err(obj, err, "map '%s': can't store initial data: %s", m->name, bpfvm_strerror(err));
		}
		if (m->kind == ELF_MAP_RODATA && (err = bpfvm_map_freeze(obj->maps[i])))
			return obj_err(obj, err, "map '%s': can't freeze: %s", m->name, bpfvm_strerror(err));
		if (m->pinning == 1 && (err = bpfvm_pin_map(obj->vm, path, obj->maps[i])))
			return obj_err(obj, err, "map '%s': can't pin at %s: %s", m->name, path, bpfvm_strerror(err));
	}
	/* Initial inner maps, now that every map exists. */
	for (uint32_t i = 0; i < o->nmaps; i++) {
		struct elf_map *m = &o->maps[i];
		for (uint32_t s = 0; s < m->nslots; s++) {
			if (m->slots[s].kind != ELF_SLOT_MAP)
				continue;
			uint32_t key = m->slots[s].index;
			int fd = obj->fds[m->slots[s].target];
			err = bpfvm_map_update(obj->maps[i], &key, &fd, BPFVM_ANY);
			if (err)
				return obj_err(obj, err, "map '%s': can't put map '%s' in slot %u: %s", m->name,
				               o->maps[m->slots[s].target].name, key, bpfvm_strerror(err));
		}
	}
	return 0;
}

int bpfvm_obj_open_mem(bpfvm *vm, const void *buf, size_t len, const struct bpfvm_obj_opts *opts, bpfvm_obj **out)
{
	if (!vm || !out || (!buf && len))
		return -EINVAL;
	struct bpfvm_obj *obj = calloc(1, sizeof(*obj));
	if (!obj)
		return -ENOMEM;
	obj->vm = vm;
	obj->opts.sz = sizeof(obj->opts);
	if (opts) {
		if (opts->sz < sizeof(size_t) || opts->sz > 4096) {
			free(obj);
			return -EINVAL;
		}
		memcpy(&obj->opts, opts, opts->sz < sizeof(obj->opts) ? opts->sz : sizeof(obj->opts));
	}
	vm_log_init(&obj->log, obj->opts.log_buf, obj->opts.log_size, obj->opts.log_level);
	int err = elf_obj_parse(&obj->o, buf, len, &obj->log);
	if (err) {
		free(obj);
		return err;
	}
	obj->maps = calloc(obj->o.nmaps + 1, sizeof(*obj->maps));
	obj->fds = calloc(obj->o.nmaps + 1, sizeof(*obj->fds));
	obj->progs = calloc(obj->o.nprogs + 1, sizeof(*obj->progs));
	obj->autoload = malloc((obj->o.nprogs + 1) * sizeof(*obj->autoload));
	if (!obj->maps || !obj->fds || !obj->progs || !obj->autoload) {
		err = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < obj->o.nprogs; i++)
		obj->autoload[i] = true;
	err = create_maps(obj);
	if (err)
		goto fail;
	*out = obj;
	return 0;
fail:
	bpfvm_obj_close(obj);
	return err;
}

int bpfvm_obj_open_file(bpfvm *vm, const char *path, const struct bpfvm_obj_opts *opts, bpfvm_obj **out)
{
	if (!vm || !path || !out)
		return -EINVAL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > (256u << 20)) {
				err = -E2BIG;
				break;
			}
			uint8_t *b = realloc(buf, cap);
			if (!b) {
				err = -ENOMEM;
				break;
			}
			buf = b;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				err = -EIO;
			break;
		}
	}
	fclose(f);
	if (!err)
		err = bpfvm_obj_open_mem(vm, buf, len, opts, out);
	free(buf);
	return err;
}

static int resolve_helper(void *user, const char *name, uint32_t *id)
{
	const struct vm_helper *h = vm_helper_find_name(user, name);
	/* libbpf's helpers are spelled bpf_<name>; registries may omit it. */
	if (!h && !strncmp(name, "bpf_", 4))
		h = vm_helper_find_name(user, name + 4);
	if (!h)
		return -ENOENT;
	*id = h->id;
	return 0;
}

int bpfvm_obj_set_autoload(bpfvm_obj *obj, const char *name, int autoload)
{
	if (!obj)
		return -EINVAL;
	if (obj->loaded)
		return -EBUSY;
	if (!name) {
		for (uint32_t i = 0; i < obj->o.nprogs; i++)
			obj->autoload[i] = autoload != 0;
		return 0;
	}
	int i = elf_prog_by_name(&obj->o, name);
	if (i < 0)
		return obj_err(obj, -ENOENT, "no program named '%s' (a function or section name)", name);
	obj->autoload[i] = autoload != 0;
	return 0;
}

/*
 * Which programs to load: those left to autoload, and whatever they can
 * tail-call into from the start, i.e. the programs in the initial slots
 * of every prog array a loaded program references (directly, or as an
 * initial inner map of a map it references), transitively.  Linking is
 * done as the set grows, since the references are only known then; an
 * unwanted program is never linked, so its unresolved externs or
 * unsupported relocations can't fail the others.
 */
static int link_wanted(struct bpfvm_obj *obj, bool *want)
{
	struct elf_obj *o = &obj->o;
	bool *seen = calloc(o->nmaps + 1, sizeof(*seen));
	uint32_t *stack = malloc((o->nmaps + 1) * sizeof(*stack));
	int err = -ENOMEM;
	if (!seen || !stack)
		goto out;
	for (uint32_t i = 0; i < o->nprogs; i++)
		want[i] = obj->autoload[i];
	for (bool grew = true; grew;) {
		grew = false;
		err = elf_obj_link_some(o, want, resolve_helper, obj->vm, &obj->log);
		if (err)
			goto out;
		for (uint32_t i = 0; i < o->nprogs; i++) {
			const struct elf_prog *p = &o->progs[i];
			if (!want[i])
				continue;
			for (uint32_t k = 0; k + 1 < p->ninsns; k++) {
				const struct bpf_insn *in = &p->insns[k];
				if (in->code != 0x18)
					continue;
				k++; /* the lddw's second half */
				if ((in->src_reg != BPF_PSEUDO_MAP_IDX && in->src_reg != BPF_PSEUDO_MAP_IDX_VALUE) ||
				    (uint32_t)in->imm >= o->nmaps || seen[in->imm])
					continue;
				/* The map and its initial inner maps, iteratively. */
				uint32_t n = 0;
				seen[in->imm] = true;
				stack[n++] = (uint32_t)in->imm;
				while (n) {
					const struct elf_map *m = &o->maps[stack[--n]];
					for (uint32_t s = 0; s < m->nslots; s++) {
						uint32_t t = m->slots[s].target;
						if (m->slots[s].kind == ELF_SLOT_MAP && t < o->nmaps && !seen[t]) {
							seen[t] = true;
							stack[n++] = t;
						} else if (m->slots[s].kind == ELF_SLOT_PROG && t < o->nprogs && !want[t]) {
							want[t] = true;
							grew = true;
						}
					}
				}
			}
		}
	}
	err = 0;
out:
	free(seen);
	free(stack);
	return err;
}

int bpfvm_obj_load(bpfvm_obj *obj)
{
	if (!obj)
		return -EINVAL;
	if (obj->loaded)
		return -EALREADY;
	struct elf_obj *o = &obj->o;
	bool *want = calloc(o->nprogs + 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	int err = link_wanted(obj, want);
	for (uint32_t i = 0; !err && i < o->nprogs; i++) {
		struct elf_prog *p = &o->progs[i];
		if (!want[i])
			continue;
		struct vm_prog_debug *dbg;
		if ((err = btf_ext_prog_debug(o, p, &dbg, &obj->log)))
			break;
		struct vm_log *L = &obj->log;
		size_t room = L->size > L->len ? L->size - L->len : 0;
		struct bpfvm_prog_opts po = {
			.sz = sizeof(po), .name = p->name, .type = p->type,
			.flags = obj->opts.prog_flags, .engine = obj->opts.engine,
			.log_buf = room > 1 ? L->buf + L->len : NULL, .log_size = room > 1 ? room : 0,
			.log_level = obj->opts.log_level,
			.fd_array = obj->fds, .fd_array_cnt = o->nmaps,
		};
		err = vm_prog_load_debug(obj->vm, p->insns, p->ninsns, &po, dbg, &obj->progs[i]);
		if (po.log_buf)
			L->len += strnlen(po.log_buf, room - 1);
		if (err)
			err = obj_err(obj, err, "program '%s' (section %s) failed to load: %s", p->name, p->sec_name,
			              bpfvm_strerror(err));
	}
	free(want);
	if (err)
		return err;
	for (uint32_t i = 0; i < o->nmaps; i++) {
		struct elf_map *m = &o->maps[i];
		for (uint32_t s = 0; s < m->nslots; s++) {
			/* Slots of programs left unloaded stay empty: no loaded
			 * program references this map. */
			if (m->slots[s].kind != ELF_SLOT_PROG || !obj->progs[m->slots[s].target])
				continue;
			uint32_t key = m->slots[s].index;
			/* the prog array's insertion checks log their reason here */
			struct vm_log *L = &obj->log;
			size_t room = L->size > L->len ? L->size - L->len : 0;
			err = bpfvm_prog_array_update(obj->maps[i], key, obj->progs[m->slots[s].target],
			                              room > 1 ? L->buf + L->len : NULL, room > 1 ? room : 0);
			if (room > 1)
				L->len += strnlen(L->buf + L->len, room - 1);
			if (err)
				return obj_err(obj, err, "prog array '%s': can't put program '%s' in slot %u: %s", m->name,
				               o->progs[m->slots[s].target].name, key, bpfvm_strerror(err));
		}
	}
	obj->loaded = true;
	return 0;
}

void bpfvm_obj_close(bpfvm_obj *obj)
{
	if (!obj)
		return;
	for (uint32_t i = 0; obj->progs && i < obj->o.nprogs; i++)
		if (obj->progs[i])
			bpfvm_prog_put(obj->progs[i]);
	for (uint32_t i = 0; obj->maps && i < obj->o.nmaps; i++)
		if (obj->maps[i])
			bpfvm_map_put(obj->maps[i]);
	free(obj->progs);
	free(obj->autoload);
	free(obj->maps);
	free(obj->fds);
	elf_obj_free(&obj->o);
	free(obj);
}

bpfvm_prog *bpfvm_obj_prog(bpfvm_obj *obj, const char *name)
{
	if (!obj || !name)
		return NULL;
	int i = elf_prog_by_name(&obj->o, name);
	return i < 0 ? NULL : obj->progs[i];
}

bpfvm_prog *bpfvm_obj_prog_at(bpfvm_obj *obj, unsigned i)
{
	return obj && i < obj->o.nprogs ? obj->progs[i] : NULL;
}

unsigned bpfvm_obj_prog_count(const bpfvm_obj *obj)
{
	return obj ? obj->o.nprogs : 0;
}

bpfvm_map *bpfvm_obj_map(bpfvm_obj *obj, const char *name)
{
	if (!obj || !name)
		return NULL;
	for (uint32_t i = 0; i < obj->o.nmaps; i++)
		if (!strcmp(obj->o.maps[i].name, name))
			return obj->maps[i];
	return NULL;
}

bpfvm_map *bpfvm_obj_map_at(bpfvm_obj *obj, unsigned i)
{
	return obj && i < obj->o.nmaps ? obj->maps[i] : NULL;
}
