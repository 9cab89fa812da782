/* What the azure backend declares about itself (common/schema.h): its
 * Provider fields with their defaults and what a change does to the CVMs
 * already there, its sizes (size.c: DCasv5) and where the guest finds its
 * files. The one place each azure default lives; validate checks these
 * offline and opens no file. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "common/util.h"
#include "providers/azure/size.h"
#include "providers/provider.h"

static char *check_url(const char *v) {
	if (!strncmp(v, "https://", 8) || !strncmp(v, "http://", 7)) return NULL;
	return xasprintf("'%s' is not an http:// or https:// URL", v);
}

static bool hexes(const char *v, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') || (v[i] >= 'A' && v[i] <= 'F')))
			return false;
	return true;
}

/* Subscriptions, tenants and client ids are GUIDs. */
static char *check_guid(const char *v) {
	if (strlen(v) == 36 && v[8] == '-' && v[13] == '-' && v[18] == '-' && v[23] == '-' && hexes(v, 8) &&
	    hexes(v + 9, 4) && hexes(v + 14, 4) && hexes(v + 19, 4) && hexes(v + 24, 12))
		return NULL;
	return xasprintf("'%s' is not a GUID such as 00000000-0000-0000-0000-000000000000", v);
}

/* A tenant may also be given by its domain ("contoso.onmicrosoft.com"). */
static char *check_tenant(const char *v) {
	char *not_guid = check_guid(v);
	if (!not_guid) return NULL;
	free(not_guid);
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 256 && strchr(v, '.') != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		     v[i] == '-' || v[i] == '.';
	return ok ? NULL : xasprintf("'%s' is neither a tenant GUID nor a domain name", v);
}

/* Resource groups: 1-90 of letters, digits, '_', '-', '.', '(', ')', not
 * ending in '.'. VNet and subnet names: 1-80 of [A-Za-z0-9_.-]. */
static char *check_rg(const char *v) {
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 90 && v[n - 1] != '.';
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		     strchr("_-.()", v[i]);
	return ok ? NULL : xasprintf("'%s' is not a resource group name (letters, digits, _-.() up to 90)", v);
}

static char *check_net_name(const char *v) {
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 80 && v[n - 1] != '.' && v[n - 1] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		     strchr("_-.", v[i]);
	return ok ? NULL : xasprintf("'%s' is not an Azure network name (letters, digits, _-. up to 80)", v);
}

static char *check_location(const char *v) {
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 40;
	for (size_t i = 0; ok && i < n; i++) ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9');
	return ok ? NULL : xasprintf("'%s' is not an Azure location name such as westeurope", v);
}

static char *check_cidr(const char *v) {
	unsigned a, b, c, d, m;
	char tail;
	if (!strcmp(v, "*") || !strcmp(v, "Internet") || !strcmp(v, "VirtualNetwork")) return NULL;
	if (sscanf(v, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &m, &tail) == 5 && a < 256 && b < 256 && c < 256 &&
	    d < 256 && m <= 32)
		return NULL;
	return xasprintf("'%s' is not an IPv4 CIDR range such as 203.0.113.0/24", v);
}

/* publisher:offer:sku:version, the CLI's URN; the SKU of a confidential
 * VM image ends in "cvm" (B5). */
static char *check_image(const char *v) {
	char pub[128], offer[128], sku[128], ver[128], tail;
	if (sscanf(v, "%127[^:]:%127[^:]:%127[^:]:%127[^:]%c", pub, offer, sku, ver, &tail) != 4)
		return xasprintf("'%s' is not an image URN publisher:offer:sku:version", v);
	size_t n = strlen(sku);
	if (n < 3 || strcmp(sku + n - 3, "cvm") != 0)
		return xasprintf("image SKU '%s' is not a confidential VM image (its SKU must end in cvm)", sku);
	return NULL;
}

static char *check_des(const char *v) {
	if (!strncasecmp(v, "/subscriptions/", 15) && strcasestr(v, "/providers/Microsoft.Compute/diskEncryptionSets/"))
		return NULL;
	return xasprintf("'%s' is not a disk encryption set id "
	                 "(/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/diskEncryptionSets/NAME)",
	                 v);
}

static char *check_env_name(const char *v) {
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 128 && !(v[0] >= '0' && v[0] <= '9');
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		     v[i] == '_';
	return ok ? NULL : xasprintf("'%s' is not an environment variable name", v);
}

static const char *const identity_kinds[] = {"system", NULL};
static const char *const encryption_kinds[] = {"VMGuestStateOnly", "DiskWithVMGuestState", NULL};

static const field_def_t azure_fields[] = {
	{.name = "subscription", .type = FT_STRING, .required = true, .check = check_guid, .doc = "the subscription id"},
	{.name = "resourceGroup", .type = FT_STRING, .required = true, .check = check_rg,
	 .doc = "the resource group CVMs go in (it must exist)"},
	{.name = "location", .type = FT_STRING, .required = true, .effect = FX_REPLACE, .check = check_location,
	 .doc = "the Azure region"},
	{.name = "tenant", .type = FT_STRING, .required = true, .check = check_tenant, .doc = "the Entra tenant id"},
	{.name = "clientId", .type = FT_STRING, .check = check_guid,
	 .doc = "the service principal's (or user-assigned identity's) client id"},
	{.name = "clientSecretFile", .type = FT_PATH,
	 .doc = "file holding the client secret (never inline), mode 0600 or 0400"},
	{.name = "clientSecretEnv", .type = FT_STRING, .check = check_env_name,
	 .doc = "environment variable holding the client secret"},
	{.name = "clientCertificateFile", .type = FT_PATH,
	 .doc = "PEM file with the private key and certificate of the client, mode 0600 or 0400"},
	{.name = "federatedTokenFile", .type = FT_PATH,
	 .doc = "file holding a workload-identity token (e.g. a CI's OIDC token), re-read for every token"},
	{.name = "managedIdentity", .type = FT_STRING, .values = identity_kinds,
	 .doc = "'system': the managed identity of the VM cvmctl runs on, from IMDS (clientId picks a user-assigned one)"},
	{.name = "authorityHost", .type = FT_STRING, .dflt = "\"https://login.microsoftonline.com\"", .check = check_url,
	 .doc = "the Microsoft identity platform's base URL (sovereign clouds, emulators)"},
	{.name = "resourceManagerEndpoint", .type = FT_STRING, .dflt = "\"https://management.azure.com\"",
	 .check = check_url, .doc = "Resource Manager's base URL; the token's scope is derived from it"},
	{.name = "audience", .type = FT_STRING, .dflt = "\"https://management.azure.com\"", .check = check_url,
	 .doc = "the App ID URI tokens are asked for ({audience}/.default); a sovereign cloud's ARM URL"},
	{.name = "imdsEndpoint", .type = FT_STRING, .dflt = "\"http://169.254.169.254\"", .check = check_url,
	 .doc = "the Instance Metadata Service of managedIdentity (tests)"},
	{.name = "caBundleFile", .type = FT_PATH,
	 .doc = "PEM CA bundle trusted in addition to the system's (verification stays on)"},
	{.name = "image", .type = FT_STRING,
	 .dflt = "\"Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest\"", .effect = FX_REPLACE,
	 .check = check_image, .doc = "the confidential VM image URN publisher:offer:sku:version"},
	{.name = "vnet", .type = FT_STRING, .dflt = "\"cvmctl-vnet\"", .effect = FX_REPLACE, .check = check_net_name,
	 .doc = "the virtual network of the NICs; created (10.42.0.0/16) when missing"},
	{.name = "subnet", .type = FT_STRING, .dflt = "\"cvmctl\"", .effect = FX_REPLACE, .check = check_net_name,
	 .doc = "the subnet of the NICs; created (10.42.0.0/24) in a vnet of ours when missing"},
	{.name = "publicIP", .type = FT_BOOL, .dflt = "true", .effect = FX_REPLACE,
	 .doc = "give each VM a Standard static public IP; the CVM's URL uses it (else the private IP)"},
	{.name = "agentSourceCIDRs", .type = FT_STRINGS, .effect = FX_NONE, .check = check_cidr, .noun = "source range",
	 .what = "a list of IPv4 CIDR ranges", .doc = "where each CVM's network security group admits the agent port from (default *)"},
	{.name = "osDiskEncryption", .type = FT_STRING, .dflt = "\"VMGuestStateOnly\"", .values = encryption_kinds,
	 .effect = FX_REPLACE, .doc = "the OS disk's securityEncryptionType"},
	{.name = "diskEncryptionSetId", .type = FT_STRING, .effect = FX_REPLACE, .check = check_des,
	 .doc = "a customer-managed-key disk encryption set (with DiskWithVMGuestState only)"},
	{.name = "adminUsername", .type = FT_STRING, .dflt = "\"cvmadmin\"", .effect = FX_REPLACE,
	 .doc = "the VM's administrator account (password login stays disabled)"},
	{.name = "sshPublicKey", .type = FT_STRING, .effect = FX_REPLACE,
	 .doc = "an ssh-rsa or ssh-ed25519 public key for adminUsername (default: a key of cvmctl's whose private half is never kept)"},
	{.name = "connectTimeout", .type = FT_DURATION, .dflt = "10", .min = 1, .max = 300, .effect = FX_NONE,
	 .doc = "how long connecting to the API may take"},
	{.name = "callTimeout", .type = FT_DURATION, .dflt = "60", .min = 1, .max = 600, .effect = FX_NONE,
	 .doc = "how long one API request may take before it fails"},
	{0},
};

static const char *const credential_fields[] = {"clientSecretFile", "clientSecretEnv", "clientCertificateFile",
                                                "federatedTokenFile", "managedIdentity", NULL};

static void azure_check(const json_t *s, schema_report_fn report, void *ctx) {
	int n = 0;
	const char *first = NULL;
	for (const char *const *f = credential_fields; *f; f++)
		if (json_object_get(s, *f)) {
			if (n++ == 0) first = *f;
			else {
				char msg[160];
				snprintf(msg, sizeof msg, "give one credential; %s is given too", first);
				report(ctx, *f, msg);
			}
		}
	if (!n)
		report(ctx, "clientSecretFile",
		       "required: one of clientSecretFile, clientSecretEnv, clientCertificateFile, federatedTokenFile or "
		       "managedIdentity");
	if (!json_object_get(s, "managedIdentity") && n && !json_object_get(s, "clientId"))
		report(ctx, "clientId", "required with a client secret, certificate or federated token");
	if (json_object_get(s, "diskEncryptionSetId") &&
	    !streq(json_string_value(json_object_get(s, "osDiskEncryption")), "DiskWithVMGuestState"))
		report(ctx, "diskEncryptionSetId", "only means something with osDiskEncryption: DiskWithVMGuestState");
}

static int azure_default_memory(int vcpus) {
	return 4 * vcpus; /* DCasv5: 4 GiB per vCPU */
}

static const char *const azure_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t azure_schema = {
	.flavor = "azure",
	.place_noun = "location",
	.fields = azure_fields,
	.check = azure_check,
	.secret_file_field = "clientSecretFile",
	/* DCasv5: Standard_DC2as_v5 .. Standard_DC96as_v5 (384 GiB) */
	.min_vcpus = 2,
	.max_vcpus = 96,
	.default_vcpus = 2,
	.default_memory_gib = azure_default_memory,
	.check_size = azure_check_size,
	.size_name = azure_vm_size,
	.replace_fields = azure_replace_fields,
	/* ARM's writes are a few per second per subscription (B10); a VM is a
	 * chain of five PUTs. */
	.default_concurrency = 16,
	.default_requests_per_second = 5,
	.guest_cert_dir = "/etc/cocos/certs",
	.guest_env_file = "/etc/cocos/environment",
};

static json_t *defaults;

static void build_defaults(void) {
	defaults = json_object();
	for (const field_def_t *f = azure_fields; f->name; f++)
		if (f->dflt) json_object_set_new(defaults, f->name, json_loads(f->dflt, JSON_DECODE_ANY, NULL));
}

const json_t *azure_default(const char *key) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_defaults);
	return json_object_get(defaults, key);
}
