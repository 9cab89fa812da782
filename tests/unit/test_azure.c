/* The azure backend's pure pieces: the PUT bodies of every resource type
 * against their golden files (vnet, subnet, NSG with one and several
 * source ranges, public IP, NIC with and without a public IP, the VM at
 * two sizes and both disk encryption types), resource names and tags, the
 * host check that keeps the token on the configured endpoint, throttling
 * told apart from failure, the RS256 client assertion verified against the
 * key's public half, and the Provider's cross-field checks.
 *
 * Goldens live in tests/golden/azure/ (relative to the source root, the
 * working directory, or $CVMCTL_SRCDIR); UPDATE_GOLDEN=1 rewrites them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/cleanup.h"
#include "common/schema.h"
#include "common/util.h"
#include "providers/azure/azure.h"
#include "providers/http.h"
#include "tests/unit/golden.h"

#define GOLDEN_DIR "tests/golden/azure"

static void check_golden(const char *name, const char *got) {
	golden_check(GOLDEN_DIR, name, got, "request");
}
#define _cleanup_json_ _cleanup_(json_decrefp)

static void golden_json(const char *name, json_t *j) {
	assert_non_null(j);
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	_cleanup_free_ char *t = xasprintf("%s\n", s);
	free(s);
	check_golden(name, t);
	json_decref(j);
}

/* dummy PEM text, not real keys */
static const char CERT[] = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdC1jZXJ0LW5vdC1yZWFs\n-----END CERTIFICATE-----\n";
static const char KEY[] = "-----BEGIN PRIVATE KEY-----\nMIGHdGVzdC1rZXktbm90LXJlYWw=\n-----END PRIVATE KEY-----\n";
static const char CA[] = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdC1jYS1ub3QtcmVhbA==\n-----END CERTIFICATE-----\n";
static const char ENV[] = "AGENT_LOG_LEVEL=info\nAGENT_CVM_ID=5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11\n";

static const prov_file_t FILES[] = {
	{"certs", "cert.pem", (const unsigned char *)CERT, sizeof CERT - 1},
	{"certs", "key.pem", (const unsigned char *)KEY, sizeof KEY - 1},
	{"certs", "ca.pem", (const unsigned char *)CA, sizeof CA - 1},
	{"env", "environment", (const unsigned char *)ENV, sizeof ENV - 1},
};

static const char *const USER_LABELS[] = {"team", "Data", "app.kubernetes.io/name", "billing", "managed-by", "me"};

static cvm_desired_t desired(int vcpus, int gib) {
	return (cvm_desired_t){
		.id = "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11",
		.name = "analytics-01",
		.scope = "Team A",
		.installation = "0d1e2f30-4152-4637-8899-aabbccddeeff",
		.spec_hash = "3f1a9c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf02468",
		.attempt = "6a4c1d2e-8f90-4b1a-9c3d-5e6f708192a3",
		.placement = "westeurope",
		.vcpus = vcpus,
		.memory_gib = gib,
		.agent_port = 7002,
		.labels = USER_LABELS,
		.n_labels = 3,
		.files = FILES,
		.n_files = ARRAY_SIZE(FILES),
	};
}

static provider_t *provider_with(json_t *extra) {
	provider_t *p = xcalloc(1, sizeof *p);
	json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "subscription", "00000000-0000-4000-8000-00000000c0de",
	                      "resourceGroup", "cvm-rg", "location", "westeurope", "tenant",
	                      "0a1b2c3d-0000-4000-8000-00000000a2e0", "clientId", "5e3f0a11-0000-4000-8000-0000000c11e7",
	                      "resourceManagerEndpoint", "https://arm.example.test/");
	if (extra) json_object_update(s, extra);
	json_decref(extra);
	char *err = NULL;
	assert_int_equal(az_settings_parse(p, "az-test", s, &err), 0);
	json_decref(s);
	return p;
}

static void provider_free(provider_t *p) {
	az_settings_free(p);
	free(p);
}

static void test_network_bodies(void **state) {
	(void)state;
	provider_t *p = provider_with(NULL);
	cvm_desired_t w = desired(2, 8);
	char base[AZ_BASE_MAX];
	az_base_name(w.name, w.id, w.attempt, base);
	char *err = NULL;
	_cleanup_json_ json_t *tags = az_tags(&w, &err);
	assert_non_null(tags);
	golden_json("vnet.json", az_vnet_body(p));
	golden_json("subnet.json", az_subnet_body(p));
	golden_json("nsg.json", az_nsg_body(p, &w, tags));
	golden_json("pip.json", az_pip_body(p, tags));
	golden_json("nic.json", az_nic_body(p, base, tags));
	provider_free(p);

	p = provider_with(json_pack("{s:b, s:[s, s]}", "publicIP", 0, "agentSourceCIDRs", "203.0.113.0/24", "10.0.0.0/8"));
	golden_json("nsg-ranges.json", az_nsg_body(p, &w, tags));
	json_t *nic = az_nic_body(p, base, tags);
	/* No public IP: the NIC references none. */
	const json_t *ipc = json_object_get(json_array_get(json_object_get(json_object_get(nic, "properties"),
	                                                                   "ipConfigurations"), 0), "properties");
	assert_null(json_object_get(ipc, "publicIPAddress"));
	golden_json("nic-private.json", nic);
	provider_free(p);
}

static void vm_case(const char *golden, int vcpus, json_t *extra, const char *size, const char *enc) {
	provider_t *p = provider_with(extra);
	cvm_desired_t w = desired(vcpus, 4 * vcpus);
	char base[AZ_BASE_MAX];
	az_base_name(w.name, w.id, w.attempt, base);
	char *err = NULL;
	_cleanup_json_ json_t *tags = az_tags(&w, &err);
	json_t *b = az_vm_body(p, &w, base, tags, &err);
	assert_non_null(b);
	const json_t *pr = json_object_get(b, "properties");
	assert_string_equal(json_string_value(json_object_get(json_object_get(pr, "hardwareProfile"), "vmSize")), size);
	const json_t *sp = json_object_get(pr, "securityProfile");
	assert_string_equal(json_string_value(json_object_get(sp, "securityType")), "ConfidentialVM");
	assert_true(json_is_true(json_object_get(json_object_get(sp, "uefiSettings"), "vTpmEnabled")));
	assert_true(json_is_true(json_object_get(json_object_get(sp, "uefiSettings"), "secureBootEnabled")));
	const json_t *od = json_object_get(json_object_get(pr, "storageProfile"), "osDisk");
	assert_string_equal(json_string_value(json_object_get(od, "deleteOption")), "Delete");
	const json_t *md = json_object_get(od, "managedDisk");
	assert_string_equal(json_string_value(json_object_get(md, "storageAccountType")), "Premium_LRS");
	assert_string_equal(json_string_value(json_object_get(json_object_get(md, "securityProfile"),
	                                                      "securityEncryptionType")), enc);
	/* customData is base64 cloud-init; userData the delivery document. */
	const char *cd = json_string_value(json_object_get(json_object_get(pr, "osProfile"), "customData"));
	assert_non_null(cd);
	assert_int_equal(strncmp(cd, "I2Nsb3VkLWNvbmZpZw", 18), 0); /* "#cloud-config" */
	assert_non_null(json_string_value(json_object_get(pr, "userData")));
	golden_json(golden, b);
	provider_free(p);
}

static void test_vm_bodies(void **state) {
	(void)state;
	vm_case("vm-dc2.json", 2, NULL, "Standard_DC2as_v5", "VMGuestStateOnly");
	vm_case("vm-dc8-des.json", 8,
	        json_pack("{s:s, s:s}", "osDiskEncryption", "DiskWithVMGuestState", "diskEncryptionSetId",
	                  "/subscriptions/00000000-0000-4000-8000-00000000c0de/resourceGroups/keys/providers/"
	                  "Microsoft.Compute/diskEncryptionSets/cvm-des"),
	        "Standard_DC8as_v5", "DiskWithVMGuestState");
	/* No DCasv5 size: a sentence, no body. */
	provider_t *p = provider_with(NULL);
	cvm_desired_t w = desired(6, 24);
	char *err = NULL;
	_cleanup_json_ json_t *no_tags = json_object();
	assert_null(az_vm_body(p, &w, "x", no_tags, &err));
	assert_non_null(strstr(err, "DCasv5"));
	free(err);
	provider_free(p);
}

static void test_names_and_tags(void **state) {
	(void)state;
	cvm_desired_t w = desired(2, 8);
	char a[AZ_BASE_MAX], b[AZ_BASE_MAX];
	az_base_name(w.name, w.id, w.attempt, a);
	az_base_name(w.name, w.id, "another-attempt", b);
	assert_int_equal(strncmp(a, "analytics-01-", 13), 0);
	assert_int_equal(strlen(a), 13 + 8);
	assert_string_not_equal(a, b); /* a new attempt never meets an old one's names */
	char longer[AZ_BASE_MAX];
	az_base_name("a-very-long-cvm-name-that-goes-on-and-on-and-on-for-sixty-three", w.id, w.attempt, longer);
	assert_true(strlen(longer) <= 64);
	char *err = NULL;
	_cleanup_json_ json_t *t = az_tags(&w, &err);
	assert_non_null(t);
	assert_string_equal(az_tag(t, "MANAGED-BY"), "cvmctl"); /* a user's managed-by is never taken */
	assert_string_equal(az_tag(t, "app.kubernetes.io_name"), "billing");
	assert_true(az_tags_ours(t, "5B0C7A52-6D0E-4F43-9A3E-0C2F1D6B7E11"));
	assert_false(az_tags_ours(t, "6b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11"));
	observed_t o = {0};
	int port = 0;
	assert_true(az_tags_read(t, &o, &port));
	assert_string_equal(o.id, w.id);
	assert_string_equal(o.scope, "Team A");
	assert_string_equal(o.spec_hash, w.spec_hash);
	assert_int_equal(port, 7002);
	observed_free(&o);
	_cleanup_json_ json_t *foreign = json_pack("{s:s}", "cvmctl-id", w.id);
	assert_false(az_tags_read(foreign, &o, &port));
	observed_free(&o);
}

static void test_url_ours(void **state) {
	(void)state;
	provider_t *p = provider_with(NULL);
	assert_true(az_url_ours(p, "https://arm.example.test/subscriptions/x?api-version=1"));
	assert_true(az_url_ours(p, "https://ARM.example.test:443/subscriptions/x"));
	assert_false(az_url_ours(p, "https://arm.example.test.evil.example/subscriptions/x"));
	assert_false(az_url_ours(p, "https://127.0.0.1:9/subscriptions/x"));
	assert_false(az_url_ours(p, "http://arm.example.test/subscriptions/x"));
	assert_false(az_url_ours(p, "arm.example.test/subscriptions/x"));
	char *err = NULL;
	assert_null(az_submit(p, "GET", "https://elsewhere.example/subscriptions/x", NULL, NULL, &err));
	assert_non_null(strstr(err, "not sent there"));
	free(err);
	provider_free(p);
}

static void test_throttled(void **state) {
	(void)state;
	_cleanup_json_ json_t *compute = json_loads(
	    "{\"error\":{\"code\":\"OperationNotAllowed\",\"message\":\"The server rejected the request because too many "
	    "requests have been received for this subscription.\",\"details\":[{\"code\":\"TooManyRequests\"}]}}",
	    0, NULL);
	_cleanup_json_ json_t *quota = json_loads(
	    "{\"error\":{\"code\":\"OperationNotAllowed\",\"message\":\"Operation could not be completed as it results in "
	    "exceeding approved standardDCASv5Family Cores quota.\"}}",
	    0, NULL);
	_cleanup_json_ json_t *conflict = json_loads("{\"error\":{\"code\":\"Conflict\"}}", 0, NULL);
	_cleanup_json_ json_t *sku = json_loads("{\"error\":{\"code\":\"SkuNotAvailable\"}}", 0, NULL);
	assert_true(az_throttled(429, NULL));
	assert_true(az_throttled(503, NULL));
	assert_true(az_throttled(500, NULL));
	assert_false(az_throttled(501, NULL));
	assert_true(az_throttled(409, compute));
	assert_false(az_throttled(409, quota));
	assert_true(az_throttled(409, conflict));
	assert_false(az_throttled(409, sku));
	assert_false(az_throttled(400, NULL));
}

static char *b64url_decode(const char *s, size_t *n) {
	size_t len = strlen(s);
	_cleanup_free_ char *t = xmalloc(len + 4);
	size_t i;
	for (i = 0; i < len; i++) t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (i % 4) t[i++] = '=';
	t[i] = 0;
	unsigned char *out = xmalloc(i);
	int r = EVP_DecodeBlock(out, (unsigned char *)t, (int)i);
	assert_true(r >= 0);
	*n = (size_t)r - (len % 4 == 2 ? 2 : len % 4 == 3 ? 1 : 0);
	return (char *)out;
}

static void test_client_assertion(void **state) {
	(void)state;
	az_cred_t c = {.kind = AZ_CRED_CERT, .path = xstrdup("/dev/null"), .key = EVP_RSA_gen(2048),
	               .x5t = xstrdup("dGh1bWJwcmludA")};
	assert_non_null(c.key);
	char *err = NULL;
	const char *aud = "https://login.example.test/tenant/oauth2/v2.0/token";
	_cleanup_free_ char *jwt = az_client_assertion(&c, "client-1", aud, 1800000000, &err);
	assert_non_null(jwt);
	char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);
	_cleanup_free_ char *h = xasprintf("%.*s", (int)(d1 - jwt), jwt), *cl = xasprintf("%.*s", (int)(d2 - d1 - 1), d1 + 1);
	size_t n;
	_cleanup_free_ char *hj = b64url_decode(h, &n);
	_cleanup_json_ json_t *hdr = json_loadb(hj, n, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(hdr, "x5t")), "dGh1bWJwcmludA");
	_cleanup_free_ char *cj = b64url_decode(cl, &n);
	_cleanup_json_ json_t *claims = json_loadb(cj, n, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(claims, "aud")), aud);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), "client-1");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "client-1");
	assert_true(json_integer_value(json_object_get(claims, "exp")) > 1800000000);
	_cleanup_free_ char *sig = b64url_decode(d2 + 1, &n);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, c.key), 1);
	assert_int_equal(EVP_DigestVerify(md, (unsigned char *)sig, n, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	EVP_MD_CTX_free(md);
	az_cred_free(&c);
}

typedef struct reports {
	char text[2048];
} reports_t;

static void on_report(void *ctx, const char *field, const char *msg) {
	reports_t *r = ctx;
	size_t o = strlen(r->text);
	snprintf(r->text + o, sizeof r->text - o, "%s: %s\n", field, msg);
}

static void test_schema_checks(void **state) {
	(void)state;
	reports_t r = {0};
	_cleanup_json_ json_t *none = json_pack("{s:s}", "osDiskEncryption", "VMGuestStateOnly");
	azure_schema.check(none, on_report, &r);
	assert_non_null(strstr(r.text, "clientSecretFile: required: one of"));
	memset(&r, 0, sizeof r);
	_cleanup_json_ json_t *two = json_pack("{s:s, s:s, s:s}", "clientId", "c", "clientSecretFile", "/s",
	                                       "federatedTokenFile", "/t");
	azure_schema.check(two, on_report, &r);
	assert_non_null(strstr(r.text, "federatedTokenFile: give one credential; clientSecretFile is given too"));
	memset(&r, 0, sizeof r);
	_cleanup_json_ json_t *mi = json_pack("{s:s, s:s}", "managedIdentity", "system", "osDiskEncryption", "VMGuestStateOnly");
	azure_schema.check(mi, on_report, &r);
	assert_string_equal(r.text, "");
	_cleanup_json_ json_t *des = json_pack("{s:s, s:s, s:s, s:s}", "clientId", "c", "clientSecretEnv", "S",
	                                       "osDiskEncryption", "VMGuestStateOnly", "diskEncryptionSetId", "/x");
	azure_schema.check(des, on_report, &r);
	assert_non_null(strstr(r.text, "diskEncryptionSetId: only means something with osDiskEncryption: DiskWithVMGuestState"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_bodies), cmocka_unit_test(test_vm_bodies),
		cmocka_unit_test(test_names_and_tags), cmocka_unit_test(test_url_ours),
		cmocka_unit_test(test_throttled),      cmocka_unit_test(test_client_assertion),
		cmocka_unit_test(test_schema_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
