#include "reconciler/known.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void known_from_record(observed_t *o, const cvm_record_t *r, const char *installation, res_state_t state) {
	*o = (observed_t){0};
	memcpy(o->id, r->id, sizeof o->id);
	o->name = (char *)r->name;
	o->scope = (char *)r->scope;
	o->installation = (char *)installation;
	o->spec_hash = (char *)r->spec_hash;
	o->attempt = (char *)r->attempt;
	o->placement = (char *)r->placement;
	o->handle = (char *)r->handle;
	o->url = (char *)r->url;
	o->state = state;
	o->vcpus = r->vcpus;
	o->memory_gib = r->memory_gib;
}

observed_t *known_for_provider(const cvm_record_t *v, size_t n, const char *provider, const char *installation,
                               size_t *n_out) {
	observed_t *k = xcalloc(n + 1, sizeof *k);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const cvm_record_t *r = &v[i];
		if (r->status != ST_RUNNING && r->status != ST_STOPPED) continue;
		if (!r->provider || strcmp(r->provider, provider) != 0 || !r->placement) continue;
		known_from_record(&k[m++], r, installation, r->status == ST_RUNNING ? RES_RUNNING : RES_STOPPED);
	}
	*n_out = m;
	return k;
}
