/* What exists: the paged list of the resource group's VMs (reference/
 * cloud-apis.md B7), each of ours (by tags; the list has no tag filter)
 * with its instance view for the power state, and, when there are any, the
 * NICs and public IPs of the group for the URL. nextLink is followed only
 * on the configured endpoint's host. A list that fails leaves the provider
 * Unknown (never "empty"). A VM whose create failed is not reported: the
 * next create of that CVM deletes it and makes a new one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/azure/azure.h"

#define _cleanup_json_ _cleanup_(json_decrefp)
#define MAX_PAGES 10000

/* Every page of url's list, the items appended to *items. */
static int list_all(provider_t *p, const char *what, const char *url, json_t *items, char **why) {
	_cleanup_free_ char *next = xstrdup(url);
	for (int pages = 0; next; pages++) {
		if (pages > MAX_PAGES) {
			*why = xasprintf("provider %s: the list of %s did not end after %d pages", p->name, what, pages);
			return -EIO;
		}
		if (!az_url_ours(p, next)) {
			*why = xasprintf("provider %s: the list of %s continues at %s, not at the configured endpoint %s; it is "
			                 "not followed with the token",
			                 p->name, what, next, p->arm);
			return -EPROTO;
		}
		_cleanup_json_ json_t *resp = NULL;
		char *err = NULL;
		long st = az_call(p, "GET", next, NULL, &resp, &err);
		if (st != 200 || !json_is_object(resp)) {
			*why = err ? xasprintf("%s (page %d of the list of %s)", err, pages + 1, what)
			           : xasprintf("provider %s: page %d of the list of %s is not JSON", p->name, pages + 1, what);
			free(err);
			return -EIO;
		}
		free(err);
		json_array_extend(items, json_object_get(resp, "value"));
		const char *n = json_string_value(json_object_get(resp, "nextLink"));
		free(next);
		next = n && *n ? xstrdup(n) : NULL;
	}
	return 0;
}

static const char *last_segment(const char *s) {
	const char *l = s ? strrchr(s, '/') : NULL;
	return l ? l + 1 : s;
}

static const json_t *by_name(const json_t *items, const char *name) {
	size_t i;
	json_t *x;
	json_array_foreach(items, i, x) if (name && !strcasecmp(json_string_value(json_object_get(x, "name")) ?: "", name)) return x;
	return NULL;
}

/* "Standard_DC8as_v5" -> 8, 32. */
static void size_of(const char *s, int *vcpus, int *gib) {
	int v = 0;
	*vcpus = *gib = 0;
	if (s && sscanf(s, "Standard_DC%das_v5", &v) == 1) *vcpus = v, *gib = 4 * v;
}

static res_state_t state_of(const char *ps, const json_t *iv) {
	if (ps && strcasecmp(ps, "Succeeded") && strcasecmp(ps, "Updating")) return RES_PENDING;
	const char *power = NULL;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(iv, "statuses"), i, s) {
		const char *c = json_string_value(json_object_get(s, "code"));
		if (c && !strncasecmp(c, "PowerState/", 11)) power = c + 11;
	}
	if (!power) return RES_PENDING;
	if (!strcasecmp(power, "running")) return RES_RUNNING;
	if (!strcasecmp(power, "stopped") || !strcasecmp(power, "deallocated")) return RES_STOPPED;
	return RES_PENDING;
}

/* The agent's address: the public IP of the VM's NIC, else its private IP. */
static char *address_of(const json_t *vm, const json_t *nics, const json_t *pips) {
	const json_t *np = json_object_get(json_object_get(vm, "properties"), "networkProfile");
	const json_t *ni = json_array_get(json_object_get(np, "networkInterfaces"), 0);
	const json_t *nic = by_name(nics, last_segment(json_string_value(json_object_get(ni, "id"))));
	const json_t *ipc = json_object_get(json_array_get(json_object_get(json_object_get(nic, "properties"), "ipConfigurations"), 0),
	                                    "properties");
	const char *pip_id = json_string_value(json_object_get(json_object_get(ipc, "publicIPAddress"), "id"));
	const json_t *pip = by_name(pips, last_segment(pip_id));
	const char *pub = json_string_value(json_object_get(json_object_get(pip, "properties"), "ipAddress"));
	if (pub && *pub) return xstrdup(pub);
	const char *priv = json_string_value(json_object_get(ipc, "privateIPAddress"));
	return priv && *priv ? xstrdup(priv) : NULL;
}

static void all_unknown(provider_t *p, observation_t *out, char *why) {
	for (size_t i = 0; i < out->n; i++) observed_free(&out->v[i]);
	out->n = 0;
	out->unknown = xrealloc(out->unknown, (out->n_unknown + 1) * sizeof *out->unknown);
	out->unknown[out->n_unknown].placement = xstrdup(p->location);
	out->unknown[out->n_unknown].why = why;
	out->n_unknown++;
	out->all_unknown = true;
}

int az_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err) {
	(void)known, (void)n_known;
	/* No token, no observation: every CVM of the provider is Unknown. */
	if (!az_token(p, err)) return -EACCES;
	_cleanup_json_ json_t *vms = json_array(), *nics = json_array(), *pips = json_array();
	char *why = NULL;
	_cleanup_free_ char *vm_url =
	    az_url(p, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines?api-version=%s",
	           p->sub, p->rg, AZ_API_COMPUTE);
	if (list_all(p, "VMs", vm_url, vms, &why) < 0) {
		all_unknown(p, out, why);
		return 0;
	}
	size_t i;
	json_t *vm;
	bool any = false;
	json_array_foreach(vms, i, vm) any |= streq(az_tag(json_object_get(vm, "tags"), "managed-by"), "cvmctl");
	if (any) {
		_cleanup_free_ char *nu = az_url(
		    p, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces?api-version=%s", p->sub,
		    p->rg, AZ_API_NETWORK);
		_cleanup_free_ char *pu = az_url(
		    p, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/publicIPAddresses?api-version=%s", p->sub,
		    p->rg, AZ_API_NETWORK);
		if (list_all(p, "network interfaces", nu, nics, &why) < 0 ||
		    (p->public_ip && list_all(p, "public IPs", pu, pips, &why) < 0)) {
			all_unknown(p, out, why);
			return 0;
		}
	}
	json_array_foreach(vms, i, vm) {
		observed_t o = {0};
		int port = 0;
		const char *name = json_string_value(json_object_get(vm, "name"));
		if (!name || !az_tags_read(json_object_get(vm, "tags"), &o, &port)) {
			observed_free(&o);
			continue;
		}
		const char *ps = json_string_value(json_object_get(json_object_get(vm, "properties"), "provisioningState"));
		if (ps && !strcasecmp(ps, "Failed")) {
			log_info("provider %s: VM %s of CVM %s failed to be created; the next create replaces it", p->name, name,
			         o.id);
			observed_free(&o);
			continue;
		}
		_cleanup_free_ char *iv_url = az_url(
		    p, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s/instanceView?api-version=%s",
		    p->sub, p->rg, name, AZ_API_COMPUTE);
		_cleanup_json_ json_t *iv = NULL;
		char *e = NULL;
		long st = az_call(p, "GET", iv_url, NULL, &iv, &e);
		if (st == 404) { /* gone between the list and now */
			free(e);
			observed_free(&o);
			continue;
		}
		if (st != 200) {
			observed_free(&o);
			all_unknown(p, out, e ? e : xasprintf("provider %s: the instance view of VM %s is not JSON", p->name, name));
			return 0;
		}
		free(e);
		const char *tname = az_tag(json_object_get(vm, "tags"), "cvmctl-name");
		o.name = xstrdup(tname && *tname ? tname : name);
		o.placement = xstrdup(p->location);
		o.handle = az_resource_id(p, AZ_VM, name);
		o.state = state_of(ps, iv);
		size_of(json_string_value(json_object_get(json_object_get(json_object_get(vm, "properties"), "hardwareProfile"),
		                                          "vmSize")),
		        &o.vcpus, &o.memory_gib);
		_cleanup_free_ char *ip = address_of(vm, nics, pips);
		if (o.state == RES_RUNNING && ip && port > 0) o.url = xasprintf("%s:%d", ip, port);
		out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
		out->v[out->n++] = o;
	}
	return 0;
}
