/* The backend schemas the engine hands to specs/: every backend in the
 * registry (providers/provider.h), the fake one in test builds. specs/
 * never includes providers/; this is the one place the two meet. */
#ifndef CVM_RECONCILER_SCHEMAS_H
#define CVM_RECONCILER_SCHEMAS_H

#include "specs/spec.h"

/* Built from provider_backends() on first use; lives as long as the
 * process. Safe from any thread. */
const spec_schemas_t *engine_schemas(void);

#endif
