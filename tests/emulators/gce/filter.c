/* The list filter of Compute (not AIP-160): terms `field op literal` with
 * ops = != : (has) and the regex forms eq / ne, joined by AND, OR, or by
 * juxtaposition (AND), with parentheses and NOT. A field is a dotted path
 * into the resource (name, status, labels.KEY, ...). The parsed filter is a
 * small JSON tree: {"and"|"or": [..]}, {"not": x}, {"f","op","v"}. */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

struct lexer {
	const char *p;
	char tok[1024];
	enum { T_END, T_LP, T_RP, T_WORD, T_STR, T_OP, T_BAD } kind;
};

static void next(struct lexer *lx)
{
	while (isspace((unsigned char)*lx->p))
		lx->p++;
	const char *p = lx->p;
	lx->tok[0] = 0;
	if (!*p) {
		lx->kind = T_END;
		return;
	}
	if (*p == '(' || *p == ')') {
		lx->kind = *p == '(' ? T_LP : T_RP;
		lx->p++;
		return;
	}
	if (*p == '"' || *p == '\'') {
		char q = *p++;
		size_t n = 0;
		while (*p && *p != q) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < sizeof(lx->tok))
				lx->tok[n++] = *p;
			p++;
		}
		if (*p != q) {
			lx->kind = T_BAD;
			return;
		}
		lx->tok[n] = 0;
		lx->p = p + 1;
		lx->kind = T_STR;
		return;
	}
	if (*p == '!' && p[1] == '=') {
		strcpy(lx->tok, "!=");
		lx->p += 2;
		lx->kind = T_OP;
		return;
	}
	if (*p == '=' || *p == ':' || *p == '<' || *p == '>') {
		lx->tok[0] = *p;
		lx->tok[1] = 0;
		lx->p++;
		lx->kind = T_OP;
		return;
	}
	size_t n = 0;
	while (*p && !isspace((unsigned char)*p) && !strchr("()=:<>!\"'", *p)) {
		if (n + 1 < sizeof(lx->tok))
			lx->tok[n++] = *p;
		p++;
	}
	lx->tok[n] = 0;
	lx->p = p;
	lx->kind = n ? T_WORD : T_BAD;
}

static json_t *parse_or(struct lexer *lx);

static json_t *parse_term(struct lexer *lx)
{
	if (lx->kind == T_LP) {
		next(lx);
		json_t *e = parse_or(lx);
		if (!e || lx->kind != T_RP) {
			json_decref(e);
			return NULL;
		}
		next(lx);
		return e;
	}
	if (lx->kind == T_WORD && strcasecmp(lx->tok, "NOT") == 0) {
		next(lx);
		json_t *e = parse_term(lx);
		return e ? json_pack("{s:o}", "not", e) : NULL;
	}
	if (lx->kind != T_WORD)
		return NULL;
	_cleanup_free_ char *field = xstrdup(lx->tok);
	next(lx);
	char op[4] = "";
	if (lx->kind == T_OP || (lx->kind == T_WORD && (strcmp(lx->tok, "eq") == 0 || strcmp(lx->tok, "ne") == 0)))
		memcpy(op, lx->tok, strlen(lx->tok) < 3 ? strlen(lx->tok) : 3);
	else
		return NULL;
	next(lx);
	if (lx->kind != T_WORD && lx->kind != T_STR)
		return NULL;
	json_t *t = json_pack("{s:s,s:s,s:s}", "f", field, "op", op, "v", lx->tok);
	next(lx);
	return t;
}

static json_t *parse_and(struct lexer *lx)
{
	json_t *first = parse_term(lx);
	if (!first)
		return NULL;
	json_t *all = json_pack("[o]", first);
	for (;;) {
		if (lx->kind == T_WORD && strcasecmp(lx->tok, "AND") == 0) {
			next(lx);
		} else if (lx->kind == T_END || lx->kind == T_RP ||
			   (lx->kind == T_WORD && strcasecmp(lx->tok, "OR") == 0)) {
			break;
		}
		json_t *t = parse_term(lx);
		if (!t) {
			json_decref(all);
			return NULL;
		}
		json_array_append_new(all, t);
	}
	return json_pack("{s:o}", "and", all);
}

static json_t *parse_or(struct lexer *lx)
{
	json_t *first = parse_and(lx);
	if (!first)
		return NULL;
	json_t *any = json_pack("[o]", first);
	while (lx->kind == T_WORD && strcasecmp(lx->tok, "OR") == 0) {
		next(lx);
		json_t *t = parse_and(lx);
		if (!t) {
			json_decref(any);
			return NULL;
		}
		json_array_append_new(any, t);
	}
	return json_pack("{s:o}", "or", any);
}

json_t *filter_parse(const char *s)
{
	struct lexer lx = {.p = s};
	next(&lx);
	if (lx.kind == T_END)
		return json_pack("{s:[]}", "and");
	json_t *e = parse_or(&lx);
	if (!e || lx.kind != T_END) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* The value at a dotted path, as text (strings as they are, numbers and
 * booleans printed); NULL when absent. Label keys may hold dots only in
 * theory: labels.KEY takes the rest of the path as the key. */
static char *field_text(json_t *res, const char *path)
{
	json_t *v = res;
	if (strncmp(path, "labels.", 7) == 0) {
		v = json_object_get(json_object_get(res, "labels"), path + 7);
	} else {
		_cleanup_free_ char *copy = xstrdup(path);
		for (char *save = NULL, *t = strtok_r(copy, ".", &save); t && v; t = strtok_r(NULL, ".", &save))
			v = json_object_get(v, t);
	}
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static bool full_regex(const char *re_text, const char *s)
{
	_cleanup_free_ char *anchored = xasprintf("^(%s)$", re_text);
	regex_t re;
	if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB))
		return false;
	bool m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

bool filter_match(json_t *e, json_t *res)
{
	json_t *x;
	size_t i;
	if ((x = json_object_get(e, "and"))) {
		json_array_foreach(x, i, e)
			if (!filter_match(e, res))
				return false;
		return true;
	}
	if ((x = json_object_get(e, "or"))) {
		json_array_foreach(x, i, e)
			if (filter_match(e, res))
				return true;
		return false;
	}
	if ((x = json_object_get(e, "not")))
		return !filter_match(x, res);
	const char *f = json_string_value(json_object_get(e, "f"));
	const char *op = json_string_value(json_object_get(e, "op"));
	const char *v = json_string_value(json_object_get(e, "v"));
	_cleanup_free_ char *have = field_text(res, f);
	if (strcmp(op, ":") == 0)
		return have && (strcmp(v, "*") == 0 || strstr(have, v) != NULL);
	if (strcmp(op, "eq") == 0)
		return have && full_regex(v, have);
	if (strcmp(op, "ne") == 0)
		return !have || !full_regex(v, have);
	bool eq = have && fnmatch(v, have, 0) == 0;
	if (strcmp(op, "=") == 0)
		return eq;
	if (strcmp(op, "!=") == 0)
		return !eq;
	if (!have)
		return false;
	int c = strcmp(have, v);
	return strcmp(op, "<") == 0 ? c < 0 : c > 0;
}
