/* The built-in certificate authority: a self-signed root (or an imported
 * one) in a directory, the certificates it issues to CVMs, and the CRL.
 *
 * pki/ knows no backend and no store: it works on bytes, files and the plain
 * structs below. Functions return 0 or a negative errno; when they take
 * `char **err` they also set it to a one-line message (caller frees) that
 * never contains key material, and they log nothing.
 *
 * CA directory layout:
 *   <dir>/ca.key   the CA private key, PKCS#8 PEM, 0600 (dir 0700)
 *   <dir>/ca.pem   the CA certificate, PEM, 0644
 *   <dir>/ca.lock  flock(2) taken while a CA is created or imported
 * ca.pem is the commit point. Creation writes ca.key first and ca.pem last,
 * each atomically with fsync, so a crash leaves either a complete CA or a
 * key without certificate. Nothing can have been signed by such an orphan
 * key (loading needs ca.pem), so init and import silently replace it, and
 * load explains how to recover.
 *
 * Issued certificates: subject CN=<CVM name>, serialNumber=<CVM id> (the DN
 * attribute X.520 defines for "the serial number of the entity", which the
 * CVM is; the certificate's own serial is the separate X.509 field), SAN
 * URI urn:uuid:<CVM id> plus any DNS names and IP addresses asked for. */
#ifndef CVM_PKI_H
#define CVM_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

typedef struct pki_ca pki_ca_t;

#define PKI_DEFAULT_KEY_TYPE "ecdsa-p256"
/* The root's validity; the root is backdated by PKI_CA_BACKDATE_S so that a
 * guest whose clock runs a little slow still accepts it. */
#define PKI_CA_VALIDITY_S (10 * 365 * 86400LL + 2 * 86400LL)
#define PKI_CA_BACKDATE_S 3600

/* Supported key types: "ecdsa-p256" (default), "rsa-2048", "rsa-3072",
 * "rsa-4096". NULL or "" means the default. */
bool pki_key_type_valid(const char *key_type);

/* Creates a new self-signed root in dir (created 0700 if missing): CN
 * "cvmctl CA <8 hex of SHA-256 of its public key>", basicConstraints
 * critical CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, SKI,
 * valid from now-PKI_CA_BACKDATE_S for PKI_CA_VALIDITY_S. -EEXIST if dir
 * already holds a CA. *out (optional) receives the loaded CA. */
int pki_ca_init(const char *dir, const char *key_type, pki_ca_t **out, char **err);
/* Same with an explicit clock (epoch seconds), for tests and tools. */
int pki_ca_init_at(const char *dir, const char *key_type, int64_t now, pki_ca_t **out, char **err);
/* Loads the CA in dir and checks that key and certificate belong together.
 * -ENOENT if dir holds no CA. Encrypted keys are refused (no prompt). */
int pki_ca_load(const char *dir, pki_ca_t **out, char **err);
/* Copies an existing CA into dir after checking that the key matches the
 * certificate, that the certificate is a CA (basicConstraints CA:TRUE) and
 * may sign certificates and CRLs (keyUsage keyCertSign and cRLSign). The key
 * is re-encoded as PKCS#8; further certificates in cert_pem_path (a chain
 * up to a root) are kept after the CA's in ca.pem. -EEXIST as for init. */
int pki_ca_import(const char *dir, const char *cert_pem_path, const char *key_pem_path, char **err);
/* The checks of pki_ca_import on PEM text in memory, writing nothing: 0 or
 * -errno with *err set (fuzzing, and callers that hold the text). */
int pki_ca_import_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, char **err);
void pki_ca_free(pki_ca_t *ca);
/* The contents of ca.pem: the bundle to deliver into CVMs. Owned by ca. */
const char *pki_ca_cert_pem(const pki_ca_t *ca);
/* Upper-case hex serial and subject CN of the root. Owned by ca. */
const char *pki_ca_serial(const pki_ca_t *ca);
const char *pki_ca_subject_cn(const pki_ca_t *ca);

/* ---- issuing ---- */
typedef struct pki_issue_req {
	const char *common_name;      /* the CVM name; 1..64 bytes */
	const char *cvm_id;           /* RFC 4122 UUID, lower case */
	const char *const *dns_names; /* SAN DNS entries */
	size_t n_dns;
	const char *const *ip_addresses; /* SAN IP entries (v4 or v6 text) */
	size_t n_ip;
	const char *key_type;         /* NULL: PKI_DEFAULT_KEY_TYPE */
	int64_t not_before;           /* epoch seconds, used exactly as given */
	int64_t validity_s;           /* not_after = not_before + validity_s */
} pki_issue_req_t;

typedef struct pki_issued {
	char serial[41]; /* upper-case hex of a positive 127-bit random serial */
	char *cert_pem;
	char *key_pem;   /* PKCS#8 PEM, unencrypted: wipe with pki_issued_free */
	int64_t not_before, not_after;
} pki_issued_t;

/* Issues a certificate with a fresh key: basicConstraints CA:FALSE,
 * keyUsage critical digitalSignature (+keyEncipherment for RSA), EKU
 * serverAuth+clientAuth, SKI, AKI, signed with SHA-256. */
int pki_issue(pki_ca_t *ca, const pki_issue_req_t *req, pki_issued_t *out, char **err);
/* Frees out's strings, wiping the private key first; leaves out zeroed. */
void pki_issued_free(pki_issued_t *out);

/* ---- revocation ---- */
/* RFC 5280 CRLReason codes by their ASN.1 names ("keyCompromise", ...;
 * matched case-insensitively). -1 if unknown. */
int pki_reason_from_name(const char *name);
const char *pki_reason_name(int code); /* NULL if not a CRLReason code */
/* True for the reasons a certificate can be put on a (full) CRL with: every
 * code but removeFromCRL (8), which only has meaning in delta CRLs. */
bool pki_reason_revocable(int code);

typedef struct pki_revoked {
	const char *serial;  /* upper- or lower-case hex */
	int64_t revoked_at;  /* epoch seconds */
	int reason;          /* CRLReason code; 0 or -1: the entry has no reason extension */
} pki_revoked_t;

/* Signs a v2 CRL (SHA-256) listing `revoked`, with CRL Number, AKI,
 * thisUpdate and nextUpdate. PEM (NUL-terminated) or DER into *out. */
int pki_crl(pki_ca_t *ca, const pki_revoked_t *revoked, size_t n, uint64_t crl_number, int64_t this_update,
            int64_t next_update, bool der, unsigned char **out, size_t *len, char **err);

/* ---- helpers for the reconciler ---- */
/* Re-encodes a PEM CRL as DER (*out malloc'ed). -EINVAL if pem holds none. */
int pki_crl_pem_to_der(const char *pem, unsigned char **out, size_t *len);
/* Serial (upper-case hex), notBefore and notAfter of the first certificate
 * in pem. Any output may be NULL. -EINVAL if pem holds no certificate. */
int pki_cert_info(const char *pem, char **serial, int64_t *not_before, int64_t *not_after);
/* Writes a private key to path atomically (fsync'ed) with mode 0600. The
 * directory is created 0700 if missing; an existing one must not be open to
 * group or others (-EPERM otherwise), since the key's name and the temporary
 * file would be visible there. */
int pki_write_key_file(const char *path, const char *key_pem);

/* ---- shared by the files of pki/, not for callers ---- */
int pki_set_err(char **err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int pki_keygen(const char *key_type, EVP_PKEY **out, char **err);
int pki_random_serial(ASN1_INTEGER **out, char hex[41]);
int pki_serial_hex(const ASN1_INTEGER *ai, char hex[41]);
int pki_asn1_time_get(const ASN1_TIME *t, int64_t *out);
int pki_asn1_time_set(ASN1_TIME **t, int64_t secs);
char *pki_bio_take(BIO *bio, size_t *len);
const EVP_MD *pki_sign_md(EVP_PKEY *key);
/* Adds an extension given in openssl-config syntax; only for fixed values,
 * never for text that came from a user. */
int pki_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value);
X509 *pki_ca_x509(const pki_ca_t *ca);
EVP_PKEY *pki_ca_key(const pki_ca_t *ca);

#endif
