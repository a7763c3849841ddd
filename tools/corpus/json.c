/* A small recursive-descent JSON reader (see json.h). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p;
	int depth;
};

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static char *parse_string(struct parser *ps)
{
	if (*ps->p != '"')
		return NULL;
	ps->p++;
	size_t cap = 16, n = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	while (*ps->p && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\\') {
			c = *ps->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					char h = *ps->p;
					if (!h) { free(s); return NULL; }
					ps->p++;
					v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			case 0: free(s); return NULL;
			default: break; /* \" \\ \/ */
			}
		}
		if (n + 2 > cap) {
			char *t = realloc(s, cap *= 2);
			if (!t) { free(s); return NULL; }
			s = t;
		}
		s[n++] = c;
	}
	if (*ps->p != '"') {
		free(s);
		return NULL;
	}
	ps->p++;
	s[n] = 0;
	return s;
}

static struct json *parse_value(struct parser *ps);

static struct json *parse_container(struct parser *ps, enum json_kind kind)
{
	struct json *j = calloc(1, sizeof(*j)), **tail;
	if (!j)
		return NULL;
	j->kind = kind;
	tail = &j->child;
	char close = kind == JSON_ARR ? ']' : '}';
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(ps);
		if (kind == JSON_OBJ) {
			if (!(key = parse_string(ps)))
				goto bad;
			skip_ws(ps);
			if (*ps->p++ != ':') {
				free(key);
				goto bad;
			}
		}
		struct json *v = parse_value(ps);
		if (!v) {
			free(key);
			goto bad;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			return j;
		}
		goto bad;
	}
bad:
	json_free(j);
	return NULL;
}

static struct json *parse_value(struct parser *ps)
{
	skip_ws(ps);
	if (++ps->depth > 64)
		return NULL;
	struct json *j = NULL;
	char c = *ps->p;
	if (c == '{' || c == '[') {
		j = parse_container(ps, c == '{' ? JSON_OBJ : JSON_ARR);
	} else if (c == '"') {
		char *s = parse_string(ps);
		if (s && (j = calloc(1, sizeof(*j)))) {
			j->kind = JSON_STR;
			j->str = s;
		} else {
			free(s);
		}
	} else if (!strncmp(ps->p, "null", 4) || !strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
		if ((j = calloc(1, sizeof(*j)))) {
			j->kind = c == 'n' ? JSON_NULL : JSON_BOOL;
			j->boolean = c == 't';
		}
		ps->p += c == 'f' ? 5 : 4;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		char *end;
		double v = strtod(ps->p, &end);
		if (end != ps->p && (j = calloc(1, sizeof(*j)))) {
			j->kind = JSON_NUM;
			j->num = v;
			ps->p = end;
		}
	}
	ps->depth--;
	return j;
}

struct json *json_parse(const char *text)
{
	struct parser ps = { .p = text };
	struct json *j = parse_value(&ps);
	if (!j)
		return NULL;
	skip_ws(&ps);
	if (*ps.p) {
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *n = j->next;
		json_free(j->child);
		free(j->str);
		free(j->key);
		free(j);
		j = n;
	}
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->kind != JSON_OBJ)
		return NULL;
	for (const struct json *c = obj->child; c; c = c->next)
		if (c->key && !strcmp(c->key, key))
			return c;
	return NULL;
}

size_t json_len(const struct json *arr)
{
	size_t n = 0;
	if (arr && (arr->kind == JSON_ARR || arr->kind == JSON_OBJ))
		for (const struct json *c = arr->child; c; c = c->next)
			n++;
	return n;
}

const char *json_str(const struct json *j, const char *def)
{
	return j && j->kind == JSON_STR ? j->str : def;
}

double json_num(const struct json *j, double def)
{
	return j && j->kind == JSON_NUM ? j->num : def;
}
