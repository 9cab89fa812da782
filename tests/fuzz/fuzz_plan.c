/* Fuzz target for the saved-plan reader (reconciler/plan_file.h): any bytes
 * give a plan or an error sentence, never a crash, a leak or undefined
 * behaviour; a plan that reads compares equal to itself and, sealed again,
 * reads as sealed. Built as fuzz_specs.c is: with libFuzzer by `make fuzz`,
 * with standalone.c as the corpus replayer `make check` runs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reconciler/plan_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	saved_plan_t p;
	char *err = NULL;
	if (saved_plan_parse((const char *)data, size, &p, &err) < 0) {
		if (!err || !*err) __builtin_trap(); /* a refusal always says why */
		free(err);
		return 0;
	}
	if (err) __builtin_trap();
	char *what = NULL;
	if (plan_doc_compare(p.doc, p.doc, &what) != 0 || what) __builtin_trap();
	/* What apply reads must be there, of the promised kind. */
	if (!p.scope || !*p.scope || !p.content_hash || p.n_paths == 0 || p.major != 2) __builtin_trap();
	for (size_t i = 0; i < p.n_paths; i++)
		if (!p.paths[i] || !*p.paths[i]) __builtin_trap();
	json_t *copy = json_deep_copy(p.doc);
	if (copy) {
		plan_doc_seal(copy);
		if (!plan_doc_sealed(copy)) __builtin_trap();
		json_decref(copy);
	}
	saved_plan_free(&p);
	return 0;
}
