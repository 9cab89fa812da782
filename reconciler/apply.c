/* apply: a pass's plan carried out, in three waves.
 *
 *  1. intents (intent.c): placement and certificates first, then every
 *     intent in one transaction;
 *  2. the remote work (steps.c on sched.c): every job a small state
 *     machine, one loop driving them all within each provider's limits;
 *  3. outcomes (outcome.c), in one more transaction;
 * then certificate rotation (rotate.c: the scheduler once more) and the
 * CRL. See apply_priv.h for the state machines. */
#include "reconciler/apply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/timing.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"

void job_fail(job_t *j, int rc, char *err) {
	j->rc = rc < 0 ? rc : -EIO;
	free(j->err);
	j->err = err ? err : xstrdup("unknown error");
}

int apply_put_cvm(store_t *st, cvm_record_t *r) {
	r->updated_at = 0;
	return store_put_cvm(st, r);
}

pass_backend_t *backend_of_observed(pass_t *p, const observed_t *o) {
	for (size_t i = 0; o && i < p->n_backends; i++) {
		const observation_t *obs = &p->backends[i].obs;
		if (p->backends[i].observed && obs->n && o >= obs->v && o < obs->v + obs->n) return &p->backends[i];
	}
	return NULL;
}

static bool creates_anything(const plan_t *pl) {
	for (size_t i = 0; i < pl->n; i++)
		if (pl->v[i].spec && pl->v[i].kind != ACT_UNKNOWN) return true;
	return false;
}

static void jobs_free(job_t *jobs, size_t n) {
	for (size_t k = 0; k < n; k++) {
		job_t *j = &jobs[k];
		cvm_record_free(&j->rec);
		cvm_record_free(&j->before);
		if (j->has_ship) shipment_free(&j->ship);
		pki_issued_free(&j->minted);
		free(j->key_path);
		free(j->err);
		free(j->rot_err);
		free(j->task.err);
	}
}

/* One job per action that is not refused; the plan's own counts. */
static void tell(const pass_opts_t *o, const action_t *a, const char *result) {
	if (o->on_result) o->on_result(o->result_ctx, a->provider ? a->provider : "", action_kind_name(a->kind), result);
}

static size_t jobs_from_plan(plan_t *pl, job_t *jobs, apply_summary_t *sum, const pass_opts_t *o) {
	size_t n = 0;
	for (size_t i = 0; i < pl->n; i++) {
		action_t *a = &pl->v[i];
		if (a->refused) {
			sum->refused++;
			tell(o, a, "refused");
			log_warn("%s %s: refused: %s", action_kind_name(a->kind), a->name, a->refusal);
			continue;
		}
		if (a->kind == ACT_UNKNOWN) {
			sum->unknown++;
			tell(o, a, "unknown");
			log_warn("%s is Unknown this pass: %s", a->name, a->reason);
		}
		if (a->kind == ACT_NOOP) sum->noop++;
		if (a->kind == ACT_ADOPT) sum->adopted++;
		jobs[n++].a = a;
	}
	return n;
}

static void publish_crl(apply_ctx_t *x) {
	if (!x->ca && x->crl_dirty) certs_open_ca(x->p->store, false, &x->ca, &x->ca_err);
	if (!x->ca) return;
	char *err = NULL;
	int r = x->crl_dirty ? certs_publish_crl(x->p->store, x->ca, now_s(), &err)
	                     : certs_refresh_crl(x->p->store, x->ca, now_s(), &err);
	if (r < 0) {
		log_error("cannot publish the CRL: %s", err);
		x->sum->failed++;
	}
	free(err);
}

int apply_plan(pass_t *p, const pass_opts_t *o, apply_summary_t *sum) {
	memset(sum, 0, sizeof *sum);
	plan_t *pl = &p->plan;
	_cleanup_free_ job_t *jobs = xcalloc(pl->n + 1, sizeof *jobs);
	apply_ctx_t x = {.p = p, .o = o, .sum = sum, .jobs = jobs, .now = now_s()};
	x.n_jobs = jobs_from_plan(pl, jobs, sum, o);
	int code = EXIT_FAILED;

	pass_timings_t *tm = &p->timings;
	int64_t t = mono_ns();
	/* What an interrupted or failed pass left: keys no record names, temp files. */
	int swept = certs_sweep_orphans(p->store);
	if (swept > 0)
		log_info("removed %d file%s an earlier pass left in %s/keys or %s/ca (keys no certificate record names, "
		         "temporary files)", swept, swept == 1 ? "" : "s", store_dir(p->store), store_dir(p->store));
	else if (swept < 0)
		log_warn("cannot look for files an earlier pass left: %s", store_errmsg(p->store));
	/* The CA, created with the default key type on first use. */
	if (creates_anything(pl) && certs_open_ca(p->store, true, &x.ca, &x.ca_err) < 0) log_error("%s", x.ca_err);

	if (intents_record(&x) < 0) {
		/* Nothing was submitted; every job with work to do failed. */
		for (size_t k = 0; k < x.n_jobs; k++)
			sum->failed += jobs[k].a->kind != ACT_NOOP && jobs[k].a->kind != ACT_UNKNOWN;
		sum->errors++;
		goto out;
	}
	timing_lap(&t, &tm->intents_ns);
	steps_run(&x, false);
	timing_lap(&t, &tm->remote_ns);
	if (outcomes_record(&x) < 0) {
		sum->errors++;
		goto out;
	}
	timing_lap(&t, &tm->outcome_ns);

	/* Certificates: renewals and publication, then the CRL. */
	for (size_t k = 0; k < x.n_jobs; k++) rotation_decide(&x, &jobs[k]);
	certs_mint_for_jobs(&x, true);
	steps_run(&x, true);
	if (rotations_record(&x) < 0) sum->failed++;
	publish_crl(&x);
	timing_lap(&t, &tm->rotation_ns);

	code = EXIT_OK;
	if (sum->failed || sum->unknown) code = exit_merge(code, EXIT_FAILED);
	if (pl->refused) code = exit_merge(code, EXIT_REFUSED);
	if (conditions_record(&x, code) < 0) {
		sum->errors++;
		code = exit_merge(code, EXIT_FAILED);
	}
out:
	/* Whatever failed says so in the summary. */
	if (code == EXIT_FAILED && !sum->failed && !sum->unknown && !sum->errors) sum->errors++;
	jobs_free(jobs, x.n_jobs);
	pki_ca_free(x.ca);
	free(x.ca_err);
	return code;
}
