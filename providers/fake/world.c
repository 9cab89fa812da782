/* The fake backend's worlds: a process-wide registry of named in-memory
 * clouds, the time that moves them, and the faults armed on them. One mutex
 * guards all of it: different provider_t may run on different threads (the
 * threading contract of provider.h), may share one world, and a test may
 * look at a world while they do. Contention does not matter in a fake. */
#include "providers/fake/world.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

static pthread_mutex_t fake_mutex = PTHREAD_MUTEX_INITIALIZER;
static fake_world_t **worlds;
static size_t n_worlds;

void fake_lock(void) {
	pthread_mutex_lock(&fake_mutex);
}

void fake_unlock(void) {
	pthread_mutex_unlock(&fake_mutex);
}

fake_world_t *world_get(const char *name, bool create) {
	for (size_t i = 0; i < n_worlds; i++)
		if (streq(worlds[i]->name, name)) return worlds[i];
	if (!create) return NULL;
	fake_world_t *w = xcalloc(1, sizeof *w);
	w->name = xstrdup(name);
	w->clock = clock_real;
	worlds = xrealloc(worlds, (n_worlds + 1) * sizeof *worlds);
	worlds[n_worlds++] = w;
	return w;
}

int64_t world_now(const fake_world_t *w) {
	return clock_now_ms(&w->clock);
}

/* ---- resources ---- */

static void files_free(fake_file_t *f, size_t n) {
	for (size_t i = 0; i < n; i++) {
		free(f[i].dir);
		free(f[i].name);
		free(f[i].data);
	}
	free(f);
}

static void fres_free(fres_t *r) {
	free(r->name);
	free(r->zone);
	free(r->scope);
	free(r->installation);
	free(r->spec_hash);
	free(r->attempt);
	files_free(r->files, r->n_files);
	free(r);
}

fres_t *world_find(const fake_world_t *w, const char *id) {
	for (size_t i = 0; id && i < w->n_res; i++)
		if (strcmp(w->res[i]->id, id) == 0) return w->res[i];
	return NULL;
}

fres_t *world_find_name(const fake_world_t *w, const char *name) {
	for (size_t i = 0; name && i < w->n_res; i++)
		if (streq(w->res[i]->name, name)) return w->res[i];
	return NULL;
}

fres_t *world_find_any(const fake_world_t *w, const char *id_or_name) {
	return uuid_valid(id_or_name) ? world_find(w, id_or_name) : world_find_name(w, id_or_name);
}

fres_t *world_add(fake_world_t *w, const char *id, const char *name, const char *zone) {
	fres_t *r = xcalloc(1, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	r->name = xstrdup(name);
	r->zone = xstrdup(zone);
	r->pending = FAKE_ANY;
	w->res = xrealloc(w->res, (w->n_res + 1) * sizeof *w->res);
	w->res[w->n_res++] = r;
	return r;
}

void world_drop(fake_world_t *w, fres_t *r) {
	for (size_t i = 0; i < w->n_res; i++) {
		if (w->res[i] != r) continue;
		memmove(&w->res[i], &w->res[i + 1], (w->n_res - i - 1) * sizeof *w->res);
		w->n_res--;
		fres_free(r);
		return;
	}
}

void world_set_files(fres_t *r, const prov_file_t *files, size_t n) {
	files_free(r->files, r->n_files);
	r->files = n ? xcalloc(n, sizeof *r->files) : NULL;
	r->n_files = n;
	for (size_t i = 0; i < n; i++) {
		r->files[i].dir = xstrdup(files[i].dir ? files[i].dir : "");
		r->files[i].name = xstrdup(files[i].name ? files[i].name : "");
		r->files[i].data = xmalloc(files[i].len ? files[i].len : 1);
		if (files[i].len) memcpy(r->files[i].data, files[i].data, files[i].len);
		r->files[i].len = files[i].len;
	}
}

/* Ends r's operation; false when that removed r from the world. */
static bool settle_one(fake_world_t *w, fres_t *r) {
	fake_call_t kind = r->pending;
	bool failed = r->pending_err != 0;
	r->pending = FAKE_ANY;
	r->pending_err = 0;
	if ((kind == FAKE_CREATE && failed) || (kind == FAKE_REMOVE && !failed)) {
		world_drop(w, r);
		return false;
	}
	if (failed) r->state = r->before; /* a remove or start that failed */
	else r->state = RES_RUNNING;      /* a create or start that succeeded */
	return true;
}

void world_settle(fake_world_t *w) {
	int64_t now = world_now(w);
	for (size_t i = 0; i < w->n_res;) {
		fres_t *r = w->res[i];
		if (r->pending != FAKE_ANY && now >= r->pending_until && !settle_one(w, r)) continue;
		i++;
	}
}

int world_pending(const fake_world_t *w) {
	int n = 0;
	for (size_t i = 0; i < w->n_res; i++) n += w->res[i]->pending != FAKE_ANY;
	return n;
}

/* ---- zones ---- */

fzone_t *world_zone(fake_world_t *w, const char *zone, bool create) {
	for (size_t i = 0; i < w->n_zones; i++)
		if (streq(w->zones[i].name, zone)) return &w->zones[i];
	if (!create) return NULL;
	w->zones = xrealloc(w->zones, (w->n_zones + 1) * sizeof *w->zones);
	fzone_t *z = &w->zones[w->n_zones++];
	z->name = xstrdup(zone);
	z->capacity = -1;
	z->down = NULL;
	return z;
}

int world_zone_vcpus(const fake_world_t *w, const char *zone, bool foreign_only) {
	int n = 0;
	for (size_t i = 0; i < w->n_res; i++)
		if (streq(w->res[i]->zone, zone) && (!foreign_only || !w->res[i]->managed)) n += w->res[i]->vcpus;
	return n;
}

bool world_zone_answers(fake_world_t *w, const char *zone, fake_call_t call, const char *name, char **why) {
	fzone_t *z = world_zone(w, zone, false);
	if (z && z->down) {
		*why = xasprintf("zone %s of world %s does not answer: %s", zone, w->name, z->down);
		return false;
	}
	ffault_t *f = world_take_fault(w, FAKE_ZONE_BLOCKS, call, name, zone, 0);
	if (!f) return true;
	*why = xasprintf("zone %s of world %s did not answer within the call timeout (injected)", zone, w->name);
	return false;
}

/* ---- faults ---- */

static bool fault_matches(const ffault_t *x, fake_fault_kind_t kind, fake_call_t call, const char *name,
                          const char *zone, int page) {
	const fake_fault_t *f = &x->f;
	if (x->left == 0 || f->kind != kind) return false;
	/* A listing fault reads as well said of the listing as of its pages. */
	bool list_call = kind == FAKE_LIST_FAIL && f->call == FAKE_OBSERVE;
	if (f->call != FAKE_ANY && f->call != call && !list_call) return false;
	if (f->name && kind != FAKE_VANISH && !streq(f->name, name)) return false;
	if (f->zone && kind != FAKE_VANISH && !streq(f->zone, zone)) return false;
	if (kind == FAKE_LIST_FAIL && (f->page ? f->page : 1) != page) return false;
	return true;
}

ffault_t *world_take_fault(fake_world_t *w, fake_fault_kind_t kind, fake_call_t call, const char *name,
                           const char *zone, int page) {
	for (size_t i = 0; i < w->n_faults; i++) {
		ffault_t *x = &w->faults[i];
		if (!fault_matches(x, kind, call, name, zone, page)) continue;
		x->hits++;
		if (x->left > 0) x->left--;
		return x;
	}
	return NULL;
}

void world_vanish_due(fake_world_t *w, fake_call_t call) {
	ffault_t *f;
	while ((f = world_take_fault(w, FAKE_VANISH, call, NULL, NULL, 0))) {
		fres_t *r = world_find_any(w, f->f.name);
		if (r) world_drop(w, r);
		if (f->left < 0) break; /* a standing fault: once per call */
	}
}

static void faults_free(fake_world_t *w) {
	for (size_t i = 0; i < w->n_faults; i++) {
		free((char *)w->faults[i].f.name);
		free((char *)w->faults[i].f.zone);
	}
	free(w->faults);
	w->faults = NULL;
	w->n_faults = 0;
}

/* ---- the test interface (fake.h): each takes the lock ---- */

fake_world_t *fake_world(const char *name) {
	fake_lock();
	fake_world_t *w = world_get(name, true);
	fake_unlock();
	return w;
}

fake_world_t *fake_world_find(const char *name) {
	fake_lock();
	fake_world_t *w = world_get(name, false);
	fake_unlock();
	return w;
}

static void world_empty(fake_world_t *w) {
	for (size_t i = 0; i < w->n_res; i++) fres_free(w->res[i]);
	free(w->res);
	w->res = NULL;
	w->n_res = 0;
	for (size_t i = 0; i < w->n_zones; i++) {
		free(w->zones[i].name);
		free(w->zones[i].down);
	}
	free(w->zones);
	w->zones = NULL;
	w->n_zones = 0;
	faults_free(w);
	memset(w->calls, 0, sizeof w->calls);
	free(w->submit_at);
	w->submit_at = NULL;
	w->n_submits = 0;
	w->peak_pending = 0;
	w->throttled_until = 0;
}

void fake_world_reset(fake_world_t *w) {
	fake_lock();
	world_empty(w);
	fake_unlock();
}

int fake_worlds_clear(void) {
	fake_lock();
	for (size_t i = 0; i < n_worlds; i++) {
		if (worlds[i]->n_open) {
			fake_unlock();
			return -EBUSY;
		}
	}
	for (size_t i = 0; i < n_worlds; i++) {
		world_empty(worlds[i]);
		free(worlds[i]->name);
		free(worlds[i]);
	}
	free(worlds);
	worlds = NULL;
	n_worlds = 0;
	fake_unlock();
	return 0;
}

void fake_world_set_clock(fake_world_t *w, const clock_src_t *clock) {
	fake_lock();
	w->clock = clock ? *clock : clock_real;
	fake_unlock();
}

void fake_world_set_capacity(fake_world_t *w, const char *zone, int vcpus) {
	fake_lock();
	world_zone(w, zone, true)->capacity = vcpus;
	fake_unlock();
}

void fake_world_set_zone_down(fake_world_t *w, const char *zone, const char *why) {
	fake_lock();
	fzone_t *z = world_zone(w, zone, true);
	free(z->down);
	z->down = xstrdup(why);
	fake_unlock();
}

int fake_world_inject(fake_world_t *w, const fake_fault_t *f) {
	if (!f || f->kind < FAKE_FAIL_SUBMIT || f->kind > FAKE_ZONE_BLOCKS || f->call < FAKE_ANY ||
	    f->call >= FAKE__NCALLS || (f->kind == FAKE_VANISH && !f->name) ||
	    (f->kind == FAKE_THROTTLE && f->retry_after_ms < 0) || f->page < 0 || f->err > 0)
		return -EINVAL;
	fake_lock();
	w->faults = xrealloc(w->faults, (w->n_faults + 1) * sizeof *w->faults);
	ffault_t *x = &w->faults[w->n_faults];
	x->f = *f;
	x->f.name = xstrdup(f->name);
	x->f.zone = xstrdup(f->zone);
	x->left = f->times == 0 ? 1 : f->times < 0 ? -1 : f->times;
	x->hits = 0;
	int n = (int)w->n_faults++;
	fake_unlock();
	return n;
}

int fake_world_fault_hits(fake_world_t *w, int fault) {
	fake_lock();
	int hits = fault >= 0 && (size_t)fault < w->n_faults ? w->faults[fault].hits : 0;
	fake_unlock();
	return hits;
}

void fake_world_clear_faults(fake_world_t *w) {
	fake_lock();
	faults_free(w);
	fake_unlock();
}
