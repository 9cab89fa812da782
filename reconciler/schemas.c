#include "reconciler/schemas.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/util.h"
#include "providers/provider.h"

static spec_schemas_t schemas;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void) {
	size_t n;
	const provider_backend_t *const *b = provider_backends(&n);
	const backend_schema_t **v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) v[i] = b[i]->schema;
	schemas = (spec_schemas_t){.v = v, .n = n};
}

const spec_schemas_t *engine_schemas(void) {
	pthread_once(&once, build);
	return &schemas;
}
