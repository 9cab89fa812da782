/* Revocation: RFC 5280 reason codes and the CA's signed CRL. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pki/pki.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL *, X509_CRL_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REVOKED *, X509_REVOKED_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_ENUMERATED *, ASN1_ENUMERATED_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME *, ASN1_TIME_free)

/* CRLReason ::= ENUMERATED, RFC 5280 section 5.3.1; 7 is unused. */
static const char *const reasons[] = {
	[0] = "unspecified",          [1] = "keyCompromise",  [2] = "cACompromise",
	[3] = "affiliationChanged",   [4] = "superseded",     [5] = "cessationOfOperation",
	[6] = "certificateHold",      [8] = "removeFromCRL",  [9] = "privilegeWithdrawn",
	[10] = "aACompromise",
};

int pki_reason_from_name(const char *name) {
	if (!name) return -1;
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		if (reasons[i] && strcasecmp(reasons[i], name) == 0) return (int)i;
	return -1;
}

const char *pki_reason_name(int code) {
	if (code < 0 || (size_t)code >= ARRAY_SIZE(reasons)) return NULL;
	return reasons[code];
}

bool pki_reason_revocable(int code) {
	return pki_reason_name(code) != NULL && code != 8;
}

static int parse_serial(const char *hex, ASN1_INTEGER **out) {
	size_t n = hex ? strlen(hex) : 0;
	if (n == 0 || n > 40) return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i])) return -EINVAL;
	_cleanup_(BN_freep) BIGNUM *bn = NULL;
	if (BN_hex2bn(&bn, hex) != (int)n) return -EINVAL;
	*out = BN_to_ASN1_INTEGER(bn, NULL);
	return *out ? 0 : -ENOMEM;
}

static int add_entry(X509_CRL *crl, const pki_revoked_t *e, char **err) {
	_cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
	if (parse_serial(e->serial, &serial) < 0)
		return pki_set_err(err, -EINVAL, "'%s' is not a hex serial number", e->serial ? e->serial : "");
	if (e->reason > 0 && !pki_reason_revocable(e->reason))
		return pki_set_err(err, -EINVAL, "serial %s: %d is not a reason a full CRL can carry", e->serial,
		                   e->reason);
	_cleanup_(X509_REVOKED_freep) X509_REVOKED *rv = X509_REVOKED_new();
	_cleanup_(ASN1_TIME_freep) ASN1_TIME *at = NULL;
	if (!rv || !X509_REVOKED_set_serialNumber(rv, serial)) return pki_set_err(err, -ENOMEM, "cannot build the CRL");
	if (pki_asn1_time_set(&at, e->revoked_at) < 0 || !X509_REVOKED_set_revocationDate(rv, at))
		return pki_set_err(err, -EINVAL, "serial %s: invalid revocation time", e->serial);
	/* RFC 5280: the reason extension SHOULD be absent rather than say
	 * unspecified (0). */
	if (e->reason > 0) {
		_cleanup_(ASN1_ENUMERATED_freep) ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
		if (!code || !ASN1_ENUMERATED_set(code, e->reason) ||
		    X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, code, 0, X509V3_ADD_DEFAULT) != 1)
			return pki_set_err(err, -ENOMEM, "cannot build the CRL");
	}
	if (!X509_CRL_add0_revoked(crl, rv)) return pki_set_err(err, -ENOMEM, "cannot build the CRL");
	rv = NULL; /* owned by crl now */
	return 0;
}

int pki_crl(pki_ca_t *ca, const pki_revoked_t *revoked, size_t n, uint64_t crl_number, int64_t this_update,
            int64_t next_update, bool der, unsigned char **out, size_t *len, char **err) {
	ERR_clear_error();
	if (this_update < 0 || next_update <= this_update)
		return pki_set_err(err, -EINVAL, "nextUpdate must come after thisUpdate");
	X509 *cacert = pki_ca_x509(ca);
	EVP_PKEY *cakey = pki_ca_key(ca);

	_cleanup_(X509_CRL_freep) X509_CRL *crl = X509_CRL_new();
	if (!crl || !X509_CRL_set_version(crl, 1 /* v2 */) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(cacert)))
		return pki_set_err(err, -ENOMEM, "cannot build the CRL");
	_cleanup_(ASN1_TIME_freep) ASN1_TIME *tu = NULL;
	_cleanup_(ASN1_TIME_freep) ASN1_TIME *nu = NULL;
	if (pki_asn1_time_set(&tu, this_update) < 0 || pki_asn1_time_set(&nu, next_update) < 0 ||
	    !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu))
		return pki_set_err(err, -EINVAL, "invalid CRL validity period");

	for (size_t i = 0; i < n; i++) {
		int r = add_entry(crl, &revoked[i], err);
		if (r < 0) return r;
	}
	if (!X509_CRL_sort(crl)) return pki_set_err(err, -ENOMEM, "cannot sort the CRL");

	_cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *num = ASN1_INTEGER_new();
	if (!num || !ASN1_INTEGER_set_uint64(num, crl_number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1)
		return pki_set_err(err, -ENOMEM, "cannot add the CRL number");
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, cacert, NULL, NULL, crl, 0);
	_cleanup_(X509_EXTENSION_freep) X509_EXTENSION *aki =
		X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (!aki || !X509_CRL_add_ext(crl, aki, -1))
		return pki_set_err(err, -EINVAL, "cannot add the authority key identifier to the CRL");

	if (X509_CRL_sign(crl, cakey, pki_sign_md(cakey)) <= 0) return pki_set_err(err, -EIO, "cannot sign the CRL");

	_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
	if (!b || !(der ? i2d_X509_CRL_bio(b, crl) : PEM_write_bio_X509_CRL(b, crl)))
		return pki_set_err(err, -ENOMEM, "cannot encode the CRL");
	*out = (unsigned char *)pki_bio_take(b, len);
	return 0;
}

int pki_crl_pem_to_der(const char *pem, unsigned char **out, size_t *len) {
	BIO *bio = BIO_new_mem_buf(pem, -1);
	if (!bio) return -ENOMEM;
	X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!crl) return -EINVAL;
	unsigned char *der = NULL;
	int n = i2d_X509_CRL(crl, &der);
	X509_CRL_free(crl);
	if (n <= 0) return -EINVAL;
	*out = xmalloc((size_t)n);
	memcpy(*out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return 0;
}
