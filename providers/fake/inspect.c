/* What a test sees of a fake world (fake.h): copies of its resources, the
 * changes made behind cvmctl's back, and the counters. Each function takes
 * the lock and lets the world's time catch up first, so a test reads what
 * a real cloud would answer at that moment. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "providers/fake/world.h"

static void info_from(fake_res_info_t *o, const fake_world_t *w, const fres_t *r) {
	memset(o, 0, sizeof *o);
	snprintf(o->id, sizeof o->id, "%s", r->id);
	o->name = xstrdup(r->name);
	o->zone = xstrdup(r->zone);
	o->handle = xasprintf("fake://%s/%s/%s", w->name, r->zone, r->id);
	o->managed = r->managed;
	o->scope = xstrdup(r->scope);
	o->installation = xstrdup(r->installation);
	o->spec_hash = xstrdup(r->spec_hash);
	o->attempt = xstrdup(r->attempt);
	o->state = r->state;
	o->vcpus = r->vcpus;
	o->memory_gib = r->memory_gib;
	o->n_files = r->n_files;
	o->files = r->n_files ? xcalloc(r->n_files, sizeof *o->files) : NULL;
	for (size_t i = 0; i < r->n_files; i++) {
		o->files[i].dir = xstrdup(r->files[i].dir);
		o->files[i].name = xstrdup(r->files[i].name);
		o->files[i].data = xmalloc(r->files[i].len + 1);
		memcpy(o->files[i].data, r->files[i].data, r->files[i].len);
		o->files[i].data[r->files[i].len] = 0; /* a test may read text as a string */
		o->files[i].len = r->files[i].len;
	}
}

void fake_res_info_free(fake_res_info_t *r) {
	free(r->name);
	free(r->zone);
	free(r->handle);
	free(r->scope);
	free(r->installation);
	free(r->spec_hash);
	free(r->attempt);
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].dir);
		free(r->files[i].name);
		free(r->files[i].data);
	}
	free(r->files);
	memset(r, 0, sizeof *r);
}

void fake_res_list_free(fake_res_info_t *v, size_t n) {
	for (size_t i = 0; i < n; i++) fake_res_info_free(&v[i]);
	free(v);
}

const fake_file_t *fake_res_file(const fake_res_info_t *r, const char *dir, const char *name) {
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].dir, dir) == 0 && strcmp(r->files[i].name, name) == 0) return &r->files[i];
	return NULL;
}

size_t fake_world_count(fake_world_t *w) {
	fake_lock();
	world_settle(w);
	size_t n = w->n_res;
	fake_unlock();
	return n;
}

size_t fake_world_list(fake_world_t *w, fake_res_info_t **out) {
	fake_lock();
	world_settle(w);
	size_t n = w->n_res;
	*out = n ? xcalloc(n, sizeof **out) : NULL;
	for (size_t i = 0; i < n; i++) info_from(&(*out)[i], w, w->res[i]);
	fake_unlock();
	return n;
}

int fake_world_res(fake_world_t *w, const char *id_or_name, fake_res_info_t *out) {
	memset(out, 0, sizeof *out);
	fake_lock();
	world_settle(w);
	const fres_t *r = world_find_any(w, id_or_name);
	if (r) info_from(out, w, r);
	fake_unlock();
	return r ? 0 : -ENOENT;
}

int fake_world_vanish(fake_world_t *w, const char *id_or_name) {
	fake_lock();
	world_settle(w);
	fres_t *r = world_find_any(w, id_or_name);
	if (r) world_drop(w, r);
	fake_unlock();
	return r ? 0 : -ENOENT;
}

/* A shut-off resource has no operation in flight any more: one under way
 * when it stopped ends with it (a start must be submitted again). */
int fake_world_stop(fake_world_t *w, const char *id_or_name) {
	fake_lock();
	world_settle(w);
	fres_t *r = world_find_any(w, id_or_name);
	if (r && r->pending != FAKE_REMOVE) {
		r->pending = FAKE_ANY;
		r->pending_err = 0;
		r->state = RES_STOPPED;
	}
	fake_unlock();
	return r ? 0 : -ENOENT;
}

int fake_world_add_foreign(fake_world_t *w, const char *zone, const char *name, int vcpus, char id_out[37]) {
	char id[37];
	uuid_generate_v4(id);
	fake_lock();
	int r = 0;
	if (world_find_name(w, name)) {
		r = -EEXIST;
	} else {
		fres_t *x = world_add(w, id, name, zone);
		x->managed = false;
		x->state = RES_RUNNING;
		x->vcpus = vcpus;
		x->memory_gib = 2;
	}
	fake_unlock();
	if (r == 0 && id_out) memcpy(id_out, id, sizeof id);
	return r;
}

long fake_world_calls(fake_world_t *w, fake_call_t kind) {
	fake_lock();
	long n = 0;
	if (kind == FAKE_ANY) {
		for (int k = FAKE_ANY + 1; k < FAKE__NCALLS; k++) n += w->calls[k];
	} else if (kind > FAKE_ANY && kind < FAKE__NCALLS) {
		n = w->calls[kind];
	}
	fake_unlock();
	return n;
}

long fake_world_submits(fake_world_t *w) {
	fake_lock();
	long n = (long)w->n_submits;
	fake_unlock();
	return n;
}

/* Submissions are logged in world time, which never goes back: a sliding
 * window over the sorted log. */
long fake_world_max_submits_within(fake_world_t *w, int64_t window_ms) {
	fake_lock();
	long best = 0;
	for (size_t lo = 0, hi = 0; hi < w->n_submits; hi++) {
		while (lo < hi && w->submit_at[hi] - w->submit_at[lo] >= window_ms) lo++;
		if ((long)(hi - lo + 1) > best) best = (long)(hi - lo + 1);
	}
	fake_unlock();
	return best;
}

int fake_world_peak_pending(fake_world_t *w) {
	fake_lock();
	int n = w->peak_pending;
	fake_unlock();
	return n;
}

void fake_world_reset_counters(fake_world_t *w) {
	fake_lock();
	memset(w->calls, 0, sizeof w->calls);
	free(w->submit_at);
	w->submit_at = NULL;
	w->n_submits = 0;
	w->peak_pending = 0;
	fake_unlock();
}
