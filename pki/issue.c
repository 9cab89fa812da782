/* Issuing a CVM's certificate: a fresh key and a leaf signed by the CA. */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pki/pki.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free)

void pki_issued_free(pki_issued_t *out) {
	if (!out) return;
	if (out->key_pem) {
		OPENSSL_cleanse(out->key_pem, strlen(out->key_pem));
		free(out->key_pem);
	}
	free(out->cert_pem);
	memset(out, 0, sizeof *out);
}

/* Letters, digits, hyphens and dots, an optional leading "*." label; the
 * text goes into an IA5String as it is, so anything else is refused here. */
static bool dns_name_valid(const char *s) {
	size_t n = strlen(s);
	if (n == 0 || n > 253) return false;
	if (strncmp(s, "*.", 2) == 0) s += 2;
	if (!*s || *s == '.' || *s == '-') return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		          c == '.';
		if (!ok || (c == '.' && p[1] == '.')) return false;
	}
	return true;
}

static int push_name(GENERAL_NAMES *gens, int type, const char *text, char **err) {
	GENERAL_NAME *g = GENERAL_NAME_new();
	if (!g) return -ENOMEM;
	if (type == GEN_IPADD) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
		if (!ip) {
			GENERAL_NAME_free(g);
			return pki_set_err(err, -EINVAL, "'%s' is not an IP address", text);
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!s || !ASN1_STRING_set(s, text, (int)strlen(text))) {
			ASN1_IA5STRING_free(s);
			GENERAL_NAME_free(g);
			return -ENOMEM;
		}
		GENERAL_NAME_set0_value(g, type, s);
	}
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* The SAN is built from typed values, never from config text, so that a
 * name containing "," or ":" cannot smuggle in another entry. */
static int add_san(X509 *x, const pki_issue_req_t *req, char **err) {
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	if (!gens) return -ENOMEM;
	int r;
	for (size_t i = 0; i < req->n_dns; i++)
		if ((r = push_name(gens, GEN_DNS, req->dns_names[i], err)) < 0) return r;
	for (size_t i = 0; i < req->n_ip; i++)
		if ((r = push_name(gens, GEN_IPADD, req->ip_addresses[i], err)) < 0) return r;
	_cleanup_free_ char *urn = xasprintf("urn:uuid:%s", req->cvm_id);
	if ((r = push_name(gens, GEN_URI, urn, err)) < 0) return r;
	/* Not critical: the subject is not empty. */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) return -ENOMEM;
	return 0;
}

static int check_req(const pki_issue_req_t *req, char **err) {
	const char *cn = req->common_name;
	if (!cn || !*cn || strlen(cn) > 64) return pki_set_err(err, -EINVAL, "the common name must be 1 to 64 bytes");
	for (const unsigned char *p = (const unsigned char *)cn; *p; p++)
		if (*p < 0x20 || *p == 0x7f) return pki_set_err(err, -EINVAL, "the common name holds a control character");
	if (!uuid_valid(req->cvm_id)) return pki_set_err(err, -EINVAL, "'%s' is not a CVM id", req->cvm_id ? req->cvm_id : "");
	for (size_t i = 0; i < req->n_dns; i++)
		if (!req->dns_names[i] || !dns_name_valid(req->dns_names[i]))
			return pki_set_err(err, -EINVAL, "'%s' is not a DNS name",
			                   req->dns_names[i] ? req->dns_names[i] : "");
	if (!pki_key_type_valid(req->key_type))
		return pki_set_err(err, -EINVAL, "unknown key type '%s' (ecdsa-p256, rsa-2048, rsa-3072, rsa-4096)",
		                   req->key_type);
	if (req->not_before < 0 || req->validity_s <= 0 || req->not_before > INT64_MAX - req->validity_s)
		return pki_set_err(err, -EINVAL, "invalid validity period");
	return 0;
}

/* ---- P-256 encodings, written directly ----
 * For a provider key, OpenSSL 3's generic encoders (X509_set_pubkey,
 * PEM_write_bio_PKCS8PrivateKey) set up an encoder chain on every call:
 * about 350 of the 400 us a P-256 certificate costs. Both encodings of a
 * P-256 key have a fixed shape, so they are written here from the key's
 * raw public point and private scalar; test_pki checks that they are byte
 * for byte what OpenSSL writes. Other key types take the generic path. */

#define P256_POINT_LEN 65 /* uncompressed: 04 || X || Y */
#define P256_SCALAR_LEN 32

/* PKCS#8 PrivateKeyInfo { version 0, { id-ecPublicKey, prime256v1 },
 * OCTET STRING { ECPrivateKey { version 1, privateKey, [1] publicKey } } },
 * as OpenSSL writes it (no [0] parameters inside: they are outside). */
static const unsigned char p8_head[] = {
	0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
	0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
};
static const unsigned char p8_mid[] = {0xa1, 0x44, 0x03, 0x42, 0x00};

static int p256_point(EVP_PKEY *key, unsigned char pt[P256_POINT_LEN]) {
	size_t len = 0;
	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, P256_POINT_LEN, &len) ||
	    len != P256_POINT_LEN || pt[0] != 0x04)
		return -EIO;
	return 0;
}

/* The certificate's SubjectPublicKeyInfo: { id-ecPublicKey, prime256v1 },
 * BIT STRING point. */
static int p256_set_pubkey(X509 *x, const unsigned char pt[P256_POINT_LEN]) {
	unsigned char *enc = OPENSSL_memdup(pt, P256_POINT_LEN);
	if (!enc) return -ENOMEM;
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
	                            OBJ_nid2obj(NID_X9_62_prime256v1), enc, P256_POINT_LEN)) {
		OPENSSL_free(enc);
		return -ENOMEM;
	}
	return 0;
}

/* PEM "PRIVATE KEY" (PKCS#8) into kb, a secure-memory BIO. */
static int p256_write_pkcs8(BIO *kb, EVP_PKEY *key, const unsigned char pt[P256_POINT_LEN]) {
	unsigned char der[sizeof p8_head + P256_SCALAR_LEN + sizeof p8_mid + P256_POINT_LEN];
	BIGNUM *d = NULL;
	int r = -EIO;
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d)) return r;
	unsigned char *p = der;
	memcpy(p, p8_head, sizeof p8_head);
	p += sizeof p8_head;
	if (BN_bn2binpad(d, p, P256_SCALAR_LEN) == P256_SCALAR_LEN) {
		p += P256_SCALAR_LEN;
		memcpy(p, p8_mid, sizeof p8_mid);
		p += sizeof p8_mid;
		memcpy(p, pt, P256_POINT_LEN);
		r = PEM_write_bio(kb, "PRIVATE KEY", "", der, (long)sizeof der) > 0 ? 0 : -ENOMEM;
	}
	BN_clear_free(d);
	OPENSSL_cleanse(der, sizeof der);
	return r;
}

int pki_issue(pki_ca_t *ca, const pki_issue_req_t *req, pki_issued_t *out, char **err) {
	ERR_clear_error();
	memset(out, 0, sizeof *out);
	int r = check_req(req, err);
	if (r < 0) return r;
	X509 *cacert = pki_ca_x509(ca);
	EVP_PKEY *cakey = pki_ca_key(ca);

	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	r = pki_keygen(req->key_type, &key, err);
	if (r < 0) return r;

	_cleanup_(X509_freep) X509 *x = X509_new();
	if (!x || !X509_set_version(x, X509_VERSION_3)) return pki_set_err(err, -ENOMEM, "cannot build a certificate");
	_cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
	char hex[41];
	if (pki_random_serial(&serial, hex) < 0 || !X509_set_serialNumber(x, serial))
		return pki_set_err(err, -EIO, "cannot make a serial number");

	_cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
	if (!name ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)req->common_name,
	                                -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC, (const unsigned char *)req->cvm_id, -1,
	                                -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, X509_get_subject_name(cacert)))
		return pki_set_err(err, -EINVAL, "cannot set the subject of '%s'", req->common_name);

	int64_t not_after = req->not_before + req->validity_s;
	ASN1_TIME *nb = NULL, *na = NULL;
	r = pki_asn1_time_set(&nb, req->not_before);
	if (r == 0) r = pki_asn1_time_set(&na, not_after);
	if (r == 0 && (!X509_set1_notBefore(x, nb) || !X509_set1_notAfter(x, na))) r = -ENOMEM;
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	if (r < 0) return pki_set_err(err, r, "cannot set the validity period");

	bool rsa = EVP_PKEY_is_a(key, "RSA");
	unsigned char pt[P256_POINT_LEN];
	if (rsa ? !X509_set_pubkey(x, key) : p256_point(key, pt) < 0 || p256_set_pubkey(x, pt) < 0)
		return pki_set_err(err, -ENOMEM, "cannot set the public key");
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, cacert, x, NULL, NULL, 0);
	if (pki_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    pki_add_ext(x, &ctx, NID_key_usage,
	                rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature") < 0 ||
	    pki_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    pki_add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    pki_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
		return pki_set_err(err, -EINVAL, "cannot add the certificate extensions");
	r = add_san(x, req, err);
	if (r == -ENOMEM) return pki_set_err(err, r, "cannot add the subject alternative names");
	if (r < 0) return r; /* reported by push_name */

	if (X509_sign(x, cakey, pki_sign_md(cakey)) <= 0) return pki_set_err(err, -EIO, "cannot sign the certificate");

	_cleanup_(BIO_freep) BIO *cb = BIO_new(BIO_s_mem());
	if (!cb || !PEM_write_bio_X509(cb, x)) return pki_set_err(err, -ENOMEM, "cannot encode the certificate");
	/* Secure memory BIO: its buffer is wiped when freed. */
	_cleanup_(BIO_freep) BIO *kb = BIO_new(BIO_s_secmem());
	if (!kb || (rsa ? !PEM_write_bio_PKCS8PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL)
	                : p256_write_pkcs8(kb, key, pt) < 0))
		return pki_set_err(err, -ENOMEM, "cannot encode the private key");

	out->cert_pem = pki_bio_take(cb, NULL);
	out->key_pem = pki_bio_take(kb, NULL);
	memcpy(out->serial, hex, sizeof hex);
	out->not_before = req->not_before;
	out->not_after = not_after;
	return 0;
}
