/* The live view of the reconciler's reading commands (live.h). */
#include "reconciler/cli/live.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"
#include "reconciler/provider_record.h"

/* Without the spec tree: reach each provider of an active record with the
 * settings the last reconcile recorded. */
typedef struct recorded_backend {
	provider_config_t cfg;
	provider_holder_t holder;
	const provider_ops_t *ops;
	provider_t *conn;
	observation_t obs;
	char *why;
	bool loaded;
} recorded_backend_t;

static void observe_recorded(live_view_t *w, store_t *st, const cvm_record_t *v, size_t n) {
	recorded_backend_t *rb = xcalloc(n + 1, sizeof *rb);
	live_t *l = xcalloc(n + 1, sizeof *l);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].status == ST_INACTIVE) continue;
		bool seen = false;
		for (size_t k = 0; k < m; k++)
			if (strcmp(l[k].name, v[i].provider) == 0) seen = true;
		if (seen) continue;
		recorded_backend_t *b = &rb[m];
		l[m].name = v[i].provider;
		m++;
		char *err = NULL;
		if (provider_record_load(st, v[i].provider, &b->cfg, &b->holder) < 0) {
			log_warn("provider %s: no recorded settings (run a reconcile, or pass -f)", v[i].provider);
			b->why = xstrdup("no recorded settings");
			l[m - 1].why = b->why;
			continue;
		}
		b->loaded = true;
		if (!(b->ops = provider_ops_for(b->cfg.flavor)) || prov_open(b->ops, &b->cfg, &b->conn, &err) < 0 ||
		    prov_observe(b->ops, b->conn, NULL, 0, &b->obs, &err) < 0) {
			b->why = xstrdup(err ? err : "backend not built in");
			log_warn("provider %s cannot be observed: %s", v[i].provider, b->why);
			l[m - 1].why = b->why;
			free(err);
			continue;
		}
		free(err);
		l[m - 1].obs = &b->obs;
		for (size_t u = 0; u < b->obs.n_unknown; u++)
			log_warn("host %s of provider %s cannot be observed: %s", b->obs.unknown[u].placement, v[i].provider,
			         b->obs.unknown[u].why);
	}
	w->rb = rb;
	w->lv = l;
	w->n = m;
}

int live_view_open(live_view_t *w, store_t *st, const cvm_record_t *v, size_t n, const pass_opts_t *o, bool full) {
	*w = (live_view_t){0};
	if (!o->n_paths) {
		observe_recorded(w, st, v, n);
		return 0;
	}
	w->from_specs = true;
	int code = pass_prepare(&w->p, st, G.scope, o);
	if (code) return code;
	w->lv = xcalloc(w->p.n_backends + 1, sizeof *w->lv);
	for (size_t i = 0; i < w->p.n_backends; i++) {
		pass_backend_t *b = &w->p.backends[i];
		/* A pass observes knowing the records, and a backend may then
		 * trust them for what it does not re-read (markers): a full look
		 * is what drift is judged from. */
		if (full && b->observed) {
			char *err = NULL;
			observation_t again = {0};
			if (prov_observe(b->ops, b->conn, NULL, 0, &again, &err) < 0) {
				observation_free(&b->obs);
				b->observed = false;
				free(b->why);
				b->why = err ? err : xstrdup("cannot observe the backend");
				log_warn("provider %s cannot be observed: %s", b->cfg.name, b->why);
			} else {
				free(err);
				observation_free(&b->obs);
				b->obs = again;
			}
		}
		w->lv[w->n++] = (live_t){b->cfg.name, b->observed ? &b->obs : NULL, b->why};
	}
	return 0;
}

void live_view_free(live_view_t *w) {
	if (w->from_specs) pass_free(&w->p);
	for (size_t i = 0; w->rb && i < w->n; i++) {
		recorded_backend_t *b = &w->rb[i];
		observation_free(&b->obs);
		if (b->conn) b->ops->close(b->conn);
		if (b->loaded) provider_record_release(&b->cfg, &b->holder);
		free(b->why);
	}
	free(w->rb);
	free(w->lv);
	*w = (live_view_t){0};
}

live_seen_t live_view_find(const live_view_t *w, const cvm_record_t *r, const observed_t **o, const char **why) {
	*o = NULL;
	*why = NULL;
	const live_t *l = NULL;
	for (size_t k = 0; k < w->n; k++)
		if (strcmp(w->lv[k].name, r->provider) == 0) l = &w->lv[k];
	if (!l) return LIVE_NO_PROVIDER;
	if (!l->obs) {
		*why = l->why;
		return LIVE_UNKNOWN;
	}
	for (size_t u = 0; u < l->obs->n_unknown; u++)
		if (r->placement && strcmp(l->obs->unknown[u].placement, r->placement) == 0) {
			*why = l->obs->unknown[u].why;
			return LIVE_UNKNOWN;
		}
	if (l->obs->all_unknown) {
		*why = l->obs->n_unknown ? l->obs->unknown[0].why : NULL;
		return LIVE_UNKNOWN;
	}
	for (size_t k = 0; k < l->obs->n; k++)
		if (strcmp(l->obs->v[k].id, r->id) == 0) {
			*o = &l->obs->v[k];
			return LIVE_FOUND;
		}
	return LIVE_MISSING;
}
