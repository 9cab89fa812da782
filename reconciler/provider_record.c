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

/* One table of the string fields, so that save and load cannot drift apart. */
#define STR_FIELDS(X)                                                                                       \
	X(name) X(flavor) X(project) X(zone) X(credentials_file) X(endpoint) X(subscription) X(resource_group) \
	X(location) X(tenant) X(client_id) X(client_secret_file) X(firmware) X(kernel) X(initrd) X(cmdline)    \
	X(domain_type) X(cpu_model) X(network) X(share_dir)

int provider_record_save(store_t *st, const provider_config_t *c) {
	json_t *o = json_object();
#define SAVE(f) if (c->f) json_object_set_new(o, #f, json_string(c->f));
	STR_FIELDS(SAVE)
#undef SAVE
	json_t *hosts = json_array();
	for (size_t i = 0; i < c->n_hosts; i++) json_array_append_new(hosts, json_string(c->hosts[i]));
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "vtpm", json_boolean(c->vtpm));
	json_object_set_new(o, "insecure_no_sev", json_boolean(c->insecure_no_sev));
	json_object_set_new(o, "capacity_vcpus", json_integer(c->capacity_vcpus));
	json_object_set_new(o, "capacity_memory_gib", json_integer(c->capacity_memory_gib));
	_cleanup_free_ char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	_cleanup_free_ char *key = xasprintf("provider:%s", c->name);
	return store_set_setting(st, key, s);
}

int provider_record_load(store_t *st, const char *name, provider_config_t *c, json_t **holder) {
	memset(c, 0, sizeof *c);
	*holder = NULL;
	_cleanup_free_ char *key = xasprintf("provider:%s", name);
	_cleanup_free_ char *s = NULL;
	int r = store_get_setting(st, key, &s);
	if (r < 0) return r;
	json_t *o = json_loads(s, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
#define LOAD(f) c->f = json_string_value(json_object_get(o, #f));
	STR_FIELDS(LOAD)
#undef LOAD
	json_t *hosts = json_object_get(o, "hosts");
	c->n_hosts = json_array_size(hosts);
	const char **h = xcalloc(c->n_hosts + 1, sizeof *h);
	for (size_t i = 0; i < c->n_hosts; i++) h[i] = json_string_value(json_array_get(hosts, i));
	c->hosts = h;
	c->vtpm = json_is_true(json_object_get(o, "vtpm"));
	c->insecure_no_sev = json_is_true(json_object_get(o, "insecure_no_sev"));
	c->capacity_vcpus = (int)json_integer_value(json_object_get(o, "capacity_vcpus"));
	c->capacity_memory_gib = (int)json_integer_value(json_object_get(o, "capacity_memory_gib"));
	c->call_timeout_s = 10;
	*holder = o;
	return 0;
}

void provider_record_release(provider_config_t *c, json_t *holder) {
	free((void *)c->hosts);
	json_decref(holder);
	memset(c, 0, sizeof *c);
}
