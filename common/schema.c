#include "common/schema.h"

#include <string.h>

const field_def_t *schema_field(const field_def_t *fields, const char *name) {
	for (const field_def_t *f = fields; f && f->name; f++)
		if (strcmp(f->name, name) == 0) return f;
	return NULL;
}
