/* The azure backend's vtable: open reads the Provider's settings and its
 * credential (a missing, open-to-others or malformed file fails here, so
 * the provider's CVMs are Unknown with that sentence), observe lists the
 * resource group, place is the Provider's location, and
 * create/remove/start/update submit operations (op.c) that the engine
 * polls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/azure/azure.h"
#include "providers/azure/size.h"
#include "providers/provider.h"

static const json_t *setting(const json_t *s, const char *k) {
	const json_t *v = json_object_get(s, k);
	return v ? v : azure_default(k);
}

static char *str_setting(const json_t *s, const char *k) {
	return xstrdup(json_string_value(setting(s, k)));
}

static char *url_setting(const json_t *s, const char *k) {
	char *v = str_setting(s, k);
	size_t n = v ? strlen(v) : 0;
	while (n && v[n - 1] == '/') v[--n] = 0;
	return v;
}

static void strv_free(char **v, size_t n) {
	for (size_t i = 0; i < n; i++) free(v[i]);
	free(v);
}

int az_settings_parse(provider_t *p, const char *name, const json_t *s, char **err) {
	p->name = xstrdup(name);
	p->sub = str_setting(s, "subscription");
	p->rg = str_setting(s, "resourceGroup");
	p->location = str_setting(s, "location");
	p->tenant = str_setting(s, "tenant");
	p->client_id = str_setting(s, "clientId");
	p->authority = url_setting(s, "authorityHost");
	p->arm = url_setting(s, "resourceManagerEndpoint");
	p->audience = url_setting(s, "audience");
	p->imds = url_setting(s, "imdsEndpoint");
	p->vnet = str_setting(s, "vnet");
	p->subnet = str_setting(s, "subnet");
	p->public_ip = json_is_true(setting(s, "publicIP"));
	p->encryption = str_setting(s, "osDiskEncryption");
	p->des_id = str_setting(s, "diskEncryptionSetId");
	p->admin = str_setting(s, "adminUsername");
	p->ssh_key = str_setting(s, "sshPublicKey");
	const json_t *a = setting(s, "agentSourceCIDRs");
	p->cidrs = xcalloc(json_array_size(a) + 1, sizeof *p->cidrs);
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) if (json_is_string(x)) p->cidrs[p->n_cidrs++] = xstrdup(json_string_value(x));
	const char *img = json_string_value(setting(s, "image"));
	char pub[128], offer[128], sku[128], ver[128];
	if (!img || sscanf(img, "%127[^:]:%127[^:]:%127[^:]:%127s", pub, offer, sku, ver) != 4) {
		*err = xasprintf("provider %s: image '%s' is not publisher:offer:sku:version", name, img ? img : "");
		return -EINVAL;
	}
	p->image_publisher = xstrdup(pub);
	p->image_offer = xstrdup(offer);
	p->image_sku = xstrdup(sku);
	p->image_version = xstrdup(ver);
	p->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL + (uintptr_t)p;
	if (!p->sub || !p->rg || !p->location || !p->tenant || !p->arm || !p->authority) {
		*err = xasprintf("provider %s: subscription, resourceGroup, location and tenant are required", name);
		return -EINVAL;
	}
	return 0;
}

void az_settings_free(provider_t *p) {
	char **strs[] = {&p->name,  &p->sub,  &p->rg,      &p->location,        &p->tenant,      &p->client_id,
	                 &p->authority, &p->arm, &p->audience, &p->imds,        &p->vnet,        &p->subnet,
	                 &p->encryption, &p->des_id, &p->admin, &p->ssh_key, &p->image_publisher, &p->image_offer,
	                 &p->image_sku, &p->image_version};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	strv_free(p->cidrs, p->n_cidrs);
	p->cidrs = NULL;
	p->n_cidrs = 0;
}

static void az_close(provider_t *p) {
	if (!p) return;
	az_settings_free(p);
	az_cred_free(&p->cred);
	token_clear(&p->tok);
	http_client_free(p->http);
	free(p);
}

static int az_open(const provider_config_t *cfg, provider_t **out, char **err) {
	provider_t *p = xcalloc(1, sizeof *p);
	const json_t *s = cfg->settings;
	_cleanup_free_ char *e = NULL;
	int r = az_settings_parse(p, cfg->name, s, err);
	if (r < 0) goto fail;
	r = az_cred_load(p, s, &e);
	if (r < 0) {
		*err = xasprintf("provider %s: %s", cfg->name, e);
		goto fail;
	}
	free(e);
	e = NULL;
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
	az_close(p);
	return r;
}

/* One location per Provider: every CVM goes there. */
static int az_place(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
                    char **placement, char **err) {
	(void)want, (void)used, (void)n_used, (void)err;
	*placement = xstrdup(p->location);
	return 0;
}

const provider_ops_t azure_provider_ops = {
	.flavor = "azure",
	.open = az_open,
	.close = az_close,
	.observe = az_observe,
	.place = az_place,
	.create = az_op_create,
	.poll = az_op_poll,
	.op_free = az_op_free,
	.remove = az_op_remove,
	.start = az_op_start,
	.update = az_op_update,
};
