/*
 * The interpreter loop.  Included twice by interp.c: once with CHECKED 0
 * (the fast loop: no per-instruction checks), once with CHECKED 1 (bounds,
 * helper arguments, call depth and an instruction budget).  The checks are
 * macros that vanish in the fast build, never an `if` on a mode flag.
 *
 * Dispatch (as Lua's ljumptab.h): VM_DISPATCH/VM_CASE/VM_NEXT become
 * computed goto by default and a switch with -Ddispatch=switch.
 */
#ifndef LOOP_NAME
#error "define LOOP_NAME and CHECKED before including interp_loop.h"
#endif

#undef VM_DISPATCH
#undef VM_CASE
#undef VM_LOOP_BEGIN
#undef VM_LOOP_END
#undef TICK

#if CHECKED
#define TICK() do { if (__builtin_expect(budget-- == 0, 0)) goto out_budget; } while (0)
#else
#define TICK() do { } while (0)
#endif

#ifdef BPFVM_DISPATCH_SWITCH
#define VM_LOOP_BEGIN vm_top: TICK(); switch (pc->op) {
#define VM_LOOP_END default: goto out_badop; }
#define VM_DISPATCH() goto vm_top
#define VM_CASE(id) case VM_OP_##id:
#else
#if CHECKED
#define VM_DISPATCH() do { TICK(); goto *disptab[pc->op]; } while (0)
#else
#define VM_DISPATCH() goto *pc->label
#endif
#define VM_LOOP_BEGIN VM_DISPATCH();
#define VM_LOOP_END
#define VM_CASE(id) L_##id:
#endif

#define VM_NEXT() do { pc++; VM_DISPATCH(); } while (0)
#define D R[pc->dst]
#define S R[pc->src]
#define K64 ((uint64_t)(int64_t)pc->imm)
#define K32 ((uint64_t)(uint32_t)pc->imm)
#define IDX ((uint32_t)(pc - ip->code))

#if CHECKED
#define CHK_MEM(a, sz, wr) do { if (!chk_mem(run, ip, R[10], (a), (sz), (wr), IDX)) goto out_fail; } while (0)
#define CHK_ALIGN(a, sz) do { if (((a) & ((sz) - 1)) != 0) { \
	vm_run_fail(run, -EFAULT, IDX, (a), "misaligned %u-byte atomic at 0x%llx", (unsigned)(sz), \
	            (unsigned long long)(a)); goto out_fail; } } while (0)
#else
#define CHK_MEM(a, sz, wr) do { } while (0)
#define CHK_ALIGN(a, sz) do { } while (0)
#endif

#define ALU64(id, expr) \
	VM_CASE(id##64_K) { uint64_t a = D, b = K64; (void)a; (void)b; D = (expr); VM_NEXT(); } \
	VM_CASE(id##64_X) { uint64_t a = D, b = S; (void)a; (void)b; D = (expr); VM_NEXT(); }
#define ALU32(id, expr) \
	VM_CASE(id##32_K) { uint64_t a = D, b = K32; (void)a; (void)b; D = (uint32_t)(expr); VM_NEXT(); } \
	VM_CASE(id##32_X) { uint64_t a = D, b = (uint32_t)S; (void)a; (void)b; D = (uint32_t)(expr); VM_NEXT(); }
#define JMP64(id, cmp) \
	VM_CASE(id##_K) { uint64_t a = D, b = K64; (void)a; (void)b; pc = (cmp) ? pc->x.tgt : pc + 1; VM_DISPATCH(); } \
	VM_CASE(id##_X) { uint64_t a = D, b = S; (void)a; (void)b; pc = (cmp) ? pc->x.tgt : pc + 1; VM_DISPATCH(); }
#define JMP32(id, cmp) \
	VM_CASE(id##32_K) { uint64_t a = (uint32_t)D, b = K32; (void)a; (void)b; pc = (cmp) ? pc->x.tgt : pc + 1; VM_DISPATCH(); } \
	VM_CASE(id##32_X) { uint64_t a = (uint32_t)D, b = (uint32_t)S; (void)a; (void)b; pc = (cmp) ? pc->x.tgt : pc + 1; VM_DISPATCH(); }
#define LDX(id, T, conv) VM_CASE(id) { uintptr_t a = (uintptr_t)(S + (int64_t)pc->off); \
	CHK_MEM(a, sizeof(T), false); D = (uint64_t)(conv)(*(const T *)a); VM_NEXT(); }
#define ST(id, T) VM_CASE(id) { uintptr_t a = (uintptr_t)(D + (int64_t)pc->off); \
	CHK_MEM(a, sizeof(T), true); *(T *)a = (T)K64; VM_NEXT(); }
#define STX(id, T) VM_CASE(id) { uintptr_t a = (uintptr_t)(D + (int64_t)pc->off); \
	CHK_MEM(a, sizeof(T), true); *(T *)a = (T)S; VM_NEXT(); }
/* Atomics: Linux's semantics; 32-bit fetches zero-extend into src. */
#define ATOMIC(id, T, fn, fetch) VM_CASE(id) { uintptr_t a = (uintptr_t)(D + (int64_t)pc->off); \
	CHK_MEM(a, sizeof(T), true); CHK_ALIGN(a, sizeof(T)); \
	T old = fn((T *)a, (T)S, __ATOMIC_SEQ_CST); if (fetch) S = (uint64_t)old; else (void)old; VM_NEXT(); }
#define LDABS(id, T, swap, ind) VM_CASE(id) { \
	int64_t o = (int32_t)((ind) ? (uint32_t)S + (uint32_t)pc->imm : (uint32_t)pc->imm); \
	if (o < 0 || (uint64_t)o + sizeof(T) > run->len) { R[0] = 0; goto out_ret; } \
	T v; memcpy(&v, run->data + o, sizeof(T)); R[0] = (uint64_t)swap(v); VM_NEXT(); }

static uint64_t LOOP_NAME(const struct vm_interp *ip, struct vm_run *run, const struct vm_tinsn *entry,
                   const uint64_t *args, const void *const **tab_out)
{
#ifndef BPFVM_DISPATCH_SWITCH
	static const void *const disptab[VM_OP__COUNT] = {
#define VM_OP(id, ...) [VM_OP_##id] = &&L_##id,
#include "opcodes.def"
#undef VM_OP
	};
	if (tab_out) {
		*tab_out = disptab;
		return 0;
	}
#else
	(void)tab_out;
#endif
	/* One 512-byte frame per bpf-to-bpf call level, as Linux. */
	uint8_t stack[BPF_STACK_SIZE * BPF_MAX_CALL_FRAMES] __attribute__((aligned(16)));
	struct {
		const struct vm_tinsn *ret;
		const struct vm_interp *ip;
		uint64_t saved[4]; /* r6-r9 */
	} frames[BPF_MAX_CALL_FRAMES];
	unsigned depth = 0;
	uint64_t R[BPF_MAX_REG];
	const struct vm_tinsn *pc = entry;
	const struct vm_helper *hp;
#if CHECKED
	uint64_t budget = run->budget;
	/* Deterministic stack contents for unverified programs, and no leak
	 * of host stack bytes. */
	memset(stack, 0, sizeof(stack));
#endif
	void *outer_top = run->stack_top;
	run->stack_top = stack + sizeof(stack);
	R[0] = 0;
	for (int i = 0; i < 5; i++)
		R[i + 1] = args[i];
	R[6] = R[7] = R[8] = R[9] = 0;
	R[10] = (uint64_t)(uintptr_t)(stack + sizeof(stack));

	VM_LOOP_BEGIN

	ALU64(ADD, a + b)
	ALU64(SUB, a - b)
	ALU64(MUL, a * b)
	ALU64(DIV, vm_op_div64(a, b))
	ALU64(SDIV, vm_op_sdiv64(a, b))
	ALU64(OR, a | b)
	ALU64(AND, a & b)
	ALU64(LSH, a << (b & 63))
	ALU64(RSH, a >> (b & 63))
	ALU64(MOD, vm_op_mod64(a, b))
	ALU64(SMOD, vm_op_smod64(a, b))
	ALU64(XOR, a ^ b)
	ALU64(MOV, b)
	ALU64(ARSH, vm_op_arsh64(a, b))
	VM_CASE(NEG64) { D = -D; VM_NEXT(); }
	VM_CASE(MOVSX8_64) { D = (uint64_t)(int64_t)(int8_t)S; VM_NEXT(); }
	VM_CASE(MOVSX16_64) { D = (uint64_t)(int64_t)(int16_t)S; VM_NEXT(); }
	VM_CASE(MOVSX32_64) { D = (uint64_t)(int64_t)(int32_t)S; VM_NEXT(); }
	VM_CASE(BSWAP16) { D = vm_op_bswap16(D); VM_NEXT(); }
	VM_CASE(BSWAP32) { D = vm_op_bswap32(D); VM_NEXT(); }
	VM_CASE(BSWAP64) { D = vm_op_bswap64(D); VM_NEXT(); }

	ALU32(ADD, a + b)
	ALU32(SUB, a - b)
	ALU32(MUL, a * b)
	ALU32(DIV, vm_op_div32(a, b))
	ALU32(SDIV, vm_op_sdiv32(a, b))
	ALU32(OR, a | b)
	ALU32(AND, a & b)
	ALU32(LSH, (uint32_t)a << (b & 31))
	ALU32(RSH, (uint32_t)a >> (b & 31))
	ALU32(MOD, vm_op_mod32(a, b))
	ALU32(SMOD, vm_op_smod32(a, b))
	ALU32(XOR, a ^ b)
	ALU32(MOV, b)
	ALU32(ARSH, vm_op_arsh32(a, b))
	VM_CASE(NEG32) { D = (uint32_t)-(uint32_t)D; VM_NEXT(); }
	VM_CASE(MOVSX8_32) { D = (uint32_t)(int32_t)(int8_t)S; VM_NEXT(); }
	VM_CASE(MOVSX16_32) { D = (uint32_t)(int32_t)(int16_t)S; VM_NEXT(); }
	VM_CASE(LE16) { D = (uint16_t)D; VM_NEXT(); }
	VM_CASE(LE32) { D = (uint32_t)D; VM_NEXT(); }
	VM_CASE(LE64) { VM_NEXT(); }
	VM_CASE(BE16) { D = vm_op_bswap16(D); VM_NEXT(); }
	VM_CASE(BE32) { D = vm_op_bswap32(D); VM_NEXT(); }
	VM_CASE(BE64) { D = vm_op_bswap64(D); VM_NEXT(); }

	VM_CASE(LDDW) { D = pc->x.u64; pc += 2; VM_DISPATCH(); }
	LDABS(LDABSB, uint8_t, (uint8_t), 0)
	LDABS(LDABSH, uint16_t, __builtin_bswap16, 0)
	LDABS(LDABSW, uint32_t, __builtin_bswap32, 0)
	LDABS(LDINDB, uint8_t, (uint8_t), 1)
	LDABS(LDINDH, uint16_t, __builtin_bswap16, 1)
	LDABS(LDINDW, uint32_t, __builtin_bswap32, 1)
	LDX(LDXB, vm_u8u, uint8_t)
	LDX(LDXH, vm_u16u, uint16_t)
	LDX(LDXW, vm_u32u, uint32_t)
	LDX(LDXDW, vm_u64u, uint64_t)
	LDX(LDXSB, vm_u8u, int8_t)
	LDX(LDXSH, vm_u16u, int16_t)
	LDX(LDXSW, vm_u32u, int32_t)
	ST(STB, vm_u8u)
	ST(STH, vm_u16u)
	ST(STW, vm_u32u)
	ST(STDW, vm_u64u)
	STX(STXB, vm_u8u)
	STX(STXH, vm_u16u)
	STX(STXW, vm_u32u)
	STX(STXDW, vm_u64u)

	ATOMIC(AADD32, uint32_t, __atomic_fetch_add, 0)
	ATOMIC(AOR32, uint32_t, __atomic_fetch_or, 0)
	ATOMIC(AAND32, uint32_t, __atomic_fetch_and, 0)
	ATOMIC(AXOR32, uint32_t, __atomic_fetch_xor, 0)
	ATOMIC(AFADD32, uint32_t, __atomic_fetch_add, 1)
	ATOMIC(AFOR32, uint32_t, __atomic_fetch_or, 1)
	ATOMIC(AFAND32, uint32_t, __atomic_fetch_and, 1)
	ATOMIC(AFXOR32, uint32_t, __atomic_fetch_xor, 1)
	ATOMIC(AXCHG32, uint32_t, __atomic_exchange_n, 1)
	ATOMIC(AADD64, uint64_t, __atomic_fetch_add, 0)
	ATOMIC(AOR64, uint64_t, __atomic_fetch_or, 0)
	ATOMIC(AAND64, uint64_t, __atomic_fetch_and, 0)
	ATOMIC(AXOR64, uint64_t, __atomic_fetch_xor, 0)
	ATOMIC(AFADD64, uint64_t, __atomic_fetch_add, 1)
	ATOMIC(AFOR64, uint64_t, __atomic_fetch_or, 1)
	ATOMIC(AFAND64, uint64_t, __atomic_fetch_and, 1)
	ATOMIC(AFXOR64, uint64_t, __atomic_fetch_xor, 1)
	ATOMIC(AXCHG64, uint64_t, __atomic_exchange_n, 1)
	VM_CASE(ACMPXCHG32) {
		uintptr_t a = (uintptr_t)(D + (int64_t)pc->off);
		CHK_MEM(a, 4, true);
		CHK_ALIGN(a, 4);
		uint32_t expected = (uint32_t)R[0];
		__atomic_compare_exchange_n((uint32_t *)a, &expected, (uint32_t)S, false,
		                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		R[0] = expected; /* the old value, zero-extended */
		VM_NEXT();
	}
	VM_CASE(ACMPXCHG64) {
		uintptr_t a = (uintptr_t)(D + (int64_t)pc->off);
		CHK_MEM(a, 8, true);
		CHK_ALIGN(a, 8);
		uint64_t expected = R[0];
		__atomic_compare_exchange_n((uint64_t *)a, &expected, S, false,
		                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		R[0] = expected;
		VM_NEXT();
	}

	VM_CASE(JA) { pc = pc->x.tgt; VM_DISPATCH(); }
	VM_CASE(JA32) { pc = pc->x.tgt; VM_DISPATCH(); }
	JMP64(JEQ, a == b)
	JMP64(JGT, a > b)
	JMP64(JGE, a >= b)
	JMP64(JSET, (a & b) != 0)
	JMP64(JNE, a != b)
	JMP64(JSGT, (int64_t)a > (int64_t)b)
	JMP64(JSGE, (int64_t)a >= (int64_t)b)
	JMP64(JLT, a < b)
	JMP64(JLE, a <= b)
	JMP64(JSLT, (int64_t)a < (int64_t)b)
	JMP64(JSLE, (int64_t)a <= (int64_t)b)
	JMP32(JEQ, a == b)
	JMP32(JGT, a > b)
	JMP32(JGE, a >= b)
	JMP32(JSET, (a & b) != 0)
	JMP32(JNE, a != b)
	JMP32(JSGT, (int32_t)a > (int32_t)b)
	JMP32(JSGE, (int32_t)a >= (int32_t)b)
	JMP32(JLT, a < b)
	JMP32(JLE, a <= b)
	JMP32(JSLT, (int32_t)a < (int32_t)b)
	JMP32(JSLE, (int32_t)a <= (int32_t)b)

	VM_CASE(CALL_LOCAL) {
		/* A per-call check (not per insn) keeps even unchecked runs
		 * inside their 8 frames of stack. */
		if (__builtin_expect(depth == BPF_MAX_CALL_FRAMES - 1, 0)) {
			vm_run_fail(run, -E2BIG, IDX, 0, "call nests deeper than %d frames", BPF_MAX_CALL_FRAMES);
			goto out_fail;
		}
		frames[depth].ret = pc + 1;
		frames[depth].ip = ip;
		memcpy(frames[depth].saved, &R[6], sizeof(frames[depth].saved));
		depth++;
		R[10] -= BPF_STACK_SIZE;
		pc = pc->x.tgt;
		VM_DISPATCH();
	}
	VM_CASE(CALLX) {
		const struct vm_helper *h = vm_helper_find(run->prog->vm, (uint32_t)D);
		if (!h) {
			vm_run_fail(run, -EINVAL, IDX, 0, "call %%r%u: r%u = %llu is not a helper id", pc->dst, pc->dst,
			            (unsigned long long)D);
			goto out_fail;
		}
		hp = h;
		goto do_call;
	}
	VM_CASE(CALL) {
		hp = pc->x.helper;
	do_call:
		if (hp->kind == VM_HELPER_TAIL_CALL)
			goto do_tail_call;
#if CHECKED
		if (!chk_helper_args(run, ip, hp, R, IDX))
			goto out_fail;
#endif
#if CHECKED
		run->budget = budget; /* callbacks run nested loops on the same budget */
#endif
		R[0] = hp->fn(R[1], R[2], R[3], R[4], R[5]);
#if CHECKED
		budget = run->budget;
#endif
		if (__builtin_expect(run->stop, 0)) {
			if (run->err)
				goto out_fail;
			R[0] = run->stop_ret;
			goto out_ret;
		}
#if CHECKED
		chk_helper_ret(run, hp, R);
#endif
		VM_NEXT();
	}
	VM_CASE(EXIT) {
	do_exit: __attribute__((unused));
		if (depth == 0)
			goto out_ret;
		depth--;
		pc = frames[depth].ret;
		/* A tail call below this frame ran another program's code
		 * in it: the caller's program is current again (the checks of
		 * its callbacks and the line of its errors name it). */
		if (__builtin_expect(ip != frames[depth].ip, 0))
			run->prog = frames[depth].ip->prog;
		ip = frames[depth].ip;
		memcpy(&R[6], frames[depth].saved, sizeof(frames[depth].saved));
		R[10] += BPF_STACK_SIZE;
		VM_DISPATCH();
	}

	VM_LOOP_END

do_tail_call: {
	/* bpf_tail_call(ctx, prog_array, index): the target replaces this
	 * program in the same frame, r1 kept; as Linux at most 33 per run;
	 * a missing target falls through to the next instruction. */
	struct bpfvm_prog *t = NULL;
#if CHECKED
	if (!chk_is_map(ip, R[2], BPFVM_MAP_PROG_ARRAY)) {
		vm_run_fail(run, -EINVAL, IDX, R[2], "tail call: r2 is not a prog array this program loaded");
		goto out_fail;
	}
#endif
	if (run->tail_calls < BPF_MAX_TAIL_CALLS)
		t = map_prog_array_get((struct bpfvm_map *)(uintptr_t)R[2], (uint32_t)R[3]);
	if (!t || !t->interp) {
		pc++;
		VM_DISPATCH();
	}
	const struct vm_interp *tip = t->interp;
#if CHECKED
	/* The checked loop only runs code decoded for it: a target loaded
	 * for the fast loop (verified or trusted) would run unchecked with
	 * registers an unverified program chose (a fake ctx in r1). */
	if (!tip->checked) {
		vm_run_fail(run, -EINVAL, IDX, 0,
		            "tail call into '%s', which was not loaded with BPFVM_PROG_NO_VERIFY: a program run without the "
		            "verifier may only tail-call programs that are also checked", t->name);
		goto out_fail;
	}
#endif
	run->tail_calls++;
	run->prog = t;
#if !CHECKED
	if (tip->checked) {
		/* Never run an unverified target without its checks: run it
		 * on the checked loop and return its result from this frame. */
		uint64_t a[5] = { R[1], t->type->is_mem ? (uint64_t)run->len : R[2], R[3], R[4], R[5] };
		R[0] = loop_checked(tip, run, tip->code, a, NULL);
		if (run->err)
			goto out_fail;
		ip = tip; /* this frame ran t: its exit restores the caller's */
		goto do_exit;
	}
#endif
	/* A "mem" program is entered with r2 = the input length (the
	 * verifier builds the input's end from it), not the prog array. */
	if (t->type->is_mem)
		R[2] = run->len;
	ip = tip;
	pc = ip->code;
	VM_DISPATCH();
}

#if CHECKED
out_budget:
	vm_run_fail(run, -ELOOP, IDX, 0, "instruction budget of %llu exhausted (runaway loop?)",
	            (unsigned long long)run->prog->insn_budget);
	goto out_fail;
#endif
#ifdef BPFVM_DISPATCH_SWITCH
out_badop:
	vm_run_fail(run, -EFAULT, IDX, 0, "internal error: no handler for operation %u", pc->op);
	goto out_fail;
#endif
out_fail:
	R[0] = 0;
out_ret:
#if CHECKED
	run->budget = budget;
#endif
	run->stack_top = outer_top;
	return R[0];
}

#undef D
#undef S
#undef K64
#undef K32
#undef IDX
#undef CHK_MEM
#undef CHK_ALIGN
#undef ALU64
#undef ALU32
#undef JMP64
#undef JMP32
#undef LDX
#undef ST
#undef STX
#undef ATOMIC
#undef LDABS
#undef VM_NEXT
