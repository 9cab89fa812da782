/* Carrying out a plan: intents first (one transaction, one fsync per wave),
 * then the remote work concurrently with a limit per provider, then the
 * outcome (one more transaction). A kill at any point leaves either an
 * intent without a resource (resumed next pass) or a resource with an
 * intent (adopted next pass): never a duplicate, never an orphan. */
#ifndef CVM_APPLY_H
#define CVM_APPLY_H

#include "reconciler/pass.h"

typedef struct apply_summary {
	size_t created, adopted, started, updated, replaced, deleted, failed, unknown, refused, noop;
} apply_summary_t;

/* Returns the exit code of the pass (0, 1 or 4), having reported each
 * failure once. */
int apply_plan(pass_t *p, const pass_opts_t *o, apply_summary_t *sum);

#endif
