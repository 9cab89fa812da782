/* The gcp backend's insides: Compute Engine v1 over providers/http.h, one
 * provider_t per Provider with its settings, credentials, token cache and
 * HTTP client. Internal to providers/gcp/.
 *
 *   schema.c   the Provider fields, sizes (size.c: N2D machine types)
 *   auth.c     credentials: service-account JWT, external_account, metadata
 *   compute.c  URLs, authorised requests, error messages, request bodies
 *   labels.c   our ownership labels within GCP's label rules
 *   observe.c  the filtered, paged list of every zone that matters
 *   op.c       operations: each a chain of requests and zone-operation polls
 *   ops.c      the provider_ops_t vtable */
#ifndef CVM_GCP_H
#define CVM_GCP_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/token.h"

#define GCP_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define GCP_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GCP_METADATA_HOST "metadata.google.internal"
/* The network tag of instances the agent firewall rule opens to. */
#define GCP_AGENT_TAG "cvmctl-agent"

typedef enum gcp_cred_kind {
	GCP_CRED_SERVICE_ACCOUNT,
	GCP_CRED_EXTERNAL,
	GCP_CRED_METADATA,
} gcp_cred_kind_t;

typedef struct gcp_cred {
	gcp_cred_kind_t kind;
	char *path; /* the credentials file (NULL: metadata) */
	/* service_account */
	char *client_email, *key_id, *token_uri;
	EVP_PKEY *key;
	/* external_account: an STS token exchange of a file-sourced subject
	 * token, then optionally a service-account impersonation */
	char *audience, *subject_token_type, *sts_url, *subject_file, *subject_field, *impersonation_url;
} gcp_cred_t;

struct provider {
	char *name;
	char *project, *endpoint, *token_uri; /* token_uri: the tokenURI override, or NULL */
	char **zones;                         /* where CVMs are placed: zones, else zone */
	size_t n_zones;
	char *image;
	int disk_gb;
	char *network, *subnetwork;
	bool external_ip;
	char **tags;
	size_t n_tags;
	bool firewall;
	char **ranges;
	size_t n_ranges;
	int firewall_port; /* the agent port whose rule exists (0: none yet) */

	gcp_cred_t cred;
	token_cache_t tok;
	http_client_t *http;
	const clock_src_t *clock;
	uint64_t rng;

	/* what observe learnt */
	char *source_image; /* the image checked SEV_SNP_CAPABLE, as insert's sourceImage */
	char *image_err;    /* why the image cannot be used, or NULL */
	char **unknown;     /* zones that could not be observed */
	size_t n_unknown;
};

/* ---- settings (ops.c) ---- */

/* Fills p's settings from a Provider's checked settings (no I/O). */
int gcp_settings_parse(provider_t *p, const char *name, const json_t *s, char **err);
void gcp_settings_free(provider_t *p);

/* ---- credentials (auth.c) ---- */

/* Reads and checks a credentials file: a regular file owned by us, mode
 * 0600 or 0400, a service_account or external_account JSON. */
int gcp_cred_load(const char *path, gcp_cred_t *c, char **err);
void gcp_cred_free(gcp_cred_t *c);
/* The RS256-signed JWT-bearer assertion for the token endpoint aud. */
char *gcp_jwt(const gcp_cred_t *c, const char *aud, const char *scope, int64_t now_s, char **err);
/* A valid access token in p->tok (fetched if due). Blocking, within the
 * client's timeouts. */
const char *gcp_token(provider_t *p, char **err);

/* ---- requests (compute.c) ---- */

/* endpoint + "/" + the formatted path. */
char *gcp_url(const provider_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An authorised Compute request, submitted (NULL with *err when no token
 * can be had). body: JSON text or NULL. */
http_req_t *gcp_submit(provider_t *p, const char *method, const char *url, const char *body, char **err);
/* Sends and waits; *resp is the parsed body (NULL when not JSON). Returns
 * the HTTP status (a 401 is retried once with a new token), or a negative
 * errno with *err on a transport failure. */
long gcp_call(provider_t *p, const char *method, const char *url, const char *body, json_t **resp, char **err);
/* The error's reason (errors[0].reason, else status), or "". */
const char *gcp_error_reason(const json_t *body);
/* "GET URL: 404 notFound: the message", scrubbed of secrets. */
char *gcp_error_message(const provider_t *p, const char *what, const http_req_t *r);
/* Whether a response means "throttled, try later": 429, 5xx, 403
 * rateLimitExceeded / userRateLimitExceeded / CONCURRENT_OPERATIONS. */
bool gcp_throttled(long status, const json_t *body);
/* How long to wait after the n-th throttled attempt of r. */
int gcp_again_ms(provider_t *p, const http_req_t *r, int n);

/* The mutating requests' URLs (op.c sends them; the golden files show
 * them). */
char *gcp_insert_url(const provider_t *p, const char *zone, const char *request_id);
char *gcp_delete_url(const provider_t *p, const char *zone, const char *name, const char *request_id);
char *gcp_instance_url(const provider_t *p, const char *zone, const char *name, const char *verb);
/* The instances.insert body (the golden files render it too). */
json_t *gcp_insert_body(const provider_t *p, const cvm_desired_t *want, const char *source_image, char **err);
/* The metadata keys cvmctl owns on an instance, as key -> value: the
 * delivery document (cvmctl-delivery), and the full spec hash and scope
 * (cvmctl-spec-hash, cvmctl-scope) that the labels can only hold shortened
 * or encoded. NULL with *err when the delivery cannot be rendered. */
json_t *gcp_markers(const cvm_desired_t *want, char **err);
/* The setMetadata body: cur's items with every key of set replaced in its
 * place (every other key kept), set's new keys appended, and cur's
 * fingerprint. */
json_t *gcp_metadata_body(const json_t *cur, const json_t *set);
/* The value of metadata key k in a Metadata object, or NULL. */
const char *gcp_metadata_get(const json_t *md, const char *k);
/* A stable requestId for deleting instance id made by attempt: a retried
 * delete (even in a later pass) sends the same one. */
void gcp_delete_request_id(const char *id, const char *attempt, char out[37]);
/* The same derivation for another purpose ("insert", "delete"). */
void gcp_request_id(const char *purpose, const char *id, const char *attempt, char out[37]);
/* The agent firewall rule (agentFirewall: true), made once per provider and
 * port; blocking. */
int gcp_ensure_firewall(provider_t *p, int port, char **err);
/* images.get / getFromFamily of p->image, checked SEV_SNP_CAPABLE. */
int gcp_check_image(provider_t *p, char **err);

/* ---- labels (labels.c) ---- */

#define GCP_SPEC_HASH_LEN 32 /* label values hold 63 characters; a hash is shortened */

json_t *gcp_labels(const cvm_desired_t *want, char **err);
/* The label value a scope gets (lowercase, [a-z0-9_-], 63 characters). */
char *gcp_label_value(const char *s);
/* Reads our markers from an instance's labels into o; false when the
 * instance is not cvmctl's. known (n) lets a shortened hash or an encoded
 * scope be read back as the recorded one. */
bool gcp_labels_read(const json_t *labels, const json_t *metadata, const observed_t *known, size_t n, observed_t *o,
                     int *port);

/* ---- observe (observe.c) ---- */

int gcp_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err);
/* An instance resource as observed_t; false when not ours. */
bool gcp_instance_observed(const provider_t *p, const json_t *inst, const char *zone, const observed_t *known,
                           size_t n, observed_t *o);

/* ---- operations (op.c) ---- */

int gcp_op_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call);
int gcp_op_remove(provider_t *p, const prov_target_t *t, prov_call_t *call);
int gcp_op_start(provider_t *p, const prov_target_t *t, prov_call_t *call);
int gcp_op_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call);
int gcp_op_poll(provider_t *p, prov_op_t *op, prov_call_t *call);
void gcp_op_free(prov_op_t *op);

#endif
