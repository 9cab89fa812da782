/* The registry of backends and the thin layer between the engine and them:
 * argument checks and missing operations are handled here, once, so that a
 * backend can trust what it is handed and the engine never calls a NULL
 * pointer. */
#include "providers/provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

const char *res_state_name(res_state_t s) {
	switch (s) {
	case RES_RUNNING: return "running";
	case RES_STOPPED: return "stopped";
	case RES_PAUSED: return "paused";
	case RES_PENDING: return "pending";
	default: return "other";
	}
}

void observed_free(observed_t *o) {
	free(o->name);
	free(o->scope);
	free(o->installation);
	free(o->spec_hash);
	free(o->attempt);
	free(o->placement);
	free(o->handle);
	free(o->url);
	memset(o, 0, sizeof *o);
}

void observed_copy(observed_t *dst, const observed_t *src) {
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->scope = xstrdup(src->scope);
	dst->installation = xstrdup(src->installation);
	dst->spec_hash = xstrdup(src->spec_hash);
	dst->attempt = xstrdup(src->attempt);
	dst->placement = xstrdup(src->placement);
	dst->handle = xstrdup(src->handle);
	dst->url = xstrdup(src->url);
}

void observation_free(observation_t *o) {
	for (size_t i = 0; i < o->n; i++) observed_free(&o->v[i]);
	free(o->v);
	for (size_t i = 0; i < o->n_unknown; i++) {
		free(o->unknown[i].placement);
		free(o->unknown[i].why);
	}
	free(o->unknown);
	memset(o, 0, sizeof *o);
}

/* ---- the registry ---- */

static const provider_backend_t manager_backend = {&manager_schema, &manager_provider_ops};
static const provider_backend_t gcp_backend = {&gcp_schema, &gcp_provider_ops};
static const provider_backend_t azure_backend = {&azure_schema, &azure_provider_ops};

#ifdef CVM_TEST_HOOKS
/* The in-memory backend of the unit tests (providers/fake/): never in a
 * build that ships. */
static const provider_backend_t fake_backend = {&fake_schema, &fake_provider_ops};
#endif

static const provider_backend_t *const all_backends[] = {
	&gcp_backend,
	&azure_backend,
	&manager_backend,
#ifdef CVM_TEST_HOOKS
	&fake_backend,
#endif
};

const provider_backend_t *const *provider_backends(size_t *n) {
	*n = ARRAY_SIZE(all_backends);
	return all_backends;
}

const provider_backend_t *provider_backend_for(const char *flavor) {
	for (size_t i = 0; flavor && i < ARRAY_SIZE(all_backends); i++)
		if (strcmp(all_backends[i]->schema->flavor, flavor) == 0) return all_backends[i];
	return NULL;
}

const backend_schema_t *provider_schema_for(const char *flavor) {
	const provider_backend_t *b = provider_backend_for(flavor);
	return b ? b->schema : NULL;
}

const provider_ops_t *provider_ops_for(const char *flavor) {
	const provider_backend_t *b = provider_backend_for(flavor);
	return b ? b->ops : NULL;
}

/* ---- the thin layer ---- */

static int missing(const provider_ops_t *ops, const char *what, char **err) {
	*err = xasprintf("the %s backend cannot %s", ops && ops->flavor ? ops->flavor : "(unknown)", what);
	return -ENOSYS;
}

/* A failure always carries a sentence, and a success none. */
static int settle(int r, const provider_ops_t *ops, const char *what, char **err) {
	if (r < 0 && !*err) *err = xasprintf("%s backend: %s failed: %s", ops->flavor, what, strerror(-r));
	if (r >= 0 && *err) {
		free(*err);
		*err = NULL;
	}
	return r;
}

static int bad_id(const char *id, char **err) {
	if (id && uuid_valid(id)) return 0;
	*err = xasprintf("invalid CVM id '%s'", id ? id : "");
	return -EINVAL;
}

static int check_target(const prov_target_t *t, char **err) {
	if (!t) {
		*err = xstrdup("no target given");
		return -EINVAL;
	}
	return bad_id(t->id, err);
}

static int check_desired(const cvm_desired_t *w, bool need_placement, char **err) {
	int r = bad_id(w ? w->id : NULL, err);
	if (r < 0) return r;
	if (!w->name || !*w->name) {
		*err = xasprintf("CVM %s has no name", w->id);
		return -EINVAL;
	}
	if (need_placement && (!w->placement || !*w->placement)) {
		*err = xasprintf("CVM %s (%s) has no placement", w->name, w->id);
		return -EINVAL;
	}
	if (w->n_files && !w->files) {
		*err = xasprintf("CVM %s: %zu files announced, none given", w->name, w->n_files);
		return -EINVAL;
	}
	return 0;
}

int prov_open(const provider_ops_t *ops, const provider_config_t *cfg, provider_t **out, char **err) {
	*out = NULL;
	*err = NULL;
	if (!ops || !ops->open) return missing(ops, "be opened", err);
	if (!cfg || !cfg->name || !json_is_object(cfg->settings)) {
		*err = xstrdup("provider settings missing");
		return -EINVAL;
	}
	return settle(ops->open(cfg, out, err), ops, "open", err);
}

int prov_observe(const provider_ops_t *ops, provider_t *p, const observed_t *known, size_t n_known,
                 observation_t *out, char **err) {
	memset(out, 0, sizeof *out);
	*err = NULL;
	if (!ops->observe) return missing(ops, "list its resources", err);
	if (n_known && !known) {
		*err = xstrdup("known resources announced, none given");
		return -EINVAL;
	}
	return settle(ops->observe(p, known, n_known, out, err), ops, "observe", err);
}

int prov_place(const provider_ops_t *ops, provider_t *p, const cvm_desired_t *want, const placement_use_t *used,
               size_t n_used, char **placement, char **err) {
	*placement = NULL;
	*err = NULL;
	if (!ops->place) return missing(ops, "place a CVM", err);
	int r = check_desired(want, false, err);
	if (r < 0) return r;
	r = settle(ops->place(p, want, used, n_used, placement, err), ops, "place", err);
	if (r == 0 && !*placement) {
		*err = xasprintf("the %s backend chose no placement for %s", ops->flavor, want->name);
		return -EINVAL;
	}
	return r;
}

int prov_create(const provider_ops_t *ops, provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	if (!ops->create) return missing(ops, "create a CVM", &call->err);
	int r = check_desired(want, true, &call->err);
	if (r < 0) return r;
	if (!want->attempt || !*want->attempt) {
		call->err = xasprintf("create of %s has no attempt key", want->name);
		return -EINVAL;
	}
	r = settle(ops->create(p, want, call), ops, "create", &call->err);
	if (call->op && (!ops->poll || !ops->op_free)) {
		call->op = NULL; /* cannot be polled: a backend bug, reported as such */
		return missing(ops, "poll an operation", &call->err);
	}
	return r;
}

int prov_poll(const provider_ops_t *ops, provider_t *p, prov_op_t *op, prov_call_t *call) {
	if (!ops->poll) return missing(ops, "poll an operation", &call->err);
	if (!op) {
		call->err = xstrdup("no operation to poll");
		return -EINVAL;
	}
	return settle(ops->poll(p, op, call), ops, "poll", &call->err);
}

void prov_op_free(const provider_ops_t *ops, prov_op_t *op) {
	if (op && ops->op_free) ops->op_free(op);
}

int prov_remove(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, prov_call_t *call) {
	if (!ops->remove) return missing(ops, "delete a CVM", &call->err);
	int r = check_target(t, &call->err);
	if (r < 0) return r;
	return settle(ops->remove(p, t, call), ops, "remove", &call->err);
}

int prov_start(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, prov_call_t *call) {
	if (!ops->start) return missing(ops, "start a CVM", &call->err);
	int r = check_target(t, &call->err);
	if (r < 0) return r;
	return settle(ops->start(p, t, call), ops, "start", &call->err);
}

int prov_update(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, const cvm_desired_t *want,
                prov_call_t *call) {
	if (!ops->update) return missing(ops, "update a CVM", &call->err);
	int r = check_target(t, &call->err);
	if (r == 0) r = check_desired(want, false, &call->err);
	if (r < 0) return r;
	if (strcmp(t->id, want->id) != 0) {
		call->err = xasprintf("update of %s handed the settings of %s", t->id, want->id);
		return -EINVAL;
	}
	return settle(ops->update(p, t, want, call), ops, "update", &call->err);
}

void prov_call_clear(prov_call_t *call) {
	free(call->err);
	free(call->handle);
	memset(call, 0, sizeof *call);
}
