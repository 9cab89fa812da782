/* The pieces every typed walk shares (walk.c: documents and CVMs;
 * provider.c and provider_fields.c: Providers): reporting at a node,
 * scalars, mappings, unknown keys with a suggestion. Internal to specs/. */
#ifndef CVM_SPECS_WALK_H
#define CVM_SPECS_WALK_H

#include <stdbool.h>

#include "specs/load_internal.h"

struct walk {
	struct load *l;
	const char *file;
};

void walk_err(struct walk *w, const ynode_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
srcpos_t walk_pos(struct walk *w, const ynode_t *n);
/* "spec" + "agent" -> "spec.agent". Caller frees. */
char *path_join(const char *parent, const char *key);
/* "a mapping", "a list", "null", "a string", "a boolean", "an integer" */
const char *describe(const ynode_t *n);

bool get_string(struct walk *w, const ynode_t *n, const char *path, bool nonempty, char **out);
/* A string that must be an absolute path (see walk_util.c for why). */
bool get_path(struct walk *w, const ynode_t *n, const char *path, char **out);
bool get_int(struct walk *w, const ynode_t *n, const char *path, int *out);
bool get_bool(struct walk *w, const ynode_t *n, const char *path, bool *out);
/* A plain (untagged) scalar; reports a tag or a non-scalar. */
bool scalar_ok(struct walk *w, const ynode_t *n, const char *path, const char *want);
bool want_map(struct walk *w, const ynode_t *n, const char *path);

const ynode_t *map_get(const ynode_t *map, const char *key);
/* Reports keys that are not strings and duplicate keys. Returns false for a
 * key that must not be looked at further. */
bool key_ok(struct walk *w, const ynode_t *map, size_t i, const char *parent);
/* "unknown field", with the closest of `known` (NULL-terminated) as a
 * suggestion when one is close. */
void unknown_field(struct walk *w, const ynode_t *key, const char *path, const char *const *known);
/* Checks every key of a plain mapping against a NULL-terminated list. */
void check_keys(struct walk *w, const ynode_t *map, const char *parent, const char *const *known);
void missing(struct walk *w, const ynode_t *map, const char *parent, const char *key);

/* Turns a Provider document into s->providers[last] (specs/provider.c). */
void walk_provider(struct walk *w, const ynode_t *meta, const ynode_t *spec, const ynode_t *doc);
bool get_name(struct walk *w, const ynode_t *meta, char **out, srcpos_t *pos);

/* The backend's own fields of a Provider, against its schema
 * (specs/provider_fields.c). */
struct backend_walk {
	struct walk *w;
	const backend_schema_t *schema;
	const ynode_t *spec; /* the Provider's spec mapping */
	json_t *settings;    /* what the walk fills */
	/* fields whose value was reported: the schema's own check stays
	 * silent about them (one mistake, one line) */
	char **bad;
	size_t n_bad;
};
/* One field of the schema's table, found at `key` with `value`. */
void backend_field(struct backend_walk *b, const field_def_t *f, const ynode_t *value);
/* After every key: required fields, defaults, the schema's check. */
void backend_finish(struct backend_walk *b);
void backend_walk_free(struct backend_walk *b);

#endif
