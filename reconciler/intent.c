/* Wave 1 of apply: what each job will do, and its intent on record before
 * any remote call.
 *
 * In two halves, so that the transaction holds nothing but store writes:
 * first every decision that needs the world or the CPU (placement is a
 * call to the backend; certificates are minted, their keys written and
 * made durable), then one transaction with every intent of the wave (one
 * fsync). Every write is checked: a job whose write fails is failed before
 * anything remote is done for it; a commit that fails fails them all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply_priv.h"
#include "reconciler/provider_record.h"

static cvm_status_t status_of(res_state_t s) {
	return s == RES_STOPPED ? ST_STOPPED : s == RES_RUNNING ? ST_RUNNING : ST_CREATING;
}

static void rec_from_spec(cvm_record_t *r, const pass_t *p, const action_t *a) {
	const cvm_spec_t *c = a->spec;
	if (!r->name) r->name = xstrdup(c->name);
	if (!r->scope) r->scope = xstrdup(p->scope);
	if (!r->created_at) r->created_at = now_s();
	str_set(&r->flavor, c->flavor);
	str_set(&r->provider, p->specs.providers[c->provider_idx].name);
	r->vcpus = c->vcpus;
	r->memory_gib = c->memory_gib;
}

/* The record's desired half: what it will say once the create is done. */
static void rec_want(cvm_record_t *r, const pass_t *p, const action_t *a) {
	rec_from_spec(r, p, a);
	r->status = ST_CREATING;
	str_set(&r->spec_hash, a->spec->hash);
	free(r->spec_json);
	r->spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
	free(r->last_error);
	r->last_error = NULL;
}

/* What cvmctl already placed on a provider, this wave included. */
static placement_use_t *usage_of(const apply_ctx_t *x, const char *provider, const char *except_id, size_t *n_out) {
	const pass_t *p = x->p;
	placement_use_t *u = xcalloc(p->n_records + x->n_jobs + 1, sizeof *u);
	size_t n = 0;
	for (size_t i = 0; i < p->n_records; i++) {
		const cvm_record_t *r = &p->records[i];
		if (r->status == ST_INACTIVE || !r->placement || strcmp(r->provider, provider) != 0) continue;
		if (strcmp(r->id, except_id) == 0) continue;
		bool replanned = false;
		for (size_t k = 0; k < x->n_jobs && !replanned; k++)
			replanned = x->jobs[k].has_rec && strcmp(x->jobs[k].rec.id, r->id) == 0;
		if (!replanned) u[n++] = (placement_use_t){r->placement, r->vcpus, r->memory_gib};
	}
	for (size_t k = 0; k < x->n_jobs; k++) {
		const cvm_record_t *r = &x->jobs[k].rec;
		if (!x->jobs[k].has_rec || !r->placement || !r->provider || strcmp(r->provider, provider) != 0) continue;
		if (strcmp(r->id, except_id) == 0 || r->status == ST_INACTIVE || r->status == ST_DELETING) continue;
		u[n++] = (placement_use_t){r->placement, r->vcpus, r->memory_gib};
	}
	*n_out = n;
	return u;
}

static bool placement_known(const pass_backend_t *b, const char *placement) {
	if (!b || !b->observed || !placement) return false;
	for (size_t i = 0; i < b->obs.n_unknown; i++)
		if (strcmp(b->obs.unknown[i].placement, placement) == 0) return false;
	return true;
}

/* Chooses where j's CVM goes on j->b: where the plan chose (pass_place.c),
 * or, for a plan made without placements, a remote call made before any
 * transaction opens. */
static int place(apply_ctx_t *x, job_t *j, char **err) {
	if (j->a->placement) {
		str_set(&j->rec.placement, j->a->placement);
		return 0;
	}
	if (j->a->place_err) {
		*err = xstrdup(j->a->place_err);
		return -ENOSPC;
	}
	size_t n_used;
	_cleanup_free_ placement_use_t *used = usage_of(x, j->rec.provider, j->rec.id, &n_used);
	cvm_desired_t w = {.id = j->rec.id, .name = j->rec.name, .vcpus = j->a->spec->vcpus,
	                   .memory_gib = j->a->spec->memory_gib};
	char *where = NULL;
	int r = prov_place(j->b->ops, j->b->conn, &w, used, n_used, &where, err);
	if (r < 0) return r;
	free(j->rec.placement);
	j->rec.placement = where;
	return 0;
}

/* The default certificate is on record before the CVM can exist: a kill at
 * any later point never leaves it without one. A current one that is not
 * due yet is delivered again (a replace or a move keeps it). */
static bool needs_cert(apply_ctx_t *x, job_t *j) {
	cert_record_t cur = {0};
	bool need = certs_current_default(x->p->store, j->rec.id, &cur) < 0 ||
	            certs_due(&cur, x->now, j->a->spec->certs.renew_before_s);
	cert_record_free(&cur);
	return need;
}

static void decide_create(apply_ctx_t *x, job_t *j) {
	action_t *a = j->a;
	if (!j->has_rec) {
		memcpy(j->rec.id, a->id, sizeof j->rec.id);
		j->has_rec = true;
	}
	rec_from_spec(&j->rec, x->p, a);
	/* A resumed create keeps its placement (its resource may exist there
	 * already); a new one, or one whose place is gone, is placed. */
	bool keep = j->rec.placement && placement_known(j->b, j->rec.placement) && a->record &&
	            strcmp(a->record->provider, j->rec.provider) == 0;
	if (a->placement) keep = a->record && j->rec.placement && strcmp(j->rec.placement, a->placement) == 0 &&
	                         strcmp(a->record->provider, j->rec.provider) == 0;
	char *err = NULL;
	int r;
	if (!keep && (r = place(x, j, &err)) < 0) return job_fail(j, r, err);
	/* Every create attempt has its own idempotency key: only the resume
	 * of a recorded, unfinished create (Creating) keeps it. */
	if (!j->rec.attempt || !keep || a->record->status != ST_CREATING) {
		char attempt[37];
		uuid_generate_v4(attempt);
		str_set(&j->rec.attempt, attempt);
	}
	j->need_cert = needs_cert(x, j);
	rec_want(&j->rec, x->p, a);
	j->do_create = true;
	j->done_kind = a->record ? "recreated" : "created";
}

/* A replace removes the resource from where it is (the source), then
 * records the create intent on the spec's provider (the target) and
 * creates it there: see intent_replace_local. */
static void decide_replace(apply_ctx_t *x, job_t *j) {
	action_t *a = j->a;
	cvm_record_copy(&j->before, &j->rec);
	if (a->observed) {
		j->src = backend_of_observed(x->p, a->observed);
		j->remove_at = a->observed->placement;
		j->remove_handle = a->observed->handle ? a->observed->handle : a->record->handle;
	} else {
		/* Already gone: removing at the recorded place is idempotent and
		 * clears what the backend keeps beside it (share directories). */
		int i = pass_backend_index(x->p, a->record->provider);
		j->src = i >= 0 ? &x->p->backends[i] : NULL;
		if (j->src && placement_known(j->src, a->record->placement)) j->remove_at = a->record->placement;
		j->remove_handle = a->record->handle;
	}
	if (j->remove_at && (!j->src || !j->src->conn))
		return job_fail(j, -ENOTCONN, xasprintf("provider %s cannot be reached", a->record->provider));
	j->do_remove = j->remove_at != NULL;
	j->need_cert = needs_cert(x, j);
	j->do_create = true;
	j->done_kind = "replaced";
}

static void decide_delete(apply_ctx_t *x, job_t *j) {
	action_t *a = j->a;
	if (!j->has_rec) { /* an owned orphan: keep its history from now on */
		const observed_t *o = a->observed;
		memcpy(j->rec.id, o->id, sizeof j->rec.id);
		j->has_rec = true;
		j->rec.name = xstrdup(o->name);
		j->rec.scope = xstrdup(x->p->scope);
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
	} else if (j->rec.placement && placement_known(j->b, j->rec.placement)) {
		/* Not seen, but removing is idempotent and also clears what the
		 * backend keeps beside the resource (share directories). */
		j->do_remove = true;
		j->remove_at = j->rec.placement;
	}
	j->remove_handle = a->observed && a->observed->handle ? a->observed->handle : j->rec.handle;
	if (a->orphan) { /* deletionPolicy Orphan: the record goes, the resource stays */
		j->do_remove = false;
		j->remove_at = NULL;
		j->remove_handle = NULL;
	}
	j->rec.status = ST_DELETING;
	j->done_kind = a->orphan ? "orphaned" : "deleted";
}

static void decide_adopt(apply_ctx_t *x, job_t *j) {
	const observed_t *o = j->a->observed;
	memcpy(j->rec.id, o->id, sizeof j->rec.id);
	j->has_rec = true;
	rec_from_spec(&j->rec, x->p, j->a);
	str_set(&j->rec.placement, o->placement);
	str_set(&j->rec.spec_hash, o->spec_hash);
	str_set(&j->rec.attempt, o->attempt);
	str_set(&j->rec.url, o->url);
	str_set(&j->rec.handle, o->handle);
	if (o->spec_hash && strcmp(o->spec_hash, j->a->spec->hash) == 0)
		j->rec.spec_json = cvm_spec_canonical_json(&x->p->specs, j->a->spec);
	j->rec.status = status_of(o->state);
	if (o->state == RES_STOPPED) {
		j->do_start = true;
		j->done_kind = "started";
	}
}

/* Decides what j does; nothing is written yet. */
static void decide(apply_ctx_t *x, job_t *j) {
	action_t *a = j->a;
	pass_t *p = x->p;
	/* The plan names the backend the action acts on: where the resource
	 * was found (adopt, orphan delete) or where the spec wants it. */
	j->b = a->provider_idx < p->n_backends ? &p->backends[a->provider_idx] : NULL;
	if (a->record) {
		cvm_record_copy(&j->rec, a->record);
		j->has_rec = true;
	}
	if ((!j->b || !j->b->conn) && a->kind != ACT_NOOP && a->kind != ACT_UNKNOWN)
		return job_fail(j, -ENOTCONN, xasprintf("provider %s cannot be reached", a->provider ? a->provider : "?"));

	switch (a->kind) {
	case ACT_CREATE: decide_create(x, j); break;
	case ACT_REPLACE: decide_replace(x, j); break;
	case ACT_ADOPT: decide_adopt(x, j); break;
	case ACT_START:
		j->do_start = true;
		j->done_kind = "started";
		break;
	case ACT_UPDATE:
		/* The backend gets the new markers and files; the record takes
		 * them only once the backend has them (outcome wave). */
		str_set(&j->rec.spec_hash, a->spec->hash);
		free(j->rec.spec_json);
		j->rec.spec_json = cvm_spec_canonical_json(&p->specs, a->spec);
		j->do_update = true;
		j->done_kind = "updated";
		break;
	case ACT_DELETE: decide_delete(x, j); break;
	case ACT_NOOP:
	case ACT_UNKNOWN: break;
	}
}

/* ---- the transaction ---- */

static int intent_event(store_t *st, job_t *j, const char *kind, const char *msg) {
	return store_add_event(st, j->rec.id, kind, msg);
}

/* A NOOP brings a stale record up to date with what was observed. */
static int write_refresh(store_t *st, job_t *j) {
	const observed_t *o = j->a->observed;
	if (!j->has_rec || !o) return 0;
	cvm_status_t s = status_of(o->state);
	bool url_changed = (o->url == NULL) != (j->rec.url == NULL) || (o->url && strcmp(o->url, j->rec.url) != 0);
	if (s == j->rec.status && !url_changed && !j->rec.last_error) return 0;
	int r = 0;
	if (s != j->rec.status) {
		_cleanup_free_ char *msg = xasprintf("recorded %s as %s: %s", cvm_status_name(j->rec.status),
		                                     cvm_status_name(s), j->a->reason);
		r = intent_event(st, j, "status", msg);
	}
	j->rec.status = s;
	str_set(&j->rec.url, o->url);
	free(j->rec.last_error);
	j->rec.last_error = NULL;
	str_set(&j->rec.placement, o->placement);
	return r < 0 ? r : apply_put_cvm(st, &j->rec);
}

static int write_intent(apply_ctx_t *x, job_t *j) {
	store_t *st = x->p->store;
	action_t *a = j->a;
	int r = 0;
	switch (a->kind) {
	case ACT_CREATE: {
		_cleanup_free_ char *msg =
		    xasprintf("create on %s (attempt %s): %s", j->rec.placement, j->rec.attempt, a->reason);
		if ((r = apply_put_cvm(st, &j->rec)) < 0 || (r = intent_event(st, j, "intent", msg)) < 0) break;
		if (j->need_cert) {
			char *err = NULL;
			r = certs_record(st, j->rec.id, &j->minted, j->key_path, true, NULL, &err);
			free(err); /* the store's message is reported below */
		}
		break;
	}
	case ACT_REPLACE: {
		_cleanup_free_ char *msg =
		    j->do_remove ? xasprintf("replace: removing it from %s on %s first, then creating it on %s: %s",
		                             j->src->cfg.name, j->remove_at, j->b->cfg.name, a->reason)
		                 : xasprintf("replace: creating it on %s: %s", j->b->cfg.name, a->reason);
		r = intent_event(st, j, "intent", msg);
		break;
	}
	case ACT_ADOPT:
		if ((r = apply_put_cvm(st, &j->rec)) == 0) r = intent_event(st, j, "adopted", a->reason);
		break;
	case ACT_DELETE:
		if ((r = apply_put_cvm(st, &j->rec)) == 0) r = intent_event(st, j, "intent", a->reason);
		break;
	case ACT_NOOP: r = write_refresh(st, j); break;
	case ACT_UNKNOWN:
		if (!j->has_rec || j->rec.status == ST_UNKNOWN || j->rec.status == ST_INACTIVE) break;
		/* A create or delete intent stays what it is: the next pass
		 * resumes it once the place answers again. */
		if (j->rec.status != ST_CREATING && j->rec.status != ST_DELETING) {
			j->rec.status = ST_UNKNOWN;
			if ((r = apply_put_cvm(st, &j->rec)) < 0) break;
		}
		r = intent_event(st, j, "unknown", a->reason);
		break;
	case ACT_START:
	case ACT_UPDATE: break; /* nothing to resume: the next pass plans them again */
	}
	return r;
}

/* Writes the create jobs' key files, all made durable by one sync. */
static void write_create_keys(apply_ctx_t *x) {
	_cleanup_free_ certs_key_t *keys = xcalloc(x->n_jobs + 1, sizeof *keys);
	size_t n = 0;
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		if (j->rc == 0 && j->a->kind == ACT_CREATE && j->need_cert && j->has_minted)
			keys[n++] = (certs_key_t){j->key_path, j->minted.key_pem};
	}
	char *err = NULL;
	int r = certs_write_keys(x->p->store, keys, n, CERTS_SYNC_FS, &err);
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		if (j->rc != 0 || j->a->kind != ACT_CREATE || !j->need_cert || !j->has_minted) continue;
		if (r < 0) job_fail(j, r, xstrdup(err));
		else j->key_written = true;
	}
	free(err);
}

static void drop_unrecorded_key(job_t *j) {
	if (!j->key_written) return;
	unlink(j->key_path);
	j->key_written = false;
}

/* Takes every remote step away from a job that failed before any. */
static void cancel_remote(job_t *j) {
	j->do_remove = j->do_create = j->do_start = j->do_update = false;
}

int intents_record(apply_ctx_t *x) {
	pass_t *p = x->p;
	for (size_t k = 0; k < x->n_jobs; k++) decide(x, &x->jobs[k]);
	certs_mint_for_jobs(x, false);
	write_create_keys(x);

	if (store_begin(p->store) < 0) {
		log_error("cannot start a transaction: %s", store_errmsg(p->store));
		return -EIO;
	}
	for (size_t i = 0; i < p->n_backends; i++) {
		if (provider_record_save(p->store, &p->backends[i].cfg) < 0) {
			/* Before any remote call: the pass does nothing. */
			log_error("cannot record provider %s: %s", p->backends[i].cfg.name, store_errmsg(p->store));
			store_rollback(p->store);
			return -EIO;
		}
	}
	for (size_t k = 0; k < x->n_jobs; k++) {
		job_t *j = &x->jobs[k];
		if (j->rc < 0) {
			cancel_remote(j);
			continue;
		}
		if (write_intent(x, j) < 0) {
			job_fail(j, -EIO, xasprintf("cannot record the intent: %s", store_errmsg(p->store)));
			cancel_remote(j);
		}
	}
	if (store_commit(p->store) < 0) {
		log_error("cannot record the intents: %s", store_errmsg(p->store));
		store_rollback(p->store);
		/* No record names the keys just written: they go now (the next
		 * pass's sweep is for a kill, which leaves no chance). */
		for (size_t k = 0; k < x->n_jobs; k++) drop_unrecorded_key(&x->jobs[k]);
		return -EIO;
	}
	/* A job whose intent write failed has a key no record names. */
	for (size_t k = 0; k < x->n_jobs; k++)
		if (x->jobs[k].rc < 0) drop_unrecorded_key(&x->jobs[k]);
	crash_point("after-intent-commit");
	return 0;
}

/* The second intent of a replace, once the old resource is gone. */
int intent_replace_local(apply_ctx_t *x, job_t *j, char **err) {
	store_t *st = x->p->store;
	_cleanup_free_ char *msg = NULL;
	if (j->do_remove) crash_point("after-move-remove");
	rec_from_spec(&j->rec, x->p, j->a);
	int r = place(x, j, err);
	if (r < 0) goto restore;
	char attempt[37];
	uuid_generate_v4(attempt); /* a replace is a new attempt with a new key */
	str_set(&j->rec.attempt, attempt);
	rec_want(&j->rec, x->p, j->a);
	free(j->rec.handle); /* the old resource's address; the create returns the new one */
	j->rec.handle = NULL;
	if (j->need_cert) {
		if (!j->has_minted) {
			*err = xasprintf("no certificate could be issued: %s", x->ca_err ? x->ca_err : "no CA");
			r = -ENOKEY;
			goto restore;
		}
		certs_key_t k = {j->key_path, j->minted.key_pem};
		if ((r = certs_write_keys(st, &k, 1, CERTS_SYNC_EACH, err)) < 0) goto restore;
	}
	msg = xasprintf("%s on %s (attempt %s): %s", j->do_remove ? "replace" : "create",
	                                     j->rec.placement, j->rec.attempt, j->a->reason);
	if ((r = store_begin(st)) < 0 || (r = apply_put_cvm(st, &j->rec)) < 0 ||
	    (r = intent_event(st, j, "intent", msg)) < 0 ||
	    (j->need_cert && (r = certs_record(st, j->rec.id, &j->minted, j->key_path, true, NULL, err)) < 0) ||
	    (r = store_commit(st)) < 0) {
		free(*err);
		*err = xasprintf("cannot record the create intent: %s", store_errmsg(st));
		store_rollback(st);
		if (j->need_cert) unlink(j->key_path); /* no record names it */
		goto restore;
	}
	crash_point("after-intent-commit");
	return 0;
restore:
	/* The record keeps what it said: the resource is not on the target. */
	cvm_record_free(&j->rec);
	cvm_record_copy(&j->rec, &j->before);
	return r < 0 ? r : -EIO;
}
