/* What the gcp backend declares about itself (common/schema.h): its Provider
 * fields with their defaults and what a change does to the CVMs already
 * there, its sizes and where the guest finds its files. The one place each
 * gcp default lives; validate checks these offline and opens no file. */
#include <pthread.h>
#include <string.h>

#include "common/schema.h"
#include "common/util.h"
#include "providers/gcp/names.h"
#include "providers/gcp/size.h"
#include "providers/provider.h"

/* An emulator or a private endpoint is still an HTTP URL: a bare host name
 * would be taken as a path by libcurl. */
static char *check_url(const char *v) {
	if (!strncmp(v, "https://", 8) || !strncmp(v, "http://", 7)) return NULL;
	return xasprintf("'%s' is not an http:// or https:// URL", v);
}

/* Zones and projects are lowercase RFC 1035-ish names ("europe-west4-a",
 * "acme-cc"); checked so that a typo is a validate error, not a 404. */
static char *check_name(const char *v) {
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 63 && v[0] >= 'a' && v[0] <= 'z';
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-';
	return ok ? NULL : xasprintf("'%s' is not a GCP name (lowercase letters, digits and '-')", v);
}

/* Network tags follow the instance name rules (A5). */
static char *check_tag(const char *v) {
	return gcp_name_valid(v) ? NULL : xasprintf("'%s' is not a GCP network tag (RFC 1035, up to 63 characters)", v);
}

/* "10.0.0.0/8", "0.0.0.0/0": an IPv4 CIDR, checked for shape only. */
static char *check_cidr(const char *v) {
	unsigned a, b, c, d, m;
	char tail;
	if (sscanf(v, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &m, &tail) == 5 && a < 256 && b < 256 && c < 256 &&
	    d < 256 && m <= 32)
		return NULL;
	return xasprintf("'%s' is not an IPv4 CIDR range such as 203.0.113.0/24", v);
}

static const char *const credential_kinds[] = {"metadata", NULL};

static const field_def_t gcp_fields[] = {
	{.name = "project", .type = FT_STRING, .required = true, .check = check_name, .doc = "the GCP project id"},
	{.name = "zone", .type = FT_STRING, .required = true, .effect = FX_REPLACE, .check = check_name,
	 .doc = "the zone CVMs are created in"},
	{.name = "zones", .type = FT_STRINGS, .effect = FX_NONE, .check = check_name, .noun = "zone",
	 .what = "a list of zones", .doc = "zones new CVMs are spread over (default: zone alone)"},
	{.name = "credentialsFile", .type = FT_PATH,
	 .doc = "a service_account key or an external_account (workload identity) JSON file, mode 0600 or 0400"},
	{.name = "credentials", .type = FT_STRING, .values = credential_kinds,
	 .doc = "'metadata': the metadata server's service account (cvmctl running on GCP), instead of credentialsFile"},
	{.name = "endpoint", .type = FT_STRING, .dflt = "\"https://compute.googleapis.com/compute/v1\"", .check = check_url,
	 .doc = "Compute Engine v1 base URL (emulators, private endpoints)"},
	{.name = "tokenURI", .type = FT_STRING, .check = check_url,
	 .doc = "OAuth token endpoint (default: the key file's token_uri)"},
	{.name = "caBundleFile", .type = FT_PATH,
	 .doc = "PEM CA bundle trusted in addition to the system's (verification stays on)"},
	{.name = "image", .type = FT_STRING, .dflt = "\"projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts\"", .effect = FX_REPLACE,
	 .doc = "boot image or image family; must carry SEV_SNP_CAPABLE"},
	{.name = "diskSizeGb", .type = FT_INT, .dflt = "20", .min = 10, .max = 65536, .effect = FX_REPLACE,
	 .doc = "boot disk size in GB"},
	{.name = "network", .type = FT_STRING, .dflt = "\"global/networks/default\"", .effect = FX_REPLACE,
	 .doc = "VPC network of the instances"},
	{.name = "subnetwork", .type = FT_STRING, .effect = FX_REPLACE,
	 .doc = "subnetwork (regions/R/subnetworks/S), required for custom-mode VPCs"},
	{.name = "externalIP", .type = FT_BOOL, .dflt = "true", .effect = FX_REPLACE,
	 .doc = "give each instance an ephemeral external IP; the CVM's URL uses it (else the internal IP)"},
	{.name = "networkTags", .type = FT_STRINGS, .effect = FX_REPLACE, .check = check_tag, .noun = "network tag",
	 .what = "a list of network tags", .doc = "network tags of the instances, for firewall rules"},
	{.name = "agentFirewall", .type = FT_BOOL, .dflt = "false", .effect = FX_NONE,
	 .doc = "create the firewall rule cvmctl-agent-PORT opening the agent port to instances tagged cvmctl-agent (instances created from then on carry the tag)"},
	{.name = "agentSourceRanges", .type = FT_STRINGS, .effect = FX_NONE, .check = check_cidr, .noun = "source range",
	 .what = "a list of IPv4 CIDR ranges", .doc = "where the agent firewall rule admits connections from (default 0.0.0.0/0)"},
	{.name = "connectTimeout", .type = FT_DURATION, .dflt = "10", .min = 1, .max = 300, .effect = FX_NONE,
	 .doc = "how long connecting to the API may take"},
	{.name = "callTimeout", .type = FT_DURATION, .dflt = "60", .min = 1, .max = 600, .effect = FX_NONE,
	 .doc = "how long one API request may take before it fails (a list page: its zone is Unknown)"},
	{0},
};

static void gcp_check(const json_t *s, schema_report_fn report, void *ctx) {
	bool file = json_object_get(s, "credentialsFile") != NULL;
	bool md = json_object_get(s, "credentials") != NULL;
	if (file && md)
		report(ctx, "credentials", "give either credentialsFile or credentials: metadata, not both");
	else if (!file && !md)
		report(ctx, "credentialsFile", "required (a key or external_account file), unless credentials: metadata");
	if (json_object_get(s, "agentSourceRanges") && !json_is_true(json_object_get(s, "agentFirewall")))
		report(ctx, "agentSourceRanges", "only means something with agentFirewall: true");
}

static int gcp_default_memory(int vcpus) {
	return 4 * vcpus; /* n2d-standard: 4 GiB per vCPU */
}

static const char *const gcp_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t gcp_schema = {
	.flavor = "gcp",
	.place_noun = "zone",
	.fields = gcp_fields,
	.check = gcp_check,
	.secret_file_field = "credentialsFile",
	/* N2D: n2d-standard-2 .. n2d-standard-224 (896 GB) */
	.min_vcpus = 2,
	.max_vcpus = 224,
	.default_vcpus = 2,
	.default_memory_gib = gcp_default_memory,
	.check_size = gcp_check_size,
	.size_name = gcp_machine_type,
	.replace_fields = gcp_replace_fields,
	/* Compute Engine's rate quotas are per project and per minute; a few
	 * mutations a second and a few dozen operations in flight stay well
	 * inside the defaults while creates still overlap. */
	.default_concurrency = 32,
	.default_requests_per_second = 10,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
};

/* ---- the defaults, read back from the table ---- */

static json_t *defaults;

static void build_defaults(void) {
	defaults = json_object();
	for (const field_def_t *f = gcp_fields; f->name; f++)
		if (f->dflt) json_object_set_new(defaults, f->name, json_loads(f->dflt, JSON_DECODE_ANY, NULL));
}

const json_t *gcp_default(const char *key) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_defaults);
	return json_object_get(defaults, key);
}
