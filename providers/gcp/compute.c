/* Compute Engine v1 requests (reference/cloud-apis.md A4-A9): URLs built
 * from the configured base, project, zone and name (never from a selfLink,
 * which names www.googleapis.com), authorised calls, error messages scrubbed
 * of secrets, and the request bodies, rendered here alone so that the
 * golden files show exactly what is sent. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/cloudinit.h"
#include "providers/gcp/gcp.h"
#include "providers/gcp/size.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

char *gcp_url(const provider_t *p, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *path = NULL;
	if (vasprintf(&path, fmt, ap) < 0) path = NULL;
	va_end(ap);
	if (!path) abort();
	return xasprintf("%s/%s", p->endpoint, path);
}

http_req_t *gcp_submit(provider_t *p, const char *method, const char *url, const char *body, char **err) {
	const char *tok = gcp_token(p, err);
	if (!tok) return NULL;
	char *auth = xasprintf("Authorization: Bearer %s", tok);
	const char *const h[] = {auth, "Accept: application/json", body ? "Content-Type: application/json" : NULL, NULL};
	http_req_t *r = http_submit(p->http, method, url, h, body, body ? strlen(body) : 0);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return r;
}

#define CALL_MAX_THROTTLED 3
#define CALL_MAX_WAIT_MS 5000

long gcp_call(provider_t *p, const char *method, const char *url, const char *body, json_t **resp, char **err) {
	*resp = NULL;
	bool reauth = false;
	for (int throttled = 0;;) {
		http_req_t *r = gcp_submit(p, method, url, body, err);
		if (!r) return -EACCES;
		http_wait(p->http, r);
		long st = http_status(r);
		if (st == 401 && !reauth) {
			/* Expired or revoked under us: one new token, once. */
			reauth = true;
			token_clear(&p->tok);
			http_req_free(r);
			continue;
		}
		if ((st == 429 || st == 403) && throttled < CALL_MAX_THROTTLED) {
			/* A rate quota, not a fault: wait as told (briefly) and ask
			 * again. A server error is not retried here: a list that
			 * fails leaves its zone Unknown for the pass. */
			size_t blen;
			const char *btext = http_body(r, &blen);
			json_t *b = json_loadb(btext, blen, 0, NULL);
			bool rate = gcp_throttled(st, b);
			json_decref(b);
			if (rate) {
				int ms = gcp_again_ms(p, r, throttled++);
				if (ms > CALL_MAX_WAIT_MS) ms = CALL_MAX_WAIT_MS;
				http_req_free(r);
				struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
				nanosleep(&ts, NULL);
				continue;
			}
		}
		if (!st) {
			*err = gcp_error_message(p, NULL, r);
			http_req_free(r);
			return -EHOSTUNREACH;
		}
		size_t len;
		const char *text = http_body(r, &len);
		*resp = json_loadb(text, len, 0, NULL);
		if (st >= 300) *err = gcp_error_message(p, NULL, r);
		http_req_free(r);
		return st;
	}
}

const char *gcp_error_reason(const json_t *body) {
	const json_t *e = json_object_get(body, "error");
	const char *r = json_string_value(json_object_get(json_array_get(json_object_get(e, "errors"), 0), "reason"));
	if (!r) r = json_string_value(json_object_get(e, "status"));
	return r ? r : "";
}

char *gcp_error_message(const provider_t *p, const char *what, const http_req_t *r) {
	const char *const secrets[] = {p->tok.token, NULL};
	/* The URL is ours (base, project, zone, name, requestId, filter, page
	 * token): only a token that found its way in would be a secret. */
	_cleanup_free_ char *url = xstrdup(http_url(r));
	char *q = strchr(url, '?');
	if (q && (strlen(url) > 300 || strstr(q, "pageToken="))) *q = 0;
	size_t len;
	const char *text = http_body(r, &len);
	_cleanup_json_ json_t *j = http_status(r) ? json_loadb(text, len, 0, NULL) : NULL;
	return http_error_sentence(p->name, what, r, url, gcp_error_reason(j), secrets);
}

bool gcp_throttled(long st, const json_t *body) {
	if (http_status_retryable(st)) return true;
	const char *reason = gcp_error_reason(body);
	const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	if (st == 403)
		return !strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "userRateLimitExceeded") ||
		       (msg && (strstr(msg, "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED") || strstr(msg, "per minute")));
	if (st == 409) return msg && strstr(msg, "operationInProgress");
	if (st == 400) return !strcmp(reason, "resourceNotReady");
	return false;
}

int gcp_again_ms(provider_t *p, const http_req_t *r, int n) {
	int ra = r ? http_retry_after_ms(r) : -1;
	return ra >= 0 ? (ra > 0 ? ra : 1) : http_backoff_ms(n, 1000, 30000, &p->rng);
}

char *gcp_insert_url(const provider_t *p, const char *zone, const char *request_id) {
	return gcp_url(p, "projects/%s/zones/%s/instances?requestId=%s", p->project, zone, request_id);
}

char *gcp_delete_url(const provider_t *p, const char *zone, const char *name, const char *request_id) {
	return gcp_url(p, "projects/%s/zones/%s/instances/%s?requestId=%s", p->project, zone, name, request_id);
}

char *gcp_instance_url(const provider_t *p, const char *zone, const char *name, const char *verb) {
	return gcp_url(p, "projects/%s/zones/%s/instances/%s%s%s", p->project, zone, name, verb ? "/" : "",
	               verb ? verb : "");
}

/* ---- bodies ---- */

static void set_files(cloudinit_params_t *cp, const cvm_desired_t *w) {
	*cp = (cloudinit_params_t){.cloud = CLOUD_GCP, .cvm_id = w->id, .cvm_name = w->name};
	cloudinit_params_set_files(cp, w->files, w->n_files);
	if (!cp->environment) cp->environment = "";
}

json_t *gcp_markers(const cvm_desired_t *w, char **err) {
	cloudinit_params_t cp;
	set_files(&cp, w);
	size_t len;
	_cleanup_free_ char *doc = NULL;
	if (cloudinit_render_delivery(&cp, &doc, &len, err) < 0) return NULL;
	return json_pack("{s:s, s:s, s:s}", CLOUDINIT_GCP_DELIVERY_KEY, doc, "cvmctl-spec-hash",
	                 w->spec_hash ? w->spec_hash : "", "cvmctl-scope", w->scope ? w->scope : "");
}

const char *gcp_metadata_get(const json_t *md, const char *k) {
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(md, "items"), i, it)
		if (streq(json_string_value(json_object_get(it, "key")), k)) return json_string_value(json_object_get(it, "value"));
	return NULL;
}

static json_t *item(const char *k, const char *v) {
	return json_pack("{s:s, s:s}", "key", k, "value", v);
}

json_t *gcp_insert_body(const provider_t *p, const cvm_desired_t *w, const char *source_image, char **err) {
	const char *zone = w->placement;
	_cleanup_free_ char *type = gcp_machine_type(w->vcpus, w->memory_gib);
	if (!type) {
		*err = xasprintf("no N2D machine type has %d vCPUs and %d GiB", w->vcpus, w->memory_gib);
		return NULL;
	}
	cloudinit_params_t cp;
	set_files(&cp, w);
	_cleanup_free_ char *ud = NULL;
	size_t len;
	if (cloudinit_render(&cp, &ud, &len, err) < 0) return NULL;
	_cleanup_json_ json_t *markers = gcp_markers(w, err);
	if (!markers) return NULL;
	_cleanup_json_ json_t *labels = gcp_labels(w, err);
	if (!labels) return NULL;

	char disk_gb[24];
	snprintf(disk_gb, sizeof disk_gb, "%d", p->disk_gb);
	_cleanup_free_ char *mt = xasprintf("zones/%s/machineTypes/%s", zone, type);
	_cleanup_free_ char *dt = xasprintf("zones/%s/diskTypes/pd-balanced", zone);

	json_t *nic = json_pack("{s:s}", "network", p->network);
	if (p->subnetwork) json_object_set_new(nic, "subnetwork", json_string(p->subnetwork));
	if (p->external_ip)
		json_object_set_new(nic, "accessConfigs",
		                    json_pack("[{s:s, s:s, s:s}]", "type", "ONE_TO_ONE_NAT", "name", "External NAT",
		                              "networkTier", "PREMIUM"));

	json_t *b = json_object();
	json_object_set_new(b, "name", json_string(w->name));
	json_object_set_new(b, "machineType", json_string(mt));
	/* SEV-SNP runs on N2D with AMD Milan only (A10). */
	json_object_set_new(b, "minCpuPlatform", json_string("AMD Milan"));
	json_object_set_new(b, "confidentialInstanceConfig", json_pack("{s:s}", "confidentialInstanceType", "SEV_SNP"));
	/* A confidential VM cannot live-migrate: host maintenance stops it,
	 * and the next pass starts it when automaticRestart did not. */
	json_object_set_new(b, "scheduling", json_pack("{s:s, s:b}", "onHostMaintenance", "TERMINATE",
	                                               "automaticRestart", 1));
	json_object_set_new(b, "shieldedInstanceConfig",
	                    json_pack("{s:b, s:b, s:b}", "enableSecureBoot", 1, "enableVtpm", 1,
	                              "enableIntegrityMonitoring", 1));
	json_object_set_new(b, "disks",
	                    json_pack("[{s:b, s:b, s:s, s:s, s:s, s:{s:s, s:s, s:s}}]", "boot", 1, "autoDelete", 1, "type",
	                              "PERSISTENT", "mode", "READ_WRITE", "interface", "NVME", "initializeParams",
	                              "sourceImage", source_image, "diskSizeGb", disk_gb, "diskType", dt));
	json_object_set_new(b, "networkInterfaces", json_pack("[o]", nic));
	json_t *items = json_pack("[o]", item("user-data", ud));
	const char *k;
	json_t *v;
	json_object_foreach(markers, k, v) json_array_append_new(items, item(k, json_string_value(v)));
	json_object_set_new(b, "metadata", json_pack("{s:o}", "items", items));
	json_object_set_new(b, "labels", json_incref(labels));
	if (p->n_tags || p->firewall) {
		json_t *tags = json_array();
		for (size_t i = 0; i < p->n_tags; i++) json_array_append_new(tags, json_string(p->tags[i]));
		if (p->firewall) json_array_append_new(tags, json_string(GCP_AGENT_TAG));
		json_object_set_new(b, "tags", json_pack("{s:o}", "items", tags));
	}
	return b;
}

json_t *gcp_metadata_body(const json_t *cur, const json_t *set) {
	json_t *items = json_array();
	_cleanup_json_ json_t *done = json_object();
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(cur, "items"), i, it) {
		const char *k = json_string_value(json_object_get(it, "key"));
		if (!k) continue;
		const json_t *nv = json_object_get(set, k);
		if (nv) {
			if (json_object_get(done, k)) continue;
			json_array_append_new(items, item(k, json_string_value(nv)));
			json_object_set_new(done, k, json_true());
		} else {
			json_t *v = json_object_get(it, "value");
			json_array_append_new(items, v ? json_pack("{s:s, s:O}", "key", k, "value", v) : item(k, ""));
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)set, k, v) if (!json_object_get(done, k)) json_array_append_new(items, item(k, json_string_value(v)));
	json_t *b = json_object();
	const char *fp = json_string_value(json_object_get(cur, "fingerprint"));
	if (fp) json_object_set_new(b, "fingerprint", json_string(fp));
	json_object_set_new(b, "items", items);
	return b;
}

void gcp_delete_request_id(const char *id, const char *attempt, char out[37]) {
	gcp_request_id("delete", id, attempt, out);
}

void gcp_request_id(const char *purpose, const char *id, const char *attempt, char out[37]) {
	_cleanup_free_ char *in = xasprintf("cvmctl-%s\n%s\n%s", purpose, id, attempt ? attempt : "");
	char h[65];
	sha256_hex(in, strlen(in), h);
	/* A name-based UUID (version 5 layout, RFC 4122 variant). */
	h[12] = '5';
	h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* ---- the project-wide pieces: the firewall rule and the image ---- */

int gcp_ensure_firewall(provider_t *p, int port, char **err) {
	if (!p->firewall || port <= 0 || p->firewall_port == port) return 0;
	char name[40], ports[16];
	snprintf(name, sizeof name, "cvmctl-agent-%d", port);
	snprintf(ports, sizeof ports, "%d", port);
	json_t *ranges = json_array();
	for (size_t i = 0; i < p->n_ranges; i++) json_array_append_new(ranges, json_string(p->ranges[i]));
	if (!p->n_ranges) json_array_append_new(ranges, json_string("0.0.0.0/0"));
	_cleanup_json_ json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:[s]}], s:o, s:[s]}", "name", name,
	                                     "description", "cvmctl: the cocos agent port of CVMs", "network",
	                                     p->network, "direction", "INGRESS", "allowed", "IPProtocol", "tcp", "ports",
	                                     ports, "sourceRanges", ranges, "targetTags", GCP_AGENT_TAG);
	_cleanup_free_ char *body = json_dumps(b, JSON_COMPACT);
	_cleanup_free_ char *url = gcp_url(p, "projects/%s/global/firewalls", p->project);
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *e = NULL;
	long st = gcp_call(p, "POST", url, body, &resp, &e);
	if (st == 200 || (st == 409 && !strcmp(gcp_error_reason(resp), "alreadyExists"))) {
		p->firewall_port = port;
		return 0;
	}
	*err = xasprintf("the agent firewall rule %s: %s", name, e ? e : "failed");
	return st < 0 ? (int)st : -EIO;
}

int gcp_check_image(provider_t *p, char **err) {
	if (p->source_image) return 0;
	if (p->image_err) {
		*err = xstrdup(p->image_err);
		return -EINVAL;
	}
	/* "projects/P/global/images/[family/]X", or "global/images/..." of our
	 * own project. */
	_cleanup_free_ char *path = strncmp(p->image, "projects/", 9) == 0 ? xstrdup(p->image)
	                                                                    : xasprintf("projects/%s/%s", p->project, p->image);
	_cleanup_free_ char *url = gcp_url(p, "%s", path);
	_cleanup_json_ json_t *img = NULL;
	_cleanup_free_ char *e = NULL;
	long st = gcp_call(p, "GET", url, NULL, &img, &e);
	if (st != 200) {
		*err = xasprintf("the image %s cannot be read: %s", p->image, e ? e : "no answer");
		if (st == 404) p->image_err = xstrdup(*err);
		return st < 0 ? (int)st : -EIO;
	}
	bool snp = false;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(img, "guestOsFeatures"), i, f)
		snp |= streq(json_string_value(json_object_get(f, "type")), "SEV_SNP_CAPABLE");
	const char *name = json_string_value(json_object_get(img, "name"));
	if (!snp || !name) {
		p->image_err = xasprintf("the image %s (%s) is not SEV_SNP_CAPABLE: a confidential VM cannot boot it", p->image,
		                         name ? name : "?");
		*err = xstrdup(p->image_err);
		return -EINVAL;
	}
	/* The checked image itself, not its family: a newer image of the
	 * family has not been checked. */
	const char *proj = path + 9;
	const char *slash = strchr(proj, '/');
	p->source_image = xasprintf("projects/%.*s/global/images/%s", (int)(slash ? slash - proj : 0), proj, name);
	return 0;
}
