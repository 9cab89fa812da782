#include "providers/provider.h"

#include <stdlib.h>
#include <string.h>

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
	free(o->url);
	memset(o, 0, sizeof *o);
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

const provider_ops_t *provider_ops_for(const char *flavor) {
	static const provider_ops_t *const all[] = {&manager_provider_ops};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(all[i]->flavor, flavor) == 0) return all[i];
	return NULL;
}
