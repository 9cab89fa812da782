/* Checks across documents (unique names, provider references) and the
 * canonical form + hash of each CVM. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/strmap.h"
#include "common/util.h"
#include "specs/load_internal.h"

/* What the checks across documents look up, built once: a scan of every
 * document per document is quadratic, and trees hold 10,000s of CVMs. */
struct flavor_providers {
	const backend_schema_t *backend;
	size_t n, first;
	strbuf names; /* "'a', 'b'" */
};

struct set_index {
	strmap_t provider_by_name; /* name -> first Provider of that name */
	struct flavor_providers *by_flavor; /* one per backend in use: a handful */
	size_t n_flavors;
};

static struct flavor_providers *flavor_slot(struct set_index *ix, const backend_schema_t *b) {
	for (size_t i = 0; i < ix->n_flavors; i++)
		if (ix->by_flavor[i].backend == b) return &ix->by_flavor[i];
	return NULL;
}

static void set_index_build(struct set_index *ix, const spec_set_t *s) {
	*ix = (struct set_index){0};
	ix->by_flavor = xcalloc(s->n_providers + 1, sizeof *ix->by_flavor);
	for (size_t i = 0; i < s->n_providers; i++) {
		const provider_spec_t *p = &s->providers[i];
		if (p->name) strmap_add(&ix->provider_by_name, p->name, i);
		if (!p->backend) continue;
		struct flavor_providers *f = flavor_slot(ix, p->backend);
		if (!f) {
			f = &ix->by_flavor[ix->n_flavors++];
			f->backend = p->backend;
			f->first = i;
		}
		sb_addf(&f->names, "%s'%s'", f->n++ ? ", " : "", p->name ? p->name : "");
	}
}

static void set_index_free(struct set_index *ix) {
	strmap_free(&ix->provider_by_name);
	for (size_t i = 0; i < ix->n_flavors; i++) sb_free(&ix->by_flavor[i].names);
	free(ix->by_flavor);
}

static void resolve_provider(struct load *l, struct set_index *ix, size_t ci) {
	spec_set_t *s = l->set;
	cvm_spec_t *c = &s->cvms[ci];
	const struct cvm_extra *x = &l->cx[ci];
	if (!c->backend) return;

	if (c->provider) {
		const size_t *i = strmap_get(&ix->provider_by_name, c->provider);
		if (i) {
			const provider_spec_t *p = &s->providers[*i];
			if (p->backend && p->backend != c->backend)
				diags_add(l->d, x->provider.file, x->provider.line, x->provider.col, "spec.provider",
				          "provider '%s' is %s %s provider, not %s", p->name, flavor_article(p->type), p->type,
				          c->flavor);
			c->provider_idx = *i;
			return;
		}
		/* A provider defined in a file that failed to parse would be a
		 * false alarm here; the parse error is reported already. */
		if (!l->incomplete)
			diags_add(l->d, x->provider.file, x->provider.line, x->provider.col, "spec.provider",
			          "provider '%s' is not defined", shown(&(shown_t){0}, c->provider));
		return;
	}

	struct flavor_providers *f = flavor_slot(ix, c->backend);
	size_t found = f ? f->n : 0;
	if (found == 1) {
		c->provider_idx = f->first;
	} else if (found == 0) {
		if (!l->incomplete)
			diags_add(l->d, x->flavor.file, x->flavor.line, x->flavor.col, "spec.flavor",
			          "no %s provider is defined", c->flavor);
	} else {
		diags_add(l->d, x->flavor.file, x->flavor.line, x->flavor.col, "spec.provider",
		          "several %s providers are defined (%s): name one in spec.provider", c->flavor,
		          f->names.buf);
	}
}

/* Names must be unique: among Providers, and among the active CVMs. */
static void check_unique_names(struct load *l, struct set_index *ix) {
	spec_set_t *s = l->set;
	for (size_t i = 0; i < s->n_providers; i++) {
		const char *name = s->providers[i].name;
		const size_t *first = strmap_get(&ix->provider_by_name, name);
		if (!first || *first == i) continue;
		const srcpos_t *a = &l->px[*first].name, *b = &l->px[i].name;
		diags_add(l->d, b->file, b->line, b->col, "metadata.name",
		          "duplicate Provider name '%s' (first defined at %s:%d:%d)", name, a->file, a->line, a->col);
	}

	_cleanup_(strmap_free) strmap_t active = {0};
	strmap_reserve(&active, s->n_cvms);
	for (size_t i = 0; i < s->n_cvms; i++) {
		const cvm_spec_t *c = &s->cvms[i];
		if (!c->name || !c->active) continue;
		bool added;
		size_t *first = strmap_put(&active, c->name, &added);
		if (added) {
			*first = i;
			continue;
		}
		const srcpos_t *a = &l->cx[*first].name, *b = &l->cx[i].name;
		diags_add(l->d, b->file, b->line, b->col, "metadata.name",
		          "duplicate CVM name '%s': already active at %s:%d:%d", c->name, a->file, a->line, a->col);
	}
}

void validate_set(struct load *l) {
	struct set_index ix;
	set_index_build(&ix, l->set);
	check_unique_names(l, &ix);
	for (size_t i = 0; i < l->set->n_cvms; i++) resolve_provider(l, &ix, i);
	set_index_free(&ix);
}

/* ---- effective values, canonical form ---- */

static const provider_spec_t *provider_of(const spec_set_t *s, const cvm_spec_t *c) {
	return c->provider_idx < s->n_providers ? &s->providers[c->provider_idx] : NULL;
}

const char *cvm_control_plane_url(const spec_set_t *s, const cvm_spec_t *c) {
	if (c->agent.control_plane_url) return c->agent.control_plane_url;
	const provider_spec_t *p = provider_of(s, c);
	return p ? p->control_plane_url : NULL;
}

const char *cvm_control_plane_ca_file(const spec_set_t *s, const cvm_spec_t *c) {
	if (c->agent.control_plane_ca_file) return c->agent.control_plane_ca_file;
	const provider_spec_t *p = provider_of(s, c);
	return p ? p->control_plane_ca_file : NULL;
}

static json_t *json_str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* The provider's settings that reach its CVMs: every field whose change
 * the backend rolls out to them or recreates them for. Endpoints, hosts,
 * limits, timeouts (FX_NONE) stay out, so changing them changes no hash. */
static json_t *settings_that_reach_cvms(const provider_spec_t *p) {
	json_t *o = json_object();
	if (!p || !p->backend) return o;
	for (const field_def_t *f = p->backend->fields; f && f->name; f++) {
		json_t *v = json_object_get(p->settings, f->name);
		if (f->effect != FX_NONE && v) json_object_set(o, f->name, v);
	}
	return o;
}

char *cvm_spec_canonical_json(const spec_set_t *s, const cvm_spec_t *c) {
	const provider_spec_t *p = provider_of(s, c);
	_cleanup_(json_decrefp) json_t *labels = json_object();
	for (size_t i = 0; i < c->n_labels; i++) json_object_set_new(labels, c->labels[i].key, json_string(c->labels[i].value));

	/* Every field that defines the CVM, and neither its name (the identity is
	 * the id) nor its state (active/inactive is a lifecycle, not a shape). */
	_cleanup_(json_decrefp) json_t *root = json_pack(
		"{s:o, s:o, s:i, s:i, s:O, s:{s:s, s:i, s:o, s:o}, s:{s:I, s:I}, s:o}",
		"flavor", json_str_or_null(c->flavor),
		"provider", json_str_or_null(p ? p->name : c->provider),
		"vcpus", c->vcpus,
		"memoryGiB", c->memory_gib,
		"labels", labels,
		"agent",
		"logLevel", agent_log_level_name(c->agent.log_level),
		"port", c->agent.port,
		"controlPlaneURL", json_str_or_null(cvm_control_plane_url(s, c)),
		"controlPlaneCAFile", json_str_or_null(cvm_control_plane_ca_file(s, c)),
		"certificates",
		"validity", (json_int_t)c->certs.validity_s,
		"renewBefore", (json_int_t)c->certs.renew_before_s,
		CANONICAL_PROVIDER_KEY, settings_that_reach_cvms(p));
	if (!root) return NULL;
	return json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
}

void spec_set_hash_all(spec_set_t *s) {
	for (size_t i = 0; i < s->n_cvms; i++) {
		_cleanup_free_ char *json = cvm_spec_canonical_json(s, &s->cvms[i]);
		if (!json) abort(); /* only allocation can fail here */
		sha256_hex(json, strlen(json), s->cvms[i].hash);
	}
}
