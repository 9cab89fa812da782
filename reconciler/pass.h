/* One pass, up to the plan: load the specs, open every backend, observe them
 * concurrently, read the records, and compute the plan. `plan` stops there;
 * `reconcile` hands the prepared pass to apply. */
#ifndef CVM_PASS_H
#define CVM_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "providers/provider.h"
#include "reconciler/plan.h"
#include "reconciler/store/store.h"
#include "specs/spec.h"

typedef struct pass_opts {
	const char *const *paths;
	size_t n_paths;
	bool allow_replace, allow_empty;
	long max_deletions; /* < 0: no cap */
	/* the scope was chosen explicitly (--scope, $CVMCTL_SCOPE, a saved
	 * plan): one that contradicts the tree's kind: Scope is refused */
	bool scope_given;
	bool describe;      /* the plan is shown or compared: fill its actions' changes */
	int per_provider;   /* --concurrency: operations in flight per provider (0: the Provider's, else 4) */
	/* apply's scheduler (reconciler/sched.h): the clock it waits on (NULL:
	 * the real one; tests pass a fake clock), the seed of its jitter (0:
	 * from the clock), and where it reports what it did (NULL: nowhere) */
	const clock_src_t *clock;
	uint64_t seed;
	struct apply_stats *stats;
	/* The daemon's prune delay: asked about every delete the plan holds;
	 * true keeps the CVM this pass (its absence is too recent). NULL:
	 * every delete goes ahead. */
	bool (*hold_delete)(void *ctx, const char *name);
	void *hold_ctx;
	/* Told each carried-out action's result ("ok", "failed", "refused",
	 * "unknown") with its Provider and action kind, for the metrics;
	 * NULL: nobody. */
	void (*on_result)(void *ctx, const char *provider, const char *action, const char *result);
	void *result_ctx;
} pass_opts_t;

typedef struct pass_backend {
	provider_config_t cfg;
	const provider_ops_t *ops; /* NULL: flavor not built in */
	provider_t *conn;          /* NULL: could not be opened */
	observation_t obs;
	observed_t *known; /* what the state recorded there (reconciler/known.h) */
	size_t n_known;
	bool observed; /* obs is valid */
	char *why;     /* why the provider is unknown */
} pass_backend_t;

/* Wall time of each phase of the last pass (CVMCTL_TIMINGS=1 prints it). */
typedef struct pass_timings {
	int64_t load_ns, store_ns, observe_ns, plan_ns, apply_ns;
	/* apply's own split: intents (placement, minting, the wave's
	 * transaction), remote (the scheduler), outcome, rotation (+ CRL) */
	int64_t intents_ns, remote_ns, outcome_ns, rotation_ns;
} pass_timings_t;

typedef struct pass {
	spec_set_t specs;
	pass_backend_t *backends; /* one per spec provider, same order */
	provider_view_t *views;
	size_t n_backends;
	cvm_record_t *records;
	size_t n_records;
	cert_state_t *certs; /* every CVM's certificates, for the plan's certificate actions */
	size_t n_certs;
	plan_t plan;
	store_t *store;
	const char *scope;
	pass_timings_t timings;
} pass_t;

/* Returns 0, or an exit code after reporting (3 for specs that do not load
 * or whose kind: Scope contradicts an explicit scope, 1 for a store that
 * cannot be read). A tree that declares its scope passes in it (p->scope),
 * and its maxDeletions caps o->max_deletions. */
int pass_prepare(pass_t *p, store_t *st, const char *scope, const pass_opts_t *o);
void pass_free(pass_t *p);

/* Chooses the target placement of every create and replace of p->plan
 * (pass_place.c); pass_prepare calls it. */
void pass_place(pass_t *p);

/* Index of the backend by Provider name, or -1. */
int pass_backend_index(const pass_t *p, const char *provider);

#endif
