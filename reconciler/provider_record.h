/* Provider connection settings as the last reconcile saw them, kept in the
 * state (its providers table) so that commands run without the spec tree
 * (cert revoke publishing a replacement, list --refresh) can still reach
 * the backend. Only settings are kept: credentials stay in their files. */
#ifndef CVM_PROVIDER_RECORD_H
#define CVM_PROVIDER_RECORD_H

#include <jansson.h>

#include "providers/provider.h"
#include "reconciler/store/store.h"
#include "specs/spec.h"

void provider_config_from_spec(provider_config_t *c, const provider_spec_t *s);

/* Saves c as the store's record of provider c->name (store_put_provider:
 * the fields under their YAML names, keys sorted, as schema migration 2
 * also writes them), in the caller's transaction, if any. Returns 0 or
 * -errno; store_errmsg says why. */
STORE_MUST_CHECK int provider_record_save(store_t *st, const provider_config_t *c);

/* Loads the saved settings of provider `name` into c; the strings point
 * into *holder, which the caller releases with provider_record_release. */
int provider_record_load(store_t *st, const char *name, provider_config_t *c, json_t **holder);
void provider_record_release(provider_config_t *c, json_t *holder);

#endif
