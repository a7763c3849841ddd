/*
 * A small JSON reader for the corpus runner: parses one document into a
 * tree of nodes.  Enough for test data (no \u surrogate pairs beyond
 * copying them through).  The caller owns the tree (json_free).
 */
#ifndef BPFVM_CORPUS_JSON_H
#define BPFVM_CORPUS_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_kind kind;
	double num;
	int boolean;
	char *str;            /* JSON_STR: value; object members: key in `key` */
	char *key;
	struct json *child;   /* first element / member */
	struct json *next;    /* sibling */
};

/* NULL on malformed input. */
struct json *json_parse(const char *text);
void json_free(struct json *j);
const struct json *json_get(const struct json *obj, const char *key);
size_t json_len(const struct json *arr);
const char *json_str(const struct json *j, const char *def);
double json_num(const struct json *j, double def);

#endif
