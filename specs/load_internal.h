/* Shared between the per-document walk (walk.c), the checks across documents
 * (validate.c) and the loader (load.c). Internal to specs/. */
#ifndef CVM_SPECS_LOAD_INTERNAL_H
#define CVM_SPECS_LOAD_INTERNAL_H

#include "specs/spec.h"
#include "specs/yaml_tree.h"

/* Positions the public structs do not keep but the cross-document checks
 * need, parallel to spec_set.providers / spec_set.cvms. */
struct provider_extra {
	srcpos_t name;
};

struct cvm_extra {
	srcpos_t name, flavor, provider;
};

struct load {
	const spec_schemas_t *schemas;
	diags_t *d;
	spec_set_t *set;
	struct provider_extra *px;
	struct cvm_extra *cx;
	size_t cap_files, cap_cvms; /* of set->files; of set->cvms and cx */
	bool incomplete; /* some file could not be parsed: references may point into it */
	size_t max_bytes; /* the size cap of one file (spec_load) */
};

/* Turns one document into a Provider or CVM appended to l->set; reports its
 * own mistakes (fields, types, names, limits). */
void walk_document(struct load *l, const char *file, const ynode_t *root);

/* Names, references and hashes across the whole set. */
void validate_set(struct load *l);

/* Sets cvm_spec_t.hash of every CVM (after a clean validation). */
void spec_set_hash_all(spec_set_t *s);

void provider_spec_clear(provider_spec_t *p);

/* ---- the registered backends (specs/backends.c) ---- */

/* "gcp, azure or manager": the flavors to offer in a message (unlisted
 * test backends left out). Caller frees. */
char *schema_names_expected(const spec_schemas_t *s);
/* "a" or "an", for "a manager provider", "an azure provider". */
const char *flavor_article(const char *flavor);
/* vcpus within the schema's min..max, memory at least 1, then the
 * backend's own rules (schema->check_size); see common/schema.h. */
int spec_check_size(const backend_schema_t *b, int vcpus, int memory_gib, const char **field, char *msg, size_t n);
void cvm_spec_clear(cvm_spec_t *c);

#endif
