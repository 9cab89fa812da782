#include "reconciler/plan_index.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

bool plan_ours(const plan_input_t *in, const observed_t *o) {
	return streq(o->installation, in->installation) && streq(o->scope, in->scope);
}

static void index_records(plan_index_t *ix) {
	const plan_input_t *in = ix->in;
	strmap_reserve(&ix->rec_by_id, in->n_records);
	strmap_reserve(&ix->active_rec, in->n_records);
	for (size_t i = 0; i < in->n_records; i++) {
		const cvm_record_t *r = &in->records[i];
		strmap_add(&ix->rec_by_id, r->id, i);
		if (r->status == ST_INACTIVE || !r->name) continue;
		if (!streq(r->scope, in->scope)) {
			strmap_add(&ix->foreign_rec, r->name, i);
			continue;
		}
		bool added;
		size_t *best = strmap_put(&ix->active_rec, r->name, &added);
		if (added || r->created_at > in->records[*best].created_at) *best = i;
	}
}

static void index_specs(plan_index_t *ix) {
	const spec_set_t *s = ix->in->specs;
	strmap_reserve(&ix->spec_any, s->n_cvms);
	strmap_reserve(&ix->spec_active, s->n_cvms);
	for (size_t i = 0; i < s->n_cvms; i++) {
		const cvm_spec_t *c = &s->cvms[i];
		if (!c->name) continue;
		strmap_add(&ix->spec_any, c->name, i);
		if (c->active) strmap_add(&ix->spec_active, c->name, i);
	}
}

/* Indexes one observation (flat index k) by id, and by name for adoption
 * and name clashes. */
static void index_one_observation(plan_index_t *ix, size_t k) {
	const plan_input_t *in = ix->in;
	const observed_t *o = ix->obs[k].o;
	strmap_add(&ix->obs_by_id, o->id, k);
	if (!o->name) return;
	if (!plan_ours(in, o)) {
		strmap_add(&ix->clash[ix->obs[k].view], o->name, k);
		return;
	}
	if (pix_record(ix, o->id)) return;
	bool added;
	size_t *best = strmap_put(&ix->adoptable, o->name, &added);
	if (added || strcmp(o->id, ix->obs[*best].o->id) < 0) *best = k;
}

static void index_observations(plan_index_t *ix) {
	const plan_input_t *in = ix->in;
	size_t n = 0;
	for (size_t i = 0; i < in->n_providers; i++)
		if (in->providers[i].obs) n += in->providers[i].obs->n;
	ix->obs = xcalloc(n, sizeof *ix->obs);
	ix->clash = xcalloc(in->n_providers, sizeof *ix->clash);
	strmap_reserve(&ix->obs_by_id, n);
	for (size_t i = 0; i < in->n_providers; i++) {
		const observation_t *obs = in->providers[i].obs;
		if (!obs) continue;
		for (size_t j = 0; j < obs->n; j++) {
			ix->obs[ix->n_obs] = (plan_obs_t){.o = &obs->v[j], .view = i};
			index_one_observation(ix, ix->n_obs++);
		}
	}
}

void plan_index_build(plan_index_t *ix, const plan_input_t *in) {
	memset(ix, 0, sizeof *ix);
	ix->in = in;
	index_records(ix); /* first: adoption asks whether an id has a record */
	index_specs(ix);
	index_observations(ix);
}

void plan_index_free(plan_index_t *ix) {
	strmap_t *maps[] = {&ix->obs_by_id,  &ix->rec_by_id,   &ix->active_rec, &ix->foreign_rec,
	                    &ix->spec_any,   &ix->spec_active, &ix->adoptable};
	for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) strmap_free(maps[i]);
	for (size_t i = 0; ix->clash && i < ix->in->n_providers; i++) strmap_free(&ix->clash[i]);
	free(ix->clash);
	free(ix->obs);
	memset(ix, 0, sizeof *ix);
}

const observed_t *pix_observed(const plan_index_t *ix, const char *id) {
	const size_t *k = strmap_get(&ix->obs_by_id, id);
	return k ? ix->obs[*k].o : NULL;
}

const cvm_record_t *pix_record(const plan_index_t *ix, const char *id) {
	const size_t *i = strmap_get(&ix->rec_by_id, id);
	return i ? &ix->in->records[*i] : NULL;
}

const cvm_record_t *pix_active_record(const plan_index_t *ix, const char *name) {
	const size_t *i = strmap_get(&ix->active_rec, name);
	return i ? &ix->in->records[*i] : NULL;
}

const cvm_record_t *pix_foreign_record(const plan_index_t *ix, const char *name) {
	const size_t *i = strmap_get(&ix->foreign_rec, name);
	return i ? &ix->in->records[*i] : NULL;
}

const cvm_spec_t *pix_spec(const plan_index_t *ix, const char *name, bool active_only) {
	const size_t *i = strmap_get(active_only ? &ix->spec_active : &ix->spec_any, name);
	return i ? &ix->in->specs->cvms[*i] : NULL;
}

const observed_t *pix_adoptable(const plan_index_t *ix, const char *name, size_t *view) {
	const size_t *k = strmap_get(&ix->adoptable, name);
	if (!k) return NULL;
	*view = ix->obs[*k].view;
	return ix->obs[*k].o;
}

const observed_t *pix_name_clash(const plan_index_t *ix, size_t view, const char *name) {
	if (view >= ix->in->n_providers) return NULL;
	const size_t *k = strmap_get(&ix->clash[view], name);
	return k ? ix->obs[*k].o : NULL;
}
