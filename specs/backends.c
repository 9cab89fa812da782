/* What specs/ asks of the backends it was handed: their names, for
 * messages, and their sizes. Which backends exist is the caller's to say
 * (spec_schemas_t); nothing here knows one by name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "specs/load_internal.h"

const backend_schema_t *spec_schema_for(const spec_schemas_t *s, const char *flavor) {
	for (size_t i = 0; s && flavor && i < s->n; i++)
		if (s->v[i] && s->v[i]->flavor && strcmp(s->v[i]->flavor, flavor) == 0) return s->v[i];
	return NULL;
}

char *schema_names_expected(const spec_schemas_t *s) {
	size_t n = 0, k = 0;
	for (size_t i = 0; s && i < s->n; i++) n += !s->v[i]->unlisted;
	if (n == 0) return xstrdup("no backend is registered");
	strbuf sb = {0};
	sb_add(&sb, "");
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i]->unlisted) continue;
		k++;
		sb_addf(&sb, "%s%s", k == 1 ? "" : k == n ? " or " : ", ", s->v[i]->flavor);
	}
	return sb_take(&sb);
}

const char *flavor_article(const char *flavor) {
	return flavor && flavor[0] && strchr("aeiou", flavor[0]) ? "an" : "a";
}

int spec_check_size(const backend_schema_t *b, int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	*field = "vcpus";
	if (vcpus < b->min_vcpus) {
		snprintf(msg, n, "vcpus %d is below the %s minimum of %d", vcpus, b->flavor, b->min_vcpus);
		return -EINVAL;
	}
	if (vcpus > b->max_vcpus) {
		snprintf(msg, n, "vcpus %d is above the %s maximum of %d", vcpus, b->flavor, b->max_vcpus);
		return -EINVAL;
	}
	*field = "memoryGiB";
	if (memory_gib < 1) {
		snprintf(msg, n, "memoryGiB %d is below the %s minimum of 1", memory_gib, b->flavor);
		return -EINVAL;
	}
	return b->check_size ? b->check_size(vcpus, memory_gib, field, msg, n) : 0;
}
