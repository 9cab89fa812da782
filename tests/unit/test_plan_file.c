/* The saved-plan reader, seal and comparison (reconciler/plan_file.h): a
 * plan written by plan_to_json reads back with every member apply needs;
 * an edit breaks the seal; anything that is not a plan of this major
 * version is an error sentence; the comparison names the first
 * difference and leaves out what does not decide the plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"
#include "reconciler/plan_file.h"

#define INST "0a0b0c0d-0000-4000-8000-000000000001"
#define HASH "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char *const paths[] = {"specs", "more/specs"};

/* A plan of two actions as plan_to_json writes it. */
static json_t *sample(long max_deletions) {
	action_t v[2] = {
	    {.kind = ACT_CREATE, .id = "11111111-0000-4000-8000-000000000000", .name = "web-1", .provider = "lab",
	     .code = "new", .placement = "qemu:///a"},
	    {.kind = ACT_DELETE, .id = "22222222-0000-4000-8000-000000000000", .name = "web-2", .provider = "lab",
	     .code = "spec-removed"},
	};
	plan_t p = {.scope = "default", .v = v, .n = 2, .n_changes = 2};
	plan_meta_t m = {.version = "9.9.9", .installation = INST, .paths = paths, .n_paths = 2, .content_hash = HASH,
	                 .revision = NULL, .allow_replace = true, .max_deletions = max_deletions};
	return plan_to_json_value(&p, &m);
}

static char *text(const json_t *v) {
	char *s = json_dumps(v, JSON_SORT_KEYS | JSON_INDENT(2));
	assert_non_null(s);
	return s;
}

static int parse(const char *s, saved_plan_t *p, char **err) {
	return saved_plan_parse(s, strlen(s), p, err);
}

static void test_round_trip(void **state) {
	(void)state;
	_cleanup_(json_decrefp) json_t *doc = sample(3);
	_cleanup_free_ char *s = text(doc);
	saved_plan_t p;
	char *err = NULL;
	assert_int_equal(parse(s, &p, &err), 0);
	assert_null(err);
	assert_int_equal(p.major, 2);
	assert_int_equal(p.minor, 0);
	assert_string_equal(p.cvmctl_version, "9.9.9");
	assert_string_equal(p.scope, "default");
	assert_string_equal(p.installation, INST);
	assert_int_equal(p.n_paths, 2);
	assert_string_equal(p.paths[1], "more/specs");
	assert_string_equal(p.content_hash, HASH);
	assert_null(p.revision);
	assert_true(p.allow_replace);
	assert_false(p.allow_empty);
	assert_int_equal(p.max_deletions, 3);
	assert_true(p.sealed);
	_cleanup_free_ char *what = NULL;
	assert_int_equal(plan_doc_compare(p.doc, doc, &what), 0);
	saved_plan_free(&p);
}

static void test_two_dumps_are_identical(void **state) {
	(void)state;
	_cleanup_(json_decrefp) json_t *a = sample(-1);
	_cleanup_(json_decrefp) json_t *b = sample(-1);
	_cleanup_free_ char *sa = text(a), *sb = text(b);
	assert_string_equal(sa, sb);
	assert_true(json_is_null(json_object_get(json_object_get(a, "flags"), "max_deletions")));
}

static void test_an_edit_breaks_the_seal(void **state) {
	(void)state;
	_cleanup_(json_decrefp) json_t *doc = sample(-1);
	json_object_set_new(json_array_get(json_object_get(doc, "actions"), 0), "placement", json_string("qemu:///b"));
	_cleanup_free_ char *s = text(doc);
	saved_plan_t p;
	char *err = NULL;
	assert_int_equal(parse(s, &p, &err), 0);
	assert_false(p.sealed);
	saved_plan_free(&p);
	/* reformatting is not an edit */
	_cleanup_(json_decrefp) json_t *orig = sample(-1);
	_cleanup_free_ char *compact = json_dumps(orig, JSON_COMPACT);
	assert_int_equal(parse(compact, &p, &err), 0);
	assert_true(p.sealed);
	saved_plan_free(&p);
}

/* Each input is refused with a sentence containing `want`. */
static void refused(const char *input, const char *want) {
	saved_plan_t p;
	char *err = NULL;
	int r = saved_plan_parse(input, strlen(input), &p, &err);
	if (r != -EINVAL) fail_msg("accepted: %s", input);
	assert_non_null(err);
	if (!strstr(err, want)) fail_msg("'%s' does not say '%s'", err, want);
	assert_null(p.doc);
	free(err);
}

/* The sample with one member changed (value NULL: removed), as text. */
static char *with(const char *obj, const char *key, json_t *value) {
	_cleanup_(json_decrefp) json_t *doc = sample(-1);
	json_t *o = obj ? json_object_get(doc, obj) : doc;
	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	return text(doc);
}

static void test_what_is_not_a_plan(void **state) {
	(void)state;
	refused("", "not a JSON plan");
	refused("not json", "not a JSON plan: line 1");
	refused("{\"a\": 1, \"a\": 2}", "not a JSON plan");
	refused("[1, 2]", "not an object");
	refused("{}", "no format_version");
	char *s;
	refused(s = with(NULL, "format_version", json_integer(1)), "format_version 1 is not supported: this cvmctl reads 2.x");
	free(s);
	refused(s = with(NULL, "format_version", json_string("1.0")), "format_version 1.0 is not supported");
	free(s);
	refused(s = with(NULL, "format_version", json_string("3.0")), "format_version 3.0 is not supported");
	free(s);
	refused(s = with(NULL, "format_version", json_string("2")), "must be a string such as \"2.0\"");
	free(s);
	refused(s = with(NULL, "format_version", json_string("2.-1")), "must be a string such as");
	free(s);
	refused(s = with(NULL, "scope", json_integer(5)), "scope must be a string");
	free(s);
	refused(s = with(NULL, "scope", json_string("")), "scope is empty");
	free(s);
	refused(s = with(NULL, "installation_id", json_string("x")), "installation_id is not a lower-case UUID");
	free(s);
	refused(s = with(NULL, "flags", NULL), "flags must be an object");
	free(s);
	refused(s = with("flags", "max_deletions", json_integer(-1)), "max_deletions must be a whole number or null");
	free(s);
	refused(s = with("flags", "max_deletions", json_string("3")), "max_deletions must be a whole number or null");
	free(s);
	refused(s = with("flags", "allow_empty", json_null()), "flags.allow_empty must be true or false");
	free(s);
	refused(s = with("tree", "paths", json_array()), "tree.paths must be a list of one or more paths");
	free(s);
	refused(s = with("tree", "content_hash", NULL), "tree.content_hash must be a string");
	free(s);
	refused(s = with(NULL, "actions", json_object()), "actions must be a list");
	free(s);
	refused(s = with(NULL, "actions", json_pack("[{s:s}]", "action", "create")), "actions[0] must be an object");
	free(s);
	refused(s = with(NULL, "checksum", NULL), "no checksum");
	free(s);
	refused(s = with(NULL, "invalid", json_string("x")), "the specs were invalid");
	free(s);
}

static void test_a_later_minor_version_reads(void **state) {
	(void)state;
	_cleanup_free_ char *s = with(NULL, "format_version", json_string("2.7"));
	saved_plan_t p;
	char *err = NULL;
	assert_int_equal(parse(s, &p, &err), 0);
	assert_int_equal(p.minor, 7);
	saved_plan_free(&p);
}

static void expect_difference(json_t *saved, json_t *now, const char *want) {
	char *what = NULL;
	assert_int_equal(plan_doc_compare(saved, now, &what), 1);
	assert_non_null(what);
	if (!strstr(what, want)) fail_msg("'%s' does not say '%s'", what, want);
	free(what);
	json_decref(saved);
	json_decref(now);
}

static void test_compare_names_the_first_difference(void **state) {
	(void)state;
	json_t *a = sample(-1), *b = sample(-1);
	json_object_set_new(json_object_get(b, "tree"), "content_hash", json_string("sha256:ff"));
	expect_difference(a, b, "the spec tree changed since the plan was made");

	a = sample(-1), b = sample(2);
	expect_difference(a, b, "it was made with other safety flags: flags.max_deletions is null in the plan, 2 now");

	a = sample(-1), b = sample(-1);
	json_object_set_new(b, "scope", json_string("team-b"));
	expect_difference(a, b, "it was made for another scope: scope is \"default\" in the plan, \"team-b\" now");

	a = sample(-1), b = sample(-1);
	json_object_set_new(json_array_get(json_object_get(b, "actions"), 0), "placement", json_string("qemu:///b"));
	expect_difference(a, b,
	                  "the plan's create web-1 (new) differs from what a reconcile would do now: placement is "
	                  "\"qemu:///a\" in the plan, \"qemu:///b\" now");

	a = sample(-1), b = sample(-1);
	json_array_remove(json_object_get(b, "actions"), 1);
	expect_difference(a, b, "the plan's action 2, delete web-2 (spec-removed), is no longer what a reconcile would do");

	a = sample(-1), b = sample(-1);
	json_array_remove(json_object_get(a, "actions"), 1);
	expect_difference(a, b, "a reconcile would now also do delete web-2 (spec-removed)");

	a = sample(-1), b = sample(-1);
	json_object_set_new(json_array_get(json_object_get(b, "actions"), 1), "action", json_string("noop"));
	expect_difference(a, b, "action 2 of the plan is delete web-2 (spec-removed), but a reconcile would now do noop");
}

static void test_compare_leaves_out_paths_and_revision(void **state) {
	(void)state;
	_cleanup_(json_decrefp) json_t *a = sample(-1);
	_cleanup_(json_decrefp) json_t *b = sample(-1);
	json_t *tree = json_object_get(b, "tree");
	json_object_set_new(tree, "revision", json_string("0123456789abcdef0123456789abcdef01234567"));
	json_object_set_new(tree, "paths", json_pack("[s]", "elsewhere"));
	json_object_set_new(b, "checksum", json_string("sha256:whatever"));
	char *what = NULL;
	assert_int_equal(plan_doc_compare(a, b, &what), 0);
	assert_null(what);
}

static void test_write_is_0600(void **state) {
	(void)state;
	char dir[] = "/tmp/test-plan-file.XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *path = xasprintf("%s/plan.json", dir);
	mode_t old = umask(0);
	assert_int_equal(plan_file_write(path, "{}"), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	_cleanup_free_ char *back = NULL;
	assert_int_equal(read_file(path, &back, NULL), 0);
	assert_string_equal(back, "{}\n");
	unlink(path);
	rmdir(dir);
}

int main(void) {
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_two_dumps_are_identical),
	    cmocka_unit_test(test_an_edit_breaks_the_seal),
	    cmocka_unit_test(test_what_is_not_a_plan),
	    cmocka_unit_test(test_a_later_minor_version_reads),
	    cmocka_unit_test(test_compare_names_the_first_difference),
	    cmocka_unit_test(test_compare_leaves_out_paths_and_revision),
	    cmocka_unit_test(test_write_is_0600),
	};
	return cmocka_run_group_tests_name("plan_file", tests, NULL, NULL);
}
