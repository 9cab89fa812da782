/* Indexes over a plan's inputs, built once per plan_compute: every "the
 * record with this id", "the observation with this id", "the spec of this
 * name" the rules ask is then O(1), so a plan over N CVMs costs O(N) (plus
 * the final sort), not O(N^2). Internal to reconciler/plan.c.
 *
 * Each lookup answers exactly what a scan of the inputs in their order
 * would: the first match in input order, or the documented best one. */
#ifndef CVM_PLAN_INDEX_H
#define CVM_PLAN_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strmap.h"
#include "reconciler/plan.h"

typedef struct plan_obs {
	const observed_t *o;
	size_t view; /* index into plan_input.providers */
} plan_obs_t;

typedef struct plan_index {
	const plan_input_t *in;
	plan_obs_t *obs; /* every observation, provider after provider */
	size_t n_obs;
	strmap_t obs_by_id;   /* id -> first in obs[] */
	strmap_t rec_by_id;   /* id -> first record */
	strmap_t active_rec;  /* name -> newest non-Inactive record of in->scope */
	strmap_t foreign_rec; /* name -> first non-Inactive record of another scope */
	strmap_t spec_any;    /* name -> first spec */
	strmap_t spec_active; /* name -> first active spec */
	strmap_t adoptable;   /* name -> obs[] entry a record-less CVM adopts */
	strmap_t *clash;      /* per provider: name -> first observation not ours */
} plan_index_t;

/* The resource carries our installation and scope. */
bool plan_ours(const plan_input_t *in, const observed_t *o);

void plan_index_build(plan_index_t *ix, const plan_input_t *in);
void plan_index_free(plan_index_t *ix);

/* The first observation with that id, in provider order; NULL if none. */
const observed_t *pix_observed(const plan_index_t *ix, const char *id);
/* The first record with that id, in any scope. */
const cvm_record_t *pix_record(const plan_index_t *ix, const char *id);
/* The non-Inactive record of our scope with that name; the newest
 * (created_at, the first of equals) if the state somehow holds several. */
const cvm_record_t *pix_active_record(const plan_index_t *ix, const char *name);
/* The first non-Inactive record of that name in another scope. */
const cvm_record_t *pix_foreign_record(const plan_index_t *ix, const char *name);
/* The first spec of that name (active_only: the first active one). */
const cvm_spec_t *pix_spec(const plan_index_t *ix, const char *name, bool active_only);
/* The owned resource a desired CVM without a record can adopt: the lowest
 * id (the first of equals) among those of that name, our installation and
 * scope, whose id has no record; *view is its provider. */
const observed_t *pix_adoptable(const plan_index_t *ix, const char *name, size_t *view);
/* The first resource of that name in provider `view` that is not ours. */
const observed_t *pix_name_clash(const plan_index_t *ix, size_t view, const char *name);

#endif
