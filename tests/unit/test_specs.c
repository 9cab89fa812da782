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
	return spec_load(paths, 1, s, d);
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
	assert_int_equal(g->type, FLAVOR_GCP);
	assert_string_equal(g->project, "acme-cc");
	assert_string_equal(g->zone, "europe-west4-a");
	assert_string_equal(g->credentials_file, "/etc/cvmctl/gcp-sa.json");
	assert_string_equal(g->endpoint, "https://compute.googleapis.com/compute/v1");
	assert_string_equal(g->pos.file, FIX "good/providers/all.yaml");
	assert_int_equal(g->pos.line, 1);

	const provider_spec_t *a = find_provider(&s, "azure-prod");
	assert_non_null(a);
	assert_int_equal(a->type, FLAVOR_AZURE);
	assert_string_equal(a->subscription, "00000000-0000-0000-0000-000000000000");
	assert_string_equal(a->resource_group, "cvms");
	assert_string_equal(a->location, "westeurope");
	assert_string_equal(a->tenant, "00000000-0000-0000-0000-000000000001");
	assert_string_equal(a->client_id, "00000000-0000-0000-0000-000000000002");
	assert_string_equal(a->client_secret_file, "/etc/cvmctl/azure-secret");
	assert_int_equal(a->pos.line, 11);

	const provider_spec_t *m = find_provider(&s, "lab");
	assert_non_null(m);
	assert_int_equal(m->type, FLAVOR_MANAGER);
	assert_int_equal(m->n_hosts, 2);
	assert_string_equal(m->hosts[0], "qemu+ssh://snp-host-1/system");
	assert_string_equal(m->hosts[1], "qemu+ssh://snp-host-2/system");
	assert_string_equal(m->firmware, "/usr/share/ovmf/OVMF.amdsev.fd");
	assert_string_equal(m->kernel, "/srv/cvm-guest/bzImage");
	assert_string_equal(m->initrd, "/srv/cvm-guest/rootfs.cpio.gz");
	assert_null(m->cmdline);
	assert_string_equal(m->domain_type, "kvm");
	assert_string_equal(m->cpu_model, "EPYC-Milan");
	/* No default in the spec: the backend puts shares below the state directory. */
	assert_null(m->share_dir);
	assert_true(m->vtpm);
	assert_false(m->insecure_no_sev);
	assert_int_equal(m->capacity_vcpus, 32);
	assert_int_equal(m->capacity_memory_gib, 64);

	char buf[64];
	const cvm_spec_t *c = find_cvm(&s, "analytics-01", true);
	assert_non_null(c);
	assert_int_equal(c->flavor, FLAVOR_GCP);
	assert_string_equal(c->provider, "gcp-prod");
	assert_ptr_equal(&s.providers[c->provider_idx], g);
	assert_int_equal(c->vcpus, 8);
	assert_int_equal(c->memory_gib, 32);
	assert_string_equal(gcp_machine_type(c->vcpus, c->memory_gib, buf, sizeof buf), "n2d-standard-8");
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
	assert_int_equal(c->vcpus, flavor_limits(FLAVOR_AZURE)->default_vcpus);
	assert_int_equal(c->memory_gib, flavor_limits(FLAVOR_AZURE)->default_memory_gib);
	assert_string_equal(azure_vm_size(c->vcpus, c->memory_gib, buf, sizeof buf), "Standard_DC2as_v5");
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
	assert_int_equal(old->vcpus, flavor_limits(FLAVOR_MANAGER)->default_vcpus);
	assert_int_equal(old->memory_gib, flavor_limits(FLAVOR_MANAGER)->default_memory_gib);
	assert_string_not_equal(old->hash, c->hash);

	c = find_cvm(&s, "custom-gcp", true);
	assert_non_null(c);
	assert_string_equal(gcp_machine_type(c->vcpus, c->memory_gib, buf, sizeof buf), "n2d-custom-16-24576");

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
	assert_string_equal(s.providers[0].initrd, "/k");
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

static void test_stdin(void **state) {
	(void)state;
	assert_non_null(freopen(FIX "bad/tabs.yaml", "r", stdin));
	_cleanup_free_ char *text = load_bad("-");
	assert_string_equal(text, "<stdin>:6:1: tab character in indentation\n");

	assert_non_null(freopen(FIX "good/providers/all.yaml", "r", stdin));
	const char *paths[] = {"-", FIX "good/cvms"};
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(spec_load(paths, 2, &s, &d), 0);
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
	assert_int_equal(spec_load(paths, 2, &s, &d), -EINVAL);
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

/* ---- the flavor table ---- */

static void test_flavor_sizes(void **state) {
	(void)state;
	char buf[64];
	static const struct {
		int vcpus, mem;
		const char *want; /* NULL: no N2D type */
	} gcp[] = {
		{2, 8, "n2d-standard-2"},     {224, 896, "n2d-standard-224"}, {4, 32, "n2d-highmem-4"},
		{96, 768, "n2d-highmem-96"},  {128, 1024, NULL},              {224, 224, "n2d-highcpu-224"},
		{8, 4, "n2d-custom-8-4096"},  {8, 3, NULL},                   {8, 64, "n2d-highmem-8"},
		{8, 65, NULL},                {6, 24, NULL},                  {128, 200, NULL},
		{3, 6, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(gcp); i++) {
		const char *got = gcp_machine_type(gcp[i].vcpus, gcp[i].mem, buf, sizeof buf);
		if (!gcp[i].want) {
			if (got) fail_msg("%d/%d: got %s, want none", gcp[i].vcpus, gcp[i].mem, got);
		} else if (!got || strcmp(got, gcp[i].want)) {
			fail_msg("%d/%d: got %s, want %s", gcp[i].vcpus, gcp[i].mem, got ? got : "none", gcp[i].want);
		}
	}
	assert_string_equal(azure_vm_size(96, 384, buf, sizeof buf), "Standard_DC96as_v5");
	assert_null(azure_vm_size(8, 16, buf, sizeof buf));
	assert_null(azure_vm_size(128, 512, buf, sizeof buf));

	const char *field;
	char msg[256];
	assert_int_equal(flavor_check_size(FLAVOR_GCP, 300, 1200, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "vcpus");
	assert_string_equal(msg, "vcpus 300 is above the gcp maximum of 224");
	assert_int_equal(flavor_check_size(FLAVOR_AZURE, 8, 16, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "memoryGiB");
	assert_int_equal(flavor_check_size(FLAVOR_MANAGER, 64, 30, &field, msg, sizeof msg), 0);
	assert_int_equal(flavor_check_size(FLAVOR_MANAGER, 65, 30, &field, msg, sizeof msg), -EINVAL);
	/* every default is itself a valid size */
	for (int f = 0; f < FLAVOR__COUNT; f++) {
		const flavor_limits_t *l = flavor_limits((flavor_t)f);
		assert_int_equal(flavor_check_size((flavor_t)f, l->default_vcpus, l->default_memory_gib, &field, msg, sizeof msg), 0);
		assert_int_equal(flavor_from_name(flavor_name((flavor_t)f)), f);
	}
	assert_null(flavor_limits(FLAVOR_INVALID));
	assert_int_equal(flavor_from_name("aws"), FLAVOR_INVALID);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_tree),        cmocka_unit_test(test_bad_cases),
		cmocka_unit_test(test_multi_file),       cmocka_unit_test(test_alias_bomb_fast),
		cmocka_unit_test(test_hidden_dirs_skipped), cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_missing_path),     cmocka_unit_test(test_nothing_partial),
		cmocka_unit_test(test_hash),             cmocka_unit_test(test_flavor_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
