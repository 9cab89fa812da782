/* Wave 3 of apply: one more look at the backends that created or started
 * something (addresses and states are known only then), then every job's
 * outcome in one transaction: the record, an event, the certificates a
 * delete revokes. Each failure is reported
 * here, once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"
#include "reconciler/known.h"

static cvm_status_t status_of(res_state_t s) {
	return s == RES_STOPPED ? ST_STOPPED : s == RES_RUNNING ? ST_RUNNING : ST_CREATING;
}

static bool made_or_started(const job_t *j) {
	return j->rc == 0 && (j->do_create || j->do_start);
}

/* What the pass knows of a backend's resources now: what the state
 * recorded, and the markers of everything this pass just created or
 * started (so the look below reads no marker back). Strings are
 * borrowed; free the array alone. */
static observed_t *known_now(apply_ctx_t *x, const pass_backend_t *b, size_t *n) {
	observed_t *k = xcalloc(b->n_known + x->n_jobs + 1, sizeof *k);
	memcpy(k, b->known, b->n_known * sizeof *k);
	*n = b->n_known;
	const char *inst = store_installation_id(x->p->store);
	for (size_t i = 0; i < x->n_jobs; i++) {
		const job_t *j = &x->jobs[i];
		if (j->b != b || !made_or_started(j) || !j->rec.placement) continue;
		observed_t *o = &k[(*n)++];
		known_from_record(o, &j->rec, inst, RES_RUNNING); /* what the create or start left it in */
		o->url = NULL; /* a new or restarted domain's address is to be learnt */
	}
	return k;
}

/* After creates and starts, look once more to learn addresses and states
 * (remote I/O: before the transaction). */
static void refresh_observations(apply_ctx_t *x) {
	pass_t *p = x->p;
	for (size_t bi = 0; bi < p->n_backends; bi++) {
		pass_backend_t *b = &p->backends[bi];
		bool touched = false;
		for (size_t k = 0; k < x->n_jobs; k++) touched |= x->jobs[k].b == b && made_or_started(&x->jobs[k]);
		if (!touched || !b->conn) continue;
		observation_t fresh = {0};
		char *err = NULL;
		size_t n_known;
		_cleanup_free_ observed_t *known = known_now(x, b, &n_known);
		if (prov_observe(b->ops, b->conn, known, n_known, &fresh, &err) == 0) {
			/* The plan's actions point into the old observation; keep it
			 * alive until the pass ends and use the fresh one only here. */
			for (size_t k = 0; k < x->n_jobs; k++) {
				job_t *j = &x->jobs[k];
				if (j->b != b || !made_or_started(j)) continue;
				for (size_t i = 0; i < fresh.n; i++) {
					if (strcmp(fresh.v[i].id, j->rec.id) != 0) continue;
					str_set(&j->rec.url, fresh.v[i].url);
					j->rec.status = status_of(fresh.v[i].state);
				}
			}
		}
		free(err);
		observation_free(&fresh);
	}
}

static void record_failure(apply_ctx_t *x, job_t *j) {
	store_t *st = x->p->store;
	action_t *a = j->a;
	x->sum->failed++;
	if (!j->has_rec || a->kind == ACT_NOOP || a->kind == ACT_UNKNOWN) {
		log_error("%s %s: %s", action_kind_name(a->kind), a->name, j->err);
		return;
	}
	log_kv(LOG_ERROR,
	       LOG_FIELDS(LOG_J("cvm", j->rec.name), LOG_J("id", j->rec.id), LOG_J("provider", j->rec.provider),
	                  LOG_J("placement", j->rec.placement), LOG_J("action", action_kind_name(a->kind)),
	                  LOG_J("error", j->err)),
	       "%s %s (%s): %s", action_kind_name(a->kind), j->rec.name, j->rec.id, j->err);
	j->rec.status = a->kind == ACT_DELETE ? ST_DELETING : ST_FAILED;
	/* A resource that vanished and could not be made again is Missing:
	 * what happened to it is not this pass's failure. */
	if (a->kind == ACT_CREATE && a->code && strcmp(a->code, "missing") == 0) j->rec.status = ST_MISSING;
	if (a->kind == ACT_START || a->kind == ACT_UPDATE) {
		/* Nothing changed on the backend: the record keeps what it had. */
		j->rec.status = a->record->status;
		str_set(&j->rec.spec_hash, a->record->spec_hash);
		str_set(&j->rec.spec_json, a->record->spec_json);
	}
	str_set(&j->rec.last_error, j->err);
	if (apply_put_cvm(st, &j->rec) < 0 || store_add_event(st, j->rec.id, "failed", j->err) < 0)
		log_error("%s (%s): cannot record the failure: %s", j->rec.name, j->rec.id, store_errmsg(st));
}

static void record_success(apply_ctx_t *x, job_t *j) {
	store_t *st = x->p->store;
	action_t *a = j->a;
	apply_summary_t *sum = x->sum;
	int r = 0;
	switch (a->kind) {
	case ACT_DELETE: {
		j->rec.status = ST_INACTIVE;
		free(j->rec.url);
		j->rec.url = NULL;
		sum->deleted++;
		/* An Inactive CVM's certificates are revoked; the CRL is re-signed
		 * once the outcome is committed. */
		char *err = NULL;
		if ((r = certs_revoke_all(st, j->rec.id, x->now, &err)) < 0) log_error("%s: %s", j->rec.name, err);
		free(err);
		x->crl_dirty = true;
		break;
	}
	case ACT_UPDATE: sum->updated++; break;
	case ACT_START: j->rec.status = ST_RUNNING; sum->started++; break;
	case ACT_REPLACE: sum->replaced++; break;
	case ACT_ADOPT: break;
	default: sum->created++;
	}
	if ((a->kind == ACT_CREATE || a->kind == ACT_REPLACE) && j->rec.status == ST_CREATING) j->rec.status = ST_RUNNING;
	if (a->kind == ACT_ADOPT && j->do_start) j->rec.status = ST_RUNNING;
	if (j->delivered[0] && r == 0) r = certs_set_delivered(st, j->rec.id, j->delivered);
	free(j->rec.last_error);
	j->rec.last_error = NULL;
	_cleanup_free_ char *msg = xasprintf("%s%s%s", a->reason, j->rec.placement ? " on " : "",
	                                     j->rec.placement ? j->rec.placement : "");
	if (r < 0 || apply_put_cvm(st, &j->rec) < 0 || store_add_event(st, j->rec.id, j->done_kind, msg) < 0) {
		/* Done on the backend, not on record: the next pass finds it and
		 * records it; this one fails. */
		sum->failed++;
		log_error("%s (%s): cannot record that it was %s: %s", j->rec.name, j->rec.id, j->done_kind,
		          store_errmsg(st));
	}
	log_kv(LOG_DEBUG,
	       LOG_FIELDS(LOG_S("cvm", j->rec.name), LOG_S("id", j->rec.id), LOG_S("provider", j->rec.provider),
	                  LOG_S("placement", j->rec.placement), LOG_S("action", action_kind_name(a->kind)),
	                  LOG_S("result", j->done_kind)),
	       "%s %s: %s", action_kind_name(a->kind), j->rec.name, j->done_kind);
	printf("%-9s %-24s %s  %s\n", j->done_kind, j->rec.name, j->rec.id, j->rec.placement ? j->rec.placement : "");
}

int outcomes_record(apply_ctx_t *x) {
	store_t *st = x->p->store;
	refresh_observations(x);
	crash_point("before-status-commit");
	if (store_begin(st) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(st));
		return -EIO;
	}
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		const pass_opts_t *o = x->o;
		const char *provider = j->a->provider ? j->a->provider : "";
		if (j->rc < 0) {
			record_failure(x, j);
			if (o->on_result) o->on_result(o->result_ctx, provider, action_kind_name(j->a->kind), "failed");
		} else if (j->has_rec && j->done_kind && j->a->kind != ACT_NOOP && j->a->kind != ACT_UNKNOWN) {
			record_success(x, j);
			if (o->on_result) o->on_result(o->result_ctx, provider, action_kind_name(j->a->kind), "ok");
		}
	}
	if (store_commit(st) < 0) {
		log_error("cannot record the outcome: %s", store_errmsg(st));
		store_rollback(st);
		return -EIO;
	}
	return 0;
}
