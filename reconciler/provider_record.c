#include "reconciler/provider_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

void provider_config_from_spec(provider_config_t *c, const provider_spec_t *s, const char *state_dir) {
	*c = (provider_config_t){
		.name = s->name,
		.flavor = s->type,
		.settings = s->settings,
		.state_dir = state_dir,
	};
}

int provider_record_save(store_t *st, const provider_config_t *c) {
	_cleanup_free_ char *s = json_dumps(c->settings, JSON_SORT_KEYS | JSON_COMPACT);
	if (!s) return -ENOMEM;
	return store_put_provider(st, c->name, c->flavor, s);
}

int provider_record_load(store_t *st, const char *name, provider_config_t *c, provider_holder_t *h) {
	memset(c, 0, sizeof *c);
	memset(h, 0, sizeof *h);
	_cleanup_free_ char *settings = NULL;
	int r = store_get_provider(st, name, &h->flavor, &settings);
	if (r < 0) return r;
	h->name = xstrdup(name);
	h->settings = json_loads(settings, 0, NULL);
	if (!json_is_object(h->settings)) {
		provider_record_release(c, h);
		return -EINVAL;
	}
	*c = (provider_config_t){.name = h->name, .flavor = h->flavor, .settings = h->settings,
	                         .state_dir = store_dir(st)};
	return 0;
}

void provider_record_release(provider_config_t *c, provider_holder_t *h) {
	json_decref(h->settings);
	free(h->flavor);
	free(h->name);
	memset(h, 0, sizeof *h);
	memset(c, 0, sizeof *c);
}
