/* The gcp backend's vtable: open reads the Provider's settings and its
 * credentials (a missing, open-to-others or malformed file fails here, so
 * the provider's CVMs are Unknown with that sentence), observe lists, place
 * spreads over the zones, and create/remove/start/update submit operations
 * (op.c) that the engine polls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/gcp/gcp.h"
#include "providers/gcp/size.h"
#include "providers/provider.h"

static const json_t *setting(const json_t *s, const char *k) {
	const json_t *v = json_object_get(s, k);
	return v ? v : gcp_default(k);
}

static char *str_setting(const json_t *s, const char *k) {
	return xstrdup(json_string_value(setting(s, k)));
}

static void strings(const json_t *s, const char *k, char ***v, size_t *n) {
	const json_t *a = setting(s, k);
	*v = xcalloc(json_array_size(a) + 1, sizeof **v);
	*n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) if (json_is_string(x)) (*v)[(*n)++] = xstrdup(json_string_value(x));
}

static void strv_free(char **v, size_t n) {
	for (size_t i = 0; i < n; i++) free(v[i]);
	free(v);
}

int gcp_settings_parse(provider_t *p, const char *name, const json_t *s, char **err) {
	p->name = xstrdup(name);
	p->project = str_setting(s, "project");
	p->endpoint = str_setting(s, "endpoint");
	size_t n = p->endpoint ? strlen(p->endpoint) : 0;
	while (n && p->endpoint[n - 1] == '/') p->endpoint[--n] = 0;
	p->token_uri = str_setting(s, "tokenURI");
	strings(s, "zones", &p->zones, &p->n_zones);
	if (!p->n_zones) {
		const char *z = json_string_value(setting(s, "zone"));
		if (z) p->zones[p->n_zones++] = xstrdup(z);
	}
	p->image = str_setting(s, "image");
	p->disk_gb = (int)json_integer_value(setting(s, "diskSizeGb"));
	p->network = str_setting(s, "network");
	p->subnetwork = str_setting(s, "subnetwork");
	p->external_ip = json_is_true(setting(s, "externalIP"));
	strings(s, "networkTags", &p->tags, &p->n_tags);
	p->firewall = json_is_true(setting(s, "agentFirewall"));
	strings(s, "agentSourceRanges", &p->ranges, &p->n_ranges);
	p->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL + (uintptr_t)p;
	if (!p->project || !p->endpoint || !p->n_zones || !p->image || !p->network) {
		*err = xasprintf("provider %s: project, zone, endpoint, image and network are required", name);
		return -EINVAL;
	}
	return 0;
}

void gcp_settings_free(provider_t *p) {
	free(p->name);
	free(p->project);
	free(p->endpoint);
	free(p->token_uri);
	strv_free(p->zones, p->n_zones);
	free(p->image);
	free(p->network);
	free(p->subnetwork);
	strv_free(p->tags, p->n_tags);
	strv_free(p->ranges, p->n_ranges);
}

static void gcp_close(provider_t *p) {
	if (!p) return;
	gcp_settings_free(p);
	gcp_cred_free(&p->cred);
	token_clear(&p->tok);
	http_client_free(p->http);
	free(p->source_image);
	free(p->image_err);
	strv_free(p->unknown, p->n_unknown);
	free(p);
}

static int gcp_open(const provider_config_t *cfg, provider_t **out, char **err) {
	provider_t *p = xcalloc(1, sizeof *p);
	const json_t *s = cfg->settings;
	_cleanup_free_ char *e = NULL; /* before the first goto */
	int r = gcp_settings_parse(p, cfg->name, s, err);
	if (r < 0) goto fail;
	const char *file = json_string_value(json_object_get(s, "credentialsFile"));
	if (file) {
		r = gcp_cred_load(file, &p->cred, &e);
		if (r < 0) {
			*err = xasprintf("provider %s: %s", cfg->name, e);
			goto fail;
		}
	} else {
		p->cred.kind = GCP_CRED_METADATA;
	}
	int ct = (int)json_integer_value(setting(s, "connectTimeout"));
	int tt = (int)json_integer_value(setting(s, "callTimeout"));
	const char *ca = json_string_value(json_object_get(s, "caBundleFile"));
	http_opts_t o = {.ca_file = ca, .connect_timeout_ms = ct * 1000, .timeout_ms = tt * 1000};
	r = http_client_new(&o, &p->http, &e);
	if (r < 0) {
		*err = xasprintf("provider %s: %s", cfg->name, e);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	gcp_close(p);
	return r;
}

static bool zone_unknown(const provider_t *p, const char *z) {
	for (size_t i = 0; i < p->n_unknown; i++)
		if (!strcmp(p->unknown[i], z)) return true;
	return false;
}

/* The zone with the fewest vCPUs cvmctl placed there, in the order the
 * Provider lists them; zones that did not answer are never chosen. */
static int gcp_place(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
                     char **placement, char **err) {
	const char *best = NULL;
	long best_use = 0;
	for (size_t i = 0; i < p->n_zones; i++) {
		const char *z = p->zones[i];
		if (zone_unknown(p, z)) continue;
		long use = 0;
		for (size_t k = 0; k < n_used; k++)
			if (used[k].placement && !strcmp(used[k].placement, z)) use += used[k].vcpus;
		if (!best || use < best_use) best = z, best_use = use;
	}
	if (!best) {
		*err = xasprintf("provider %s: no zone of %s can be observed this pass; %s is not placed", p->name,
		                 p->n_zones == 1 ? p->zones[0] : "the provider", want->name);
		return -EHOSTUNREACH;
	}
	*placement = xstrdup(best);
	return 0;
}

const provider_ops_t gcp_provider_ops = {
	.flavor = "gcp",
	.open = gcp_open,
	.close = gcp_close,
	.observe = gcp_observe,
	.place = gcp_place,
	.create = gcp_op_create,
	.poll = gcp_op_poll,
	.op_free = gcp_op_free,
	.remove = gcp_op_remove,
	.start = gcp_op_start,
	.update = gcp_op_update,
};
