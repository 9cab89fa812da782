/* Certificates in apply: minting what the jobs need before any transaction
 * (in two threads when there are several), and rotation: a default
 * certificate that reached renewBefore is renewed and published, one not
 * yet delivered (a renewal, or one recorded by a pass or a `cert` command
 * that was killed before it published) is published. One CVM's failure is
 * reported on it and backs off (1, 2, 4 ... 60 minutes) without holding up
 * the others.
 *
 * Rotation runs after the outcome wave has committed (a kill during it
 * loses none of the pass's other work), as a second run of the scheduler.
 * A renewal is recorded in a transaction of its own, right before its
 * publication is submitted, and the publication is recorded as soon as it
 * is done: a kill between two CVMs' rotations leaves each at most renewed
 * and at most published (publications are asynchronous operations), and on
 * record as delivered only once it was, so the next pass publishes only
 * what is missing and issues nothing twice.
 *
 * What the decision needs of every CVM (current default certificate, what
 * it was handed, its retry state) is read in one query per pass
 * (store_list_cert_states, by pass_prepare), not three per CVM, and the
 * plan decides (a->cert). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"

static int rotation_result(store_t *st, const char *id, int64_t now, bool ok) {
	int n = 0;
	int64_t next = 0;
	if (store_get_rotation_retry(st, id, &n, &next) < 0) n = 0;
	if (ok && n == 0) return 0;
	n = ok ? 0 : n + 1;
	long long wait = n ? 60LL << (n > 6 ? 6 : n - 1) : 0;
	if (wait > 3600) wait = 3600;
	return store_set_rotation_retry(st, id, n, now + wait);
}

void rotation_decide(apply_ctx_t *x, job_t *j) {
	const action_t *a = j->a;
	/* What the plan decided from every CVM's certificate state, read once
	 * per pass (plan.c): a saved plan is carried out exactly. Nothing but
	 * this pass writes that state while it holds the lock, and its own
	 * writes (the certificates creates and replaces issue and deliver)
	 * concern CVMs the plan gives no certificate action. */
	if (a->cert == CERT_NONE) return;
	/* Only a resource that runs reads its files; the outcome wave has just
	 * recorded which do. */
	if (!j->has_rec || !a->spec || j->rc < 0 || j->rec.status != ST_RUNNING || !j->b || !j->b->conn || !x->ca) return;
	j->rotate = true;
	j->renew = a->cert == CERT_RENEW;
}

int rotation_renew_local(apply_ctx_t *x, job_t *j, char **err) {
	store_t *st = x->p->store;
	if (!j->has_minted) {
		*err = xstrdup("no certificate was minted");
		return -ENOKEY;
	}
	certs_key_t k = {j->key_path, j->minted.key_pem};
	int r = certs_write_keys(st, &k, 1, CERTS_SYNC_EACH, err);
	if (r < 0) return r;
	_cleanup_free_ char *msg = xasprintf("certificate %s issued, valid until %lld", j->minted.serial,
	                                     (long long)j->minted.not_after);
	if ((r = store_begin(st)) < 0 || (r = certs_record(st, j->rec.id, &j->minted, j->key_path, true, NULL, err)) < 0 ||
	    (r = store_add_event(st, j->rec.id, "cert-renewed", msg)) < 0 || (r = store_commit(st)) < 0) {
		free(*err);
		*err = xasprintf("cannot record the renewed certificate: %s", store_errmsg(st));
		store_rollback(st);
		unlink(j->key_path); /* no record names it */
		return r < 0 ? r : -EIO;
	}
	crash_point("after-renew-commit");
	return 0;
}

void rotation_published(apply_ctx_t *x, job_t *j) {
	store_t *st = x->p->store;
	const char *serial = j->ship.serial;
	_cleanup_free_ char *msg = xasprintf("certificate %s published", serial);
	int r;
	if ((r = store_begin(st)) < 0 || (r = certs_set_delivered(st, j->rec.id, serial)) < 0 ||
	    (r = store_add_event(st, j->rec.id, "cert-published", msg)) < 0 || (r = store_commit(st)) < 0) {
		/* Published but not on record: the next pass publishes it again,
		 * which is harmless. */
		j->rot_rc = r < 0 ? r : -EIO;
		j->rot_err = xasprintf("certificate %s was published but cannot be recorded: %s", serial, store_errmsg(st));
		store_rollback(st);
		return;
	}
	snprintf(j->published, sizeof j->published, "%s", serial);
	printf("%-9s %-24s %s  certificate %s\n", "rotated", j->rec.name, j->rec.id, serial);
}

static void rotation_outcome(apply_ctx_t *x, job_t *j) {
	if (!j->rotate) return;
	store_t *st = x->p->store;
	bool ok = j->rot_rc == 0;
	if (rotation_result(st, j->rec.id, x->now, ok) < 0) {
		x->sum->failed++;
		log_error("%s (%s): cannot record the rotation's retry schedule: %s", j->rec.name, j->rec.id,
		          store_errmsg(st));
	}
	if (!ok) {
		x->sum->failed++;
		_cleanup_free_ char *msg = xasprintf("certificate rotation failed (retrying with backoff): %s",
		                                     j->rot_err ? j->rot_err : strerror(-j->rot_rc));
		log_error("%s (%s): %s", j->rec.name, j->rec.id, msg);
		free(j->rec.last_error);
		j->rec.last_error = xstrdup(msg);
		if (store_add_event(st, j->rec.id, "failed", msg) < 0 || apply_put_cvm(st, &j->rec) < 0)
			log_error("%s (%s): cannot record the failure: %s", j->rec.name, j->rec.id, store_errmsg(st));
	} else if (j->rec.last_error) {
		free(j->rec.last_error);
		j->rec.last_error = NULL;
		if (apply_put_cvm(st, &j->rec) < 0) {
			x->sum->failed++;
			log_error("%s (%s): cannot record the rotation: %s", j->rec.name, j->rec.id, store_errmsg(st));
		}
	}
}

/* ---- minting ---- */

static bool wants_mint(const job_t *j, bool renewals) {
	if (j->rc < 0) return false;
	if (renewals) return j->renew;
	return j->need_cert && (j->a->kind == ACT_CREATE || j->a->kind == ACT_REPLACE);
}

void certs_mint_for_jobs(apply_ctx_t *x, bool renewals) {
	_cleanup_free_ certs_mint_req_t *v = xcalloc(x->n_jobs + 1, sizeof *v);
	_cleanup_free_ job_t **who = xcalloc(x->n_jobs + 1, sizeof *who);
	size_t n = 0;
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		if (!wants_mint(j, renewals)) continue;
		/* What the create minted is on record already. */
		pki_issued_free(&j->minted);
		free(j->key_path);
		j->key_path = NULL;
		j->has_minted = false;
		v[n] = (certs_mint_req_t){.id = j->rec.id, .name = j->rec.name, .now = x->now,
		                          .validity_s = j->a->spec->certs.validity_s};
		who[n++] = j;
	}
	if (n == 0) return;
	if (x->ca) certs_mint_many(x->ca, v, n);
	for (size_t i = 0; i < n; i++) {
		job_t *j = who[i];
		int rc = x->ca ? v[i].rc : -ENOKEY;
		char *err = x->ca ? v[i].err : xasprintf("no CA: %s", x->ca_err ? x->ca_err : "unknown");
		if (rc == 0) {
			j->minted = v[i].out;
			j->has_minted = true;
			j->key_path = certs_key_path(x->p->store, j->rec.id, j->minted.serial);
			free(err);
		} else if (renewals) {
			j->rot_rc = rc; /* the rotation fails; the action itself went well */
			j->rot_err = err;
			j->renew = false;
		} else {
			job_fail(j, rc, err);
		}
	}
}

int rotations_record(apply_ctx_t *x) {
	store_t *st = x->p->store;
	bool any = false;
	for (size_t k = 0; k < x->n_jobs; k++) any |= x->jobs[k].rotate;
	if (!any) return 0;
	if (store_begin(st) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(st));
		return -EIO;
	}
	for (size_t k = 0; k < x->n_jobs; k++) rotation_outcome(x, &x->jobs[k]);
	if (store_commit(st) < 0) {
		log_error("cannot record the rotations: %s", store_errmsg(st));
		store_rollback(st);
		return -EIO;
	}
	return 0;
}
