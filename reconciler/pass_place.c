/* Where each create and replace of a plan goes, chosen when the plan is
 * made so that the plan can show it and a saved plan is applied to the
 * same places (apply takes them from the actions: intent.c).
 *
 * In plan order, as apply used to choose them one job after the other:
 * what cvmctl placed on a provider is every record there that is neither
 * Inactive nor the CVM itself, where an earlier action of the plan moves
 * it (an earlier create's or replace's chosen place) or frees it (an
 * earlier delete), plus every earlier new CVM's chosen place. A resumed
 * create whose recorded place still answers keeps it (its resource may
 * exist there already). */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/pass.h"

static bool placement_known(const pass_backend_t *b, const char *placement) {
	if (!b || !b->observed || !placement) return false;
	for (size_t i = 0; i < b->obs.n_unknown; i++)
		if (strcmp(b->obs.unknown[i].placement, placement) == 0) return false;
	return true;
}

static bool places(const action_t *a) {
	return !a->refused && (a->kind == ACT_CREATE || a->kind == ACT_REPLACE);
}

/* The earlier action (before index `upto`) that speaks for id, or NULL. */
static const action_t *earlier(const plan_t *pl, size_t upto, const char *id) {
	for (size_t k = 0; k < upto; k++)
		if (!pl->v[k].refused && strcmp(pl->v[k].id, id) == 0) return &pl->v[k];
	return NULL;
}

static placement_use_t *usage_before(const pass_t *p, size_t upto, const char *provider, const char *self,
                                     size_t *n_out) {
	const plan_t *pl = &p->plan;
	placement_use_t *u = xcalloc(p->n_records + pl->n + 1, sizeof *u);
	size_t n = 0;
	for (size_t i = 0; i < p->n_records; i++) {
		const cvm_record_t *r = &p->records[i];
		if (r->status == ST_INACTIVE || !r->placement || strcmp(r->provider, provider) != 0) continue;
		if (strcmp(r->id, self) == 0) continue;
		const action_t *a = earlier(pl, upto, r->id);
		if (a && a->kind == ACT_DELETE) continue;
		if (a && places(a)) continue; /* counted below, where it goes */
		u[n++] = (placement_use_t){r->placement, r->vcpus, r->memory_gib};
	}
	for (size_t k = 0; k < upto; k++) {
		const action_t *a = &pl->v[k];
		if (!places(a) || !a->placement || !a->provider || strcmp(a->provider, provider) != 0) continue;
		if (strcmp(a->id, self) == 0) continue;
		u[n++] = (placement_use_t){a->placement, a->spec->vcpus, a->spec->memory_gib};
	}
	*n_out = n;
	return u;
}

void pass_place(pass_t *p) {
	plan_t *pl = &p->plan;
	for (size_t i = 0; i < pl->n; i++) {
		action_t *a = &pl->v[i];
		if (!places(a) || !a->spec || a->provider_idx >= p->n_backends) continue;
		pass_backend_t *b = &p->backends[a->provider_idx];
		if (!b->conn) continue; /* apply fails it: the provider cannot be reached */
		const cvm_record_t *r = a->record;
		if (a->kind == ACT_CREATE && r && r->placement && placement_known(b, r->placement) &&
		    strcmp(r->provider, b->cfg.name) == 0) {
			a->placement = xstrdup(r->placement);
			log_kv(LOG_DEBUG,
			       LOG_FIELDS(LOG_S("cvm", a->name), LOG_S("id", a->id), LOG_S("provider", b->cfg.name),
			                  LOG_S("placement", a->placement), LOG_S("action", action_kind_name(a->kind))),
			       "placed %s where its record says", a->name);
			continue;
		}
		size_t n_used;
		_cleanup_free_ placement_use_t *used = usage_before(p, i, b->cfg.name, a->id, &n_used);
		cvm_desired_t w = {.id = a->id, .name = a->name, .vcpus = a->spec->vcpus, .memory_gib = a->spec->memory_gib};
		char *where = NULL, *err = NULL;
		if (prov_place(b->ops, b->conn, &w, used, n_used, &where, &err) < 0) {
			a->place_err = err ? err : xstrdup("no placement could be chosen");
			free(where);
			log_kv(LOG_DEBUG,
			       LOG_FIELDS(LOG_S("cvm", a->name), LOG_S("id", a->id), LOG_S("provider", b->cfg.name),
			                  LOG_S("action", action_kind_name(a->kind)), LOG_S("error", a->place_err)),
			       "no placement for %s", a->name);
			continue;
		}
		free(err);
		a->placement = where;
		log_kv(LOG_DEBUG,
		       LOG_FIELDS(LOG_S("cvm", a->name), LOG_S("id", a->id), LOG_S("provider", b->cfg.name),
		                  LOG_S("placement", a->placement), LOG_S("action", action_kind_name(a->kind)),
		                  LOG_N("vcpus", w.vcpus), LOG_N("memory_gib", w.memory_gib), LOG_N("in_use", n_used)),
		       "placed %s", a->name);
	}
}
