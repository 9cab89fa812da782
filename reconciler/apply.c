#include "reconciler/apply.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/delivery.h"
#include "reconciler/provider_record.h"

typedef struct job {
	action_t *a;
	pass_backend_t *b; /* NULL when there is no remote work */
	cvm_record_t rec;  /* the record as it will be committed */
	bool has_rec;
	/* remote steps, in this order */
	bool do_remove, do_create, do_start, do_update;
	const char *remove_at; /* placement to remove from */
	shipment_t ship; /* built before the remote wave, when it creates or updates */
	bool has_ship;
	/* outcome */
	int rc;
	char *err;
	const char *done_kind; /* event kind on success */
} job_t;

static void job_fail(job_t *j, int rc, char *err) {
	j->rc = rc < 0 ? rc : -EIO;
	free(j->err);
	j->err = err ? err : xstrdup("unknown error");
}

/* Every store write of wave 1 goes through here: a write that failed
 * fails its job before any remote call (nothing is submitted for it), and
 * the job's error says what could not be recorded. Returns r. */
static int intent_written(store_t *st, job_t *j, int r) {
	if (r >= 0) return r;
	if (j->rc == 0) {
		job_fail(j, r, xasprintf("cannot record the intent: %s", store_errmsg(st)));
	} else {
		char *both = xasprintf("%s (and cannot record that: %s)", j->err, store_errmsg(st));
		job_fail(j, r, both);
	}
	j->do_remove = j->do_create = j->do_start = j->do_update = false;
	return r;
}

/* Records a job's record and one event of it, in that order. */
static int put_with_event(store_t *st, job_t *j, const char *kind, const char *msg) {
	int r = store_put_cvm(st, &j->rec);
	if (r >= 0) r = store_add_event(st, j->rec.id, kind, msg);
	return intent_written(st, j, r);
}

/* A write that failed after the remote work was done: reported once, and
 * the pass fails (the next one converges from what the backend shows). */
static void unrecorded(store_t *st, apply_summary_t *sum, const cvm_record_t *r, const char *what) {
	sum->failed++;
	log_error("%s (%s): cannot record %s: %s", r->name, r->id, what, store_errmsg(st));
}

/* ---- wave 1: intents -------------------------------------------------- */

/* The CA, loaded (or created with the default key type) once per pass. */
typedef struct apply_ctx {
	pki_ca_t *ca;
	char *ca_err; /* why there is no CA */
	bool crl_dirty;
} apply_ctx_t;

static apply_ctx_t ACTX;

static cvm_status_t status_of(res_state_t s) {
	return s == RES_STOPPED ? ST_STOPPED : s == RES_RUNNING ? ST_RUNNING : ST_CREATING;
}

static void rec_from_spec(cvm_record_t *r, const pass_t *p, const action_t *a) {
	const cvm_spec_t *c = a->spec;
	if (!r->name) r->name = xstrdup(c->name);
	if (!r->scope) r->scope = xstrdup(p->scope);
	if (!r->created_at) r->created_at = now_s();
	free(r->flavor);
	r->flavor = xstrdup(c->flavor);
	free(r->provider);
	r->provider = xstrdup(p->specs.providers[c->provider_idx].name);
	r->vcpus = c->vcpus;
	r->memory_gib = c->memory_gib;
}

static void set_str(char **dst, const char *v) {
	free(*dst);
	*dst = xstrdup(v);
}

/* What cvmctl already placed on a provider's hosts, this wave included. */
static placement_use_t *usage_of(const pass_t *p, const job_t *jobs, size_t n_jobs, const char *provider,
                                 const char *except_id, size_t *n_out) {
	placement_use_t *u = xcalloc(p->n_records + n_jobs + 1, sizeof *u);
	size_t n = 0;
	for (size_t i = 0; i < p->n_records; i++) {
		const cvm_record_t *r = &p->records[i];
		if (r->status == ST_INACTIVE || !r->placement || strcmp(r->provider, provider) != 0) continue;
		if (strcmp(r->id, except_id) == 0) continue;
		bool replanned = false;
		for (size_t k = 0; k < n_jobs; k++)
			if (jobs[k].has_rec && strcmp(jobs[k].rec.id, r->id) == 0) replanned = true;
		if (replanned) continue;
		u[n++] = (placement_use_t){r->placement, r->vcpus, r->memory_gib};
	}
	for (size_t k = 0; k < n_jobs; k++) {
		const cvm_record_t *r = &jobs[k].rec;
		if (!jobs[k].has_rec || !r->placement || !r->provider || strcmp(r->provider, provider) != 0) continue;
		if (strcmp(r->id, except_id) == 0 || r->status == ST_INACTIVE || r->status == ST_DELETING) continue;
		u[n++] = (placement_use_t){r->placement, r->vcpus, r->memory_gib};
	}
	*n_out = n;
	return u;
}

static bool placement_known(const pass_backend_t *b, const char *placement) {
	if (!b->observed || !placement) return false;
	for (size_t i = 0; i < b->obs.n_unknown; i++)
		if (strcmp(b->obs.unknown[i].placement, placement) == 0) return false;
	return true;
}

/* Prepares job j for action a and records its intent in the open
 * transaction. Returns false when the job failed before any remote work
 * (the failure is then recorded too). */
static void prepare_intent(pass_t *p, job_t *jobs, size_t n_jobs, job_t *j) {
	action_t *a = j->a;
	/* The plan names the backend the action acts on: where the resource
	 * was found (adopt, orphan delete) or where the spec wants it. */
	j->b = a->provider_idx < p->n_backends ? &p->backends[a->provider_idx] : NULL;
	if (a->record) {
		cvm_record_copy(&j->rec, a->record);
		j->has_rec = true;
	}
	if ((!j->b || !j->b->conn) && a->kind != ACT_NOOP && a->kind != ACT_UNKNOWN) {
		job_fail(j, -ENOTCONN, xasprintf("provider %s cannot be reached", a->provider ? a->provider : "?"));
		return;
	}

	switch (a->kind) {
	case ACT_CREATE:
	case ACT_REPLACE: {
		if (!j->has_rec) {
			memcpy(j->rec.id, a->id, sizeof j->rec.id);
			j->has_rec = true;
		}
		rec_from_spec(&j->rec, p, a);
		if (a->kind == ACT_REPLACE && a->observed) {
			j->do_remove = true;
			j->remove_at = a->observed->placement;
		}
		/* A resumed create keeps its placement (its resource may exist
		 * there already); a new one, or one whose host is gone, is placed. */
		bool keep = a->kind == ACT_CREATE && j->rec.placement && placement_known(j->b, j->rec.placement) &&
		            a->record && strcmp(a->record->provider, j->rec.provider) == 0;
		if (!keep) {
			size_t n_used;
			_cleanup_free_ placement_use_t *used = usage_of(p, jobs, n_jobs, j->rec.provider, j->rec.id, &n_used);
			cvm_desired_t w = {.id = j->rec.id, .name = j->rec.name, .vcpus = a->spec->vcpus,
			                   .memory_gib = a->spec->memory_gib};
			char *where = NULL, *err = NULL;
			int r = prov_place(j->b->ops, j->b->conn, &w, used, n_used, &where, &err);
			if (r < 0) {
				job_fail(j, r, err);
				j->rec.status = ST_FAILED;
				set_str(&j->rec.last_error, j->err);
				put_with_event(p->store, j, "failed", j->err);
				return;
			}
			free(j->rec.placement);
			j->rec.placement = where;
		}
		/* Every create attempt has its own idempotency key: only the
		 * resume of a recorded, unfinished create (Creating) keeps it. */
		char attempt[37];
		if (!j->rec.attempt || a->kind == ACT_REPLACE || !keep || a->record->status != ST_CREATING) {
			uuid_generate_v4(attempt);
			set_str(&j->rec.attempt, attempt);
		}
		/* The default certificate is on record before the CVM can exist:
		 * a kill at any later point never leaves it without one. */
		cert_record_t cur = {0};
		bool need_cert = certs_current_default(p->store, j->rec.id, &cur) < 0 ||
		                 certs_due(&cur, now_s(), a->spec->certs.renew_before_s);
		cert_record_free(&cur);
		if (need_cert) {
			char *err = NULL;
			int r = ACTX.ca ? certs_issue(p->store, ACTX.ca, j->rec.id, j->rec.name, now_s(),
			                              a->spec->certs.validity_s, NULL, true, NULL, &err)
			                : -ENOKEY;
			if (r < 0) {
				job_fail(j, r, err ? err : xasprintf("no CA: %s", ACTX.ca_err ? ACTX.ca_err : "unknown"));
				j->do_create = false;
				j->rec.status = ST_FAILED;
				set_str(&j->rec.last_error, j->err);
				put_with_event(p->store, j, "failed", j->err);
				return;
			}
		}
		j->rec.status = ST_CREATING;
		set_str(&j->rec.spec_hash, a->spec->hash);
		free(j->rec.spec_json);
		j->rec.spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
		free(j->rec.last_error);
		j->rec.last_error = NULL;
		j->do_create = true;
		j->done_kind = a->kind == ACT_REPLACE ? "replaced" : a->record ? "recreated" : "created";
		_cleanup_free_ char *msg = xasprintf("%s on %s (attempt %s): %s", a->kind == ACT_REPLACE ? "replace" : "create",
		                                     j->rec.placement, j->rec.attempt, a->reason);
		put_with_event(p->store, j, "intent", msg);
		break;
	}
	case ACT_ADOPT: {
		const observed_t *o = a->observed;
		memcpy(j->rec.id, o->id, sizeof j->rec.id);
		j->has_rec = true;
		rec_from_spec(&j->rec, p, a);
		set_str(&j->rec.placement, o->placement);
		set_str(&j->rec.spec_hash, o->spec_hash);
		set_str(&j->rec.attempt, o->attempt);
		free(j->rec.url);
		j->rec.url = xstrdup(o->url);
		if (o->spec_hash && strcmp(o->spec_hash, a->spec->hash) == 0)
			j->rec.spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
		j->rec.status = status_of(o->state);
		if (o->state == RES_STOPPED) {
			j->do_start = true;
			j->done_kind = "started";
		}
		put_with_event(p->store, j, "adopted", a->reason);
		break;
	}
	case ACT_START:
		j->do_start = true;
		j->done_kind = "started";
		break;
	case ACT_UPDATE:
		/* The backend gets the new markers and files; the record takes
		 * them only once the backend has them (outcome wave). */
		set_str(&j->rec.spec_hash, a->spec->hash);
		free(j->rec.spec_json);
		j->rec.spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
		j->do_update = true;
		j->done_kind = "updated";
		break;
	case ACT_DELETE: {
		if (!j->has_rec) { /* an owned orphan: keep its history from now on */
			const observed_t *o = a->observed;
			memcpy(j->rec.id, o->id, sizeof j->rec.id);
			j->has_rec = true;
			j->rec.name = xstrdup(o->name);
			j->rec.scope = xstrdup(p->scope);
			j->rec.created_at = now_s();
			j->rec.flavor = xstrdup(j->b ? j->b->cfg.flavor : "");
			j->rec.provider = xstrdup(j->b ? j->b->cfg.name : "");
			j->rec.placement = xstrdup(o->placement);
			j->rec.spec_hash = xstrdup(o->spec_hash);
			j->rec.vcpus = o->vcpus;
			j->rec.memory_gib = o->memory_gib;
		}
		if (a->observed) {
			j->do_remove = true;
			j->remove_at = a->observed->placement;
		} else if (j->rec.placement && j->b && placement_known(j->b, j->rec.placement)) {
			/* Not seen, but removing is idempotent and also clears what the
			 * backend keeps beside the resource (share directories). */
			j->do_remove = true;
			j->remove_at = j->rec.placement;
		}
		j->rec.status = ST_DELETING;
		j->done_kind = "deleted";
		put_with_event(p->store, j, "intent", a->reason);
		break;
	}
	case ACT_NOOP: {
		const observed_t *o = a->observed;
		if (!j->has_rec || !o) break;
		cvm_status_t st = status_of(o->state);
		bool url_changed = (o->url == NULL) != (j->rec.url == NULL) || (o->url && strcmp(o->url, j->rec.url) != 0);
		if (st == j->rec.status && !url_changed && !j->rec.last_error) break;
		if (st != j->rec.status) {
			_cleanup_free_ char *msg = xasprintf("recorded %s as %s: %s", cvm_status_name(j->rec.status),
			                                     cvm_status_name(st), a->reason);
			if (intent_written(p->store, j, store_add_event(p->store, j->rec.id, "status", msg)) < 0) break;
		}
		j->rec.status = st;
		free(j->rec.url);
		j->rec.url = xstrdup(o->url);
		free(j->rec.last_error);
		j->rec.last_error = NULL;
		set_str(&j->rec.placement, o->placement);
		intent_written(p->store, j, store_put_cvm(p->store, &j->rec));
		break;
	}
	case ACT_UNKNOWN:
		if (j->has_rec && j->rec.status != ST_UNKNOWN && j->rec.status != ST_INACTIVE) {
			/* A create or delete intent stays what it is: the next pass
			 * resumes it once the place answers again. */
			int r = 0;
			if (j->rec.status != ST_CREATING && j->rec.status != ST_DELETING) {
				j->rec.status = ST_UNKNOWN;
				r = store_put_cvm(p->store, &j->rec);
			}
			if (r >= 0) r = store_add_event(p->store, j->rec.id, "unknown", a->reason);
			intent_written(p->store, j, r);
		}
		break;
	}
}

/* ---- wave 2: remote work ---------------------------------------------- */

typedef struct worker_ctx {
	pass_t *p;
	job_t *jobs;
	size_t *queue; /* job indices of one backend */
	size_t n_queue, next;
	pthread_mutex_t *mu;
} worker_ctx_t;

/* Waits for a submitted operation, honouring the backend's "again after". */
static int wait_op(pass_backend_t *b, prov_call_t *c) {
	prov_op_t *op = TAKE_PTR(c->op);
	if (!op) return 0;
	int r;
	for (;;) {
		c->again_ms = 0;
		r = prov_poll(b->ops, b->conn, op, c);
		if (r != 0) break;
		struct timespec ts = {c->again_ms / 1000, (long)(c->again_ms % 1000) * 1000000L};
		if (c->again_ms <= 0) ts.tv_nsec = 10 * 1000000L;
		nanosleep(&ts, NULL);
	}
	prov_op_free(b->ops, op);
	return r < 0 ? r : 0;
}

static prov_target_t target_of(const job_t *j, const char *placement) {
	const observed_t *o = j->a->observed;
	return (prov_target_t){
		.id = j->rec.id,
		.name = j->rec.name,
		.placement = placement,
		.handle = o && o->handle ? o->handle : j->rec.handle,
		.observed = o,
	};
}

static void run_job(job_t *j) {
	pass_backend_t *b = j->b;
	prov_call_t c = {0};
	int r;
	if (j->do_remove) {
		prov_target_t t = target_of(j, j->remove_at);
		r = prov_remove(b->ops, b->conn, &t, &c);
		if (r >= 0) r = wait_op(b, &c);
		if (r < 0) return job_fail(j, r, TAKE_PTR(c.err));
		prov_call_clear(&c);
	}
	if (j->do_create || j->do_update) {
		if (j->do_create) {
			r = prov_create(b->ops, b->conn, &j->ship.want, &c);
			if (r >= 0) r = wait_op(b, &c);
			if (r >= 0 && c.handle) {
				free(j->rec.handle);
				j->rec.handle = TAKE_PTR(c.handle);
			}
		} else {
			prov_target_t t = target_of(j, j->rec.placement);
			r = prov_update(b->ops, b->conn, &t, &j->ship.want, &c);
			if (r >= 0) r = wait_op(b, &c);
		}
		if (r < 0) return job_fail(j, r, TAKE_PTR(c.err));
		prov_call_clear(&c);
	}
	if (j->do_start) {
		prov_target_t t = target_of(j, j->rec.placement);
		r = prov_start(b->ops, b->conn, &t, &c);
		if (r >= 0) r = wait_op(b, &c);
		if (r < 0) return job_fail(j, r, TAKE_PTR(c.err));
		prov_call_clear(&c);
	}
}

static void *worker(void *arg) {
	worker_ctx_t *w = arg;
	for (;;) {
		pthread_mutex_lock(w->mu);
		size_t i = w->next < w->n_queue ? w->queue[w->next++] : SIZE_MAX;
		pthread_mutex_unlock(w->mu);
		if (i == SIZE_MAX) return NULL;
		run_job(&w->jobs[i]);
	}
}

static bool has_remote_work(const job_t *j) {
	return j->rc == 0 && j->b && j->b->conn && (j->do_remove || j->do_create || j->do_start || j->do_update);
}

static void run_remote(pass_t *p, job_t *jobs, size_t n_jobs, int per_provider) {
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	worker_ctx_t *ctx = xcalloc(p->n_backends, sizeof *ctx);
	size_t n_threads = 0;
	pthread_t *th = xcalloc(p->n_backends * (size_t)per_provider + 1, sizeof *th);
	for (size_t bi = 0; bi < p->n_backends; bi++) {
		ctx[bi] = (worker_ctx_t){.p = p, .jobs = jobs, .mu = &mu, .queue = xcalloc(n_jobs + 1, sizeof(size_t))};
		for (size_t k = 0; k < n_jobs; k++)
			if (has_remote_work(&jobs[k]) && jobs[k].b == &p->backends[bi]) ctx[bi].queue[ctx[bi].n_queue++] = k;
		size_t want = ctx[bi].n_queue < (size_t)per_provider ? ctx[bi].n_queue : (size_t)per_provider;
		for (size_t t = 0; t < want; t++)
			if (pthread_create(&th[n_threads], NULL, worker, &ctx[bi]) == 0) n_threads++;
		if (want && n_threads == 0) worker(&ctx[bi]); /* no threads to be had: do it here */
	}
	for (size_t t = 0; t < n_threads; t++) pthread_join(th[t], NULL);
	for (size_t bi = 0; bi < p->n_backends; bi++) free(ctx[bi].queue);
	free(ctx);
	free(th);
}

/* ---- wave 3: outcome -------------------------------------------------- */

/* After creates and starts, look once more to learn addresses and states. */
static void refresh_observations(pass_t *p, const job_t *jobs, size_t n_jobs) {
	for (size_t bi = 0; bi < p->n_backends; bi++) {
		pass_backend_t *b = &p->backends[bi];
		bool touched = false;
		for (size_t k = 0; k < n_jobs; k++)
			if (jobs[k].b == b && jobs[k].rc == 0 && (jobs[k].do_create || jobs[k].do_start)) touched = true;
		if (!touched || !b->conn) continue;
		observation_t fresh = {0};
		char *err = NULL;
		if (prov_observe(b->ops, b->conn, b->known, b->n_known, &fresh, &err) == 0) {
			/* The plan's actions point into the old observation; keep it
			 * alive until the pass ends and use the fresh one only here. */
			for (size_t k = 0; k < n_jobs; k++) {
				job_t *j = (job_t *)&jobs[k];
				if (j->b != b || j->rc != 0 || !(j->do_create || j->do_start)) continue;
				for (size_t i = 0; i < fresh.n; i++) {
					if (strcmp(fresh.v[i].id, j->rec.id) != 0) continue;
					free(j->rec.url);
					j->rec.url = xstrdup(fresh.v[i].url);
					j->rec.status = status_of(fresh.v[i].state);
				}
			}
		}
		free(err);
		observation_free(&fresh);
	}
}

static void record_outcome(pass_t *p, job_t *j, apply_summary_t *sum) {
	action_t *a = j->a;
	if (!j->has_rec) {
		if (j->rc < 0) {
			sum->failed++;
			log_error("%s %s: %s", action_kind_name(a->kind), a->name, j->err);
		}
		return;
	}
	if (j->rc < 0) {
		sum->failed++;
		log_error("%s %s (%s): %s", action_kind_name(a->kind), j->rec.name, j->rec.id, j->err);
		j->rec.status = a->kind == ACT_DELETE ? ST_DELETING : ST_FAILED;
		if (a->kind == ACT_START || a->kind == ACT_UPDATE) {
			/* Nothing changed on the backend: the record keeps what it had. */
			j->rec.status = a->record->status;
			set_str(&j->rec.spec_hash, a->record->spec_hash);
			set_str(&j->rec.spec_json, a->record->spec_json);
		}
		set_str(&j->rec.last_error, j->err);
		if (store_put_cvm(p->store, &j->rec) < 0 || store_add_event(p->store, j->rec.id, "failed", j->err) < 0)
			log_error("%s (%s): cannot record the failure: %s", j->rec.name, j->rec.id, store_errmsg(p->store));
		return;
	}
	if (!j->done_kind) return;
	switch (a->kind) {
	case ACT_DELETE: {
		j->rec.status = ST_INACTIVE;
		free(j->rec.url);
		j->rec.url = NULL;
		sum->deleted++;
		/* An Inactive CVM's certificates are revoked; the CRL is re-signed
		 * once the outcome is committed. */
		char *err = NULL;
		if (certs_revoke_all(p->store, j->rec.id, now_s(), &err) < 0) {
			log_error("%s: %s", j->rec.name, err);
			free(err);
			sum->failed++;
		}
		ACTX.crl_dirty = true;
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
	free(j->rec.last_error);
	j->rec.last_error = NULL;
	_cleanup_free_ char *msg = xasprintf("%s%s%s", a->reason, j->rec.placement ? " on " : "",
	                                     j->rec.placement ? j->rec.placement : "");
	int r = 0;
	if (j->has_ship && j->ship.serial[0]) r = certs_set_delivered(p->store, j->rec.id, j->ship.serial);
	if (r >= 0) r = store_put_cvm(p->store, &j->rec);
	if (r >= 0) r = store_add_event(p->store, j->rec.id, j->done_kind, msg);
	if (r < 0) {
		unrecorded(p->store, sum, &j->rec, "the outcome");
		return;
	}
	printf("%-9s %-24s %s  %s\n", j->done_kind, j->rec.name, j->rec.id, j->rec.placement ? j->rec.placement : "");
}

static int commit_or_report(store_t *st, const char *what) {
	if (store_commit(st) == 0) return 0;
	log_error("cannot record %s: %s", what, store_errmsg(st));
	store_rollback(st);
	return -EIO;
}

/* ---- certificates: renewal and publication ------------------------------ */

/* Retries of a failing rotation back off: 1, 2, 4 ... 60 minutes. */
static bool rotation_backing_off(store_t *st, const char *id, int64_t now) {
	int n = 0;
	int64_t next = 0;
	return store_get_rotation_retry(st, id, &n, &next) == 0 && n > 0 && now < next;
}

static int rotation_result(store_t *st, const char *id, int64_t now, bool ok) {
	int n = 0;
	int64_t next = 0;
	int r = store_get_rotation_retry(st, id, &n, &next);
	if (r < 0) return r;
	if (ok && n == 0) return 0;
	n = ok ? 0 : n + 1;
	long long wait = n ? 60LL << (n > 6 ? 6 : n - 1) : 0;
	if (wait > 3600) wait = 3600;
	return store_set_rotation_retry(st, id, n, now + wait);
}

/* Renews the default certificate of j's CVM in one transaction with its
 * history entry. */
static int renew_default(pass_t *p, job_t *j, int64_t now, char **err) {
	cert_record_t fresh = {0};
	if (store_begin(p->store) < 0) {
		*err = xasprintf("cannot start a transaction: %s", store_errmsg(p->store));
		return -EIO;
	}
	int r = certs_issue(p->store, ACTX.ca, j->rec.id, j->rec.name, now, j->a->spec->certs.validity_s, NULL, true,
	                    &fresh, err);
	if (r == 0) {
		_cleanup_free_ char *msg =
			xasprintf("certificate %s issued, valid until %lld", fresh.serial, (long long)fresh.not_after);
		if ((r = store_add_event(p->store, j->rec.id, "cert-renewed", msg)) < 0)
			*err = xasprintf("cannot record the renewal: %s", store_errmsg(p->store));
	}
	if (r == 0)
		r = commit_or_report(p->store, "the renewed certificate");
	else
		store_rollback(p->store);
	cert_record_free(&fresh);
	return r;
}

/* Hands the CVM its current default certificate, and records that. */
static int publish_default(pass_t *p, job_t *j, char **err) {
	shipment_t sh;
	int r = shipment_build(&sh, p->store, store_installation_id(p->store), pki_ca_cert_pem(ACTX.ca), &j->rec, err);
	if (r < 0) return r;
	prov_call_t c = {0};
	prov_target_t t = {.id = j->rec.id, .name = j->rec.name, .placement = j->rec.placement,
	                   .handle = j->rec.handle, .observed = j->a->observed};
	r = prov_update(j->b->ops, j->b->conn, &t, &sh.want, &c);
	if (r >= 0) r = wait_op(j->b, &c);
	if (r < 0) *err = TAKE_PTR(c.err);
	prov_call_clear(&c);
	if (r == 0) {
		_cleanup_free_ char *msg = xasprintf("certificate %s published", sh.serial);
		if ((r = certs_set_delivered(p->store, j->rec.id, sh.serial)) < 0 ||
		    (r = store_add_event(p->store, j->rec.id, "cert-published", msg)) < 0)
			*err = xasprintf("certificate %s reached the CVM, but the state cannot record that: %s", sh.serial,
			                 store_errmsg(p->store));
		else
			printf("%-9s %-24s %s  certificate %s\n", "rotated", j->rec.name, j->rec.id, sh.serial);
	}
	shipment_free(&sh);
	return r;
}

/* Renews default certificates that reached renewBefore and publishes any
 * default certificate the CVM does not have yet (a renewal, or one recorded
 * by a pass or a `cert` command that was killed before it published). One
 * CVM's failure is reported on it and does not hold up the others. */
static void rotate_certificates(pass_t *p, job_t *jobs, size_t n_jobs, apply_summary_t *sum) {
	int64_t now = now_s();
	for (size_t k = 0; k < n_jobs; k++) {
		job_t *j = &jobs[k];
		if (!j->has_rec || !j->a->spec || j->rc < 0 || j->rec.status != ST_RUNNING || !j->b || !j->b->conn) continue;
		if (!ACTX.ca || rotation_backing_off(p->store, j->rec.id, now)) continue;
		cert_record_t cur = {0};
		bool have = certs_current_default(p->store, j->rec.id, &cur) == 0;
		bool due = !have || certs_due(&cur, now, j->a->spec->certs.renew_before_s);
		_cleanup_free_ char *delivered = certs_delivered_serial(p->store, j->rec.id);
		bool unpublished = have && (!delivered || strcmp(delivered, cur.serial) != 0);
		cert_record_free(&cur);
		if (!due && !unpublished) continue;

		char *err = NULL;
		int r = 0;
		if (due) {
			r = renew_default(p, j, now, &err);
			crash_point("after-renew-commit");
		}
		if (r == 0) r = publish_default(p, j, &err);
		if (rotation_result(p->store, j->rec.id, now, r == 0) < 0)
			unrecorded(p->store, sum, &j->rec, "the rotation retry");
		if (r < 0) {
			sum->failed++;
			_cleanup_free_ char *msg = xasprintf("certificate rotation failed (retrying with backoff): %s",
			                                     err ? err : strerror(-r));
			log_error("%s (%s): %s", j->rec.name, j->rec.id, msg);
			set_str(&j->rec.last_error, msg);
			if (store_add_event(p->store, j->rec.id, "failed", msg) < 0 || store_put_cvm(p->store, &j->rec) < 0)
				unrecorded(p->store, sum, &j->rec, "the rotation failure");
		} else if (j->rec.last_error) {
			free(j->rec.last_error);
			j->rec.last_error = NULL;
			if (store_put_cvm(p->store, &j->rec) < 0) unrecorded(p->store, sum, &j->rec, "the cleared error");
		}
		free(err);
	}
}

static void jobs_free(job_t *jobs, size_t n) {
	for (size_t k = 0; k < n; k++) {
		cvm_record_free(&jobs[k].rec);
		if (jobs[k].has_ship) shipment_free(&jobs[k].ship);
		free(jobs[k].err);
	}
}

static bool creates_anything(const plan_t *pl) {
	for (size_t i = 0; i < pl->n; i++)
		if (pl->v[i].spec && pl->v[i].kind != ACT_UNKNOWN) return true;
	return false;
}

int apply_plan(pass_t *p, const pass_opts_t *o, apply_summary_t *sum) {
	memset(sum, 0, sizeof *sum);
	plan_t *pl = &p->plan;
	_cleanup_free_ job_t *jobs = xcalloc(pl->n + 1, sizeof *jobs);
	size_t n_jobs = 0;
	int code = EXIT_FAILED;
	for (size_t i = 0; i < pl->n; i++) {
		action_t *a = &pl->v[i];
		if (a->refused) {
			sum->refused++;
			log_warn("%s %s: refused: %s", action_kind_name(a->kind), a->name, a->refusal);
			continue;
		}
		if (a->kind == ACT_UNKNOWN) {
			sum->unknown++;
			log_warn("%s is Unknown this pass: %s", a->name, a->reason);
		}
		if (a->kind == ACT_NOOP) sum->noop++;
		if (a->kind == ACT_ADOPT) sum->adopted++;
		jobs[n_jobs++].a = a;
	}

	/* The CA, created with the default key type on first use. */
	memset(&ACTX, 0, sizeof ACTX);
	if (creates_anything(pl) && certs_open_ca(p->store, true, &ACTX.ca, &ACTX.ca_err) < 0)
		log_error("%s", ACTX.ca_err);

	/* Wave 1: every intent of the pass in one transaction (one fsync). */
	if (store_begin(p->store) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(p->store));
		goto out;
	}
	for (size_t i = 0; i < p->n_backends; i++) {
		if (provider_record_save(p->store, &p->backends[i].cfg) < 0) {
			/* Before any remote call: the pass does nothing. */
			log_error("cannot record provider %s: %s", p->backends[i].cfg.name, store_errmsg(p->store));
			store_rollback(p->store);
			goto out;
		}
	}
	for (size_t k = 0; k < n_jobs; k++) prepare_intent(p, jobs, n_jobs, &jobs[k]);
	if (commit_or_report(p->store, "the intents") < 0) {
		/* Nothing was done; what failed first is in the jobs. */
		for (size_t k = 0; k < n_jobs; k++)
			if (jobs[k].rc < 0) log_error("%s: %s", jobs[k].a->name, jobs[k].err);
		goto out;
	}
	crash_point("after-intent-commit");

	/* What each create or update delivers, read from the store before the
	 * workers start (they never touch the store). */
	for (size_t k = 0; k < n_jobs; k++) {
		job_t *j = &jobs[k];
		if (j->rc < 0 || !(j->do_create || j->do_update)) continue;
		char *err = NULL;
		int r = shipment_build(&j->ship, p->store, store_installation_id(p->store),
		                       ACTX.ca ? pki_ca_cert_pem(ACTX.ca) : NULL, &j->rec, &err);
		if (r < 0) {
			job_fail(j, r, err);
			continue;
		}
		j->has_ship = true;
	}

	/* Wave 2: remote work, concurrently, bounded per provider. */
	run_remote(p, jobs, n_jobs, o->per_provider > 0 ? o->per_provider : 4);
	refresh_observations(p, jobs, n_jobs);

	/* Wave 3: outcomes, in one more transaction. */
	crash_point("before-status-commit");
	if (store_begin(p->store) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(p->store));
		goto out;
	}
	for (size_t k = 0; k < n_jobs; k++) {
		job_t *j = &jobs[k];
		if (j->a->kind != ACT_NOOP && j->a->kind != ACT_UNKNOWN) {
			record_outcome(p, j, sum);
		} else if (j->rc < 0) { /* only a failed write fails these */
			sum->failed++;
			log_error("%s: %s", j->a->name, j->err);
		}
	}
	if (commit_or_report(p->store, "the outcome") < 0) goto out;

	/* Certificates: renewals, publication, and the CRL. */
	if (!ACTX.ca && ACTX.crl_dirty) certs_open_ca(p->store, false, &ACTX.ca, &ACTX.ca_err);
	rotate_certificates(p, jobs, n_jobs, sum);
	if (ACTX.ca) {
		char *err = NULL;
		int r = ACTX.crl_dirty ? certs_publish_crl(p->store, ACTX.ca, now_s(), &err)
		                       : certs_refresh_crl(p->store, ACTX.ca, now_s(), &err);
		if (r < 0) {
			log_error("cannot publish the CRL: %s", err);
			sum->failed++;
		}
		free(err);
	}

	code = EXIT_OK;
	if (sum->failed || sum->unknown) code = exit_merge(code, EXIT_FAILED);
	if (pl->refused) code = exit_merge(code, EXIT_REFUSED);
out:
	jobs_free(jobs, n_jobs);
	pki_ca_free(ACTX.ca);
	free(ACTX.ca_err);
	memset(&ACTX, 0, sizeof ACTX);
	return code;
}
