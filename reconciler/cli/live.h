/* What the backends show now of the recorded CVMs, for the reading commands
 * that observe live (list --refresh, diff). Nothing here writes the state:
 * the backends are reached with the spec tree's providers (-f) or with the
 * settings the last reconcile recorded. */
#ifndef CVM_CLI_LIVE_H
#define CVM_CLI_LIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "reconciler/pass.h"
#include "reconciler/store/store.h"

/* What one provider shows now. */
typedef struct live {
	const char *name;
	const observation_t *obs; /* NULL: could not be observed */
	const char *why;          /* why not, when known */
} live_t;

struct recorded_backend;

typedef struct live_view {
	bool from_specs; /* p was prepared from -f */
	pass_t p;
	struct recorded_backend *rb;
	live_t *lv;
	size_t n;
} live_view_t;

/* Observes every provider of the active records v[0..n) (o->n_paths > 0:
 * those of the spec tree). 0, or an exit code after reporting (specs that
 * do not load). full: every resource read afresh, not trusting the records
 * for what a backend need not re-read in a pass. Free with live_view_free
 * either way. */
int live_view_open(live_view_t *w, store_t *st, const cvm_record_t *v, size_t n, const pass_opts_t *o, bool full);
void live_view_free(live_view_t *w);

typedef enum live_seen {
	LIVE_NO_PROVIDER, /* its provider is not among those observed (not in -f) */
	LIVE_UNKNOWN,     /* its provider or its place could not be observed */
	LIVE_MISSING,     /* observed, and not there */
	LIVE_FOUND,
} live_seen_t;

/* Where r stands in the view; *o is the resource when LIVE_FOUND, *why
 * says why for LIVE_UNKNOWN (may be NULL). */
live_seen_t live_view_find(const live_view_t *w, const cvm_record_t *r, const observed_t **o, const char **why);

#endif
