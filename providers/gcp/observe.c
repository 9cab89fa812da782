/* What exists: one filtered, paged instances.list per zone that matters
 * (reference/cloud-apis.md A7), the configured zones and every zone a
 * record places a CVM in, so a converged pass costs a page or so per zone,
 * not a call per CVM. The label filter is checked again here: a server that
 * ignored it must not make a foreign instance look like ours. A zone whose
 * list fails on any page is Unknown (never "empty"), and what its earlier
 * pages said is dropped with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/gcp/gcp.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

#define LABEL_FILTER "labels.managed-by = \"cvmctl\""
#define PAGE_SIZE 500 /* the API's maximum */

/* Test builds take CVMCTL_GCP_PAGE_SIZE, so that a test needs a handful of
 * instances, not hundreds, to reach a second page. */
static int page_size(void) {
#ifdef CVM_TEST_HOOKS
	const char *e = getenv("CVMCTL_GCP_PAGE_SIZE");
	if (e && atoi(e) > 0 && atoi(e) <= PAGE_SIZE) return atoi(e);
#endif
	return PAGE_SIZE;
}

static res_state_t state_of(const char *s) {
	if (!s) return RES_OTHER;
	if (!strcmp(s, "RUNNING")) return RES_RUNNING;
	if (!strcmp(s, "TERMINATED") || !strcmp(s, "STOPPED")) return RES_STOPPED;
	if (!strcmp(s, "SUSPENDED")) return RES_PAUSED;
	/* PROVISIONING, STAGING, STOPPING, REPAIRING, ... and values newer than
	 * this code: transitional (A6). */
	return RES_PENDING;
}

/* The last path segment of a URL or partial URL. */
static const char *last_segment(const char *s) {
	const char *l = s ? strrchr(s, '/') : NULL;
	return l ? l + 1 : s;
}

/* "n2d-standard-8" -> 8, 32; "n2d-custom-8-24576" -> 8, 24. */
static void size_of(const char *mt, int *vcpus, int *gib) {
	int v = 0, m = 0;
	char kind[16];
	*vcpus = *gib = 0;
	if (!mt) return;
	if (sscanf(mt, "n2d-custom-%d-%d", &v, &m) == 2) {
		*vcpus = v;
		*gib = m / 1024;
	} else if (sscanf(mt, "n2d-%15[a-z]-%d", kind, &v) == 2) {
		int per = !strcmp(kind, "standard") ? 4 : !strcmp(kind, "highmem") ? 8 : !strcmp(kind, "highcpu") ? 1 : 0;
		if (per) {
			*vcpus = v;
			*gib = per * v;
		}
	}
}

bool gcp_instance_observed(const provider_t *p, const json_t *inst, const char *zone, const observed_t *known,
                           size_t n, observed_t *o) {
	memset(o, 0, sizeof *o);
	int port = 0;
	const char *name = json_string_value(json_object_get(inst, "name"));
	if (!name || !gcp_labels_read(json_object_get(inst, "labels"), json_object_get(inst, "metadata"), known, n, o, &port)) {
		observed_free(o);
		return false;
	}
	o->name = xstrdup(name);
	o->placement = xstrdup(zone);
	o->handle = xasprintf("projects/%s/zones/%s/instances/%s", p->project, zone, name);
	o->state = state_of(json_string_value(json_object_get(inst, "status")));
	size_of(last_segment(json_string_value(json_object_get(inst, "machineType"))), &o->vcpus, &o->memory_gib);
	const json_t *nic = json_array_get(json_object_get(inst, "networkInterfaces"), 0);
	const char *nat = json_string_value(json_object_get(json_array_get(json_object_get(nic, "accessConfigs"), 0), "natIP"));
	const char *ip = nat && *nat ? nat : json_string_value(json_object_get(nic, "networkIP"));
	if (o->state == RES_RUNNING && ip && *ip && port > 0) o->url = xasprintf("%s:%d", ip, port);
	return true;
}

static void add_unknown(observation_t *o, const char *zone, char *why) {
	o->unknown = xrealloc(o->unknown, (o->n_unknown + 1) * sizeof *o->unknown);
	o->unknown[o->n_unknown].placement = xstrdup(zone);
	o->unknown[o->n_unknown].why = why;
	o->n_unknown++;
}

static void add_zone(char ***v, size_t *n, const char *z) {
	if (!z || !*z) return;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], z)) return;
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = xstrdup(z);
}

/* Every page of one zone into out; on failure nothing of the zone is kept
 * and *why says what failed. */
static int list_zone(provider_t *p, const char *zone, const observed_t *known, size_t n_known, observation_t *out,
                     char **why) {
	size_t first = out->n;
	_cleanup_free_ char *filter = http_escape(LABEL_FILTER);
	_cleanup_free_ char *page = NULL;
	for (int pages = 0;; pages++) {
		_cleanup_free_ char *tok = page ? http_escape(page) : NULL;
		_cleanup_free_ char *url = gcp_url(p, "projects/%s/zones/%s/instances?filter=%s&maxResults=%d%s%s", p->project,
		                                   zone, filter, page_size(), tok ? "&pageToken=" : "", tok ? tok : "");
		_cleanup_json_ json_t *resp = NULL;
		char *err = NULL;
		long st = gcp_call(p, "GET", url, NULL, &resp, &err);
		if (st != 200 || !json_is_object(resp)) {
			*why = err ? xasprintf("%s (page %d of the list)", err, pages + 1)
			           : xasprintf("provider %s: page %d of the list of zone %s is not JSON", p->name, pages + 1, zone);
			free(err);
			goto fail;
		}
		free(err);
		size_t i;
		json_t *inst;
		json_array_foreach(json_object_get(resp, "items"), i, inst) {
			observed_t o;
			if (!gcp_instance_observed(p, inst, zone, known, n_known, &o)) continue;
			out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
			out->v[out->n++] = o;
		}
		const char *next = json_string_value(json_object_get(resp, "nextPageToken"));
		free(page);
		page = next && *next ? xstrdup(next) : NULL;
		if (!page) return 0;
		if (pages > 10000) {
			*why = xasprintf("provider %s: the list of zone %s did not end after %d pages", p->name, zone, pages);
			goto fail;
		}
	}
fail:
	for (size_t i = first; i < out->n; i++) observed_free(&out->v[i]);
	out->n = first;
	return -EIO;
}

int gcp_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err) {
	/* No token, no observation: every CVM of the provider is Unknown. */
	if (!gcp_token(p, err)) return -EACCES;
	_cleanup_free_ char *ierr = NULL;
	if (gcp_check_image(p, &ierr) < 0) log_warn("provider %s: %s; creates will fail", p->name, ierr);

	char **zones = NULL;
	size_t nz = 0;
	for (size_t i = 0; i < p->n_zones; i++) add_zone(&zones, &nz, p->zones[i]);
	for (size_t i = 0; i < n_known; i++) add_zone(&zones, &nz, known[i].placement);
	for (size_t i = 0; i < p->n_unknown; i++) free(p->unknown[i]);
	p->n_unknown = 0;
	for (size_t i = 0; i < nz; i++) {
		char *why = NULL;
		if (list_zone(p, zones[i], known, n_known, out, &why) < 0) {
			p->unknown = xrealloc(p->unknown, (p->n_unknown + 1) * sizeof *p->unknown);
			p->unknown[p->n_unknown++] = xstrdup(zones[i]);
			add_unknown(out, zones[i], why);
		}
		free(zones[i]);
	}
	free(zones);
	/* Not one zone answered: the provider is Unknown as a whole. */
	if (nz && out->n_unknown == nz) out->all_unknown = true;
	return 0;
}
