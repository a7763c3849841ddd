/*
 * Control flow, before any abstract interpretation: decoding, subprogram
 * boundaries, jump targets, reachability, recursion, prune points, and the
 * static register liveness that pruning uses (a register not read before
 * being written on any path from an insn cannot matter there).
 */
#include "vfy.h"

#include <stdlib.h>
#include <string.h>

static bool is_cond_jmp(enum vm_op op)
{
	uint8_t fmt = vm_opinfo[op].fmt;
	return fmt == FMT_JCOND_K || fmt == FMT_JCOND_X;
}

static int64_t jmp_target(const struct vfy_env *env, uint32_t i)
{
	enum vm_op op = env->ops[i];
	if (op == VM_OP_JA32)
		return (int64_t)i + 1 + env->insns[i].imm;
	return (int64_t)i + 1 + env->insns[i].off;
}

int vfy_find_subprog(const struct vfy_env *env, uint32_t start)
{
	for (uint32_t k = 0; k < env->nsubprogs; k++)
		if (env->subprogs[k].start == start)
			return (int)k;
	return -1;
}

uint32_t vfy_subprog_of(const struct vfy_env *env, uint32_t insn)
{
	uint32_t k = 0;
	while (k + 1 < env->nsubprogs && env->subprogs[k + 1].start <= insn)
		k++;
	return k;
}

static int add_subprog(struct vfy_env *env, int64_t start, uint32_t at)
{
	if (start < 0 || start >= env->len)
		return vfy_err(env, -EINVAL, at, "call or callback target %lld is outside the program (0..%u)",
		               (long long)start, env->len - 1);
	if (vfy_find_subprog(env, (uint32_t)start) >= 0)
		return 0;
	if (env->nsubprogs == VFY_MAX_SUBPROGS)
		return vfy_err(env, -E2BIG, at, "too many subprograms (at most %d)", VFY_MAX_SUBPROGS);
	uint32_t k = env->nsubprogs++;
	while (k && env->subprogs[k - 1].start > start) {
		env->subprogs[k] = env->subprogs[k - 1];
		k--;
	}
	memset(&env->subprogs[k], 0, sizeof(env->subprogs[k]));
	env->subprogs[k].start = (uint32_t)start;
	return 0;
}

/* Structural checks: the loader's validator does them too, but the
 * verifier must stand on its own for any input it is handed. */
static int decode(struct vfy_env *env)
{
	for (uint32_t i = 0; i < env->len; i++) {
		const struct bpf_insn *in = &env->insns[i];
		enum vm_op op = vm_decode(in);
		env->ops[i] = (uint16_t)op;
		if (op == VM_OP_INVALID)
			return vfy_err(env, -EINVAL, i, "unknown opcode %02x", in->code);
		if (in->dst_reg > 10 || in->src_reg > 10)
			return vfy_err(env, -EINVAL, i, "R%u is invalid: registers are r0-r10",
			               in->dst_reg > 10 ? in->dst_reg : in->src_reg);
		if (op == VM_OP_LDDW) {
			if (i + 1 >= env->len || env->insns[i + 1].code || env->insns[i + 1].dst_reg ||
			    env->insns[i + 1].src_reg || env->insns[i + 1].off)
				return vfy_err(env, -EINVAL, i, "invalid bpf_ld_imm64 insn: the second slot must be all zero but imm");
			env->ops[++i] = VM_OP_INVALID;
		}
	}
	return 0;
}

static int find_subprogs(struct vfy_env *env)
{
	int err;
	env->nsubprogs = 0;
	if ((err = add_subprog(env, 0, 0)))
		return err;
	for (uint32_t i = 0; i < env->len; i++) {
		enum vm_op op = env->ops[i];
		if (op == VM_OP_CALL_LOCAL || (op == VM_OP_LDDW && env->insns[i].src_reg == BPF_PSEUDO_FUNC &&
		                               !env->prog->subprogs)) {
			if ((err = add_subprog(env, (int64_t)i + 1 + env->insns[i].imm, i)))
				return err;
		} else if (op == VM_OP_LDDW && env->insns[i].src_reg == BPF_PSEUDO_FUNC) {
			/* resolved by the loader: imm64 = &prog->subprogs[k] */
			uint64_t p = (uint32_t)env->insns[i].imm | ((uint64_t)(uint32_t)env->insns[i + 1].imm << 32);
			const struct vm_subprog *sp = (const struct vm_subprog *)(uintptr_t)p;
			if (sp < env->prog->subprogs || sp >= env->prog->subprogs + env->prog->nsubprogs)
				return vfy_bug(env, i, "callback lddw does not point at a subprogram");
			if ((err = add_subprog(env, sp->start, i)))
				return err;
		}
	}
	for (uint32_t k = 0; k < env->nsubprogs; k++)
		env->subprogs[k].end = k + 1 < env->nsubprogs ? env->subprogs[k + 1].start : env->len;
	return 0;
}

/* Target of a callback lddw (src=4), resolved or raw. */
static int64_t func_target(const struct vfy_env *env, uint32_t i)
{
	if (!env->prog->subprogs)
		return (int64_t)i + 1 + env->insns[i].imm;
	uint64_t p = (uint32_t)env->insns[i].imm | ((uint64_t)(uint32_t)env->insns[i + 1].imm << 32);
	return ((const struct vm_subprog *)(uintptr_t)p)->start;
}

static int check_jumps(struct vfy_env *env)
{
	for (uint32_t k = 0; k < env->nsubprogs; k++) {
		struct vfy_subprog *sp = &env->subprogs[k];
		uint32_t last = sp->end - 1;
		if (env->ops[last] == VM_OP_INVALID && last > sp->start)
			last--; /* second half of an lddw: still not an exit */
		enum vm_op lop = env->ops[sp->end - 1];
		if (lop != VM_OP_EXIT && lop != VM_OP_JA && lop != VM_OP_JA32)
			return vfy_err(env, -EINVAL, sp->end - 1,
			               "last insn is not an exit or jmp: every path of subprogram %u must end in exit", k);
		for (uint32_t i = sp->start; i < sp->end; i++) {
			enum vm_op op = env->ops[i];
			if (op == VM_OP_INVALID)
				continue;
			uint8_t fmt = vm_opinfo[op].fmt;
			if (fmt != FMT_JA && fmt != FMT_JA32 && !is_cond_jmp(op))
				continue;
			int64_t t = jmp_target(env, i);
			if (t < sp->start || t >= sp->end)
				return vfy_err(env, -EINVAL, i, "jump out of range from insn %u to %lld: jumps stay inside "
				               "their subprogram [%u, %u)", i, (long long)t, sp->start, sp->end);
			if (env->ops[t] == VM_OP_INVALID)
				return vfy_err(env, -EINVAL, i, "jump into the middle of ldimm64 insn %lld", (long long)t - 1);
		}
	}
	return 0;
}

static void mark_prune(struct vfy_env *env, int64_t i)
{
	if (i >= 0 && i < env->len)
		env->info[i].prune_point = true;
}

/* Reachability: DFS over jumps, fall-through, calls and callback refs. */
static int check_reachable(struct vfy_env *env)
{
	uint32_t *stack = malloc(env->len * sizeof(*stack));
	uint8_t *seen = calloc(env->len, 1);
	uint32_t n = 0;
	int err = -ENOMEM;
	if (!stack || !seen)
		goto out;
	stack[n++] = 0;
	seen[0] = 1;
#define PUSH(t) do { int64_t t_ = (t); if (t_ >= 0 && t_ < env->len && !seen[t_]) { seen[t_] = 1; stack[n++] = (uint32_t)t_; } } while (0)
	while (n) {
		uint32_t i = stack[--n];
		enum vm_op op = env->ops[i];
		uint8_t fmt = vm_opinfo[op].fmt;
		if (op == VM_OP_EXIT)
			continue;
		if (fmt == FMT_JA || fmt == FMT_JA32) {
			PUSH(jmp_target(env, i));
			continue;
		}
		if (is_cond_jmp(op)) {
			PUSH(jmp_target(env, i));
			mark_prune(env, jmp_target(env, i));
			mark_prune(env, i + 1);
		}
		if (op == VM_OP_CALL_LOCAL) {
			PUSH((int64_t)i + 1 + env->insns[i].imm);
			mark_prune(env, i + 1);
		}
		if (op == VM_OP_CALL)
			mark_prune(env, i + 1);
		if (op == VM_OP_LDDW) {
			if (env->insns[i].src_reg == BPF_PSEUDO_FUNC) {
				int64_t t = func_target(env, i);
				PUSH(t);
				mark_prune(env, t);
				env->info[t].callback_entry = true;
			}
			PUSH(i + 2);
			continue;
		}
		PUSH(i + 1);
	}
#undef PUSH
	for (uint32_t i = 0; i < env->len; i++)
		if (!seen[i] && env->ops[i] != VM_OP_INVALID) {
			err = vfy_err(env, -EINVAL, i, "unreachable insn %u: remove dead code (every insn must be reachable)", i);
			goto out;
		}
	err = 0;
out:
	free(stack);
	free(seen);
	return err;
}

/* Recursion: a cycle in the call graph (calls and callbacks). */
static int check_recursion(struct vfy_env *env)
{
	uint8_t color[VFY_MAX_SUBPROGS] = { 0 };
	uint32_t stack[VFY_MAX_SUBPROGS], pos[VFY_MAX_SUBPROGS], n = 0;

	stack[n] = 0; pos[n] = env->subprogs[0].start; n++;
	color[0] = 1;
	while (n) {
		uint32_t k = stack[n - 1], i = pos[n - 1];
		if (i >= env->subprogs[k].end) {
			color[k] = 2;
			n--;
			continue;
		}
		pos[n - 1] = i + 1;
		int64_t t = -1;
		if (env->ops[i] == VM_OP_CALL_LOCAL)
			t = (int64_t)i + 1 + env->insns[i].imm;
		else if (env->ops[i] == VM_OP_LDDW && env->insns[i].src_reg == BPF_PSEUDO_FUNC)
			t = func_target(env, i);
		if (t < 0)
			continue;
		int c = vfy_find_subprog(env, (uint32_t)t);
		if (c < 0)
			return vfy_bug(env, i, "call target is not a subprogram");
		if (color[c] == 1)
			return vfy_err(env, -EINVAL, i, "recursive call from insn %u to subprogram at %lld: recursion is "
			               "not allowed (the call stack is bounded)", i, (long long)t);
		if (color[c] == 0) {
			color[c] = 1;
			stack[n] = (uint32_t)c; pos[n] = env->subprogs[c].start; n++;
		}
	}
	return 0;
}

/* Registers an insn reads, and writes. */
static void insn_uses(const struct vfy_env *env, uint32_t i, uint16_t *use, uint16_t *def)
{
	const struct bpf_insn *in = &env->insns[i];
	enum vm_op op = env->ops[i];
	uint16_t d = (uint16_t)(1u << in->dst_reg), s = (uint16_t)(1u << in->src_reg);
	*use = *def = 0;
	switch (vm_opinfo[op].fmt) {
	case FMT_ALU_K:
		if (op == VM_OP_MOV64_K || op == VM_OP_MOV32_K) *def = d;
		else *use = d, *def = d;
		break;
	case FMT_ALU_X:
		if (vm_opinfo[op].code == 0xbf || vm_opinfo[op].code == 0xbc) *use = s, *def = d;
		else *use = d | s, *def = d;
		break;
	case FMT_NEG: case FMT_END: *use = d; *def = d; break;
	case FMT_LDDW: *def = d; break;
	case FMT_LDABS: *use = 0x2 | 0x40; *def = 0x3f; break; /* reads ctx (r6), clobbers r0-r5 */
	case FMT_LDIND: *use = 0x40 | s; *def = 0x3f; break;
	case FMT_LDX: *use = s; *def = d; break;
	case FMT_ST: *use = d; break;
	case FMT_STX: *use = d | s; break;
	case FMT_ATOMIC:
		*use = d | s;
		if (op == VM_OP_ACMPXCHG32 || op == VM_OP_ACMPXCHG64) *use |= 1, *def = 1;
		else if (in->imm & 1) *def = s;
		break;
	case FMT_JCOND_K: *use = d; break;
	case FMT_JCOND_X: *use = d | s; break;
	case FMT_CALL: case FMT_CALL_LOCAL: case FMT_CALLX:
		*use = 0x3e | (vm_opinfo[op].fmt == FMT_CALLX ? d : 0);
		*def = 0x3f;
		break;
	case FMT_EXIT: *use = 1; break;
	default: break;
	}
}

static int compute_liveness(struct vfy_env *env)
{
	bool changed = true;
	while (changed) {
		changed = false;
		for (uint32_t j = env->len; j-- > 0;) {
			enum vm_op op = env->ops[j];
			if (op == VM_OP_INVALID)
				continue;
			uint16_t out = 0, use, def;
			uint8_t fmt = vm_opinfo[op].fmt;
			if (op != VM_OP_EXIT) {
				if (fmt == FMT_JA || fmt == FMT_JA32) {
					out = env->info[jmp_target(env, j)].live_in;
				} else {
					uint32_t nx = j + (op == VM_OP_LDDW ? 2 : 1);
					if (nx < env->len)
						out = env->info[nx].live_in;
					if (is_cond_jmp(op))
						out |= env->info[jmp_target(env, j)].live_in;
				}
			}
			insn_uses(env, j, &use, &def);
			uint16_t in = (uint16_t)(use | (out & ~def));
			if (in != env->info[j].live_in) {
				env->info[j].live_in = in;
				changed = true;
			}
		}
	}
	return 0;
}

/*
 * Precision, statically.  Linux marks a scalar precise when the walk finds
 * a use that depends on its value and propagates the mark backwards
 * through the path's history; pruning then ignores the values of
 * imprecise scalars.  bpfvm computes an over-approximation before the
 * walk, as a backward dataflow like liveness: a register is relevant at an
 * insn if, along some path from it, its value flows (through ALU ops,
 * copies and loads it feeds) into a use that depends on the value:
 *
 *  - a conditional jump's operands (the verifier may decide the branch
 *    from them, and refines them);
 *  - helper and subprogram arguments r1-r5 (sizes, constants, keys), the
 *    callx target, r0 at a callback's exit (checked to be 0 or 1), and r0
 *    at a subprogram's exit when r0 is relevant after one of its calls;
 *  - the register operand of 64-bit add/sub (pointer arithmetic; a scalar
 *    added to a pointer becomes its offset);
 *  - and, found during the walk (vfy_need_precise), a scalar destination
 *    of `scalar += pointer` or a register stored into the stack through
 *    another pointer.  A walk that finds a new one of these is repeated
 *    with it (verifier.c), so no pruning relies on a missing seed.
 *
 * Stack slots of the frame get the same treatment (srel_in, one bit per
 * 8-byte slot): a slot is relevant where a later fill through r10 loads it
 * into a relevant register, and a store through r10 into a relevant slot
 * makes the stored register relevant.  Fills through other pointers are
 * seeds the walk records, at the fill, or, when the slot belongs to a
 * caller's frame (a subprogram or callback reading its caller's stack
 * through a pointer), at the call running in that frame.  Helpers reading
 * the stack (keys, values, buffers) don't depend on the bytes' values for
 * safety.  Caller frames are still compared exactly.
 */
static uint16_t static_seed(const struct vfy_env *env, uint32_t j)
{
	const struct bpf_insn *in = &env->insns[j];
	enum vm_op op = env->ops[j];
	uint16_t d = (uint16_t)(1u << in->dst_reg), s = (uint16_t)(1u << in->src_reg);
	switch (vm_opinfo[op].fmt) {
	case FMT_JCOND_K: return d;
	case FMT_JCOND_X: return d | s;
	case FMT_CALL: case FMT_CALL_LOCAL: return 0x3e;
	case FMT_CALLX: return 0x3e | d;
	case FMT_EXIT:
		/* A callback's r0 must be 0 or 1 (callbacks found below); another
		 * subprogram's r0 matters where a caller's does after the call. */
		return 0;
	case FMT_ALU_X:
		if (!vm_op_is_alu32(op) && ((vm_opinfo[op].code & 0xf0) == 0x00 || (vm_opinfo[op].code & 0xf0) == 0x10))
			return s;
		return 0;
	case FMT_ATOMIC: return in->dst_reg == 10 ? s : 0;
	default: return 0;
	}
}

/* Stack slots (bit = spi) covering [fp+off, fp+off+size). */
static uint64_t slots_of(int64_t off, unsigned size)
{
	uint64_t m = 0;
	for (int64_t o = off; o < off + (int64_t)size; o++)
		if (o < 0 && o >= -BPF_STACK_SIZE)
			m |= 1ull << ((-o - 1) / VFY_SLOT);
	return m;
}

/* Stack-slot transfer of insn j: what it reads (*use, given the registers
 * relevant after it), what it overwrites whole (*kill), and whether the
 * register it stores is relevant (a store into a relevant slot). */
static void slot_uses(const struct vfy_env *env, uint32_t j, uint16_t rel_out, uint64_t srel_out, uint64_t *use,
                      uint64_t *kill, uint16_t *reg_use)
{
	const struct bpf_insn *in = &env->insns[j];
	enum vm_op op = env->ops[j];
	unsigned size = vm_op_access_size(op);
	*use = *kill = 0;
	*reg_use = 0;
	switch (vm_opinfo[op].fmt) {
	case FMT_LDX:
		if (in->src_reg == 10 && (rel_out & (1u << in->dst_reg)))
			*use = slots_of(in->off, size);
		break;
	case FMT_ST: case FMT_STX:
		if (in->dst_reg != 10)
			break;
		if (size == 8 && !(in->off % 8))
			*kill = slots_of(in->off, 8);
		if (vm_opinfo[op].fmt == FMT_STX && (slots_of(in->off, size) & srel_out))
			*reg_use = (uint16_t)(1u << in->src_reg);
		break;
	case FMT_ATOMIC:
		if (in->dst_reg == 10)
			*use = slots_of(in->off, size);
		break;
	default:
		break;
	}
}

void vfy_compute_relevance(struct vfy_env *env, const uint16_t *extra, const uint64_t *sextra)
{
	for (uint32_t j = 0; j < env->len; j++) {
		if (env->ops[j] == VM_OP_INVALID)
			continue;
		env->info[j].seed = static_seed(env, j) | (extra ? extra[j] : 0);
		env->info[j].sseed = sextra ? sextra[j] : 0;
	}
	/* r0_rel: a caller needs this subprogram's r0; every function whose
	 * address is taken (lddw src=4, check_cfg marks its entry) may be a
	 * callback, whose r0 is checked. */
	bool r0_rel[VFY_MAX_SUBPROGS] = { false };
	for (uint32_t k = 1; k < env->nsubprogs; k++)
		r0_rel[k] = env->info[env->subprogs[k].start].callback_entry;
	bool changed = true;
	while (changed) {
		changed = false;
		for (uint32_t j = env->len; j-- > 0;) {
			enum vm_op op = env->ops[j];
			if (op == VM_OP_INVALID)
				continue;
			if (op == VM_OP_CALL_LOCAL && j + 1 < env->len && (env->info[j + 1].rel_in & 1)) {
				int t = vfy_find_subprog(env, (uint32_t)((int64_t)j + 1 + env->insns[j].imm));
				if (t > 0 && !r0_rel[t])
					r0_rel[t] = changed = true;
			}
			if (op == VM_OP_EXIT && r0_rel[vfy_subprog_of(env, j)])
				env->info[j].seed |= 1;
			uint16_t out = 0, use, def, reg_use;
			uint64_t sout = 0, suse, skill;
			uint8_t fmt = vm_opinfo[op].fmt;
			if (op != VM_OP_EXIT) {
				if (fmt == FMT_JA || fmt == FMT_JA32) {
					out = env->info[jmp_target(env, j)].rel_in;
					sout = env->info[jmp_target(env, j)].srel_in;
				} else {
					uint32_t nx = j + (op == VM_OP_LDDW ? 2 : 1);
					if (nx < env->len)
						out = env->info[nx].rel_in, sout = env->info[nx].srel_in;
					if (is_cond_jmp(op)) {
						out |= env->info[jmp_target(env, j)].rel_in;
						sout |= env->info[jmp_target(env, j)].srel_in;
					}
				}
			}
			insn_uses(env, j, &use, &def);
			slot_uses(env, j, out, sout, &suse, &skill, &reg_use);
			uint16_t in = (uint16_t)(env->info[j].seed | reg_use | (out & ~def) | ((out & def) ? use : 0));
			uint64_t sin = env->info[j].sseed | suse | (sout & ~skill);
			if (in != env->info[j].rel_in || sin != env->info[j].srel_in) {
				env->info[j].rel_in = in;
				env->info[j].srel_in = sin;
				changed = true;
			}
		}
	}
	env->relax = true;
}

void vfy_need_precise_stack(struct vfy_env *env, uint32_t idx, int64_t lo, int64_t hi)
{
	uint64_t m = slots_of(lo, (unsigned)(hi - lo));
	if ((env->info[idx].sseed & m) == m)
		return;
	env->info[idx].sseed |= m;
	env->rel_dirty = true;
}

void vfy_need_precise(struct vfy_env *env, uint32_t idx, unsigned regno)
{
	uint16_t bit = (uint16_t)(1u << regno);
	if (regno >= BPF_MAX_REG || (env->info[idx].seed & bit))
		return;
	env->info[idx].seed |= bit;
	env->rel_dirty = true;
}

int vfy_cfg(struct vfy_env *env)
{
	int err;
	if (!env->len)
		return vfy_err(env, -EINVAL, 0, "empty program: at least an exit is needed");
	if ((err = decode(env)) || (err = find_subprogs(env)) || (err = check_jumps(env)) ||
	    (err = check_reachable(env)) || (err = check_recursion(env)))
		return err;
	for (uint32_t k = 0; k < env->nsubprogs; k++)
		mark_prune(env, env->subprogs[k].start);
	return compute_liveness(env);
}

/* Combined stack of every call chain, each frame rounded up to 32 bytes as
 * Linux does; at most 512 (and 256 below a tail call). */
static int depth_walk(struct vfy_env *env, uint32_t k, uint32_t depth, uint32_t frames, uint32_t *max)
{
	struct vfy_subprog *sp = &env->subprogs[k];
	uint32_t d = sp->stack_depth ? (sp->stack_depth + 31) & ~31u : 32;
	depth += d;
	if (frames > BPF_MAX_CALL_FRAMES)
		return vfy_err(env, -E2BIG, sp->start, "the call stack of %u frames is too deep (at most %d)", frames,
		               BPF_MAX_CALL_FRAMES);
	if (depth > BPF_STACK_SIZE)
		return vfy_err(env, -EACCES, sp->start, "combined stack size of %u calls is %u. Too large (at most %d "
		               "bytes): use less stack in the subprograms on this call chain", frames, depth, BPF_STACK_SIZE);
	/* As Linux's check_max_stack_depth: a tail call unwinds only the
	 * subprogram's own frame, so its callers' frames (rounded as above)
	 * must stay below 256 bytes: 33 tail calls then stay near 8 KiB. */
	if (sp->has_tail_call && frames > 1 && depth - d >= VFY_TAIL_CALL_STACK)
		return vfy_err(env, -EACCES, sp->start, "tail_calls are not allowed when call stack of previous frames is "
		               "%u bytes. Too large: the callers of this subprogram must use less than %d bytes of stack "
		               "(as Linux)", depth - d, VFY_TAIL_CALL_STACK);
	if (depth > *max)
		*max = depth;
	if (sp->has_tail_call && depth - d > env->max_tail_stack)
		env->max_tail_stack = depth - d;
	for (uint32_t i = sp->start; i < sp->end; i++) {
		if (env->ops[i] != VM_OP_CALL_LOCAL)
			continue;
		int c = vfy_find_subprog(env, (uint32_t)((int64_t)i + 1 + env->insns[i].imm));
		if (c < 0)
			return vfy_bug(env, i, "call target lost");
		int err = depth_walk(env, (uint32_t)c, depth, frames + 1, max);
		if (err)
			return err;
	}
	return 0;
}

int vfy_check_stack_depth(struct vfy_env *env)
{
	uint32_t max = 0;
	int err = depth_walk(env, 0, 0, 1, &max);
	for (uint32_t k = 0; !err && k < env->nsubprogs; k++)
		if (env->subprogs[k].is_callback)
			err = depth_walk(env, k, 0, 2, &max);
	env->max_stack = max;
	return err;
}
