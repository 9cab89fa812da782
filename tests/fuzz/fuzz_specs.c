/* Fuzz target for the spec loader: any bytes must give either a spec set or
 * diagnostics, never a crash, a leak or undefined behaviour, and quickly
 * (alias bombs are bounded). Built two ways: with libFuzzer by `make fuzz`
 * (clang), and with standalone.c as a corpus replayer that `make check` runs
 * under ASan and UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "providers/provider.h"
#include "specs/spec.h"

/* The built-in backends' schemas, as the engine hands them to the loader
 * (data only: `make fuzz` links each providers/NAME/schema.c and size.c, no
 * backend). */
static const backend_schema_t *const builtin[] = {&gcp_schema, &azure_schema, &manager_schema};
static const spec_schemas_t schemas = {builtin, ARRAY_SIZE(builtin)};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	spec_set_t s;
	diags_t d = {0};
	if (spec_load_buffer("fuzz.yaml", (const char *)data, size, &schemas, &s, &d) == 0) {
		/* A loaded set must hash and serialise every CVM. */
		for (size_t i = 0; i < s.n_cvms; i++) {
			if (s.cvms[i].hash[0] == 0) __builtin_trap();
		}
		spec_set_free(&s);
	} else if (d.n == 0) {
		__builtin_trap(); /* a refusal always says why */
	}
	diags_free(&d);
	return 0;
}
