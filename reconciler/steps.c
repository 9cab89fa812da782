/* Jobs as scheduler tasks: which steps each job takes, on which backend,
 * and the hooks the scheduler calls to submit a step (the prov_* call with
 * the job's target and files), to learn that one finished, and to run the
 * local steps (the store writes between two remote steps). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"

static size_t backend_idx(const apply_ctx_t *x, const pass_backend_t *b) {
	return (size_t)(b - x->p->backends);
}

static void add_step(sched_task_t *t, sched_kind_t kind, size_t backend, int tag) {
	/* SCHED_MAX_STEPS bounds the longest job: remove, record, create. */
	if (t->n_steps < SCHED_MAX_STEPS) t->steps[t->n_steps++] = (sched_step_t){kind, backend, tag};
}

static void build_one(apply_ctx_t *x, job_t *j, bool rotation) {
	sched_task_t *t = &j->task;
	free(t->err);
	memset(t, 0, sizeof *t);
	t->owner = j;
	if (j->rc < 0) return;
	size_t b = j->b ? backend_idx(x, j->b) : 0;
	if (rotation) {
		if (!j->rotate || j->rot_rc < 0) return;
		if (j->renew) add_step(t, SK_LOCAL, 0, LT_RENEW);
		add_step(t, SK_UPDATE, b, RT_PUBLISH);
	} else if (j->a->kind == ACT_REPLACE) {
		if (j->do_remove) add_step(t, SK_REMOVE, backend_idx(x, j->src), RT_MAIN);
		add_step(t, SK_LOCAL, 0, LT_REPLACE_INTENT);
		add_step(t, SK_CREATE, b, RT_MAIN);
	} else {
		if (j->do_remove) add_step(t, SK_REMOVE, b, RT_MAIN);
		if (j->do_create) add_step(t, SK_CREATE, b, RT_MAIN);
		if (j->do_update) add_step(t, SK_UPDATE, b, RT_MAIN);
		if (j->do_start) add_step(t, SK_START, b, RT_MAIN);
	}
}

/* The resource a step acts on: as observed this pass, else as recorded. */
static prov_target_t target_of(const job_t *j, const char *placement, const char *handle) {
	const observed_t *o = j->a->observed;
	return (prov_target_t){
	    .id = j->rec.id,
	    .name = j->rec.name,
	    .placement = placement,
	    .handle = handle,
	    .observed = o,
	};
}

/* What a create or update delivers, read from the store right before the
 * call (a replace's intent or a renewal may have just changed it). */
static int ship(apply_ctx_t *x, job_t *j, char **err) {
	if (j->has_ship) shipment_free(&j->ship);
	j->has_ship = false;
	int r = shipment_build(&j->ship, x->p->store, store_installation_id(x->p->store),
	                       x->ca ? pki_ca_cert_pem(x->ca) : NULL, &j->rec, err);
	if (r == 0) j->has_ship = true;
	return r;
}

static int hook_submit(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call) {
	apply_ctx_t *x = ctx;
	job_t *j = t->owner;
	pass_backend_t *b = &x->p->backends[s->backend];
	if (!b->conn) {
		call->err = xasprintf("provider %s cannot be reached", b->cfg.name);
		return -ENOTCONN;
	}
	const observed_t *o = j->a->observed;
	const char *handle = o && o->handle ? o->handle : j->rec.handle;
	switch (s->kind) {
	case SK_REMOVE: {
		/* A replace removes from the source, with what was observed or
		 * recorded there (the record's handle before the intent). */
		prov_target_t tg = target_of(j, j->remove_at, j->remove_handle ? j->remove_handle : handle);
		return prov_remove(b->ops, b->conn, &tg, call);
	}
	case SK_CREATE: {
		int r = ship(x, j, &call->err);
		return r < 0 ? r : prov_create(b->ops, b->conn, &j->ship.want, call);
	}
	case SK_START: {
		prov_target_t tg = target_of(j, o && o->placement ? o->placement : j->rec.placement, handle);
		return prov_start(b->ops, b->conn, &tg, call);
	}
	case SK_UPDATE: {
		int r = ship(x, j, &call->err);
		if (r < 0) return r;
		prov_target_t tg = target_of(j, o && o->placement ? o->placement : j->rec.placement, handle);
		return prov_update(b->ops, b->conn, &tg, &j->ship.want, call);
	}
	case SK_LOCAL: break;
	}
	call->err = xstrdup("not a remote step");
	return -EINVAL;
}

static void hook_done(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call) {
	apply_ctx_t *x = ctx;
	job_t *j = t->owner;
	if (s->kind == SK_CREATE && call->handle) {
		free(j->rec.handle);
		j->rec.handle = TAKE_PTR(call->handle);
	}
	if ((s->kind == SK_CREATE || s->kind == SK_UPDATE) && s->tag == RT_MAIN && j->has_ship)
		snprintf(j->delivered, sizeof j->delivered, "%s", j->ship.serial);
	if (s->kind == SK_UPDATE && s->tag == RT_PUBLISH) rotation_published(x, j);
}

static int hook_local(void *ctx, sched_task_t *t, const sched_step_t *s, char **err) {
	apply_ctx_t *x = ctx;
	job_t *j = t->owner;
	switch (s->tag) {
	case LT_REPLACE_INTENT: return intent_replace_local(x, j, err);
	case LT_RENEW: return rotation_renew_local(x, j, err);
	}
	*err = xstrdup("unknown local step");
	return -EINVAL;
}

void steps_run(apply_ctx_t *x, bool rotation) {
	pass_t *p = x->p;
	_cleanup_free_ sched_backend_t *bs = xcalloc(p->n_backends + 1, sizeof *bs);
	for (size_t i = 0; i < p->n_backends; i++) {
		pass_backend_t *b = &p->backends[i];
		const provider_spec_t *ps = &p->specs.providers[i];
		bs[i] = (sched_backend_t){.name = b->cfg.name, .ops = b->ops, .conn = b->conn};
		const backend_schema_t *sc = ps->backend;
		int conc = ps->concurrency > 0 ? ps->concurrency : sc ? sc->default_concurrency : 0;
		double rps = ps->requests_per_second > 0 ? ps->requests_per_second : sc ? sc->default_requests_per_second : 0;
		sched_backend_limits(&bs[i], conc, rps, x->o->per_provider);
	}
	_cleanup_free_ sched_task_t **tasks = xcalloc(x->n_jobs + 1, sizeof *tasks);
	size_t n = 0;
	for (size_t k = 0; k < x->n_jobs; k++) {
		build_one(x, &x->jobs[k], rotation);
		if (x->jobs[k].task.n_steps) tasks[n++] = &x->jobs[k].task;
	}
	sched_t s = {
	    .backends = bs,
	    .n_backends = p->n_backends,
	    .tasks = tasks,
	    .n_tasks = n,
	    .clock = x->o->clock,
	    .seed = x->o->seed,
	    .hooks = {hook_submit, hook_done, hook_local, x},
	};
	if (n) sched_run(&s);
	apply_stats_t *stats = x->o->stats;
	if (stats) {
		stats->elapsed_ms += s.elapsed_ms;
		stats->sleeps += s.sleeps;
		for (size_t i = 0; i < p->n_backends && i < APPLY_STATS_MAX_BACKENDS; i++)
			if (bs[i].peak_in_flight > stats->peak_in_flight[i]) stats->peak_in_flight[i] = bs[i].peak_in_flight;
	}
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		sched_task_t *t = &j->task;
		if (t->rc == 0) continue;
		if (rotation) {
			j->rot_rc = t->rc;
			free(j->rot_err);
			j->rot_err = TAKE_PTR(t->err);
		} else {
			job_fail(j, t->rc, TAKE_PTR(t->err));
		}
	}
}
