/* The watch daemon's pure parts: the prune delay (reconciler/daemon/prune.h)
 * holds a delete until the absence has lasted across loads delay apart and
 * forgets a name that came back; the metrics' exposition text
 * (reconciler/daemon/metrics.h) counts passes and keeps the histogram
 * cumulative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "reconciler/daemon/metrics.h"
#include "reconciler/daemon/prune.h"

#define S 1000000000LL

static void test_prune_holds_until_the_delay_has_passed(void **state) {
	(void)state;
	prune_t p = {.delay_ns = 30 * S, .due_at = INT64_MAX};
	prune_begin(&p, 100 * S);
	assert_true(prune_hold(&p, "web-1"));
	prune_end(&p);
	assert_int_equal(p.due_at, 130 * S);

	prune_begin(&p, 129 * S); /* a load 29 s later: still held */
	assert_true(prune_hold(&p, "web-1"));
	prune_end(&p);
	assert_int_equal(p.due_at, 130 * S);

	prune_begin(&p, 130 * S); /* 30 s after the first load without it */
	assert_false(prune_hold(&p, "web-1"));
	prune_end(&p);
	assert_int_equal(p.n, 0); /* deleted: forgotten, no prune due */
	assert_int_equal(p.due_at, INT64_MAX);
	prune_free(&p);
}

static void test_prune_forgets_a_name_that_came_back(void **state) {
	(void)state;
	prune_t p = {.delay_ns = 30 * S, .due_at = INT64_MAX};
	prune_begin(&p, 0);
	assert_true(prune_hold(&p, "a"));
	assert_true(prune_hold(&p, "b"));
	prune_end(&p);
	prune_begin(&p, 10 * S); /* a is back in the tree: not asked about */
	assert_true(prune_hold(&p, "b"));
	prune_end(&p);
	assert_int_equal(p.n, 1);
	prune_begin(&p, 35 * S); /* a vanishes again: its clock starts over */
	assert_true(prune_hold(&p, "a"));
	assert_false(prune_hold(&p, "b"));
	prune_end(&p);
	assert_int_equal(p.due_at, 65 * S);
	prune_free(&p);
}

static void test_prune_delay_zero_deletes_at_once(void **state) {
	(void)state;
	prune_t p = {.delay_ns = 0, .due_at = INT64_MAX};
	prune_begin(&p, 5 * S);
	assert_false(prune_hold(&p, "a"));
	prune_end(&p);
	assert_int_equal(p.due_at, INT64_MAX);
	prune_free(&p);
}

static void test_metrics_count_passes_and_buckets(void **state) {
	(void)state;
	metrics_t *m = metrics_new();
	pass_report_t ok = {.code = 0, .seconds = 0.2, .applied = true, .sum = {.created = 2, .deleted = 1}};
	pass_report_t failed = {.code = 1, .seconds = 3.0, .applied = true, .sum = {.failed = 1}};
	metrics_on_result(m, "lab", "create", "ok");
	metrics_on_result(m, "lab", "create", "ok");
	metrics_on_result(m, "gce", "delete", "failed");
	metrics_pass(m, &ok, 1000);
	metrics_pass(m, &failed, 2000);
	_cleanup_free_ char *t = metrics_render(m);
	assert_non_null(strstr(t, "\ncvmctl_passes_total{result=\"ok\"} 1\n"));
	assert_non_null(strstr(t, "\ncvmctl_passes_total{result=\"failed\"} 1\n"));
	assert_non_null(strstr(t, "\ncvmctl_actions_total{provider=\"lab\",action=\"create\",result=\"ok\"} 2\n"));
	assert_non_null(strstr(t, "\ncvmctl_actions_total{provider=\"gce\",action=\"delete\",result=\"failed\"} 1\n"));
	assert_non_null(strstr(t, "\ncvmctl_pass_duration_seconds_bucket{le=\"0.1\"} 0\n"));
	assert_non_null(strstr(t, "\ncvmctl_pass_duration_seconds_bucket{le=\"0.25\"} 1\n"));
	assert_non_null(strstr(t, "\ncvmctl_pass_duration_seconds_bucket{le=\"5\"} 2\n"));
	assert_non_null(strstr(t, "\ncvmctl_pass_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(t, "\ncvmctl_pass_duration_seconds_count 2\n"));
	/* the last success is the ok pass's time, not the failed one's */
	assert_non_null(strstr(t, "\ncvmctl_last_success_timestamp_seconds 1000\n"));
	/* no state read yet: no CVM gauges rather than zeros */
	assert_null(strstr(t, "cvmctl_cvms"));
	assert_int_equal(t[strlen(t) - 1], '\n');
	metrics_free(m);
}

static void test_metrics_addr_is_checked(void **state) {
	(void)state;
	log_setup(LOG_ERROR + 1, LOG_TEXT); /* quiet: the errors are the point */
	metrics_t *m = metrics_new();
	assert_int_not_equal(metrics_serve(m, "localhost", NULL), 0);
	assert_int_not_equal(metrics_serve(m, "127.0.0.1:", NULL), 0);
	assert_int_not_equal(metrics_serve(m, "127.0.0.1:70000", NULL), 0);
	assert_int_not_equal(metrics_serve(m, "::1:80", NULL), 0);
	metrics_free(m);
	log_setup(LOG_INFO, LOG_TEXT);
}

int main(void) {
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prune_holds_until_the_delay_has_passed),
	    cmocka_unit_test(test_prune_forgets_a_name_that_came_back),
	    cmocka_unit_test(test_prune_delay_zero_deletes_at_once),
	    cmocka_unit_test(test_metrics_count_passes_and_buckets),
	    cmocka_unit_test(test_metrics_addr_is_checked),
	};
	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
