/* The plan at fleet size: 20,000 CVMs against 20,000 records and 20,000
 * observations spread over two providers. A converged fleet must plan to
 * 20,000 noops, and a fleet with a few CVMs of every kind of change must
 * plan exactly those. No timing is asserted (a slow machine must not fail
 * the suite): the point is that the indexes answer what the rules ask, at a
 * size where a quadratic planner would also be unbearably slow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"

#define N 20000
#define N_ORPHANS 20
#define INST "inst-0001"
#define H1 "qemu+ssh://h1/system"
#define H2 "qemu+ssh://h2/system"
#define ZONE "europe-west4-a"

enum { P_LAB, P_GCP, N_PROV };

/* Which CVMs get which change in the mixed fleet: one in every 1000 each. */
enum twist { TW_NONE, TW_VANISHED = 1, TW_NO_RECORD, TW_STOPPED, TW_SPEC_REMOVED, TW_NEW, TW_CLASH };
static enum twist twist_of(unsigned i, bool mixed) {
	unsigned t = i % 1000;
	return mixed && t >= TW_VANISHED && t <= TW_CLASH ? (enum twist)t : TW_NONE;
}

typedef struct fleet {
	provider_spec_t provs[N_PROV];
	json_t *lab, *gcp;
	char *files[1];
	spec_set_t specs;
	cvm_spec_t *cvms;
	cvm_record_t *recs;
	size_t n_recs;
	observation_t obs[N_PROV];
	provider_view_t views[N_PROV];
	char (*names)[32];
	char (*hashes)[65];
	char (*ids)[37];
	char (*new_ids)[37];
	plan_input_t in;
	plan_t plan;
} fleet_t;

static int setup(void **state) {
	fleet_t *f = xcalloc(1, sizeof *f);
	f->files[0] = "specs/cvms.yaml";
	f->lab = json_pack("{s:[s,s]}", "hosts", H1, H2);
	f->gcp = json_pack("{s:s, s:s}", "project", "acme", "zone", ZONE);
	f->provs[P_LAB] = (provider_spec_t){.name = "lab", .type = "manager", .backend = &manager_schema, .settings = f->lab};
	f->provs[P_GCP] = (provider_spec_t){.name = "gcp-prod", .type = "gcp", .backend = &gcp_schema, .settings = f->gcp};
	f->cvms = xcalloc(N, sizeof *f->cvms);
	f->recs = xcalloc(N, sizeof *f->recs);
	f->names = xcalloc(N + N_ORPHANS, sizeof *f->names);
	f->hashes = xcalloc(N, sizeof *f->hashes);
	f->ids = xcalloc(N + N_ORPHANS, sizeof *f->ids);
	f->new_ids = xcalloc(N, sizeof *f->new_ids);
	for (int p = 0; p < N_PROV; p++) {
		f->obs[p].v = xcalloc(N + N_ORPHANS, sizeof *f->obs[p].v);
		f->views[p] = (provider_view_t){.name = f->provs[p].name, .flavor = f->provs[p].type,
		                                .schema = f->provs[p].backend, .obs = &f->obs[p]};
	}
	for (unsigned i = 0; i < N + N_ORPHANS; i++) {
		snprintf(f->names[i], sizeof f->names[i], "cvm-%05u", i);
		snprintf(f->ids[i], sizeof f->ids[i], "c0ffee00-0000-4000-8000-%012u", i);
	}
	for (unsigned i = 0; i < N; i++) {
		snprintf(f->hashes[i], sizeof f->hashes[i], "%064u", i);
		snprintf(f->new_ids[i], sizeof f->new_ids[i], "ffffff00-0000-4000-8000-%012u", i);
	}
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fleet_t *f = *state;
	plan_free(&f->plan);
	json_decref(f->lab);
	json_decref(f->gcp);
	for (int p = 0; p < N_PROV; p++) free(f->obs[p].v);
	free(f->cvms);
	free(f->recs);
	free(f->names);
	free(f->hashes);
	free(f->ids);
	free(f->new_ids);
	free(f);
	return 0;
}

static observed_t *observe(fleet_t *f, int p, unsigned i, const char *inst, const char *placement) {
	observed_t *o = &f->obs[p].v[f->obs[p].n++];
	*o = (observed_t){.name = f->names[i], .scope = "default", .installation = (char *)inst,
	                  .spec_hash = i < N ? f->hashes[i] : NULL, .placement = (char *)placement,
	                  .state = RES_RUNNING, .vcpus = 2, .memory_gib = 4};
	snprintf(o->id, sizeof o->id, "%s", f->ids[i]);
	return o;
}

/* CVM i: its spec, record and resource, each as its twist wants them. */
static void add_cvm(fleet_t *f, unsigned i, bool mixed) {
	enum twist tw = twist_of(i, mixed);
	int p = i % 2 ? P_GCP : P_LAB;
	const char *where = p == P_GCP ? ZONE : (i % 4 ? H2 : H1);
	if (tw != TW_SPEC_REMOVED) {
		cvm_spec_t *c = &f->cvms[f->specs.n_cvms++];
		*c = (cvm_spec_t){.name = f->names[i], .pos = {.file = f->files[0], .line = (int)i * 5 + 1, .col = 1},
		                  .flavor = f->provs[p].type, .provider = f->provs[p].name, .provider_idx = (size_t)p,
		                  .vcpus = 2, .memory_gib = 4, .active = true};
		snprintf(c->hash, sizeof c->hash, "%s", f->hashes[i]);
	}
	if (tw == TW_NEW || tw == TW_CLASH) {
		if (tw == TW_CLASH) observe(f, p, i, "inst-9999", where); /* another state's resource */
		return;
	}
	if (tw != TW_NO_RECORD) {
		cvm_record_t *r = &f->recs[f->n_recs++];
		*r = (cvm_record_t){.name = f->names[i], .scope = "default", .flavor = (char *)f->provs[p].type,
		                    .provider = f->provs[p].name, .placement = (char *)where, .status = ST_RUNNING,
		                    .spec_hash = f->hashes[i], .vcpus = 2, .memory_gib = 4, .created_at = 1000 + i};
		snprintf(r->id, sizeof r->id, "%s", f->ids[i]);
	}
	if (tw == TW_VANISHED) return;
	observed_t *o = observe(f, p, i, INST, where);
	if (tw == TW_STOPPED) o->state = RES_STOPPED;
}

static int build_and_plan(fleet_t *f, bool mixed) {
	f->specs = (spec_set_t){.providers = f->provs, .n_providers = N_PROV, .cvms = f->cvms, .files = f->files,
	                        .n_files = 1};
	for (unsigned i = 0; i < N; i++) add_cvm(f, i, mixed);
	if (mixed) /* owned resources with neither record nor spec */
		for (unsigned i = N; i < N + N_ORPHANS; i++) observe(f, i % 2 ? P_GCP : P_LAB, i, INST, i % 2 ? ZONE : H1);
	f->in = (plan_input_t){.specs = &f->specs, .records = f->recs, .n_records = f->n_recs, .providers = f->views,
	                       .n_providers = N_PROV, .scope = "default", .installation = INST, .new_ids = f->new_ids,
	                       .n_new_ids = N, .max_deletions = -1};
	return plan_compute(&f->in, &f->plan);
}

static size_t n_kind(const plan_t *p, action_kind_t k) {
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) n += p->v[i].kind == k;
	return n;
}

static void test_converged_fleet_is_all_noop(void **state) {
	fleet_t *f = *state;
	assert_int_equal(build_and_plan(f, false), 0);
	assert_int_equal(f->plan.n, N);
	assert_int_equal(f->plan.n_changes, 0);
	assert_int_equal(f->plan.n_unknown, 0);
	assert_false(f->plan.refused);
	assert_null(f->plan.invalid);
	for (size_t i = 0; i < f->plan.n; i++) {
		const action_t *a = &f->plan.v[i];
		if (a->kind != ACT_NOOP) fail_msg("%s: %s (%s)", a->name, action_kind_name(a->kind), a->reason);
		/* sorted by name, and each the CVM's own record and resource */
		assert_string_equal(a->name, f->names[i]);
		assert_string_equal(a->id, f->ids[i]);
		assert_non_null(a->record);
		assert_non_null(a->observed);
		assert_string_equal(a->observed->id, a->id);
		assert_string_equal(a->reason, "up to date");
		assert_int_equal(a->provider_idx, i % 2 ? P_GCP : P_LAB);
	}
}

static action_kind_t expected_kind(unsigned i) {
	switch (twist_of(i, true)) {
	case TW_VANISHED: return ACT_CREATE;
	case TW_NO_RECORD: return ACT_ADOPT;
	case TW_STOPPED: return ACT_START;
	case TW_SPEC_REMOVED: return ACT_DELETE;
	case TW_NEW: return ACT_CREATE;
	case TW_CLASH: return ACT_CREATE;
	default: return ACT_NOOP;
	}
}

static void test_mixed_fleet_plans_only_the_changes(void **state) {
	fleet_t *f = *state;
	assert_int_equal(build_and_plan(f, true), 0);
	size_t per = N / 1000;
	assert_int_equal(f->plan.n, N + N_ORPHANS);
	assert_int_equal(n_kind(&f->plan, ACT_CREATE), 3 * per);
	assert_int_equal(n_kind(&f->plan, ACT_ADOPT), per);
	assert_int_equal(n_kind(&f->plan, ACT_START), per);
	assert_int_equal(n_kind(&f->plan, ACT_DELETE), per + N_ORPHANS);
	assert_int_equal(n_kind(&f->plan, ACT_NOOP), N - 6 * per);
	assert_int_equal(f->plan.n_changes, 6 * per + N_ORPHANS);
	assert_int_equal(f->plan.n_unknown, 0);

	/* One action per name, sorted: action i is CVM i (orphans last). */
	size_t next_new = 0;
	for (unsigned i = 0; i < N + N_ORPHANS; i++) {
		const action_t *a = &f->plan.v[i];
		assert_string_equal(a->name, f->names[i]);
		if (i >= N) {
			assert_int_equal(a->kind, ACT_DELETE);
			assert_null(a->record);
			assert_string_equal(a->id, f->ids[i]);
			continue;
		}
		if (a->kind != expected_kind(i))
			fail_msg("%s: %s, expected %s (%s)", a->name, action_kind_name(a->kind),
			         action_kind_name(expected_kind(i)), a->reason);
		enum twist tw = twist_of(i, true);
		if (tw == TW_NEW || tw == TW_CLASH) {
			/* new ids in spec order */
			assert_string_equal(a->id, f->new_ids[next_new++]);
			if (tw == TW_CLASH) assert_non_null(strstr(a->reason, "owned by installation inst-9999"));
		} else {
			assert_string_equal(a->id, f->ids[i]);
		}
	}
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_converged_fleet_is_all_noop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_fleet_plans_only_the_changes, setup, teardown),
	};
	return cmocka_run_group_tests_name("plan_scale", tests, NULL, NULL);
}
