#include "reconciler/pass.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/timing.h"
#include "common/util.h"
#include "reconciler/known.h"
#include "reconciler/provider_record.h"
#include "reconciler/schemas.h"

/* Observing is network-bound (a dead host waits out its timeout), so every
 * backend is observed at once. */
static void *observe_one(void *arg) {
	pass_backend_t *b = arg;
	if (!b->ops) {
		b->why = xasprintf("the %s backend is not built into this cvmctl", b->cfg.flavor);
		return NULL;
	}
	char *err = NULL;
	int64_t t0 = mono_ns();
	if (prov_open(b->ops, &b->cfg, &b->conn, &err) < 0) {
		b->why = err ? err : xstrdup("cannot open the backend");
		b->conn = NULL;
		return NULL;
	}
	int64_t t1 = mono_ns();
	log_kv(LOG_DEBUG, LOG_FIELDS(LOG_S("provider", b->cfg.name), LOG_S("flavor", b->cfg.flavor),
	                             LOG_N("duration", (double)(t1 - t0) / 1e9)),
	       "connected to provider %s", b->cfg.name);
	err = NULL;
	if (prov_observe(b->ops, b->conn, b->known, b->n_known, &b->obs, &err) < 0) {
		b->why = err ? err : xstrdup("cannot observe the backend");
		observation_free(&b->obs);
		return NULL;
	}
	free(err);
	b->observed = true;
	log_kv(LOG_DEBUG, LOG_FIELDS(LOG_S("provider", b->cfg.name), LOG_N("resources", b->obs.n),
	                             LOG_N("duration", (double)(mono_ns() - t1) / 1e9)),
	       "observed provider %s", b->cfg.name);
	return NULL;
}

int pass_backend_index(const pass_t *p, const char *provider) {
	if (!provider) return -1;
	for (size_t i = 0; i < p->n_backends; i++)
		if (strcmp(p->backends[i].cfg.name, provider) == 0) return (int)i;
	return -1;
}

int pass_prepare(pass_t *p, store_t *st, const char *scope, const pass_opts_t *o) {
	memset(p, 0, sizeof *p);
	p->store = st;
	p->scope = scope;
	diags_t d = {0};
	int64_t t = mono_ns();
	if (spec_load(o->paths, o->n_paths, engine_schemas(), &p->specs, &d) < 0) {
		diags_print(&d);
		log_error("%zu problem%s in the specs; nothing was changed", d.n, d.n == 1 ? "" : "s");
		diags_free(&d);
		return EXIT_INVALID;
	}
	diags_free(&d);
	if (p->specs.skipped) log_info("%s", p->specs.skipped);
	long max_deletions = o->max_deletions;
	_cleanup_free_ char *cap_from = NULL;
	if (p->specs.scope) {
		const srcpos_t *sp = &p->specs.scope_pos;
		if (o->scope_given && strcmp(scope, p->specs.scope) != 0) {
			log_error("%s:%d:%d: metadata.name: the tree declares scope '%s'; the scope '%s' asked for contradicts it; "
			          "nothing was changed",
			          sp->file ? sp->file : "<specs>", sp->line, sp->col, p->specs.scope, scope);
			return EXIT_INVALID;
		}
		p->scope = p->specs.scope;
		/* the tree's cap is a ceiling: a flag may lower it, never raise it */
		long cap = p->specs.scope_max_deletions;
		if (cap >= 0 && (max_deletions < 0 || max_deletions > cap)) {
			max_deletions = cap;
			cap_from = xasprintf("the maxDeletions of the tree's Scope (%s:%d)", sp->file ? sp->file : "<specs>",
			                     sp->line);
		}
	}
	timing_lap(&t, &p->timings.load_ns);

	if (store_list_cvms(st, NULL, &p->records, &p->n_records) < 0 ||
	    store_list_cert_states(st, &p->certs, &p->n_certs) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		return EXIT_FAILED;
	}
	timing_lap(&t, &p->timings.store_ns);

	p->n_backends = p->specs.n_providers;
	p->backends = xcalloc(p->n_backends, sizeof *p->backends);
	p->views = xcalloc(p->n_backends, sizeof *p->views);
	_cleanup_free_ pthread_t *th = xcalloc(p->n_backends, sizeof *th);
	_cleanup_free_ bool *started = xcalloc(p->n_backends, sizeof *started);
	for (size_t i = 0; i < p->n_backends; i++) {
		pass_backend_t *b = &p->backends[i];
		provider_config_from_spec(&b->cfg, &p->specs.providers[i], store_dir(st));
		b->ops = provider_ops_for(b->cfg.flavor);
		b->known = known_for_provider(p->records, p->n_records, b->cfg.name, store_installation_id(st), &b->n_known);
		started[i] = pthread_create(&th[i], NULL, observe_one, b) == 0;
		if (!started[i]) observe_one(b);
	}
	for (size_t i = 0; i < p->n_backends; i++) {
		pass_backend_t *b = &p->backends[i];
		if (started[i]) pthread_join(th[i], NULL);
		p->views[i].name = b->cfg.name;
		p->views[i].flavor = b->cfg.flavor;
		p->views[i].schema = p->specs.providers[i].backend;
		p->views[i].obs = b->observed ? &b->obs : NULL;
		if (!b->observed)
			log_warn("provider %s cannot be observed: %s; its CVMs are Unknown this pass", b->cfg.name, b->why);
		else
			for (size_t u = 0; u < b->obs.n_unknown; u++)
				log_warn("%s %s of provider %s cannot be observed: %s; its CVMs are Unknown this pass",
				         p->views[i].schema ? p->views[i].schema->place_noun : "place",
				         b->obs.unknown[u].placement, b->cfg.name, b->obs.unknown[u].why);
	}

	timing_lap(&t, &p->timings.observe_ns);
	/* New CVMs' ids are derived (plan.h), so that a saved plan names the
	 * ids its creates will have. */
	plan_input_t in = {
		.specs = &p->specs,
		.records = p->records,
		.n_records = p->n_records,
		.providers = p->views,
		.n_providers = p->n_backends,
		.scope = p->scope,
		.installation = store_installation_id(st),
		.certs = p->certs,
		.n_certs = p->n_certs,
		.now = now_s(),
		.describe = o->describe,
		.allow_replace = o->allow_replace,
		.allow_empty = o->allow_empty,
		.max_deletions = max_deletions,
		.max_deletions_from = cap_from,
	};
	int r = plan_compute(&in, &p->plan);
	if (r < 0) {
		log_error("%s", p->plan.invalid ? p->plan.invalid : "cannot compute the plan");
		return EXIT_INVALID;
	}
	if (o->hold_delete)
		for (size_t i = p->plan.n; i-- > 0;)
			if (p->plan.v[i].kind == ACT_DELETE && o->hold_delete(o->hold_ctx, p->plan.v[i].name))
				plan_remove(&p->plan, i);
	pass_place(p);
	timing_lap(&t, &p->timings.plan_ns);
	return 0;
}

void pass_free(pass_t *p) {
	plan_free(&p->plan);
	for (size_t i = 0; i < p->n_backends; i++) {
		pass_backend_t *b = &p->backends[i];
		observation_free(&b->obs);
		free(b->known);
		if (b->conn) b->ops->close(b->conn);
		free(b->why);
	}
	free(p->backends);
	free(p->views);
	cvm_records_free(p->records, p->n_records);
	cert_states_free(p->certs, p->n_certs);
	spec_set_free(&p->specs);
	memset(p, 0, sizeof *p);
}
