/* The fake backend's submissions and their operations. A create, remove or
 * start puts an operation in flight on the resource itself (fres_t.pending):
 * the world ends it when latencyMs has elapsed on its clock, whether or not
 * anybody polls, as a cloud would. A prov_op_t is only a ticket for that
 * operation, so a retry of the same submission hands out a ticket for the
 * same operation, and a lost reply loses only the ticket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/fake/world.h"

struct prov_op {
	fake_world_t *w;
	fake_call_t kind;
	char id[37];
	char *zone;
	int64_t done_at;
	int fail; /* the operation fails with this at done_at; 0: it succeeds */
};

static const char *verb(fake_call_t kind) {
	switch (kind) {
	case FAKE_CREATE: return "create";
	case FAKE_REMOVE: return "delete";
	case FAKE_START: return "start";
	case FAKE_UPDATE: return "update";
	default: return "call";
	}
}

static bool same(const char *a, const char *b) {
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static char *handle_of(const fake_world_t *w, const char *zone, const char *id) {
	return xasprintf("fake://%s/%s/%s", w->name, zone, id);
}

static int clamp_ms(int64_t ms) {
	return ms <= 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

static prov_op_t *op_for(const fake_world_t *w, const fres_t *x, fake_call_t kind) {
	prov_op_t *op = xcalloc(1, sizeof *op);
	op->w = (fake_world_t *)w;
	op->kind = kind;
	snprintf(op->id, sizeof op->id, "%s", x->id);
	op->zone = xstrdup(x->zone);
	op->done_at = x->pending_until;
	op->fail = x->pending_err;
	return op;
}

/* A ticket for the operation already in flight on x (a retry). */
static int in_flight(const fake_world_t *w, const fres_t *x, fake_call_t kind, prov_call_t *call) {
	call->op = op_for(w, x, kind);
	call->again_ms = clamp_ms(x->pending_until - world_now(w));
	return 0;
}

void fake_op_free(prov_op_t *op) {
	if (!op) return;
	free(op->zone);
	free(op);
}

/* What every mutating submission meets before the world looks at it: it is
 * counted and timestamped, the world's time and vanishings catch up, then
 * an unanswering zone, a rate limit or an injected failure may refuse it. */
static int gate(provider_t *p, fake_call_t kind, const char *name, const char *zone, prov_call_t *call) {
	fake_world_t *w = p->w;
	int64_t now = world_now(w);
	w->calls[kind]++;
	w->submit_at = xrealloc(w->submit_at, (w->n_submits + 1) * sizeof *w->submit_at);
	w->submit_at[w->n_submits++] = now;
	world_vanish_due(w, kind);
	world_settle(w);
	_cleanup_free_ char *why = NULL;
	if (zone && !world_zone_answers(w, zone, kind, name, &why)) {
		call->err = TAKE_PTR(why);
		return -ETIMEDOUT;
	}
	ffault_t *f = NULL;
	if (now < w->throttled_until || (f = world_take_fault(w, FAKE_THROTTLE, kind, name, zone, 0))) {
		if (f) w->throttled_until = now + f->f.retry_after_ms;
		call->again_ms = clamp_ms(w->throttled_until - now);
		call->err = xasprintf("world %s: 429 Too Many Requests on %s of %s (Retry-After: %d ms)", w->name,
		                      verb(kind), name ? name : "?", call->again_ms);
		return -EAGAIN;
	}
	f = world_take_fault(w, FAKE_FAIL_SUBMIT, kind, name, zone, 0);
	if (f) {
		call->err = xasprintf("world %s: %s of %s refused (injected)", w->name, verb(kind), name ? name : "?");
		return f->f.err ? f->f.err : -EIO;
	}
	return 0;
}

/* What every submission meets after the world acted on it: the peak of
 * operations in flight is sampled, and the reply may be lost. */
static int finish(provider_t *p, fake_call_t kind, const char *name, const char *zone, int r, prov_call_t *call) {
	fake_world_t *w = p->w;
	int pending = world_pending(w);
	if (pending > w->peak_pending) w->peak_pending = pending;
	if (r < 0) return r;
	ffault_t *f = world_take_fault(w, FAKE_LOST_RESPONSE, kind, name, zone, 0);
	if (!f) return r;
	fake_op_free(call->op);
	call->op = NULL;
	free(call->handle);
	call->handle = NULL;
	call->again_ms = 0;
	call->err = xasprintf("world %s: no reply to the %s of %s within the call timeout; it may have been carried "
	                      "out (injected)",
	                      w->name, verb(kind), name ? name : "?");
	return f->f.err ? f->f.err : -ETIMEDOUT;
}

/* Puts an operation of `kind` in flight on x, ending after the provider's
 * latency; with no latency it ends now and the call reports how. */
static int begin(provider_t *p, fres_t *x, fake_call_t kind, res_state_t before, prov_call_t *call) {
	fake_world_t *w = p->w;
	ffault_t *f = world_take_fault(w, FAKE_FAIL_OP, kind, x->name, x->zone, 0);
	x->before = before;
	x->state = RES_PENDING;
	x->pending = kind;
	x->pending_until = world_now(w) + p->latency_ms;
	x->pending_err = f ? (f->f.err ? f->f.err : -EIO) : 0;
	if (p->latency_ms > 0) return in_flight(w, x, kind, call);
	int err = x->pending_err;
	_cleanup_free_ char *handle = handle_of(w, x->zone, x->id);
	_cleanup_free_ char *what = xasprintf("%s of %s (%s)", verb(kind), x->name, x->id);
	world_settle(w); /* x may be gone now */
	if (err) {
		call->err = xasprintf("world %s: %s failed (injected)", w->name, what);
		return err;
	}
	if (kind == FAKE_CREATE) call->handle = TAKE_PTR(handle);
	return 0;
}

/* ---- create ---- */

/* The id exists: a retry of this attempt carries on, anything else is
 * refused, and a resource that is not ours is never touched. */
static int create_again(provider_t *p, fres_t *x, const cvm_desired_t *want, prov_call_t *call) {
	fake_world_t *w = p->w;
	const char *where = x->zone;
	if (!x->managed) {
		call->err = xasprintf("a resource with id %s that cvmctl does not own exists in zone %s of world %s", x->id,
		                      where, w->name);
		return -EEXIST;
	}
	if (!same(x->installation, want->installation)) {
		call->err = xasprintf("resource %s in zone %s of world %s belongs to installation %s, not %s: not touched",
		                      x->id, where, w->name, x->installation ? x->installation : "(none)",
		                      want->installation ? want->installation : "(none)");
		return -EEXIST;
	}
	if (!same(x->attempt, want->attempt)) {
		call->err = xasprintf("resource %s in zone %s of world %s belongs to create attempt %s, not %s: remove it "
		                      "first",
		                      x->id, where, w->name, x->attempt ? x->attempt : "(none)", want->attempt);
		return -EEXIST;
	}
	if (x->pending == FAKE_REMOVE) {
		call->err = xasprintf("resource %s in zone %s of world %s is being deleted", x->id, where, w->name);
		return -EEXIST;
	}
	if (x->pending == FAKE_CREATE) return in_flight(w, x, FAKE_CREATE, call);
	call->handle = handle_of(w, x->zone, x->id);
	return 0;
}

static int create_locked(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	fake_world_t *w = p->w;
	const char *zone = want->placement;
	int r = gate(p, FAKE_CREATE, want->name, zone, call);
	if (r < 0) return r;
	if (!fake_has_zone(p, zone)) {
		call->err = xasprintf("'%s' is not a zone of fake provider %s", zone, p->name);
		return -EINVAL;
	}
	fres_t *x = world_find(w, want->id);
	if (x) return create_again(p, x, want, call);
	const fres_t *other = world_find_name(w, want->name);
	if (other) {
		call->err = xasprintf("a resource named %s already exists in zone %s of world %s (%s %s)", want->name,
		                      other->zone, w->name, other->managed ? "cvmctl CVM" : "not cvmctl's:", other->id);
		return -EEXIST;
	}
	const fzone_t *z = world_zone(w, zone, false);
	int held = world_zone_vcpus(w, zone, false);
	if (z && z->capacity >= 0 && held + want->vcpus > z->capacity) {
		call->err = xasprintf("zone %s of world %s has no room for %d vCPUs (%d of %d held)", zone, w->name,
		                      want->vcpus, held, z->capacity);
		return -ENOSPC;
	}
	x = world_add(w, want->id, want->name, zone);
	x->managed = true;
	x->scope = xstrdup(want->scope);
	x->installation = xstrdup(want->installation);
	x->spec_hash = xstrdup(want->spec_hash);
	x->attempt = xstrdup(want->attempt);
	x->vcpus = want->vcpus;
	x->memory_gib = want->memory_gib;
	x->agent_port = want->agent_port;
	world_set_files(x, want->files, want->n_files); /* what cloud-init writes at first boot */
	return begin(p, x, FAKE_CREATE, RES_PENDING, call);
}

int fake_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	fake_lock();
	int r = create_locked(p, want, call);
	r = finish(p, FAKE_CREATE, want->name, want->placement, r, call);
	fake_unlock();
	return r;
}

/* ---- poll ---- */

int fake_poll(provider_t *p, prov_op_t *op, prov_call_t *call) {
	fake_lock();
	fake_world_t *w = p->w;
	w->calls[FAKE_POLL]++;
	world_vanish_due(w, FAKE_POLL);
	world_settle(w);
	int64_t now = world_now(w);
	_cleanup_free_ char *why = NULL;
	int r;
	if (op->w != w) {
		call->err = xasprintf("an operation of world %s polled through provider %s of world %s", op->w->name,
		                      p->name, w->name);
		r = -EINVAL;
	} else if (!world_zone_answers(w, op->zone, FAKE_POLL, NULL, &why)) {
		call->err = TAKE_PTR(why);
		r = -ETIMEDOUT;
	} else if (now < op->done_at) {
		call->again_ms = clamp_ms(op->done_at - now);
		r = 0;
	} else if (op->fail) {
		call->err = xasprintf("world %s: %s of %s in zone %s failed (injected)", w->name, verb(op->kind), op->id,
		                      op->zone);
		r = op->fail;
	} else {
		if (op->kind == FAKE_CREATE) call->handle = handle_of(w, op->zone, op->id);
		r = 1;
	}
	fake_unlock();
	return r;
}

/* ---- remove, start, update ---- */

/* The zone a target lives in: its placement, else its handle's
 * ("fake://WORLD/ZONE/ID"), else NULL (anywhere in the world). */
static char *target_zone(const prov_target_t *t) {
	if (t->placement && *t->placement) return xstrdup(t->placement);
	const char *h = t->handle;
	if (!h || strncmp(h, "fake://", 7) != 0 || !(h = strchr(h + 7, '/'))) return NULL;
	const char *end = strchr(++h, '/');
	return end && end > h ? xasprintf("%.*s", (int)(end - h), h) : NULL;
}

/* Ours, by id, in that zone (NULL: any); -ENOENT (no sentence) when it is
 * not there, -EPERM when it is not ours. */
static int find_ours(fake_world_t *w, const char *id, const char *zone, const char *what, fres_t **out,
                     prov_call_t *call) {
	fres_t *x = world_find(w, id);
	if (!x || (zone && strcmp(x->zone, zone) != 0)) return -ENOENT;
	if (!x->managed) {
		call->err = xasprintf("refusing to %s %s (%s) in zone %s of world %s: cvmctl does not own it", what, x->name,
		                      id, x->zone, w->name);
		return -EPERM;
	}
	*out = x;
	return 0;
}

static int remove_locked(provider_t *p, const prov_target_t *t, const char *zone, prov_call_t *call) {
	fres_t *x;
	int r = gate(p, FAKE_REMOVE, t->name, zone, call);
	if (r == 0) r = find_ours(p->w, t->id, zone, "delete", &x, call);
	if (r == -ENOENT) return 0; /* absent is success */
	if (r < 0) return r;
	if (x->pending == FAKE_REMOVE) return in_flight(p->w, x, FAKE_REMOVE, call);
	/* A failed delete leaves it as it was, or running when it was still
	 * being created or started. */
	return begin(p, x, FAKE_REMOVE, x->pending != FAKE_ANY ? RES_RUNNING : x->state, call);
}

int fake_remove(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	_cleanup_free_ char *zone = target_zone(t);
	fake_lock();
	int r = remove_locked(p, t, zone, call);
	r = finish(p, FAKE_REMOVE, t->name, zone, r, call);
	fake_unlock();
	return r;
}

static int start_locked(provider_t *p, const prov_target_t *t, const char *zone, prov_call_t *call) {
	fake_world_t *w = p->w;
	fres_t *x;
	int r = gate(p, FAKE_START, t->name, zone, call);
	if (r == 0) r = find_ours(w, t->id, zone, "start", &x, call);
	if (r == 0 && x->pending == FAKE_REMOVE) r = -ENOENT;
	if (r == -ENOENT && !call->err)
		call->err = xasprintf("no resource %s in %s%s of world %s", t->id, zone ? "zone " : "any zone",
		                      zone ? zone : "", w->name);
	if (r < 0) return r;
	/* Being created or started: this start ends when that does. */
	if (x->pending != FAKE_ANY) return in_flight(w, x, FAKE_START, call);
	if (x->state == RES_RUNNING) return 0;
	return begin(p, x, FAKE_START, x->state, call);
}

int fake_start(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	_cleanup_free_ char *zone = target_zone(t);
	fake_lock();
	int r = start_locked(p, t, zone, call);
	r = finish(p, FAKE_START, t->name, zone, r, call);
	fake_unlock();
	return r;
}

/* The delivery channel (metadata, userData) is rewritten at once: files
 * and markers, never the size (a replace). */
static int update_locked(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, const char *zone,
                         prov_call_t *call) {
	fake_world_t *w = p->w;
	fres_t *x;
	int r = gate(p, FAKE_UPDATE, want->name, zone, call);
	if (r == 0) r = find_ours(w, t->id, zone, "update", &x, call);
	if (r == 0 && x->pending == FAKE_REMOVE) r = -ENOENT;
	if (r == -ENOENT && !call->err)
		call->err = xasprintf("no resource %s in %s%s of world %s", t->id, zone ? "zone " : "any zone",
		                      zone ? zone : "", w->name);
	if (r < 0) return r;
	world_set_files(x, want->files, want->n_files);
	free(x->scope);
	x->scope = xstrdup(want->scope);
	free(x->installation);
	x->installation = xstrdup(want->installation);
	free(x->spec_hash);
	x->spec_hash = xstrdup(want->spec_hash);
	return 0;
}

int fake_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call) {
	prov_target_t where = *t;
	if (!where.placement && !where.handle) where.placement = want->placement;
	_cleanup_free_ char *zone = target_zone(&where);
	fake_lock();
	int r = update_locked(p, t, want, zone, call);
	r = finish(p, FAKE_UPDATE, want->name, zone, r, call);
	fake_unlock();
	return r;
}
