#include "reconciler/provider_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

void provider_config_from_spec(provider_config_t *c, const provider_spec_t *s) {
	memset(c, 0, sizeof *c);
	c->name = s->name;
	c->flavor = flavor_name(s->type);
	c->project = s->project;
	c->zone = s->zone;
	c->credentials_file = s->credentials_file;
	c->endpoint = s->endpoint;
	c->subscription = s->subscription;
	c->resource_group = s->resource_group;
	c->location = s->location;
	c->tenant = s->tenant;
	c->client_id = s->client_id;
	c->client_secret_file = s->client_secret_file;
	c->hosts = (const char *const *)s->hosts;
	c->n_hosts = s->n_hosts;
	c->firmware = s->firmware;
	c->kernel = s->kernel;
	c->initrd = s->initrd;
	c->cmdline = s->cmdline;
	c->domain_type = s->domain_type;
	c->cpu_model = s->cpu_model;
	c->network = s->network;
	c->share_dir = s->share_dir;
	c->vtpm = s->vtpm;
	c->insecure_no_sev = s->insecure_no_sev;
	c->capacity_vcpus = s->capacity_vcpus;
	c->capacity_memory_gib = s->capacity_memory_gib;
	c->call_timeout_s = 10;
}

/* One table of the string fields and their YAML names (the names the
 * Provider spec uses, which is also what schema migration 2 turned the
 * version 1 records into), so that save and load cannot drift apart. */
#define STR_FIELDS(X)                                                                                   \
	X(project, "project") X(zone, "zone") X(credentials_file, "credentialsFile") X(endpoint, "endpoint") \
	X(subscription, "subscription") X(resource_group, "resourceGroup") X(location, "location")         \
	X(tenant, "tenant") X(client_id, "clientId") X(client_secret_file, "clientSecretFile")             \
	X(firmware, "firmware") X(kernel, "kernel") X(initrd, "initrd") X(cmdline, "cmdline")               \
	X(domain_type, "domainType") X(cpu_model, "cpuModel") X(network, "network") X(share_dir, "shareDir")

/* The manager's own fields beyond strings: hosts, vtpm, insecureNoSEV, and
 * capacity only when it overrides the host's. */
static void save_manager_fields(json_t *o, const provider_config_t *c) {
	json_t *hosts = json_array();
	for (size_t i = 0; i < c->n_hosts; i++) json_array_append_new(hosts, json_string(c->hosts[i]));
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "vtpm", json_boolean(c->vtpm));
	json_object_set_new(o, "insecureNoSEV", json_boolean(c->insecure_no_sev));
	if (c->capacity_vcpus > 0 || c->capacity_memory_gib > 0) {
		json_t *cap = json_object();
		if (c->capacity_vcpus > 0) json_object_set_new(cap, "vcpus", json_integer(c->capacity_vcpus));
		if (c->capacity_memory_gib > 0) json_object_set_new(cap, "memoryGiB", json_integer(c->capacity_memory_gib));
		json_object_set_new(o, "capacity", cap);
	}
}

int provider_record_save(store_t *st, const provider_config_t *c) {
	json_t *o = json_object();
#define SAVE(f, key) if (c->f) json_object_set_new(o, key, json_string(c->f));
	STR_FIELDS(SAVE)
#undef SAVE
	if (c->flavor && strcmp(c->flavor, "manager") == 0) save_manager_fields(o, c);
	_cleanup_free_ char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	return store_put_provider(st, c->name, c->flavor ? c->flavor : "", s);
}

int provider_record_load(store_t *st, const char *name, provider_config_t *c, json_t **holder) {
	memset(c, 0, sizeof *c);
	*holder = NULL;
	_cleanup_free_ char *flavor = NULL, *s = NULL;
	int r = store_get_provider(st, name, &flavor, &s);
	if (r < 0) return r;
	json_t *o = json_loads(s, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	/* The name and flavor are columns of their own; the holder keeps them
	 * alive with the rest (no YAML field has these names). */
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "flavor", json_string(flavor));
	c->name = json_string_value(json_object_get(o, "name"));
	c->flavor = json_string_value(json_object_get(o, "flavor"));
#define LOAD(f, key) c->f = json_string_value(json_object_get(o, key));
	STR_FIELDS(LOAD)
#undef LOAD
	json_t *hosts = json_object_get(o, "hosts");
	c->n_hosts = json_array_size(hosts);
	const char **h = xcalloc(c->n_hosts + 1, sizeof *h);
	for (size_t i = 0; i < c->n_hosts; i++) h[i] = json_string_value(json_array_get(hosts, i));
	c->hosts = h;
	c->vtpm = json_is_true(json_object_get(o, "vtpm"));
	c->insecure_no_sev = json_is_true(json_object_get(o, "insecureNoSEV"));
	json_t *cap = json_object_get(o, "capacity");
	c->capacity_vcpus = (int)json_integer_value(json_object_get(cap, "vcpus"));
	c->capacity_memory_gib = (int)json_integer_value(json_object_get(cap, "memoryGiB"));
	c->call_timeout_s = 10;
	*holder = o;
	return 0;
}

void provider_record_release(provider_config_t *c, json_t *holder) {
	free((void *)c->hosts);
	json_decref(holder);
	memset(c, 0, sizeof *c);
}
