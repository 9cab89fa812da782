/* specs/: loading, validation, diagnostics, canonical form.
 * Fixtures live in tests/fixtures/specs/, expected diagnostics in
 * tests/golden/specs/ (one .err per bad fixture) (run from the repository root; UPDATE_GOLDEN=1
 * rewrites the golden files). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/provider.h"
#include "specs/spec.h"

#define FIX "tests/fixtures/specs/"
#define GOLDEN "tests/golden/specs/"

static void golden_compare(const char *name, const char *text) {
	_cleanup_free_ char *path = xasprintf(GOLDEN "%s", name);
	const char *upd = getenv("UPDATE_GOLDEN");
	if (upd && *upd && strcmp(upd, "0")) {
		assert_int_equal(mkdir_p(GOLDEN, 0755), 0);
		assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
		return;
	}
	_cleanup_free_ char *want = NULL;
	int r = read_file(path, &want, NULL);
	if (r < 0) fail_msg("missing golden file %s (run with UPDATE_GOLDEN=1)", path);
	if (strcmp(want, text)) fail_msg("%s differs:\n--- want\n%s--- got\n%s", path, want, text);
}

/* The built-in backends, handed to the loader the way the engine hands its
 * registry's (the fake backend stays out: the goldens read the same in
 * every build). */
static const backend_schema_t *const builtin[] = {&gcp_schema, &azure_schema, &manager_schema};
static const spec_schemas_t schemas = {builtin, ARRAY_SIZE(builtin)};

static const char *setting(const provider_spec_t *p, const char *key) {
	return json_string_value(json_object_get(p->settings, key));
}

static json_int_t setting_int(const provider_spec_t *p, const char *path) {
	json_t *v = p->settings;
	_cleanup_free_ char *copy = xstrdup(path);
	for (char *save = NULL, *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	if (!json_is_integer(v)) fail_msg("%s is not an integer setting of %s", path, p->name);
	return json_integer_value(v);
}

/* The backend's own name for the CVM's size. */
static char *size_name(const cvm_spec_t *c) {
	assert_non_null(c->backend->size_name);
	return c->backend->size_name(c->vcpus, c->memory_gib);
}

static const cvm_spec_t *find_cvm(const spec_set_t *s, const char *name, bool active) {
	for (size_t i = 0; i < s->n_cvms; i++)
		if (!strcmp(s->cvms[i].name, name) && s->cvms[i].active == active) return &s->cvms[i];
	return NULL;
}

static const provider_spec_t *find_provider(const spec_set_t *s, const char *name) {
	for (size_t i = 0; i < s->n_providers; i++)
		if (!strcmp(s->providers[i].name, name)) return &s->providers[i];
	return NULL;
}

static const char *label(const cvm_spec_t *c, const char *key) {
	for (size_t i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i].key, key)) return c->labels[i].value;
	return NULL;
}

static int load1(const char *path, spec_set_t *s, diags_t *d) {
	const char *paths[] = {path};
	return spec_load(paths, 1, &schemas, s, d);
}

/* Loads a path that must fail; returns the formatted diagnostics and checks
 * that nothing partial came back. */
static char *load_bad(const char *path) {
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(load1(path, &s, &d), -EINVAL);
	assert_true(d.n > 0);
	assert_null(s.providers);
	assert_null(s.cvms);
	assert_null(s.files);
	assert_int_equal(s.n_providers + s.n_cvms + s.n_files, 0);
	spec_set_free(&s); /* safe on the empty result */
	char *text = diags_format(&d);
	diags_free(&d);
	return text;
}

/* ---- the good tree ---- */

static void test_good_tree(void **state) {
	(void)state;
	spec_set_t s;
	diags_t d = {0};
	int r = load1(FIX "good", &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(d.n, 0);
	/* .github/ and .hidden.yaml hold broken YAML; README.txt is not *.yaml */
	assert_int_equal(s.n_files, 3);
	assert_string_equal(s.files[0], FIX "good/cvms/analytics.yaml");
	assert_string_equal(s.files[1], FIX "good/cvms/more.yml");
	assert_string_equal(s.files[2], FIX "good/providers/all.yaml");
	assert_int_equal(s.n_providers, 3);
	assert_int_equal(s.n_cvms, 6);

	const provider_spec_t *g = find_provider(&s, "gcp-prod");
	assert_non_null(g);
	assert_ptr_equal(g->backend, &gcp_schema);
	assert_string_equal(g->type, "gcp");
	assert_string_equal(setting(g, "project"), "acme-cc");
	assert_string_equal(setting(g, "zone"), "europe-west4-a");
	assert_string_equal(setting(g, "credentialsFile"), "/etc/cvmctl/gcp-sa.json");
	assert_string_equal(setting(g, "endpoint"), "https://compute.googleapis.com/compute/v1");
	assert_string_equal(g->pos.file, FIX "good/providers/all.yaml");
	assert_int_equal(g->pos.line, 1);

	const provider_spec_t *a = find_provider(&s, "azure-prod");
	assert_non_null(a);
	assert_ptr_equal(a->backend, &azure_schema);
	assert_string_equal(setting(a, "subscription"), "00000000-0000-0000-0000-000000000000");
	assert_string_equal(setting(a, "resourceGroup"), "cvms");
	assert_string_equal(setting(a, "location"), "westeurope");
	assert_string_equal(setting(a, "tenant"), "00000000-0000-0000-0000-000000000001");
	assert_string_equal(setting(a, "clientId"), "00000000-0000-0000-0000-000000000002");
	assert_string_equal(setting(a, "clientSecretFile"), "/etc/cvmctl/azure-secret");
	assert_string_equal(a->control_plane_url, "prism.azure.example.com:7018");
	assert_null(json_object_get(a->settings, "controlPlaneURL")); /* shared fields are not the backend's */
	assert_int_equal(a->pos.line, 11);

	const provider_spec_t *m = find_provider(&s, "lab");
	assert_non_null(m);
	assert_ptr_equal(m->backend, &manager_schema);
	json_t *hosts = json_object_get(m->settings, "hosts");
	assert_int_equal(json_array_size(hosts), 2);
	assert_string_equal(json_string_value(json_array_get(hosts, 0)), "qemu+ssh://snp-host-1/system");
	assert_string_equal(json_string_value(json_array_get(hosts, 1)), "qemu+ssh://snp-host-2/system");
	assert_string_equal(setting(m, "firmware"), "/usr/share/ovmf/OVMF.amdsev.fd");
	assert_string_equal(setting(m, "kernel"), "/srv/cvm-guest/bzImage");
	assert_string_equal(setting(m, "initrd"), "/srv/cvm-guest/rootfs.cpio.gz");
	/* the schema's defaults are filled in */
	assert_string_equal(setting(m, "cmdline"), "quiet console=null");
	assert_string_equal(setting(m, "domainType"), "kvm");
	assert_string_equal(setting(m, "cpuModel"), "EPYC-Milan");
	assert_string_equal(setting(m, "network"), "default");
	assert_int_equal(setting_int(m, "connectTimeout"), 10);
	assert_int_equal(setting_int(m, "callTimeout"), 20);
	/* No default in the spec: the backend puts shares below the state directory. */
	assert_null(json_object_get(m->settings, "shareDir"));
	assert_true(json_is_true(json_object_get(m->settings, "vtpm")));
	assert_true(json_is_false(json_object_get(m->settings, "insecureNoSEV")));
	assert_int_equal(setting_int(m, "capacity.vcpus"), 32);
	assert_int_equal(setting_int(m, "capacity.memoryGiB"), 64);
	assert_int_equal(m->concurrency, 0); /* the engine's default */
	assert_true(m->requests_per_second == 0);

	const cvm_spec_t *c = find_cvm(&s, "analytics-01", true);
	assert_non_null(c);
	assert_ptr_equal(c->backend, &gcp_schema);
	assert_string_equal(c->flavor, "gcp");
	assert_string_equal(c->provider, "gcp-prod");
	assert_ptr_equal(&s.providers[c->provider_idx], g);
	assert_int_equal(c->vcpus, 8);
	assert_int_equal(c->memory_gib, 32);
	_cleanup_free_ char *type = size_name(c);
	assert_string_equal(type, "n2d-standard-8");
	assert_int_equal(c->n_labels, 1);
	assert_string_equal(label(c, "team"), "data");
	assert_int_equal(c->agent.log_level, AGENT_LOG_INFO);
	assert_int_equal(c->agent.port, 7002);
	assert_string_equal(cvm_control_plane_url(&s, c), "prism.example.com:7018");
	assert_null(cvm_control_plane_ca_file(&s, c));
	assert_int_equal(c->certs.validity_s, 30 * 86400);
	assert_int_equal(c->certs.renew_before_s, 10 * 86400);
	assert_true(c->active);
	assert_int_equal(strlen(c->hash), 64);
	assert_string_equal(c->pos.file, FIX "good/cvms/analytics.yaml");

	/* Everything defaulted: provider by flavor, size from the table, the
	 * control plane from the provider. */
	c = find_cvm(&s, "ledger", true);
	assert_non_null(c);
	assert_null(c->provider);
	assert_ptr_equal(&s.providers[c->provider_idx], a);
	assert_int_equal(c->vcpus, azure_schema.default_vcpus);
	assert_int_equal(c->memory_gib, azure_schema.default_memory_gib(azure_schema.default_vcpus));
	_cleanup_free_ char *vm_size = size_name(c);
	assert_string_equal(vm_size, "Standard_DC2as_v5");
	assert_int_equal(c->n_labels, 0);
	assert_string_equal(cvm_control_plane_url(&s, c), "prism.azure.example.com:7018");
	assert_int_equal(c->agent.log_level, AGENT_LOG_INFO);
	assert_int_equal(c->pos.line, 2);

	c = find_cvm(&s, "lab-worker-1", true);
	assert_non_null(c);
	assert_ptr_equal(&s.providers[c->provider_idx], m);
	assert_int_equal(c->vcpus, 4);
	assert_int_equal(c->memory_gib, 8);
	assert_string_equal(label(c, "team"), "research");
	assert_string_equal(label(c, "env"), "dev");
	assert_int_equal(c->agent.log_level, AGENT_LOG_DEBUG);
	assert_int_equal(c->agent.port, 7010);
	assert_int_equal(c->certs.validity_s, 720 * 3600);
	assert_int_equal(c->certs.renew_before_s, 5400);

	/* An inactive CVM may share an active one's name. */
	const cvm_spec_t *old = find_cvm(&s, "lab-worker-1", false);
	assert_non_null(old);
	assert_int_equal(old->vcpus, manager_schema.default_vcpus);
	assert_int_equal(old->memory_gib, manager_schema.default_memory_gib(manager_schema.default_vcpus));
	assert_string_not_equal(old->hash, c->hash);

	c = find_cvm(&s, "custom-gcp", true);
	assert_non_null(c);
	_cleanup_free_ char *custom = size_name(c);
	assert_string_equal(custom, "n2d-custom-16-24576");

	c = find_cvm(&s, "merged", true);
	assert_non_null(c);
	assert_int_equal(c->n_labels, 2);
	assert_string_equal(label(c, "env"), "prod");
	assert_string_equal(label(c, "team"), "research");
	assert_int_equal(c->agent.log_level, AGENT_LOG_WARN);
	assert_int_equal(c->agent.port, 7100);

	/* The canonical forms are generated output: golden. */
	strbuf sb = {0};
	for (size_t i = 0; i < s.n_cvms; i++) {
		_cleanup_free_ char *json = cvm_spec_canonical_json(&s, &s.cvms[i]);
		assert_non_null(json);
		char h[65];
		sha256_hex(json, strlen(json), h);
		assert_string_equal(h, s.cvms[i].hash);
		sb_addf(&sb, "%s %s\n%s\n", s.cvms[i].name, s.cvms[i].active ? "active" : "inactive", json);
	}
	_cleanup_free_ char *text = sb_take(&sb);
	assert_null(strstr(text, "\"name\""));
	assert_null(strstr(text, "\"state\""));
	golden_compare("good.canonical", text);

	spec_set_free(&s);
	spec_set_free(&s); /* idempotent */
	diags_free(&d);
}

/* ---- one golden .err per kind of mistake ---- */

static const struct bad_case {
	const char *fixture;
	const char *must_contain; /* one line each golden must hold, checked independently */
} bad_cases[] = {
	{"unknown-field.yaml", "unknown-field.yaml:19:3: spec.memoryGB: unknown field (did you mean 'memoryGiB'?)\n"},
	{"duplicate-key.yaml", "duplicate-key.yaml:18:3: spec.vcpus: duplicate key (first at line 17 column 3)\n"},
	{"wrong-types.yaml", "wrong-types.yaml:21:10: spec.vcpus: expected an integer, got the string \"8\"\n"},
	{"missing-required.yaml", "missing-required.yaml:5:3: spec.zone: required field is missing\n"},
	{"provider-fields.yaml",
	 "provider-fields.yaml:23:3: spec.clientSecret: secrets are read from files only: use clientSecretFile\n"},
	{"duplicate-names.yaml",
	 "duplicate-names.yaml:24:9: metadata.name: duplicate CVM name 'box': already active at " FIX
	 "bad/duplicate-names.yaml:13:18\n"},
	{"names-labels.yaml", "names-labels.yaml:19:18: metadata.name: 'trailing-' is not a valid name"},
	{"limits.yaml", "limits.yaml:19:28: spec.vcpus: vcpus 300 is above the gcp maximum of 224\n"},
	{"enums-durations.yaml", "enums-durations.yaml:10:11: spec.flavor: unknown flavor 'aws'"},
	{"api-kind.yaml", "api-kind.yaml:7:7: kind: unknown kind 'VirtualMachine'"},
	{"tabs.yaml", "tabs.yaml:6:1: tab character in indentation\n"},
	{"not-utf8.yaml", "not-utf8.yaml:5:24: text is not valid UTF-8"},
	{"syntax.yaml", "syntax.yaml:7:8: syntax error: "},
	{"provider-refs.yaml", "provider-refs.yaml:19:35: spec.provider: provider 'lab-c' is not defined\n"},
	{"alias-bomb.yaml", "alias-bomb.yaml:10:12: alias expansion exceeds 10000 nodes\n"},
};

static void test_bad_cases(void **state) {
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		_cleanup_free_ char *path = xasprintf(FIX "bad/%s", bc->fixture);
		_cleanup_free_ char *text = load_bad(path);
		if (!strstr(text, bc->must_contain)) fail_msg("%s: no \"%s\" in:\n%s", path, bc->must_contain, text);
		/* every line names its file and a position */
		for (const char *p = text; *p; p = strchr(p, '\n') + 1)
			if (strncmp(p, path, strlen(path)) || p[strlen(path)] != ':') fail_msg("bad line in %s: %s", path, p);
		_cleanup_free_ char *golden = xasprintf("%.*s.err", (int)(strlen(bc->fixture) - 5), bc->fixture);
		golden_compare(golden, text);
	}
}

/* Several mistakes across files, one of them a YAML syntax error: all of
 * them are reported, in file order. A reference into the broken file is
 * not reported as missing (it may well be defined there). */
static void test_multi_file(void **state) {
	(void)state;
	_cleanup_free_ char *text = load_bad(FIX "bad/multi");
	const char *a1 = strstr(text, FIX "bad/multi/a.yaml:13:18: metadata.name: 'Bad' is not a valid name");
	const char *a2 = strstr(text, FIX "bad/multi/a.yaml:14:32: spec.vcpus: vcpus 100 is above the manager maximum of 64");
	const char *a3 = strstr(text, FIX "bad/multi/a.yaml:18:18: metadata.name: duplicate CVM name 'ok-one'");
	const char *b1 = strstr(text, FIX "bad/multi/sub/b.yml:4:43: spec.agent.logLevel: unknown log level 'loud'");
	const char *b2 = strstr(text, FIX "bad/multi/sub/b.yml:9:5: syntax error: ");
	assert_non_null(a1);
	assert_non_null(a2);
	assert_non_null(a3);
	assert_non_null(b1);
	assert_non_null(b2);
	assert_true(a1 < a2 && a2 < a3 && a3 < b1 && b1 < b2);
	assert_null(strstr(text, "c.yaml"));
	golden_compare("multi.err", text);
}

static double now_mono(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_alias_bomb_fast(void **state) {
	(void)state;
	double t0 = now_mono();
	_cleanup_free_ char *text = load_bad(FIX "bad/alias-bomb.yaml");
	double dt = now_mono() - t0;
	assert_non_null(strstr(text, "alias expansion exceeds"));
	assert_true(dt < 1.0); /* 9^9 nodes if expanded; a sanitizer build still does this in milliseconds */

	/* Aliases within the bound are fine, and share the anchor's content. */
	static const char ok[] = "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\n"
	                         "spec: {type: manager, hosts: [&h qemu:///system], firmware: /f, kernel: &k /k, initrd: *k}\n";
	char dir[] = "/tmp/test_specs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *p = xasprintf("%s/p.yaml", dir);
	assert_int_equal(write_file_atomic(p, ok, strlen(ok), 0644), 0);
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(load1(p, &s, &d), 0);
	assert_string_equal(setting(&s.providers[0], "initrd"), "/k");
	spec_set_free(&s);
	diags_free(&d);
	unlink(p);
	rmdir(dir);
}

/* ---- hidden directories, stdin, missing paths ---- */

static void write_at(const char *dir, const char *rel, const char *text) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *parent = xstrdup(path);
	*strrchr(parent, '/') = 0;
	assert_int_equal(mkdir_p(parent, 0755), 0);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static const char provider_doc[] = "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\n"
                                   "spec: {type: manager, hosts: [qemu:///system], firmware: /f, kernel: /k, initrd: /i}\n";

static void rm_tree(const char *dir) {
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_hidden_dirs_skipped(void **state) {
	(void)state;
	char dir[] = "/tmp/test_specs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_at(dir, "sub/deeper/lab.yaml", provider_doc);
	write_at(dir, ".git/objects/junk.yaml", "{{{{ not yaml");
	write_at(dir, ".github/workflows/ci.yml", "kind: Workflow\n");
	write_at(dir, "sub/.#lab.yaml", "\t\tbroken");
	write_at(dir, "notes.md", "kind: nothing");

	spec_set_t s;
	diags_t d = {0};
	int r = load1(dir, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(s.n_files, 1);
	assert_int_equal(s.n_providers, 1);
	spec_set_free(&s);
	diags_free(&d);

	/* A hidden file named explicitly is read. */
	_cleanup_free_ char *hidden = xasprintf("%s/.github/workflows/ci.yml", dir);
	_cleanup_free_ char *text = load_bad(hidden);
	assert_non_null(strstr(text, "kind: unknown kind 'Workflow'"));
	rm_tree(dir);
}

/* A file over the cap is refused with its path and the cap, read or not;
 * one at the cap is fine. */
static void test_size_cap(void **state) {
	(void)state;
	char dir[] = "/tmp/test_specs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_at(dir, "lab.yaml", provider_doc);
	size_t n = strlen(provider_doc);
	_cleanup_free_ char *cap = xasprintf("%zu", n - 1);
	assert_int_equal(setenv("CVMCTL_MAX_SPEC_BYTES", cap, 1), 0);
	_cleanup_free_ char *text = load_bad(dir);
	_cleanup_free_ char *want =
		xasprintf("%s/lab.yaml: larger than the limit of %zu bytes for a spec file (CVMCTL_MAX_SPEC_BYTES)\n", dir, n - 1);
	assert_string_equal(text, want);

	assert_non_null(freopen(FIX "good/providers/all.yaml", "r", stdin));
	assert_int_equal(setenv("CVMCTL_MAX_SPEC_BYTES", "10", 1), 0);
	_cleanup_free_ char *in = load_bad("-");
	assert_string_equal(in, "<stdin>: larger than the limit of 10 bytes for a spec file (CVMCTL_MAX_SPEC_BYTES)\n");

	assert_int_equal(setenv("CVMCTL_MAX_SPEC_BYTES", "lots", 1), 0);
	_cleanup_free_ char *bad = load_bad(dir);
	assert_string_equal(bad, "CVMCTL_MAX_SPEC_BYTES: 'lots' is not a positive whole number of bytes\n");

	_cleanup_free_ char *at = xasprintf("%zu", n);
	assert_int_equal(setenv("CVMCTL_MAX_SPEC_BYTES", at, 1), 0);
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(load1(dir, &s, &d), 0);
	spec_set_free(&s);
	diags_free(&d);
	assert_int_equal(unsetenv("CVMCTL_MAX_SPEC_BYTES"), 0);
	rm_tree(dir);
}

/* Files and directories are known by (device, inode): a symlink loop ends,
 * a tree named twice is loaded once, and one line says what was skipped. */
static void test_same_file_twice(void **state) {
	(void)state;
	char dir[] = "/tmp/test_specs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_at(dir, "spec/sub/lab.yaml", provider_doc);
	_cleanup_free_ char *spec = xasprintf("%s/spec", dir);
	_cleanup_free_ char *l1 = xasprintf("%s/l1", spec), *l2 = xasprintf("%s/l2", spec);
	_cleanup_free_ char *zz = xasprintf("%s/zz", spec);
	assert_int_equal(symlink(".", l1), 0);
	assert_int_equal(symlink(".", l2), 0);
	assert_int_equal(symlink("sub", zz), 0);
	_cleanup_free_ char *again = xasprintf("%s/./spec", dir);
	_cleanup_free_ char *file = xasprintf("%s/sub/lab.yaml", again);
	const char *paths[] = {spec, again, file};
	spec_set_t s;
	diags_t d = {0};
	int r = spec_load(paths, 3, &schemas, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(s.n_files, 1);
	assert_int_equal(s.n_providers, 1);
	_cleanup_free_ char *want = xasprintf("loaded once: skipped %s (the same as %s), %s (the same as %s), "
	                                      "%s (the same as %s/sub), %s (the same as %s), %s (the same as %s/sub/lab.yaml)",
	                                      l1, spec, l2, spec, zz, spec, again, spec, file, spec);
	assert_non_null(s.skipped);
	assert_string_equal(s.skipped, want);
	spec_set_free(&s);
	diags_free(&d);

	/* and nothing to say when nothing was reached twice */
	_cleanup_free_ char *sub = xasprintf("%s/sub", spec);
	assert_int_equal(load1(sub, &s, &d), 0);
	assert_null(s.skipped);
	spec_set_free(&s);
	diags_free(&d);
	rm_tree(dir);
}

static void test_stdin(void **state) {
	(void)state;
	assert_non_null(freopen(FIX "bad/tabs.yaml", "r", stdin));
	_cleanup_free_ char *text = load_bad("-");
	assert_string_equal(text, "<stdin>:6:1: tab character in indentation\n");

	assert_non_null(freopen(FIX "good/providers/all.yaml", "r", stdin));
	const char *paths[] = {"-", FIX "good/cvms"};
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(spec_load(paths, 2, &schemas, &s, &d), 0);
	assert_string_equal(s.files[0], "<stdin>");
	assert_string_equal(s.providers[0].pos.file, "<stdin>");
	assert_int_equal(s.n_cvms, 6);
	spec_set_free(&s);
	diags_free(&d);
}

static void test_missing_path(void **state) {
	(void)state;
	_cleanup_free_ char *text = load_bad(FIX "does-not-exist");
	assert_string_equal(text, FIX "does-not-exist: cannot read: No such file or directory\n");
}

/* A tree with one good and one bad file returns nothing at all. */
static void test_nothing_partial(void **state) {
	(void)state;
	const char *paths[] = {FIX "good", FIX "bad/limits.yaml"};
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(spec_load(paths, 2, &schemas, &s, &d), -EINVAL);
	assert_int_equal(s.n_cvms + s.n_providers + s.n_files, 0);
	assert_null(s.cvms);
	/* both trees define "lab": the duplicate is found across files */
	_cleanup_free_ char *text = diags_format(&d);
	assert_non_null(strstr(text, "duplicate Provider name 'lab' (first defined at " FIX "good/providers/all.yaml:26:18)"));
	spec_set_free(&s);
	diags_free(&d);
}

/* ---- the hash ---- */

static void hash_of(const char *text, char out[65]) {
	char dir[] = "/tmp/test_specs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_at(dir, "p.yaml", provider_doc);
	write_at(dir, "c.yaml", text);
	spec_set_t s;
	diags_t d = {0};
	int r = load1(dir, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(s.n_cvms, 1);
	memcpy(out, s.cvms[0].hash, 65);
	spec_set_free(&s);
	diags_free(&d);
	rm_tree(dir);
}

static void test_hash(void **state) {
	(void)state;
	char base[65], more_cpus[65], moved[65], renamed[65], inactive[65], other_label[65];
	hash_of("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: box, labels: {a: b}}\n"
	        "spec: {flavor: manager, vcpus: 4}\n",
	        base);
	hash_of("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: box, labels: {a: b}}\n"
	        "spec: {flavor: manager, vcpus: 6}\n",
	        more_cpus);
	hash_of("# moved down and reordered\n\n---\nkind: CVM\nspec:\n  vcpus: 4\n  flavor: manager\n"
	        "apiVersion: cvmctl/v1\nmetadata:\n  labels: {a: b}\n  name: box\n",
	        moved);
	hash_of("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: crate, labels: {a: b}}\n"
	        "spec: {flavor: manager, vcpus: 4}\n",
	        renamed);
	hash_of("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: box, labels: {a: b}}\n"
	        "spec: {flavor: manager, vcpus: 4, state: inactive}\n",
	        inactive);
	hash_of("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: box, labels: {a: c}}\n"
	        "spec: {flavor: manager, vcpus: 4}\n",
	        other_label);
	assert_string_not_equal(base, more_cpus);
	assert_string_not_equal(base, other_label);
	assert_string_equal(base, moved);
	assert_string_equal(base, renamed);
	assert_string_equal(base, inactive);
}

/* ---- Provider fields against the schema ---- */

/* Loads one document stream; returns the diagnostics text ("" when it
 * loaded), and the set in *s when it loaded. */
static char *load_text(const spec_schemas_t *with, const char *text, spec_set_t *s) {
	diags_t d = {0};
	spec_set_t tmp;
	int r = spec_load_buffer("t.yaml", text, strlen(text), with, s ? s : &tmp, &d);
	if (r == 0 && !s) spec_set_free(&tmp);
	char *out = diags_format(&d);
	assert_int_equal(r == 0, d.n == 0);
	diags_free(&d);
	return out;
}

#define LAB_HEAD "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\nspec:\n  type: manager\n"
#define LAB_OK LAB_HEAD "  hosts: [qemu:///system]\n  firmware: /f\n  kernel: /k\n  initrd: /i\n"

static void assert_has_line(const char *text, const char *line) {
	if (!strstr(text, line)) fail_msg("no \"%s\" in:\n%s", line, text);
}


/* ---- hostile strings (issue 12) ---- */

/* Loads len bytes (NULs included) as t.yaml; the diagnostics text. */
static char *load_bytes(const char *text, size_t len) {
	diags_t d = {0};
	spec_set_t set;
	int r = spec_load_buffer("t.yaml", text, len, &schemas, &set, &d);
	if (r == 0) spec_set_free(&set);
	char *out = diags_format(&d);
	assert_int_equal(r == 0, d.n == 0);
	diags_free(&d);
	return out;
}

#define CVM_HEAD "apiVersion: cvmctl/v1\nkind: CVM\n"

/* A vcpus count far out of bounds with memoryGiB left to the default is
 * one error on vcpus: the backend's default memory is not asked for it
 * (4 * 1930066516 overflowed an int; found by fuzz_specs). */
static void test_huge_vcpus_default_memory(void **state) {
	(void)state;
	_cleanup_free_ char *text = load_text(&schemas, CVM_HEAD "metadata: {name: big}\nspec: {flavor: gcp, vcpus: 1930066516}\n", NULL);
	assert_has_line(text, "t.yaml:4:28: spec.vcpus: vcpus 1930066516 is above the gcp maximum of 224\n");
}


static void test_nul_and_controls(void **state) {
	(void)state;
	/* "\0" escapes: strlen would have cut these to "z9", "a", "v", "http://x". */
	const char *doc = LAB_OK "---\n" CVM_HEAD
	                  "metadata: {name: \"z9\\0; rm -rf /\", labels: {\"a\\0b\": ok, k: \"v\\0w\"}}\n"
	                  "spec: {flavor: manager, agent: {controlPlaneURL: \"http://x\\0.evil\"}}\n";
	_cleanup_free_ char *out = load_bytes(doc, strlen(doc));
	assert_has_line(out, "t.yaml:13:18: metadata.name: contains a NUL character (\"\\0\") at offset 2: not allowed in any string\n");
	assert_has_line(out, "t.yaml:13:45: metadata.labels: contains a NUL character (\"\\0\") at offset 1");
	assert_has_line(out, "t.yaml:13:60: metadata.labels.k: contains a NUL character (\"\\0\") at offset 1");
	assert_has_line(out, "t.yaml:14:50: spec.agent.controlPlaneURL: contains a NUL character (\"\\0\") at offset 8");

	/* C0 (ESC, tab, newline), DEL and C1 (U+0085, U+009B) in names, labels,
	 * URLs and provider paths. */
	const char *ctl = LAB_HEAD "  hosts: [\"qemu:///system\\t\"]\n  firmware: \"/f\\e[2J\"\n  kernel: /k\n"
	                  "  initrd: \"/i\\x7f\"\n  shareDir: \"/s\\N\"\n---\n" CVM_HEAD
	                  "metadata: {name: \"a\\x9b31m\", labels: {k: \"a\\nb\"}}\nspec: {flavor: manager}\n";
	_cleanup_free_ char *c = load_bytes(ctl, strlen(ctl));
	assert_has_line(c, "spec.hosts[0]: contains the control character U+0009 at offset 14");
	assert_has_line(c, "spec.firmware: contains the control character U+001B at offset 2");
	assert_has_line(c, "spec.initrd: contains the control character U+007F at offset 2");
	assert_has_line(c, "spec.shareDir: contains the control character U+0085 at offset 2");
	assert_has_line(c, "metadata.name: contains the control character U+009B at offset 1");
	assert_has_line(c, "metadata.labels.k: contains the control character U+000A at offset 1");
	/* Nothing raw reaches the output. */
	assert_null(strchr(c, '\x1b'));
	assert_null(strstr(c, "\xc2\x9b"));
}

static void test_bom(void **state) {
	(void)state;
	/* At the start of the stream, and of a later document. */
	const char *doc = "\xef\xbb\xbf" LAB_OK "---\n\xef\xbb\xbf" CVM_HEAD "metadata: {name: box}\nspec: {flavor: manager}\n";
	_cleanup_free_ char *out = load_bytes(doc, strlen(doc));
	assert_string_equal(out, "");
	/* Inside a value it is a character like any other (and not a control). */
	const char *inval = LAB_OK "---\n" CVM_HEAD "metadata: {name: \"b\xef\xbb\xbfx\"}\nspec: {flavor: manager}\n";
	_cleanup_free_ char *v = load_bytes(inval, strlen(inval));
	assert_has_line(v, "metadata.name: 'b\xef\xbb\xbfx' is not a valid name");
}

static void test_long_values_cut(void **state) {
	(void)state;
	/* A 1 MB name and label key: the message shows 40 characters and "...". */
	size_t big = 1 << 20;
	strbuf sb = {0};
	sb_add(&sb, LAB_OK "---\n" CVM_HEAD "metadata:\n  name: \"");
	for (size_t i = 0; i < big; i++) sb_add(&sb, "A");
	/* an explicit key: a simple key is at most 1024 characters */
	sb_add(&sb, "\"\n  labels:\n    ? ");
	for (size_t i = 0; i < big; i++) sb_add(&sb, "K");
	sb_add(&sb, "\n    : v\nspec: {flavor: manager, provider: \"");
	for (size_t i = 0; i < big; i++) sb_add(&sb, "p");
	sb_add(&sb, "\"}\n");
	_cleanup_free_ char *out = load_bytes(sb.buf, sb.len);
	sb_free(&sb);
	assert_true(strlen(out) < 2000);
	assert_has_line(out, "metadata.name: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...' is not a valid name");
	assert_has_line(out, "metadata.labels.KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK...: 'KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK...' is not a valid label key");
	assert_has_line(out, "spec.provider: provider 'pppppppppppppppppppppppppppppppppppppppp...' is not defined");
}


static void test_relative_paths_refused(void **state) {
	(void)state;
	const char *doc = LAB_HEAD "  hosts: [qemu:///system]\n  firmware: ovmf.fd\n  kernel: ./k\n  initrd: /i\n"
	                  "  shareDir: shares\n  controlPlaneCAFile: ca.pem\n---\n"
	                  "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: g}\n"
	                  "spec: {type: gcp, project: p, zone: z, credentialsFile: key.json}\n---\n" CVM_HEAD
	                  "metadata: {name: box}\nspec: {flavor: manager, agent: {controlPlaneCAFile: ../ca.pem}}\n";
	_cleanup_free_ char *out = load_bytes(doc, strlen(doc));
	const char *tail = "is a relative path: paths in specs must be absolute";
	_cleanup_free_ char *fw = xasprintf("t.yaml:7:13: spec.firmware: 'ovmf.fd' %s", tail);
	_cleanup_free_ char *k = xasprintf("t.yaml:8:11: spec.kernel: './k' %s", tail);
	_cleanup_free_ char *sd = xasprintf("t.yaml:10:13: spec.shareDir: 'shares' %s", tail);
	_cleanup_free_ char *ca = xasprintf("t.yaml:11:23: spec.controlPlaneCAFile: 'ca.pem' %s", tail);
	_cleanup_free_ char *cred = xasprintf("t.yaml:16:57: spec.credentialsFile: 'key.json' %s", tail);
	_cleanup_free_ char *agent = xasprintf("t.yaml:21:53: spec.agent.controlPlaneCAFile: '../ca.pem' %s", tail);
	assert_has_line(out, fw);
	assert_has_line(out, k);
	assert_has_line(out, sd);
	assert_has_line(out, ca);
	assert_has_line(out, cred);
	assert_has_line(out, agent);
	assert_null(strstr(out, "spec.initrd"));
}


/* Durations are bounded (100 years): every sum with a time fits, and a
 * run of digits that would overflow is an error, not a wrapped value. */
static void test_duration_bounds(void **state) {
	(void)state;
	int64_t v;
	assert_int_equal(parse_duration("36500d", &v), 0);
	assert_int_equal(v, DURATION_MAX_S);
	assert_int_equal(parse_duration("36500d1s", &v), -ERANGE);
	assert_int_equal(parse_duration("99999999999999999999999s", &v), -ERANGE);
	assert_int_equal(parse_duration("106751991167300d", &v), -ERANGE); /* * 86400 wraps an int64 */
	assert_int_equal(parse_duration("99999999999999999999999x", &v), -EINVAL);
	assert_int_equal(parse_duration("36499d86400s", &v), 0);
	const char *doc = LAB_OK "---\n" CVM_HEAD "metadata: {name: box}\n"
	                  "spec: {flavor: manager, certificates: {validity: 106751991167300d, renewBefore: 1d}}\n";
	_cleanup_free_ char *out = load_bytes(doc, strlen(doc));
	assert_has_line(out, "spec.certificates.validity: '106751991167300d' is longer than the maximum of 100 years (36500d)");
}

static void test_file_names_escaped(void **state) {
	(void)state;
	diags_t d = {0};
	diags_add(&d, "specs/\x1b]0;owned\x07.yaml", 1, 2, "f\x1b[1m", "bad \x1b[31mred\xc2\x9b");
	_cleanup_free_ char *out = diags_format(&d);
	diags_free(&d);
	assert_string_equal(out, "specs/\\x1b]0;owned\\x07.yaml:1:2: f\\x1b[1m: bad \\x1b[31mred\\u009b\n");
}

static void test_provider_fields(void **state) {
	(void)state;
	spec_set_t s;
	_cleanup_free_ char *ok = load_text(&schemas, LAB_OK "  connectTimeout: 1m\n  insecureNoSEV: false\n", &s);
	assert_string_equal(ok, "");
	assert_int_equal(setting_int(&s.providers[0], "connectTimeout"), 60); /* durations are seconds */
	spec_set_free(&s);

	/* Without SEV there is no firmware to require. */
	_cleanup_free_ char *nosev = load_text(&schemas,
	                                       LAB_HEAD "  hosts: [qemu:///system]\n  kernel: /k\n  initrd: /i\n"
	                                                "  insecureNoSEV: true\n",
	                                       NULL);
	assert_string_equal(nosev, "");

	_cleanup_free_ char *bad = load_text(&schemas,
	                                     LAB_OK "  connectTimeout: 10 seconds\n  callTimeout: 1h\n"
	                                            "  capacity: {vcpu: 3, memoryGiB: 0}\n  cpumodel: x\n"
	                                            "  firmware: [/f]\n",
	                                     NULL);
	assert_has_line(bad, "t.yaml:10:19: spec.connectTimeout: '10 seconds' is not a duration");
	assert_has_line(bad, "t.yaml:11:16: spec.callTimeout: must be at most 10m\n");
	assert_has_line(bad, "t.yaml:12:14: spec.capacity.vcpu: unknown field (did you mean 'vcpus'?)\n");
	assert_has_line(bad, "t.yaml:12:34: spec.capacity.memoryGiB: must be at least 1\n");
	assert_has_line(bad, "t.yaml:13:3: spec.cpumodel: unknown field (did you mean 'cpuModel'?)\n");
	assert_has_line(bad, "t.yaml:14:3: spec.firmware: duplicate key (first at line 7 column 3)\n");
	/* the duplicate is not read, and the firmware given first satisfies the check */
	assert_null(strstr(bad, "required unless"));

	/* A wrongly typed firmware is one mistake, not two. */
	_cleanup_free_ char *typed = load_text(&schemas,
	                                       LAB_HEAD "  hosts: [qemu:///system]\n  firmware: {a: b}\n"
	                                                "  kernel: /k\n  initrd: /i\n",
	                                       NULL);
	assert_string_equal(typed, "t.yaml:7:13: spec.firmware: expected a string, got a mapping\n");
}

static void test_shared_limits(void **state) {
	(void)state;
	spec_set_t s;
	_cleanup_free_ char *ok = load_text(&schemas, LAB_OK "  concurrency: 4\n  requestsPerSecond: 2.5\n", &s);
	assert_string_equal(ok, "");
	assert_int_equal(s.providers[0].concurrency, 4);
	assert_true(s.providers[0].requests_per_second == 2.5);
	/* the engine's, not the backend's */
	assert_null(json_object_get(s.providers[0].settings, "concurrency"));
	assert_null(json_object_get(s.providers[0].settings, "requestsPerSecond"));
	spec_set_free(&s);

	_cleanup_free_ char *bad = load_text(&schemas,
	                                     LAB_OK "  concurrency: 0\n  requestsPerSecond: 0\n---\n" LAB_OK
	                                            "  concurrency: \"4\"\n  requestsPerSecond: fast\n"
	                                            "  concurency: 2\n",
	                                     NULL);
	assert_has_line(bad, "t.yaml:10:16: spec.concurrency: concurrency 0 is outside 1..256\n");
	assert_has_line(bad, "t.yaml:11:22: spec.requestsPerSecond: requestsPerSecond must be greater than 0, not 0\n");
	assert_has_line(bad, "t.yaml:22:16: spec.concurrency: expected an integer, got the string \"4\"\n");
	assert_has_line(bad, "t.yaml:23:22: spec.requestsPerSecond: expected a number, got 'fast'\n");
	assert_has_line(bad, "t.yaml:24:3: spec.concurency: unknown field (did you mean 'concurrency'?)\n");
}

#define CVM_DOC "---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: box}\nspec: {flavor: manager, vcpus: 2}\n"

static void hash_with(const char *provider_extra, char out[65], char **json) {
	_cleanup_free_ char *text = xasprintf(LAB_HEAD "  firmware: /f\n  initrd: /i\n%s" CVM_DOC, provider_extra);
	spec_set_t s;
	_cleanup_free_ char *diags = load_text(&schemas, text, &s);
	assert_string_equal(diags, "");
	memcpy(out, s.cvms[0].hash, 65);
	if (json) *json = cvm_spec_canonical_json(&s, &s.cvms[0]);
	spec_set_free(&s);
}

/* The Provider settings that reach a CVM are part of its canonical form
 * (and hash); the ones that do not (FX_NONE: hosts, capacity, timeouts)
 * are not, so changing them changes nothing on the CVMs. */
static void test_canonical_provider_settings(void **state) {
	(void)state;
	char base[65], hosts[65], cap[65], timeout[65], kernel[65], network[65];
	_cleanup_free_ char *json = NULL;
	hash_with("  kernel: /k\n  hosts: [qemu:///system]\n", base, &json);
	assert_has_line(json, "\"" CANONICAL_PROVIDER_KEY "\":{\"cmdline\":\"quiet console=null\",\"cpuModel\":\"EPYC-Milan\","
	                      "\"domainType\":\"kvm\",\"firmware\":\"/f\",\"initrd\":\"/i\",\"insecureNoSEV\":false,"
	                      "\"kernel\":\"/k\",\"network\":\"default\",\"vtpm\":false}");
	hash_with("  kernel: /k\n  hosts: [qemu:///system, qemu+ssh://h2/system]\n", hosts, NULL);
	hash_with("  kernel: /k\n  hosts: [qemu:///system]\n  capacity: {vcpus: 4}\n", cap, NULL);
	hash_with("  kernel: /k\n  hosts: [qemu:///system]\n  connectTimeout: 30s\n", timeout, NULL);
	hash_with("  kernel: /k2\n  hosts: [qemu:///system]\n", kernel, NULL);
	hash_with("  kernel: /k\n  hosts: [qemu:///system]\n  network: lab\n", network, NULL);
	assert_string_equal(base, hosts);
	assert_string_equal(base, cap);
	assert_string_equal(base, timeout);
	assert_string_not_equal(base, kernel);
	assert_string_not_equal(base, network);
	assert_string_not_equal(kernel, network);
}

/* ---- the seam is closed ---- */

/* A backend only this test knows, with a field of every kind: it is
 * registered the way the engine registers its backends (the table handed
 * to spec_load), and specs/ checks and defaults it without a change. */
static const char *const acme_tiers[] = {"gold", "silver", NULL};

static char *acme_check_tag(const char *v) {
	return strchr(v, ' ') ? xasprintf("tag '%s' contains a space", v) : NULL;
}

static const field_def_t acme_quota_fields[] = {
	{.name = "cpus", .type = FT_INT, .required = true, .min = 1, .max = 64},
	{.name = "burst", .type = FT_BOOL, .dflt = "false"},
	{0},
};

static const field_def_t acme_fields[] = {
	{.name = "region", .type = FT_STRING, .required = true, .effect = FX_REPLACE},
	{.name = "tier", .type = FT_STRING, .dflt = "\"silver\"", .values = acme_tiers, .effect = FX_UPDATE},
	{.name = "retries", .type = FT_INT, .dflt = "3", .min = 0, .max = 10},
	{.name = "pollEvery", .type = FT_DURATION, .dflt = "30", .min = 1, .max = 3600},
	{.name = "tags", .type = FT_STRINGS, .noun = "tag", .check = acme_check_tag},
	{.name = "quota", .type = FT_OBJECT, .fields = acme_quota_fields},
	{.name = "tokenFile", .type = FT_STRING},
	{.name = "beta", .type = FT_BOOL, .dflt = "false"},
	{0},
};

/* A field whose value was reported is absent from the settings. */
static void acme_check(const json_t *s, schema_report_fn report, void *ctx) {
	const char *tier = json_string_value(json_object_get(s, "tier"));
	if (json_is_true(json_object_get(s, "beta")) && tier && strcmp(tier, "gold"))
		report(ctx, "beta", "needs tier gold");
}

static int acme_memory(int vcpus) { return 3 * vcpus; }

static int acme_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	(void)vcpus;
	if (memory_gib % 3 == 0) return 0;
	*field = "memoryGiB";
	snprintf(msg, n, "acme sizes come in 3 GiB steps");
	return -EINVAL;
}

static const backend_schema_t acme_schema = {
	.flavor = "acme",
	.place_noun = "region",
	.fields = acme_fields,
	.secret_file_field = "tokenFile",
	.check = acme_check,
	.min_vcpus = 1,
	.max_vcpus = 16,
	.default_vcpus = 2,
	.default_memory_gib = acme_memory,
	.check_size = acme_size,
};

#define ACME_HEAD "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: acme-1}\nspec:\n  type: acme\n"

static void test_seam_is_closed(void **state) {
	(void)state;
	const backend_schema_t *const with_acme[] = {&gcp_schema, &azure_schema, &manager_schema, &acme_schema};
	const spec_schemas_t reg = {with_acme, ARRAY_SIZE(with_acme)};

	spec_set_t s;
	_cleanup_free_ char *ok = load_text(&reg,
	                                    ACME_HEAD "  region: north\n  tags: [a, b]\n  quota: {cpus: 4}\n"
	                                              "  pollEvery: 2m\n---\napiVersion: cvmctl/v1\nkind: CVM\n"
	                                              "metadata: {name: box}\nspec: {flavor: acme}\n",
	                                    &s);
	assert_string_equal(ok, "");
	const provider_spec_t *p = &s.providers[0];
	assert_ptr_equal(p->backend, &acme_schema);
	_cleanup_free_ char *settings = json_dumps(p->settings, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(settings, "{\"beta\":false,\"pollEvery\":120,\"quota\":{\"burst\":false,\"cpus\":4},"
	                              "\"region\":\"north\",\"retries\":3,\"tags\":[\"a\",\"b\"],\"tier\":\"silver\"}");
	const cvm_spec_t *c = &s.cvms[0];
	assert_ptr_equal(c->backend, &acme_schema);
	assert_int_equal(c->vcpus, 2);
	assert_int_equal(c->memory_gib, 6);
	_cleanup_free_ char *json = cvm_spec_canonical_json(&s, c);
	/* FX_REPLACE and FX_UPDATE fields reach the CVM, the others do not */
	assert_has_line(json, "\"" CANONICAL_PROVIDER_KEY "\":{\"region\":\"north\",\"tier\":\"silver\"}");
	spec_set_free(&s);

	_cleanup_free_ char *bad = load_text(&reg,
	                                     ACME_HEAD "  regoin: north\n  tier: bronze\n  retries: many\n"
	                                               "  pollEvery: 2h\n  tags: [a, 'b c', a]\n  quota: {burst: yes}\n"
	                                               "  beta: true\n  token: abc\n  hosts: [x]\n"
	                                               "---\napiVersion: cvmctl/v1\nkind: CVM\n"
	                                               "metadata: {name: box}\nspec: {flavor: acme, vcpus: 17, memoryGiB: 4}\n"
	                                               "---\napiVersion: cvmctl/v1\nkind: CVM\n"
	                                               "metadata: {name: box2}\nspec: {flavor: acme, memoryGiB: 4}\n",
	                                     NULL);
	assert_has_line(bad, "t.yaml:5:3: spec.region: required field is missing\n");
	assert_has_line(bad, "t.yaml:6:3: spec.regoin: unknown field (did you mean 'region'?)\n");
	assert_has_line(bad, "t.yaml:7:9: spec.tier: unknown tier 'bronze' (expected gold or silver)\n");
	assert_has_line(bad, "t.yaml:8:12: spec.retries: expected an integer, got 'many'\n");
	assert_has_line(bad, "t.yaml:9:14: spec.pollEvery: must be at most 1h\n");
	assert_has_line(bad, "t.yaml:10:13: spec.tags[1]: tag 'b c' contains a space\n");
	assert_has_line(bad, "t.yaml:10:20: spec.tags[2]: tag 'a' is listed twice\n");
	assert_has_line(bad, "t.yaml:11:10: spec.quota.cpus: required field is missing\n");
	assert_has_line(bad, "t.yaml:11:18: spec.quota.burst: expected true or false, got 'yes'\n");
	/* the tier was wrong (so absent): the schema's check does not pile on */
	assert_null(strstr(bad, "needs tier gold"));
	assert_has_line(bad, "t.yaml:13:3: spec.token: secrets are read from files only: use tokenFile\n");
	assert_has_line(bad, "t.yaml:14:3: spec.hosts: field 'hosts' is not valid for an acme provider\n");
	assert_has_line(bad, "t.yaml:19:29: spec.vcpus: vcpus 17 is above the acme maximum of 16\n");
	assert_has_line(bad, "t.yaml:24:33: spec.memoryGiB: acme sizes come in 3 GiB steps\n");

	/* the schema's own check, at the field it names */
	_cleanup_free_ char *cross = load_text(&reg, ACME_HEAD "  region: north\n  beta: true\n", NULL);
	assert_string_equal(cross, "t.yaml:7:9: spec.beta: needs tier gold\n");

	/* and a type nobody registered is still refused, the others offered */
	_cleanup_free_ char *unknown = load_text(&schemas, ACME_HEAD "  region: north\n", NULL);
	assert_string_equal(unknown, "t.yaml:5:9: spec.type: unknown provider type 'acme' (expected gcp, azure or manager)\n"
	                             "t.yaml:6:3: spec.region: unknown field\n");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_tree),        cmocka_unit_test(test_bad_cases),
		cmocka_unit_test(test_multi_file),       cmocka_unit_test(test_alias_bomb_fast),
		cmocka_unit_test(test_hidden_dirs_skipped), cmocka_unit_test(test_size_cap), cmocka_unit_test(test_huge_vcpus_default_memory),
		cmocka_unit_test(test_same_file_twice),  cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_missing_path),     cmocka_unit_test(test_nothing_partial),
		cmocka_unit_test(test_hash),             cmocka_unit_test(test_provider_fields),
		cmocka_unit_test(test_shared_limits),    cmocka_unit_test(test_canonical_provider_settings),
		cmocka_unit_test(test_seam_is_closed),   cmocka_unit_test(test_nul_and_controls),
		cmocka_unit_test(test_bom),              cmocka_unit_test(test_long_values_cut),
		cmocka_unit_test(test_file_names_escaped), cmocka_unit_test(test_relative_paths_refused),
		cmocka_unit_test(test_duration_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
