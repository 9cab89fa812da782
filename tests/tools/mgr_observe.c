/* mgr_observe: what one manager observe() costs on a host.
 *
 *   mgr_observe populate URI N
 *       defines and starts N domains carrying our marker on URI (a
 *       test-driver daemon), as the backend itself would;
 *   mgr_observe observe URI [KNOWN.json] [OUT.json]
 *       opens the backend on URI and observes it once, handing it the
 *       resources in KNOWN.json as `known` (what the state recorded), and
 *       writes what it saw to OUT.json (the next run's KNOWN.json).
 *
 * Run the second under `strace -f -c` to count the system calls of a
 * converged observe (tests/bench/observe.sh). Prints
 * "observed <n> unknown <n> <seconds>". */
#include <errno.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/timing.h"
#include "common/util.h"
#include "providers/manager/domain_xml.h"
#include "providers/manager/manager.h"
#include "providers/provider.h"

static double mono(void) {
	return (double)mono_ns() / 1e9;
}

static int populate(const char *uri, int n) {
	manager_libvirt_init();
	virConnectPtr c = virConnectOpen(uri);
	if (!c) {
		fprintf(stderr, "mgr_observe: cannot connect to %s: %s\n", uri, virGetLastErrorMessage());
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char id[37], name[32];
		snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", 0xb0000000u + (unsigned)i, (unsigned)i);
		snprintf(name, sizeof name, "bench-%04d", i);
		manager_domain_params dp = {
			.id = id, .name = name, .scope = "default", .installation = "0d1e2f30-4152-4637-8899-aabbccddeeff",
			.spec_hash = "hash", .attempt = "attempt-1", .vcpus = 1, .memory_gib = 1, .agent_port = 7002,
			.domain_type = "qemu", .kernel = "/k", .initrd = "/i", .certs_dir = "/tmp/c", .env_dir = "/tmp/e",
			.form = LAUNCH_INSECURE,
		};
		_cleanup_free_ char *xml = manager_domain_xml(&dp);
		virDomainPtr d = virDomainDefineXML(c, xml);
		if (!d || virDomainCreate(d) < 0) {
			fprintf(stderr, "mgr_observe: cannot define %s: %s\n", name, virGetLastErrorMessage());
			return 1;
		}
		virDomainFree(d);
	}
	virConnectClose(c);
	return 0;
}

static const char *jstr(json_t *o, const char *k) {
	return json_string_value(json_object_get(o, k));
}

static size_t load_known(const char *path, observed_t **out) {
	*out = NULL;
	json_t *a = path ? json_load_file(path, 0, NULL) : NULL;
	size_t n = json_array_size(a);
	observed_t *v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(a, i);
		snprintf(v[i].id, sizeof v[i].id, "%s", jstr(o, "id"));
		v[i].name = xstrdup(jstr(o, "name"));
		v[i].scope = xstrdup(jstr(o, "scope"));
		v[i].installation = xstrdup(jstr(o, "installation"));
		v[i].spec_hash = xstrdup(jstr(o, "spec_hash"));
		v[i].attempt = xstrdup(jstr(o, "attempt"));
		v[i].placement = xstrdup(jstr(o, "placement"));
		v[i].handle = xstrdup(jstr(o, "handle"));
		v[i].url = xstrdup(jstr(o, "url"));
		v[i].state = (res_state_t)json_integer_value(json_object_get(o, "state"));
		v[i].vcpus = (int)json_integer_value(json_object_get(o, "vcpus"));
		v[i].memory_gib = (int)json_integer_value(json_object_get(o, "memory_gib"));
	}
	json_decref(a);
	*out = v;
	return n;
}

static void save(const char *path, const observation_t *o) {
	json_t *a = json_array();
	for (size_t i = 0; i < o->n; i++) {
		const observed_t *v = &o->v[i];
		json_array_append_new(a, json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:i, s:i, s:i}",
		                                   "id", v->id, "name", v->name, "scope", v->scope, "installation",
		                                   v->installation, "spec_hash", v->spec_hash, "attempt", v->attempt,
		                                   "placement", v->placement, "handle", v->handle, "url", v->url,
		                                   "state", (int)v->state, "vcpus", v->vcpus, "memory_gib",
		                                   v->memory_gib));
	}
	json_dump_file(a, path, JSON_COMPACT);
	json_decref(a);
}

static int observe(const char *uri, const char *known_path, const char *out_path) {
	json_t *s = json_pack("{s:[s], s:s, s:s, s:b}", "hosts", uri, "kernel", "/k", "initrd", "/i", "insecureNoSEV", 1);
	provider_config_t cfg = {.name = "bench", .flavor = "manager", .settings = s, .state_dir = "/tmp"};
	provider_t *p = NULL;
	char *err = NULL;
	if (prov_open(&manager_provider_ops, &cfg, &p, &err) < 0) {
		fprintf(stderr, "mgr_observe: %s\n", err);
		return 1;
	}
	observed_t *known;
	size_t n_known = load_known(known_path, &known);
	observation_t o;
	double t0 = mono();
	int r = prov_observe(&manager_provider_ops, p, known, n_known, &o, &err);
	double t1 = mono();
	if (r < 0) {
		fprintf(stderr, "mgr_observe: %s\n", err);
		return 1;
	}
	printf("observed %zu unknown %zu %.3f\n", o.n, o.n_unknown, t1 - t0);
	if (out_path) save(out_path, &o);
	observation_free(&o);
	for (size_t i = 0; i < n_known; i++) observed_free(&known[i]);
	free(known);
	manager_provider_ops.close(p);
	json_decref(s);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "populate") == 0) return populate(argv[2], atoi(argv[3]));
	if (argc >= 3 && argc <= 5 && strcmp(argv[1], "observe") == 0)
		return observe(argv[2], argc > 3 && *argv[3] ? argv[3] : NULL, argc > 4 ? argv[4] : NULL);
	fprintf(stderr, "usage: mgr_observe populate URI N | observe URI [KNOWN.json] [OUT.json]\n");
	return 2;
}
