/* specs/ at size: the indexes behind big mappings, anchors, merges,
 * duplicate names and file lists must answer exactly what the scans they
 * replaced did. Trees of thousands of documents and mappings of dozens of
 * keys (above YAML_MAP_INDEX_MIN) are built in memory or in a temporary
 * directory. No timing is asserted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/provider.h"
#include "specs/spec.h"

static const backend_schema_t *const builtin[] = {&gcp_schema, &azure_schema, &manager_schema};
static const spec_schemas_t schemas = {builtin, ARRAY_SIZE(builtin)};

static const char provider_doc[] = "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\n"
                                   "spec: {type: manager, hosts: [qemu:///system], firmware: /f, kernel: /k, initrd: /i}\n";

static int load_text(const char *text, spec_set_t *s, diags_t *d) {
	return spec_load_buffer("mem.yaml", text, strlen(text), &schemas, s, d);
}

/* Loads text that must fail and returns the formatted diagnostics. */
static char *load_bad_text(const char *text) {
	spec_set_t s;
	diags_t d = {0};
	assert_int_equal(load_text(text, &s, &d), -EINVAL);
	char *out = diags_format(&d);
	diags_free(&d);
	return out;
}

static void must_contain(const char *hay, const char *needle) {
	if (!strstr(hay, needle)) fail_msg("no \"%s\" in:\n%s", needle, hay);
}

/* A Provider spec of 13 keys is looked up through its index. */
static void test_big_mapping_lookups(void **state) {
	(void)state;
	static const char text[] = "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\n"
	                           "spec:\n  type: manager\n  hosts: [qemu:///system]\n  firmware: /f\n  kernel: /k\n"
	                           "  initrd: /i\n  cmdline: console=ttyS0\n  domainType: qemu\n  cpuModel: EPYC\n"
	                           "  network: default\n  vtpm: true\n  capacity: {vcpus: 4, memoryGiB: 8}\n"
	                           "  shareDir: /srv/shares\n  insecureNoSEV: false\n";
	spec_set_t s;
	diags_t d = {0};
	int r = load_text(text, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	const json_t *st = s.providers[0].settings;
	assert_string_equal(json_string_value(json_object_get(st, "firmware")), "/f");
	assert_string_equal(json_string_value(json_object_get(st, "cmdline")), "console=ttyS0");
	assert_string_equal(json_string_value(json_object_get(st, "domainType")), "qemu");
	assert_string_equal(json_string_value(json_object_get(st, "shareDir")), "/srv/shares");
	assert_true(json_is_true(json_object_get(st, "vtpm")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "capacity"), "memoryGiB")), 8);
	spec_set_free(&s);
	diags_free(&d);
}

/* Duplicate keys in a big mapping name the first occurrence, and a key
 * that appears three times is reported twice, each against the first. */
static void test_big_mapping_duplicates(void **state) {
	(void)state;
	strbuf sb = {0};
	sb_add(&sb, provider_doc);
	sb_add(&sb, "---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata:\n  name: a\n  labels:\n");
	for (int i = 0; i < 40; i++) sb_addf(&sb, "    k%d: v\n", i); /* lines 11..50 */
	sb_add(&sb, "    k7: again\n    k7: thrice\n");            /* lines 51, 52 */
	sb_add(&sb, "spec: {flavor: manager}\n");
	_cleanup_free_ char *text = sb_take(&sb);
	_cleanup_free_ char *out = load_bad_text(text);
	must_contain(out, "mem.yaml:51:5: metadata.labels.k7: duplicate key (first at line 18 column 5)\n");
	must_contain(out, "mem.yaml:52:5: metadata.labels.k7: duplicate key (first at line 18 column 5)\n");
	size_t lines = 0;
	for (const char *p = out; *p; p++) lines += *p == '\n';
	assert_int_equal(lines, 2);
}

/* A merge into a big mapping: its own keys win, earlier sources win over
 * later ones, the rest comes from the sources. */
static void test_merge_into_big_mapping(void **state) {
	(void)state;
	strbuf sb = {0};
	sb_add(&sb, provider_doc);
	sb_add(&sb, "---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata:\n  name: a\n  labels:\n    <<: [");
	sb_add(&sb, "{b0: first, b1: first}, {b0: second, b2: second}]\n");
	for (int i = 0; i < 20; i++) sb_addf(&sb, "    o%d: own\n", i);
	sb_add(&sb, "    b1: own\n");
	sb_add(&sb, "spec: {flavor: manager}\n");
	_cleanup_free_ char *text = sb_take(&sb);
	spec_set_t s;
	diags_t d = {0};
	int r = load_text(text, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	const cvm_spec_t *c = &s.cvms[0];
	assert_int_equal(c->n_labels, 23);
	int seen = 0;
	for (size_t i = 0; i < c->n_labels; i++) {
		const label_t *l = &c->labels[i];
		if (!strcmp(l->key, "b0")) seen++, assert_string_equal(l->value, "first");
		if (!strcmp(l->key, "b1")) seen++, assert_string_equal(l->value, "own");
		if (!strcmp(l->key, "b2")) seen++, assert_string_equal(l->value, "second");
	}
	assert_int_equal(seen, 3);
	spec_set_free(&s);
	diags_free(&d);
}

/* Thousands of anchors; a later anchor of the same name shadows the
 * earlier one. */
static void test_many_anchors(void **state) {
	(void)state;
	strbuf sb = {0};
	sb_add(&sb, "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: lab}\nspec:\n  type: manager\n"
	            "  hosts: [qemu:///system]\n  firmware: /f\n  initrd: /i\n  kernel: &k0 /old\n");
	sb_add(&sb, "x:\n");
	for (int i = 1; i < 5000; i++) sb_addf(&sb, "  - &k%d v%d\n", i, i);
	sb_add(&sb, "  - &k0 /new\n  - *k0\n  - *k4999\n");
	_cleanup_free_ char *text = sb_take(&sb);
	_cleanup_free_ char *out = load_bad_text(text);
	/* the document's only mistake is the unknown top-level key */
	assert_string_equal(out, "mem.yaml:10:1: x: unknown field\n");
}

static char *fleet_text(int n, int dup_of) {
	strbuf sb = {0};
	sb_add(&sb, provider_doc);
	for (int i = 0; i < n; i++) {
		int name = i == n - 1 && dup_of >= 0 ? dup_of : i;
		sb_addf(&sb, "---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: c-%05d}\nspec: {flavor: manager}\n", name);
	}
	return sb_take(&sb);
}

/* 10,000 CVMs: all loaded and resolved; one duplicate name among them is
 * one diagnostic naming the first. */
static void test_ten_thousand_cvms(void **state) {
	(void)state;
	enum { N = 10000 };
	_cleanup_free_ char *text = fleet_text(N, -1);
	spec_set_t s;
	diags_t d = {0};
	int r = load_text(text, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(s.n_cvms, N);
	for (size_t i = 0; i < s.n_cvms; i++) {
		char want[32];
		snprintf(want, sizeof want, "c-%05zu", i);
		assert_string_equal(s.cvms[i].name, want);
		assert_int_equal(s.cvms[i].provider_idx, 0);
		assert_int_equal(strlen(s.cvms[i].hash), 64);
	}
	spec_set_free(&s);
	diags_free(&d);

	_cleanup_free_ char *dup = fleet_text(N, 5);
	_cleanup_free_ char *out = load_bad_text(dup);
	/* doc i starts at line 5 + 5i ("---"), its name 3 lines further */
	char want[160];
	snprintf(want, sizeof want,
	         "mem.yaml:%d:18: metadata.name: duplicate CVM name 'c-00005': already active at mem.yaml:%d:18\n",
	         8 + 5 * (N - 1), 8 + 5 * 5);
	assert_string_equal(out, want);
}

/* A file named twice (on its own and inside its directory) among many is
 * loaded once. */
static void test_many_files_named_twice(void **state) {
	(void)state;
	enum { FILES = 500 };
	char dir[] = "/tmp/test_specs_scale.XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *pfile = xasprintf("%s/p.yaml", dir);
	assert_int_equal(write_file_atomic(pfile, provider_doc, strlen(provider_doc), 0644), 0);
	for (int i = 0; i < FILES; i++) {
		_cleanup_free_ char *path = xasprintf("%s/c-%04d.yaml", dir, i);
		_cleanup_free_ char *doc =
			xasprintf("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: c-%04d}\nspec: {flavor: manager}\n", i);
		assert_int_equal(write_file_atomic(path, doc, strlen(doc), 0644), 0);
	}
	_cleanup_free_ char *again = xasprintf("%s/c-0123.yaml", dir);
	const char *paths[] = {again, dir, pfile};
	spec_set_t s;
	diags_t d = {0};
	int r = spec_load(paths, ARRAY_SIZE(paths), &schemas, &s, &d);
	if (r < 0) diags_print(&d);
	assert_int_equal(r, 0);
	assert_int_equal(s.n_files, FILES + 1);
	assert_int_equal(s.n_cvms, FILES);
	assert_string_equal(s.files[0], again); /* in the order first named */
	spec_set_free(&s);
	diags_free(&d);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_mapping_lookups),    cmocka_unit_test(test_big_mapping_duplicates),
		cmocka_unit_test(test_merge_into_big_mapping), cmocka_unit_test(test_many_anchors),
		cmocka_unit_test(test_ten_thousand_cvms),      cmocka_unit_test(test_many_files_named_twice),
	};
	return cmocka_run_group_tests_name("specs_scale", tests, NULL, NULL);
}
