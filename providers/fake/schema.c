/* What the fake backend (test builds only) declares about itself
 * (common/schema.h). Its fields are the knobs a test turns; their defaults
 * live here and nowhere else: providers/fake/fake.c reads them from this
 * table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/schema.h"
#include "common/util.h"
#include "providers/provider.h"

/* Worlds and zones are path segments of a handle ("fake://WORLD/ZONE/ID"). */
static char *check_segment(const char *what, const char *v) {
	if (!v || !*v) return xasprintf("a %s name cannot be empty", what);
	if (strchr(v, '/')) return xasprintf("%s '%s' contains '/'", what, v);
	return NULL;
}

static char *check_zone(const char *z) {
	return check_segment("zone", z);
}

static char *check_world(const char *w) {
	return check_segment("world", w);
}

static const field_def_t fake_fields[] = {
	{.name = "zones", .type = FT_STRINGS, .dflt = "[\"zone-a\"]", .effect = FX_NONE, .check = check_zone,
	 .doc = "the zones CVMs are placed across (least loaded first)"},
	{.name = "latencyMs", .type = FT_INT, .dflt = "0", .min = 0, .max = 3600000, .effect = FX_NONE,
	 .doc = "how long create, remove and start take, on the world's clock (0: synchronous)"},
	{.name = "pageSize", .type = FT_INT, .dflt = "100", .min = 1, .max = 100000, .effect = FX_NONE,
	 .doc = "resources per page of a listing (each page is one counted call)"},
	{.name = "world", .type = FT_STRING, .check = check_world, .effect = FX_NONE,
	 .doc = "the in-memory world (cloud) this provider lives in (default: the provider's name)"},
	{0},
};

static int fake_default_memory(int vcpus) {
	(void)vcpus;
	return 2;
}

static int fake_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	if (vcpus < 1 || vcpus > 64) {
		*field = "vcpus";
		snprintf(msg, n, "%d vCPUs is outside the fake limits (1-64)", vcpus);
		return -EINVAL;
	}
	if (memory_gib < 1 || memory_gib > 256) {
		*field = "memoryGiB";
		snprintf(msg, n, "%d GiB is outside the fake limits (1-256 GiB)", memory_gib);
		return -EINVAL;
	}
	return 0;
}

static const char *const fake_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t fake_schema = {
	.flavor = "fake",
	.place_noun = "zone",
	.fields = fake_fields,
	.min_vcpus = 1,
	.max_vcpus = 64,
	.default_vcpus = 2,
	.default_memory_gib = fake_default_memory,
	.check_size = fake_check_size,
	.size_name = NULL,
	.replace_fields = fake_replace_fields,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
	.unlisted = true, /* a test double: messages that list the types do not offer it */
};
