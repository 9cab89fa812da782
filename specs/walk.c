/* The typed walk: one YAML document -> a provider_spec_t or cvm_spec_t, with
 * every mistake reported at the node it is about. The walk never stops at
 * the first problem: a document with three mistakes yields three lines.
 * Providers are walked in provider.c, against their backend's schema. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/util.h"
#include "specs/walk.h"

#define API_VERSION "cvmctl/v1"
#define NAME_MAX_LEN 63
#define LABELS_MAX 64
#define CERT_VALIDITY_MIN_S 3600

/* ---- names and labels ---- */

static bool rfc1035_label(const char *s) {
	size_t n = strlen(s);
	if (n < 1 || n > NAME_MAX_LEN) return false;
	if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
	if (s[n - 1] == '-') return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

bool get_name(struct walk *w, const ynode_t *meta, char **out, srcpos_t *pos) {
	const ynode_t *n = map_get(meta, "name");
	if (!n) {
		missing(w, meta, "metadata", "name");
		return false;
	}
	if (!get_string(w, n, "metadata.name", true, out)) return false;
	*pos = walk_pos(w, n);
	if (!rfc1035_label(*out)) {
		walk_err(w, n, "metadata.name",
		    "'%s' is not a valid name: 1-63 lower-case letters, digits or '-', starting with a letter and not ending with '-' (RFC 1035)",
		    shown(&(shown_t){0}, *out));
		return false;
	}
	return true;
}

static void walk_labels(struct walk *w, const ynode_t *labels, cvm_spec_t *c) {
	if (!want_map(w, labels, "metadata.labels")) return;
	size_t n = labels->n_items / 2;
	if (n > LABELS_MAX) walk_err(w, labels, "metadata.labels", "%zu labels is above the maximum of %d", n, LABELS_MAX);
	for (size_t i = 0; i + 1 < labels->n_items; i += 2) {
		if (!key_ok(w, labels, i, "metadata.labels")) continue;
		const ynode_t *k = labels->items[i], *v = labels->items[i + 1];
		_cleanup_free_ char *path = path_join("metadata.labels", k->value);
		const char *ks = k->value;
		size_t kl = strlen(ks);
		if (kl < 1 || kl > 63 || !(ks[0] >= 'a' && ks[0] <= 'z') ||
		    strspn(ks, "abcdefghijklmnopqrstuvwxyz0123456789-_") != kl) {
			walk_err(w, k, path,
			    "'%s' is not a valid label key: 1-63 lower-case letters, digits, '-' or '_', starting with a letter",
			    shown(&(shown_t){0}, ks));
			continue;
		}
		_cleanup_free_ char *value = NULL;
		if (!get_string(w, v, path, false, &value)) continue;
		size_t vl = strlen(value);
		if (vl > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-_") != vl) {
			walk_err(w, v, path, "'%s' is not a valid label value: up to 63 lower-case letters, digits, '-' or '_'",
			    shown(&(shown_t){0}, value));
			continue;
		}
		c->labels = xrealloc(c->labels, (c->n_labels + 1) * sizeof *c->labels);
		c->labels[c->n_labels++] = (label_t){xstrdup(ks), TAKE_PTR(value)};
	}
}

/* ---- CVM ---- */

static void walk_duration(struct walk *w, const ynode_t *certs, const char *key, int64_t *out) {
	const ynode_t *n = map_get(certs, key);
	if (!n) return;
	_cleanup_free_ char *path = path_join("spec.certificates", key);
	_cleanup_free_ char *v = NULL;
	if (!get_string(w, n, path, true, &v)) return;
	int r = parse_duration(v, out);
	if (r == -ERANGE)
		walk_err(w, n, path, "'%s' is longer than the maximum of 100 years (36500d)", shown(&(shown_t){0}, v));
	else if (r < 0)
		walk_err(w, n, path, "'%s' is not a duration (integer+unit runs, units s m h d: 720h, 30d, 1h30m)",
		         shown(&(shown_t){0}, v));
}

/* vcpus and memoryGiB, defaulted and checked by the flavor's backend. */
static void walk_size(struct walk *w, const ynode_t *spec, cvm_spec_t *c) {
	const ynode_t *vn = map_get(spec, "vcpus"), *mn = map_get(spec, "memoryGiB");
	bool size_ok = true;
	if (vn) size_ok &= get_int(w, vn, "spec.vcpus", &c->vcpus);
	if (mn) size_ok &= get_int(w, mn, "spec.memoryGiB", &c->memory_gib);
	const backend_schema_t *b = c->backend;
	if (!b || !size_ok) return;
	if (!vn) c->vcpus = b->default_vcpus;
	/* A backend's default memory is asked only for a vcpus count it
	 * accepts (4 * 1930066516 overflowed, found by fuzz_specs); outside
	 * its bounds spec_check_size names vcpus before memory matters. */
	bool vcpus_ok = c->vcpus >= b->min_vcpus && c->vcpus <= b->max_vcpus;
	if (!mn) c->memory_gib = b->default_memory_gib && vcpus_ok ? b->default_memory_gib(c->vcpus) : 0;
	const char *field;
	char msg[256];
	if (spec_check_size(b, c->vcpus, c->memory_gib, &field, msg, sizeof msg) < 0) {
		const ynode_t *at = !strcmp(field, "vcpus") ? vn : mn;
		_cleanup_free_ char *path = path_join("spec", field);
		walk_err(w, at ? at : spec, path, "%s", msg);
	}
}

static void walk_cvm_spec(struct walk *w, const ynode_t *spec, cvm_spec_t *c, struct cvm_extra *x) {
	static const char *const spec_fields[] = {"flavor", "provider", "vcpus", "memoryGiB", "agent", "certificates", "state", "suspend", "deletionPolicy", NULL};
	check_keys(w, spec, "spec", spec_fields);
	const ynode_t *n;

	if (!(n = map_get(spec, "flavor"))) {
		missing(w, spec, "spec", "flavor");
	} else {
		_cleanup_free_ char *f = NULL;
		x->flavor = walk_pos(w, n);
		if (get_string(w, n, "spec.flavor", true, &f)) {
			c->backend = spec_schema_for(w->l->schemas, f);
			c->flavor = c->backend ? c->backend->flavor : NULL;
			if (!c->backend) {
				_cleanup_free_ char *known = schema_names_expected(w->l->schemas);
				walk_err(w, n, "spec.flavor", "unknown flavor '%s' (expected %s)", shown(&(shown_t){0}, f), known);
			}
		}
	}

	if ((n = map_get(spec, "provider"))) {
		x->provider = walk_pos(w, n);
		get_string(w, n, "spec.provider", true, &c->provider);
	}

	walk_size(w, spec, c);

	c->agent.log_level = AGENT_LOG_INFO;
	c->agent.port = CVM_DEFAULT_AGENT_PORT;
	if ((n = map_get(spec, "agent")) && want_map(w, n, "spec.agent")) {
		static const char *const agent_fields[] = {"logLevel", "port", "controlPlaneURL", "controlPlaneCAFile", NULL};
		check_keys(w, n, "spec.agent", agent_fields);
		const ynode_t *v;
		_cleanup_free_ char *lvl = NULL;
		if ((v = map_get(n, "logLevel")) && get_string(w, v, "spec.agent.logLevel", true, &lvl) &&
		    agent_log_level_from_name(lvl, &c->agent.log_level) < 0)
			walk_err(w, v, "spec.agent.logLevel", "unknown log level '%s' (expected debug, info, warn or error)",
			         shown(&(shown_t){0}, lvl));
		if ((v = map_get(n, "port")) && get_int(w, v, "spec.agent.port", &c->agent.port) &&
		    (c->agent.port < 1 || c->agent.port > 65535))
			walk_err(w, v, "spec.agent.port", "port %d is outside 1..65535", c->agent.port);
		if ((v = map_get(n, "controlPlaneURL")))
			get_string(w, v, "spec.agent.controlPlaneURL", true, &c->agent.control_plane_url);
		if ((v = map_get(n, "controlPlaneCAFile")))
			get_path(w, v, "spec.agent.controlPlaneCAFile", &c->agent.control_plane_ca_file);
	}

	c->certs.validity_s = CVM_DEFAULT_CERT_VALIDITY_S;
	c->certs.renew_before_s = CVM_DEFAULT_RENEW_BEFORE_S;
	if ((n = map_get(spec, "certificates")) && want_map(w, n, "spec.certificates")) {
		static const char *const cert_fields[] = {"validity", "renewBefore", NULL};
		check_keys(w, n, "spec.certificates", cert_fields);
		size_t before = w->l->d->n;
		walk_duration(w, n, "validity", &c->certs.validity_s);
		walk_duration(w, n, "renewBefore", &c->certs.renew_before_s);
		if (w->l->d->n == before) {
			const ynode_t *vv = map_get(n, "validity"), *rv = map_get(n, "renewBefore");
			char a[32], b[32];
			format_duration(c->certs.validity_s, a, sizeof a);
			format_duration(c->certs.renew_before_s, b, sizeof b);
			if (c->certs.validity_s < CERT_VALIDITY_MIN_S)
				walk_err(w, vv ? vv : n, "spec.certificates.validity", "validity %s is shorter than the minimum of 1h", a);
			else if (c->certs.renew_before_s <= 0)
				walk_err(w, rv ? rv : n, "spec.certificates.renewBefore", "renewBefore must be longer than 0s");
			else if (c->certs.renew_before_s >= c->certs.validity_s)
				walk_err(w, rv ? rv : (vv ? vv : n), "spec.certificates.renewBefore",
				    "renewBefore %s must be shorter than validity %s", b, a);
		}
	}

	if ((n = map_get(spec, "suspend"))) get_bool(w, n, "spec.suspend", &c->suspend);
	if ((n = map_get(spec, "deletionPolicy"))) {
		_cleanup_free_ char *dp = NULL;
		if (get_string(w, n, "spec.deletionPolicy", true, &dp)) {
			if (!strcmp(dp, "Orphan"))
				c->orphan = true;
			else if (strcmp(dp, "Delete"))
				walk_err(w, n, "spec.deletionPolicy", "unknown deletionPolicy '%s' (expected Delete or Orphan)",
				         shown(&(shown_t){0}, dp));
		}
	}

	c->active = true;
	if ((n = map_get(spec, "state"))) {
		_cleanup_free_ char *st = NULL;
		if (get_string(w, n, "spec.state", true, &st)) {
			if (!strcmp(st, "inactive"))
				c->active = false;
			else if (strcmp(st, "active"))
				walk_err(w, n, "spec.state", "unknown state '%s' (expected active or inactive)", shown(&(shown_t){0}, st));
		}
	}
}

static void walk_cvm(struct walk *w, const ynode_t *meta, const ynode_t *spec, const ynode_t *doc) {
	struct load *l = w->l;
	spec_set_t *s = l->set;
	size_t cap = l->cap_cvms;
	ARRAY_RESERVE(s->cvms, l->cap_cvms, s->n_cvms + 1);
	ARRAY_RESERVE(l->cx, cap, s->n_cvms + 1);
	cvm_spec_t *c = &s->cvms[s->n_cvms];
	struct cvm_extra *x = &l->cx[s->n_cvms];
	s->n_cvms++;
	*c = (cvm_spec_t){.pos = walk_pos(w, doc), .active = true};
	*x = (struct cvm_extra){.name = c->pos, .flavor = c->pos, .provider = c->pos};

	if (meta) {
		static const char *const meta_fields[] = {"name", "labels", NULL};
		check_keys(w, meta, "metadata", meta_fields);
		get_name(w, meta, &c->name, &x->name);
		const ynode_t *labels = map_get(meta, "labels");
		if (labels) walk_labels(w, labels, c);
	}
	if (spec) walk_cvm_spec(w, spec, c, x);
}

/* kind: Scope: metadata.name is the tree's scope; spec.maxDeletions (an
 * integer of 0 or more) its deletion cap. spec may be empty or absent. */
static void walk_scope(struct walk *w, const ynode_t *meta, const ynode_t *spec, const ynode_t *doc) {
	spec_set_t *s = w->l->set;
	srcpos_t pos = walk_pos(w, doc);
	if (s->scope) {
		walk_err(w, doc, "kind", "a second Scope document (the first, '%s', is at %s:%d:%d); a tree has one scope",
		         shown(&(shown_t){0}, s->scope), s->scope_pos.file ? s->scope_pos.file : "<specs>",
		         s->scope_pos.line, s->scope_pos.col);
		return;
	}
	char *name = NULL;
	srcpos_t npos = pos;
	if (meta) {
		static const char *const meta_fields[] = {"name", NULL};
		check_keys(w, meta, "metadata", meta_fields);
		get_name(w, meta, &name, &npos);
	}
	if (!name) return;
	s->scope = name;
	s->scope_pos = npos;
	s->scope_max_deletions = -1;
	if (spec) {
		static const char *const spec_fields[] = {"maxDeletions", NULL};
		check_keys(w, spec, "spec", spec_fields);
		const ynode_t *n = map_get(spec, "maxDeletions");
		int v;
		if (n && get_int(w, n, "spec.maxDeletions", &v)) {
			if (v < 0)
				walk_err(w, n, "spec.maxDeletions", "maxDeletions must be 0 or more, not %d", v);
			else
				s->scope_max_deletions = v;
		}
	}
}

/* ---- document ---- */

void walk_document(struct load *l, const char *file, const ynode_t *root) {
	struct walk w = {.l = l, .file = file};
	if (root->kind != YN_MAP || root->tag) {
		walk_err(&w, root, "", "a spec document must be a mapping with apiVersion, kind, metadata and spec; got %s",
		    describe(root));
		return;
	}
	static const char *const doc_fields[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	check_keys(&w, root, "", doc_fields);

	const ynode_t *n;
	if (!(n = map_get(root, "apiVersion"))) {
		missing(&w, root, "", "apiVersion");
	} else {
		_cleanup_free_ char *v = NULL;
		if (get_string(&w, n, "apiVersion", true, &v) && strcmp(v, API_VERSION))
			walk_err(&w, n, "apiVersion", "unknown apiVersion '%s' (expected %s)", shown(&(shown_t){0}, v), API_VERSION);
	}

	bool is_cvm, is_scope = false;
	if (!(n = map_get(root, "kind"))) {
		missing(&w, root, "", "kind");
		return;
	} else {
		_cleanup_free_ char *v = NULL;
		if (!get_string(&w, n, "kind", true, &v)) return;
		if (!strcmp(v, "CVM")) {
			is_cvm = true;
		} else if (!strcmp(v, "Provider")) {
			is_cvm = false;
		} else if (!strcmp(v, "Scope")) {
			is_cvm = false;
			is_scope = true;
		} else {
			walk_err(&w, n, "kind", "unknown kind '%s' (expected Provider, CVM or Scope)", shown(&(shown_t){0}, v));
			return;
		}
	}

	const ynode_t *meta = map_get(root, "metadata"), *spec = map_get(root, "spec");
	if (!meta)
		missing(&w, root, "", "metadata");
	else if (!want_map(&w, meta, "metadata"))
		meta = NULL;
	if (!spec) {
		if (!is_scope) missing(&w, root, "", "spec");
	} else if (!want_map(&w, spec, "spec")) {
		spec = NULL;
	}

	if (is_scope)
		walk_scope(&w, meta, spec, root);
	else if (is_cvm)
		walk_cvm(&w, meta, spec, root);
	else
		walk_provider(&w, meta, spec, root);
}

/* ---- freeing ---- */

void provider_spec_clear(provider_spec_t *p) {
	free(p->name);
	free(p->control_plane_url);
	free(p->control_plane_ca_file);
	json_decref(p->settings);
	*p = (provider_spec_t){0};
}

void cvm_spec_clear(cvm_spec_t *c) {
	free(c->name);
	free(c->provider);
	free(c->agent.control_plane_url);
	free(c->agent.control_plane_ca_file);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	*c = (cvm_spec_t){0};
}
