/* The operation scheduler of apply: every action of a pass is a task, a
 * short list of steps, each either remote (one mutating call on one
 * backend, then polls of its operation) or local (store writes, done by the
 * caller's hook between two remote steps). One loop, in one thread, drives
 * every task:
 *
 *  - a remote step is submitted only within its backend's limits: at most
 *    `concurrency` operations in flight, and mutating requests taken from a
 *    token bucket refilled at `requests_per_second` (polls are reads and
 *    cost no token);
 *  - -EAGAIN from a submission is throttling, not failure: the step is
 *    submitted again no sooner than call->again_ms (else after a jittered
 *    exponential backoff);
 *  - every outstanding operation is polled when it is due: after the
 *    backend's again_ms (Retry-After, or its own estimate), else after a
 *    jittered exponential backoff;
 *  - when nothing is due the loop sleeps on the clock until the earliest
 *    deadline (a poll, a resubmission, a token): it never spins, and in
 *    tests it runs in fake time.
 *
 * Calls on one backend are therefore never concurrent (the threading
 * contract of providers/provider.h), and no thread ever waits on one VM.
 * Tasks are served in order: a task advances as far as it can (local steps,
 * submissions that finish at once) before the next one is looked at, so a
 * backend that answers synchronously sees the tasks one after the other. */
#ifndef CVM_SCHED_H
#define CVM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "providers/provider.h"

/* The engine's defaults for a Provider that sets neither (the one place
 * they are written down). */
#define SCHED_DEFAULT_CONCURRENCY 4
#define SCHED_DEFAULT_RPS 10.0
/* Polls without a hint from the backend back off from this, doubling, up
 * to the cap, each with jitter (a random 50..100 %). */
#define SCHED_POLL_BASE_MS 50
#define SCHED_POLL_CAP_MS 2000
/* An operation still running after this long fails (-ETIMEDOUT): a backend
 * that never finishes must not hold up the pass for ever. */
#define SCHED_OP_TIMEOUT_MS (30 * 60 * 1000)
/* Consecutive throttled submissions of one step before it fails. */
#define SCHED_MAX_THROTTLED 50

typedef enum sched_kind {
	SK_LOCAL, /* the caller's hook; no backend */
	SK_REMOVE,
	SK_CREATE,
	SK_START,
	SK_UPDATE,
} sched_kind_t;

const char *sched_kind_name(sched_kind_t k);

#define SCHED_MAX_STEPS 6

typedef struct sched_step {
	sched_kind_t kind;
	size_t backend; /* index into sched_t.backends (remote steps) */
	int tag;        /* the caller's: which local step, or which purpose */
} sched_step_t;

typedef struct sched_task {
	sched_step_t steps[SCHED_MAX_STEPS];
	size_t n_steps, cur;
	void *owner; /* the caller's job */
	/* the outcome */
	bool done;
	int rc;    /* 0, or the failing step's negative errno */
	char *err; /* its sentence (owned) */
	size_t failed_step;
	/* the loop's */
	prov_op_t *op;
	bool in_flight;
	int64_t next_at;   /* not before this: a poll, or a resubmission */
	int64_t op_since;  /* when the current operation was submitted */
	int polls;         /* polls of the current operation without a hint */
	int throttled;     /* consecutive -EAGAIN of the current step */
} sched_task_t;

typedef struct sched_backend {
	const char *name;
	const provider_ops_t *ops;
	provider_t *conn;
	int concurrency;            /* 0: SCHED_DEFAULT_CONCURRENCY */
	double requests_per_second; /* 0: SCHED_DEFAULT_RPS */
	/* the loop's */
	double tokens;
	int64_t refilled_at;
	int in_flight;
	/* what happened, for reports and tests */
	int peak_in_flight;
	long submits, throttled, polls;
} sched_backend_t;

typedef struct sched_hooks {
	/* Submits step s of t (the prov_* call with the job's target and
	 * files). Returns what the call returned. */
	int (*submit)(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call);
	/* Step s of t finished well; call holds its results (handle). */
	void (*done)(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call);
	/* Runs local step s of t: 0, or a negative errno with *err set. */
	int (*local)(void *ctx, sched_task_t *t, const sched_step_t *s, char **err);
	void *ctx;
} sched_hooks_t;

typedef struct sched {
	sched_backend_t *backends;
	size_t n_backends;
	sched_task_t **tasks;
	size_t n_tasks;
	const clock_src_t *clock; /* NULL: the real clock */
	uint64_t seed;            /* of the jitter; 0: from the clock */
	sched_hooks_t hooks;
	/* the loop's */
	uint64_t rng;
	/* what happened */
	int64_t started_ms, elapsed_ms;
	long sleeps;
} sched_t;

/* Drives every task to its end (done, rc 0 or failed). */
void sched_run(sched_t *s);

/* The limits a backend gets: the Provider's, else the defaults; `override`
 * (--concurrency, > 0) replaces the in-flight limit. */
void sched_backend_limits(sched_backend_t *b, int spec_concurrency, double spec_rps, int override);

#endif
