/* The azure backend's insides: Resource Manager over providers/http.h, one
 * provider_t per Provider with its settings, credential, token cache and
 * HTTP client. Internal to providers/azure/.
 *
 *   schema.c   the Provider fields, sizes (size.c: DCasv5)
 *   auth.c     credentials: client secret, certificate, federated token, managed identity
 *   arm.c      URLs, authorised requests, error messages, throttling
 *   bodies.c   the PUT bodies of every resource type (the golden files render them)
 *   tags.c     our ownership tags and resource names
 *   observe.c  the paged lists of VMs, public IPs and NICs of the resource group
 *   op.c       operations: chains of PUTs and DELETEs advanced by polling
 *   ops.c      the provider_ops_t vtable */
#ifndef CVM_AZURE_H
#define CVM_AZURE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/token.h"

#define AZ_API_COMPUTE "2024-11-01"
#define AZ_API_NETWORK "2024-10-01"
#define AZ_API_DISK "2024-03-02"
#define AZ_API_IMDS_TOKEN "2018-02-01"

typedef enum az_cred_kind {
	AZ_CRED_SECRET_FILE,
	AZ_CRED_SECRET_ENV,
	AZ_CRED_CERT,
	AZ_CRED_FEDERATED,
	AZ_CRED_MANAGED,
} az_cred_kind_t;

typedef struct az_cred {
	az_cred_kind_t kind;
	char *path;   /* secret, certificate or federated token file */
	char *env;    /* clientSecretEnv */
	char *secret; /* the client secret, read at open (wiped on free) */
	EVP_PKEY *key;
	char *x5t; /* base64url SHA-1 thumbprint of the certificate */
} az_cred_t;

/* The kinds of per-CVM resource, in create order; deletes go backwards. */
typedef enum az_kind {
	AZ_NSG,
	AZ_PIP,
	AZ_NIC,
	AZ_VM,
	AZ_DISK,
	AZ_N_KINDS,
} az_kind_t;

struct provider {
	char *name;
	char *sub, *rg, *location, *tenant, *client_id;
	char *authority, *arm, *audience, *imds;
	char *image_publisher, *image_offer, *image_sku, *image_version;
	char *vnet, *subnet;
	bool public_ip;
	char **cidrs;
	size_t n_cidrs;
	char *encryption, *des_id;
	char *admin, *ssh_key;

	az_cred_t cred;
	token_cache_t tok;
	http_client_t *http;
	uint64_t rng;
	bool net_ready; /* the vnet and subnet are known to exist this process */
};

/* ---- settings (ops.c) ---- */

int az_settings_parse(provider_t *p, const char *name, const json_t *s, char **err);
void az_settings_free(provider_t *p);

/* ---- credentials (auth.c) ---- */

/* Reads the credential named by the settings (files are checked for mode
 * and owner; the federated token is re-read for every token). */
int az_cred_load(provider_t *p, const json_t *s, char **err);
void az_cred_free(az_cred_t *c);
/* The RS256 client assertion (x5t header) for the token URL aud. */
char *az_client_assertion(const az_cred_t *c, const char *client_id, const char *aud, int64_t now_s, char **err);
/* A valid access token in p->tok (fetched when due). Blocking. */
const char *az_token(provider_t *p, char **err);

/* ---- requests (arm.c) ---- */

/* arm + the formatted path (the path starts with '/'). */
char *az_url(const provider_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The URL of a resource of the resource group: .../providers/{type}/{name}?api-version=V. */
char *az_resource_url(const provider_t *p, az_kind_t k, const char *name);
/* The ARM id (no host, no query) of a resource of the resource group. */
char *az_resource_id(const provider_t *p, az_kind_t k, const char *name);
/* Whether url is on the configured ARM host (scheme, host and port): only
 * there does a nextLink or an operation URL get the token. */
bool az_url_ours(const provider_t *p, const char *url);
/* An authorised request, submitted. extra: one more header or NULL. */
http_req_t *az_submit(provider_t *p, const char *method, const char *url, const char *body, const char *extra,
                      char **err);
/* Sends and waits (a 401 retried once with a new token, a 429 waited
 * out a few times); the HTTP status, or a negative errno with *err. */
long az_call(provider_t *p, const char *method, const char *url, const char *body, json_t **resp, char **err);
/* error.code, or "". */
const char *az_error_code(const json_t *body);
/* "provider P: what: METHOD URL: 409 Code: message", scrubbed. */
char *az_error_message(const provider_t *p, const char *what, const http_req_t *r);
/* 429, 5xx, Compute's 409 OperationNotAllowed/TooManyRequests, Conflict,
 * AnotherOperationInProgress, RetryableError*. */
bool az_throttled(long status, const json_t *body);
int az_again_ms(provider_t *p, const http_req_t *r, int n);

/* ---- names and tags (tags.c) ---- */

#define AZ_BASE_MAX 64
/* The base of a CVM's resource names: "{name}-{8 hex of id and attempt}". */
void az_base_name(const char *name, const char *id, const char *attempt, char out[AZ_BASE_MAX]);
/* The name of resource k of base ("base-nsg", "base" for the VM). */
char *az_kind_name(az_kind_t k, const char *base);
json_t *az_tags(const cvm_desired_t *w, char **err);
/* Whether tags say managed-by cvmctl and cvmctl-id id (names compared
 * case-insensitively: Azure's tag names are). */
bool az_tags_ours(const json_t *tags, const char *id);
const char *az_tag(const json_t *tags, const char *k);
/* Our markers from a VM's tags into o; false when not ours. */
bool az_tags_read(const json_t *tags, observed_t *o, int *port);

/* ---- bodies (bodies.c) ---- */

json_t *az_vnet_body(const provider_t *p);
json_t *az_subnet_body(const provider_t *p);
json_t *az_nsg_body(const provider_t *p, const cvm_desired_t *w, const json_t *tags);
json_t *az_pip_body(const provider_t *p, const json_t *tags);
json_t *az_nic_body(const provider_t *p, const char *base, const json_t *tags);
json_t *az_vm_body(const provider_t *p, const cvm_desired_t *w, const char *base, const json_t *tags, char **err);
/* The base64 delivery document (userData) of w. */
char *az_user_data(const cvm_desired_t *w, char **err);

/* ---- observe (observe.c) ---- */

int az_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err);

/* ---- operations (op.c) ---- */

int az_op_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call);
int az_op_remove(provider_t *p, const prov_target_t *t, prov_call_t *call);
int az_op_start(provider_t *p, const prov_target_t *t, prov_call_t *call);
int az_op_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call);
int az_op_poll(provider_t *p, prov_op_t *op, prov_call_t *call);
void az_op_free(prov_op_t *op);

#endif
