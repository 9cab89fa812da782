/* After a pass: each CVM's conditions (Ready, Synced, CertificateReady) as
 * the pass judged them, its spec's lifecycle fields (spec.suspend and
 * deletionPolicy, kept for when the spec is removed), and what the pass
 * was (the `last-pass` setting, which `cvmctl status` shows), written in
 * one transaction.
 *
 *   Ready             True while it runs; False when stopped, missing (its
 *                     resource vanished and could not be made again),
 *                     failed, being made or deleted, Inactive; Unknown when
 *                     its provider or host could not be observed.
 *   Synced            True when the resource carries the spec's hash (the
 *                     action succeeded or there was none); False when the
 *                     action failed or was refused or the CVM is
 *                     suspended; Unknown as Ready.
 *
 * A condition that says what it said before is not written again, so a
 * converged pass changes no condition.
 *   CertificateReady  True when its default certificate is valid and has
 *                     been delivered; False otherwise, saying which. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"
#include "reconciler/tree.h"

static cvm_condition_t cond(const char *type, cond_status_t st, const char *reason, const char *msg,
                            const char *hash, int64_t now) {
	return (cvm_condition_t){(char *)type, st, (char *)reason, (char *)msg, (char *)hash, 0, now};
}

static cvm_condition_t ready_of(const job_t *j, const cvm_record_t *r, int64_t now) {
	const action_t *a = j->a;
	const char *h = r->spec_hash;
	if (a->kind == ACT_UNKNOWN || r->status == ST_UNKNOWN)
		return cond("Ready", COND_UNKNOWN, "Unobservable", a->reason, h, now);
	if (r->status == ST_MISSING) return cond("Ready", COND_FALSE, "Missing", r->last_error, h, now);
	switch (r->status) {
	case ST_RUNNING: return cond("Ready", COND_TRUE, "Running", NULL, h, now);
	case ST_STOPPED: return cond("Ready", COND_FALSE, "Stopped", "found shut off", h, now);
	case ST_CREATING: return cond("Ready", COND_FALSE, "Creating", NULL, h, now);
	case ST_DELETING: return cond("Ready", COND_FALSE, "Deleting", r->last_error, h, now);
	case ST_INACTIVE: return cond("Ready", COND_FALSE, "Inactive", NULL, h, now);
	default: return cond("Ready", COND_FALSE, "Failed", r->last_error, h, now);
	}
}

static cvm_condition_t synced_of(const job_t *j, const cvm_record_t *r, int64_t now) {
	const action_t *a = j->a;
	const char *h = a->spec ? a->spec->hash : r->spec_hash;
	if (a->kind == ACT_UNKNOWN) return cond("Synced", COND_UNKNOWN, "Unobservable", a->reason, h, now);
	if (a->refused) return cond("Synced", COND_FALSE, "Refused", a->refusal, h, now);
	if (a->code && strcmp(a->code, "suspended") == 0) return cond("Synced", COND_FALSE, "Suspended", a->reason, h, now);
	if (j->rc < 0) return cond("Synced", COND_FALSE, "Failed", j->err, h, now);
	if (r->status == ST_INACTIVE) return cond("Synced", COND_TRUE, "Inactive", NULL, h, now);
	return cond("Synced", COND_TRUE, "UpToDate", NULL, h, now);
}

static const cert_state_t *cert_of(const cert_state_t *v, size_t n, const char *id) {
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].cvm_id, id) == 0) return &v[i];
	return NULL;
}

static cvm_condition_t cert_ready_of(const job_t *j, const cvm_record_t *r, const cert_state_t *cs, int64_t now,
                                     char **msg) {
	const char *h = r->spec_hash;
	if (r->status == ST_INACTIVE)
		return cond("CertificateReady", COND_FALSE, "Inactive", "its certificates are revoked", h, now);
	if (j->rot_rc < 0) return cond("CertificateReady", COND_FALSE, "RotationFailed", j->rot_err, h, now);
	if (!cs || !cs->serial) return cond("CertificateReady", COND_FALSE, "NoCertificate", NULL, h, now);
	if (cs->not_after <= now) return cond("CertificateReady", COND_FALSE, "Expired", NULL, h, now);
	if (!cs->delivered_serial || strcmp(cs->delivered_serial, cs->serial) != 0)
		return cond("CertificateReady", COND_FALSE, "NotDelivered", "its current certificate has not reached it yet", h, now);
	char t[32];
	format_time(cs->not_after, t, sizeof t);
	*msg = xasprintf("certificate %s valid until %s", cs->serial, t);
	return cond("CertificateReady", COND_TRUE, "Valid", *msg, h, now);
}

static const char *result_name(int code) {
	switch (code) {
	case 0: return "ok";
	case 4: return "refused";
	default: return "failed";
	}
}

static int put_last_pass(apply_ctx_t *x, int code) {
	const apply_summary_t *s = x->sum;
	_cleanup_free_ char *hash = tree_content_hash(&x->p->specs);
	_cleanup_free_ char *rev = tree_revision(x->o->paths, x->o->n_paths);
	json_t *j = json_pack("{s:I, s:s, s:s, s:i, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	                      "time", (json_int_t)now_s(), "scope", x->p->scope, "result", result_name(code), "exitCode",
	                      code, "revision", rev ? json_string(rev) : json_null(), "contentHash",
	                      hash ? json_string(hash) : json_null(), "summary", "created", (json_int_t)s->created,
	                      "adopted", (json_int_t)s->adopted, "started", (json_int_t)s->started, "updated",
	                      (json_int_t)s->updated, "replaced", (json_int_t)s->replaced, "deleted",
	                      (json_int_t)s->deleted, "upToDate", (json_int_t)s->noop, "failed", (json_int_t)s->failed,
	                      "unknown", (json_int_t)s->unknown, "refused", (json_int_t)s->refused);
	_cleanup_free_ char *txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return store_set_setting(x->p->store, "last-pass", txt);
}

int conditions_record(apply_ctx_t *x, int code) {
	store_t *st = x->p->store;
	cert_state_t *cs = NULL;
	size_t n_cs = 0;
	if (store_list_cert_states(st, &cs, &n_cs) < 0) {
		log_error("cannot read the certificates to judge the conditions: %s", store_errmsg(st));
		return -EIO;
	}
	int64_t now = now_s();
	int r = store_begin(st);
	for (size_t k = 0; r == 0 && k < x->n_jobs; k++) {
		const job_t *j = &x->jobs[k];
		const cvm_record_t *rec = j->has_rec ? &j->rec : j->a->record;
		if (!rec) continue; /* a new CVM whose intent was never recorded */
		_cleanup_free_ char *msg = NULL;
		cvm_condition_t c[3] = {ready_of(j, rec, now), synced_of(j, rec, now),
		                        cert_ready_of(j, rec, cert_of(cs, n_cs, rec->id), now, &msg)};
		for (size_t i = 0; r == 0 && i < 3; i++) r = store_put_condition(st, rec->id, &c[i]);
		/* spec.suspend and the deletion policy outlive the spec: they
		 * decide what removing the spec does. */
		const cvm_spec_t *sp = j->a->spec;
		if (r == 0 && sp && rec->status != ST_INACTIVE &&
		    (rec->orphan != sp->orphan || rec->spec_suspended != sp->suspend))
			r = store_set_lifecycle(st, rec->id, sp->suspend, sp->orphan);
	}
	if (r == 0) r = put_last_pass(x, code);
	if (r == 0) r = store_commit(st);
	if (r < 0) {
		log_error("cannot record the pass's conditions: %s", store_errmsg(st));
		store_rollback(st);
	}
	cert_states_free(cs, n_cs);
	return r < 0 ? -EIO : 0;
}
