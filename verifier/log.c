/*
 * Verifier messages.  Errors read "insn N: R<k> <what>; <how to fix>", as
 * Linux's wording where one exists so users can search for it.  Level
 * BPFVM_LOG_STATES adds one line of register state per processed insn.
 */
#include "vfy.h"

#include <stdarg.h>

/* "; <source text> @ <file>:<line>", as Linux's verbose_linfo, when the
 * program came with line info (ELF objects built with -g). */
static void log_line(struct vfy_env *env, uint32_t level, const struct vm_line *l)
{
	vm_log(env->log, level, "; %s @ %s:%u\n", l->src, l->file, l->line);
}

int vfy_err(struct vfy_env *env, int err, uint32_t insn, const char *fmt, ...)
{
	va_list ap;
	const struct vm_line *l = vm_line_of(env->prog, insn);
	const struct vm_func_name *fn = vm_func_of(env->prog, insn);
	/* Name the subprogram: its instructions were appended after the
	 * caller's, so the index alone doesn't say which function failed. */
	if (fn && fn->insn)
		vm_log(env->log, BPFVM_LOG_ERRORS, "; in subprogram %s() (insn %u)\n", fn->name, fn->insn);
	if (l)
		log_line(env, BPFVM_LOG_ERRORS, l);
	vm_log(env->log, BPFVM_LOG_ERRORS, "insn %u: ", insn);
	va_start(ap, fmt);
	vm_vlog(env->log, BPFVM_LOG_ERRORS, fmt, ap);
	va_end(ap);
	vm_log(env->log, BPFVM_LOG_ERRORS, "\n");
	return err;
}

int vfy_bug(struct vfy_env *env, uint32_t insn, const char *what)
{
	return vfy_err(env, -EFAULT, insn, "verifier bug: %s (please report it with this program)", what);
}

static const char *const type_names[VT__COUNT] = {
	[VT_NOT_INIT] = "?", [VT_SCALAR] = "scalar", [VT_CTX] = "ctx", [VT_MAP_PTR] = "map_ptr",
	[VT_MAP_VALUE] = "map_value", [VT_MAP_KEY] = "map_key", [VT_STACK] = "fp", [VT_PKT_META] = "pkt_meta",
	[VT_PKT] = "pkt", [VT_PKT_END] = "pkt_end", [VT_MEM] = "mem", [VT_FUNC] = "func",
};

const char *vfy_type_name(const struct vfy_reg *r)
{
	if (r->type >= VT__COUNT)
		return "invalid";
	if (r->maybe_null) {
		switch (r->type) {
		case VT_MAP_VALUE: return "map_value_or_null";
		case VT_MEM: return "mem_or_null";
		case VT_MAP_PTR: return "map_ptr_or_null";
		default: break;
		}
	}
	return type_names[r->type];
}

static void log_reg(struct vfy_env *env, unsigned i, const struct vfy_reg *r)
{
	if (r->type == VT_NOT_INIT)
		return;
	if (r->type == VT_SCALAR && tnum_is_const(r->var_off)) {
		vm_log(env->log, BPFVM_LOG_STATES, " R%u=%lld", i, (long long)r->var_off.value);
		return;
	}
	vm_log(env->log, BPFVM_LOG_STATES, " R%u=%s", i, vfy_type_name(r));
	if (r->type != VT_SCALAR)
		vm_log(env->log, BPFVM_LOG_STATES, "(off=%d", r->off);
	else
		vm_log(env->log, BPFVM_LOG_STATES, "(");
	if (r->id)
		vm_log(env->log, BPFVM_LOG_STATES, ",id=%u", r->id);
	if (r->type == VT_PKT)
		vm_log(env->log, BPFVM_LOG_STATES, ",r=%u", r->range);
	if (r->mem_len)
		vm_log(env->log, BPFVM_LOG_STATES, ",mem_len");
	if (r->type == VT_SCALAR || !tnum_is_const(r->var_off)) {
		char b[64];
		vm_log(env->log, BPFVM_LOG_STATES, ",smin=%lld,smax=%lld,umin=%llu,umax=%llu,var_off=%s", (long long)r->smin,
		       (long long)r->smax, (unsigned long long)r->umin, (unsigned long long)r->umax,
		       tnum_str(r->var_off, b, sizeof(b)));
	}
	vm_log(env->log, BPFVM_LOG_STATES, ")");
}

void vfy_log_state(struct vfy_env *env, const struct vfy_state *st, uint32_t insn)
{
	if (!env->log || !(env->log->level & BPFVM_LOG_STATES))
		return;
	const struct vfy_frame *f = st->frame[st->curframe];
	const struct vm_line *l = vm_line_of(env->prog, insn);
	if (l && l != env->last_line)
		log_line(env, BPFVM_LOG_STATES, l);
	env->last_line = l;
	vm_log(env->log, BPFVM_LOG_STATES, "%u: frame%u:", insn, st->curframe);
	for (unsigned i = 0; i < BPF_MAX_REG; i++)
		log_reg(env, i, &f->regs[i]);
	for (uint32_t s = 0; s < f->nslots; s++) {
		const struct vfy_slot *sl = &f->stack[s];
		if (sl->type[0] == SLOT_SPILL) {
			vm_log(env->log, BPFVM_LOG_STATES, " fp-%u=", (s + 1) * 8);
			log_reg(env, 99, &sl->spilled);
		} else if (sl->type[0] || sl->type[7]) {
			char m[9];
			for (int i = 0; i < 8; i++)
				m[i] = "?rm0"[sl->type[7 - i] & 3];
			m[8] = 0;
			vm_log(env->log, BPFVM_LOG_STATES, " fp-%u=%s", (s + 1) * 8, m);
		}
	}
	vm_log(env->log, BPFVM_LOG_STATES, "\n");
}
