/* The fake backend, through the prov_* layer as the engine calls it, on a
 * fake clock: if apply, rotation and delivery are to be tested on it, it
 * must keep the provider.h contract itself (asynchronous operations,
 * idempotent creates, Unknown never absent, foreign resources untouched)
 * and its faults must do what fake.h says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/fake/fake.h"
#include "providers/provider.h"
#include "specs/spec.h"
#include "reconciler/schemas.h"

#define INST "0d1e2f30-4152-4637-8899-aabbccddeeff"
#define ID1 "11111111-1111-4111-8111-111111111111"
#define ID2 "22222222-2222-4222-8222-222222222222"
#define ID3 "33333333-3333-4333-8333-333333333333"

static const provider_ops_t *ops;
static fake_clock_t fc;
static clock_src_t clk;

static const unsigned char cert_v1[] = "-----BEGIN CERTIFICATE-----\nv1\n-----END CERTIFICATE-----\n";
static const unsigned char cert_v2[] = "-----BEGIN CERTIFICATE-----\nv2\n-----END CERTIFICATE-----\n";
static const unsigned char env[] = "AGENT_LOG_LEVEL=info\n";
static const prov_file_t files_v1[] = {{"certs", "cert.pem", cert_v1, sizeof cert_v1 - 1},
                                       {"env", "environment", env, sizeof env - 1}};
static const prov_file_t files_v2[] = {{"certs", "cert.pem", cert_v2, sizeof cert_v2 - 1}};

static int group_setup(void **state) {
	(void)state;
	ops = provider_ops_for("fake");
	clk = fake_clock_src(&fc);
	return ops ? 0 : -1;
}

static int group_teardown(void **state) {
	(void)state;
	return fake_worlds_clear(); /* -EBUSY if a test left a provider open */
}

/* A provider on a fresh world of that name, on the fake clock. */
static provider_t *open_on(const char *world, const char *settings_json, fake_world_t **w) {
	fc.now_ms = 1000000;
	*w = fake_world(world);
	fake_world_reset(*w);
	fake_world_set_clock(*w, &clk);
	json_t *s = json_loads(settings_json, 0, NULL);
	assert_non_null(s);
	json_object_set_new(s, "world", json_string(world));
	provider_config_t cfg = {.name = "sim", .flavor = "fake", .settings = s};
	provider_t *p = NULL;
	_cleanup_free_ char *err = NULL;
	int r = prov_open(ops, &cfg, &p, &err);
	json_decref(s);
	if (r < 0) fail_msg("open: %s", err);
	return p;
}

static cvm_desired_t want_for(const char *id, const char *name, const char *zone) {
	return (cvm_desired_t){
		.id = id,
		.name = name,
		.scope = "default",
		.installation = INST,
		.spec_hash = "hash-1",
		.attempt = "attempt-1",
		.placement = zone,
		.vcpus = 2,
		.memory_gib = 2,
		.agent_port = 7002,
		.files = files_v1,
		.n_files = ARRAY_SIZE(files_v1),
	};
}

static prov_target_t target(const char *id, const char *name) {
	return (prov_target_t){.id = id, .name = name};
}

/* Polls until done on the fake clock, sleeping as told: the scheduler's
 * loop in miniature. Returns poll's final result. */
static int poll_done(provider_t *p, prov_op_t *op, char **handle) {
	for (int i = 0; i < 100; i++) {
		prov_call_t c = {0};
		int r = prov_poll(ops, p, op, &c);
		if (r != 0) {
			if (handle) *handle = TAKE_PTR(c.handle);
			prov_call_clear(&c);
			return r;
		}
		assert_true(c.again_ms > 0);
		clock_sleep_until_ms(&clk, fc.now_ms + c.again_ms);
		prov_call_clear(&c);
	}
	fail_msg("operation never finished");
	return -1;
}

/* Creates and waits: the CVM is running afterwards. */
static void create_running(provider_t *p, const cvm_desired_t *w) {
	prov_call_t c = {0};
	int r = prov_create(ops, p, w, &c);
	if (r < 0) fail_msg("create %s: %s", w->name, c.err);
	if (c.op) {
		assert_int_equal(poll_done(p, c.op, NULL), 1);
		prov_op_free(ops, c.op);
	}
	prov_call_clear(&c);
}

static const observed_t *find_obs(const observation_t *o, const char *id) {
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->v[i].id, id) == 0) return &o->v[i];
	return NULL;
}

static void observe(provider_t *p, observation_t *o) {
	_cleanup_free_ char *err = NULL;
	assert_int_equal(prov_observe(ops, p, NULL, 0, o, &err), 0);
}

static res_state_t state_of(fake_world_t *w, const char *id) {
	fake_res_info_t r;
	assert_int_equal(fake_world_res(w, id, &r), 0);
	res_state_t s = r.state;
	fake_res_info_free(&r);
	return s;
}

static void test_registry_and_schema(void **state) {
	(void)state;
	const backend_schema_t *s = provider_schema_for("fake");
	assert_non_null(s);
	assert_string_equal(s->place_noun, "zone");
	assert_int_equal(s->default_vcpus, 2);
	assert_int_equal(s->default_memory_gib(8), 2);
	const char *field = NULL;
	char msg[128];
	assert_int_equal(s->check_size(64, 256, &field, msg, sizeof msg), 0);
	assert_int_equal(s->check_size(65, 2, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "vcpus");
	assert_int_equal(s->check_size(2, 257, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "memoryGiB");
	assert_string_equal(s->replace_fields[0], "spec.vcpus");
	assert_string_equal(s->replace_fields[1], "spec.memoryGiB");
	assert_null(s->replace_fields[2]);
	assert_string_equal(s->guest_cert_dir, "/etc/cocos/certs");
	/* Every default is JSON of its field's type. */
	for (const field_def_t *f = s->fields; f->name; f++) {
		if (!f->dflt) continue;
		json_t *v = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_true(f->type == FT_STRINGS ? json_is_array(v) : json_is_integer(v));
		json_decref(v);
	}
	assert_null(schema_field(s->fields, "world")->dflt); /* the provider's name */

	/* No settings at all: the defaults, and the world named after the
	 * provider. */
	json_t *empty = json_object();
	provider_config_t cfg = {.name = "defaults-world", .flavor = "fake", .settings = empty};
	provider_t *p = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(prov_open(ops, &cfg, &p, &err), 0);
	json_decref(empty);
	fake_world_t *w = fake_world_find("defaults-world");
	assert_non_null(w);
	fake_world_set_clock(w, &clk);
	cvm_desired_t d = want_for(ID1, "web-1", NULL);
	char *zone = NULL;
	assert_int_equal(prov_place(ops, p, &d, NULL, 0, &zone, &err), 0);
	assert_string_equal(zone, "zone-a");
	d.placement = zone;
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	assert_null(c.op); /* latencyMs 0: synchronous */
	assert_string_equal(c.handle, "fake://defaults-world/zone-a/" ID1);
	prov_call_clear(&c);
	free(zone);
	ops->close(p);
}

/* The Provider document as an operator writes it. specs/ learns the
 * backends' schemas separately: until it does, the loader rejects the
 * flavor and this test says so instead of failing. */
static void test_spec_level(void **state) {
	(void)state;
	static const char doc[] = "apiVersion: cvmctl/v1\nkind: Provider\nmetadata: {name: sim}\nspec:\n"
	                          "  type: fake\n  zones: [zone-a, zone-b]\n  latencyMs: 500\n  pageSize: 10\n"
	                          "  world: t1\n";
	spec_set_t s = {0};
	diags_t d = {0};
	int r = spec_load_buffer("fake.yaml", doc, sizeof doc - 1, engine_schemas(), &s, &d);
	if (r < 0) {
		bool flavor_unknown = false;
		for (size_t i = 0; i < d.n; i++)
			if (strcmp(d.v[i].field, "spec.type") == 0 && strstr(d.v[i].msg, "'fake'")) flavor_unknown = true;
		assert_true(flavor_unknown); /* any other complaint is a real failure */
		printf("# note: the spec loader does not know type 'fake' yet (specs/ does not read backend schemas)\n");
	} else {
		assert_int_equal(s.n_providers, 1);
	}
	spec_set_free(&s);
	diags_free(&d);
}

static void test_async_create(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("async", "{\"zones\": [\"zone-a\"], \"latencyMs\": 1000}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	assert_non_null(c.op);
	assert_null(c.handle);
	assert_int_equal(c.again_ms, 1000);
	prov_op_t *op = c.op;
	prov_call_clear(&c);
	assert_int_equal(state_of(w, ID1), RES_PENDING);

	observation_t o;
	observe(p, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.v[0].state, RES_PENDING);
	assert_null(o.v[0].url);
	observation_free(&o);

	/* again_ms counts down on the world's clock. */
	fc.now_ms += 400;
	assert_int_equal(prov_poll(ops, p, op, &c), 0);
	assert_int_equal(c.again_ms, 600);
	prov_call_clear(&c);
	fc.now_ms += 599;
	assert_int_equal(prov_poll(ops, p, op, &c), 0);
	assert_int_equal(c.again_ms, 1);
	prov_call_clear(&c);
	fc.now_ms += 1;
	assert_int_equal(prov_poll(ops, p, op, &c), 1);
	assert_string_equal(c.handle, "fake://async/zone-a/" ID1);
	prov_call_clear(&c);
	prov_op_free(ops, op);
	assert_int_equal(state_of(w, ID1), RES_RUNNING);

	observe(p, &o);
	const observed_t *ob = find_obs(&o, ID1);
	assert_non_null(ob);
	assert_int_equal(ob->state, RES_RUNNING);
	assert_string_equal(ob->name, "web-1");
	assert_string_equal(ob->installation, INST);
	assert_string_equal(ob->attempt, "attempt-1");
	assert_string_equal(ob->placement, "zone-a");
	assert_string_equal(ob->handle, "fake://async/zone-a/" ID1);
	assert_non_null(ob->url);
	observation_free(&o);
	ops->close(p);
}

/* The world moves without anybody polling, as a cloud does. */
static void test_world_moves_by_itself(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("itself", "{\"latencyMs\": 50}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	prov_op_free(ops, c.op);
	prov_call_clear(&c);
	fc.now_ms += 50;
	assert_int_equal(state_of(w, ID1), RES_RUNNING);
	ops->close(p);
}

static void test_idempotent_create(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("idem", "{\"latencyMs\": 1000}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	prov_op_t *first = c.op;
	prov_call_clear(&c);

	/* The same attempt while it runs: the same operation, time left. */
	fc.now_ms += 300;
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	assert_non_null(c.op);
	assert_int_equal(c.again_ms, 700);
	assert_int_equal(fake_world_count(w), 1);
	assert_int_equal(poll_done(p, c.op, NULL), 1);
	prov_op_free(ops, c.op);
	prov_call_clear(&c);
	assert_int_equal(poll_done(p, first, NULL), 1);
	prov_op_free(ops, first);

	/* The same attempt once done: done at once, with its handle. */
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	assert_null(c.op);
	assert_string_equal(c.handle, "fake://idem/zone-a/" ID1);
	prov_call_clear(&c);

	/* Another attempt for the same id: refused while it exists. */
	cvm_desired_t again = d;
	again.attempt = "attempt-2";
	assert_int_equal(prov_create(ops, p, &again, &c), -EEXIST);
	assert_non_null(strstr(c.err, "attempt-1"));
	prov_call_clear(&c);

	/* Another installation's resource is never touched. */
	cvm_desired_t other = d;
	other.installation = "99999999-9999-4999-8999-999999999999";
	assert_int_equal(prov_create(ops, p, &other, &c), -EEXIST);
	assert_non_null(strstr(c.err, "installation"));
	prov_call_clear(&c);

	/* A name is unique in its world: another id cannot take it. */
	cvm_desired_t clash = want_for(ID2, "web-1", "zone-a");
	assert_int_equal(prov_create(ops, p, &clash, &c), -EEXIST);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 1);
	fake_res_info_t r;
	assert_int_equal(fake_world_res(w, ID1, &r), 0);
	assert_string_equal(r.attempt, "attempt-1");
	assert_string_equal(r.installation, INST);
	fake_res_info_free(&r);
	ops->close(p);
}

/* The create commits, the reply is lost; the retry of the same attempt
 * finds the resource and its operation, and nothing is created twice. */
static void test_lost_response(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("lost", "{\"latencyMs\": 500}", &w);
	int f = fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LOST_RESPONSE, .call = FAKE_CREATE, .name = "web-1"});
	assert_true(f >= 0);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), -ETIMEDOUT);
	assert_null(c.op);
	assert_null(c.handle);
	assert_non_null(c.err);
	prov_call_clear(&c);
	assert_int_equal(fake_world_fault_hits(w, f), 1);
	assert_int_equal(state_of(w, ID1), RES_PENDING); /* it was carried out */

	fc.now_ms += 200;
	assert_int_equal(prov_create(ops, p, &d, &c), 0);
	assert_non_null(c.op);
	assert_int_equal(c.again_ms, 300);
	char *handle = NULL;
	assert_int_equal(poll_done(p, c.op, &handle), 1);
	assert_string_equal(handle, "fake://lost/zone-a/" ID1);
	free(handle);
	prov_op_free(ops, c.op);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 1);
	assert_int_equal(state_of(w, ID1), RES_RUNNING);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 2);
	ops->close(p);
}

/* 429 with Retry-After: -EAGAIN and the wait; the whole world is throttled
 * until then (a per-project limit), and the next submission after it goes
 * through. */
static void test_throttle(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("throttle", "{}", &w);
	int f = fake_world_inject(w, &(fake_fault_t){.kind = FAKE_THROTTLE, .retry_after_ms = 2000});
	cvm_desired_t a = want_for(ID1, "web-1", "zone-a"), b = want_for(ID2, "web-2", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &a, &c), -EAGAIN);
	assert_int_equal(c.again_ms, 2000);
	assert_non_null(strstr(c.err, "429"));
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 0);

	fc.now_ms += 500;
	assert_int_equal(prov_create(ops, p, &b, &c), -EAGAIN);
	assert_int_equal(c.again_ms, 1500);
	prov_call_clear(&c);
	assert_int_equal(fake_world_fault_hits(w, f), 1); /* one 429, its window did the rest */

	fc.now_ms += 1500;
	assert_int_equal(prov_create(ops, p, &a, &c), 0);
	prov_call_clear(&c);
	assert_int_equal(prov_create(ops, p, &b, &c), 0);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 2);
	assert_int_equal(fake_world_submits(w), 4);
	ops->close(p);
}

static void test_failed_submit_and_operation(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("fail", "{\"latencyMs\": 100}", &w);
	/* A failed submission, for one CVM only: nothing happens. */
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_SUBMIT, .call = FAKE_CREATE, .name = "web-2"});
	cvm_desired_t a = want_for(ID1, "web-1", "zone-a"), b = want_for(ID2, "web-2", "zone-a");
	create_running(p, &a);
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &b, &c), -EIO);
	assert_null(c.op);
	assert_non_null(c.err);
	prov_call_clear(&c);
	assert_int_equal(fake_world_res(w, ID2, &(fake_res_info_t){0}), -ENOENT);

	/* A failed operation: accepted, fails after its latency, leaves nothing. */
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_OP, .call = FAKE_CREATE});
	assert_int_equal(prov_create(ops, p, &b, &c), 0);
	prov_op_t *op = c.op;
	assert_non_null(op);
	prov_call_clear(&c);
	assert_int_equal(poll_done(p, op, NULL), -EIO);
	prov_op_free(ops, op);
	assert_int_equal(fake_world_res(w, ID2, &(fake_res_info_t){0}), -ENOENT);
	/* The retry (a new attempt) then goes through. */
	create_running(p, &b);

	/* A failed delete leaves the resource as it was. */
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_OP, .call = FAKE_REMOVE, .name = "web-1"});
	prov_target_t t = target(ID1, "web-1");
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	op = c.op;
	prov_call_clear(&c);
	assert_int_equal(state_of(w, ID1), RES_PENDING);
	assert_int_equal(poll_done(p, op, NULL), -EIO);
	prov_op_free(ops, op);
	assert_int_equal(state_of(w, ID1), RES_RUNNING);
	ops->close(p);
}

/* latencyMs 0: a failed operation is the submission's own failure. */
static void test_failed_operation_synchronous(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("failsync", "{}", &w);
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_FAIL_OP, .err = -ENOSPC});
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &d, &c), -ENOSPC);
	assert_null(c.op);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 0);
	ops->close(p);
}

static void add_n(provider_t *p, int n) {
	for (int i = 0; i < n; i++) {
		char id[37], name[16];
		snprintf(id, sizeof id, "aaaaaaaa-0000-4000-8000-%012d", i);
		snprintf(name, sizeof name, "cvm-%d", i);
		cvm_desired_t d = want_for(id, name, "zone-a");
		create_running(p, &d);
	}
}

/* Partial knowledge is no knowledge: a failing page makes the whole
 * provider Unknown, never a shorter list. */
static void test_page_failure(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("pages", "{\"zones\": [\"zone-a\", \"zone-b\"], \"pageSize\": 2}", &w);
	add_n(p, 5);
	fake_world_reset_counters(w);
	observation_t o;
	observe(p, &o);
	assert_int_equal(o.n, 5);
	assert_false(o.all_unknown);
	observation_free(&o);
	assert_int_equal(fake_world_calls(w, FAKE_LIST_PAGE), 3);
	assert_int_equal(fake_world_calls(w, FAKE_OBSERVE), 1);

	int f = fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LIST_FAIL, .page = 2});
	observe(p, &o);
	assert_true(o.all_unknown);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.n_unknown, 2);
	assert_non_null(strstr(o.unknown[0].why, "page 2"));
	observation_free(&o);
	assert_int_equal(fake_world_fault_hits(w, f), 1);

	/* One-shot: the next pass sees everything again. A page beyond the
	 * last is never reached. */
	int beyond = fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LIST_FAIL, .page = 4});
	observe(p, &o);
	assert_false(o.all_unknown);
	assert_int_equal(o.n, 5);
	observation_free(&o);
	assert_int_equal(fake_world_fault_hits(w, beyond), 0);

	/* An empty world still costs one page. */
	provider_t *q = open_on("pages-empty", "{}", &w);
	observe(q, &o);
	observation_free(&o);
	assert_int_equal(fake_world_calls(w, FAKE_LIST_PAGE), 1);
	ops->close(q);
	ops->close(p);
}

/* A zone that does not answer is Unknown, its CVMs are not reported
 * absent, it is never chosen and calls into it fail at once. */
static void test_zone_unknown(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("zones", "{\"zones\": [\"zone-a\", \"zone-b\"]}", &w);
	cvm_desired_t a = want_for(ID1, "web-1", "zone-a"), b = want_for(ID2, "web-2", "zone-b");
	create_running(p, &a);
	create_running(p, &b);
	fake_world_set_zone_down(w, "zone-b", "host unreachable");
	observation_t o;
	observe(p, &o);
	assert_false(o.all_unknown);
	assert_int_equal(o.n_unknown, 1);
	assert_string_equal(o.unknown[0].placement, "zone-b");
	assert_non_null(strstr(o.unknown[0].why, "host unreachable"));
	assert_non_null(find_obs(&o, ID1));
	assert_null(find_obs(&o, ID2));
	observation_free(&o);

	cvm_desired_t d = want_for(ID3, "web-3", NULL);
	placement_use_t used[] = {{"zone-a", 8, 8}};
	char *zone = NULL, *err = NULL;
	assert_int_equal(prov_place(ops, p, &d, used, 1, &zone, &err), 0);
	assert_string_equal(zone, "zone-a"); /* busier, but the other is unknown */
	free(zone);
	prov_call_t c = {0};
	prov_target_t t = target(ID2, "web-2");
	t.placement = "zone-b";
	assert_int_equal(prov_update(ops, p, &t, &b, &c), -ETIMEDOUT);
	prov_call_clear(&c);

	fake_world_set_zone_down(w, "zone-a", "also down");
	observe(p, &o);
	assert_true(o.all_unknown);
	observation_free(&o);
	fake_world_set_zone_down(w, "zone-a", NULL);
	fake_world_set_zone_down(w, "zone-b", NULL);

	/* One observe that blocks on a zone, then it answers again. */
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_ZONE_BLOCKS, .call = FAKE_OBSERVE, .zone = "zone-a"});
	observe(p, &o);
	assert_int_equal(o.n_unknown, 1);
	assert_string_equal(o.unknown[0].placement, "zone-a");
	observation_free(&o);
	observe(p, &o);
	assert_int_equal(o.n_unknown, 0);
	assert_int_equal(o.n, 2);
	observation_free(&o);
	ops->close(p);
}

static void test_place_capacity(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("place", "{\"zones\": [\"zone-a\", \"zone-b\"]}", &w);
	fake_world_set_capacity(w, "zone-a", 4);
	fake_world_set_capacity(w, "zone-b", 4);
	cvm_desired_t d = want_for(ID1, "web-1", NULL);
	char *zone = NULL, *err = NULL;
	assert_int_equal(prov_place(ops, p, &d, NULL, 0, &zone, &err), 0);
	assert_string_equal(zone, "zone-a"); /* a tie: the first */
	free(zone);
	placement_use_t used[] = {{"zone-a", 2, 2}};
	assert_int_equal(prov_place(ops, p, &d, used, 1, &zone, &err), 0);
	assert_string_equal(zone, "zone-b"); /* least loaded */
	free(zone);
	/* Somebody else's VM holds capacity too. */
	assert_int_equal(fake_world_add_foreign(w, "zone-b", "theirs", 3, NULL), 0);
	assert_int_equal(prov_place(ops, p, &d, used, 1, &zone, &err), 0);
	assert_string_equal(zone, "zone-a");
	free(zone);
	placement_use_t full[] = {{"zone-a", 4, 4}};
	assert_int_equal(prov_place(ops, p, &d, full, 1, &zone, &err), -ENOSPC);
	assert_null(zone);
	assert_non_null(strstr(err, "zone-b has 1 of 4 vCPUs free"));
	free(err);
	/* create() checks the zone as the cloud holds it. */
	cvm_desired_t big = want_for(ID2, "big", "zone-b");
	prov_call_t c = {0};
	assert_int_equal(prov_create(ops, p, &big, &c), -ENOSPC);
	prov_call_clear(&c);
	ops->close(p);
}

static void test_foreign_untouched(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("foreign", "{}", &w);
	char id[37];
	assert_int_equal(fake_world_add_foreign(w, "zone-a", "db", 2, id), 0);
	observation_t o;
	observe(p, &o);
	assert_int_equal(o.n, 0);
	observation_free(&o);
	prov_call_t c = {0};
	prov_target_t t = target(id, "db");
	assert_int_equal(prov_remove(ops, p, &t, &c), -EPERM);
	prov_call_clear(&c);
	assert_int_equal(prov_start(ops, p, &t, &c), -EPERM);
	prov_call_clear(&c);
	cvm_desired_t d = want_for(id, "db", "zone-a");
	assert_int_equal(prov_update(ops, p, &t, &d, &c), -EPERM);
	prov_call_clear(&c);
	assert_int_equal(prov_create(ops, p, &d, &c), -EEXIST);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 1);
	ops->close(p);
}

static void test_remove(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("remove", "{\"latencyMs\": 300}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	create_running(p, &d);
	prov_call_t c = {0};
	prov_target_t t = target(ID1, "web-1");
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	prov_op_t *op = c.op;
	assert_non_null(op);
	prov_call_clear(&c);
	observation_t o;
	observe(p, &o);
	assert_int_equal(o.v[0].state, RES_PENDING); /* being deleted */
	observation_free(&o);
	/* A retry while it runs: the same operation. */
	fc.now_ms += 100;
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	assert_int_equal(c.again_ms, 200);
	prov_op_free(ops, c.op);
	prov_call_clear(&c);
	assert_int_equal(poll_done(p, op, NULL), 1);
	prov_op_free(ops, op);
	assert_int_equal(fake_world_count(w), 0);
	/* Absent is success, and so is a zone where it is not (a cloud's 404). */
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	assert_null(c.op);
	prov_call_clear(&c);
	create_running(p, &d);
	t.placement = "zone-b";
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	assert_null(c.op);
	prov_call_clear(&c);
	assert_int_equal(state_of(w, ID1), RES_RUNNING);
	ops->close(p);
}

static void test_vanish(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("vanish", "{}", &w);
	cvm_desired_t a = want_for(ID1, "web-1", "zone-a"), b = want_for(ID2, "web-2", "zone-a");
	create_running(p, &a);
	create_running(p, &b);
	assert_int_equal(fake_world_vanish(w, "web-1"), 0);
	assert_int_equal(fake_world_vanish(w, "web-1"), -ENOENT);
	/* What the record believes does not make it exist. */
	observed_t known = {.id = ID1, .name = "web-1", .installation = INST, .placement = "zone-a"};
	observation_t o;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(prov_observe(ops, p, &known, 1, &o, &err), 0);
	assert_int_equal(o.n, 1);
	assert_null(find_obs(&o, ID1));
	observation_free(&o);

	/* Between our observation and our update, behind our back. */
	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_VANISH, .call = FAKE_UPDATE, .name = "web-2"});
	prov_call_t c = {0};
	prov_target_t t = target(ID2, "web-2");
	assert_int_equal(prov_update(ops, p, &t, &b, &c), -ENOENT);
	assert_non_null(c.err);
	prov_call_clear(&c);
	assert_int_equal(fake_world_count(w), 0);
	/* Recreated under the same id: a new attempt. */
	b.attempt = "attempt-2";
	create_running(p, &b);
	assert_int_equal(state_of(w, ID2), RES_RUNNING);
	ops->close(p);
}

static void test_stop_start(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("stopstart", "{\"latencyMs\": 200}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	create_running(p, &d);
	assert_int_equal(fake_world_stop(w, ID1), 0);
	observation_t o;
	observe(p, &o);
	assert_int_equal(o.v[0].state, RES_STOPPED);
	assert_null(o.v[0].url);
	observation_free(&o);
	prov_call_t c = {0};
	prov_target_t t = target(ID1, "web-1");
	t.handle = "fake://stopstart/zone-a/" ID1; /* the zone from the handle */
	assert_int_equal(prov_start(ops, p, &t, &c), 0);
	prov_op_t *op = c.op;
	assert_non_null(op);
	assert_int_equal(c.again_ms, 200);
	prov_call_clear(&c);
	assert_int_equal(state_of(w, ID1), RES_PENDING);
	assert_int_equal(poll_done(p, op, NULL), 1);
	prov_op_free(ops, op);
	assert_int_equal(state_of(w, ID1), RES_RUNNING);
	/* Running already: nothing to do. */
	assert_int_equal(prov_start(ops, p, &t, &c), 0);
	assert_null(c.op);
	prov_call_clear(&c);
	/* Absent: an error, with a sentence. */
	prov_target_t gone = target(ID2, "web-2");
	assert_int_equal(prov_start(ops, p, &gone, &c), -ENOENT);
	assert_non_null(c.err);
	prov_call_clear(&c);
	ops->close(p);
}

static void test_update_stores_bytes(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("update", "{}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	create_running(p, &d);
	fake_res_info_t r;
	assert_int_equal(fake_world_res(w, ID1, &r), 0);
	assert_int_equal(r.n_files, 2);
	const fake_file_t *f = fake_res_file(&r, "certs", "cert.pem");
	assert_non_null(f);
	assert_memory_equal(f->data, cert_v1, sizeof cert_v1 - 1);
	fake_res_info_free(&r);

	d.files = files_v2;
	d.n_files = ARRAY_SIZE(files_v2);
	d.spec_hash = "hash-2";
	prov_call_t c = {0};
	prov_target_t t = target(ID1, "web-1");
	assert_int_equal(prov_update(ops, p, &t, &d, &c), 0);
	assert_null(c.op);
	prov_call_clear(&c);
	assert_int_equal(fake_world_res(w, ID1, &r), 0);
	assert_int_equal(r.n_files, 1);
	f = fake_res_file(&r, "certs", "cert.pem");
	assert_int_equal(f->len, sizeof cert_v2 - 1);
	assert_memory_equal(f->data, cert_v2, f->len);
	assert_null(fake_res_file(&r, "env", "environment"));
	assert_string_equal(r.spec_hash, "hash-2");
	fake_res_info_free(&r);
	observation_t o;
	observe(p, &o);
	assert_string_equal(o.v[0].spec_hash, "hash-2");
	observation_free(&o);
	ops->close(p);
}

static void test_counters(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("counters", "{\"latencyMs\": 1000}", &w);
	/* Three creates 100 ms apart, then one 2 s later. */
	const char *ids[] = {ID1, ID2, ID3};
	const char *names[] = {"a", "b", "c"};
	prov_op_t *opv[3];
	for (int i = 0; i < 3; i++) {
		cvm_desired_t d = want_for(ids[i], names[i], "zone-a");
		prov_call_t c = {0};
		assert_int_equal(prov_create(ops, p, &d, &c), 0);
		opv[i] = c.op;
		prov_call_clear(&c);
		fc.now_ms += 100;
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(poll_done(p, opv[i], NULL), 1);
		prov_op_free(ops, opv[i]);
	}
	fc.now_ms += 2000;
	prov_call_t c = {0};
	prov_target_t t = target(ID1, "a");
	assert_int_equal(prov_remove(ops, p, &t, &c), 0);
	prov_op_free(ops, c.op);
	prov_call_clear(&c);
	observation_t o;
	observe(p, &o);
	observation_free(&o);
	char *zone = NULL, *err = NULL;
	cvm_desired_t d = want_for(ID1, "a", NULL);
	assert_int_equal(prov_place(ops, p, &d, NULL, 0, &zone, &err), 0);
	free(zone);

	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 3);
	assert_int_equal(fake_world_calls(w, FAKE_REMOVE), 1);
	assert_int_equal(fake_world_calls(w, FAKE_OBSERVE), 1);
	assert_int_equal(fake_world_calls(w, FAKE_LIST_PAGE), 1);
	assert_int_equal(fake_world_calls(w, FAKE_PLACE), 1);
	assert_true(fake_world_calls(w, FAKE_POLL) >= 3);
	assert_int_equal(fake_world_submits(w), 4);
	assert_int_equal(fake_world_max_submits_within(w, 1000), 3);
	assert_int_equal(fake_world_max_submits_within(w, 150), 2);
	assert_int_equal(fake_world_peak_pending(w), 3);
	fake_world_reset_counters(w);
	assert_int_equal(fake_world_calls(w, FAKE_ANY), 0);
	assert_int_equal(fake_world_submits(w), 0);
	ops->close(p);
}

/* A world outlives its providers; two providers on one world are two
 * connections to one cloud. */
static void test_world_shared(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p = open_on("shared2", "{}", &w);
	cvm_desired_t d = want_for(ID1, "web-1", "zone-a");
	create_running(p, &d);
	ops->close(p);

	json_t *s = json_pack("{s:s}", "world", "shared2");
	provider_config_t cfg = {.name = "other-name", .flavor = "fake", .settings = s};
	provider_t *a = NULL, *b = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(prov_open(ops, &cfg, &a, &err), 0);
	assert_int_equal(prov_open(ops, &cfg, &b, &err), 0);
	json_decref(s);
	assert_int_equal(fake_worlds_clear(), -EBUSY);
	observation_t o;
	observe(a, &o);
	assert_non_null(find_obs(&o, ID1)); /* survived the close */
	observation_free(&o);
	cvm_desired_t e = want_for(ID2, "web-2", "zone-a");
	create_running(b, &e);
	observe(a, &o);
	assert_int_equal(o.n, 2);
	observation_free(&o);
	ops->close(a);
	ops->close(b);
}

/* The threading contract: different provider_t on different threads, here
 * on one world. ASan would see a torn registry. */
struct worker {
	provider_t *p;
	int base;
};

static void *worker_main(void *arg) {
	struct worker *wk = arg;
	for (int i = 0; i < 50; i++) {
		char id[37], name[24];
		snprintf(id, sizeof id, "bbbbbbbb-0000-4000-8000-%012d", wk->base + i);
		snprintf(name, sizeof name, "t-%d", wk->base + i);
		cvm_desired_t d = want_for(id, name, "zone-a");
		prov_call_t c = {0};
		if (prov_create(ops, wk->p, &d, &c) < 0) return (void *)1;
		prov_call_clear(&c);
		observation_t o;
		char *err = NULL;
		if (prov_observe(ops, wk->p, NULL, 0, &o, &err) < 0) return (void *)1;
		observation_free(&o);
		free(err);
	}
	return NULL;
}

static void test_threads(void **state) {
	(void)state;
	fake_world_t *w;
	provider_t *p1 = open_on("threads", "{}", &w);
	fake_world_set_clock(w, NULL); /* the fake clock is not shared across threads */
	json_t *s = json_pack("{s:s}", "world", "threads");
	provider_config_t cfg = {.name = "second", .flavor = "fake", .settings = s};
	provider_t *p2 = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(prov_open(ops, &cfg, &p2, &err), 0);
	json_decref(s);
	struct worker a = {p1, 0}, b = {p2, 1000};
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, worker_main, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, worker_main, &b), 0);
	void *ra, *rb;
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	assert_null(ra);
	assert_null(rb);
	assert_int_equal(fake_world_count(w), 100);
	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 100);
	ops->close(p1);
	ops->close(p2);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_and_schema),
		cmocka_unit_test(test_spec_level),
		cmocka_unit_test(test_async_create),
		cmocka_unit_test(test_world_moves_by_itself),
		cmocka_unit_test(test_idempotent_create),
		cmocka_unit_test(test_lost_response),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_failed_submit_and_operation),
		cmocka_unit_test(test_failed_operation_synchronous),
		cmocka_unit_test(test_page_failure),
		cmocka_unit_test(test_zone_unknown),
		cmocka_unit_test(test_place_capacity),
		cmocka_unit_test(test_foreign_untouched),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_vanish),
		cmocka_unit_test(test_stop_start),
		cmocka_unit_test(test_update_stores_bytes),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_world_shared),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
