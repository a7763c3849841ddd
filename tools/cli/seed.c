/*
 * Map seeding for `bpfvm run --seed FILE.json`: fills an ELF object's maps
 * before the run.  The file has the shape --dump-maps --json prints, so a
 * dump can be edited and fed back:
 *
 *   {"maps": [{"name": "counts", "entries": [{"key": "01000000", "value": 7}]}]}
 *
 * A key or value is a hex string of exactly the map's key/value size, or a
 * non-negative integer stored little-endian in that many bytes (<= 8).
 * Other members ("type", "key_size", ...) are ignored.  A small recursive
 * JSON reader, depth-limited; errors name the byte offset.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "seed.h"

#define SEED_MAX_DEPTH 16

struct jp {
	const char *s;
	size_t pos, len;
	char err[160];
};

static int fail(struct jp *p, const char *what)
{
	if (!p->err[0])
		snprintf(p->err, sizeof(p->err), "%s at byte %zu", what, p->pos);
	return -EINVAL;
}

static void ws(struct jp *p)
{
	while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static bool eat(struct jp *p, char c)
{
	ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

/* A string without escapes beyond \" and \\ (names and hex); out gets a copy. */
static int str(struct jp *p, char *out, size_t n)
{
	if (!eat(p, '"'))
		return fail(p, "expected a string");
	size_t k = 0;
	while (p->pos < p->len && p->s[p->pos] != '"') {
		char c = p->s[p->pos++];
		if (c == '\\') {
			if (p->pos >= p->len)
				break;
			c = p->s[p->pos++];
		}
		if (k + 1 < n)
			out[k++] = c;
		else
			return fail(p, "string too long");
	}
	if (p->pos >= p->len)
		return fail(p, "unterminated string");
	p->pos++;
	out[k] = '\0';
	return 0;
}

static int skip(struct jp *p, int depth)
{
	char tmp[4096];
	if (depth > SEED_MAX_DEPTH)
		return fail(p, "nesting too deep");
	ws(p);
	if (p->pos >= p->len)
		return fail(p, "unexpected end");
	char c = p->s[p->pos];
	if (c == '"')
		return str(p, tmp, sizeof(tmp));
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		p->pos++;
		if (eat(p, close))
			return 0;
		do {
			if (c == '{') {
				if (str(p, tmp, sizeof(tmp)) || !eat(p, ':'))
					return fail(p, "expected \"name\":");
			}
			if (skip(p, depth + 1))
				return -EINVAL;
		} while (eat(p, ','));
		return eat(p, close) ? 0 : fail(p, "expected , or a closing bracket");
	}
	size_t start = p->pos;
	while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || strchr("+-.", p->s[p->pos])))
		p->pos++;
	return p->pos > start ? 0 : fail(p, "unexpected character");
}

/* A key or value: hex string of n bytes, or an integer in n <= 8 bytes. */
static int bytes(struct jp *p, uint8_t *out, uint32_t n)
{
	ws(p);
	memset(out, 0, n);
	if (p->pos < p->len && p->s[p->pos] == '"') {
		char hex[8192];
		if (str(p, hex, sizeof(hex)))
			return -EINVAL;
		if (strlen(hex) != 2ull * n)
			return fail(p, "hex string length does not match the map's size");
		for (uint32_t i = 0; i < n; i++) {
			unsigned v;
			if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
			    sscanf(hex + 2 * i, "%2x", &v) != 1)
				return fail(p, "bad hex digit");
			out[i] = (uint8_t)v;
		}
		return 0;
	}
	if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos]))
		return fail(p, "expected a hex string or a non-negative integer");
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p->s + p->pos, &end, 0);
	if (errno)
		return fail(p, "integer out of range");
	p->pos = (size_t)(end - p->s);
	if (n < 8 && v >> (8 * n))
		return fail(p, "integer does not fit the map's size");
	for (uint32_t i = 0; i < n && i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
	return 0;
}

static int entry(struct jp *p, bpfvm_map *m, const struct bpfvm_map_info *info)
{
	uint8_t *key = calloc(1, info->key_size + 1), *val = calloc(1, cli_map_value_bytes(info) + 1);
	bool have_k = false, have_v = false;
	int err = 0;
	char name[64];
	if (!key || !val)
		err = -ENOMEM;
	if (!err && !eat(p, '{'))
		err = fail(p, "expected an entry object");
	while (!err && !eat(p, '}')) {
		if (str(p, name, sizeof(name)) || !eat(p, ':')) {
			err = fail(p, "expected \"key\": or \"value\":");
			break;
		}
		if (!strcmp(name, "key")) {
			err = bytes(p, key, info->key_size);
			have_k = true;
		} else if (!strcmp(name, "value")) {
			err = bytes(p, val, info->value_size);
			have_v = true;
		} else {
			err = skip(p, 1);
		}
		if (!err)
			eat(p, ',');
	}
	if (!err && (!have_k || !have_v))
		err = fail(p, "an entry needs both \"key\" and \"value\"");
	/* Per-CPU maps: the one value given seeds every CPU's. */
	size_t stride = (info->value_size + 7u) & ~7u;
	for (unsigned c = 1; !err && cli_map_percpu(info) && c < bpfvm_num_possible_cpus(); c++)
		memcpy(val + c * stride, val, info->value_size);
	if (!err && (err = bpfvm_map_update(m, key, val, BPFVM_ANY)))
		snprintf(p->err, sizeof(p->err), "map '%s': update failed: %s (byte %zu)", info->name,
		         bpfvm_strerror(err), p->pos);
	free(key);
	free(val);
	return err;
}

static int map_obj(struct jp *p, bpfvm_obj *obj)
{
	char name[64] = "", key[64];
	bpfvm_map *m = NULL;
	struct bpfvm_map_info info = { .sz = sizeof(info) };
	if (!eat(p, '{'))
		return fail(p, "expected a map object");
	while (!eat(p, '}')) {
		if (str(p, key, sizeof(key)) || !eat(p, ':'))
			return fail(p, "expected a member name");
		if (!strcmp(key, "name")) {
			if (str(p, name, sizeof(name)))
				return -EINVAL;
			m = bpfvm_obj_map(obj, name);
			if (!m) {
				snprintf(p->err, sizeof(p->err), "no map named '%s' in the object", name);
				return -ENOENT;
			}
			bpfvm_map_info(m, &info);
		} else if (!strcmp(key, "entries")) {
			if (!m)
				return fail(p, "\"name\" must come before \"entries\"");
			if (!eat(p, '['))
				return fail(p, "expected an array of entries");
			if (!eat(p, ']')) {
				do {
					int err = entry(p, m, &info);
					if (err)
						return err;
				} while (eat(p, ','));
				if (!eat(p, ']'))
					return fail(p, "expected , or ]");
			}
		} else if (skip(p, 1)) {
			return -EINVAL;
		}
		eat(p, ',');
	}
	return 0;
}

int cli_seed_maps(bpfvm_obj *obj, const char *text, size_t len, char *err, size_t errsz)
{
	struct jp p = { .s = text, .len = len };
	char key[64];
	int rc = 0;
	if (!eat(&p, '{'))
		rc = fail(&p, "expected {\"maps\": [...]}");
	while (!rc && !eat(&p, '}')) {
		if (str(&p, key, sizeof(key)) || !eat(&p, ':')) {
			rc = fail(&p, "expected \"maps\":");
			break;
		}
		if (strcmp(key, "maps")) {
			rc = skip(&p, 1);
		} else if (!eat(&p, '[')) {
			rc = fail(&p, "\"maps\" must be an array");
		} else if (!eat(&p, ']')) {
			do
				rc = map_obj(&p, obj);
			while (!rc && eat(&p, ','));
			if (!rc && !eat(&p, ']'))
				rc = fail(&p, "expected , or ]");
		}
		if (!rc)
			eat(&p, ',');
	}
	if (rc)
		snprintf(err, errsz, "%s", p.err[0] ? p.err : bpfvm_strerror(rc));
	return rc;
}
