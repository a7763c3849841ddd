/*
 * bpfvm's built-in helpers, registered under Linux's ids with Linux's
 * prototypes (the verifier checks calls against them).
 */
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "interp.h"
#include "vm.h"
#include "map.h"

VM_HIDDEN int vm_helper_add(bpfvm *vm, uint32_t id, uint32_t kind, bpfvm_helper_fn fn,
                            const struct bpfvm_helper_proto *proto, void *ffi);
VM_HIDDEN bool vm_run_mem_ok(struct vm_run *run, uintptr_t a, size_t sz);

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t h_ktime_get_ns(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return clock_ns(CLOCK_MONOTONIC);
}
static uint64_t h_ktime_get_boot_ns(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return clock_ns(CLOCK_BOOTTIME);
}
static uint64_t h_ktime_get_coarse_ns(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}
/* Jiffies at HZ=250, Debian's kernel configuration. */
static uint64_t h_jiffies64(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return clock_ns(CLOCK_MONOTONIC_COARSE) / 4000000ull;
}

static __thread uint64_t prandom_state;
static uint64_t h_get_prandom_u32(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	uint64_t x = prandom_state;
	if (!x) /* per-thread seed: time and the thread's own address */
		x = clock_ns(CLOCK_MONOTONIC) ^ (uintptr_t)&prandom_state ^ 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	prandom_state = x ? x : 1;
	return (uint32_t)(x >> 16);
}
static uint64_t h_get_smp_processor_id(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return vm_cpu_current();
}

/*
 * Linux's bpf_trace_printk/bpf_snprintf format subset: %d %i %u %x %X %c
 * %p %s %% with l/ll length modifiers.  %s strings are read only from
 * memory the run may access.  Returns the length written (without NUL) or
 * -EINVAL for an unsupported format or too many arguments.
 */
static int vm_format(char *out, size_t size, const char *fmt, size_t fmt_max, const uint64_t *args, unsigned nargs)
{
	size_t o = 0;
	unsigned ai = 0;
#define PUT(c) do { if (o + 1 < size) out[o] = (c); o++; } while (0)
	for (size_t i = 0; i < fmt_max && fmt[i]; i++) {
		if (fmt[i] != '%') {
			PUT(fmt[i]);
			continue;
		}
		i++;
		if (i >= fmt_max || !fmt[i])
			return -EINVAL;
		if (fmt[i] == '%') {
			PUT('%');
			continue;
		}
		int l = 0;
		while (i < fmt_max && fmt[i] == 'l' && l < 2) {
			l++;
			i++;
		}
		if (i >= fmt_max || ai >= nargs)
			return -EINVAL;
		uint64_t v = args[ai++];
		char tmp[32];
		const char *s = tmp;
		size_t n = 0;
		switch (fmt[i]) {
		case 'd': case 'i':
			n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", l ? (long long)v : (long long)(int32_t)v);
			break;
		case 'u':
			n = (size_t)snprintf(tmp, sizeof(tmp), "%llu", l ? (unsigned long long)v : (unsigned long long)(uint32_t)v);
			break;
		case 'x': case 'X':
			n = (size_t)snprintf(tmp, sizeof(tmp), fmt[i] == 'x' ? "%llx" : "%llX",
			                     l ? (unsigned long long)v : (unsigned long long)(uint32_t)v);
			break;
		case 'p':
			n = (size_t)snprintf(tmp, sizeof(tmp), "0x%llx", (unsigned long long)v);
			break;
		case 'c':
			tmp[0] = (char)v;
			n = 1;
			break;
		case 's': {
			struct vm_run *run = vm_current_run;
			s = (const char *)(uintptr_t)v;
			for (n = 0; n < 1024; n++) {
				if (!run || !vm_run_mem_ok(run, (uintptr_t)s + n, 1)) {
					s = "(bad string)";
					n = strlen(s);
					break;
				}
				if (!s[n])
					break;
			}
			break;
		}
		default:
			return -EINVAL;
		}
		for (size_t k = 0; k < n; k++)
			PUT(s[k]);
	}
	if (size)
		out[o < size ? o : size - 1] = '\0';
#undef PUT
	return (int)o;
}

/* bpf_trace_printk(fmt, fmt_size, a1, a2, a3) */
static uint64_t h_trace_printk(uint64_t fmt, uint64_t fsz, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct vm_run *run = vm_current_run;
	uint64_t args[3] = { a1, a2, a3 };
	char line[512];
	int n = vm_format(line, sizeof(line), (const char *)(uintptr_t)fmt, fsz, args, 3);
	if (n < 0)
		return (uint64_t)(int64_t)n;
	const struct bpfvm_opts *o = run ? &run->prog->vm->opts : NULL;
	if (o && o->print) {
		o->print(o->print_user, line);
	} else {
		/* One line per call, as trace_pipe shows one entry per call
		 * whether or not the format ends in a newline. */
		size_t len = strlen(line);
		fprintf(stderr, "%s%s", line, len && line[len - 1] == '\n' ? "" : "\n");
	}
	return (uint64_t)n;
}

/* bpf_snprintf(str, str_size, fmt, data, data_len): data holds u64 args. */
static uint64_t h_snprintf(uint64_t str, uint64_t size, uint64_t fmt, uint64_t data, uint64_t dlen)
{
	if (dlen % 8 || dlen / 8 > 12 || (dlen && !data))
		return (uint64_t)(int64_t)-EINVAL;
	uint64_t args[12];
	memcpy(args, (const void *)(uintptr_t)data, dlen);
	int n = vm_format((char *)(uintptr_t)str, size, (const char *)(uintptr_t)fmt, 4096, args, (unsigned)(dlen / 8));
	return n < 0 ? (uint64_t)(int64_t)n : (uint64_t)n + 1; /* as Linux: bytes needed, NUL included */
}

/* bpf_loop(nr_loops, callback, ctx, flags), with Linux's 1 << 23 cap. */
static uint64_t h_loop(uint64_t nr, uint64_t cb, uint64_t ctx, uint64_t flags, uint64_t e)
{
	(void)e;
	struct vm_run *run = vm_current_run;
	if (flags)
		return (uint64_t)(int64_t)-EINVAL;
	if (nr > (1u << 23))
		return (uint64_t)(int64_t)-E2BIG;
	uint64_t i;
	for (i = 0; i < nr;) {
		uint64_t r = vm_call_callback(run, cb, i, ctx, 0, 0, 0);
		i++;
		if (run->stop || r)
			break;
	}
	return i;
}

/* bpf_strncmp(s1, s1_sz, s2) */
static uint64_t h_strncmp(uint64_t s1, uint64_t sz, uint64_t s2, uint64_t d, uint64_t e)
{
	(void)d; (void)e;
	return (uint64_t)(int64_t)strncmp((const char *)(uintptr_t)s1, (const char *)(uintptr_t)s2, sz);
}

/*
 * bpf_strtol/bpf_strtoul(buf, buf_len, flags, res), as Linux: leading white
 * space, then for strtol an optional '-' (strtoul refuses one with -EINVAL),
 * then digits in base flags (0 = auto: 0x.. hex, 0.. octal, else decimal;
 * or 8, 10, 16; any other flag bit is -EINVAL).  At most 63 bytes after
 * the white space are looked at.  Returns the bytes consumed, -EINVAL when
 * no digit was found, -ERANGE on overflow; *res is written only on success.
 */
#define STRTOX_BASE_MASK 0x1fu

static int64_t strtox(const char *buf, uint64_t len, uint64_t flags, uint64_t *out, bool *neg)
{
	unsigned base = (unsigned)(flags & STRTOX_BASE_MASK);
	if (!buf || !len || (flags & ~(uint64_t)STRTOX_BASE_MASK) || (base && base != 8 && base != 10 && base != 16))
		return -EINVAL;
	uint64_t i = 0;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	*neg = i < len && buf[i] == '-';
	if (*neg)
		i++;
	if (i == len)
		return -EINVAL;
	/* Linux parses a NUL-terminated copy of at most 63 bytes. */
	char s[64];
	uint64_t n = len - i < sizeof(s) - 1 ? len - i : sizeof(s) - 1;
	memcpy(s, buf + i, n);
	s[n] = '\0';
	const char *p = s;
	if (p[0] == '0' && tolower((unsigned char)p[1]) == 'x' && (base == 16 || (!base && isxdigit((unsigned char)p[2])))) {
		base = 16;
		p += 2;
	} else if (!base) {
		base = p[0] == '0' ? 8 : 10;
	}
	uint64_t v = 0;
	const char *d = p;
	for (;; d++) {
		unsigned c = (unsigned char)*d, digit;
		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (tolower((int)c) >= 'a' && tolower((int)c) <= 'f')
			digit = (unsigned)tolower((int)c) - 'a' + 10;
		else
			break;
		if (digit >= base)
			break;
		if (v > (UINT64_MAX - digit) / base)
			return -ERANGE;
		v = v * base + digit;
	}
	if (d == p)
		return -EINVAL;
	*out = v;
	return (int64_t)(i + (uint64_t)(d - s));
}

static uint64_t strto(bool is_signed, uint64_t buf, uint64_t len, uint64_t flags, uint64_t res)
{
	uint64_t v;
	bool neg;
	int64_t n = strtox((const char *)(uintptr_t)buf, len, flags, &v, &neg);
	if (n >= 0 && neg && !is_signed)
		n = -EINVAL;
	else if (n >= 0 && is_signed && (neg ? v - 1 > (uint64_t)INT64_MAX : v > (uint64_t)INT64_MAX))
		n = -ERANGE;
	if (n >= 0)
		*(uint64_t *)(uintptr_t)res = neg ? 0 - v : v;
	return (uint64_t)n;
}

static uint64_t h_strtol(uint64_t buf, uint64_t len, uint64_t flags, uint64_t res, uint64_t e)
{
	(void)e;
	return strto(true, buf, len, flags, res);
}

static uint64_t h_strtoul(uint64_t buf, uint64_t len, uint64_t flags, uint64_t res, uint64_t e)
{
	(void)e;
	return strto(false, buf, len, flags, res);
}

#define P(...) { __VA_ARGS__ }
struct builtin {
	uint32_t id, kind;
	bpfvm_helper_fn fn;
	const char *name;
	uint32_t ret;
	uint32_t args[5];
	uint32_t flags;
};

static const struct builtin builtins[] = {
	{ BPFVM_FN_ktime_get_ns, VM_HELPER_PLAIN, h_ktime_get_ns, "bpf_ktime_get_ns", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_ktime_get_boot_ns, VM_HELPER_PLAIN, h_ktime_get_boot_ns, "bpf_ktime_get_boot_ns", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_ktime_get_coarse_ns, VM_HELPER_PLAIN, h_ktime_get_coarse_ns, "bpf_ktime_get_coarse_ns", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_jiffies64, VM_HELPER_PLAIN, h_jiffies64, "bpf_jiffies64", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_get_prandom_u32, VM_HELPER_PLAIN, h_get_prandom_u32, "bpf_get_prandom_u32", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_get_smp_processor_id, VM_HELPER_PLAIN, h_get_smp_processor_id, "bpf_get_smp_processor_id", BPFVM_RET_INTEGER, P(0), 0 },
	{ BPFVM_FN_trace_printk, VM_HELPER_PLAIN, h_trace_printk, "bpf_trace_printk", BPFVM_RET_INTEGER,
	  /* As Linux: the format args are not checked (printed as numbers or read via %s from run memory). */
	  P(BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE), 0 },
	{ BPFVM_FN_snprintf, VM_HELPER_PLAIN, h_snprintf, "bpf_snprintf", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_PTR_TO_MEM_OR_NULL, BPFVM_ARG_CONST_SIZE_OR_ZERO, BPFVM_ARG_PTR_TO_CONST_STR,
	    BPFVM_ARG_PTR_TO_MEM_OR_NULL, BPFVM_ARG_CONST_SIZE_OR_ZERO), 0 },
	{ BPFVM_FN_loop, VM_HELPER_PLAIN, h_loop, "bpf_loop", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_SCALAR, BPFVM_ARG_PTR_TO_FUNC, BPFVM_ARG_PTR_TO_STACK_OR_NULL, BPFVM_ARG_SCALAR), 0 },
	{ BPFVM_FN_strncmp, VM_HELPER_PLAIN, h_strncmp, "bpf_strncmp", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE, BPFVM_ARG_PTR_TO_CONST_STR), 0 },
	{ BPFVM_FN_strtol, VM_HELPER_PLAIN, h_strtol, "bpf_strtol", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE, BPFVM_ARG_ANYTHING, BPFVM_ARG_PTR_TO_LONG), 0 },
	{ BPFVM_FN_strtoul, VM_HELPER_PLAIN, h_strtoul, "bpf_strtoul", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE, BPFVM_ARG_ANYTHING, BPFVM_ARG_PTR_TO_LONG), 0 },
	/* RET_VOID as Linux: a tail call that falls through leaves r0 without
	 * a value (the JIT's r0 at entry is whatever the host left there). */
	{ BPFVM_FN_tail_call, VM_HELPER_TAIL_CALL, NULL, "bpf_tail_call", BPFVM_RET_VOID,
	  P(BPFVM_ARG_PTR_TO_CTX, BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_SCALAR), 0 },
	{ BPFVM_FN_map_lookup_elem, VM_HELPER_PLAIN, map_helper_lookup, "bpf_map_lookup_elem", BPFVM_RET_MAP_VALUE_OR_NULL,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MAP_KEY), 0 },
	{ BPFVM_FN_map_update_elem, VM_HELPER_PLAIN, map_helper_update, "bpf_map_update_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MAP_KEY, BPFVM_ARG_PTR_TO_MAP_VALUE, BPFVM_ARG_ANYTHING), 0 },
	{ BPFVM_FN_map_lookup_percpu_elem, VM_HELPER_PLAIN, map_helper_lookup_percpu, "bpf_map_lookup_percpu_elem",
	  BPFVM_RET_MAP_VALUE_OR_NULL, P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MAP_KEY, BPFVM_ARG_ANYTHING), 0 },
	{ BPFVM_FN_map_delete_elem, VM_HELPER_PLAIN, map_helper_delete, "bpf_map_delete_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MAP_KEY), 0 },
	{ BPFVM_FN_for_each_map_elem, VM_HELPER_PLAIN, map_helper_for_each, "bpf_for_each_map_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_FUNC, BPFVM_ARG_PTR_TO_STACK_OR_NULL, BPFVM_ARG_ANYTHING), 0 },
	/* As Linux: pop and peek write value_size bytes, push reads them. */
	{ BPFVM_FN_map_push_elem, VM_HELPER_PLAIN, map_helper_push, "bpf_map_push_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MAP_VALUE, BPFVM_ARG_ANYTHING), 0 },
	{ BPFVM_FN_map_pop_elem, VM_HELPER_PLAIN, map_helper_pop, "bpf_map_pop_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE), 0 },
	{ BPFVM_FN_map_peek_elem, VM_HELPER_PLAIN, map_helper_peek, "bpf_map_peek_elem", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_UNINIT_MAP_VALUE), 0 },
	/* As Linux: reserve acquires a reference (the record, or NULL) that
	 * submit or discard releases on every path. */
	{ BPFVM_FN_ringbuf_output, VM_HELPER_PLAIN, map_helper_ringbuf_output, "bpf_ringbuf_output", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_PTR_TO_MEM, BPFVM_ARG_CONST_SIZE_OR_ZERO, BPFVM_ARG_ANYTHING), 0 },
	{ BPFVM_FN_ringbuf_reserve, VM_HELPER_PLAIN, map_helper_ringbuf_reserve, "bpf_ringbuf_reserve",
	  BPFVM_RET_ALLOC_MEM_OR_NULL, P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_CONST_ALLOC_SIZE_OR_ZERO, BPFVM_ARG_ANYTHING),
	  BPFVM_HELPER_ACQUIRE },
	{ BPFVM_FN_ringbuf_submit, VM_HELPER_PLAIN, map_helper_ringbuf_submit, "bpf_ringbuf_submit", BPFVM_RET_VOID,
	  P(BPFVM_ARG_PTR_TO_ALLOC_MEM, BPFVM_ARG_ANYTHING), BPFVM_HELPER_RELEASE },
	{ BPFVM_FN_ringbuf_discard, VM_HELPER_PLAIN, map_helper_ringbuf_discard, "bpf_ringbuf_discard", BPFVM_RET_VOID,
	  P(BPFVM_ARG_PTR_TO_ALLOC_MEM, BPFVM_ARG_ANYTHING), BPFVM_HELPER_RELEASE },
	{ BPFVM_FN_ringbuf_query, VM_HELPER_PLAIN, map_helper_ringbuf_query, "bpf_ringbuf_query", BPFVM_RET_INTEGER,
	  P(BPFVM_ARG_CONST_MAP_PTR, BPFVM_ARG_ANYTHING), 0 },
	/* As Linux: no helper but the unlock may run with a lock held. */
	{ BPFVM_FN_spin_lock, VM_HELPER_PLAIN, map_helper_spin_lock, "bpf_spin_lock", BPFVM_RET_VOID,
	  P(BPFVM_ARG_PTR_TO_SPIN_LOCK), 0 },
	{ BPFVM_FN_spin_unlock, VM_HELPER_PLAIN, map_helper_spin_unlock, "bpf_spin_unlock", BPFVM_RET_VOID,
	  P(BPFVM_ARG_PTR_TO_SPIN_LOCK), BPFVM_HELPER_LOCK_SAFE },
};

VM_HIDDEN int vm_helpers_init(bpfvm *vm)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const struct builtin *b = &builtins[i];
		struct bpfvm_helper_proto p = { .sz = sizeof(p), .name = b->name, .ret = b->ret, .flags = b->flags };
		memcpy(p.args, b->args, sizeof(p.args));
		int err = vm_helper_add(vm, b->id, b->kind, b->fn, &p, NULL);
		if (err)
			return err;
	}
	return 0;
}
