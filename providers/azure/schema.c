/* What the azure backend declares about itself (common/schema.h). The
 * backend's operations are not built yet; its Providers are still checked
 * offline. */
#include "common/schema.h"
#include "providers/azure/size.h"
#include "providers/provider.h"

static const field_def_t azure_fields[] = {
	{.name = "subscription", .type = FT_STRING, .required = true, .doc = "the subscription id"},
	{.name = "resourceGroup", .type = FT_STRING, .required = true, .doc = "the resource group CVMs go in"},
	{.name = "location", .type = FT_STRING, .required = true, .effect = FX_REPLACE, .doc = "the Azure region"},
	{.name = "tenant", .type = FT_STRING, .required = true, .doc = "the Entra tenant id"},
	{.name = "clientId", .type = FT_STRING, .required = true, .doc = "the service principal's client id"},
	{.name = "clientSecretFile", .type = FT_PATH, .required = true, .doc = "file holding the client secret (never inline)"},
	{0},
};

static int azure_default_memory(int vcpus) {
	return 4 * vcpus; /* DCasv5: 4 GiB per vCPU */
}

static const char *const azure_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t azure_schema = {
	.flavor = "azure",
	.place_noun = "location",
	.fields = azure_fields,
	.secret_file_field = "clientSecretFile",
	/* DCasv5: Standard_DC2as_v5 .. Standard_DC96as_v5 (384 GiB) */
	.min_vcpus = 2,
	.max_vcpus = 96,
	.default_vcpus = 2,
	.default_memory_gib = azure_default_memory,
	.check_size = azure_check_size,
	.size_name = azure_vm_size,
	.replace_fields = azure_replace_fields,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
};
