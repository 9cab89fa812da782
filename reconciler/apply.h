/* Carrying out a plan: intents first (one transaction, one fsync per wave),
 * then the remote work through the operation scheduler (sched.h: one loop,
 * limits per provider), then the outcome (one more transaction). A kill at
 * any point leaves either an intent without a resource (resumed next pass)
 * or a resource with an intent (adopted next pass): never a duplicate,
 * never an orphan. */
#ifndef CVM_APPLY_H
#define CVM_APPLY_H

#include "reconciler/pass.h"

typedef struct apply_summary {
	size_t created, adopted, started, updated, replaced, deleted, failed, unknown, refused, noop;
	/* failures of the pass itself, not of one CVM (the state could not
	 * be written): the summary line names them, so that it never reads
	 * "0 failed" beside exit 1 */
	size_t errors;
} apply_summary_t;

#define APPLY_STATS_MAX_BACKENDS 8

/* What the scheduler did (pass_opts_t.stats), for tests and reports. */
typedef struct apply_stats {
	int64_t elapsed_ms; /* on the scheduler's clock, from first submission to last outcome */
	long sleeps;        /* how often the loop waited */
	int peak_in_flight[APPLY_STATS_MAX_BACKENDS]; /* per pass backend */
} apply_stats_t;

/* Returns the exit code of the pass (0, 1 or 4), having reported each
 * failure once. */
int apply_plan(pass_t *p, const pass_opts_t *o, apply_summary_t *sum);

#endif
