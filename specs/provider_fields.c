/* A Provider's backend fields, checked against the backend's schema
 * (common/schema.h) by one walk that knows no backend: types, required
 * fields, allowed values, bounds, durations, nested mappings, lists of
 * strings, the schema's offline checks, and its defaults, into the
 * settings JSON the backend is opened with. A backend setting added to its
 * table is checked here with no change to specs/. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "specs/walk.h"

/* "domainType" -> "domain type": how a message names a value of the
 * field, unless the schema says. Caller frees. */
static char *noun_of(const field_def_t *f) {
	if (f->noun) return xstrdup(f->noun);
	strbuf sb = {0};
	sb_add(&sb, "");
	for (const char *c = f->name; *c; c++) {
		if (isupper((unsigned char)*c) && c != f->name) sb_addn(&sb, " ", 1);
		char low = (char)tolower((unsigned char)*c);
		sb_addn(&sb, &low, 1);
	}
	return sb_take(&sb);
}

/* "kvm or qemu" */
static char *values_text(const char *const *v) {
	strbuf sb = {0};
	sb_add(&sb, "");
	size_t n = 0;
	while (v[n]) n++;
	for (size_t i = 0; i < n; i++) sb_addf(&sb, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", v[i]);
	return sb_take(&sb);
}

/* The offline check of one string, reported at its node. */
static bool string_checked(struct walk *w, const field_def_t *f, const ynode_t *n, const char *path, const char *v) {
	if (f->values) {
		bool ok = false;
		for (size_t i = 0; f->values[i] && !ok; i++) ok = !strcmp(f->values[i], v);
		if (!ok) {
			_cleanup_free_ char *noun = noun_of(f), *allowed = values_text(f->values);
			walk_err(w, n, path, "unknown %s '%s' (expected %s)", noun, shown(&(shown_t){0}, v), allowed);
			return false;
		}
	}
	if (f->check) {
		_cleanup_free_ char *msg = f->check(v);
		if (msg) {
			walk_err(w, n, path, "%s", msg);
			return false;
		}
	}
	return true;
}

/* A bound as the operator writes it: "1", or "5m" for a duration. */
static void bound_text(const field_def_t *f, int x, char *buf, size_t n) {
	if (f->type == FT_DURATION)
		format_duration(x, buf, n);
	else
		snprintf(buf, n, "%d", x);
}

static bool in_bounds(struct walk *w, const field_def_t *f, const ynode_t *n, const char *path, long long x) {
	if (f->min >= f->max) return true;
	char a[32];
	if (x < f->min) {
		bound_text(f, f->min, a, sizeof a);
		walk_err(w, n, path, "must be at least %s", a);
		return false;
	}
	if (x > f->max) {
		bound_text(f, f->max, a, sizeof a);
		walk_err(w, n, path, "must be at most %s", a);
		return false;
	}
	return true;
}

static json_t *walk_value(struct backend_walk *b, const field_def_t *f, const ynode_t *v, const char *path);

static json_t *walk_strings(struct backend_walk *b, const field_def_t *f, const ynode_t *v, const char *path) {
	struct walk *w = b->w;
	if (v->kind != YN_SEQ || v->tag) {
		walk_err(w, v, path, "expected %s, got %s", f->what ? f->what : "a list of strings", describe(v));
		return NULL;
	}
	_cleanup_free_ char *noun = noun_of(f);
	if (v->n_items == 0 && f->required) {
		walk_err(w, v, path, "must name at least one %s", noun);
		return NULL;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < v->n_items; i++) {
		const ynode_t *it = v->items[i];
		_cleanup_free_ char *ipath = xasprintf("%s[%zu]", path, i);
		_cleanup_free_ char *s = NULL;
		if (!get_string(w, it, ipath, true, &s) || !string_checked(w, f, it, ipath, s)) continue;
		bool dup = false;
		for (size_t j = 0; j < json_array_size(arr) && !dup; j++)
			dup = !strcmp(json_string_value(json_array_get(arr, j)), s);
		if (dup)
			walk_err(w, it, ipath, "%s '%s' is listed twice", noun, shown(&(shown_t){0}, s));
		else
			json_array_append_new(arr, json_string(s));
	}
	return arr;
}

/* Fields of a table that are absent from `map`: required ones reported,
 * the others given their defaults. */
static void fill_absent(struct backend_walk *b, const field_def_t *fields, const ynode_t *map, const char *parent,
                        json_t *out) {
	for (const field_def_t *f = fields; f && f->name; f++) {
		if (map_get(map, f->name)) continue;
		if (f->required) {
			missing(b->w, map, parent, f->name);
		} else if (f->dflt) {
			json_t *d = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
			if (!d) abort(); /* a default that is not JSON: the table is wrong, every test says so */
			json_object_set_new(out, f->name, d);
		}
	}
}

static json_t *walk_object(struct backend_walk *b, const field_def_t *f, const ynode_t *v, const char *path) {
	struct walk *w = b->w;
	if (v->kind != YN_MAP || v->tag) {
		if (f->what && !v->tag)
			walk_err(w, v, path, "expected %s, got %s", f->what, describe(v));
		else
			want_map(w, v, path);
		return NULL;
	}
	json_t *obj = json_object();
	size_t n_names = 0;
	for (const field_def_t *s = f->fields; s && s->name; s++) n_names++;
	_cleanup_free_ const char **names = xcalloc(n_names + 1, sizeof *names);
	for (size_t i = 0; i < n_names; i++) names[i] = f->fields[i].name;

	for (size_t i = 0; i + 1 < v->n_items; i += 2) {
		if (!key_ok(w, v, i, path)) continue;
		const ynode_t *k = v->items[i];
		_cleanup_free_ char *sub = path_join(path, k->value);
		const field_def_t *sf = schema_field(f->fields, k->value);
		if (!sf) {
			unknown_field(w, k, sub, names);
			continue;
		}
		json_t *val = walk_value(b, sf, v->items[i + 1], sub);
		if (val) json_object_set_new(obj, sf->name, val);
	}
	fill_absent(b, f->fields, v, path, obj);
	return obj;
}

/* The value of one field as JSON, or NULL when it was reported. */
static json_t *walk_value(struct backend_walk *b, const field_def_t *f, const ynode_t *v, const char *path) {
	struct walk *w = b->w;
	switch (f->type) {
	case FT_STRING: {
		_cleanup_free_ char *s = NULL;
		if (!get_string(w, v, path, true, &s) || !string_checked(w, f, v, path, s)) return NULL;
		return json_string(s);
	}
	case FT_PATH: {
		_cleanup_free_ char *s = NULL;
		if (!get_path(w, v, path, &s) || !string_checked(w, f, v, path, s)) return NULL;
		return json_string(s);
	}
	case FT_BOOL: {
		bool x;
		return get_bool(w, v, path, &x) ? json_boolean(x) : NULL;
	}
	case FT_INT: {
		int x;
		if (!get_int(w, v, path, &x) || !in_bounds(w, f, v, path, x)) return NULL;
		return json_integer(x);
	}
	case FT_DURATION: {
		_cleanup_free_ char *s = NULL;
		int64_t secs;
		if (!get_string(w, v, path, true, &s)) return NULL;
		int pr = parse_duration(s, &secs);
		if (pr == -ERANGE) {
			walk_err(w, v, path, "'%s' is longer than the maximum of 100 years (36500d)", shown(&(shown_t){0}, s));
			return NULL;
		}
		if (pr < 0) {
			walk_err(w, v, path, "'%s' is not a duration (integer+unit runs, units s m h d: 720h, 30d, 1h30m)",
			         shown(&(shown_t){0}, s));
			return NULL;
		}
		if (!in_bounds(w, f, v, path, secs)) return NULL;
		return json_integer(secs); /* the backend reads seconds */
	}
	case FT_STRINGS: return walk_strings(b, f, v, path);
	case FT_OBJECT: return walk_object(b, f, v, path);
	}
	return NULL;
}

void backend_field(struct backend_walk *b, const field_def_t *f, const ynode_t *value) {
	_cleanup_free_ char *path = path_join("spec", f->name);
	size_t before = b->w->l->d->n;
	json_t *v = walk_value(b, f, value, path);
	if (v) json_object_set_new(b->settings, f->name, v);
	if (b->w->l->d->n > before) {
		b->bad = xrealloc(b->bad, (b->n_bad + 1) * sizeof *b->bad);
		b->bad[b->n_bad++] = xstrdup(f->name);
	}
}

/* The schema's check reports "firmware", "hosts[1]", "capacity.vcpus":
 * reported at that field's node when it is there, else at the spec. */
static void report(void *ctx, const char *field, const char *msg) {
	struct backend_walk *b = ctx;
	size_t top = strcspn(field, ".[");
	for (size_t i = 0; i < b->n_bad; i++)
		if (strlen(b->bad[i]) == top && !strncmp(b->bad[i], field, top)) return; /* said already */
	_cleanup_free_ char *name = xasprintf("%.*s", (int)top, field);
	const ynode_t *at = map_get(b->spec, name);
	_cleanup_free_ char *path = path_join("spec", field);
	walk_err(b->w, at ? at : b->spec, path, "%s", msg);
}

void backend_finish(struct backend_walk *b) {
	fill_absent(b, b->schema->fields, b->spec, "spec", b->settings);
	if (b->schema->check) b->schema->check(b->settings, report, b);
}

void backend_walk_free(struct backend_walk *b) {
	for (size_t i = 0; i < b->n_bad; i++) free(b->bad[i]);
	free(b->bad);
	json_decref(b->settings);
	*b = (struct backend_walk){0};
}
