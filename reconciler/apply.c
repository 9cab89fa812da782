#include "reconciler/apply.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/delivery.h"

typedef struct job {
	action_t *a;
	pass_backend_t *b; /* NULL when there is no remote work */
	cvm_record_t rec;  /* the record as it will be committed */
	bool has_rec;
	/* remote steps, in this order */
	bool do_remove, do_create, do_start, do_update;
	const char *remove_at; /* placement to remove from */
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

/* ---- wave 1: intents -------------------------------------------------- */

static cvm_status_t status_of(res_state_t s) {
	return s == RES_STOPPED ? ST_STOPPED : s == RES_RUNNING ? ST_RUNNING : ST_CREATING;
}

static void rec_from_spec(cvm_record_t *r, const pass_t *p, const action_t *a) {
	const cvm_spec_t *c = a->spec;
	if (!r->name) r->name = xstrdup(c->name);
	if (!r->scope) r->scope = xstrdup(p->scope);
	if (!r->created_at) r->created_at = now_s();
	free(r->flavor);
	r->flavor = xstrdup(flavor_name(c->flavor));
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

static void desired_of(cvm_desired_t *w, const job_t *j, const pass_t *p, const char **labels, delivery_t *d) {
	const cvm_spec_t *c = j->a->spec;
	for (size_t i = 0; i < c->n_labels; i++) {
		labels[2 * i] = c->labels[i].key;
		labels[2 * i + 1] = c->labels[i].value;
	}
	*w = (cvm_desired_t){
		.id = j->rec.id,
		.name = j->rec.name,
		.scope = j->rec.scope,
		.installation = store_installation_id(p->store),
		.spec_hash = c->hash,
		.attempt = j->rec.attempt,
		.placement = j->rec.placement,
		.vcpus = c->vcpus,
		.memory_gib = c->memory_gib,
		.agent_port = c->agent.port,
		.labels = labels,
		.n_labels = c->n_labels,
		.files = d->files,
		.n_files = d->n_files,
	};
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
			const char *labels[2 * 64 + 2];
			delivery_t d = {0};
			cvm_desired_t w;
			desired_of(&w, j, p, labels, &d);
			char *where = NULL, *err = NULL;
			int r = j->b->ops->place(j->b->conn, &w, used, n_used, &where, &err);
			if (r < 0) {
				job_fail(j, r, err);
				j->rec.status = ST_FAILED;
				set_str(&j->rec.last_error, j->err);
				store_put_cvm(p->store, &j->rec);
				store_add_event(p->store, j->rec.id, "failed", j->err);
				return;
			}
			free(j->rec.placement);
			j->rec.placement = where;
		}
		/* Every create attempt has its own idempotency key. */
		char attempt[37];
		if (!j->rec.attempt || a->kind == ACT_REPLACE || !keep) {
			uuid_generate_v4(attempt);
			set_str(&j->rec.attempt, attempt);
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
		store_put_cvm(p->store, &j->rec);
		store_add_event(p->store, j->rec.id, "intent", msg);
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
		store_put_cvm(p->store, &j->rec);
		store_add_event(p->store, j->rec.id, "adopted", a->reason);
		break;
	}
	case ACT_START:
		j->do_start = true;
		j->done_kind = "started";
		break;
	case ACT_UPDATE:
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
		store_put_cvm(p->store, &j->rec);
		store_add_event(p->store, j->rec.id, "intent", a->reason);
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
			store_add_event(p->store, j->rec.id, "status", msg);
		}
		j->rec.status = st;
		free(j->rec.url);
		j->rec.url = xstrdup(o->url);
		free(j->rec.last_error);
		j->rec.last_error = NULL;
		set_str(&j->rec.placement, o->placement);
		store_put_cvm(p->store, &j->rec);
		break;
	}
	case ACT_UNKNOWN:
		if (j->has_rec && j->rec.status != ST_UNKNOWN && j->rec.status != ST_INACTIVE) {
			/* A create or delete intent stays what it is: the next pass
			 * resumes it once the place answers again. */
			if (j->rec.status != ST_CREATING && j->rec.status != ST_DELETING) {
				j->rec.status = ST_UNKNOWN;
				store_put_cvm(p->store, &j->rec);
			}
			store_add_event(p->store, j->rec.id, "unknown", a->reason);
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

static int wait_op(pass_backend_t *b, prov_op_t *op, char **err) {
	if (!op) return 0;
	int r = 0;
	for (;;) {
		bool done = false;
		r = b->ops->poll(b->conn, op, &done, err);
		if (r < 0 || done) break;
	}
	b->ops->op_free(op);
	return r;
}

static void run_job(pass_t *p, job_t *j) {
	pass_backend_t *b = j->b;
	char *err = NULL;
	int r;
	if (j->do_remove) {
		prov_op_t *op = NULL;
		r = b->ops->remove(b->conn, j->rec.id, j->remove_at, &op, &err);
		if (r >= 0) r = wait_op(b, op, &err);
		if (r < 0) return job_fail(j, r, err);
	}
	if (j->do_create || j->do_update) {
		const char *labels[2 * 64 + 2];
		delivery_t d;
		r = delivery_build(&d, p->store, &p->specs, j->a->spec, j->rec.id);
		if (r < 0) return job_fail(j, r, xasprintf("cannot prepare the files for the CVM: %s", strerror(-r)));
		cvm_desired_t w;
		desired_of(&w, j, p, labels, &d);
		if (j->do_create) {
			prov_op_t *op = NULL;
			r = b->ops->create(b->conn, &w, &op, &err);
			if (r >= 0) r = wait_op(b, op, &err);
		} else {
			r = b->ops->update(b->conn, &w, &err);
		}
		delivery_free(&d);
		if (r < 0) return job_fail(j, r, err);
	}
	if (j->do_start) {
		r = b->ops->start(b->conn, j->rec.id, j->rec.placement, &err);
		if (r < 0) return job_fail(j, r, err);
	}
}

static void *worker(void *arg) {
	worker_ctx_t *w = arg;
	for (;;) {
		pthread_mutex_lock(w->mu);
		size_t i = w->next < w->n_queue ? w->queue[w->next++] : SIZE_MAX;
		pthread_mutex_unlock(w->mu);
		if (i == SIZE_MAX) return NULL;
		run_job(w->p, &w->jobs[i]);
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
		if (b->ops->observe(b->conn, &fresh, &err) == 0) {
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
		if (a->kind == ACT_START || a->kind == ACT_UPDATE) j->rec.status = a->record->status;
		set_str(&j->rec.last_error, j->err);
		store_put_cvm(p->store, &j->rec);
		store_add_event(p->store, j->rec.id, "failed", j->err);
		return;
	}
	if (!j->done_kind) return;
	switch (a->kind) {
	case ACT_DELETE:
		j->rec.status = ST_INACTIVE;
		free(j->rec.url);
		j->rec.url = NULL;
		sum->deleted++;
		break;
	case ACT_UPDATE:
		set_str(&j->rec.spec_hash, a->spec->hash);
		free(j->rec.spec_json);
		j->rec.spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
		sum->updated++;
		break;
	case ACT_START: j->rec.status = ST_RUNNING; sum->started++; break;
	case ACT_REPLACE: sum->replaced++; break;
	case ACT_ADOPT: break;
	default: sum->created++;
	}
	if ((a->kind == ACT_CREATE || a->kind == ACT_REPLACE) && j->rec.status == ST_CREATING) j->rec.status = ST_RUNNING;
	if (a->kind == ACT_ADOPT && j->do_start) j->rec.status = ST_RUNNING;
	free(j->rec.last_error);
	j->rec.last_error = NULL;
	store_put_cvm(p->store, &j->rec);
	_cleanup_free_ char *msg = xasprintf("%s%s%s", a->reason, j->rec.placement ? " on " : "",
	                                     j->rec.placement ? j->rec.placement : "");
	store_add_event(p->store, j->rec.id, j->done_kind, msg);
	printf("%-9s %-24s %s  %s\n", j->done_kind, j->rec.name, j->rec.id, j->rec.placement ? j->rec.placement : "");
}

static int commit_or_report(store_t *st, const char *what) {
	if (store_commit(st) == 0) return 0;
	log_error("cannot record %s: %s", what, store_errmsg(st));
	store_rollback(st);
	return -EIO;
}

int apply_plan(pass_t *p, const pass_opts_t *o, apply_summary_t *sum) {
	memset(sum, 0, sizeof *sum);
	plan_t *pl = &p->plan;
	_cleanup_free_ job_t *jobs = xcalloc(pl->n + 1, sizeof *jobs);
	size_t n_jobs = 0;
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

	/* Wave 1: every intent of the pass in one transaction. */
	if (store_begin(p->store) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(p->store));
		return EXIT_FAILED;
	}
	for (size_t k = 0; k < n_jobs; k++) prepare_intent(p, jobs, n_jobs, &jobs[k]);
	if (commit_or_report(p->store, "the intents") < 0) goto out_fail;
	crash_point("after-intent-commit");

	/* Wave 2: remote work, concurrently, bounded per provider. */
	run_remote(p, jobs, n_jobs, o->per_provider > 0 ? o->per_provider : 4);
	refresh_observations(p, jobs, n_jobs);

	/* Wave 3: outcomes, in one more transaction. */
	crash_point("before-status-commit");
	if (store_begin(p->store) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(p->store));
		goto out_fail;
	}
	for (size_t k = 0; k < n_jobs; k++)
		if (jobs[k].a->kind != ACT_NOOP && jobs[k].a->kind != ACT_UNKNOWN) record_outcome(p, &jobs[k], sum);
	if (commit_or_report(p->store, "the outcome") < 0) goto out_fail;

	int code = EXIT_OK;
	if (sum->failed || sum->unknown) code = exit_merge(code, EXIT_FAILED);
	if (pl->refused) code = exit_merge(code, EXIT_REFUSED);
	for (size_t k = 0; k < n_jobs; k++) {
		cvm_record_free(&jobs[k].rec);
		free(jobs[k].err);
	}
	return code;
out_fail:
	for (size_t k = 0; k < n_jobs; k++) {
		cvm_record_free(&jobs[k].rec);
		free(jobs[k].err);
	}
	return EXIT_FAILED;
}
