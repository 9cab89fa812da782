/* Helpers shared by the files of pki/, and the two small helpers the
 * reconciler uses on certificates and key files. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pki/pki.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)

static const struct {
	const char *name;
	int rsa_bits; /* 0: ECDSA P-256 */
} key_types[] = {
	{"ecdsa-p256", 0},
	{"rsa-2048", 2048},
	{"rsa-3072", 3072},
	{"rsa-4096", 4096},
};

static int key_type_index(const char *key_type) {
	if (!key_type || !*key_type) key_type = PKI_DEFAULT_KEY_TYPE;
	for (size_t i = 0; i < ARRAY_SIZE(key_types); i++)
		if (strcmp(key_types[i].name, key_type) == 0) return (int)i;
	return -1;
}

bool pki_key_type_valid(const char *key_type) {
	return key_type_index(key_type) >= 0;
}

/* The OpenSSL error queue is appended when it has something: its strings
 * name the failing operation, never key material. */
int pki_set_err(char **err, int r, const char *fmt, ...) {
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		_cleanup_free_ char *msg = NULL;
		if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
		va_end(ap);
		unsigned long e = ERR_peek_last_error();
		free(*err);
		if (e) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof buf);
			*err = xasprintf("%s (%s)", msg ? msg : "error", buf);
		} else {
			*err = xstrdup(msg ? msg : "error");
		}
	}
	ERR_clear_error();
	return r;
}

int pki_keygen(const char *key_type, EVP_PKEY **out, char **err) {
	int i = key_type_index(key_type);
	if (i < 0)
		return pki_set_err(err, -EINVAL, "unknown key type '%s' (ecdsa-p256, rsa-2048, rsa-3072, rsa-4096)",
		                   key_type);
	EVP_PKEY *k = key_types[i].rsa_bits ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)key_types[i].rsa_bits)
	                                    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k) return pki_set_err(err, -EIO, "cannot generate a %s key", key_types[i].name);
	*out = k;
	return 0;
}

int pki_serial_hex(const ASN1_INTEGER *ai, char hex[41]) {
	_cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	if (!bn) return -EINVAL;
	char *h = BN_bn2hex(bn); /* upper case, whole bytes */
	if (!h) return -ENOMEM;
	int r = 0;
	if (strlen(h) > 40)
		r = -ERANGE; /* RFC 5280 caps serials at 20 octets */
	else
		strcpy(hex, h);
	OPENSSL_free(h);
	return r;
}

/* 128 random bits with the top bit cleared, so that the DER INTEGER is
 * positive and at most 16 octets; never zero. */
int pki_random_serial(ASN1_INTEGER **out, char hex[41]) {
	unsigned char b[16];
	do {
		if (RAND_bytes(b, sizeof b) != 1) return -EIO;
		b[0] &= 0x7f;
	} while (!memcmp(b, (unsigned char[16]){0}, sizeof b));
	_cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
	if (!bn) return -ENOMEM;
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (!ai) return -ENOMEM;
	int r = pki_serial_hex(ai, hex);
	if (r < 0) {
		ASN1_INTEGER_free(ai);
		return r;
	}
	*out = ai;
	return 0;
}

int pki_asn1_time_get(const ASN1_TIME *t, int64_t *out) {
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* UTCTime before 2050, GeneralizedTime from then on, as RFC 5280 wants. */
int pki_asn1_time_set(ASN1_TIME **t, int64_t secs) {
	if (secs < 0 || (sizeof(time_t) < 8 && secs > INT32_MAX)) return -ERANGE;
	ASN1_TIME *n = ASN1_TIME_set(*t, (time_t)secs);
	if (!n) return -ERANGE;
	*t = n;
	return 0;
}

/* The bytes written to a memory BIO, as a NUL-terminated malloc'ed copy. */
char *pki_bio_take(BIO *bio, size_t *len) {
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	if (n < 0) return NULL;
	char *copy = xmalloc((size_t)n + 1);
	if (n) memcpy(copy, data, (size_t)n);
	copy[n] = 0;
	if (len) *len = (size_t)n;
	return copy;
}

/* EdDSA keys (possible in an imported CA) sign without a separate digest. */
const EVP_MD *pki_sign_md(EVP_PKEY *key) {
	if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) return NULL;
	return EVP_sha256();
}

int pki_cert_info(const char *pem, char **serial, int64_t *not_before, int64_t *not_after) {
	if (!pem) return -EINVAL;
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
	if (!bio) return -ENOMEM;
	_cleanup_(X509_freep) X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	ERR_clear_error();
	if (!x) return -EINVAL;
	char hex[41];
	int64_t nb, na;
	int r = pki_serial_hex(X509_get0_serialNumber(x), hex);
	if (r < 0) return r;
	if (pki_asn1_time_get(X509_get0_notBefore(x), &nb) < 0 || pki_asn1_time_get(X509_get0_notAfter(x), &na) < 0)
		return -EINVAL;
	if (serial) *serial = xstrdup(hex);
	if (not_before) *not_before = nb;
	if (not_after) *not_after = na;
	return 0;
}

int pki_write_key_file(const char *path, const char *key_pem) {
	if (!path || !key_pem) return -EINVAL;
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	int r = mkdir_p(dir, 0700);
	if (r < 0) return r;
	struct stat st;
	if (stat(dir, &st) < 0) return -errno;
	if (st.st_mode & 077) return -EPERM;
	return write_file_atomic(path, key_pem, strlen(key_pem), 0600);
}

int pki_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (!ext) return -EINVAL;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}
