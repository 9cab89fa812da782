/* What the files of apply share (apply.c, intent.c, steps.c, rotate.c,
 * outcome.c); not for the rest of the engine.
 *
 * A pass's actions become jobs. Each job is a small state machine, a task
 * of the scheduler (sched.h), whose steps name the backend they touch:
 *
 *   create    create(target)
 *   replace   remove(source) -> record the create intent -> create(target)
 *             where source is the backend that observed the resource (or,
 *             when it is already gone, the record's provider at the
 *             record's placement): a move to another provider removes it
 *             from the old one, never from the new one
 *   adopt     [start(target) when found stopped]
 *   start     start(target)
 *   update    update(target)            (markers and files)
 *   delete    [remove(target)]          (absent already: nothing remote)
 *   noop      nothing
 *
 * Wave 1 (intent.c) records every intent in one transaction before any
 * remote call; the scheduler runs the steps; wave 3 (outcome.c) records the
 * outcomes in one more. Then, for each CVM that runs and whose default
 * certificate is due or not yet delivered, a second run of the scheduler:
 *   rotation  [record the renewed certificate] -> update(target) (publish)
 * and its outcomes in one more transaction (rotate.c). */
#ifndef CVM_APPLY_PRIV_H
#define CVM_APPLY_PRIV_H

#include <stdbool.h>

#include "pki/pki.h"
#include "reconciler/apply.h"
#include "reconciler/certs.h"
#include "reconciler/delivery.h"
#include "reconciler/sched.h"

/* Local steps (sched_step_t.tag of SK_LOCAL). */
enum { LT_REPLACE_INTENT = 1, LT_RENEW };
/* Remote steps (tag): the update that publishes a rotation. */
enum { RT_MAIN = 0, RT_PUBLISH };

typedef struct job {
	action_t *a;
	pass_backend_t *b;   /* the backend the action acts on (the spec's, or where it was found) */
	pass_backend_t *src; /* replace: where the resource is now */
	cvm_record_t rec;    /* the record as it will be committed */
	bool has_rec;
	cvm_record_t before; /* replace: the record as read, restored if the create intent fails */
	bool do_remove, do_create, do_start, do_update;
	const char *remove_at;  /* placement to remove from */
	const char *remove_handle;
	/* certificates */
	bool need_cert;       /* create/replace: mint a default certificate */
	bool rotate;          /* publish the current default certificate after the main steps */
	bool renew;           /* ... after renewing it (due) */
	pki_issued_t minted;  /* minted before any transaction */
	bool has_minted;
	char *key_path;       /* where minted's key goes */
	bool key_written;
	shipment_t ship;      /* what the last create/update delivered */
	bool has_ship;
	char delivered[41];   /* serial the main create or update delivered ("" if none) */
	char published[41];   /* serial a rotation delivered ("" if none) */
	sched_task_t task; /* of the current run of the scheduler */
	/* outcome */
	int rc;    /* the main steps (wave 1 included) */
	char *err;
	int rot_rc; /* the rotation */
	char *rot_err;
	const char *done_kind; /* event kind on success */
} job_t;

typedef struct apply_ctx {
	pass_t *p;
	const pass_opts_t *o;
	apply_summary_t *sum;
	job_t *jobs;
	size_t n_jobs;
	pki_ca_t *ca;
	char *ca_err; /* why there is no CA */
	bool crl_dirty;
	int64_t now; /* wall-clock seconds when the pass began applying */
} apply_ctx_t;

/* ---- apply.c ---- */
void job_fail(job_t *j, int rc, char *err);
/* store_put_cvm with updated_at left to the store (it moves on every
 * change; a record copied before the pass must not carry its old value). */
int apply_put_cvm(store_t *st, cvm_record_t *r);
/* The pass backend that observed o, or NULL. */
pass_backend_t *backend_of_observed(pass_t *p, const observed_t *o);

/* ---- conditions.c: after the pass ---- */
/* Records every job's CVM's conditions and the pass's result (code) in one
 * transaction. 0, or -EIO after reporting. */
int conditions_record(apply_ctx_t *x, int code);

/* ---- intent.c: wave 1 ---- */
/* Decides each job's steps and records every intent in one transaction
 * (placement and key generation happen before it opens). Returns 0, or
 * -EIO when the transaction could not be committed (then no job runs). */
int intents_record(apply_ctx_t *x);
/* The local step of a replace once the old resource is gone: place it on
 * the target, record the create intent (own transaction). */
int intent_replace_local(apply_ctx_t *x, job_t *j, char **err);

/* ---- steps.c: jobs as scheduler tasks ---- */
/* Runs the jobs' main steps (rotation false), or their rotations (true:
 * after the outcome wave), through the scheduler. */
void steps_run(apply_ctx_t *x, bool rotation);

/* ---- rotate.c: certificates ---- */
/* Whether j's certificate needs rotating this pass (j->rotate, j->renew),
 * once its outcome is known. */
void rotation_decide(apply_ctx_t *x, job_t *j);
int rotation_renew_local(apply_ctx_t *x, job_t *j, char **err);
void rotation_published(apply_ctx_t *x, job_t *j);
/* Records every rotation's outcome, in one transaction. */
int rotations_record(apply_ctx_t *x);
/* Mints, in up to two threads, every certificate the jobs' creates need
 * (renewals false) or their renewals (true). */
void certs_mint_for_jobs(apply_ctx_t *x, bool renewals);

/* ---- outcome.c: wave 3 ---- */
int outcomes_record(apply_ctx_t *x);

#endif
