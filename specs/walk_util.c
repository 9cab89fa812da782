/* Helpers every typed walk shares: reporting at a node, scalars, mappings,
 * unknown keys with a suggestion. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "specs/walk.h"

void walk_err(struct walk *w, const ynode_t *n, const char *path, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) abort();
	va_end(ap);
	diags_add(w->l->d, w->file, n->line, n->col, path, "%s", msg);
}

srcpos_t walk_pos(struct walk *w, const ynode_t *n) { return (srcpos_t){w->file, n->line, n->col}; }

/* A key in a path is shown as a value is (shown(): short, escaped): a
 * label key of a megabyte does not make a field name of a megabyte. */
char *path_join(const char *parent, const char *key) {
	shown_t k;
	return *parent ? xasprintf("%s.%s", parent, shown(&k, key)) : xstrdup(shown(&k, key));
}

/* No string in a spec holds a control character: a "\0" escape would cut
 * the value where C stops reading it ("z9\0; rm -rf /" validated as
 * "z9"), and escapes, newlines or C1 controls in names, labels, URLs and
 * paths reach terminals, logs and domain XML. Checked over the length
 * libyaml gives, not strlen. */
static bool text_ok(struct walk *w, const ynode_t *n, const char *path) {
	size_t at;
	if (!text_control_at(n->value, n->len, &at)) return true;
	unsigned char c = (unsigned char)n->value[at];
	if (c == 0)
		walk_err(w, n, path, "contains a NUL character (\"\\0\") at offset %zu: not allowed in any string", at);
	else if (c == 0xc2)
		walk_err(w, n, path, "contains the control character U+%04X at offset %zu: not allowed in any string",
		         (unsigned char)n->value[at + 1], at);
	else
		walk_err(w, n, path, "contains the control character U+%04X at offset %zu: not allowed in any string", c, at);
	return false;
}

const char *describe(const ynode_t *n) {
	if (n->kind == YN_MAP) return "a mapping";
	if (n->kind == YN_SEQ) return "a list";
	if (n->is_null) return "null";
	if (n->quoted) return "a string";
	const char *v = n->value;
	if (!strcmp(v, "true") || !strcmp(v, "false")) return "a boolean";
	if (*v == '-' || *v == '+') v++;
	if (*v && strspn(v, "0123456789") == strlen(v)) return "an integer";
	return "a string";
}

/* ---- scalars ---- */

bool scalar_ok(struct walk *w, const ynode_t *n, const char *path, const char *want) {
	if (n->kind == YN_SCALAR && n->tag) {
		walk_err(w, n, path, "unsupported tag '%s'", shown(&(shown_t){0}, n->tag));
		return false;
	}
	if (n->kind != YN_SCALAR || n->is_null) {
		walk_err(w, n, path, "expected %s, got %s", want, describe(n));
		return false;
	}
	return text_ok(w, n, path);
}

/* Any non-null scalar is a string: a plain "8" read as a string is what the
 * operator meant (an id, a zone), unlike a quoted "8" where a number is due. */
bool get_string(struct walk *w, const ynode_t *n, const char *path, bool nonempty, char **out) {
	if (!scalar_ok(w, n, path, "a string")) return false;
	if (nonempty && !*n->value) {
		walk_err(w, n, path, "must not be empty");
		return false;
	}
	free(*out);
	*out = xstrdup(n->value);
	return true;
}

/* Paths in specs are absolute, by rule: a relative one would be resolved
 * against whatever directory cvmctl runs in (a share directory landing in
 * the current directory), and resolving against the spec file's directory
 * would make the same tree mean other files when it is moved or read
 * from standard input. */
bool get_path(struct walk *w, const ynode_t *n, const char *path, char **out) {
	if (!get_string(w, n, path, true, out)) return false;
	if (**out == '/') return true;
	walk_err(w, n, path, "'%s' is a relative path: paths in specs must be absolute (they are not resolved against "
	         "the spec file's directory or the current one)", shown(&(shown_t){0}, *out));
	free(*out);
	*out = NULL;
	return false;
}

bool get_int(struct walk *w, const ynode_t *n, const char *path, int *out) {
	if (!scalar_ok(w, n, path, "an integer")) return false;
	const char *v = n->value;
	if (n->quoted) {
		walk_err(w, n, path, "expected an integer, got the string \"%s\"", shown(&(shown_t){0}, v));
		return false;
	}
	const char *digits = (*v == '-' || *v == '+') ? v + 1 : v;
	if (!*digits || strspn(digits, "0123456789") != strlen(digits)) {
		walk_err(w, n, path, "expected an integer, got '%s'", shown(&(shown_t){0}, v));
		return false;
	}
	errno = 0;
	long x = strtol(v, NULL, 10);
	if (errno || x < INT_MIN || x > INT_MAX) {
		walk_err(w, n, path, "integer %s is out of range", shown(&(shown_t){0}, v));
		return false;
	}
	*out = (int)x;
	return true;
}

bool get_bool(struct walk *w, const ynode_t *n, const char *path, bool *out) {
	if (!scalar_ok(w, n, path, "true or false")) return false;
	if (!n->quoted && !strcmp(n->value, "true")) {
		*out = true;
		return true;
	}
	if (!n->quoted && !strcmp(n->value, "false")) {
		*out = false;
		return true;
	}
	if (n->quoted)
		walk_err(w, n, path, "expected true or false, got the string \"%s\"", shown(&(shown_t){0}, n->value));
	else
		walk_err(w, n, path, "expected true or false, got '%s'", shown(&(shown_t){0}, n->value));
	return false;
}

bool want_map(struct walk *w, const ynode_t *n, const char *path) {
	if (n->kind == YN_MAP && !n->tag) return true;
	if (n->tag)
		walk_err(w, n, path, "unsupported tag '%s'", shown(&(shown_t){0}, n->tag));
	else
		walk_err(w, n, path, "expected a mapping, got %s", describe(n));
	return false;
}

/* ---- mappings ---- */

const ynode_t *map_get(const ynode_t *map, const char *key) {
	size_t i = ymap_find(map, key);
	return i == SIZE_MAX ? NULL : map->items[i + 1];
}

static size_t edit_distance(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40) return SIZE_MAX;
	size_t row[41];
	for (size_t j = 0; j <= lb; j++) row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best) best = up + 1;
			if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void unknown_field(struct walk *w, const ynode_t *key, const char *path, const char *const *known) {
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; known[i]; i++) {
		size_t dist = edit_distance(key->value, known[i]);
		if (dist < best_d) {
			best_d = dist;
			best = known[i];
		}
	}
	if (best)
		walk_err(w, key, path, "unknown field (did you mean '%s'?)", best);
	else
		walk_err(w, key, path, "unknown field");
}

bool key_ok(struct walk *w, const ynode_t *map, size_t i, const char *parent) {
	const ynode_t *k = map->items[i];
	if (k->kind != YN_SCALAR || k->is_null || k->tag) {
		walk_err(w, k, parent, "keys must be strings, got %s", describe(k));
		return false;
	}
	if (!text_ok(w, k, parent)) return false;
	/* The first key of that text is this one unless it is a duplicate. */
	size_t first = ymap_find(map, k->value);
	if (first < i) {
		const ynode_t *prev = map->items[first];
		_cleanup_free_ char *path = path_join(parent, k->value);
		walk_err(w, k, path, "duplicate key (first at line %d column %d)", prev->line, prev->col);
		return false;
	}
	return true;
}

void check_keys(struct walk *w, const ynode_t *map, const char *parent, const char *const *known) {
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		if (!key_ok(w, map, i, parent)) continue;
		const ynode_t *k = map->items[i];
		bool found = false;
		for (size_t j = 0; known[j] && !found; j++) found = !strcmp(known[j], k->value);
		if (!found) {
			_cleanup_free_ char *path = path_join(parent, k->value);
			unknown_field(w, k, path, known);
		}
	}
}

void missing(struct walk *w, const ynode_t *map, const char *parent, const char *key) {
	_cleanup_free_ char *path = path_join(parent, key);
	walk_err(w, map, path, "required field is missing");
}
