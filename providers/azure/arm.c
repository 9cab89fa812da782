/* Resource Manager requests (reference/cloud-apis.md B3, B8-B10, B13): URLs
 * built from the configured endpoint, subscription and resource group; the
 * token sent only to that endpoint's host (a nextLink or an operation URL
 * naming another host is not followed); error messages scrubbed of secrets;
 * throttling told apart from failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/azure/azure.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

char *az_url(const provider_t *p, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *path = NULL;
	if (vasprintf(&path, fmt, ap) < 0) path = NULL;
	va_end(ap);
	if (!path) abort();
	return xasprintf("%s%s", p->arm, path);
}

static const char *type_of(az_kind_t k) {
	switch (k) {
	case AZ_NSG: return "Microsoft.Network/networkSecurityGroups";
	case AZ_PIP: return "Microsoft.Network/publicIPAddresses";
	case AZ_NIC: return "Microsoft.Network/networkInterfaces";
	case AZ_DISK: return "Microsoft.Compute/disks";
	default: return "Microsoft.Compute/virtualMachines";
	}
}

static const char *api_of(az_kind_t k) {
	return k == AZ_VM ? AZ_API_COMPUTE : k == AZ_DISK ? AZ_API_DISK : AZ_API_NETWORK;
}

char *az_resource_id(const provider_t *p, az_kind_t k, const char *name) {
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", p->sub, p->rg, type_of(k), name);
}

char *az_resource_url(const provider_t *p, az_kind_t k, const char *name) {
	_cleanup_free_ char *id = az_resource_id(p, k, name);
	return az_url(p, "%s?api-version=%s", id, api_of(k));
}

/* The scheme://host[:port] part of a URL (lower-cased), or NULL. */
static char *origin(const char *url) {
	const char *s = url ? strstr(url, "://") : NULL;
	if (!s) return NULL;
	const char *e = s + 3 + strcspn(s + 3, "/?#");
	char *o = xasprintf("%.*s", (int)(e - url), url);
	for (char *c = o; *c; c++)
		if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
	return o;
}

bool az_url_ours(const provider_t *p, const char *url) {
	_cleanup_free_ char *a = origin(p->arm), *b = origin(url);
	if (!a || !b) return false;
	/* https://host and https://host:443 are the same place. */
	size_t al = strlen(a);
	if (al > 4 && !strcmp(a + al - 4, ":443")) a[al - 4] = 0;
	size_t bl = strlen(b);
	if (bl > 4 && !strcmp(b + bl - 4, ":443")) b[bl - 4] = 0;
	return strcmp(a, b) == 0;
}

http_req_t *az_submit(provider_t *p, const char *method, const char *url, const char *body, const char *extra,
                      char **err) {
	if (!az_url_ours(p, url)) {
		*err = xasprintf("provider %s: Resource Manager sent us to %s, which is not the configured endpoint %s; the "
		                 "token is not sent there",
		                 p->name, url, p->arm);
		return NULL;
	}
	const char *tok = az_token(p, err);
	if (!tok) return NULL;
	char *auth = xasprintf("Authorization: Bearer %s", tok);
	const char *const h[] = {auth, "Accept: application/json", body ? "Content-Type: application/json" : extra,
	                         body ? extra : NULL, NULL};
	http_req_t *r = http_submit(p->http, method, url, h, body, body ? strlen(body) : 0);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return r;
}

#define CALL_MAX_THROTTLED 3
#define CALL_MAX_WAIT_MS 5000

long az_call(provider_t *p, const char *method, const char *url, const char *body, json_t **resp, char **err) {
	*resp = NULL;
	bool reauth = false;
	for (int throttled = 0;;) {
		http_req_t *r = az_submit(p, method, url, body, NULL, err);
		if (!r) return -EACCES;
		http_wait(p->http, r);
		long st = http_status(r);
		size_t len;
		const char *text = http_body(r, &len);
		json_t *j = st ? json_loadb(text, len, 0, NULL) : NULL;
		if (st == 401 && !reauth) {
			reauth = true;
			token_clear(&p->tok);
			json_decref(j);
			http_req_free(r);
			continue;
		}
		if ((st == 429 || st == 409) && az_throttled(st, j) && throttled < CALL_MAX_THROTTLED) {
			int ms = az_again_ms(p, r, throttled++);
			if (ms > CALL_MAX_WAIT_MS) ms = CALL_MAX_WAIT_MS;
			json_decref(j);
			http_req_free(r);
			struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (!st) {
			*err = az_error_message(p, NULL, r);
			http_req_free(r);
			return -EHOSTUNREACH;
		}
		*resp = j;
		if (st >= 300) *err = az_error_message(p, NULL, r);
		http_req_free(r);
		return st;
	}
}

const char *az_error_code(const json_t *body) {
	const char *c = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
	return c ? c : "";
}

char *az_error_message(const provider_t *p, const char *what, const http_req_t *r) {
	const char *const secrets[] = {p->tok.token, p->cred.secret, NULL};
	_cleanup_free_ char *url = xstrdup(http_url(r));
	char *q = strstr(url, "$skiptoken=");
	if (q) *q = 0;
	size_t len;
	const char *text = http_body(r, &len);
	_cleanup_json_ json_t *j = http_status(r) ? json_loadb(text, len, 0, NULL) : NULL;
	return http_error_sentence(p->name, what, r, url, az_error_code(j), secrets);
}

bool az_throttled(long st, const json_t *body) {
	if (st == 501) return false;
	if (http_status_retryable(st) || st >= 500) return true;
	const char *code = az_error_code(body);
	if (st == 409) {
		if (!strcmp(code, "Conflict") || !strcmp(code, "RetryableError") ||
		    !strncmp(code, "RetryableErrorDueTo", 19) || !strcmp(code, "AnotherOperationInProgress"))
			return true;
		if (!strcmp(code, "OperationNotAllowed")) {
			/* Compute's throttling form (B10); a quota error is not retried. */
			size_t i;
			json_t *d;
			json_array_foreach(json_object_get(json_object_get(body, "error"), "details"), i, d)
				if (streq(json_string_value(json_object_get(d, "code")), "TooManyRequests")) return true;
			const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
			return m && (strstr(m, "too many requests") || strstr(m, "another operation"));
		}
	}
	if (st == 400) return !strcmp(code, "RetryableError") || !strcmp(code, "ReferencedResourceNotProvisioned");
	return false;
}

int az_again_ms(provider_t *p, const http_req_t *r, int n) {
	int ra = r ? http_retry_after_ms(r) : -1;
	return ra >= 0 ? (ra > 0 ? ra : 1) : http_backoff_ms(n, 1000, 30000, &p->rng);
}
