/* pki/: the `openssl` command is the oracle for everything we produce:
 * it must verify our chains, parse our CRLs and see the extensions we mean
 * to set. The clock is the test's own (2030), never the wall clock. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pki/pki.h"

#define T0 1893456000LL /* 2030-01-01T00:00:00Z */
#define DAY 86400LL

static const char *const cvm_id = "3f2c9a64-7d1e-4b7a-9c55-0f1e2d3c4b5a";

struct fx {
	char dir[64];
};

static int setup(void **state) {
	struct fx *f = xcalloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/test_pki.XXXXXX");
	if (!mkdtemp(f->dir)) return -1;
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown(void **state) {
	struct fx *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Runs a shell command; returns its exit status and (optionally) its
 * combined output. */
static int run(char **output, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **output, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *cmd = NULL;
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	_cleanup_free_ char *full = xasprintf("(%s) 2>&1", cmd);
	FILE *p = popen(full, "r");
	assert_non_null(p);
	strbuf sb = {0};
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, p)) > 0) sb_addn(&sb, buf, n);
	int st = pclose(p);
	char *out = sb_take(&sb);
	if (output)
		*output = out;
	else
		free(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path_in(const struct fx *f, const char *name) { return xasprintf("%s/%s", f->dir, name); }

static void put(const char *path, const char *data) {
	assert_int_equal(write_file_atomic(path, data, strlen(data), 0644), 0);
}

static mode_t mode_of(const char *path) {
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The form `openssl x509 -dates` prints: "Jan  2 00:00:00 2030 GMT". */
static void openssl_date(int64_t t, char out[64]) {
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 64, "%b %e %H:%M:%S %Y GMT", &tm);
}

static pki_ca_t *new_ca(const char *dir, const char *key_type) {
	pki_ca_t *ca = NULL;
	_cleanup_free_ char *err = NULL;
	int r = pki_ca_init_at(dir, key_type, T0, &ca, &err);
	if (r < 0) fail_msg("ca init: %s", err);
	return ca;
}

static void issue(pki_ca_t *ca, const char *name, const char *key_type, pki_issued_t *out) {
	const char *dns[] = {"web-1.example.com", name};
	const char *ips[] = {"10.0.0.5", "fd00::5"};
	pki_issue_req_t req = {
		.common_name = name,
		.cvm_id = cvm_id,
		.dns_names = dns,
		.n_dns = 2,
		.ip_addresses = ips,
		.n_ip = 2,
		.key_type = key_type,
		.not_before = T0 + DAY,
		.validity_s = 30 * DAY,
	};
	_cleanup_free_ char *err = NULL;
	int r = pki_issue(ca, &req, out, &err);
	if (r < 0) fail_msg("issue: %s", err);
}

static void test_ca_and_leaf_per_key_type(void **state) {
	struct fx *f = *state;
	static const struct {
		const char *type, *key_text, *sig;
	} types[] = {
		{"ecdsa-p256", "prime256v1", "ecdsa-with-SHA256"},
		{"rsa-2048", "(2048 bit)", "sha256WithRSAEncryption"},
		{"rsa-3072", "(3072 bit)", "sha256WithRSAEncryption"},
		{"rsa-4096", "(4096 bit)", "sha256WithRSAEncryption"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		_cleanup_free_ char *dir = xasprintf("%s/ca-%s", f->dir, types[i].type);
		pki_ca_t *ca = new_ca(dir, types[i].type);
		_cleanup_free_ char *key = xasprintf("%s/ca.key", dir);
		_cleanup_free_ char *pem = xasprintf("%s/ca.pem", dir);
		assert_int_equal(mode_of(dir), 0700);
		assert_int_equal(mode_of(key), 0600);
		assert_int_equal(mode_of(pem), 0644);

		_cleanup_free_ char *keytext = NULL;
		assert_int_equal(read_file(key, &keytext, NULL), 0);
		assert_true(strncmp(keytext, "-----BEGIN PRIVATE KEY-----", 27) == 0); /* PKCS#8 */
		OPENSSL_cleanse(keytext, strlen(keytext));

		_cleanup_free_ char *text = NULL;
		assert_int_equal(run(&text, "openssl x509 -in %s -noout -text", pem), 0);
		assert_non_null(strstr(text, "CA:TRUE, pathlen:0"));
		assert_non_null(strstr(text, "Certificate Sign, CRL Sign"));
		assert_non_null(strstr(text, "X509v3 Subject Key Identifier"));
		assert_non_null(strstr(text, "Subject: CN = cvmctl CA "));
		assert_non_null(strstr(text, types[i].key_text));
		assert_non_null(strstr(text, types[i].sig));
		/* basicConstraints and keyUsage are critical */
		assert_non_null(strstr(text, "X509v3 Basic Constraints: critical"));
		assert_non_null(strstr(text, "X509v3 Key Usage: critical"));
		_cleanup_free_ char *pemtext = NULL;
		assert_int_equal(read_file(pem, &pemtext, NULL), 0);
		assert_string_equal(pki_ca_cert_pem(ca), pemtext);

		/* Self-signed: it verifies against itself. */
		_cleanup_free_ char *out = NULL;
		assert_int_equal(run(&out, "openssl verify -attime %lld -CAfile %s %s", T0, pem, pem), 0);
		char nb[64], na[64];
		openssl_date(T0 - PKI_CA_BACKDATE_S, nb);
		openssl_date(T0 - PKI_CA_BACKDATE_S + PKI_CA_VALIDITY_S, na);
		_cleanup_free_ char *dates = NULL;
		assert_int_equal(run(&dates, "openssl x509 -in %s -noout -dates", pem), 0);
		_cleanup_free_ char *want = xasprintf("notBefore=%s\nnotAfter=%s\n", nb, na);
		assert_string_equal(dates, want);

		/* A leaf of the same key type verifies against it. */
		pki_issued_t is;
		issue(ca, "web-1", types[i].type, &is);
		_cleanup_free_ char *cert = xasprintf("%s/leaf.pem", dir);
		put(cert, is.cert_pem);
		_cleanup_free_ char *v = NULL;
		assert_int_equal(run(&v, "openssl verify -attime %lld -CAfile %s %s", T0 + 2 * DAY, pem, cert), 0);
		_cleanup_free_ char *ltext = NULL;
		assert_int_equal(run(&ltext, "openssl x509 -in %s -noout -text", cert), 0);
		bool rsa = strncmp(types[i].type, "rsa", 3) == 0;
		assert_true((strstr(ltext, "Key Encipherment") != NULL) == rsa);
		assert_non_null(strstr(ltext, types[i].key_text));
		pki_issued_free(&is);
		pki_ca_free(ca);
	}
}

static void test_issued_certificate(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, NULL);
	pki_issued_t is;
	issue(ca, "web-1", NULL, &is);
	assert_int_equal(is.not_before, T0 + DAY);
	assert_int_equal(is.not_after, T0 + 31 * DAY);
	_cleanup_free_ char *capem = xasprintf("%s/ca.pem", dir);
	_cleanup_free_ char *cert = path_in(f, "cert.pem");
	put(cert, is.cert_pem);

	_cleanup_free_ char *v = NULL;
	assert_int_equal(run(&v, "openssl verify -attime %lld -CAfile %s %s", T0 + 2 * DAY, capem, cert), 0);
	_cleanup_free_ char *want = xasprintf("%s: OK\n", cert);
	assert_string_equal(v, want);
	/* Before notBefore and after notAfter it does not verify. */
	_cleanup_free_ char *early = NULL, *late = NULL;
	assert_int_not_equal(run(&early, "openssl verify -attime %lld -CAfile %s %s", T0 + DAY - 1, capem, cert), 0);
	assert_non_null(strstr(early, "error 9 "));
	assert_int_not_equal(run(&late, "openssl verify -attime %lld -CAfile %s %s", T0 + 31 * DAY + 1, capem, cert),
	                     0);
	assert_non_null(strstr(late, "error 10 "));
	/* As a TLS server and as a TLS client. */
	_cleanup_free_ char *p1 = NULL, *p2 = NULL;
	assert_int_equal(run(&p1, "openssl verify -attime %lld -purpose sslserver -CAfile %s %s", T0 + 2 * DAY, capem,
	                     cert),
	                 0);
	assert_int_equal(run(&p2, "openssl verify -attime %lld -purpose sslclient -CAfile %s %s", T0 + 2 * DAY, capem,
	                     cert),
	                 0);

	_cleanup_free_ char *text = NULL;
	assert_int_equal(run(&text, "openssl x509 -in %s -noout -text", cert), 0);
	_cleanup_free_ char *urn = xasprintf("URI:urn:uuid:%s", cvm_id);
	assert_non_null(strstr(text, "DNS:web-1.example.com, DNS:web-1"));
	assert_non_null(strstr(text, urn));
	assert_non_null(strstr(text, "IP Address:10.0.0.5"));
	assert_non_null(strstr(text, "IP Address:FD00:0:0:0:0:0:0:5"));
	assert_non_null(strstr(text, "TLS Web Server Authentication, TLS Web Client Authentication"));
	assert_non_null(strstr(text, "CA:FALSE"));
	assert_non_null(strstr(text, "X509v3 Key Usage: critical\n                Digital Signature\n"));
	assert_non_null(strstr(text, "X509v3 Authority Key Identifier"));
	assert_non_null(strstr(text, "X509v3 Subject Key Identifier"));
	assert_non_null(strstr(text, "ecdsa-with-SHA256"));

	_cleanup_free_ char *subj = NULL;
	assert_int_equal(run(&subj, "openssl x509 -in %s -noout -subject -nameopt RFC2253", cert), 0);
	_cleanup_free_ char *wsubj = xasprintf("subject=serialNumber=%s,CN=web-1\n", cvm_id);
	assert_string_equal(subj, wsubj);

	char nb[64], na[64];
	openssl_date(T0 + DAY, nb);
	openssl_date(T0 + 31 * DAY, na);
	_cleanup_free_ char *dates = NULL;
	assert_int_equal(run(&dates, "openssl x509 -in %s -noout -dates", cert), 0);
	_cleanup_free_ char *wdates = xasprintf("notBefore=%s\nnotAfter=%s\n", nb, na);
	assert_string_equal(dates, wdates);

	/* pki_cert_info reads back what openssl sees. */
	_cleanup_free_ char *serial = NULL, *oserial = NULL;
	int64_t inb = 0, ina = 0;
	assert_int_equal(pki_cert_info(is.cert_pem, &serial, &inb, &ina), 0);
	assert_string_equal(serial, is.serial);
	assert_int_equal(inb, T0 + DAY);
	assert_int_equal(ina, T0 + 31 * DAY);
	assert_int_equal(run(&oserial, "openssl x509 -in %s -noout -serial", cert), 0);
	_cleanup_free_ char *wserial = xasprintf("serial=%s\n", is.serial);
	assert_string_equal(oserial, wserial);
	assert_int_equal(pki_cert_info("not a certificate", NULL, NULL, NULL), -EINVAL);

	/* The key: PKCS#8, 0600 in a 0700 directory, and it is the cert's key. */
	assert_true(strncmp(is.key_pem, "-----BEGIN PRIVATE KEY-----", 27) == 0);
	_cleanup_free_ char *kdir = path_in(f, "certs/web-1");
	_cleanup_free_ char *key = xasprintf("%s/key.pem", kdir);
	assert_int_equal(pki_write_key_file(key, is.key_pem), 0);
	assert_int_equal(mode_of(kdir), 0700);
	assert_int_equal(mode_of(key), 0600);
	_cleanup_free_ char *pub1 = NULL, *pub2 = NULL;
	assert_int_equal(run(&pub1, "openssl pkey -in %s -pubout", key), 0);
	assert_int_equal(run(&pub2, "openssl x509 -in %s -noout -pubkey", cert), 0);
	assert_string_equal(pub1, pub2);

	/* A directory others can enter is refused for keys. */
	_cleanup_free_ char *open_dir = path_in(f, "open");
	assert_int_equal(mkdir(open_dir, 0755), 0);
	assert_int_equal(chmod(open_dir, 0755), 0);
	_cleanup_free_ char *key2 = xasprintf("%s/key.pem", open_dir);
	assert_int_equal(pki_write_key_file(key2, is.key_pem), -EPERM);
	assert_int_equal(access(key2, F_OK), -1);

	pki_issued_free(&is);
	assert_null(is.key_pem);
	assert_null(is.cert_pem);
	pki_ca_free(ca);
}

/* pki_issue writes a P-256 key and certificate public key itself (OpenSSL's
 * generic encoders cost most of an issue): the bytes must be OpenSSL's. */
static void test_p256_encodings_are_openssls(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, NULL);
	for (int i = 0; i < 20; i++) {
		pki_issued_t is;
		issue(ca, "web-1", NULL, &is);
		BIO *kb = BIO_new_mem_buf(is.key_pem, -1);
		EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
		BIO_free(kb);
		assert_non_null(key);
		assert_true(EVP_PKEY_is_a(key, "EC"));
		/* OpenSSL's own PKCS#8 PEM of the parsed key is the same text */
		BIO *out = BIO_new(BIO_s_mem());
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(out, key, NULL, NULL, 0, NULL, NULL), 1);
		char *p = NULL;
		long n = BIO_get_mem_data(out, &p);
		assert_int_equal((size_t)n, strlen(is.key_pem));
		assert_memory_equal(p, is.key_pem, (size_t)n);
		BIO_free(out);
		/* the certificate carries that key's public half, as X509_set_pubkey writes it */
		BIO *cb = BIO_new_mem_buf(is.cert_pem, -1);
		X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		BIO_free(cb);
		assert_non_null(x);
		assert_int_equal(X509_check_private_key(x, key), 1);
		unsigned char *ours = NULL, *theirs = NULL;
		int lo = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &ours);
		X509 *y = X509_new();
		assert_int_equal(X509_set_pubkey(y, key), 1);
		int lt = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(y), &theirs);
		assert_int_equal(lo, lt);
		assert_memory_equal(ours, theirs, (size_t)lo);
		OPENSSL_free(ours);
		OPENSSL_free(theirs);
		X509_free(x);
		X509_free(y);
		EVP_PKEY_free(key);
		pki_issued_free(&is);
	}
	pki_ca_free(ca);
}

static void test_issue_rejects_bad_requests(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, NULL);
	const char *evil[] = {"a.example.com,URI:http://evil"};
	const char *badip[] = {"10.0.0.300"};
	pki_issue_req_t good = {.common_name = "x", .cvm_id = cvm_id, .not_before = T0, .validity_s = DAY};
	struct {
		pki_issue_req_t req;
		const char *msg;
	} cases[] = {
		{good, NULL},
		{good, "DNS name"},
		{good, "IP address"},
		{good, "CVM id"},
		{good, "key type"},
		{good, "validity"},
		{good, "common name"},
	};
	cases[1].req.dns_names = evil, cases[1].req.n_dns = 1;
	cases[2].req.ip_addresses = badip, cases[2].req.n_ip = 1;
	cases[3].req.cvm_id = "not-a-uuid";
	cases[4].req.key_type = "dsa-1024";
	cases[5].req.validity_s = 0;
	cases[6].req.common_name = "";
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		pki_issued_t is;
		_cleanup_free_ char *err = NULL;
		int r = pki_issue(ca, &cases[i].req, &is, &err);
		if (!cases[i].msg) {
			assert_int_equal(r, 0);
			pki_issued_free(&is);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_non_null(err);
		if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
		assert_null(is.key_pem);
	}
	pki_ca_free(ca);
}

static void test_crl(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, NULL);
	pki_issued_t a, b, c;
	issue(ca, "a", NULL, &a);
	issue(ca, "b", NULL, &b);
	issue(ca, "c", NULL, &c);
	_cleanup_free_ char *capem = xasprintf("%s/ca.pem", dir);
	_cleanup_free_ char *apem = path_in(f, "a.pem"), *bpem = path_in(f, "b.pem"), *cpem = path_in(f, "c.pem");
	put(apem, a.cert_pem);
	put(bpem, b.cert_pem);
	put(cpem, c.cert_pem);

	int64_t now = T0 + 2 * DAY;
	pki_revoked_t rev[] = {
		{.serial = a.serial, .revoked_at = now - 60, .reason = pki_reason_from_name("keyCompromise")},
		{.serial = c.serial, .revoked_at = now - 30, .reason = 0},
	};
	unsigned char *crl = NULL;
	size_t len = 0;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(pki_crl(ca, rev, 2, 7, now, now + DAY, false, &crl, &len, &err), 0);
	assert_int_equal(strlen((char *)crl), len);
	_cleanup_free_ char *crlpem = path_in(f, "crl.pem");
	put(crlpem, (char *)crl);
	free(crl);

	_cleanup_free_ char *va = NULL, *vb = NULL, *vc = NULL;
	assert_int_not_equal(
		run(&va, "openssl verify -attime %lld -crl_check -CRLfile %s -CAfile %s %s", (long long)(now + 60), crlpem, capem, apem),
		0);
	assert_non_null(strstr(va, "error 23 "));
	assert_int_equal(
		run(&vb, "openssl verify -attime %lld -crl_check -CRLfile %s -CAfile %s %s", (long long)(now + 60), crlpem, capem, bpem),
		0);
	assert_int_not_equal(
		run(&vc, "openssl verify -attime %lld -crl_check -CRLfile %s -CAfile %s %s", (long long)(now + 60), crlpem, capem, cpem),
		0);
	assert_non_null(strstr(vc, "error 23 "));

	_cleanup_free_ char *sig = NULL, *text = NULL;
	assert_int_equal(run(&sig, "openssl crl -in %s -CAfile %s -noout", crlpem, capem), 0);
	assert_non_null(strstr(sig, "verify OK"));
	assert_int_equal(run(&text, "openssl crl -in %s -noout -text", crlpem), 0);
	assert_non_null(strstr(text, "Version 2 (0x1)"));
	assert_non_null(strstr(text, "X509v3 CRL Number: \n                7\n"));
	assert_non_null(strstr(text, "X509v3 Authority Key Identifier"));
	char nu[64], lu[64];
	openssl_date(now + DAY, nu);
	openssl_date(now, lu);
	_cleanup_free_ char *wnu = xasprintf("Next Update: %s", nu), *wlu = xasprintf("Last Update: %s", lu);
	assert_non_null(strstr(text, wnu));
	assert_non_null(strstr(text, wlu));
	_cleanup_free_ char *wa = xasprintf("Serial Number: %s", a.serial);
	const char *ea = strstr(text, wa);
	assert_non_null(ea);
	_cleanup_free_ char *wc = xasprintf("Serial Number: %s", c.serial);
	const char *ec = strstr(text, wc);
	assert_non_null(ec);
	/* Reason extension for a, none (unspecified) for c. */
	const char *kc = strstr(text, "Key Compromise");
	assert_non_null(kc);
	assert_null(strstr(kc + 1, "Key Compromise"));
	assert_null(strstr(text, "Unspecified"));
	_cleanup_free_ char *wb = xasprintf("Serial Number: %s", b.serial);
	assert_null(strstr(text, wb));

	/* DER parses too, with the same number. */
	assert_int_equal(pki_crl(ca, rev, 2, 8, now, now + DAY, true, &crl, &len, &err), 0);
	assert_true(len > 0 && crl[0] == 0x30);
	_cleanup_free_ char *crlder = path_in(f, "crl.der");
	assert_int_equal(write_file_atomic(crlder, crl, len, 0644), 0);
	free(crl);
	_cleanup_free_ char *dtext = NULL;
	assert_int_equal(run(&dtext, "openssl crl -inform DER -in %s -noout -text", crlder), 0);
	assert_non_null(strstr(dtext, "X509v3 CRL Number: \n                8\n"));

	/* An empty CRL is valid and lets everything through. */
	assert_int_equal(pki_crl(ca, NULL, 0, 9, now, now + DAY, false, &crl, &len, &err), 0);
	put(crlpem, (char *)crl);
	free(crl);
	_cleanup_free_ char *ve = NULL;
	assert_int_equal(
		run(&ve, "openssl verify -attime %lld -crl_check -CRLfile %s -CAfile %s %s", (long long)(now + 60), crlpem, capem, apem),
		0);

	/* Refusals. */
	pki_revoked_t bad_serial = {.serial = "XYZ", .revoked_at = now, .reason = 1};
	pki_revoked_t bad_reason = {.serial = a.serial, .revoked_at = now, .reason = 8};
	assert_int_equal(pki_crl(ca, &bad_serial, 1, 10, now, now + DAY, false, &crl, &len, &err), -EINVAL);
	assert_int_equal(pki_crl(ca, &bad_reason, 1, 10, now, now + DAY, false, &crl, &len, &err), -EINVAL);
	assert_int_equal(pki_crl(ca, NULL, 0, 10, now, now, false, &crl, &len, &err), -EINVAL);

	pki_issued_free(&a);
	pki_issued_free(&b);
	pki_issued_free(&c);
	pki_ca_free(ca);
}

static void test_reasons(void **state) {
	(void)state;
	static const char *const names[] = {"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	                                    "superseded", "cessationOfOperation", "certificateHold", NULL,
	                                    "removeFromCRL", "privilegeWithdrawn", "aACompromise"};
	for (int i = 0; i < (int)ARRAY_SIZE(names); i++) {
		if (!names[i]) {
			assert_null(pki_reason_name(i));
			assert_false(pki_reason_revocable(i));
			continue;
		}
		assert_string_equal(pki_reason_name(i), names[i]);
		assert_int_equal(pki_reason_from_name(names[i]), i);
		assert_true(pki_reason_revocable(i) == (i != 8));
	}
	assert_int_equal(pki_reason_from_name("KEYCOMPROMISE"), 1);
	assert_int_equal(pki_reason_from_name("stolen"), -1);
	assert_int_equal(pki_reason_from_name(NULL), -1);
	assert_null(pki_reason_name(11));
	assert_null(pki_reason_name(-1));
}

static void test_foreign_ca_rejected(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *ours = path_in(f, "ours"), *theirs = path_in(f, "theirs");
	pki_ca_t *ca = new_ca(ours, NULL);
	pki_ca_t *other = new_ca(theirs, NULL);
	assert_string_not_equal(pki_ca_cert_pem(ca), pki_ca_cert_pem(other));
	pki_issued_t is;
	issue(other, "intruder", NULL, &is);
	_cleanup_free_ char *cert = path_in(f, "intruder.pem");
	put(cert, is.cert_pem);
	_cleanup_free_ char *bad = NULL, *good = NULL;
	assert_int_not_equal(run(&bad, "openssl verify -attime %lld -CAfile %s/ca.pem %s", T0 + 2 * DAY, ours, cert), 0);
	assert_non_null(strstr(bad, "error 20 "));
	assert_int_equal(run(&good, "openssl verify -attime %lld -CAfile %s/ca.pem %s", T0 + 2 * DAY, theirs, cert), 0);
	pki_issued_free(&is);
	pki_ca_free(ca);
	pki_ca_free(other);
}

static void test_init_twice_and_load(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, "ecdsa-p256");
	_cleanup_free_ char *pem = xasprintf("%s/ca.pem", dir);
	_cleanup_free_ char *before = NULL;
	assert_int_equal(read_file(pem, &before, NULL), 0);

	_cleanup_free_ char *err = NULL;
	pki_ca_t *again = NULL;
	assert_int_equal(pki_ca_init_at(dir, "rsa-2048", T0, &again, &err), -EEXIST);
	assert_null(again);
	assert_non_null(strstr(err, "already exists"));
	_cleanup_free_ char *after = NULL;
	assert_int_equal(read_file(pem, &after, NULL), 0);
	assert_string_equal(before, after);

	pki_ca_t *loaded = NULL;
	assert_int_equal(pki_ca_load(dir, &loaded, &err), 0);
	assert_string_equal(pki_ca_cert_pem(loaded), before);
	assert_string_equal(pki_ca_serial(loaded), pki_ca_serial(ca));
	assert_string_equal(pki_ca_subject_cn(loaded), pki_ca_subject_cn(ca));
	assert_true(strncmp(pki_ca_subject_cn(loaded), "cvmctl CA ", 10) == 0);
	assert_int_equal(strlen(pki_ca_subject_cn(loaded)), 18);
	/* The loaded CA signs certificates the original's root verifies. */
	pki_issued_t is;
	issue(loaded, "web-2", NULL, &is);
	_cleanup_free_ char *cert = path_in(f, "c.pem");
	put(cert, is.cert_pem);
	assert_int_equal(run(NULL, "openssl verify -attime %lld -CAfile %s %s", T0 + 2 * DAY, pem, cert), 0);
	pki_issued_free(&is);

	/* Our own world-readable key is tightened to 0600 and loaded. */
	_cleanup_free_ char *key = xasprintf("%s/ca.key", dir);
	assert_int_equal(chmod(key, 0644), 0);
	pki_ca_t *nope = NULL;
	assert_int_equal(pki_ca_load(dir, &nope, &err), 0);
	assert_int_equal(mode_of(key), 0600);
	pki_ca_free(nope);
	nope = NULL;

	/* A ca.key that is a symlink (to a file of ours, even) is not followed. */
	_cleanup_free_ char *moved = xasprintf("%s/ca.key.real", dir);
	assert_int_equal(rename(key, moved), 0);
	assert_int_equal(symlink(moved, key), 0);
	free(err);
	err = NULL;
	assert_int_equal(pki_ca_load(dir, &nope, &err), -EPERM);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(unlink(key), 0);
	assert_int_equal(rename(moved, key), 0);

	/* Another user's key (root can make one) is refused, naming the owner. */
	if (geteuid() == 0) {
		assert_int_equal(chown(key, 65534, 65534), 0);
		free(err);
		err = NULL;
		assert_int_equal(pki_ca_load(dir, &nope, &err), -EPERM);
		assert_non_null(strstr(err, "uid 65534"));
		assert_int_equal(chown(key, 0, 0), 0);
	}
	free(err);
	err = NULL;

	/* No CA at all. */
	_cleanup_free_ char *empty = path_in(f, "empty");
	assert_int_equal(pki_ca_load(empty, &nope, &err), -ENOENT);
	assert_int_equal(pki_ca_init(f->dir, "ed448", &nope, &err), -EINVAL);
	assert_non_null(strstr(err, "unknown key type"));
	pki_ca_free(ca);
	pki_ca_free(loaded);
}

/* A crash between ca.key and ca.pem leaves an orphan key: load explains,
 * init replaces it. */
static void test_orphan_key_recovery(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	_cleanup_free_ char *err = NULL;
	pki_ca_t *ca = new_ca(dir, NULL);
	pki_ca_free(ca);
	_cleanup_free_ char *pem = xasprintf("%s/ca.pem", dir);
	assert_int_equal(unlink(pem), 0);
	pki_ca_t *nope = NULL;
	assert_int_equal(pki_ca_load(dir, &nope, &err), -ENOENT);
	assert_non_null(strstr(err, "interrupted"));
	ca = NULL;
#ifdef CVM_TEST_HOOKS
	/* The real thing: a process killed right after writing ca.key. */
	_cleanup_free_ char *dir2 = path_in(f, "crashed");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CVMCTL_CRASH_AT", "pki-ca-key-written", 1);
		pki_ca_init_at(dir2, NULL, T0, NULL, NULL);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	_cleanup_free_ char *key2 = xasprintf("%s/ca.key", dir2), *pem2 = xasprintf("%s/ca.pem", dir2);
	assert_int_equal(access(key2, F_OK), 0);
	assert_int_equal(access(pem2, F_OK), -1);
	assert_int_equal(pki_ca_load(dir2, &nope, &err), -ENOENT);
	assert_non_null(strstr(err, "interrupted"));
	assert_int_equal(pki_ca_init_at(dir2, NULL, T0, &ca, &err), 0);
	pki_ca_free(ca);
	ca = NULL;
#endif
	assert_int_equal(pki_ca_init_at(dir, NULL, T0, &ca, &err), 0);
	pki_ca_free(ca);
	assert_int_equal(pki_ca_load(dir, &ca, &err), 0);
	pki_ca_free(ca);
}

static void test_import(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *d1 = path_in(f, "one"), *d2 = path_in(f, "two"), *d3 = path_in(f, "three");
	pki_ca_t *one = new_ca(d1, NULL);
	pki_ca_t *two = new_ca(d2, "rsa-2048");
	_cleanup_free_ char *p1 = xasprintf("%s/ca.pem", d1), *k1 = xasprintf("%s/ca.key", d1);
	_cleanup_free_ char *k2 = xasprintf("%s/ca.key", d2);
	_cleanup_free_ char *p3 = xasprintf("%s/ca.pem", d3), *k3 = xasprintf("%s/ca.key", d3);
	_cleanup_free_ char *err = NULL;

	/* Mismatched key and certificate. */
	assert_int_equal(pki_ca_import(d3, p1, k2, &err), -EINVAL);
	assert_non_null(strstr(err, "does not belong"));
	assert_int_equal(access(p3, F_OK), -1);

	/* A leaf is not a CA. */
	pki_issued_t is;
	issue(one, "leaf", NULL, &is);
	_cleanup_free_ char *lc = path_in(f, "leaf.pem"), *lk = path_in(f, "leafkey.pem");
	put(lc, is.cert_pem);
	assert_int_equal(pki_write_key_file(lk, is.key_pem), 0);
	assert_int_equal(pki_ca_import(d3, lc, lk, &err), -EINVAL);
	assert_non_null(strstr(err, "not a CA"));
	/* Nor is the private key ever quoted in an error. */
	_cleanup_free_ char *bogus = path_in(f, "bogus.key");
	put(bogus, "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n");
	assert_int_equal(pki_ca_import(d3, p1, bogus, &err), -EINVAL);
	assert_null(strstr(err, "U0VDUkVU"));
	pki_issued_free(&is);

	/* An encrypted key is refused without prompting (stdin is not read). */
	_cleanup_free_ char *enc = path_in(f, "enc.key");
	assert_int_equal(run(NULL, "openssl pkey -in %s -aes256 -passout pass:secret -out %s", k1, enc), 0);
	assert_int_equal(pki_ca_import(d3, p1, enc, &err), -EINVAL);
	assert_non_null(strstr(err, "unencrypted"));

	/* The real thing, given as a traditional (SEC1) key plus junk around the certificate. */
	_cleanup_free_ char *sec1 = path_in(f, "sec1.key"), *bundle = path_in(f, "bundle.pem");
	assert_int_equal(run(NULL, "openssl ec -in %s -out %s", k1, sec1), 0);
	assert_int_equal(run(NULL, "(echo junk; cat %s) > %s", p1, bundle), 0);
	assert_int_equal(pki_ca_import(d3, bundle, sec1, &err), 0);
	assert_int_equal(mode_of(d3), 0700);
	assert_int_equal(mode_of(k3), 0600);
	assert_int_equal(mode_of(p3), 0644);
	_cleanup_free_ char *kt = NULL, *pt = NULL, *p1t = NULL;
	assert_int_equal(read_file(k3, &kt, NULL), 0);
	assert_true(strncmp(kt, "-----BEGIN PRIVATE KEY-----", 27) == 0);
	assert_int_equal(read_file(p3, &pt, NULL), 0);
	assert_int_equal(read_file(p1, &p1t, NULL), 0);
	assert_string_equal(pt, p1t);
	assert_int_equal(pki_ca_import(d3, p1, k1, &err), -EEXIST);

	pki_ca_t *three = NULL;
	assert_int_equal(pki_ca_load(d3, &three, &err), 0);
	issue(three, "imported", NULL, &is);
	_cleanup_free_ char *cert = path_in(f, "imported.pem");
	put(cert, is.cert_pem);
	assert_int_equal(run(NULL, "openssl verify -attime %lld -CAfile %s %s", T0 + 2 * DAY, p1, cert), 0);
	pki_issued_free(&is);
	pki_ca_free(one);
	pki_ca_free(two);
	pki_ca_free(three);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_serials_distinct(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *dir = path_in(f, "ca");
	pki_ca_t *ca = new_ca(dir, NULL);
	enum { N = 1000 };
	char **serials = xcalloc(N, sizeof *serials);
	pki_issue_req_t req = {.common_name = "s", .cvm_id = cvm_id, .not_before = T0, .validity_s = DAY};
	for (int i = 0; i < N; i++) {
		pki_issued_t is;
		_cleanup_free_ char *err = NULL;
		assert_int_equal(pki_issue(ca, &req, &is, &err), 0);
		size_t n = strlen(is.serial);
		assert_true(n >= 2 && n <= 32 && n % 2 == 0);
		assert_true(n < 32 || is.serial[0] < '8'); /* positive */
		assert_int_equal(strspn(is.serial, "0123456789ABCDEF"), n);
		serials[i] = xstrdup(is.serial);
		pki_issued_free(&is);
	}
	qsort(serials, N, sizeof *serials, cmp_str);
	for (int i = 1; i < N; i++) assert_string_not_equal(serials[i - 1], serials[i]);
	for (int i = 0; i < N; i++) free(serials[i]);
	free(serials);
	pki_ca_free(ca);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_and_leaf_per_key_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issued_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p256_encodings_are_openssls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_rejects_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl, setup, teardown),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test_setup_teardown(test_foreign_ca_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_twice_and_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_key_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serials_distinct, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
