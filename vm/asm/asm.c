/*
 * Assembler for the bpf_conformance text syntax.  Two passes: the first
 * parses every line into a pending instruction and records label positions
 * (lddw takes two slots), the second resolves label operands.  Mnemonics are
 * looked up in vm_opinfo[] (vm/opcodes.def); when a mnemonic names two
 * operations (add / add, call / call), the operand kinds pick one.
 */
#include "asm.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPERANDS 4
#define MAX_TOKEN 128

struct label {
	char name[MAX_TOKEN];
	size_t slot;
};

/* A jump-like operand whose label is resolved in pass two. */
struct fixup {
	size_t slot;      /* instruction slot holding the field */
	size_t line;
	bool in_imm;      /* the target goes in imm (call local, ja32, func) else off */
	char label[MAX_TOKEN];
};

struct asm_state {
	char *err;
	size_t errsz;
	size_t line;
	struct bpf_insn *insns;
	size_t n, cap;
	struct label *labels;
	size_t nlabels, labels_cap;
	struct fixup *fixups;
	size_t nfixups, fixups_cap;
};

static int err(struct asm_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int err(struct asm_state *st, const char *fmt, ...)
{
	int k = snprintf(st->err, st->errsz, "line %zu: ", st->line);
	if (k < 0 || (size_t)k >= st->errsz)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + k, st->errsz - (size_t)k, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, nc * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = nc;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_' || c == '.'; }
static bool is_ident(int c) { return isalnum(c) || c == '_' || c == '.'; }

static bool valid_ident(const char *s)
{
	if (!is_ident_start((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!is_ident((unsigned char)*s))
			return false;
	return true;
}

/* ---- numbers ---- */

struct num {
	bool neg, hex;
	uint64_t mag;
};

/* Parses [+-]digits or [+-]0xhex, the whole string. */
static bool parse_num(const char *s, struct num *n)
{
	n->neg = n->hex = false;
	n->mag = 0;
	if (*s == '+' || *s == '-')
		n->neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		n->hex = true;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;
		if (isdigit((unsigned char)*s)) d = (unsigned)(*s - '0');
		else if (n->hex && isxdigit((unsigned char)*s)) d = (unsigned)(tolower((unsigned char)*s) - 'a' + 10);
		else return false;
		uint64_t base = n->hex ? 16 : 10;
		if (n->mag > (UINT64_MAX - d) / base)
			return false; /* overflow: reported as out of range by callers */
		n->mag = n->mag * base + d;
	}
	return true;
}

static bool looks_numeric(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	return isdigit((unsigned char)*s);
}

/* A 32-bit immediate: decimal must fit int32; hex may give any 32-bit
 * pattern (0x0..0xffffffff), as the conformance suite writes them. */
static int get_imm32(struct asm_state *st, const char *s, int32_t *out)
{
	struct num n;
	if (!parse_num(s, &n))
		return looks_numeric(s) ? err(st, "immediate '%s' is out of range", s)
		                        : err(st, "expected an immediate number, got '%s'", s);
	if (n.neg) {
		if (n.mag > 0x80000000ull)
			return err(st, "immediate '%s' is out of the 32-bit range", s);
		*out = (int32_t)(uint32_t)(0u - (uint32_t)n.mag);
		return 0;
	}
	if (n.hex ? n.mag > 0xffffffffull : n.mag > 0x7fffffffull)
		return err(st, "immediate '%s' is out of the 32-bit range (-2147483648..2147483647, or 0x0..0xffffffff)", s);
	*out = (int32_t)(uint32_t)n.mag;
	return 0;
}

static int get_imm64(struct asm_state *st, const char *s, uint64_t *out)
{
	struct num n;
	if (!parse_num(s, &n))
		return looks_numeric(s) ? err(st, "immediate '%s' is out of the 64-bit range", s)
		                        : err(st, "expected a 64-bit immediate number, got '%s'", s);
	if (n.neg && n.mag > 0x8000000000000000ull)
		return err(st, "immediate '%s' is out of the 64-bit range", s);
	*out = n.neg ? 0 - n.mag : n.mag;
	return 0;
}

static int get_off16(struct asm_state *st, const char *s, int16_t *out, const char *what)
{
	struct num n;
	if (!parse_num(s, &n))
		return err(st, "expected a %s, got '%s'", what, s);
	if (n.neg ? n.mag > 32768 : n.mag > 32767)
		return err(st, "%s '%s' is out of range (-32768..32767)", what, s);
	*out = (int16_t)(n.neg ? -(int32_t)n.mag : (int32_t)n.mag);
	return 0;
}

/* ---- operands ---- */

static bool is_reg(const char *s) { return s[0] == '%'; }

static int get_reg(struct asm_state *st, const char *s, uint8_t *out)
{
	if (s[0] != '%' || s[1] != 'r' || !isdigit((unsigned char)s[2]))
		return err(st, "expected a register %%r0..%%r10, got '%s'", s);
	char *end;
	long r = strtol(s + 2, &end, 10);
	if (*end || r < 0 || r >= BPF_MAX_REG)
		return err(st, "invalid register '%s' (registers are %%r0..%%r10)", s);
	*out = (uint8_t)r;
	return 0;
}

/* [%rN], [%rN+off], [%rN-off] */
static int get_mem(struct asm_state *st, const char *s, uint8_t *reg, int16_t *off)
{
	size_t len = strlen(s);
	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return err(st, "expected a memory operand [%%rN+off], got '%s'", s);
	char buf[MAX_TOKEN];
	if (len - 2 >= sizeof(buf))
		return err(st, "memory operand '%s' is too long", s);
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	char *inner = trim(buf);
	char *sign = inner + 1;
	while (*sign && *sign != '+' && *sign != '-')
		sign++;
	char offs[MAX_TOKEN] = "0";
	if (*sign) {
		snprintf(offs, sizeof(offs), "%s", sign);
		*sign = '\0';
	}
	int e = get_reg(st, trim(inner), reg);
	if (e)
		return e;
	/* "+ 8" with spaces: drop them after the sign. */
	char compact[MAX_TOKEN];
	size_t k = 0;
	for (char *p = offs; *p && k + 1 < sizeof(compact); p++)
		if (!isspace((unsigned char)*p))
			compact[k++] = *p;
	compact[k] = '\0';
	return get_off16(st, compact, off, "memory offset");
}

/* A jump target: a relative offset (+N / -N / N) or a label (pass two). */
static int get_target(struct asm_state *st, const char *s, bool in_imm, int32_t *val, bool *is_label)
{
	*is_label = false;
	if (looks_numeric(s)) {
		if (in_imm)
			return get_imm32(st, s, val);
		int16_t o;
		int e = get_off16(st, s, &o, "jump offset");
		*val = o;
		return e;
	}
	if (!valid_ident(s))
		return err(st, "expected a label or a relative offset (+N/-N), got '%s'", s);
	if (strlen(s) >= MAX_TOKEN)
		return err(st, "label '%s' is too long", s);
	if (grow((void **)&st->fixups, &st->fixups_cap, st->nfixups + 1, sizeof(*st->fixups)))
		return -ENOMEM;
	struct fixup *f = &st->fixups[st->nfixups++];
	f->slot = st->n;
	f->line = st->line;
	f->in_imm = in_imm;
	snprintf(f->label, sizeof(f->label), "%s", s);
	*is_label = true;
	*val = 0;
	return 0;
}

/* `name(A[, B])` for lddw pseudo sources. */
static int get_pseudo(struct asm_state *st, const char *s, struct bpf_insn *lo, struct bpf_insn *hi)
{
	const char *open = strchr(s, '(');
	size_t len = strlen(s);
	if (!open || s[len - 1] != ')')
		return err(st, "expected a 64-bit immediate or a pseudo source like map_fd(N), got '%s'", s);
	size_t nlen = (size_t)(open - s);
	unsigned src = 0;
	for (unsigned k = 1; k < 16; k++) {
		const char *name = vm_asm_pseudo_name(k);
		if (name && strlen(name) == nlen && !strncmp(name, s, nlen)) {
			src = k;
			break;
		}
	}
	if (!src)
		return err(st, "unknown lddw pseudo source '%.*s' (map_fd, map_value, btf_id, func, map_idx, map_idx_value)",
		           (int)nlen, s);
	char args[MAX_TOKEN];
	if (len - nlen - 2 >= sizeof(args))
		return err(st, "operand '%s' is too long", s);
	memcpy(args, open + 1, len - nlen - 2);
	args[len - nlen - 2] = '\0';
	char *comma = strchr(args, ',');
	char *b = NULL;
	if (comma) {
		*comma = '\0';
		b = trim(comma + 1);
	}
	char *a = trim(args);
	lo->src_reg = (uint8_t)src;
	int e;
	if (src == BPF_PSEUDO_FUNC) {
		if (b)
			return err(st, "func(...) takes one operand, a label or relative offset");
		bool lab;
		return get_target(st, a, true, &lo->imm, &lab);
	}
	if ((e = get_imm32(st, a, &lo->imm)))
		return e;
	if (b && (e = get_imm32(st, b, &hi->imm)))
		return e;
	return 0;
}

/* Splits operands at top-level commas (not inside [] or ()). */
static int split_operands(struct asm_state *st, char *s, char **ops, int *nops)
{
	*nops = 0;
	s = trim(s);
	if (!*s)
		return 0;
	int depth = 0;
	char *start = s;
	for (char *p = s;; p++) {
		if (*p == '[' || *p == '(') depth++;
		else if (*p == ']' || *p == ')') depth--;
		if ((*p == ',' && depth == 0) || !*p) {
			bool last = !*p;
			*p = '\0';
			if (*nops == MAX_OPERANDS)
				return err(st, "too many operands");
			ops[(*nops)++] = trim(start);
			if (!*ops[*nops - 1])
				return err(st, "empty operand");
			if (last)
				break;
			start = p + 1;
		}
	}
	return 0;
}

static int operand_count(enum vm_fmt fmt)
{
	switch (fmt) {
	case FMT_ALU_K: case FMT_ALU_X: case FMT_LDDW: case FMT_LDIND:
	case FMT_LDX: case FMT_ST: case FMT_STX: case FMT_ATOMIC:
		return 2;
	case FMT_NEG: case FMT_END: case FMT_LDABS: case FMT_JA: case FMT_JA32:
	case FMT_CALL: case FMT_CALL_LOCAL: case FMT_CALLX:
		return 1;
	case FMT_JCOND_K: case FMT_JCOND_X:
		return 3;
	case FMT_EXIT:
		return 0;
	}
	return 0;
}

/* Finds the operation for a mnemonic; the operand kinds pick between the
 * immediate and register forms that share a mnemonic. */
static enum vm_op lookup(const char *mnem, char **ops, int nops)
{
	enum vm_op found = VM_OP_INVALID;
	for (int op = 0; op < VM_OP__COUNT; op++) {
		const struct vm_opinfo *oi = &vm_opinfo[op];
		if (strcmp(oi->mnemonic, mnem))
			continue;
		if (found == VM_OP_INVALID)
			found = (enum vm_op)op;
		bool want_reg;
		switch (oi->fmt) {
		case FMT_ALU_K: case FMT_CALL: want_reg = false; break;
		case FMT_ALU_X: case FMT_CALLX: want_reg = true; break;
		case FMT_JCOND_K: want_reg = false; break;
		case FMT_JCOND_X: want_reg = true; break;
		default: return (enum vm_op)op;
		}
		int which = (oi->fmt == FMT_CALL || oi->fmt == FMT_CALLX) ? 0 : 1;
		if (nops > which && is_reg(ops[which]) == want_reg)
			return (enum vm_op)op;
	}
	return found;
}

/* Reads the next whitespace-delimited word of *p into w. */
static bool next_word(char **p, char *w, size_t wsz)
{
	char *s = *p;
	while (isspace((unsigned char)*s))
		s++;
	size_t k = 0;
	while (*s && !isspace((unsigned char)*s) && k + 1 < wsz)
		w[k++] = *s++;
	w[k] = '\0';
	*p = s;
	return k > 0;
}

static int assemble_line(struct asm_state *st, char *line)
{
	/* Labels: "name:" possibly followed by an instruction. */
	for (;;) {
		char *s = trim(line);
		char *colon = s;
		while (is_ident((unsigned char)*colon))
			colon++;
		if (colon == s || *colon != ':' || !is_ident_start((unsigned char)*s))
			break;
		*colon = '\0';
		for (size_t k = 0; k < st->nlabels; k++)
			if (!strcmp(st->labels[k].name, s))
				return err(st, "label '%s' is defined twice", s);
		if (strlen(s) >= MAX_TOKEN)
			return err(st, "label '%s' is too long", s);
		if (grow((void **)&st->labels, &st->labels_cap, st->nlabels + 1, sizeof(*st->labels)))
			return -ENOMEM;
		snprintf(st->labels[st->nlabels].name, MAX_TOKEN, "%s", s);
		st->labels[st->nlabels++].slot = st->n;
		line = colon + 1;
	}
	char *p = trim(line);
	if (!*p)
		return 0;

	char mnem[3 * MAX_TOKEN], w[MAX_TOKEN];
	next_word(&p, mnem, MAX_TOKEN);
	/* Multi-word mnemonics: "lock [fetch] op", "call local". */
	if (!strcmp(mnem, "lock")) {
		if (!next_word(&p, w, sizeof(w)) || w[0] == '[')
			return err(st, "invalid number of operands for lock: expected "
			           "'lock [fetch] add|and|or|xor|xchg|cmpxchg[32] [%%rN+off], %%rM'");
		strcat(mnem, " ");
		strcat(mnem, w);
		if (!strcmp(w, "fetch")) {
			if (!next_word(&p, w, sizeof(w)) || w[0] == '[')
				return err(st, "invalid number of operands for lock fetch: expected an operation");
			strcat(mnem, " ");
			strcat(mnem, w);
		}
	} else if (!strcmp(mnem, "call")) {
		char *save = p;
		if (next_word(&p, w, sizeof(w)) && !strcmp(w, "local"))
			strcat(mnem, " local");
		else
			p = save;
	}

	char *ops[MAX_OPERANDS];
	int nops, e;
	if ((e = split_operands(st, p, ops, &nops)))
		return e;
	enum vm_op op = lookup(mnem, ops, nops);
	if (op == VM_OP_INVALID && !strncmp(mnem, "swap", 4) && strlen(mnem) < sizeof(w) - 1) {
		/* `swapN` is the conformance suite's spelling of `bswapN`. */
		snprintf(w, sizeof(w), "b%s", mnem);
		op = lookup(w, ops, nops);
	}
	if (op == VM_OP_INVALID)
		return err(st, "invalid mnemonic '%s'", mnem);
	const struct vm_opinfo *oi = &vm_opinfo[op];
	int want = operand_count(oi->fmt);
	if (nops != want)
		return err(st, "invalid number of operands for %s: expected %d (%s %s), got %d", mnem, want,
		           mnem, vm_asm_fmt_syntax(oi->fmt), nops);

	struct bpf_insn in = { .code = oi->code }, hi = { 0 };
	switch (oi->sel) {
	case SEL_OFF: in.off = (int16_t)oi->selval; break;
	case SEL_IMM: in.imm = oi->selval; break;
	case SEL_SRC: in.src_reg = (uint8_t)oi->selval; break;
	}
	uint8_t r = 0;
	int16_t off = 0;
	int32_t v = 0;
	bool lab;
	/* Fixups record st->n as the slot; the instruction is appended below. */
	switch ((enum vm_fmt)oi->fmt) {
	case FMT_ALU_K:
		if ((e = get_reg(st, ops[0], &r)) || (e = get_imm32(st, ops[1], &in.imm))) return e;
		in.dst_reg = r;
		break;
	case FMT_ALU_X:
		if ((e = get_reg(st, ops[0], &r))) return e;
		in.dst_reg = r;
		if ((e = get_reg(st, ops[1], &r))) return e;
		in.src_reg = r;
		break;
	case FMT_NEG: case FMT_END: case FMT_CALLX:
		if ((e = get_reg(st, ops[0], &r))) return e;
		in.dst_reg = r;
		break;
	case FMT_LDDW:
		if ((e = get_reg(st, ops[0], &r))) return e;
		in.dst_reg = r;
		if (strchr(ops[1], '(')) {
			if ((e = get_pseudo(st, ops[1], &in, &hi))) return e;
		} else {
			uint64_t imm64 = 0;
			if ((e = get_imm64(st, ops[1], &imm64))) return e;
			in.imm = (int32_t)(uint32_t)imm64;
			hi.imm = (int32_t)(uint32_t)(imm64 >> 32);
		}
		break;
	case FMT_LDABS:
		if ((e = get_imm32(st, ops[0], &in.imm))) return e;
		break;
	case FMT_LDIND:
		if ((e = get_reg(st, ops[0], &r)) || (e = get_imm32(st, ops[1], &in.imm))) return e;
		in.src_reg = r;
		break;
	case FMT_LDX:
		if ((e = get_reg(st, ops[0], &r))) return e;
		in.dst_reg = r;
		if ((e = get_mem(st, ops[1], &r, &off))) return e;
		in.src_reg = r;
		in.off = off;
		break;
	case FMT_ST:
		if ((e = get_mem(st, ops[0], &r, &off)) || (e = get_imm32(st, ops[1], &in.imm))) return e;
		in.dst_reg = r;
		in.off = off;
		break;
	case FMT_STX: case FMT_ATOMIC:
		if ((e = get_mem(st, ops[0], &r, &off))) return e;
		in.dst_reg = r;
		in.off = off;
		if ((e = get_reg(st, ops[1], &r))) return e;
		in.src_reg = r;
		break;
	case FMT_JA:
		if ((e = get_target(st, ops[0], false, &v, &lab))) return e;
		in.off = (int16_t)v;
		break;
	case FMT_JA32: case FMT_CALL_LOCAL:
		if ((e = get_target(st, ops[0], true, &in.imm, &lab))) return e;
		break;
	case FMT_JCOND_K: case FMT_JCOND_X:
		if ((e = get_reg(st, ops[0], &r))) return e;
		in.dst_reg = r;
		if (oi->fmt == FMT_JCOND_X) {
			if ((e = get_reg(st, ops[1], &r))) return e;
			in.src_reg = r;
		} else if ((e = get_imm32(st, ops[1], &in.imm))) {
			return e;
		}
		if ((e = get_target(st, ops[2], false, &v, &lab))) return e;
		in.off = (int16_t)v;
		break;
	case FMT_CALL:
		if ((e = get_imm32(st, ops[0], &in.imm))) return e;
		break;
	case FMT_EXIT:
		break;
	}
	size_t slots = oi->fmt == FMT_LDDW ? 2 : 1;
	if (grow((void **)&st->insns, &st->cap, st->n + slots, sizeof(*st->insns)))
		return -ENOMEM;
	st->insns[st->n++] = in;
	if (slots == 2)
		st->insns[st->n++] = hi;
	return 0;
}

static int resolve(struct asm_state *st)
{
	for (size_t k = 0; k < st->nfixups; k++) {
		struct fixup *f = &st->fixups[k];
		st->line = f->line;
		const struct label *l = NULL;
		for (size_t j = 0; j < st->nlabels; j++)
			if (!strcmp(st->labels[j].name, f->label))
				l = &st->labels[j];
		int64_t target = -1;
		if (l) {
			target = (int64_t)l->slot;
		} else if (!strcmp(f->label, "exit")) {
			/* bpf_conformance convention: without a label of that
			 * name, `exit` means the next exit instruction. */
			for (size_t k2 = f->slot + 1; k2 < st->n && target < 0; k2++)
				if (st->insns[k2].code == vm_opinfo[VM_OP_EXIT].code)
					target = (int64_t)k2;
			if (target < 0)
				return err(st, "jump to 'exit', but no exit instruction follows");
		} else {
			return err(st, "invalid label '%s': no such label", f->label);
		}
		int64_t rel = target - (int64_t)f->slot - 1;
		struct bpf_insn *in = &st->insns[f->slot];
		if (f->in_imm) {
			in->imm = (int32_t)rel;
		} else {
			if (rel < INT16_MIN || rel > INT16_MAX)
				return err(st, "label '%s' is too far for a 16-bit jump offset (%" PRId64 "); use ja32",
				           f->label, rel);
			in->off = (int16_t)rel;
		}
	}
	return 0;
}

int vm_asm(const char *text, size_t len, struct bpf_insn **out, size_t *nout, char *errbuf, size_t errsz)
{
	struct asm_state st = { .err = errbuf, .errsz = errsz };
	int e = 0;
	char *line = NULL;
	if (errsz)
		errbuf[0] = '\0';
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		st.line++;
		char *nb = realloc(line, l + 1);
		if (!nb) {
			e = -ENOMEM;
			goto out;
		}
		line = nb;
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + 1;
		if (memchr(line, '\0', l)) {
			e = err(&st, "unexpected NUL byte (is this a binary file?)");
			goto out;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if ((e = assemble_line(&st, line)))
			goto out;
	}
	if ((e = resolve(&st)))
		goto out;
	*out = st.insns;
	*nout = st.n;
	st.insns = NULL;
out:
	if (e == -ENOMEM)
		snprintf(errbuf, errsz, "out of memory");
	free(line);
	free(st.insns);
	free(st.labels);
	free(st.fixups);
	return e;
}
