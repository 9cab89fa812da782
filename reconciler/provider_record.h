/* Provider connection settings as the last reconcile saw them, kept in the
 * state so that commands run without the spec tree (cert revoke publishing
 * a replacement, list --refresh) can still reach the backend. Only
 * settings are kept: credentials stay in their files. */
#ifndef CVM_PROVIDER_RECORD_H
#define CVM_PROVIDER_RECORD_H

#include <jansson.h>

#include "providers/provider.h"
#include "reconciler/store/store.h"
#include "specs/spec.h"

/* c points into s (which must outlive it). */
void provider_config_from_spec(provider_config_t *c, const provider_spec_t *s, const char *state_dir);

/* Records c's settings (in the caller's transaction, if any). */
STORE_MUST_CHECK int provider_record_save(store_t *st, const provider_config_t *c);

/* What a loaded config points into. */
typedef struct provider_holder {
	char *name, *flavor;
	json_t *settings;
} provider_holder_t;

/* Loads the recorded settings of provider `name` into c, pointing into *h,
 * which the caller releases with provider_record_release. */
int provider_record_load(store_t *st, const char *name, provider_config_t *c, provider_holder_t *h);
void provider_record_release(provider_config_t *c, provider_holder_t *h);

#endif
