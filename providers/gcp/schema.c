/* What the gcp backend declares about itself (common/schema.h). The backend's
 * operations are not built yet; its Providers are still checked offline. */
#include <string.h>

#include "common/schema.h"
#include "common/util.h"
#include "providers/gcp/size.h"
#include "providers/provider.h"

/* An emulator or a private endpoint is still an HTTP URL: a bare host name
 * would be taken as a path by libcurl. */
static char *check_url(const char *v) {
	if (!strncmp(v, "https://", 8) || !strncmp(v, "http://", 7)) return NULL;
	return xasprintf("'%s' is not an http:// or https:// URL", v);
}

static const field_def_t gcp_fields[] = {
	{.name = "project", .type = FT_STRING, .required = true, .doc = "the GCP project id"},
	{.name = "zone", .type = FT_STRING, .required = true, .effect = FX_REPLACE, .doc = "the zone CVMs are created in"},
	{.name = "credentialsFile", .type = FT_PATH, .required = true, .doc = "service-account key file (never inline)"},
	{.name = "endpoint", .type = FT_STRING, .dflt = "\"https://compute.googleapis.com/compute/v1\"", .check = check_url,
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
	.secret_file_field = "credentialsFile",
	/* N2D: n2d-standard-2 .. n2d-standard-224 (896 GB) */
	.min_vcpus = 2,
	.max_vcpus = 224,
	.default_vcpus = 2,
	.default_memory_gib = gcp_default_memory,
	.check_size = gcp_check_size,
	.size_name = gcp_machine_type,
	.replace_fields = gcp_replace_fields,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
};
