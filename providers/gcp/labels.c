/* Our ownership markers as GCP labels (reference/cloud-apis.md A12: keys
 * 1-63 of [a-z0-9_-] starting with a letter, values 0-63 of the same, at
 * most 64 labels). The spec hash (64 hex) is shortened to
 * GCP_SPEC_HASH_LEN and read back as the recorded hash when it is a prefix
 * of it; a scope that is not a label value is encoded, and read back as the
 * recorded scope when that encodes to the label. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/gcp/gcp.h"
#include "providers/gcp/names.h"

#define MAX_LABELS 64

char *gcp_label_value(const char *s) {
	strbuf sb = {0};
	sb_add(&sb, "");
	for (; s && *s && sb.len < 63; s++) {
		char c = (char)tolower((unsigned char)*s);
		char out = gcp_label_char(c) ? c : '_';
		sb_addn(&sb, &out, 1);
	}
	return sb_take(&sb);
}

/* A user's label key in GCP's alphabet: "app.kubernetes.io/name" becomes
 * "app_kubernetes_io_name"; a key that does not start with a letter gets
 * "l-" in front. */
static char *label_key(const char *k) {
	_cleanup_free_ char *v = gcp_label_value(k);
	if (v[0] >= 'a' && v[0] <= 'z') return TAKE_PTR(v);
	char *p = xasprintf("l-%s", v);
	if (strlen(p) > 63) p[63] = 0;
	return p;
}

static bool ours(const char *key) {
	return strcmp(key, "managed-by") == 0 || strncmp(key, "cvmctl-", 7) == 0;
}

json_t *gcp_labels(const cvm_desired_t *w, char **err) {
	json_t *l = json_object();
	char hash[GCP_SPEC_HASH_LEN + 1];
	snprintf(hash, sizeof hash, "%s", w->spec_hash ? w->spec_hash : "");
	_cleanup_free_ char *scope = gcp_label_value(w->scope ? w->scope : "");
	json_object_set_new(l, "managed-by", json_string("cvmctl"));
	json_object_set_new(l, "cvmctl-id", json_string(w->id));
	json_object_set_new(l, "cvmctl-scope", json_string(scope));
	json_object_set_new(l, "cvmctl-installation", json_string(w->installation ? w->installation : ""));
	json_object_set_new(l, "cvmctl-spec", json_string(hash));
	json_object_set_new(l, "cvmctl-attempt", json_string(w->attempt ? w->attempt : ""));
	if (w->agent_port > 0) {
		char port[16];
		snprintf(port, sizeof port, "%d", w->agent_port);
		json_object_set_new(l, "cvmctl-port", json_string(port));
	}
	for (size_t i = 0; i < w->n_labels; i++) {
		_cleanup_free_ char *k = label_key(w->labels[2 * i]);
		_cleanup_free_ char *v = gcp_label_value(w->labels[2 * i + 1]);
		if (ours(k)) continue; /* our markers are never a user's to set */
		if (json_object_get(l, k)) {
			*err = xasprintf("labels '%s' and another label of CVM %s both become GCP label '%s'",
			                 w->labels[2 * i], w->name, k);
			json_decref(l);
			return NULL;
		}
		json_object_set_new(l, k, json_string(v));
	}
	if (json_object_size(l) > MAX_LABELS) {
		*err = xasprintf("CVM %s would carry %zu GCP labels; at most %d are allowed (up to 7 are cvmctl's)",
		                 w->name, json_object_size(l), MAX_LABELS);
		json_decref(l);
		return NULL;
	}
	return l;
}

static const char *label(const json_t *labels, const char *k) {
	return json_string_value(json_object_get(labels, k));
}

static const observed_t *known_by_id(const observed_t *known, size_t n, const char *id) {
	for (size_t i = 0; i < n; i++)
		if (strcmp(known[i].id, id) == 0) return &known[i];
	return NULL;
}

bool gcp_labels_read(const json_t *labels, const json_t *md, const observed_t *known, size_t n, observed_t *o,
                     int *port) {
	const char *id = label(labels, "cvmctl-id");
	if (!streq(label(labels, "managed-by"), "cvmctl") || !id || !uuid_valid(id)) return false;
	snprintf(o->id, sizeof o->id, "%s", id);
	const observed_t *k = known_by_id(known, n, id);
	const char *hash = label(labels, "cvmctl-spec");
	const char *scope = label(labels, "cvmctl-scope");
	/* The full values from the metadata, when they agree with the labels
	 * (the labels are what the list was filtered by). */
	const char *mhash = gcp_metadata_get(md, "cvmctl-spec-hash");
	const char *mscope = gcp_metadata_get(md, "cvmctl-scope");
	_cleanup_free_ char *mscope_enc = mscope ? gcp_label_value(mscope) : NULL;
	if (mhash && hash && *hash && strncmp(mhash, hash, strlen(hash)) == 0)
		o->spec_hash = xstrdup(mhash);
	else if (k && k->spec_hash && hash && *hash && strncmp(k->spec_hash, hash, strlen(hash)) == 0)
		o->spec_hash = xstrdup(k->spec_hash);
	else
		o->spec_hash = xstrdup(hash);
	_cleanup_free_ char *enc = k && k->scope ? gcp_label_value(k->scope) : NULL;
	if (mscope_enc && scope && strcmp(mscope_enc, scope) == 0)
		o->scope = xstrdup(mscope);
	else
		o->scope = xstrdup(enc && scope && strcmp(enc, scope) == 0 ? k->scope : scope);
	o->installation = xstrdup(label(labels, "cvmctl-installation"));
	o->attempt = xstrdup(label(labels, "cvmctl-attempt"));
	const char *p = label(labels, "cvmctl-port");
	*port = p ? atoi(p) : 0;
	return true;
}
