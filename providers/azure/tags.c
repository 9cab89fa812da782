/* Our ownership markers as Azure tags (reference/cloud-apis.md B12: at most
 * 50, names up to 512 characters without <>%&\?/ and case-insensitive,
 * values up to 256), and the names of a CVM's resources: the CVM's name and
 * 8 hex of a hash of its id and create attempt, so that a retried attempt
 * finds what it made and a new attempt never collides with an old one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/azure/azure.h"

#define MAX_TAGS 50
#define NAME_KEEP 50 /* of the CVM's name; the VM name stays within 64 */

void az_base_name(const char *name, const char *id, const char *attempt, char out[AZ_BASE_MAX]) {
	_cleanup_free_ char *in = xasprintf("cvmctl-azure\n%s\n%s", id, attempt ? attempt : "");
	char h[65];
	sha256_hex(in, strlen(in), h);
	snprintf(out, AZ_BASE_MAX, "%.*s-%.8s", NAME_KEEP, name, h);
}

char *az_kind_name(az_kind_t k, const char *base) {
	switch (k) {
	case AZ_NSG: return xasprintf("%s-nsg", base);
	case AZ_PIP: return xasprintf("%s-pip", base);
	case AZ_NIC: return xasprintf("%s-nic", base);
	case AZ_DISK: return xasprintf("%s-osdisk", base);
	default: return xstrdup(base);
	}
}

static bool ours(const char *k) {
	return strcasecmp(k, "managed-by") == 0 || strncasecmp(k, "cvmctl-", 7) == 0;
}

/* A user's label as a tag name: the characters Azure refuses become '_'. */
static char *tag_name(const char *k) {
	char *s = xstrdup(k);
	for (char *c = s; *c; c++)
		if (strchr("<>%&\\?/", *c)) *c = '_';
	if (strlen(s) > 512) s[512] = 0;
	return s;
}

json_t *az_tags(const cvm_desired_t *w, char **err) {
	json_t *t = json_object();
	json_object_set_new(t, "managed-by", json_string("cvmctl"));
	json_object_set_new(t, "cvmctl-id", json_string(w->id));
	json_object_set_new(t, "cvmctl-name", json_string(w->name));
	json_object_set_new(t, "cvmctl-scope", json_string(w->scope ? w->scope : ""));
	json_object_set_new(t, "cvmctl-installation", json_string(w->installation ? w->installation : ""));
	json_object_set_new(t, "cvmctl-spec", json_string(w->spec_hash ? w->spec_hash : ""));
	json_object_set_new(t, "cvmctl-attempt", json_string(w->attempt ? w->attempt : ""));
	if (w->agent_port > 0) {
		char port[16];
		snprintf(port, sizeof port, "%d", w->agent_port);
		json_object_set_new(t, "cvmctl-port", json_string(port));
	}
	for (size_t i = 0; i < w->n_labels; i++) {
		_cleanup_free_ char *k = tag_name(w->labels[2 * i]);
		const char *v = w->labels[2 * i + 1];
		if (ours(k)) continue;
		if (az_tag(t, k)) {
			*err = xasprintf("labels '%s' and another label of CVM %s both become Azure tag '%s' (tag names are "
			                 "case-insensitive)",
			                 w->labels[2 * i], w->name, k);
			json_decref(t);
			return NULL;
		}
		if (strlen(v) > 256) {
			*err = xasprintf("label '%s' of CVM %s is longer than an Azure tag value (256 characters)",
			                 w->labels[2 * i], w->name);
			json_decref(t);
			return NULL;
		}
		json_object_set_new(t, k, json_string(v));
	}
	if (json_object_size(t) > MAX_TAGS) {
		*err = xasprintf("CVM %s would carry %zu Azure tags; at most %d are allowed (up to 8 are cvmctl's)", w->name,
		                 json_object_size(t), MAX_TAGS);
		json_decref(t);
		return NULL;
	}
	return t;
}

const char *az_tag(const json_t *tags, const char *k) {
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)tags, key, v) if (strcasecmp(key, k) == 0) return json_string_value(v);
	return NULL;
}

bool az_tags_ours(const json_t *tags, const char *id) {
	const char *tid = az_tag(tags, "cvmctl-id");
	return streq(az_tag(tags, "managed-by"), "cvmctl") && tid && id && strcasecmp(tid, id) == 0;
}

bool az_tags_read(const json_t *tags, observed_t *o, int *port) {
	const char *id = az_tag(tags, "cvmctl-id");
	if (!streq(az_tag(tags, "managed-by"), "cvmctl") || !id || strlen(id) != 36) return false;
	snprintf(o->id, sizeof o->id, "%s", id);
	for (char *c = o->id; *c; c++)
		if (*c >= 'A' && *c <= 'F') *c = (char)(*c - 'A' + 'a');
	if (!uuid_valid(o->id)) return false;
	o->scope = xstrdup(az_tag(tags, "cvmctl-scope"));
	o->installation = xstrdup(az_tag(tags, "cvmctl-installation"));
	o->spec_hash = xstrdup(az_tag(tags, "cvmctl-spec"));
	o->attempt = xstrdup(az_tag(tags, "cvmctl-attempt"));
	const char *p = az_tag(tags, "cvmctl-port");
	*port = p ? atoi(p) : 0;
	return true;
}
