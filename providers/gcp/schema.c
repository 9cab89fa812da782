/* What the gcp backend declares about itself (common/schema.h). The backend's
 * operations are not built yet; its Providers are still checked offline. */
#include "common/schema.h"
#include "providers/provider.h"

static const field_def_t gcp_fields[] = {
	{.name = "project", .type = FT_STRING, .required = true, .doc = "the GCP project id"},
	{.name = "zone", .type = FT_STRING, .required = true, .effect = FX_REPLACE, .doc = "the zone CVMs are created in"},
	{.name = "credentialsFile", .type = FT_STRING, .required = true, .doc = "service-account key file (never inline)"},
	{.name = "endpoint", .type = FT_STRING, .dflt = "\"https://compute.googleapis.com/compute/v1\"",
	 .doc = "Compute Engine v1 endpoint (emulators, private endpoints)"},
	{0},
};

static int gcp_default_memory(int vcpus) {
	return 4 * vcpus; /* n2d-standard: 4 GiB per vCPU */
}

static const char *const gcp_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t gcp_schema = {
	.flavor = "gcp",
	.place_noun = "zone",
	.fields = gcp_fields,
	.min_vcpus = 2,
	.max_vcpus = 224,
	.default_vcpus = 2,
	.default_memory_gib = gcp_default_memory,
	.replace_fields = gcp_replace_fields,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
};
