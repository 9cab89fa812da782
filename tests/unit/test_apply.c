/* apply on the fake backend, in fake time: whole passes (pass_prepare +
 * apply_plan) over a spec tree with `type: fake` Providers written to a
 * temporary directory, against a real state store. Each test asserts the
 * world (the fake's resources and counters) and the store, not just the
 * plan: the apply-level twins of the plan tests, the scheduler's limits and
 * timing, the store's promises and certificate rotation.
 *
 * What the scheduler guarantees, and these tests hold it to: with operation
 * latency L and an in-flight limit k, N creates finish in ceil(N/k) * L of
 * fake time (the fake says how long is left; polls land on time), never more
 * than k in flight at once; mutating submissions within any second number
 * at most burst + rate (the token bucket: burst = one second's worth). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/util.h"
#include "providers/fake/fake.h"
#include "reconciler/apply.h"
#include "reconciler/certs.h"
#include "reconciler/pass.h"

#define L 1000 /* operation latency, fake milliseconds */

typedef struct fx {
	char base[64];
	char *state, *specs;
	store_t *st;
	fake_clock_t fc;
	clock_src_t clk;
	apply_stats_t stats;
	apply_summary_t sum;
	long max_deletions;
	bool allow_replace, allow_empty;
	int per_provider;
} fx_t;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static int setup(void **state) {
	fx_t *f = xcalloc(1, sizeof *f);
	snprintf(f->base, sizeof f->base, "/tmp/test_apply.XXXXXX");
	if (!mkdtemp(f->base)) return -1;
	f->state = xasprintf("%s/state", f->base);
	f->specs = xasprintf("%s/specs", f->base);
	mkdir(f->specs, 0700);
	if (store_open(f->state, NULL, &f->st) < 0) return -1;
	f->fc.now_ms = 1000000;
	f->clk = fake_clock_src(&f->fc);
	f->max_deletions = -1;
	unsetenv("CVMCTL_TEST_NOW");
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx_t *f = *state;
	store_close(f->st);
	nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->state);
	free(f->specs);
	free(f);
	unsetenv("CVMCTL_TEST_NOW");
	return fake_worlds_clear() == 0 ? 0 : -1; /* a pass left a provider open */
}

/* ---- the spec tree ---- */

static void put_file(fx_t *f, const char *name, const char *text) {
	_cleanup_free_ char *path = xasprintf("%s/%s.yaml", f->specs, name);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void unspec(fx_t *f, const char *name) {
	_cleanup_free_ char *path = xasprintf("%s/%s.yaml", f->specs, name);
	assert_int_equal(unlink(path), 0);
}

/* A fake Provider on world `world` (reset, on the test's clock); `extra`
 * are more spec lines ("  concurrency: 2\n"). */
static fake_world_t *provider(fx_t *f, const char *name, const char *world, int latency, const char *extra) {
	_cleanup_free_ char *doc = xasprintf("apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: %s}\nspec:\n"
	                                     "  type: fake\n  world: %s\n  zones: [zone-a, zone-b]\n  latencyMs: %d\n%s",
	                                     name, world, latency, extra ? extra : "");
	put_file(f, name, doc);
	fake_world_t *w = fake_world(world);
	fake_world_reset(w);
	fake_world_set_clock(w, &f->clk);
	return w;
}

/* A fake CVM; `extra` are more lines under spec: ("  provider: b\n"). */
static void cvm(fx_t *f, const char *name, int vcpus, const char *extra) {
	_cleanup_free_ char *doc = xasprintf("apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: %s}\nspec:\n"
	                                     "  flavor: fake\n  vcpus: %d\n  memoryGiB: 2\n%s",
	                                     name, vcpus, extra ? extra : "");
	put_file(f, name, doc);
}

static void cvms(fx_t *f, int n, const char *extra) {
	for (int i = 1; i <= n; i++) {
		char name[16];
		snprintf(name, sizeof name, "web-%d", i);
		cvm(f, name, 2, extra);
	}
}

/* ---- a pass ---- */

static int pass(fx_t *f) {
	const char *paths[] = {f->specs};
	pass_opts_t o = {.paths = paths,
	                 .n_paths = 1,
	                 .allow_replace = f->allow_replace,
	                 .allow_empty = f->allow_empty,
	                 .max_deletions = f->max_deletions,
	                 .per_provider = f->per_provider,
	                 .clock = &f->clk,
	                 .seed = 1,
	                 .stats = &f->stats};
	memset(&f->stats, 0, sizeof f->stats);
	memset(&f->sum, 0, sizeof f->sum);
	pass_t p;
	int code = pass_prepare(&p, f->st, "default", &o);
	if (code == 0) code = apply_plan(&p, &o, &f->sum);
	pass_free(&p);
	return code;
}

/* A pass that must change nothing: no submission reaches any world. */
static void quiet_pass(fx_t *f, fake_world_t **ws, size_t n) {
	long before[4] = {0};
	for (size_t i = 0; i < n; i++) before[i] = fake_world_submits(ws[i]);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created + f->sum.adopted + f->sum.started + f->sum.updated + f->sum.replaced +
	                     f->sum.deleted + f->sum.failed,
	                 0);
	for (size_t i = 0; i < n; i++) assert_int_equal(fake_world_submits(ws[i]), before[i]);
}

static cvm_record_t record(fx_t *f, const char *name) {
	cvm_record_t r = {0};
	assert_int_equal(store_find_cvm(f->st, name, &r), 0);
	return r;
}

static fake_res_info_t res(fake_world_t *w, const char *name) {
	fake_res_info_t r = {0};
	assert_int_equal(fake_world_res(w, name, &r), 0);
	return r;
}

/* The resource of `name` is the record's: same id and attempt, running. */
static void matches(fx_t *f, fake_world_t *w, const char *name) {
	cvm_record_t r = record(f, name);
	fake_res_info_t o = res(w, name);
	assert_string_equal(o.id, r.id);
	assert_string_equal(o.attempt, r.attempt);
	assert_int_equal(o.state, RES_RUNNING);
	assert_int_equal(r.status, ST_RUNNING);
	assert_string_equal(o.spec_hash, r.spec_hash);
	fake_res_info_free(&o);
	cvm_record_free(&r);
}

/* ---- the scheduler: submit, then poll ---- */

static void test_creates_within_limit_take_one_latency(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-fast", L, "  concurrency: 8\n");
	cvms(f, 8, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created, 8);
	/* all eight go out at once and are polled when the fake says */
	assert_true(f->stats.elapsed_ms >= L);
	assert_true(f->stats.elapsed_ms < 2 * L);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 8);
	assert_int_equal(fake_world_peak_pending(w), 8);
	assert_int_equal(fake_world_count(w), 8);
	for (int i = 1; i <= 8; i++) {
		char name[16];
		snprintf(name, sizeof name, "web-%d", i);
		matches(f, w, name);
	}
	/* polls follow the hint: a handful per operation, and the loop slept
	 * on the clock instead of spinning */
	assert_true(fake_world_calls(w, FAKE_POLL) <= 8 * 3);
	assert_true(f->stats.sleeps <= 2);
	quiet_pass(f, &w, 1);
}

static void test_creates_beyond_limit_queue(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-queue", L, "  concurrency: 2\n");
	cvms(f, 8, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created, 8);
	/* ceil(8 / 2) rounds of L, and never more than 2 in flight */
	assert_true(f->stats.elapsed_ms >= 4 * L);
	assert_true(f->stats.elapsed_ms <= 4 * L + 50);
	assert_int_equal(fake_world_peak_pending(w), 2);
	assert_int_equal(f->stats.peak_in_flight[0], 2);
	assert_true(f->stats.sleeps <= 8);
	assert_int_equal(fake_world_count(w), 8);
}

static void test_concurrency_flag_overrides_provider(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-flag", L, "  concurrency: 8\n");
	cvms(f, 6, NULL);
	f->per_provider = 3;
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(fake_world_peak_pending(w), 3);
	assert_true(f->stats.elapsed_ms >= 2 * L && f->stats.elapsed_ms <= 2 * L + 50);
}

static void test_requests_per_second(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-rate", 0, "  concurrency: 16\n  requestsPerSecond: 2\n");
	cvms(f, 8, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created, 8);
	/* a burst of 2, then one every 500 ms: within any second at most
	 * burst + rate, and the whole takes (8 - 2) / 2 s */
	assert_true(fake_world_max_submits_within(w, 1000) <= 4);
	assert_true(f->stats.elapsed_ms >= 3000);
	assert_true(f->stats.elapsed_ms <= 3000 + 50);
}

static void test_retry_after_is_honoured(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-429", L, NULL);
	cvms(f, 1, NULL);
	int fault = fake_world_inject(w, &(fake_fault_t){.kind = FAKE_THROTTLE, .call = FAKE_CREATE, .retry_after_ms = 3000});
	assert_true(fault >= 0);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(fake_world_fault_hits(w, fault), 1);
	/* a resubmission before the time would have been throttled again:
	 * exactly two, the second after Retry-After; not a failure */
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 2);
	assert_int_equal(f->sum.failed, 0);
	assert_int_equal(f->sum.created, 1);
	assert_true(f->stats.elapsed_ms >= 3000 + L);
	assert_true(f->stats.elapsed_ms <= 3000 + L + 50);
	matches(f, w, "web-1");
}

static void test_failed_operation_fails_only_its_cvm(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-opfail", L, NULL);
	cvms(f, 3, NULL);
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_OP, .call = FAKE_CREATE, .name = "web-2"});
	assert_int_equal(pass(f), EXIT_FAILED);
	assert_int_equal(f->sum.created, 2);
	assert_int_equal(f->sum.failed, 1);
	cvm_record_t r = record(f, "web-2");
	assert_int_equal(r.status, ST_FAILED);
	assert_non_null(r.last_error);
	cvm_record_free(&r);
	/* the next pass retries it, under the same id */
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created, 1);
	matches(f, w, "web-2");
	assert_int_equal(fake_world_count(w), 3);
}

/* ---- idempotency and Unknown ---- */

static void test_lost_create_response_is_adopted_next_pass(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-lost", L, NULL);
	cvms(f, 1, NULL);
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LOST_RESPONSE, .call = FAKE_CREATE, .name = "web-1"});
	assert_int_equal(pass(f), EXIT_FAILED);
	cvm_record_t r = record(f, "web-1");
	fake_res_info_t o = res(w, "web-1");
	assert_string_equal(o.id, r.id);
	assert_string_equal(o.attempt, r.attempt); /* the intent named it before the call */
	fake_res_info_free(&o);
	_cleanup_free_ char *attempt = xstrdup(r.attempt);
	cvm_record_free(&r);

	f->fc.now_ms += L; /* the lost create finishes meanwhile */
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.created, 0);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 1);
	assert_int_equal(fake_world_count(w), 1);
	r = record(f, "web-1");
	assert_string_equal(r.attempt, attempt);
	cvm_record_free(&r);
	matches(f, w, "web-1");
}

static void test_failing_listing_page_deletes_nothing(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-page", 0, "  pageSize: 1\n");
	cvms(f, 3, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	unspec(f, "web-2");
	unspec(f, "web-3");
	fake_world_reset_counters(w);
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LIST_FAIL, .page = 2});
	assert_int_equal(pass(f), EXIT_FAILED);
	assert_int_equal(f->sum.deleted, 0);
	assert_true(f->sum.unknown >= 2);
	assert_int_equal(fake_world_submits(w), 0);
	assert_int_equal(fake_world_count(w), 3);
	cvm_record_t r = record(f, "web-2");
	assert_int_not_equal(r.status, ST_INACTIVE);
	cvm_record_free(&r);
	/* once the listing works, they go */
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.deleted, 2);
	assert_int_equal(fake_world_count(w), 1);
}

static void test_unknown_zone_does_nothing_there(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-zone", 0, NULL);
	cvms(f, 2, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	fake_res_info_t o = res(w, "web-1");
	fake_world_set_zone_down(w, o.zone, "unplugged");
	unspec(f, "web-1");
	fake_world_reset_counters(w);
	assert_int_equal(pass(f), EXIT_FAILED); /* Unknown is reported */
	assert_int_equal(f->sum.deleted, 0);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 0);
	cvm_record_t r = record(f, "web-1");
	assert_int_not_equal(r.status, ST_INACTIVE);
	cvm_record_free(&r);
	fake_world_set_zone_down(w, o.zone, NULL);
	fake_res_info_free(&o);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.deleted, 1);
}

/* ---- the store's promises ---- */

/* The nth store write fails, for every n a first pass makes: a resource
 * exists only with an intent on record (its record names its attempt), a
 * write that fails before the intents commit means no mutating call at
 * all, and a clean rerun converges on exactly one resource. */
static void test_failed_store_write_stops_its_action(void **state) {
	fx_t *f = *state;
	cvm(f, "web-1", 2, NULL);
	int n;
	for (n = 1; n <= 60; n++) {
		char world[32];
		snprintf(world, sizeof world, "w-store-%d", n);
		fake_world_t *w = provider(f, "sim", world, L, NULL);
		store_close(f->st);
		_cleanup_free_ char *dir = xasprintf("%s/state-%d", f->base, n);
		assert_int_equal(store_open(dir, NULL, &f->st), 0);
		store_test_fail_write(f->st, n);
		int code = pass(f);
		store_test_fail_write(f->st, 0);
		if (code == EXIT_OK && f->sum.failed == 0) break; /* fewer than n writes */
		assert_int_equal(code, EXIT_FAILED);
		if (fake_world_count(w) > 0) {
			fake_res_info_t o = res(w, "web-1");
			cvm_record_t r = record(f, "web-1");
			assert_string_equal(r.id, o.id);
			assert_string_equal(r.attempt, o.attempt);
			cvm_record_free(&r);
			fake_res_info_free(&o);
		}
		/* the wave-1 writes: the provider, the record, its event, its
		 * certificate, the commit */
		if (n <= 5) assert_int_equal(fake_world_submits(w), 0);
		f->fc.now_ms += L;
		assert_int_equal(pass(f), EXIT_OK);
		assert_int_equal(fake_world_count(w), 1);
		matches(f, w, "web-1");
	}
	assert_true(n > 6 && n <= 60);
}

/* ---- moves, replaces ---- */

static void test_move_to_another_provider(void **state) {
	fx_t *f = *state;
	fake_world_t *wa = provider(f, "fa", "w-move-a", L, NULL);
	fake_world_t *wb = provider(f, "fb", "w-move-b", L, NULL);
	cvm(f, "web-1", 2, "  provider: fa\n");
	assert_int_equal(pass(f), EXIT_OK);
	cvm_record_t r = record(f, "web-1");
	_cleanup_free_ char *id = xstrdup(r.id);
	cvm_record_free(&r);
	matches(f, wa, "web-1");

	cvm(f, "web-1", 2, "  provider: fb\n");
	assert_int_equal(pass(f), EXIT_REFUSED); /* a move is a replace */
	assert_int_equal(fake_world_submits(wa) + fake_world_submits(wb), 1);
	f->allow_replace = true;
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.replaced, 1);
	/* removed from the source, created on the target, in one pass */
	assert_int_equal(fake_world_calls(wa, FAKE_REMOVE), 1);
	assert_int_equal(fake_world_calls(wb, FAKE_REMOVE), 0);
	assert_int_equal(fake_world_calls(wb, FAKE_CREATE), 1);
	assert_int_equal(fake_world_count(wa), 0);
	assert_int_equal(fake_world_count(wb), 1);
	matches(f, wb, "web-1");
	r = record(f, "web-1");
	assert_string_equal(r.id, id);
	assert_string_equal(r.provider, "fb");
	cvm_record_free(&r);
	/* the certificate went along */
	fake_res_info_t o = res(wb, "web-1");
	cert_record_t c;
	assert_int_equal(certs_current_default(f->st, id, &c), 0);
	const fake_file_t *pem = fake_res_file(&o, "certs", "cert.pem");
	assert_non_null(pem);
	assert_int_equal(pem->len, strlen(c.cert_pem));
	assert_memory_equal(pem->data, c.cert_pem, pem->len);
	cert_record_free(&c);
	fake_res_info_free(&o);
	fake_world_t *ws[] = {wa, wb};
	quiet_pass(f, ws, 2);
}

static void test_replace_is_a_new_attempt(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-replace", L, NULL);
	cvm(f, "web-1", 2, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	cvm_record_t r = record(f, "web-1");
	_cleanup_free_ char *id = xstrdup(r.id), *attempt = xstrdup(r.attempt);
	cvm_record_free(&r);
	cvm(f, "web-1", 4, NULL);
	assert_int_equal(pass(f), EXIT_REFUSED);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 0);
	f->allow_replace = true;
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.replaced, 1);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 1);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 2);
	matches(f, w, "web-1");
	fake_res_info_t o = res(w, "web-1");
	assert_string_equal(o.id, id);
	assert_string_not_equal(o.attempt, attempt);
	assert_int_equal(o.vcpus, 4);
	fake_res_info_free(&o);
	quiet_pass(f, &w, 1);
}

/* ---- the apply-level twins of the plan tests ---- */

static void test_start_and_recreate(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-start", L, NULL);
	cvms(f, 2, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	cvm_record_t r1 = record(f, "web-1"), r2 = record(f, "web-2");
	assert_int_equal(fake_world_stop(w, "web-1"), 0);
	assert_int_equal(fake_world_vanish(w, "web-2"), 0);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.started, 1);
	assert_int_equal(f->sum.created, 1); /* recreated under the same id */
	assert_int_equal(fake_world_calls(w, FAKE_START), 1);
	matches(f, w, "web-1");
	matches(f, w, "web-2");
	cvm_record_t n2 = record(f, "web-2");
	assert_string_equal(n2.id, r2.id);
	assert_string_not_equal(n2.attempt, r2.attempt); /* a recreate is a new attempt */
	cvm_record_free(&n2);
	cvm_record_free(&r1);
	cvm_record_free(&r2);
	quiet_pass(f, &w, 1);
}

static void test_update_in_place(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-update", L, NULL);
	cvm(f, "web-1", 2, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	cvm_record_t before = record(f, "web-1");
	cvm(f, "web-1", 2, "  agent: {logLevel: debug}\n");
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.updated, 1);
	assert_int_equal(fake_world_calls(w, FAKE_UPDATE), 1);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 1);
	matches(f, w, "web-1");
	cvm_record_t after = record(f, "web-1");
	assert_string_not_equal(after.spec_hash, before.spec_hash);
	assert_true(after.updated_at >= before.updated_at);
	fake_res_info_t o = res(w, "web-1");
	const fake_file_t *env = fake_res_file(&o, "env", "environment");
	assert_non_null(env);
	assert_non_null(memmem(env->data, env->len, "AGENT_LOG_LEVEL=debug", 21));
	fake_res_info_free(&o);
	cvm_record_free(&before);
	cvm_record_free(&after);
	quiet_pass(f, &w, 1);
}

static void test_delete_and_safety_rules(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-delete", L, NULL);
	cvms(f, 3, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	/* max-deletions: two deletions exceed 1, none is done, the rest is */
	unspec(f, "web-2");
	unspec(f, "web-3");
	f->max_deletions = 1;
	assert_int_equal(pass(f), EXIT_REFUSED);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 0);
	assert_int_equal(fake_world_count(w), 3);
	f->max_deletions = -1;
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.deleted, 2);
	assert_int_equal(fake_world_count(w), 1);
	cvm_record_t r = record(f, "web-2");
	assert_int_equal(r.status, ST_INACTIVE);
	cert_record_t *cs = NULL;
	size_t n = 0;
	assert_int_equal(store_list_certs(f->st, r.id, &cs, &n), 0);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) assert_int_equal(cs[i].status, CERT_REVOKED);
	cert_records_free(cs, n);
	cvm_record_free(&r);
	/* an empty tree prunes nothing without --allow-empty */
	unspec(f, "web-1");
	assert_int_equal(pass(f), EXIT_REFUSED);
	assert_int_equal(fake_world_count(w), 1);
	f->allow_empty = true;
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.deleted, 1);
	assert_int_equal(fake_world_count(w), 0);
}

/* A lost state recovered with the installation id: what is desired is
 * adopted (no create), an owned resource nobody wants is deleted. */
static void test_adopt_and_orphan_after_lost_state(void **state) {
	fx_t *f = *state;
	fake_world_t *w = provider(f, "sim", "w-adopt", L, NULL);
	cvms(f, 2, NULL);
	assert_int_equal(pass(f), EXIT_OK);
	_cleanup_free_ char *inst = xstrdup(store_installation_id(f->st));
	store_close(f->st);
	_cleanup_free_ char *dir = xasprintf("%s/state-new", f->base);
	assert_int_equal(store_open(dir, inst, &f->st), 0);
	unspec(f, "web-2");
	fake_world_reset_counters(w);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(f->sum.adopted, 1);
	assert_int_equal(f->sum.deleted, 1);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 0);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 1);
	assert_int_equal(fake_world_count(w), 1);
	matches(f, w, "web-1");
	quiet_pass(f, &w, 1);
}

/* ---- certificates ---- */

static void at(long long t) {
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", t);
	setenv("CVMCTL_TEST_NOW", buf, 1);
}

static void cert_on_resource_is_current(fx_t *f, fake_world_t *w, const char *name) {
	cvm_record_t r = record(f, name);
	cert_record_t c;
	assert_int_equal(certs_current_default(f->st, r.id, &c), 0);
	fake_res_info_t o = res(w, name);
	const fake_file_t *pem = fake_res_file(&o, "certs", "cert.pem");
	assert_non_null(pem);
	assert_int_equal(pem->len, strlen(c.cert_pem));
	assert_memory_equal(pem->data, c.cert_pem, pem->len);
	_cleanup_free_ char *delivered = certs_delivered_serial(f->st, r.id);
	assert_string_equal(delivered, c.serial);
	fake_res_info_free(&o);
	cert_record_free(&c);
	cvm_record_free(&r);
}

static void test_rotation_renews_publishes_and_backs_off(void **state) {
	fx_t *f = *state;
	const long long T0 = 1900000000;
	fake_world_t *w = provider(f, "sim", "w-rotate", L, NULL);
	cvm(f, "web-1", 2, "  certificates: {validity: 2h, renewBefore: 1h}\n");
	at(T0);
	assert_int_equal(pass(f), EXIT_OK);
	cert_on_resource_is_current(f, w, "web-1");
	cvm_record_t r = record(f, "web-1");
	cert_record_t first;
	assert_int_equal(certs_current_default(f->st, r.id, &first), 0);

	/* not due yet: nothing */
	at(T0 + 3000);
	quiet_pass(f, &w, 1);

	/* due, and the publication fails: recorded, backing off */
	at(T0 + 3601);
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_SUBMIT, .call = FAKE_UPDATE});
	assert_int_equal(pass(f), EXIT_FAILED);
	assert_int_equal(f->sum.failed, 1);
	cert_record_t second;
	assert_int_equal(certs_current_default(f->st, r.id, &second), 0);
	assert_string_not_equal(second.serial, first.serial);
	fake_res_info_t o = res(w, "web-1");
	const fake_file_t *pem = fake_res_file(&o, "certs", "cert.pem");
	assert_memory_equal(pem->data, first.cert_pem, pem->len); /* still the old bytes */
	fake_res_info_free(&o);
	cvm_record_t failed = record(f, "web-1");
	assert_non_null(failed.last_error);
	assert_non_null(strstr(failed.last_error, "certificate rotation failed"));
	cvm_record_free(&failed);

	/* within the backoff (60 s) no retry */
	long updates = fake_world_calls(w, FAKE_UPDATE);
	at(T0 + 3601 + 30);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(fake_world_calls(w, FAKE_UPDATE), updates);

	/* after it, the recorded certificate is published, nothing new issued */
	at(T0 + 3601 + 61);
	assert_int_equal(pass(f), EXIT_OK);
	assert_int_equal(fake_world_calls(w, FAKE_UPDATE), updates + 1);
	cert_on_resource_is_current(f, w, "web-1");
	cert_record_t third;
	assert_int_equal(certs_current_default(f->st, r.id, &third), 0);
	assert_string_equal(third.serial, second.serial);
	cvm_record_t ok = record(f, "web-1");
	assert_null(ok.last_error);
	cvm_record_free(&ok);
	cert_record_free(&first);
	cert_record_free(&second);
	cert_record_free(&third);
	cvm_record_free(&r);
	quiet_pass(f, &w, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
	const struct CMUnitTest tests[] = {
	    T(test_creates_within_limit_take_one_latency),
	    T(test_creates_beyond_limit_queue),
	    T(test_concurrency_flag_overrides_provider),
	    T(test_requests_per_second),
	    T(test_retry_after_is_honoured),
	    T(test_failed_operation_fails_only_its_cvm),
	    T(test_lost_create_response_is_adopted_next_pass),
	    T(test_failing_listing_page_deletes_nothing),
	    T(test_unknown_zone_does_nothing_there),
	    T(test_failed_store_write_stops_its_action),
	    T(test_move_to_another_provider),
	    T(test_replace_is_a_new_attempt),
	    T(test_start_and_recreate),
	    T(test_update_in_place),
	    T(test_delete_and_safety_rules),
	    T(test_adopt_and_orphan_after_lost_state),
	    T(test_rotation_renews_publishes_and_backs_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
