/* The typed walk: one YAML document -> a provider_spec_t or cvm_spec_t, with
 * every mistake reported at the node it is about. The walk never stops at
 * the first problem: a document with three mistakes yields three lines. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "specs/load_internal.h"

#define API_VERSION "cvmctl/v1"
#define NAME_MAX_LEN 63
#define LABELS_MAX 64
#define CERT_VALIDITY_MIN_S 3600

struct walk {
	struct load *l;
	const char *file;
	size_t n_diags_before;
};

static void err(struct walk *w, const ynode_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void err(struct walk *w, const ynode_t *n, const char *path, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) abort();
	va_end(ap);
	diags_add(w->l->d, w->file, n->line, n->col, path, "%s", msg);
}

static srcpos_t pos_of(struct walk *w, const ynode_t *n) { return (srcpos_t){w->file, n->line, n->col}; }

/* "spec" + "agent" -> "spec.agent" */
static char *join(const char *parent, const char *key) {
	return *parent ? xasprintf("%s.%s", parent, key) : xstrdup(key);
}

static const char *describe(const ynode_t *n) {
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

static bool scalar_ok(struct walk *w, const ynode_t *n, const char *path, const char *want) {
	if (n->kind == YN_SCALAR && n->tag) {
		err(w, n, path, "unsupported tag '%s'", n->tag);
		return false;
	}
	if (n->kind != YN_SCALAR || n->is_null) {
		err(w, n, path, "expected %s, got %s", want, describe(n));
		return false;
	}
	return true;
}

/* Any non-null scalar is a string: a plain "8" read as a string is what the
 * operator meant (an id, a zone), unlike a quoted "8" where a number is due. */
static bool get_string(struct walk *w, const ynode_t *n, const char *path, bool nonempty, char **out) {
	if (!scalar_ok(w, n, path, "a string")) return false;
	if (nonempty && !*n->value) {
		err(w, n, path, "must not be empty");
		return false;
	}
	free(*out);
	*out = xstrdup(n->value);
	return true;
}

static bool get_int(struct walk *w, const ynode_t *n, const char *path, int *out) {
	if (!scalar_ok(w, n, path, "an integer")) return false;
	const char *v = n->value;
	if (n->quoted) {
		err(w, n, path, "expected an integer, got the string \"%s\"", v);
		return false;
	}
	const char *digits = (*v == '-' || *v == '+') ? v + 1 : v;
	if (!*digits || strspn(digits, "0123456789") != strlen(digits)) {
		err(w, n, path, "expected an integer, got '%s'", v);
		return false;
	}
	errno = 0;
	long x = strtol(v, NULL, 10);
	if (errno || x < INT_MIN || x > INT_MAX) {
		err(w, n, path, "integer %s is out of range", v);
		return false;
	}
	*out = (int)x;
	return true;
}

static bool get_bool(struct walk *w, const ynode_t *n, const char *path, bool *out) {
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
		err(w, n, path, "expected true or false, got the string \"%s\"", n->value);
	else
		err(w, n, path, "expected true or false, got '%s'", n->value);
	return false;
}

static bool want_map(struct walk *w, const ynode_t *n, const char *path) {
	if (n->kind == YN_MAP && !n->tag) return true;
	if (n->tag)
		err(w, n, path, "unsupported tag '%s'", n->tag);
	else
		err(w, n, path, "expected a mapping, got %s", describe(n));
	return false;
}

/* ---- mappings ---- */

static const ynode_t *map_get(const ynode_t *map, const char *key) {
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

static void unknown_field(struct walk *w, const ynode_t *key, const char *path, const char *const *known) {
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
		err(w, key, path, "unknown field (did you mean '%s'?)", best);
	else
		err(w, key, path, "unknown field");
}

/* Reports keys that are not strings and duplicate keys. Returns false for a
 * key that must not be looked at further. */
static bool key_ok(struct walk *w, const ynode_t *map, size_t i, const char *parent) {
	const ynode_t *k = map->items[i];
	if (k->kind != YN_SCALAR || k->is_null || k->tag) {
		err(w, k, parent, "keys must be strings, got %s", describe(k));
		return false;
	}
	/* The first key of that text is this one unless it is a duplicate. */
	size_t first = ymap_find(map, k->value);
	if (first < i) {
		const ynode_t *prev = map->items[first];
		_cleanup_free_ char *path = join(parent, k->value);
		err(w, k, path, "duplicate key (first at line %d column %d)", prev->line, prev->col);
		return false;
	}
	return true;
}

/* Checks every key of a plain mapping against a NULL-terminated list. */
static void check_keys(struct walk *w, const ynode_t *map, const char *parent, const char *const *known) {
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		if (!key_ok(w, map, i, parent)) continue;
		const ynode_t *k = map->items[i];
		bool found = false;
		for (size_t j = 0; known[j] && !found; j++) found = !strcmp(known[j], k->value);
		if (!found) {
			_cleanup_free_ char *path = join(parent, k->value);
			unknown_field(w, k, path, known);
		}
	}
}

static void missing(struct walk *w, const ynode_t *map, const char *parent, const char *key) {
	_cleanup_free_ char *path = join(parent, key);
	err(w, map, path, "required field is missing");
}

/* ---- names and labels ---- */

static bool rfc1035_label(const char *s) {
	size_t n = strlen(s);
	if (n < 1 || n > NAME_MAX_LEN) return false;
	if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
	if (s[n - 1] == '-') return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static bool get_name(struct walk *w, const ynode_t *meta, char **out, srcpos_t *pos) {
	const ynode_t *n = map_get(meta, "name");
	if (!n) {
		missing(w, meta, "metadata", "name");
		return false;
	}
	if (!get_string(w, n, "metadata.name", true, out)) return false;
	*pos = pos_of(w, n);
	if (!rfc1035_label(*out)) {
		err(w, n, "metadata.name",
		    "'%s' is not a valid name: 1-63 lower-case letters, digits or '-', starting with a letter and not ending with '-' (RFC 1035)",
		    *out);
		return false;
	}
	return true;
}

static void walk_labels(struct walk *w, const ynode_t *labels, cvm_spec_t *c) {
	if (!want_map(w, labels, "metadata.labels")) return;
	size_t n = labels->n_items / 2;
	if (n > LABELS_MAX) err(w, labels, "metadata.labels", "%zu labels is above the maximum of %d", n, LABELS_MAX);
	for (size_t i = 0; i + 1 < labels->n_items; i += 2) {
		if (!key_ok(w, labels, i, "metadata.labels")) continue;
		const ynode_t *k = labels->items[i], *v = labels->items[i + 1];
		_cleanup_free_ char *path = join("metadata.labels", k->value);
		const char *ks = k->value;
		size_t kl = strlen(ks);
		if (kl < 1 || kl > 63 || !(ks[0] >= 'a' && ks[0] <= 'z') ||
		    strspn(ks, "abcdefghijklmnopqrstuvwxyz0123456789-_") != kl) {
			err(w, k, path,
			    "'%s' is not a valid label key: 1-63 lower-case letters, digits, '-' or '_', starting with a letter",
			    ks);
			continue;
		}
		_cleanup_free_ char *value = NULL;
		if (!get_string(w, v, path, false, &value)) continue;
		size_t vl = strlen(value);
		if (vl > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-_") != vl) {
			err(w, v, path, "'%s' is not a valid label value: up to 63 lower-case letters, digits, '-' or '_'",
			    value);
			continue;
		}
		c->labels = xrealloc(c->labels, (c->n_labels + 1) * sizeof *c->labels);
		c->labels[c->n_labels++] = (label_t){xstrdup(ks), TAKE_PTR(value)};
	}
}

/* ---- Provider ---- */

enum { T_GCP = 1 << FLAVOR_GCP, T_AZURE = 1 << FLAVOR_AZURE, T_MANAGER = 1 << FLAVOR_MANAGER, T_ANY = 7 };

static const struct pfield {
	const char *name;
	unsigned types;
} provider_fields[] = {
	{"type", T_ANY},
	{"controlPlaneURL", T_ANY},
	{"controlPlaneCAFile", T_ANY},
	{"project", T_GCP},
	{"zone", T_GCP},
	{"credentialsFile", T_GCP},
	{"endpoint", T_GCP},
	{"subscription", T_AZURE},
	{"resourceGroup", T_AZURE},
	{"location", T_AZURE},
	{"tenant", T_AZURE},
	{"clientId", T_AZURE},
	{"clientSecretFile", T_AZURE},
	{"hosts", T_MANAGER},
	{"firmware", T_MANAGER},
	{"kernel", T_MANAGER},
	{"initrd", T_MANAGER},
	{"cmdline", T_MANAGER},
	{"domainType", T_MANAGER},
	{"cpuModel", T_MANAGER},
	{"network", T_MANAGER},
	{"vtpm", T_MANAGER},
	{"capacity", T_MANAGER},
	{"shareDir", T_MANAGER},
	{"insecureNoSEV", T_MANAGER},
};

static const char *const provider_field_names[] = {
	"type", "controlPlaneURL", "controlPlaneCAFile", "project", "zone", "credentialsFile", "endpoint",
	"subscription", "resourceGroup", "location", "tenant", "clientId", "clientSecretFile", "hosts",
	"firmware", "kernel", "initrd", "cmdline", "domainType", "cpuModel", "network", "vtpm", "capacity",
	"shareDir", "insecureNoSEV", NULL,
};

/* Names under which people paste secrets inline. They are unknown fields
 * like any other, but deserve to hear where secrets go instead. */
static const char *const secret_names[] = {
	"clientSecret", "secret", "credentials", "credentialsJson", "privateKey", "key", "password", "token",
	"apiKey", "accessToken", "serviceAccountKey", NULL,
};

static bool is_secret_name(const char *s) {
	for (size_t i = 0; secret_names[i]; i++)
		if (!strcasecmp(s, secret_names[i])) return true;
	return false;
}

static const char *secret_file_field(flavor_t t) {
	switch (t) {
	case FLAVOR_GCP: return "credentialsFile";
	case FLAVOR_AZURE: return "clientSecretFile";
	default: return NULL;
	}
}

static void pstr(struct walk *w, const ynode_t *spec, const char *key, bool required, char **out) {
	const ynode_t *n = map_get(spec, key);
	_cleanup_free_ char *path = join("spec", key);
	if (!n) {
		if (required) missing(w, spec, "spec", key);
		return;
	}
	get_string(w, n, path, true, out);
}

static void url_check(struct walk *w, const ynode_t *spec, const char *key, const char *v) {
	if (!v || !strncmp(v, "https://", 8) || !strncmp(v, "http://", 7)) return;
	_cleanup_free_ char *path = join("spec", key);
	err(w, map_get(spec, key), path, "'%s' is not an http:// or https:// URL", v);
}

static void walk_provider_spec(struct walk *w, const ynode_t *spec, provider_spec_t *p) {
	const ynode_t *tn = map_get(spec, "type");
	p->type = FLAVOR_INVALID;
	if (!tn) {
		missing(w, spec, "spec", "type");
	} else {
		_cleanup_free_ char *t = NULL;
		if (get_string(w, tn, "spec.type", true, &t)) {
			p->type = flavor_from_name(t);
			if (p->type == FLAVOR_INVALID)
				err(w, tn, "spec.type", "unknown provider type '%s' (expected gcp, azure or manager)", t);
		}
	}

	for (size_t i = 0; i + 1 < spec->n_items; i += 2) {
		if (!key_ok(w, spec, i, "spec")) continue;
		const ynode_t *k = spec->items[i];
		_cleanup_free_ char *path = join("spec", k->value);
		const struct pfield *f = NULL;
		for (size_t j = 0; j < ARRAY_SIZE(provider_fields) && !f; j++)
			if (!strcmp(provider_fields[j].name, k->value)) f = &provider_fields[j];
		if (f) {
			if (p->type != FLAVOR_INVALID && !(f->types & (1u << p->type)))
				err(w, k, path, "field '%s' is not valid for %s %s provider", k->value,
				    p->type == FLAVOR_AZURE ? "an" : "a", flavor_name(p->type));
		} else if (is_secret_name(k->value)) {
			const char *use = secret_file_field(p->type);
			if (use)
				err(w, k, path, "secrets are read from files only: use %s", use);
			else
				err(w, k, path, "secrets are read from files only, never inline");
		} else {
			unknown_field(w, k, path, provider_field_names);
		}
	}

	pstr(w, spec, "controlPlaneURL", false, &p->control_plane_url);
	pstr(w, spec, "controlPlaneCAFile", false, &p->control_plane_ca_file);

	switch (p->type) {
	case FLAVOR_GCP:
		pstr(w, spec, "project", true, &p->project);
		pstr(w, spec, "zone", true, &p->zone);
		pstr(w, spec, "credentialsFile", true, &p->credentials_file);
		pstr(w, spec, "endpoint", false, &p->endpoint);
		url_check(w, spec, "endpoint", p->endpoint);
		if (!p->endpoint) p->endpoint = xstrdup("https://compute.googleapis.com/compute/v1");
		break;
	case FLAVOR_AZURE:
		pstr(w, spec, "subscription", true, &p->subscription);
		pstr(w, spec, "resourceGroup", true, &p->resource_group);
		pstr(w, spec, "location", true, &p->location);
		pstr(w, spec, "tenant", true, &p->tenant);
		pstr(w, spec, "clientId", true, &p->client_id);
		pstr(w, spec, "clientSecretFile", true, &p->client_secret_file);
		break;
	case FLAVOR_MANAGER: {
		const ynode_t *n;
		if ((n = map_get(spec, "insecureNoSEV"))) get_bool(w, n, "spec.insecureNoSEV", &p->insecure_no_sev);
		if ((n = map_get(spec, "vtpm"))) get_bool(w, n, "spec.vtpm", &p->vtpm);
		/* Without SEV there is no measured firmware to load. */
		pstr(w, spec, "firmware", !p->insecure_no_sev, &p->firmware);
		pstr(w, spec, "kernel", true, &p->kernel);
		pstr(w, spec, "initrd", true, &p->initrd);
		pstr(w, spec, "cmdline", false, &p->cmdline);
		pstr(w, spec, "cpuModel", false, &p->cpu_model);
		pstr(w, spec, "network", false, &p->network);
		pstr(w, spec, "shareDir", false, &p->share_dir);
		pstr(w, spec, "domainType", false, &p->domain_type);
		if (p->domain_type && strcmp(p->domain_type, "kvm") && strcmp(p->domain_type, "qemu"))
			err(w, map_get(spec, "domainType"), "spec.domainType", "unknown domain type '%s' (expected kvm or qemu)",
			    p->domain_type);
		if (!p->domain_type) p->domain_type = xstrdup("kvm");
		if (!p->cpu_model) p->cpu_model = xstrdup("EPYC-Milan");
		if (!p->share_dir) p->share_dir = xstrdup("/var/lib/cvmctl/shares");

		n = map_get(spec, "hosts");
		if (!n) {
			missing(w, spec, "spec", "hosts");
		} else if (n->kind != YN_SEQ || n->tag) {
			err(w, n, "spec.hosts", "expected a list of libvirt URIs, got %s", describe(n));
		} else if (n->n_items == 0) {
			err(w, n, "spec.hosts", "must name at least one host");
		} else {
			p->hosts = xcalloc(n->n_items, sizeof *p->hosts);
			for (size_t i = 0; i < n->n_items; i++) {
				_cleanup_free_ char *path = xasprintf("spec.hosts[%zu]", i);
				_cleanup_free_ char *h = NULL;
				if (!get_string(w, n->items[i], path, true, &h)) continue;
				bool dup = false;
				for (size_t j = 0; j < p->n_hosts && !dup; j++) dup = !strcmp(p->hosts[j], h);
				if (dup) {
					err(w, n->items[i], path, "host '%s' is listed twice", h);
					continue;
				}
				p->hosts[p->n_hosts++] = TAKE_PTR(h);
			}
		}

		if ((n = map_get(spec, "capacity")) && want_map(w, n, "spec.capacity")) {
			static const char *const cap_fields[] = {"vcpus", "memoryGiB", NULL};
			check_keys(w, n, "spec.capacity", cap_fields);
			const ynode_t *v;
			if ((v = map_get(n, "vcpus")) && get_int(w, v, "spec.capacity.vcpus", &p->capacity_vcpus) &&
			    p->capacity_vcpus < 1)
				err(w, v, "spec.capacity.vcpus", "must be at least 1");
			if ((v = map_get(n, "memoryGiB")) &&
			    get_int(w, v, "spec.capacity.memoryGiB", &p->capacity_memory_gib) && p->capacity_memory_gib < 1)
				err(w, v, "spec.capacity.memoryGiB", "must be at least 1");
		}
		break;
	}
	default:
		break;
	}
}

static void walk_provider(struct walk *w, const ynode_t *meta, const ynode_t *spec, const ynode_t *doc) {
	struct load *l = w->l;
	spec_set_t *s = l->set;
	s->providers = xrealloc(s->providers, (s->n_providers + 1) * sizeof *s->providers);
	l->px = xrealloc(l->px, (s->n_providers + 1) * sizeof *l->px);
	provider_spec_t *p = &s->providers[s->n_providers];
	struct provider_extra *x = &l->px[s->n_providers];
	s->n_providers++;
	*p = (provider_spec_t){.type = FLAVOR_INVALID, .pos = pos_of(w, doc)};
	*x = (struct provider_extra){.name = p->pos};

	if (meta) {
		static const char *const meta_fields[] = {"name", NULL};
		check_keys(w, meta, "metadata", meta_fields);
		get_name(w, meta, &p->name, &x->name);
	}
	if (spec) walk_provider_spec(w, spec, p);
}

/* ---- CVM ---- */

static void walk_duration(struct walk *w, const ynode_t *certs, const char *key, int64_t *out) {
	const ynode_t *n = map_get(certs, key);
	if (!n) return;
	_cleanup_free_ char *path = join("spec.certificates", key);
	_cleanup_free_ char *v = NULL;
	if (!get_string(w, n, path, true, &v)) return;
	if (parse_duration(v, out) < 0)
		err(w, n, path, "'%s' is not a duration (integer+unit runs, units s m h d: 720h, 30d, 1h30m)", v);
}

static void walk_cvm_spec(struct walk *w, const ynode_t *spec, cvm_spec_t *c, struct cvm_extra *x) {
	static const char *const spec_fields[] = {"flavor", "provider", "vcpus", "memoryGiB", "agent", "certificates", "state", NULL};
	check_keys(w, spec, "spec", spec_fields);
	const ynode_t *n;

	c->flavor = FLAVOR_INVALID;
	if (!(n = map_get(spec, "flavor"))) {
		missing(w, spec, "spec", "flavor");
	} else {
		_cleanup_free_ char *f = NULL;
		x->flavor = pos_of(w, n);
		if (get_string(w, n, "spec.flavor", true, &f)) {
			c->flavor = flavor_from_name(f);
			if (c->flavor == FLAVOR_INVALID)
				err(w, n, "spec.flavor", "unknown flavor '%s' (expected gcp, azure or manager)", f);
		}
	}

	if ((n = map_get(spec, "provider"))) {
		x->provider = pos_of(w, n);
		get_string(w, n, "spec.provider", true, &c->provider);
	}

	const ynode_t *vn = map_get(spec, "vcpus"), *mn = map_get(spec, "memoryGiB");
	bool size_ok = true;
	if (vn) size_ok &= get_int(w, vn, "spec.vcpus", &c->vcpus);
	if (mn) size_ok &= get_int(w, mn, "spec.memoryGiB", &c->memory_gib);
	const flavor_limits_t *lim = flavor_limits(c->flavor);
	if (lim && size_ok) {
		if (!vn) c->vcpus = lim->default_vcpus;
		if (!mn) c->memory_gib = flavor_default_memory_gib(c->flavor, c->vcpus);
		const char *field;
		char msg[256];
		if (flavor_check_size(c->flavor, c->vcpus, c->memory_gib, &field, msg, sizeof msg) < 0) {
			const ynode_t *at = !strcmp(field, "vcpus") ? vn : mn;
			_cleanup_free_ char *path = join("spec", field);
			err(w, at ? at : spec, path, "%s", msg);
		}
	}

	c->agent.log_level = AGENT_LOG_INFO;
	c->agent.port = 7002;
	if ((n = map_get(spec, "agent")) && want_map(w, n, "spec.agent")) {
		static const char *const agent_fields[] = {"logLevel", "port", "controlPlaneURL", "controlPlaneCAFile", NULL};
		check_keys(w, n, "spec.agent", agent_fields);
		const ynode_t *v;
		_cleanup_free_ char *lvl = NULL;
		if ((v = map_get(n, "logLevel")) && get_string(w, v, "spec.agent.logLevel", true, &lvl) &&
		    agent_log_level_from_name(lvl, &c->agent.log_level) < 0)
			err(w, v, "spec.agent.logLevel", "unknown log level '%s' (expected debug, info, warn or error)", lvl);
		if ((v = map_get(n, "port")) && get_int(w, v, "spec.agent.port", &c->agent.port) &&
		    (c->agent.port < 1 || c->agent.port > 65535))
			err(w, v, "spec.agent.port", "port %d is outside 1..65535", c->agent.port);
		if ((v = map_get(n, "controlPlaneURL")))
			get_string(w, v, "spec.agent.controlPlaneURL", true, &c->agent.control_plane_url);
		if ((v = map_get(n, "controlPlaneCAFile")))
			get_string(w, v, "spec.agent.controlPlaneCAFile", true, &c->agent.control_plane_ca_file);
	}

	c->certs.validity_s = 30 * 86400;
	c->certs.renew_before_s = 10 * 86400;
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
				err(w, vv ? vv : n, "spec.certificates.validity", "validity %s is shorter than the minimum of 1h", a);
			else if (c->certs.renew_before_s <= 0)
				err(w, rv ? rv : n, "spec.certificates.renewBefore", "renewBefore must be longer than 0s");
			else if (c->certs.renew_before_s >= c->certs.validity_s)
				err(w, rv ? rv : (vv ? vv : n), "spec.certificates.renewBefore",
				    "renewBefore %s must be shorter than validity %s", b, a);
		}
	}

	c->active = true;
	if ((n = map_get(spec, "state"))) {
		_cleanup_free_ char *st = NULL;
		if (get_string(w, n, "spec.state", true, &st)) {
			if (!strcmp(st, "inactive"))
				c->active = false;
			else if (strcmp(st, "active"))
				err(w, n, "spec.state", "unknown state '%s' (expected active or inactive)", st);
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
	*c = (cvm_spec_t){.flavor = FLAVOR_INVALID, .pos = pos_of(w, doc), .active = true};
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

/* ---- document ---- */

void walk_document(struct load *l, const char *file, const ynode_t *root) {
	struct walk w = {.l = l, .file = file};
	if (root->kind != YN_MAP || root->tag) {
		err(&w, root, "", "a spec document must be a mapping with apiVersion, kind, metadata and spec; got %s",
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
			err(&w, n, "apiVersion", "unknown apiVersion '%s' (expected %s)", v, API_VERSION);
	}

	bool is_cvm;
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
		} else {
			err(&w, n, "kind", "unknown kind '%s' (expected Provider or CVM)", v);
			return;
		}
	}

	const ynode_t *meta = map_get(root, "metadata"), *spec = map_get(root, "spec");
	if (!meta)
		missing(&w, root, "", "metadata");
	else if (!want_map(&w, meta, "metadata"))
		meta = NULL;
	if (!spec)
		missing(&w, root, "", "spec");
	else if (!want_map(&w, spec, "spec"))
		spec = NULL;

	if (is_cvm)
		walk_cvm(&w, meta, spec, root);
	else
		walk_provider(&w, meta, spec, root);
}

/* ---- freeing ---- */

void provider_spec_clear(provider_spec_t *p) {
	char **strs[] = {&p->name, &p->control_plane_url, &p->control_plane_ca_file, &p->project, &p->zone,
	                 &p->credentials_file, &p->endpoint, &p->subscription, &p->resource_group, &p->location,
	                 &p->tenant, &p->client_id, &p->client_secret_file, &p->firmware, &p->kernel, &p->initrd,
	                 &p->cmdline, &p->domain_type, &p->cpu_model, &p->network, &p->share_dir};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) free(*strs[i]);
	for (size_t i = 0; i < p->n_hosts; i++) free(p->hosts[i]);
	free(p->hosts);
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
