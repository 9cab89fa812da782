/* The plan, as a pure function: inputs (specs, records, observations) are
 * built by hand here, so every rule of reconciler/plan.c is exercised without
 * a backend or a store. Text and JSON output are compared with golden files
 * in tests/golden/plan/ (regenerate with UPDATE_GOLDEN=1, then review the
 * diff). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"

#define MAXN 16
#define INST "inst-0001"
#define OTHER_INST "inst-9999"
#define H1 "qemu+ssh://h1/system"
#define H2 "qemu+ssh://h2/system"
#define ZONE "europe-west4-a"

enum { P_LAB, P_GCP, N_PROV };

typedef struct fx {
	provider_spec_t provs[N_PROV];
	cvm_spec_t cvms[MAXN];
	char *files[1];
	spec_set_t specs;
	cvm_record_t recs[MAXN];
	size_t n_recs;
	observation_t obs[N_PROV];
	observed_t observed[N_PROV][MAXN];
	unknown_place_t unknown[N_PROV][2];
	provider_view_t views[N_PROV];
	size_t n_views;
	char new_ids[MAXN][37];
	size_t n_new_ids;
	bool derive_ids; /* hand the plan no ids: it derives them */
	plan_input_t in;
	plan_t plan;
	char *keep[256];
	size_t n_keep;
} fx_t;

static char *keep(fx_t *f, char *s) {
	assert_true(f->n_keep < ARRAY_SIZE(f->keep));
	f->keep[f->n_keep++] = s;
	return s;
}

static const char *old_id(unsigned i) {
	static char ids[MAXN][37];
	snprintf(ids[i], sizeof ids[i], "c0ffee%02u-0000-4000-8000-000000000000", i % 100);
	return ids[i];
}

static int setup(void **state) {
	fx_t *f = xcalloc(1, sizeof *f);
	f->files[0] = "specs/cvms.yaml";
	/* The settings as the loader leaves them: the backend's fields, with
	 * the schema's defaults. */
	json_t *lab = json_pack("{s:[s,s], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:{s:i, s:i}, s:i, s:i}", "hosts", H1,
	                        H2, "firmware", "/fw/OVMF.amdsev.fd", "kernel", "/guest/bzImage", "initrd", "/guest/initrd",
	                        "cmdline", "quiet console=null", "domainType", "kvm", "cpuModel", "EPYC-Milan", "network",
	                        "default", "vtpm", 0, "insecureNoSEV", 0, "capacity", "vcpus", 64, "memoryGiB", 128,
	                        "connectTimeout", 10, "callTimeout", 20);
	json_t *gcp = json_pack("{s:s, s:s, s:s, s:s}", "project", "acme", "zone", ZONE, "credentialsFile", "/sa.json",
	                        "endpoint", "https://compute.googleapis.com/compute/v1");
	assert_non_null(lab);
	assert_non_null(gcp);
	f->provs[P_LAB] = (provider_spec_t){.name = "lab", .type = "manager", .backend = &manager_schema, .settings = lab};
	f->provs[P_GCP] = (provider_spec_t){.name = "gcp-prod", .type = "gcp", .backend = &gcp_schema, .settings = gcp};
	f->specs = (spec_set_t){.providers = f->provs, .n_providers = N_PROV, .cvms = f->cvms, .files = f->files, .n_files = 1};
	for (int i = 0; i < N_PROV; i++) {
		f->obs[i].v = f->observed[i];
		f->obs[i].unknown = f->unknown[i];
		f->views[i] = (provider_view_t){.name = f->provs[i].name, .flavor = f->provs[i].type,
		                                .schema = f->provs[i].backend, .obs = &f->obs[i]};
	}
	f->n_views = N_PROV;
	f->n_new_ids = MAXN;
	for (unsigned i = 0; i < MAXN; i++) snprintf(f->new_ids[i], 37, "ffffff%02u-0000-4000-8000-000000000000", i % 100);
	f->in = (plan_input_t){.scope = "default", .installation = INST, .max_deletions = -1, .describe = true};
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx_t *f = *state;
	plan_free(&f->plan);
	for (int i = 0; i < N_PROV; i++) json_decref(f->provs[i].settings);
	for (size_t i = 0; i < f->n_keep; i++) free(f->keep[i]);
	free(f);
	return 0;
}

static cvm_spec_t *add_cvm(fx_t *f, const char *name, int prov) {
	assert_true(f->specs.n_cvms < MAXN);
	size_t i = f->specs.n_cvms++;
	cvm_spec_t *c = &f->cvms[i];
	*c = (cvm_spec_t){
		.name = (char *)name,
		.pos = {.file = f->files[0], .line = (int)(12 * i + 1), .col = 1},
		.flavor = f->provs[prov].type,
		.backend = f->provs[prov].backend,
		.provider = f->provs[prov].name,
		.provider_idx = (size_t)prov,
		.vcpus = 8,
		.memory_gib = 16,
		.agent = {.log_level = AGENT_LOG_INFO, .port = 7002},
		.certs = {.validity_s = 30 * 86400, .renew_before_s = 10 * 86400},
		.active = true,
	};
	return c;
}

/* The hash the loader computes: SHA-256 of the canonical JSON. */
static void rehash(fx_t *f, cvm_spec_t *c) {
	_cleanup_free_ char *json = cvm_spec_canonical_json(&f->specs, c);
	assert_non_null(json);
	sha256_hex(json, strlen(json), c->hash);
}

/* A record of c as it was applied now (its spec as of this call). */
static cvm_record_t *add_record(fx_t *f, cvm_spec_t *c, const char *id, const char *scope, cvm_status_t st,
                                const char *placement) {
	assert_true(f->n_recs < MAXN);
	rehash(f, c);
	cvm_record_t *r = &f->recs[f->n_recs++];
	*r = (cvm_record_t){
		.name = c->name,
		.scope = (char *)scope,
		.flavor = (char *)c->flavor,
		.provider = f->provs[c->provider_idx].name,
		.placement = (char *)placement,
		.status = st,
		.spec_hash = keep(f, xstrdup(c->hash)),
		.spec_json = keep(f, cvm_spec_canonical_json(&f->specs, c)),
		.attempt = keep(f, xasprintf("attempt-of-%s", id)),
		.vcpus = c->vcpus,
		.memory_gib = c->memory_gib,
		.created_at = 1000 + (int64_t)f->n_recs,
	};
	snprintf(r->id, sizeof r->id, "%s", id);
	return r;
}

static observed_t *add_observed(fx_t *f, int view, const char *id, const char *name, const char *scope,
                                const char *inst, const char *hash, const char *placement, res_state_t st) {
	observation_t *o = &f->obs[view];
	assert_true(o->n < MAXN);
	observed_t *r = &o->v[o->n++];
	*r = (observed_t){
		.name = (char *)name,
		.scope = (char *)scope,
		.installation = (char *)inst,
		.spec_hash = (char *)hash,
		.placement = (char *)placement,
		.state = st,
		.vcpus = 8,
		.memory_gib = 16,
	};
	snprintf(r->id, sizeof r->id, "%s", id);
	return r;
}

/* The resource a record describes, as its backend shows it. */
static observed_t *observe_record(fx_t *f, const cvm_record_t *r, res_state_t st) {
	int view = strcmp(r->provider, "lab") == 0 ? P_LAB : P_GCP;
	observed_t *o = add_observed(f, view, r->id, r->name, r->scope, INST, r->spec_hash, r->placement, st);
	o->vcpus = r->vcpus;
	o->memory_gib = r->memory_gib;
	return o;
}

/* CVM i of the specs, recorded Running and observed running. */
static cvm_record_t *converge(fx_t *f, cvm_spec_t *c, const char *id) {
	const char *where = c->provider_idx == P_LAB ? H2 : ZONE;
	cvm_record_t *r = add_record(f, c, id, "default", ST_RUNNING, where);
	observe_record(f, r, RES_RUNNING);
	return r;
}

static void mark_unknown(fx_t *f, int view, const char *placement, const char *why) {
	observation_t *o = &f->obs[view];
	o->unknown[o->n_unknown++] = (unknown_place_t){.placement = (char *)placement, .why = (char *)why};
}

static int run_plan(fx_t *f) {
	for (size_t i = 0; i < f->specs.n_cvms; i++) rehash(f, &f->cvms[i]);
	plan_free(&f->plan);
	f->in.specs = &f->specs;
	f->in.records = f->recs;
	f->in.n_records = f->n_recs;
	f->in.providers = f->views;
	f->in.n_providers = f->n_views;
	f->in.new_ids = f->derive_ids ? NULL : f->new_ids;
	f->in.n_new_ids = f->derive_ids ? 0 : f->n_new_ids;
	return plan_compute(&f->in, &f->plan);
}

static const action_t *only(const plan_t *p, const char *name) {
	const action_t *found = NULL;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0) {
			if (found) fail_msg("more than one action for %s", name);
			found = &p->v[i];
		}
	if (!found) fail_msg("no action for %s", name);
	return found;
}

static size_t n_kind(const plan_t *p, action_kind_t k) {
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) n += p->v[i].kind == k;
	return n;
}

static bool has_field(const action_t *a, const char *field) {
	for (size_t i = 0; i < a->n_fields; i++)
		if (strcmp(a->fields[i], field) == 0) return true;
	return false;
}

static void assert_contains(const char *hay, const char *needle) {
	if (!hay || !strstr(hay, needle)) fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

#define assert_kind(a, k) assert_string_equal(action_kind_name((a)->kind), action_kind_name(k))

/* ---- creates ---- */

static void test_new_cvms_take_ids_in_spec_order(void **state) {
	fx_t *f = *state;
	add_cvm(f, "zeta", P_LAB);
	add_cvm(f, "alpha", P_GCP);
	add_cvm(f, "mid", P_LAB);
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(f->plan.n, 3);
	/* sorted by name; ids in spec order */
	assert_string_equal(f->plan.v[0].name, "alpha");
	assert_string_equal(f->plan.v[2].name, "zeta");
	assert_string_equal(only(&f->plan, "zeta")->id, f->new_ids[0]);
	assert_string_equal(only(&f->plan, "alpha")->id, f->new_ids[1]);
	assert_string_equal(only(&f->plan, "mid")->id, f->new_ids[2]);
	const action_t *a = only(&f->plan, "alpha");
	assert_kind(a, ACT_CREATE);
	assert_null(a->record);
	assert_ptr_equal(a->spec, &f->cvms[1]);
	assert_string_equal(a->provider, "gcp-prod");
	assert_int_equal(a->provider_idx, P_GCP);
	assert_int_equal(f->plan.n_changes, 3);
	assert_false(f->plan.refused);
}

static void test_running_out_of_ids_is_enospc(void **state) {
	fx_t *f = *state;
	add_cvm(f, "a", P_LAB);
	add_cvm(f, "b", P_LAB);
	f->n_new_ids = 1;
	assert_int_equal(run_plan(f), -ENOSPC);
	assert_int_equal(f->plan.n, 0);
}

static void test_converged_is_all_noop(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "web-1", P_LAB), old_id(1));
	converge(f, add_cvm(f, "web-2", P_GCP), old_id(2));
	f->n_new_ids = 0; /* nothing new may be needed */
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(f->plan.n, 2);
	for (size_t i = 0; i < f->plan.n; i++) {
		assert_kind(&f->plan.v[i], ACT_NOOP);
		assert_string_equal(f->plan.v[i].reason, "up to date");
		assert_non_null(f->plan.v[i].observed);
	}
	assert_int_equal(f->plan.n_changes, 0);
	assert_int_equal(f->plan.n_unknown, 0);
	assert_false(f->plan.refused);
}

static void test_stale_status_is_a_refreshing_noop(void **state) {
	fx_t *f = *state;
	cvm_record_t *r = converge(f, add_cvm(f, "web", P_LAB), old_id(1));
	r->status = ST_CREATING;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_NOOP);
	assert_contains(a->reason, "recording it as Running");
	assert_int_equal(f->plan.n_changes, 0);
}

static void test_vanished_resource_is_recreated_under_same_id(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	add_record(f, c, old_id(7), "default", ST_RUNNING, H1);
	f->n_new_ids = 0;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, old_id(7));
	assert_ptr_equal(a->record, &f->recs[0]);
	assert_null(a->observed);
	assert_contains(a->reason, "disappeared");
	assert_int_equal(f->plan.n_changes, 1);
}

static void test_interrupted_create_is_resumed(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	add_record(f, c, old_id(3), "default", ST_CREATING, H2);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, old_id(3));
	assert_contains(a->reason, "resuming");
	assert_contains(a->reason, f->recs[0].attempt);

	f->recs[0].status = ST_FAILED;
	f->recs[0].last_error = "host h2: out of memory";
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, old_id(3));
	assert_contains(a->reason, "after: host h2: out of memory");
}

static void test_cvm_being_deleted_and_desired_again_is_created(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	add_record(f, c, old_id(4), "default", ST_DELETING, H2);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, old_id(4));
	assert_contains(a->reason, "desired again");

	/* its resource is still there: keep it, record it */
	observe_record(f, &f->recs[0], RES_RUNNING);
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "web");
	assert_kind(a, ACT_NOOP);
	assert_contains(a->reason, "recording it as Running");
}

static void test_stopped_is_started(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_GCP);
	cvm_record_t *r = add_record(f, c, old_id(1), "default", ST_RUNNING, ZONE);
	observe_record(f, r, RES_STOPPED);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_START);
	assert_string_equal(a->reason, "found shut off");
	assert_string_equal(a->id, old_id(1));
	assert_int_equal(f->plan.n_changes, 1);
}

/* ---- drift ---- */

static void test_vcpus_change_is_a_replace_refused_without_flag(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "db", P_LAB);
	c->vcpus = 4;
	converge(f, c, old_id(1));
	c->vcpus = 8;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "db");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_true(has_field(a, "spec.vcpus"));
	assert_true(a->refused);
	assert_string_equal(a->refusal, "replacing needs --allow-replace");
	assert_true(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 0);

	f->in.allow_replace = true;
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "db");
	assert_kind(a, ACT_REPLACE);
	assert_false(a->refused);
	assert_null(a->refusal);
	assert_string_equal(a->id, old_id(1));
	assert_false(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 1);
}

static void test_replace_names_only_forcing_fields(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "db", P_LAB);
	converge(f, c, old_id(1));
	c->memory_gib = 24;
	c->agent.log_level = AGENT_LOG_DEBUG;
	f->in.allow_replace = true;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "db");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "spec.memoryGiB");
}

static void test_label_and_agent_change_is_an_update(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_GCP);
	label_t before[] = {{"team", "data"}}, after[] = {{"team", "web"}};
	c->labels = before;
	c->n_labels = 1;
	converge(f, c, old_id(1));
	c->labels = after;
	c->agent.log_level = AGENT_LOG_DEBUG;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_UPDATE);
	assert_false(a->refused);
	assert_int_equal(a->n_fields, 2);
	assert_true(has_field(a, "metadata.labels.team"));
	assert_true(has_field(a, "spec.agent.logLevel"));
	assert_int_equal(f->plan.n_changes, 1);
}

static void test_without_recorded_spec_the_resource_decides(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	cvm_record_t *r = converge(f, c, old_id(1));
	r->spec_json = NULL;
	c->agent.port = 7010; /* hash changes; sizes do not */
	assert_int_equal(run_plan(f), 0);
	assert_kind(only(&f->plan, "web"), ACT_UPDATE);

	f->observed[P_LAB][0].vcpus = 2; /* the resource shows another size */
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_REPLACE);
	assert_true(has_field(a, "spec.vcpus"));
	assert_false(has_field(a, "spec.memoryGiB"));
}

/* A crash after a replace was recorded but before it was carried out: the
 * record holds the new spec, the resource still the old one. */
static void test_interrupted_replace_is_resumed(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "db", P_LAB);
	c->vcpus = 4;
	cvm_record_t *old = converge(f, c, old_id(1));
	const char *old_hash = old->spec_hash;
	c->vcpus = 8;
	f->n_recs = 0;
	add_record(f, c, old_id(1), "default", ST_CREATING, H2);
	f->observed[P_LAB][0].spec_hash = (char *)old_hash;
	f->in.allow_replace = true;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "db");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "spec.vcpus");

	/* same for an update: nothing the resource shows forces a replace */
	f->observed[P_LAB][0].vcpus = 8;
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "db");
	assert_kind(a, ACT_UPDATE);
	assert_contains(a->reason, "spec hash");
}

static void test_provider_change_is_a_replace(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	converge(f, c, old_id(1));
	c->provider_idx = P_GCP;
	c->provider = "gcp-prod";
	c->flavor = "gcp";
	c->backend = &gcp_schema;
	f->in.allow_replace = true;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_REPLACE);
	assert_true(has_field(a, "spec.flavor"));
	assert_true(has_field(a, "spec.provider"));
	assert_string_equal(a->provider, "gcp-prod");
	assert_non_null(a->observed); /* the old resource, for apply to remove */
	assert_string_equal(a->observed->placement, H2);
}

/* ---- Provider changes reach its CVMs ---- */

static void set_setting(fx_t *f, int prov, const char *key, json_t *v) {
	assert_int_equal(json_object_set_new(f->provs[prov].settings, key, v), 0);
}

static void test_provider_kernel_change_replaces_each_of_its_cvms(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "lab-1", P_LAB), old_id(1));
	converge(f, add_cvm(f, "lab-2", P_LAB), old_id(2));
	converge(f, add_cvm(f, "cloud", P_GCP), old_id(3));
	set_setting(f, P_LAB, "kernel", json_string("/guest/bzImage-6.8"));
	assert_int_equal(run_plan(f), 0);
	const char *names[] = {"lab-1", "lab-2"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const action_t *a = only(&f->plan, names[i]);
		assert_kind(a, ACT_REPLACE);
		assert_int_equal(a->n_fields, 1);
		assert_string_equal(a->fields[0], "provider.kernel");
		assert_contains(a->reason, "provider.kernel cannot change in place");
		assert_true(a->refused);
		assert_string_equal(a->refusal, "replacing needs --allow-replace");
	}
	assert_kind(only(&f->plan, "cloud"), ACT_NOOP); /* another provider */
	assert_true(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 0);

	f->in.allow_replace = true;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "lab-1");
	assert_kind(a, ACT_REPLACE);
	assert_false(a->refused);
	assert_string_equal(a->id, old_id(1));
	assert_int_equal(f->plan.n_changes, 2);
	assert_false(f->plan.refused);
}

static void test_provider_network_and_share_dir_replace(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "web", P_LAB), old_id(1));
	set_setting(f, P_LAB, "network", json_string("lab-net"));
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "provider.network");

	/* a share directory set where there was none: the 9p mount moves */
	f->n_recs = 0;
	f->obs[P_LAB].n = 0;
	converge(f, &f->cvms[0], old_id(1));
	set_setting(f, P_LAB, "shareDir", json_string("/srv/shares"));
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "web");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "provider.shareDir");

	/* a cloud's zone, too */
	converge(f, add_cvm(f, "cloud", P_GCP), old_id(2));
	set_setting(f, P_GCP, "zone", json_string("europe-west4-b"));
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "cloud");
	assert_kind(a, ACT_REPLACE);
	assert_string_equal(a->fields[0], "provider.zone");
}

/* Hosts, capacity and timeouts only change later calls (FX_NONE): no CVM
 * is touched, and neither is one by a new cloud endpoint. */
static void test_provider_fields_without_effect_change_nothing(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "web", P_LAB), old_id(1));
	converge(f, add_cvm(f, "cloud", P_GCP), old_id(2));
	set_setting(f, P_LAB, "hosts", json_pack("[s,s,s]", H1, H2, "qemu+ssh://h3/system"));
	set_setting(f, P_LAB, "capacity", json_pack("{s:i}", "vcpus", 8));
	set_setting(f, P_LAB, "connectTimeout", json_integer(30));
	set_setting(f, P_GCP, "endpoint", json_string("http://localhost:8080/compute/v1"));
	assert_int_equal(run_plan(f), 0);
	assert_kind(only(&f->plan, "web"), ACT_NOOP);
	assert_kind(only(&f->plan, "cloud"), ACT_NOOP);
	assert_string_equal(only(&f->plan, "web")->reason, "up to date");
	assert_int_equal(f->plan.n_changes, 0);
}

static void test_labels_with_provider_noise_is_an_update(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	label_t before[] = {{"team", "data"}}, after[] = {{"team", "web"}};
	c->labels = before;
	c->n_labels = 1;
	converge(f, c, old_id(1));
	c->labels = after;
	set_setting(f, P_LAB, "callTimeout", json_integer(60));
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_UPDATE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "metadata.labels.team");
}

/* A record written before the canonical form carried the Provider's
 * settings: every CVM's hash changes once, and that first pass rewrites
 * the markers in place. Nothing is replaced, not even for a setting that
 * would replace (it cannot be told apart from the upgrade). */
static void test_old_format_record_is_updated_not_replaced(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	cvm_record_t *r = converge(f, c, old_id(1));
	json_t *old = json_loads(r->spec_json, 0, NULL);
	assert_non_null(old);
	assert_int_equal(json_object_del(old, CANONICAL_PROVIDER_KEY), 0);
	r->spec_json = keep(f, json_dumps(old, JSON_SORT_KEYS | JSON_COMPACT));
	json_decref(old);
	char old_hash[65];
	sha256_hex(r->spec_json, strlen(r->spec_json), old_hash);
	r->spec_hash = keep(f, xstrdup(old_hash));
	f->observed[P_LAB][0].spec_hash = r->spec_hash;

	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_UPDATE);
	assert_int_equal(a->n_fields, 0);
	assert_contains(a->reason, "spec hash");
	assert_false(a->refused);
	assert_false(f->plan.refused);

	set_setting(f, P_LAB, "kernel", json_string("/guest/bzImage-6.8"));
	assert_int_equal(run_plan(f), 0);
	assert_kind(only(&f->plan, "web"), ACT_UPDATE);

	/* what did change in the CVM's own fields is still named */
	c->agent.log_level = AGENT_LOG_DEBUG;
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "web");
	assert_kind(a, ACT_UPDATE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "spec.agent.logLevel");
}

/* What forces a replace is the backend's to say: a schema with an
 * FX_UPDATE field and without spec.memoryGiB among its replace_fields. */
static const field_def_t live_fields[] = {
	{.name = "motd", .type = FT_STRING, .effect = FX_UPDATE},
	{.name = "image", .type = FT_STRING, .effect = FX_REPLACE},
	{0},
};
static const char *const live_replace[] = {"spec.vcpus", NULL};
static const backend_schema_t live_schema = {
	.flavor = "manager", .place_noun = "rack", .fields = live_fields, .replace_fields = live_replace,
};

static void test_schema_decides_update_or_replace(void **state) {
	fx_t *f = *state;
	f->provs[P_LAB].backend = &live_schema;
	f->views[P_LAB].schema = &live_schema;
	json_decref(f->provs[P_LAB].settings);
	f->provs[P_LAB].settings = json_pack("{s:s, s:s}", "motd", "hello", "image", "v1");
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	converge(f, c, old_id(1));

	set_setting(f, P_LAB, "motd", json_string("goodbye"));
	c->memory_gib = 32; /* resizable in place on this backend */
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_UPDATE);
	assert_true(has_field(a, "provider.motd"));
	assert_true(has_field(a, "spec.memoryGiB"));

	set_setting(f, P_LAB, "image", json_string("v2"));
	assert_int_equal(run_plan(f), 0);
	a = only(&f->plan, "web");
	assert_kind(a, ACT_REPLACE);
	assert_int_equal(a->n_fields, 1);
	assert_string_equal(a->fields[0], "provider.image");

	/* and the placement noun is the schema's too */
	f->n_recs = 0;
	f->obs[P_LAB].n = 0;
	add_record(f, c, old_id(1), "default", ST_RUNNING, H1);
	mark_unknown(f, P_LAB, H1, "no route");
	assert_int_equal(run_plan(f), 0);
	assert_contains(only(&f->plan, "web")->reason, "rack " H1 " could not be observed");
}

/* ---- unknown is not absent ---- */

static void test_unknown_host_acts_only_on_known_hosts(void **state) {
	fx_t *f = *state;
	cvm_spec_t *a1 = add_cvm(f, "on-h1", P_LAB);
	cvm_spec_t *b1 = add_cvm(f, "on-h2", P_LAB);
	add_cvm(f, "fresh", P_LAB);
	cvm_spec_t *gone = add_cvm(f, "gone-h1", P_LAB);
	add_record(f, a1, old_id(1), "default", ST_RUNNING, H1);
	add_record(f, b1, old_id(2), "default", ST_RUNNING, H2);
	add_record(f, gone, old_id(3), "default", ST_RUNNING, H1);
	gone->active = false;
	mark_unknown(f, P_LAB, H1, "connection refused");
	assert_int_equal(run_plan(f), 0);

	const action_t *a = only(&f->plan, "on-h1"); /* absent from view, but its host is unknown */
	assert_kind(a, ACT_UNKNOWN);
	assert_contains(a->reason, "host " H1 " could not be observed: connection refused");
	assert_kind(only(&f->plan, "gone-h1"), ACT_UNKNOWN); /* no delete */
	assert_kind(only(&f->plan, "on-h2"), ACT_CREATE); /* known host, vanished */
	assert_string_equal(only(&f->plan, "on-h2")->id, old_id(2));
	a = only(&f->plan, "fresh");
	assert_kind(a, ACT_CREATE);
	assert_contains(a->reason, "not used");
	assert_int_equal(f->plan.n_unknown, 2);
	assert_int_equal(f->plan.n_changes, 2);
}

static void test_unknown_provider_creates_and_deletes_nothing(void **state) {
	fx_t *f = *state;
	add_cvm(f, "new-one", P_GCP);
	cvm_spec_t *have = add_cvm(f, "have", P_GCP);
	cvm_spec_t *gone = add_cvm(f, "gone", P_GCP);
	add_record(f, have, old_id(1), "default", ST_RUNNING, ZONE);
	add_record(f, gone, old_id(2), "default", ST_RUNNING, ZONE);
	gone->active = false;
	f->obs[P_GCP].all_unknown = true;
	add_cvm(f, "lab-one", P_LAB); /* the other provider still acts */
	assert_int_equal(run_plan(f), 0);
	assert_kind(only(&f->plan, "new-one"), ACT_UNKNOWN);
	assert_contains(only(&f->plan, "new-one")->reason, "cannot tell whether it already exists");
	assert_kind(only(&f->plan, "have"), ACT_UNKNOWN);
	assert_kind(only(&f->plan, "gone"), ACT_UNKNOWN);
	assert_kind(only(&f->plan, "lab-one"), ACT_CREATE);
	assert_string_equal(only(&f->plan, "lab-one")->id, f->new_ids[0]); /* no id spent on the unknown */
	assert_int_equal(f->plan.n_unknown, 3);

	/* no observation at all is the same as all_unknown */
	f->views[P_GCP].obs = NULL;
	assert_int_equal(run_plan(f), 0);
	assert_kind(only(&f->plan, "new-one"), ACT_UNKNOWN);
	assert_kind(only(&f->plan, "gone"), ACT_UNKNOWN);
}

/* ---- derived ids ---- */

static void expect_id(const char *name, const char *scope, const char *gen, char out[37]) {
	const char *parts[] = {INST, scope, name, gen};
	uuid_from_names(out, "cvmctl/cvm-id/v1", parts, 4);
}

static void test_new_ids_are_derived_and_stable(void **state) {
	fx_t *f = *state;
	f->derive_ids = true;
	add_cvm(f, "web", P_LAB);
	add_cvm(f, "api", P_GCP);
	assert_int_equal(run_plan(f), 0);
	char web[37], api[37];
	expect_id("web", "default", "0", web);
	expect_id("api", "default", "0", api);
	assert_string_equal(only(&f->plan, "web")->id, web);
	assert_string_equal(only(&f->plan, "api")->id, api);
	assert_string_not_equal(web, api);
	assert_true(uuid_valid(web));
	assert_int_equal(web[14], '8'); /* version 8 */
	assert_true(strchr("89ab", web[19]) != NULL); /* RFC 9562 variant */
	/* the same inputs, the same ids */
	assert_int_equal(run_plan(f), 0);
	assert_string_equal(only(&f->plan, "web")->id, web);
	/* another scope, other ids */
	f->in.scope = "team-b";
	assert_int_equal(run_plan(f), 0);
	assert_string_not_equal(only(&f->plan, "web")->id, web);
}

static void test_a_name_that_comes_back_gets_a_fresh_id(void **state) {
	fx_t *f = *state;
	f->derive_ids = true;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	char gen0[37], gen1[37];
	expect_id("web", "default", "0", gen0);
	expect_id("web", "default", "1", gen1);
	add_record(f, c, gen0, "default", ST_INACTIVE, H2);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, gen1);
	assert_string_equal(a->code, "new");
}

/* ---- certificate actions ---- */

static void test_certificate_actions(void **state) {
	fx_t *f = *state;
	const int64_t now = 2000000000;
	converge(f, add_cvm(f, "a-due", P_LAB), old_id(1));
	converge(f, add_cvm(f, "b-undelivered", P_LAB), old_id(2));
	converge(f, add_cvm(f, "c-backing-off", P_LAB), old_id(3));
	converge(f, add_cvm(f, "d-fine", P_LAB), old_id(4));
	cert_state_t cs[] = {
	    {.serial = "01", .not_after = now + 86400, .delivered_serial = "01"},            /* due: 1d < 10d */
	    {.serial = "02", .not_after = now + 20 * 86400, .delivered_serial = "0f"},       /* not handed */
	    {.serial = NULL, .rotate_failures = 2, .rotate_next_at = now + 60},              /* waits */
	    {.serial = "04", .not_after = now + 20 * 86400, .delivered_serial = "04"},       /* nothing to do */
	};
	for (unsigned i = 0; i < 4; i++) snprintf(cs[i].cvm_id, sizeof cs[i].cvm_id, "%s", old_id(i + 1));
	f->in.certs = cs;
	f->in.n_certs = 4;
	f->in.now = now;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(only(&f->plan, "a-due")->cert, CERT_RENEW);
	assert_ptr_equal(only(&f->plan, "a-due")->cert_state, &cs[0]);
	assert_int_equal(only(&f->plan, "b-undelivered")->cert, CERT_PUBLISH);
	assert_int_equal(only(&f->plan, "c-backing-off")->cert, CERT_NONE);
	assert_int_equal(only(&f->plan, "d-fine")->cert, CERT_NONE);
	assert_int_equal(f->plan.n_cert, 2);
	assert_int_equal(f->plan.n_changes, 2); /* noops with a certificate action */
	/* once the wait is over, it is renewed */
	f->in.now = now + 61;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(only(&f->plan, "c-backing-off")->cert, CERT_RENEW);
	/* and the JSON plan lists them as actions of their own */
	_cleanup_free_ char *j = plan_to_json(&f->plan, NULL);
	json_t *root = json_loads(j, 0, NULL);
	assert_non_null(root);
	size_t i, n_cert = 0;
	json_t *a;
	json_array_foreach(json_object_get(root, "actions"), i, a) {
		const char *code = json_string_value(json_object_get(a, "reason_code"));
		if (strcmp(code, "cert-renewal") == 0 || strcmp(code, "cert-rotation") == 0) n_cert++;
	}
	assert_int_equal(n_cert, 3);
	json_decref(root);
}

/* ---- adoption ---- */

static void test_adopts_owned_resource_without_record(void **state) {
	fx_t *f = *state;
	add_cvm(f, "web", P_LAB);
	add_observed(f, P_LAB, old_id(5), "web", "default", INST, "somehash", H2, RES_RUNNING);
	f->n_new_ids = 0;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_ADOPT);
	assert_string_equal(a->id, old_id(5));
	assert_ptr_equal(a->observed, &f->observed[P_LAB][0]);
	assert_string_equal(a->reason, "owned resource found without a record; adopting it");
	assert_int_equal(f->plan.n_changes, 1);
}

static void test_does_not_adopt_other_installation_or_scope(void **state) {
	fx_t *f = *state;
	add_cvm(f, "web", P_LAB);
	add_cvm(f, "api", P_LAB);
	add_observed(f, P_LAB, old_id(5), "web", "default", OTHER_INST, "h", H2, RES_RUNNING);
	add_observed(f, P_LAB, old_id(6), "api", "team-b", INST, "h", H2, RES_RUNNING);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "web");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, f->new_ids[0]);
	assert_null(a->observed);
	assert_contains(a->reason, "owned by installation " OTHER_INST " / scope default exists and was left alone");
	a = only(&f->plan, "api");
	assert_kind(a, ACT_CREATE);
	assert_string_equal(a->id, f->new_ids[1]);
	assert_contains(a->reason, "scope team-b exists and was left alone");
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), 0); /* and never deleted */
}

static void test_does_not_adopt_resource_with_a_record(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "web", P_LAB);
	add_record(f, c, old_id(5), "default", ST_INACTIVE, H2);
	add_observed(f, P_LAB, old_id(5), "web", "default", INST, "h", H2, RES_RUNNING);
	assert_int_equal(run_plan(f), 0);
	/* An Inactive CVM cannot come back: new id, and its leftover goes. */
	assert_int_equal(f->plan.n, 2);
	assert_kind(&f->plan.v[0], ACT_CREATE);
	assert_string_equal(f->plan.v[0].id, f->new_ids[0]);
	assert_kind(&f->plan.v[1], ACT_DELETE);
	assert_string_equal(f->plan.v[1].id, old_id(5));
	assert_contains(f->plan.v[1].reason, "Inactive");
}

/* ---- deletions ---- */

static void test_removed_spec_is_deleted(void **state) {
	fx_t *f = *state;
	cvm_spec_t *keep_c = add_cvm(f, "keep", P_LAB);
	cvm_spec_t *old = add_cvm(f, "old-vm", P_LAB);
	converge(f, keep_c, old_id(1));
	converge(f, old, old_id(2));
	f->specs.n_cvms = 1; /* the old-vm document was removed */
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "old-vm");
	assert_kind(a, ACT_DELETE);
	assert_string_equal(a->id, old_id(2));
	assert_string_equal(a->reason, "spec removed");
	assert_null(a->spec);
	assert_ptr_equal(a->record, &f->recs[1]);
	assert_non_null(a->observed);
	assert_kind(only(&f->plan, "keep"), ACT_NOOP);
	assert_int_equal(f->plan.n_changes, 1);
}

static void test_inactive_spec_is_deleted_even_if_gone(void **state) {
	fx_t *f = *state;
	cvm_spec_t *c = add_cvm(f, "old-vm", P_GCP);
	add_record(f, c, old_id(2), "default", ST_RUNNING, ZONE); /* resource already gone */
	c->active = false;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "old-vm");
	assert_kind(a, ACT_DELETE);
	assert_null(a->observed);
	assert_contains(a->reason, "spec says state: inactive");
	assert_contains(a->reason, "already gone");
	assert_false(f->plan.refused); /* an inactive spec is a CVM of the tree */
}

static void test_delete_with_provider_gone_is_unknown(void **state) {
	fx_t *f = *state;
	add_cvm(f, "other", P_LAB);
	cvm_spec_t *c = add_cvm(f, "old-vm", P_GCP);
	add_record(f, c, old_id(2), "default", ST_RUNNING, ZONE);
	f->specs.n_cvms = 1;
	f->specs.n_providers = 1; /* the gcp provider left the specs */
	f->n_views = 1;
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "old-vm");
	assert_kind(a, ACT_UNKNOWN);
	assert_string_equal(a->reason,
	                    "its provider gcp-prod is no longer in the specs; restore the provider to delete it");
	assert_int_equal(a->provider_idx, 1); /* n_providers: no view */
	assert_string_equal(a->provider, "gcp-prod");
}

static void test_owned_orphan_is_deleted(void **state) {
	fx_t *f = *state;
	add_cvm(f, "web", P_LAB);
	add_observed(f, P_LAB, old_id(8), "ghost", "default", INST, "h", H1, RES_RUNNING);
	add_observed(f, P_LAB, old_id(9), "foreign", "default", OTHER_INST, "h", H1, RES_RUNNING);
	add_observed(f, P_GCP, old_id(10), "theirs", "team-b", INST, "h", ZONE, RES_RUNNING);
	assert_int_equal(run_plan(f), 0);
	const action_t *a = only(&f->plan, "ghost");
	assert_kind(a, ACT_DELETE);
	assert_string_equal(a->id, old_id(8));
	assert_null(a->record);
	assert_ptr_equal(a->observed, &f->observed[P_LAB][0]);
	assert_int_equal(a->provider_idx, P_LAB);
	assert_string_equal(a->reason, "owned resource with no record and no spec; deleting it");
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), 1);
	assert_int_equal(f->plan.n, 2); /* web's create and ghost's delete, nothing else */
}

/* ---- scopes ---- */

static void test_scopes_never_prune_each_other(void **state) {
	fx_t *f = *state;
	cvm_spec_t *a = add_cvm(f, "a-web", P_LAB);
	cvm_spec_t *b = add_cvm(f, "b-web", P_LAB);
	converge(f, a, old_id(1));
	cvm_record_t *rb = add_record(f, b, old_id(2), "team-b", ST_RUNNING, H2);
	observe_record(f, rb, RES_RUNNING);
	f->specs.n_cvms = 1; /* scope default's tree: only a-web */
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(f->plan.n, 1);
	assert_kind(only(&f->plan, "a-web"), ACT_NOOP);

	/* team-b's tree holds only b-web: a-web (scope default) stays */
	f->specs.cvms = &f->cvms[1];
	f->in.scope = "team-b";
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(f->plan.n, 1);
	assert_kind(only(&f->plan, "b-web"), ACT_NOOP);
	assert_string_equal(f->plan.scope, "team-b");

	/* and an empty team-b tree with --allow-empty deletes only team-b's */
	f->specs.n_cvms = 0;
	f->in.allow_empty = true;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(f->plan.n, 1);
	assert_kind(only(&f->plan, "b-web"), ACT_DELETE);
}

static void test_name_active_in_other_scope_is_invalid(void **state) {
	fx_t *f = *state;
	add_cvm(f, "first", P_LAB);
	cvm_spec_t *c = add_cvm(f, "shared", P_LAB);
	add_record(f, c, old_id(1), "team-b", ST_RUNNING, H1);
	assert_int_equal(run_plan(f), -EINVAL);
	assert_int_equal(f->plan.n, 0);
	assert_string_equal(f->plan.invalid, "specs/cvms.yaml:13:1: metadata.name: cvm 'shared' is active in scope 'team-b'; names are "
	                                     "unique among the active CVMs of a state");

	/* Inactive there: the name is free */
	f->recs[0].status = ST_INACTIVE;
	assert_int_equal(run_plan(f), 0);
	assert_null(f->plan.invalid);
	assert_kind(only(&f->plan, "shared"), ACT_CREATE);
}

/* ---- safety ---- */

static void test_empty_tree_refuses_deletes(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "a", P_LAB), old_id(1));
	converge(f, add_cvm(f, "b", P_GCP), old_id(2));
	f->specs.n_cvms = 0;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), 2);
	for (size_t i = 0; i < f->plan.n; i++) {
		assert_true(f->plan.v[i].refused);
		assert_string_equal(f->plan.v[i].refusal,
		                    "the spec tree has no CVM at all; pass --allow-empty to delete everything");
	}
	assert_true(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 0);

	f->in.allow_empty = true;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), 2);
	assert_false(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 2);
}

static void test_max_deletions_refuses_all_deletes_keeps_the_rest(void **state) {
	fx_t *f = *state;
	for (int i = 0; i < 3; i++) {
		static const char *names[] = {"d1", "d2", "d3"};
		converge(f, add_cvm(f, names[i], P_LAB), old_id((unsigned)i + 1));
	}
	add_cvm(f, "new", P_LAB);
	f->cvms[0] = f->cvms[3]; /* the tree now holds only "new" */
	f->specs.n_cvms = 1;
	f->in.max_deletions = 2;
	assert_int_equal(run_plan(f), 0);
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), 3);
	for (size_t i = 0; i < f->plan.n; i++) {
		const action_t *a = &f->plan.v[i];
		if (a->kind == ACT_DELETE) {
			assert_true(a->refused);
			assert_string_equal(a->refusal, "3 deletions exceed --max-deletions 2");
		} else {
			assert_kind(a, ACT_CREATE);
			assert_false(a->refused);
		}
	}
	assert_true(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 1);

	f->in.max_deletions = 3;
	assert_int_equal(run_plan(f), 0);
	assert_false(f->plan.refused);
	assert_int_equal(f->plan.n_changes, 4);
}

/* ---- output ---- */

static const char *const goldens[] = {"mixed.txt", "mixed.json", "nochanges.txt", "nochanges.json", "refused.txt"};

static char *golden_path(const char *name) {
	const char *src = getenv("CVMCTL_SRCDIR");
	if (!src) src = getenv("SRCDIR"); /* set by tests/run-tests.sh */
	if (src) return xasprintf("%s/tests/golden/plan/%s", src, name);
	/* __FILE__ is tests/unit/test_plan.c, relative to the source root or absolute */
	const char *me = __FILE__;
	size_t root = strlen(me) - strlen("tests/unit/test_plan.c");
	return xasprintf("%.*stests/golden/plan/%s", (int)root, me, name);
}

static void check_golden(const char *name, const char *got) {
	_cleanup_free_ char *path = golden_path(name);
	if (getenv("UPDATE_GOLDEN")) {
		assert_int_equal(write_file_atomic(path, got, strlen(got), 0644), 0);
		return;
	}
	_cleanup_free_ char *want = NULL;
	size_t len;
	int r = read_file(path, &want, &len);
	if (r < 0) fail_msg("cannot read %s (%s); run with UPDATE_GOLDEN=1 to create it", path, strerror(-r));
	assert_string_equal(got, want);
}

static char *text_of(const plan_t *p) {
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_non_null(m);
	plan_print_text(p, m);
	fclose(m);
	return buf;
}

static char *json_of(const plan_t *p) {
	_cleanup_free_ char *j = plan_to_json(p, NULL);
	return xasprintf("%s\n", j);
}

static void test_json_of_unknown_new_cvm_has_null_id(void **state) {
	fx_t *f = *state;
	add_cvm(f, "web", P_GCP);
	f->obs[P_GCP].all_unknown = true;
	mark_unknown(f, P_GCP, ZONE, "401 Unauthorized");
	assert_int_equal(run_plan(f), 0);
	_cleanup_free_ char *s = plan_to_json(&f->plan, NULL);
	json_error_t err;
	json_t *root = json_loads(s, 0, &err);
	assert_non_null(root);
	json_t *a = json_array_get(json_object_get(root, "actions"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "action")), "unknown");
	assert_true(json_is_null(json_object_get(a, "id")));
	assert_string_equal(json_string_value(json_object_get(a, "reason")),
	                    "provider gcp-prod could not be observed: 401 Unauthorized; cannot tell whether it already "
	                    "exists");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "summary"), "unknown")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "summary"), "changes")), 0);
	json_decref(root);
}

/* One of each kind of action. */
static void build_mixed(fx_t *f) {
	add_cvm(f, "analytics-01", P_GCP);                                /* create */
	converge(f, add_cvm(f, "web-1", P_LAB), old_id(1));               /* noop */
	cvm_spec_t *web2 = add_cvm(f, "web-2", P_LAB);                    /* update */
	converge(f, web2, old_id(2));
	web2->agent.log_level = AGENT_LOG_DEBUG;
	cvm_spec_t *db = add_cvm(f, "db", P_LAB);                         /* replace, refused */
	converge(f, db, old_id(3));
	db->vcpus = 16;
	cvm_spec_t *batch = add_cvm(f, "batch", P_GCP);                   /* start */
	observe_record(f, add_record(f, batch, old_id(4), "default", ST_RUNNING, ZONE), RES_STOPPED);
	cvm_spec_t *cache = add_cvm(f, "cache", P_LAB);                   /* recreate */
	add_record(f, cache, old_id(5), "default", ST_RUNNING, H2);
	add_cvm(f, "adopted", P_LAB);                                     /* adopt */
	add_observed(f, P_LAB, old_id(6), "adopted", "default", INST, "0123", H2, RES_RUNNING);
	cvm_spec_t *edge = add_cvm(f, "edge", P_LAB);                     /* unknown */
	add_record(f, edge, old_id(7), "default", ST_RUNNING, H1);
	mark_unknown(f, P_LAB, H1, "timeout after 10s");
	cvm_spec_t *old = add_cvm(f, "old-vm", P_GCP);                    /* delete */
	converge(f, old, old_id(8));
	old->active = false;
}

static void test_golden_mixed(void **state) {
	fx_t *f = *state;
	build_mixed(f);
	assert_int_equal(run_plan(f), 0);
	/* the counts the summary prints */
	assert_int_equal(f->plan.n, 9);
	assert_int_equal(f->plan.n_changes, 6);
	assert_int_equal(f->plan.n_unknown, 1);
	assert_true(f->plan.refused);
	_cleanup_free_ char *text = text_of(&f->plan);
	_cleanup_free_ char *json = json_of(&f->plan);
	assert_contains(text, "REFUSED: replacing needs --allow-replace");
	assert_contains(text, "Plan: 2 to create, 1 to adopt, 1 to start, 1 to update, 0 to replace, 1 to delete; "
	                      "1 unknown; 1 up to date.");
	check_golden("mixed.txt", text);
	check_golden("mixed.json", json);
}

static void test_golden_nochanges(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "web-1", P_LAB), old_id(1));
	converge(f, add_cvm(f, "web-2", P_GCP), old_id(2));
	assert_int_equal(run_plan(f), 0);
	_cleanup_free_ char *text = text_of(&f->plan);
	_cleanup_free_ char *json = json_of(&f->plan);
	assert_string_equal(text, "No changes. 2 CVMs up to date.\n");
	check_golden("nochanges.txt", text);
	check_golden("nochanges.json", json);
}

static void test_golden_refused(void **state) {
	fx_t *f = *state;
	converge(f, add_cvm(f, "a", P_LAB), old_id(1));
	converge(f, add_cvm(f, "b", P_GCP), old_id(2));
	f->specs.n_cvms = 0;
	assert_int_equal(run_plan(f), 0);
	_cleanup_free_ char *text = text_of(&f->plan);
	assert_contains(text, "Refused by a safety rule (nothing is done for them): 2 to delete.");
	check_golden("refused.txt", text);
}

/* Every file in the golden directory belongs to a test. */
static void test_golden_dir_has_no_strays(void **state) {
	(void)state;
	if (getenv("UPDATE_GOLDEN")) return;
	_cleanup_free_ char *dir = golden_path("");
	DIR *d = opendir(dir);
	if (!d) fail_msg("cannot open %s", dir);
	size_t seen = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		bool claimed = false;
		for (size_t i = 0; i < ARRAY_SIZE(goldens); i++) claimed |= strcmp(goldens[i], e->d_name) == 0;
		if (!claimed) {
			closedir(d);
			fail_msg("unused golden file: %s%s", dir, e->d_name);
		}
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, ARRAY_SIZE(goldens));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
	const struct CMUnitTest tests[] = {
		T(test_new_cvms_take_ids_in_spec_order),
		T(test_running_out_of_ids_is_enospc),
		T(test_converged_is_all_noop),
		T(test_stale_status_is_a_refreshing_noop),
		T(test_vanished_resource_is_recreated_under_same_id),
		T(test_interrupted_create_is_resumed),
		T(test_cvm_being_deleted_and_desired_again_is_created),
		T(test_stopped_is_started),
		T(test_vcpus_change_is_a_replace_refused_without_flag),
		T(test_replace_names_only_forcing_fields),
		T(test_label_and_agent_change_is_an_update),
		T(test_without_recorded_spec_the_resource_decides),
		T(test_interrupted_replace_is_resumed),
		T(test_provider_change_is_a_replace),
		T(test_provider_kernel_change_replaces_each_of_its_cvms),
		T(test_provider_network_and_share_dir_replace),
		T(test_provider_fields_without_effect_change_nothing),
		T(test_labels_with_provider_noise_is_an_update),
		T(test_old_format_record_is_updated_not_replaced),
		T(test_schema_decides_update_or_replace),
		T(test_unknown_host_acts_only_on_known_hosts),
		T(test_unknown_provider_creates_and_deletes_nothing),
		T(test_adopts_owned_resource_without_record),
		T(test_does_not_adopt_other_installation_or_scope),
		T(test_does_not_adopt_resource_with_a_record),
		T(test_removed_spec_is_deleted),
		T(test_inactive_spec_is_deleted_even_if_gone),
		T(test_delete_with_provider_gone_is_unknown),
		T(test_owned_orphan_is_deleted),
		T(test_scopes_never_prune_each_other),
		T(test_name_active_in_other_scope_is_invalid),
		T(test_empty_tree_refuses_deletes),
		T(test_max_deletions_refuses_all_deletes_keeps_the_rest),
		T(test_json_of_unknown_new_cvm_has_null_id),
		T(test_new_ids_are_derived_and_stable),
		T(test_a_name_that_comes_back_gets_a_fresh_id),
		T(test_certificate_actions),
		T(test_golden_mixed),
		T(test_golden_nochanges),
		T(test_golden_refused),
		T(test_golden_dir_has_no_strays),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
