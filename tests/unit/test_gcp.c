/* The gcp backend's pure pieces and the shared HTTP helpers: request bodies
 * against their golden files (insert at every machine-type kind,
 * setMetadata, the delete request line), the RS256 JWT verified with
 * OpenSSL against the key's public half, credential-file checks (mode,
 * owner, shape), GCP label rules, the token cache's refresh margin on a fake
 * clock, Retry-After and backoff, and the scrubbing of secrets out of error
 * bodies.
 *
 * Goldens live in tests/golden/gcp/ (relative to the source root, the
 * working directory, or $CVMCTL_SRCDIR); UPDATE_GOLDEN=1 rewrites them. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/util.h"
#include "providers/gcp/gcp.h"
#include "providers/gcp/names.h"
#include "providers/http.h"
#include "providers/token.h"
#include "tests/unit/golden.h"

#define GOLDEN_DIR "tests/golden/gcp"

static void check_golden(const char *name, const char *got) {
	_cleanup_free_ char *file = xasprintf("%s", name);
	golden_check(GOLDEN_DIR, file, got, "request");
}

static const char *const golden_cases[] = {
	"insert-standard.json", "insert-highmem.json", "insert-highcpu.json", "insert-custom.json",
	"insert-internal.json", "setmetadata.json",    "delete.txt",
};

/* ---- fixed inputs (dummy PEM text, not real keys) ---- */

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

static const char *const USER_LABELS[] = {"team", "Data", "app.kubernetes.io/name", "billing", "2fa", "yes"};

static cvm_desired_t desired(int vcpus, int gib) {
	return (cvm_desired_t){
		.id = "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11",
		.name = "analytics-01",
		.scope = "Team A",
		.installation = "0d1e2f30-4152-4637-8899-aabbccddeeff",
		.spec_hash = "3f1a9c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf02468",
		.attempt = "6a4c1d2e-8f90-4b1a-9c3d-5e6f708192a3",
		.placement = "europe-west4-a",
		.vcpus = vcpus,
		.memory_gib = gib,
		.agent_port = 7002,
		.labels = USER_LABELS,
		.n_labels = 3,
		.files = FILES,
		.n_files = ARRAY_SIZE(FILES),
	};
}

static provider_t *provider(bool external_ip) {
	provider_t *p = xcalloc(1, sizeof *p);
	json_t *s = json_pack("{s:s, s:s, s:s, s:b, s:[s, s]}", "project", "acme-cc", "zone", "europe-west4-a",
	                      "endpoint", "https://compute.example.test/compute/v1/", "externalIP", external_ip,
	                      "networkTags", "cvm", "web");
	char *err = NULL;
	assert_int_equal(gcp_settings_parse(p, "gcp-test", s, &err), 0);
	json_decref(s);
	return p;
}

static void provider_free(provider_t *p) {
	gcp_settings_free(p);
	free(p);
}

static char *pretty(json_t *j) {
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *t = xasprintf("%s\n", s);
	free(s);
	return t;
}

/* ---- bodies ---- */

static void insert_case(const char *golden, int vcpus, int gib, const char *type, bool external_ip) {
	provider_t *p = provider(external_ip);
	cvm_desired_t w = desired(vcpus, gib);
	char *err = NULL;
	json_t *b = gcp_insert_body(p, &w, "projects/ubuntu-os-cloud/global/images/ubuntu-2204-jammy-v20240501", &err);
	assert_non_null(b);
	/* What a confidential VM needs, asserted as well as goldened. */
	_cleanup_free_ char *mt = xasprintf("zones/europe-west4-a/machineTypes/%s", type);
	assert_string_equal(json_string_value(json_object_get(b, "machineType")), mt);
	assert_string_equal(json_string_value(json_object_get(b, "minCpuPlatform")), "AMD Milan");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "confidentialInstanceConfig"),
	                                                      "confidentialInstanceType")),
	                    "SEV_SNP");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "scheduling"), "onHostMaintenance")),
	                    "TERMINATE");
	const json_t *disk = json_array_get(json_object_get(b, "disks"), 0);
	assert_string_equal(json_string_value(json_object_get(disk, "interface")), "NVME");
	const json_t *sh = json_object_get(b, "shieldedInstanceConfig");
	assert_true(json_is_true(json_object_get(sh, "enableSecureBoot")) && json_is_true(json_object_get(sh, "enableVtpm")) &&
	            json_is_true(json_object_get(sh, "enableIntegrityMonitoring")));
	const json_t *nic = json_array_get(json_object_get(b, "networkInterfaces"), 0);
	assert_int_equal(json_object_get(nic, "accessConfigs") != NULL, external_ip);
	/* The metadata carries the cloud-init document and the delivery key. */
	const json_t *items = json_object_get(json_object_get(b, "metadata"), "items");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "key")), "user-data");
	assert_true(strncmp(json_string_value(json_object_get(json_array_get(items, 0), "value")), "#cloud-config\n", 14) ==
	            0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "key")), "cvmctl-delivery");
	_cleanup_free_ char *text = pretty(b);
	check_golden(golden, text);
	json_decref(b);
	provider_free(p);
}

static void test_insert_bodies(void **state) {
	(void)state;
	insert_case("insert-standard.json", 8, 32, "n2d-standard-8", true);
	insert_case("insert-highmem.json", 4, 32, "n2d-highmem-4", true);
	insert_case("insert-highcpu.json", 16, 16, "n2d-highcpu-16", true);
	insert_case("insert-custom.json", 8, 24, "n2d-custom-8-24576", true);
	insert_case("insert-internal.json", 2, 8, "n2d-standard-2", false);
}

static void test_insert_refused(void **state) {
	(void)state;
	provider_t *p = provider(true);
	cvm_desired_t w = desired(6, 24); /* no N2D type has 6 vCPUs */
	char *err = NULL;
	assert_null(gcp_insert_body(p, &w, "projects/x/global/images/y", &err));
	assert_non_null(strstr(err, "no N2D machine type has 6 vCPUs"));
	free(err);
	provider_free(p);
}

static void test_setmetadata_body(void **state) {
	(void)state;
	json_t *cur = json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "kind", "compute#metadata",
	                        "fingerprint", "x1y2z3A=", "items", "key", "user-data", "value", "#cloud-config\n",
	                        "key", "cvmctl-delivery", "value", "cvmctl-delivery 1\nold\n", "key", "ssh-keys", "value",
	                        "ubuntu:ssh-ed25519 AAAAC3 ops");
	cvm_desired_t w = desired(8, 32);
	char *err = NULL;
	json_t *set = gcp_markers(&w, &err);
	assert_non_null(set);
	const char *doc = json_string_value(json_object_get(set, "cvmctl-delivery"));
	assert_true(strncmp(doc, "cvmctl-delivery 1\n", 18) == 0);
	json_t *b = gcp_metadata_body(cur, set);
	/* Every other key kept, in its place; ours replaced or appended; the
	 * fingerprint sent back. */
	assert_string_equal(json_string_value(json_object_get(b, "fingerprint")), "x1y2z3A=");
	const json_t *items = json_object_get(b, "items");
	assert_int_equal(json_array_size(items), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "value")), "#cloud-config\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "key")), "ssh-keys");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "value")), doc);
	assert_string_equal(gcp_metadata_get(b, "cvmctl-spec-hash"), w.spec_hash);
	assert_string_equal(gcp_metadata_get(b, "cvmctl-scope"), "Team A");
	_cleanup_free_ char *text = pretty(b);
	check_golden("setmetadata.json", text);
	json_decref(b);
	/* No delivery key yet: it is appended. */
	json_t *none = json_pack("{s:s, s:[{s:s, s:s}]}", "fingerprint", "AAAA", "items", "key", "ssh-keys", "value", "k");
	b = gcp_metadata_body(none, set);
	assert_int_equal(json_array_size(json_object_get(b, "items")), 4);
	json_decref(b);
	json_decref(set);
	json_decref(none);
	json_decref(cur);
}

static void test_delete_request(void **state) {
	(void)state;
	provider_t *p = provider(true);
	char rid[37], again[37], other[37];
	gcp_delete_request_id("5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11", "6a4c1d2e-8f90-4b1a-9c3d-5e6f708192a3", rid);
	gcp_delete_request_id("5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11", "6a4c1d2e-8f90-4b1a-9c3d-5e6f708192a3", again);
	gcp_delete_request_id("5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11", "7b5d2e3f-9001-4c2b-8d4e-6f708192a3b4", other);
	/* Stable for one instance (a retry reuses it), new for another
	 * attempt's, and a UUID as the API demands. */
	assert_string_equal(rid, again);
	assert_string_not_equal(rid, other);
	assert_int_equal(strlen(rid), 36);
	assert_true(rid[8] == '-' && rid[13] == '-' && rid[14] == '5' && rid[18] == '-' && rid[23] == '-');
	assert_non_null(strchr("89ab", rid[19]));
	_cleanup_free_ char *url = gcp_delete_url(p, "europe-west4-a", "analytics-01", rid);
	_cleanup_free_ char *line = xasprintf("DELETE %s\n", url);
	check_golden("delete.txt", line);
	provider_free(p);
}

static void test_golden_dir_clean(void **state) {
	(void)state;
	golden_dir_exactly(GOLDEN_DIR, golden_cases, ARRAY_SIZE(golden_cases), "");
}

/* ---- labels ---- */

static void test_labels(void **state) {
	(void)state;
	cvm_desired_t w = desired(8, 32);
	char *err = NULL;
	json_t *l = gcp_labels(&w, &err);
	assert_non_null(l);
	const char *k;
	json_t *v;
	json_object_foreach(l, k, v) {
		if (!gcp_label_key_valid(k) || !gcp_label_value_valid(json_string_value(v)))
			fail_msg("label %s=%s breaks GCP's rules", k, json_string_value(v));
	}
	assert_string_equal(json_string_value(json_object_get(l, "managed-by")), "cvmctl");
	assert_string_equal(json_string_value(json_object_get(l, "cvmctl-scope")), "team_a");
	assert_string_equal(json_string_value(json_object_get(l, "team")), "data");
	assert_string_equal(json_string_value(json_object_get(l, "app_kubernetes_io_name")), "billing");
	assert_string_equal(json_string_value(json_object_get(l, "l-2fa")), "yes");
	assert_int_equal(strlen(json_string_value(json_object_get(l, "cvmctl-spec"))), GCP_SPEC_HASH_LEN);

	/* Read back: the shortened hash and the encoded scope become the
	 * recorded ones when they match them... */
	observed_t known = {0};
	snprintf(known.id, sizeof known.id, "%s", w.id);
	known.spec_hash = (char *)w.spec_hash;
	known.scope = (char *)w.scope;
	observed_t o = {0};
	int port = 0;
	assert_true(gcp_labels_read(l, NULL, &known, 1, &o, &port));
	assert_string_equal(o.spec_hash, w.spec_hash);
	assert_string_equal(o.scope, "Team A");
	assert_string_equal(o.attempt, w.attempt);
	assert_string_equal(o.installation, w.installation);
	assert_int_equal(port, 7002);
	observed_free(&o);
	/* ... or the metadata's full values when they agree with the labels ... */
	json_t *md = gcp_markers(&w, &err);
	json_t *mdo = gcp_metadata_body(NULL, md);
	assert_true(gcp_labels_read(l, mdo, NULL, 0, &o, &port));
	assert_string_equal(o.spec_hash, w.spec_hash);
	assert_string_equal(o.scope, "Team A");
	observed_free(&o);
	json_object_set_new(md, "cvmctl-spec-hash", json_string("ffff"));
	json_decref(mdo);
	mdo = gcp_metadata_body(NULL, md);
	/* ... and stay what they say otherwise (drift is then visible). */
	assert_true(gcp_labels_read(l, mdo, NULL, 0, &o, &port));
	assert_int_equal(strlen(o.spec_hash), GCP_SPEC_HASH_LEN);
	observed_free(&o);
	json_decref(mdo);
	json_decref(md);
	/* Not ours: no managed-by, or no valid id. */
	json_object_set_new(l, "managed-by", json_string("someone-else"));
	assert_false(gcp_labels_read(l, NULL, NULL, 0, &o, &port));
	json_object_set_new(l, "managed-by", json_string("cvmctl"));
	json_object_set_new(l, "cvmctl-id", json_string("not-a-uuid"));
	assert_false(gcp_labels_read(l, NULL, NULL, 0, &o, &port));
	json_decref(l);

	/* A user cannot set our markers, and two keys that collide are an error. */
	const char *const forged[] = {"cvmctl-id", "00000000-0000-4000-8000-000000000000", "managed-by", "me"};
	w.labels = forged;
	w.n_labels = 2;
	l = gcp_labels(&w, &err);
	assert_string_equal(json_string_value(json_object_get(l, "cvmctl-id")), w.id);
	assert_string_equal(json_string_value(json_object_get(l, "managed-by")), "cvmctl");
	json_decref(l);
	const char *const clash[] = {"a.b", "1", "a_b", "2"};
	w.labels = clash;
	assert_null(gcp_labels(&w, &err));
	assert_non_null(strstr(err, "both become GCP label 'a_b'"));
	free(err);

	/* The rules themselves. */
	assert_true(gcp_name_valid("analytics-01"));
	assert_false(gcp_name_valid("Analytics"));
	assert_false(gcp_name_valid("1abc"));
	assert_false(gcp_name_valid("abc-"));
	assert_false(gcp_label_key_valid("_x"));
	assert_true(gcp_label_value_valid(""));
	char long64[65];
	memset(long64, 'a', 64);
	long64[64] = 0;
	assert_false(gcp_label_value_valid(long64));
	_cleanup_free_ char *cut = gcp_label_value(long64);
	assert_int_equal(strlen(cut), 63);
}

/* ---- an instance as observed ---- */

static json_t *instance(const char *status, const char *mt, const char *nat) {
	cvm_desired_t w = desired(8, 32);
	char *err = NULL;
	json_t *labels = gcp_labels(&w, &err);
	json_t *md = gcp_markers(&w, &err);
	json_t *ac = nat ? json_pack("[{s:s, s:s}]", "type", "ONE_TO_ONE_NAT", "natIP", nat) : json_array();
	json_t *i = json_pack("{s:s, s:s, s:s, s:o, s:o, s:[{s:s, s:o}]}", "name", "analytics-01", "status", status,
	                      "machineType", mt, "labels", labels, "metadata", gcp_metadata_body(NULL, md),
	                      "networkInterfaces", "networkIP", "10.128.0.9", "accessConfigs", ac);
	json_decref(md);
	return i;
}

static void test_observed(void **state) {
	(void)state;
	provider_t *p = provider(true);
	static const struct {
		const char *status, *mt, *nat;
		res_state_t want;
		int vcpus, gib;
		const char *url;
	} cases[] = {
		{"RUNNING", "https://www.googleapis.com/compute/v1/projects/acme-cc/zones/europe-west4-a/machineTypes/n2d-standard-8",
		 "203.0.113.9", RES_RUNNING, 8, 32, "203.0.113.9:7002"},
		{"RUNNING", "zones/europe-west4-a/machineTypes/n2d-custom-8-24576", NULL, RES_RUNNING, 8, 24, "10.128.0.9:7002"},
		{"TERMINATED", "zones/z/machineTypes/n2d-highmem-4", NULL, RES_STOPPED, 4, 32, NULL},
		{"STOPPED", "zones/z/machineTypes/n2d-highcpu-16", NULL, RES_STOPPED, 16, 16, NULL},
		{"SUSPENDED", "zones/z/machineTypes/n2d-standard-2", NULL, RES_PAUSED, 2, 8, NULL},
		{"PROVISIONING", "zones/z/machineTypes/n2d-standard-2", NULL, RES_PENDING, 2, 8, NULL},
		{"SOMETHING_NEW", "zones/z/machineTypes/e2-medium", NULL, RES_PENDING, 0, 0, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *inst = instance(cases[i].status, cases[i].mt, cases[i].nat);
		observed_t o;
		assert_true(gcp_instance_observed(p, inst, "europe-west4-a", NULL, 0, &o));
		assert_int_equal(o.state, cases[i].want);
		assert_int_equal(o.vcpus, cases[i].vcpus);
		assert_int_equal(o.memory_gib, cases[i].gib);
		if (cases[i].url)
			assert_string_equal(o.url, cases[i].url);
		else
			assert_null(o.url);
		assert_string_equal(o.handle, "projects/acme-cc/zones/europe-west4-a/instances/analytics-01");
		assert_string_equal(o.placement, "europe-west4-a");
		assert_string_equal(o.id, "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11");
		observed_free(&o);
		json_decref(inst);
	}
	/* Without our labels it is not observed at all. */
	json_t *foreign = json_pack("{s:s, s:s, s:{s:s}}", "name", "x", "status", "RUNNING", "labels", "env", "prod");
	observed_t o;
	assert_false(gcp_instance_observed(p, foreign, "europe-west4-a", NULL, 0, &o));
	json_decref(foreign);
	provider_free(p);
}

/* ---- credentials and the JWT ---- */

static char tmpdir[64];

static EVP_PKEY *rsa_key(void) {
	EVP_PKEY *k = EVP_RSA_gen(2048);
	assert_non_null(k);
	return k;
}

static char *key_pem(EVP_PKEY *k) {
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *s = xasprintf("%.*s", (int)n, data);
	BIO_free(b);
	return s;
}

static char *write_json(const char *name, json_t *j, mode_t mode) {
	char *path = xasprintf("%s/%s", tmpdir, name);
	char *text = json_dumps(j, JSON_INDENT(2));
	unlink(path);
	assert_int_equal(write_file_atomic(path, text, strlen(text), mode), 0);
	chmod(path, mode);
	free(text);
	return path;
}

static json_t *sa_json(const char *pem) {
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account", "project_id", "acme-cc",
	                 "private_key_id", "k-123", "private_key", pem, "client_email",
	                 "cvmctl@acme-cc.iam.gserviceaccount.com", "token_uri", "https://token.example.test/token");
}

static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len) {
	_cleanup_free_ char *t = xmalloc(n + 4);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) t[m++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4) t[m++] = '=';
	t[m] = 0;
	unsigned char *out = xmalloc(m);
	int len = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
	assert_true(len >= 0);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = (size_t)(m - n);
	*out_len = (size_t)len - pad;
	return out;
}

static json_t *jwt_part(const char *s, size_t n) {
	size_t len;
	_cleanup_free_ unsigned char *d = b64url_decode(s, n, &len);
	json_t *j = json_loadb((const char *)d, len, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_jwt(void **state) {
	(void)state;
	EVP_PKEY *k = rsa_key();
	_cleanup_free_ char *pem = key_pem(k);
	json_t *sa = sa_json(pem);
	_cleanup_free_ char *path = write_json("sa.json", sa, 0600);
	json_decref(sa);
	gcp_cred_t c;
	char *err = NULL;
	assert_int_equal(gcp_cred_load(path, &c, &err), 0);
	assert_int_equal(c.kind, GCP_CRED_SERVICE_ACCOUNT);
	assert_string_equal(c.token_uri, "https://token.example.test/token");

	_cleanup_free_ char *jwt = gcp_jwt(&c, "https://emu.test/token", GCP_SCOPE, 1700000000, &err);
	assert_non_null(jwt);
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);
	assert_null(strchr(jwt, '=')); /* base64url without padding */
	json_t *h = jwt_part(jwt, (size_t)(d1 - jwt));
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "k-123");
	json_t *cl = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_string_equal(json_string_value(json_object_get(cl, "iss")), "cvmctl@acme-cc.iam.gserviceaccount.com");
	assert_string_equal(json_string_value(json_object_get(cl, "aud")), "https://emu.test/token");
	assert_string_equal(json_string_value(json_object_get(cl, "scope")), GCP_SCOPE);
	json_int_t iat = json_integer_value(json_object_get(cl, "iat")), exp = json_integer_value(json_object_get(cl, "exp"));
	assert_true(iat <= 1700000000 && iat >= 1700000000 - 60);
	assert_true(exp - iat <= 3600 && exp > 1700000000);
	json_decref(h);
	json_decref(cl);

	/* The signature verifies with the public key, over header.claims. */
	size_t siglen;
	_cleanup_free_ unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
	assert_int_equal(siglen, 256);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	/* ... and not over anything else. */
	assert_int_not_equal(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt) - 1), 1);
	EVP_MD_CTX_free(md);
	/* Another key's signature does not verify. */
	EVP_PKEY *k2 = rsa_key();
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k2), 1);
	assert_int_not_equal(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k2);
	gcp_cred_free(&c);
	EVP_PKEY_free(k);
}

static void expect_load_error(const char *path, int rc, const char *needle) {
	gcp_cred_t c;
	char *err = NULL;
	assert_int_equal(gcp_cred_load(path, &c, &err), rc);
	assert_non_null(err);
	if (!strstr(err, needle)) fail_msg("'%s' does not say '%s'", err, needle);
	/* Never the file's contents. */
	assert_null(strstr(err, "PRIVATE KEY"));
	free(err);
	gcp_cred_free(&c);
}

static void test_cred_checks(void **state) {
	(void)state;
	EVP_PKEY *k = rsa_key();
	_cleanup_free_ char *pem = key_pem(k);
	EVP_PKEY_free(k);
	json_t *sa = sa_json(pem);
	_cleanup_free_ char *open_path = write_json("open.json", sa, 0644);
	expect_load_error(open_path, -EPERM, "mode 0644; it must be 0600 or 0400");
	_cleanup_free_ char *ro = write_json("ro.json", sa, 0400);
	gcp_cred_t c;
	char *err = NULL;
	assert_int_equal(gcp_cred_load(ro, &c, &err), 0);
	gcp_cred_free(&c);
	_cleanup_free_ char *missing = xasprintf("%s/missing.json", tmpdir);
	expect_load_error(missing, -ENOENT, "No such file");

	json_object_set_new(sa, "private_key", json_string("-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n"));
	_cleanup_free_ char *bad = write_json("bad.json", sa, 0600);
	expect_load_error(bad, -EINVAL, "private_key is not a PEM RSA private key");
	json_object_set_new(sa, "type", json_string("authorized_user"));
	_cleanup_free_ char *user = write_json("user.json", sa, 0600);
	expect_load_error(user, -EINVAL, "must be service_account or external_account");
	json_decref(sa);

	_cleanup_free_ char *junk = xasprintf("%s/junk.json", tmpdir);
	assert_int_equal(write_file_atomic(junk, "{\"private_key\": \"-----BEGIN PRIVATE KEY-----", 44, 0600), 0);
	expect_load_error(junk, -EINVAL, "is not a JSON object (line 1");

	json_t *ext = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "type", "external_account", "audience",
	                        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/gh",
	                        "subject_token_type", "urn:ietf:params:oauth:token-type:jwt", "token_url",
	                        "https://sts.example.test/v1/token", "credential_source", "file", "/run/oidc/token");
	_cleanup_free_ char *ep = write_json("ext.json", ext, 0600);
	assert_int_equal(gcp_cred_load(ep, &c, &err), 0);
	assert_int_equal(c.kind, GCP_CRED_EXTERNAL);
	assert_string_equal(c.subject_file, "/run/oidc/token");
	gcp_cred_free(&c);
	json_object_del(ext, "token_url");
	_cleanup_free_ char *ep2 = write_json("ext2.json", ext, 0600);
	expect_load_error(ep2, -EINVAL, "needs audience, subject_token_type and token_url");
	json_decref(ext);
}

/* ---- the token cache ---- */

static void test_token_cache(void **state) {
	(void)state;
	fake_clock_t fc = {.now_ms = 1000};
	clock_src_t clk = fake_clock_src(&fc);
	token_cache_t c = {.clock = &clk};
	assert_null(token_get(&c));
	token_set(&c, xstrdup("tok-1"), 3600);
	assert_string_equal(token_get(&c), "tok-1");
	/* An hour's token is handed out until 5 minutes before its end. */
	fc.now_ms += (3600 - 301) * 1000LL;
	assert_string_equal(token_get(&c), "tok-1");
	fc.now_ms += 2000;
	assert_null(token_get(&c));
	/* A 5-second token: until 2.5 s before its end, so a request sent
	 * with it arrives long before it expires. */
	token_set(&c, xstrdup("tok-2"), 5);
	fc.now_ms += 2499;
	assert_string_equal(token_get(&c), "tok-2");
	fc.now_ms += 1;
	assert_null(token_get(&c));
	/* A token without a lifetime is never handed out. */
	token_set(&c, xstrdup("tok-3"), 0);
	assert_null(token_get(&c));
	token_clear(&c);
	assert_null(c.token);
}

/* ---- retries ---- */

static void test_retry_after(void **state) {
	(void)state;
	assert_int_equal(http_parse_retry_after("3", 0, 60000), 3000);
	assert_int_equal(http_parse_retry_after("0", 0, 60000), 0);
	assert_int_equal(http_parse_retry_after("100000", 0, 60000), 60000);
	assert_int_equal(http_parse_retry_after("3x", 0, 60000), -1);
	assert_int_equal(http_parse_retry_after("", 0, 60000), -1);
	/* An HTTP-date, 20 s from "now". */
	assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:20 GMT", 1445412480, 60000), 20000);
	assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490, 60000), 0);
	uint64_t rng = 42;
	for (int n = 0; n < 12; n++) {
		int full = 1000 << (n < 5 ? n : 5);
		if (full > 30000) full = 30000;
		for (int i = 0; i < 50; i++) {
			int d = http_backoff_ms(n, 1000, 30000, &rng);
			assert_true(d >= full / 2 && d <= full);
		}
	}
	assert_true(http_status_retryable(429) && http_status_retryable(503) && !http_status_retryable(404));
	json_t *rl = json_pack("{s:{s:i, s:s, s:[{s:s}]}}", "error", "code", 403, "message", "Rate Limit Exceeded",
	                       "errors", "reason", "rateLimitExceeded");
	assert_true(gcp_throttled(403, rl));
	json_t *perm = json_pack("{s:{s:i, s:[{s:s}]}}", "error", "code", 403, "errors", "reason", "forbidden");
	assert_false(gcp_throttled(403, perm));
	assert_true(gcp_throttled(503, NULL));
	json_decref(rl);
	json_decref(perm);
}

/* ---- scrubbing ---- */

static void test_scrub(void **state) {
	(void)state;
	const char token[] = "ya29.c.b0AaekmSomeTokenValue1234567890";
	const char *const secrets[] = {token, NULL};
	const char body[] =
	    "{\"error\":{\"code\":400,\"message\":\"Invalid value for field 'resource.metadata.items[1].value': "
	    "'cvmctl-delivery 1\\nkey.pem LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hkR1Z6ZEMxclpYaz0K'. "
	    "Authorization: Bearer ya29.c.b0AaekmSomeTokenValue1234567890 assertion=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	    " -----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----"
	    " for instance 'analytics-01' in projects/acme-cc/zones/europe-west4-a/instances/analytics-01"
	    " (operation-1714580000000-61761a2b3c4d5-1a2b3c4d-5e6f7a8b, id 5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11)\"}}\n"
	    "next line";
	_cleanup_free_ char *s = http_scrub(body, strlen(body), secrets, 4000);
	assert_null(strstr(s, "ya29"));
	assert_null(strstr(s, "SomeTokenValue"));
	assert_null(strstr(s, "eyJ"));
	assert_null(strstr(s, "LS0tLS1CRUdJTi"));
	assert_null(strstr(s, "MIIEvQIBADAN"));
	assert_null(strstr(s, "PRIVATE KEY"));
	assert_null(strchr(s, '\n'));
	/* What a reader needs stays. */
	assert_non_null(strstr(s, "Invalid value for field"));
	assert_non_null(strstr(s, "projects/acme-cc/zones/europe-west4-a/instances/analytics-01"));
	assert_non_null(strstr(s, "operation-1714580000000-61761a2b3c4d5-1a2b3c4d-5e6f7a8b"));
	assert_non_null(strstr(s, "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11"));
	/* JSON secret fields and form fields. */
	const char form[] = "{\"access_token\":\"opaque-short\",\"refresh_token\": \"r1\"} subject_token=abc&x=1";
	_cleanup_free_ char *f = http_scrub(form, strlen(form), NULL, 4000);
	assert_null(strstr(f, "opaque-short"));
	assert_null(strstr(f, "\"r1\""));
	assert_null(strstr(f, "abc&"));
	assert_non_null(strstr(f, "x=1"));
	/* Cut to the limit. */
	_cleanup_free_ char *cut = http_scrub(body, strlen(body), secrets, 40);
	assert_true(strlen(cut) <= 40);
	_cleanup_free_ char *esc = http_escape("labels.managed-by = \"cvmctl\"");
	assert_string_equal(esc, "labels.managed-by%20%3D%20%22cvmctl%22");
}

static int setup(void **state) {
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cvmctl-test-gcp.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state) {
	(void)state;
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_bodies),  cmocka_unit_test(test_insert_refused),
		cmocka_unit_test(test_setmetadata_body), cmocka_unit_test(test_delete_request),
		cmocka_unit_test(test_golden_dir_clean), cmocka_unit_test(test_labels),
		cmocka_unit_test(test_jwt),            cmocka_unit_test(test_cred_checks),
		cmocka_unit_test(test_token_cache),    cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_scrub),         cmocka_unit_test(test_observed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
