/* Load-time validation: one case per error, each message checked. */
#include "isa.h"
#include <errno.h>

#include "util.h"

struct vcase {
	const char *name;
	struct bpf_insn insns[8];
	size_t n;
	int err;
	const char *msg;
};

#define V(nm, e, m, ...) { nm, { __VA_ARGS__ }, sizeof((struct bpf_insn[]){ __VA_ARGS__ }) / sizeof(struct bpf_insn), e, m }

Test(validate, each_error_names_insn_and_reason)
{
	const struct vcase vcases[] = {
	V("unknown opcode", -EINVAL, "insn 1: unknown opcode 0xff", MOV64_K(0, 0), INS(0xff, 0, 0, 0, 0), EXIT),
	V("bad selector", -EINVAL, "insn 0: opcode 0x37 with off 2", INS(0x37, 0, 0, 2, 1), EXIT),
	V("bad dst register", -EINVAL, "insn 0: invalid destination register r11", MOV64_K(11, 0), EXIT),
	V("bad src register", -EINVAL, "insn 0: invalid source register r12", MOV64_X(0, 12), EXIT),
	V("write to r10", -EINVAL, "insn 0: mov writes r10, which is read-only", MOV64_K(10, 0), EXIT),
	V("atomic fetch into r10", -EINVAL, "insn 0: lock fetch add writes r10", ATOMIC64(1, 10, 0, 0x01), EXIT),
	V("reserved off", -EINVAL, "insn 0: add: reserved off field must be 0, not 3", INS(0x07, 0, 0, 3, 1), EXIT),
	V("reserved src", -EINVAL, "insn 0: add: reserved src_reg field must be 0, not 2", INS(0x07, 0, 2, 0, 1), EXIT),
	V("reserved imm", -EINVAL, "insn 0: add: reserved imm field must be 0, not 5", INS(0x0f, 0, 1, 0, 5), EXIT),
	V("exit with fields", -EINVAL, "insn 0: exit: reserved dst_reg field must be 0, not 1", INS(0x95, 1, 0, 0, 0)),
	V("jump out of range", -EINVAL, "insn 0: jump to 42 is out of range (program has 2 instructions)", JA(41), EXIT),
	V("jump backwards out of range", -EINVAL, "insn 1: jump to -1 is out of range", MOV64_K(0, 0), JEQ_K(0, 0, -3),
	  EXIT),
	V("jump into lddw", -EINVAL, "insn 0: jump to 2 lands in the second half of the lddw at insn 1", JA(1),
	  LDDW(0, 1), EXIT),
	V("call out of range", -EINVAL, "insn 0: call to 9 is out of range", CALL_LOCAL(8), EXIT),
	V("falls off the end", -EINVAL, "insn 0: the program can fall off its end", MOV64_K(0, 0)),
	V("conditional last", -EINVAL, "insn 1: the program can fall off its end", MOV64_K(0, 0), JEQ_K(0, 0, -1)),
	V("lddw missing second slot", -EINVAL, "insn 1: lddw needs two instruction slots", EXIT,
	  INS(0x18, 0, 0, 0, 1)),
	V("lddw bad second slot", -EINVAL, "insn 1: second slot of the lddw at insn 0 must have code", INS(0x18, 0, 0, 0, 1),
	  INS(0x95, 0, 0, 0, 0), EXIT),
	V("lddw unknown pseudo", -EINVAL, "insn 0: lddw: unknown pseudo source 9", LDDW_SRC(0, 9, 0, 0), EXIT),
	V("lddw btf id", -EINVAL, "insn 0: lddw src=3: kernel BTF ids are not available in userspace",
	  LDDW_SRC(0, 3, 1, 0), EXIT),
	V("lddw fd_array index", -EINVAL, "insn 0: lddw src=5: index 0 is outside fd_array (0 entries)",
	  LDDW_SRC(0, 5, 0, 0), EXIT),
	V("kfunc call", -EINVAL, "insn 0: kfunc calls (call src=2) are not available in userspace",
	  INS(0x85, 0, 2, 0, 1), EXIT),
	V("unknown helper", -EINVAL, "insn 0: unknown helper 77", CALL(77), EXIT),
	V("subprog fall-through", -EINVAL, "insn 2: falls through into the subprogram at insn 3", CALL_LOCAL(2), EXIT,
	  MOV64_K(0, 1), MOV64_K(0, 2), EXIT),
	V("callx with imm", -EINVAL, "insn 0: call: reserved imm field must be 0, not 4", INS(0x8d, 1, 0, 0, 4), EXIT),
};
	for (size_t i = 0; i < N(vcases); i++) {
		const struct vcase *c = &vcases[i];
		char err[512] = "";
		int rc = t_run(NULL, c->insns, c->n, BPFVM_PROG_NO_VERIFY, NULL, 0, NULL, err, sizeof(err));
		cr_expect_eq(rc, c->err, "%s: rc %d, want %d (%s)", c->name, rc, c->err, err);
		cr_expect(strstr(err, c->msg) != NULL, "%s: log '%s' lacks '%s'", c->name, err, c->msg);
	}
}

Test(validate, empty_program)
{
	char err[256] = "";
	struct bpf_insn dummy = EXIT;
	cr_expect_eq(t_run(NULL, &dummy, 0, BPFVM_PROG_NO_VERIFY, NULL, 0, NULL, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "program is empty") != NULL, "%s", err);
}

Test(validate, xdp_needs_verifier)
{
	bpfvm *vm;
	cr_assert_eq(bpfvm_create(NULL, &vm), 0);
	struct bpf_insn p[] = { MOV64_K(0, 2), EXIT };
	char log[256];
	struct bpfvm_prog_opts po = { .sz = sizeof(po), .type = "xdp", .flags = BPFVM_PROG_NO_VERIFY, .log_buf = log,
	                              .log_size = sizeof(log) };
	bpfvm_prog *prog;
	cr_expect_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), -EINVAL);
	cr_expect(strstr(log, "needs the verifier") != NULL, "%s", log);
	po.type = "nope";
	cr_expect_eq(bpfvm_prog_load(vm, p, N(p), &po, &prog), -EINVAL);
	cr_expect(strstr(log, "unknown program type 'nope'") != NULL, "%s", log);
	bpfvm_destroy(vm);
}

/* The decoder maps every opcodes.def entry's canonical encoding back to it. */
Test(decode, every_opcode_roundtrips)
{
	for (int op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		struct bpf_insn in = { .code = oi->code };
		if (oi->sel == SEL_OFF)
			in.off = (int16_t)oi->selval;
		else if (oi->sel == SEL_IMM)
			in.imm = oi->selval;
		else if (oi->sel == SEL_SRC)
			in.src_reg = (uint8_t)oi->selval;
		cr_expect_eq(vm_decode(&in), (enum vm_op)op, "%s decodes as %d", oi->name, vm_decode(&in));
	}
	struct bpf_insn bad = { .code = 0xd7, .imm = 8 };
	cr_expect_eq(vm_decode(&bad), VM_OP_INVALID);
}
