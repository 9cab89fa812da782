/* What the records are, whatever stores them: status names (the names
 * are also what the SQLite store keeps, so that its database reads the same
 * to a human), and freeing and copying. Pure: no store involved. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/store.h"

static const char *const status_names[ST__COUNT] = {
	[ST_CREATING] = "Creating", [ST_RUNNING] = "Running",   [ST_STOPPED] = "Stopped",   [ST_UNKNOWN] = "Unknown",
	[ST_FAILED] = "Failed",     [ST_DELETING] = "Deleting", [ST_INACTIVE] = "Inactive",
	[ST_MISSING] = "Missing",
};

const char *cvm_status_name(cvm_status_t s) {
	return (unsigned)s < ST__COUNT ? status_names[s] : "?";
}

int cvm_status_from_name(const char *s) {
	for (int i = 0; s && i < ST__COUNT; i++)
		if (strcmp(s, status_names[i]) == 0) return i;
	return -1;
}

static const char *const cert_status_names[] = {
	[CERT_VALID] = "valid",
	[CERT_REVOKED] = "revoked",
	[CERT_SUPERSEDED] = "superseded",
};

const char *cert_status_name(cert_status_t s) {
	return (unsigned)s < ARRAY_SIZE(cert_status_names) ? cert_status_names[s] : "?";
}

int cert_status_from_name(const char *s) {
	for (size_t i = 0; s && i < ARRAY_SIZE(cert_status_names); i++)
		if (strcmp(s, cert_status_names[i]) == 0) return (int)i;
	return -1;
}

void cvm_record_free(cvm_record_t *r) {
	if (!r) return;
	free(r->name);
	free(r->scope);
	free(r->flavor);
	free(r->provider);
	free(r->placement);
	free(r->url);
	free(r->spec_hash);
	free(r->spec_json);
	free(r->attempt);
	free(r->last_error);
	free(r->handle);
	memset(r, 0, sizeof *r);
}

void cvm_records_free(cvm_record_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) cvm_record_free(&v[i]);
	free(v);
}

void cvm_record_copy(cvm_record_t *dst, const cvm_record_t *src) {
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->scope = xstrdup(src->scope);
	dst->flavor = xstrdup(src->flavor);
	dst->provider = xstrdup(src->provider);
	dst->placement = xstrdup(src->placement);
	dst->url = xstrdup(src->url);
	dst->spec_hash = xstrdup(src->spec_hash);
	dst->spec_json = xstrdup(src->spec_json);
	dst->attempt = xstrdup(src->attempt);
	dst->last_error = xstrdup(src->last_error);
	dst->handle = xstrdup(src->handle);
}

void cvm_events_free(cvm_event_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].kind);
		free(v[i].message);
	}
	free(v);
}

void cert_record_free(cert_record_t *c) {
	if (!c) return;
	free(c->serial);
	free(c->cert_pem);
	free(c->key_path);
	memset(c, 0, sizeof *c);
}

void cert_records_free(cert_record_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) cert_record_free(&v[i]);
	free(v);
}

const char *cond_status_name(cond_status_t s) {
	return s == COND_TRUE ? "True" : s == COND_FALSE ? "False" : "Unknown";
}

void cvm_conditions_free(cvm_condition_t *v, size_t n) {
	for (size_t i = 0; i < n; i++) {
		free(v[i].type);
		free(v[i].reason);
		free(v[i].message);
		free(v[i].spec_hash);
	}
	free(v);
}
