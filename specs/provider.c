/* A Provider document: its name, its type (one of the backends the load
 * was handed), the fields every Provider shares (typed: the engine reads
 * them), and the backend's own fields, checked against its schema
 * (provider_fields.c) into provider_spec_t.settings. Nothing here knows a
 * backend by name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "specs/walk.h"

#define CONCURRENCY_MAX 256 /* the bound of --concurrency */

/* The fields every Provider may have, whatever its type. */
static const char *const shared_names[] = {
	"type", "controlPlaneURL", "controlPlaneCAFile", "concurrency", "requestsPerSecond", NULL,
};

/* Names under which people paste secrets inline. They are unknown fields
 * like any other, but deserve to hear where secrets go instead. */
static const char *const secret_names[] = {
	"clientSecret", "secret", "credentials", "credentialsJson", "privateKey", "key", "password", "token",
	"apiKey", "accessToken", "serviceAccountKey", NULL,
};

static bool in_list(const char *const *list, const char *s, bool nocase) {
	for (size_t i = 0; list[i]; i++)
		if (nocase ? !strcasecmp(s, list[i]) : !strcmp(s, list[i])) return true;
	return false;
}

/* A backend other than `own` with a field of that name, or NULL. */
static const backend_schema_t *owner_elsewhere(const spec_schemas_t *s, const backend_schema_t *own,
                                               const char *name) {
	for (size_t i = 0; s && i < s->n; i++)
		if (s->v[i] != own && schema_field(s->v[i]->fields, name)) return s->v[i];
	return NULL;
}

/* The names a Provider of backend b may use (every backend's when b is
 * not known): what a typo is compared with. Caller frees the array. */
static const char **known_names(const spec_schemas_t *s, const backend_schema_t *b) {
	size_t n = ARRAY_SIZE(shared_names), k = 0;
	for (size_t i = 0; s && i < s->n; i++)
		if (!b || s->v[i] == b)
			for (const field_def_t *f = s->v[i]->fields; f && f->name; f++) n++;
	const char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; shared_names[i]; i++) v[k++] = shared_names[i];
	for (size_t i = 0; s && i < s->n; i++)
		if (!b || s->v[i] == b)
			for (const field_def_t *f = s->v[i]->fields; f && f->name; f++) v[k++] = f->name;
	return v;
}

static bool get_number(struct walk *w, const ynode_t *n, const char *path, double *out) {
	if (!scalar_ok(w, n, path, "a number")) return false;
	if (n->quoted) {
		walk_err(w, n, path, "expected a number, got the string \"%s\"", shown(&(shown_t){0}, n->value));
		return false;
	}
	char *end = NULL;
	errno = 0;
	double x = strtod(n->value, &end);
	if (!*n->value || *end || errno || !isfinite(x)) {
		walk_err(w, n, path, "expected a number, got '%s'", shown(&(shown_t){0}, n->value));
		return false;
	}
	*out = x;
	return true;
}

static void walk_shared(struct walk *w, const char *name, const ynode_t *v, provider_spec_t *p) {
	_cleanup_free_ char *path = path_join("spec", name);
	if (!strcmp(name, "controlPlaneURL")) {
		get_string(w, v, path, true, &p->control_plane_url);
	} else if (!strcmp(name, "controlPlaneCAFile")) {
		get_path(w, v, path, &p->control_plane_ca_file);
	} else if (!strcmp(name, "concurrency")) {
		int c;
		if (!get_int(w, v, path, &c)) return;
		if (c < 1 || c > CONCURRENCY_MAX)
			walk_err(w, v, path, "concurrency %d is outside 1..%d", c, CONCURRENCY_MAX);
		else
			p->concurrency = c;
	} else if (!strcmp(name, "requestsPerSecond")) {
		double r;
		if (!get_number(w, v, path, &r)) return;
		if (r <= 0)
			walk_err(w, v, path, "requestsPerSecond must be greater than 0, not %s", v->value);
		else
			p->requests_per_second = r;
	}
	/* type: read before the other keys */
}

static void walk_type(struct walk *w, const ynode_t *spec, provider_spec_t *p) {
	const ynode_t *tn = map_get(spec, "type");
	if (!tn) {
		missing(w, spec, "spec", "type");
		return;
	}
	_cleanup_free_ char *t = NULL;
	if (!get_string(w, tn, "spec.type", true, &t)) return;
	p->backend = spec_schema_for(w->l->schemas, t);
	p->type = p->backend ? p->backend->flavor : NULL;
	if (!p->backend) {
		_cleanup_free_ char *known = schema_names_expected(w->l->schemas);
		walk_err(w, tn, "spec.type", "unknown provider type '%s' (expected %s)", shown(&(shown_t){0}, t), known);
	}
}

/* One key of the spec: shared, the backend's, another backend's, a secret
 * pasted inline, or unknown. */
static void walk_key(struct backend_walk *bw, const ynode_t *k, const ynode_t *v, provider_spec_t *p) {
	struct walk *w = bw->w;
	const spec_schemas_t *schemas = w->l->schemas;
	const char *name = k->value;
	_cleanup_free_ char *path = path_join("spec", name);
	const field_def_t *f = p->backend ? schema_field(p->backend->fields, name) : NULL;
	const backend_schema_t *other;

	if (in_list(shared_names, name, false)) {
		walk_shared(w, name, v, p);
	} else if (f) {
		backend_field(bw, f, v);
	} else if ((other = owner_elsewhere(schemas, p->backend, name))) {
		/* Without a known type there is no telling whether it belongs. */
		if (p->backend)
			walk_err(w, k, path, "field '%s' is not valid for %s %s provider", shown(&(shown_t){0}, name),
			         flavor_article(p->backend->flavor), p->backend->flavor);
	} else if (in_list(secret_names, name, true)) {
		const char *use = p->backend ? p->backend->secret_file_field : NULL;
		if (use)
			walk_err(w, k, path, "secrets are read from files only: use %s", use);
		else
			walk_err(w, k, path, "secrets are read from files only, never inline");
	} else {
		_cleanup_free_ const char **known = known_names(schemas, p->backend);
		unknown_field(w, k, path, known);
	}
}

static void walk_provider_spec(struct walk *w, const ynode_t *spec, provider_spec_t *p) {
	walk_type(w, spec, p);
	struct backend_walk bw = {.w = w, .schema = p->backend, .spec = spec, .settings = json_object()};
	for (size_t i = 0; i + 1 < spec->n_items; i += 2) {
		if (!key_ok(w, spec, i, "spec")) continue;
		walk_key(&bw, spec->items[i], spec->items[i + 1], p);
	}
	if (p->backend) backend_finish(&bw);
	json_decref(p->settings);
	p->settings = bw.settings;
	bw.settings = NULL;
	backend_walk_free(&bw);
}

void walk_provider(struct walk *w, const ynode_t *meta, const ynode_t *spec, const ynode_t *doc) {
	struct load *l = w->l;
	spec_set_t *s = l->set;
	s->providers = xrealloc(s->providers, (s->n_providers + 1) * sizeof *s->providers);
	l->px = xrealloc(l->px, (s->n_providers + 1) * sizeof *l->px);
	provider_spec_t *p = &s->providers[s->n_providers];
	struct provider_extra *x = &l->px[s->n_providers];
	s->n_providers++;
	*p = (provider_spec_t){.pos = walk_pos(w, doc)};
	*x = (struct provider_extra){.name = p->pos};

	if (meta) {
		static const char *const meta_fields[] = {"name", NULL};
		check_keys(w, meta, "metadata", meta_fields);
		get_name(w, meta, &p->name, &x->name);
	}
	if (spec) walk_provider_spec(w, spec, p);
	if (!p->settings) p->settings = json_object();
}
