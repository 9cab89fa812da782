/* The CA directory: creating a root, importing one, loading it. See pki.h
 * for the layout and why ca.pem is written last. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/trust.h"
#include "common/util.h"
#include "pki/pki.h"

struct pki_ca {
	char *dir;
	X509 *cert;
	EVP_PKEY *key;
	char *cert_pem; /* the whole ca.pem: the CA first, then any chain */
	char serial[41];
	char *cn;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(pki_ca_t *, pki_ca_free)

static void x509_stack_freep(STACK_OF(X509) **s) {
	if (*s) sk_X509_pop_free(*s, X509_free);
}

void pki_ca_free(pki_ca_t *ca) {
	if (!ca) return;
	free(ca->dir);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->cert_pem);
	free(ca->cn);
	free(ca);
}

const char *pki_ca_cert_pem(const pki_ca_t *ca) { return ca->cert_pem; }
const char *pki_ca_serial(const pki_ca_t *ca) { return ca->serial; }
const char *pki_ca_subject_cn(const pki_ca_t *ca) { return ca->cn; }
X509 *pki_ca_x509(const pki_ca_t *ca) { return ca->cert; }
EVP_PKEY *pki_ca_key(const pki_ca_t *ca) { return ca->key; }

/* A key file is never decrypted interactively: refuse instead of prompting. */
static int no_password(char *buf, int size, int rwflag, void *u) {
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int open_file(const char *path, BIO **out, char **err) {
	*out = BIO_new_file(path, "rb");
	if (!*out) {
		int r = errno ? -errno : -EIO;
		ERR_clear_error();
		return pki_set_err(err, r, "cannot open %s: %s", path, strerror(-r));
	}
	return 0;
}

/* The first private key in PEM text (`name` says where, in messages). */
static int read_key_bio(BIO *bio, const char *name, EVP_PKEY **out, char **err) {
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	if (!k) {
		ERR_clear_error();
		return pki_set_err(err, -EINVAL,
		                   "%s holds no usable private key (PEM, unencrypted: decrypt an encrypted key first)",
		                   name);
	}
	*out = k;
	return 0;
}

/* ca.key of our own state: through read_secret_file (O_NOFOLLOW, fstat of
 * the descriptor: ours and 0600), parsed from memory that is wiped. */
static int read_ca_key(const char *path, EVP_PKEY **out, char **err) {
	char *pem = NULL;
	size_t len = 0;
	int r = read_secret_file(path, &pem, &len, err);
	if (r < 0) return r;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	r = bio ? read_key_bio(bio, path, out, err) : pki_set_err(err, -ENOMEM, "cannot read %s", path);
	BIO_free(bio);
	free_secret_n(pem, len);
	return r;
}

/* Every certificate in PEM text, in order; at least one. */
static int read_certs_bio(BIO *bio, const char *name, STACK_OF(X509) **out, char **err) {
	_cleanup_(x509_stack_freep) STACK_OF(X509) *sk = sk_X509_new_null();
	if (!sk) return -ENOMEM;
	X509 *x;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	ERR_clear_error(); /* the loop ends on "no start line" */
	if (sk_X509_num(sk) == 0) return pki_set_err(err, -EINVAL, "%s holds no PEM certificate", name);
	*out = TAKE_PTR(sk);
	return 0;
}

static int read_certs(const char *path, STACK_OF(X509) **out, char **err) {
	_cleanup_(BIO_freep) BIO *bio = NULL;
	int r = open_file(path, &bio, err);
	return r < 0 ? r : read_certs_bio(bio, path, out, err);
}

static char *subject_cn(X509 *x) {
	char buf[256];
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf) < 0) buf[0] = 0;
	return xstrdup(buf);
}

static int ca_new(const char *dir, X509 *cert, EVP_PKEY *key, char *cert_pem, pki_ca_t **out, char **err) {
	_cleanup_(pki_ca_freep) pki_ca_t *ca = xcalloc(1, sizeof *ca);
	ca->dir = xstrdup(dir);
	ca->cert_pem = cert_pem;
	ca->cert = cert;
	ca->key = key;
	X509_up_ref(cert);
	EVP_PKEY_up_ref(key);
	if (pki_serial_hex(X509_get0_serialNumber(cert), ca->serial) < 0)
		return pki_set_err(err, -EINVAL, "the CA certificate's serial number is invalid");
	ca->cn = subject_cn(cert);
	*out = TAKE_PTR(ca);
	return 0;
}

/* The CA directory must be ours alone: it holds the key, and during an
 * atomic write the key's temporary file. */
static int prepare_dir(const char *dir, char **err) {
	int r = mkdir_p(dir, 0700);
	if (r < 0) return pki_set_err(err, r, "cannot create %s: %s", dir, strerror(-r));
	return trust_dir(dir, false, err);
}

/* Serialises creation and import in one directory (two concurrent inits
 * could otherwise pair one's key with the other's certificate). */
static int lock_dir(const char *dir, int *fd_out, char **err) {
	_cleanup_free_ char *path = xasprintf("%s/ca.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) return pki_set_err(err, -errno, "cannot open %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR) continue;
		int r = -errno;
		close(fd);
		return pki_set_err(err, r, "cannot lock %s: %s", path, strerror(-r));
	}
	*fd_out = fd;
	return 0;
}

/* Writes ca.key, then ca.pem (the commit point); refuses if a CA is there. */
static int install(const char *dir, EVP_PKEY *key, const char *cert_pem, char **err) {
	int r = prepare_dir(dir, err);
	if (r < 0) return r;
	_cleanup_close_ int lock = -1;
	r = lock_dir(dir, &lock, err);
	if (r < 0) return r;
	_cleanup_free_ char *cert_path = xasprintf("%s/ca.pem", dir);
	_cleanup_free_ char *key_path = xasprintf("%s/ca.key", dir);
	if (access(cert_path, F_OK) == 0)
		return pki_set_err(err, -EEXIST, "a CA already exists in %s (ca.pem); refusing to replace it", dir);

	_cleanup_(BIO_freep) BIO *kb = BIO_new(BIO_s_secmem());
	if (!kb || !PEM_write_bio_PKCS8PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
		return pki_set_err(err, -ENOMEM, "cannot encode the CA key");
	char *kdata = NULL;
	long klen = BIO_get_mem_data(kb, &kdata);
	r = write_file_atomic(key_path, kdata, (size_t)klen, 0600);
	if (r < 0) return pki_set_err(err, r, "cannot write %s: %s", key_path, strerror(-r));
	crash_point("pki-ca-key-written");
	r = write_file_atomic(cert_path, cert_pem, strlen(cert_pem), 0644);
	if (r < 0) return pki_set_err(err, r, "cannot write %s: %s", cert_path, strerror(-r));
	return 0;
}

static int build_root(EVP_PKEY *key, int64_t now, X509 **out, char **err) {
	_cleanup_(X509_freep) X509 *x = X509_new();
	if (!x || !X509_set_version(x, X509_VERSION_3)) return pki_set_err(err, -ENOMEM, "cannot build the CA");

	_cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
	char hex[41];
	if (pki_random_serial(&serial, hex) < 0 || !X509_set_serialNumber(x, serial))
		return pki_set_err(err, -EIO, "cannot make a serial number");

	unsigned char *der = NULL;
	int dlen = i2d_PUBKEY(key, &der);
	if (dlen <= 0) return pki_set_err(err, -EINVAL, "cannot encode the CA public key");
	char digest[65];
	sha256_hex(der, (size_t)dlen, digest);
	OPENSSL_free(der);
	_cleanup_free_ char *cn = xasprintf("cvmctl CA %.8s", digest);

	_cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
	if (!name || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
		return pki_set_err(err, -ENOMEM, "cannot set the CA name");

	ASN1_TIME *nb = NULL, *na = NULL;
	int r = pki_asn1_time_set(&nb, now - PKI_CA_BACKDATE_S);
	if (r == 0) r = pki_asn1_time_set(&na, now - PKI_CA_BACKDATE_S + PKI_CA_VALIDITY_S);
	if (r == 0 && (!X509_set1_notBefore(x, nb) || !X509_set1_notAfter(x, na))) r = -ENOMEM;
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	if (r < 0) return pki_set_err(err, r, "cannot set the CA validity");

	if (!X509_set_pubkey(x, key)) return pki_set_err(err, -ENOMEM, "cannot set the CA public key");

	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	/* SKI before AKI: the AKI of a self-signed certificate copies its SKI. */
	if (pki_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    pki_add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    pki_add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    pki_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
		return pki_set_err(err, -EINVAL, "cannot add the CA extensions");

	if (X509_sign(x, key, pki_sign_md(key)) <= 0) return pki_set_err(err, -EIO, "cannot sign the CA certificate");
	*out = TAKE_PTR(x);
	return 0;
}

static char *certs_pem(STACK_OF(X509) *sk, char **err) {
	_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
	if (!b) return NULL;
	for (int i = 0; i < sk_X509_num(sk); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(sk, i))) {
			pki_set_err(err, -ENOMEM, "cannot encode a certificate");
			return NULL;
		}
	return pki_bio_take(b, NULL);
}

int pki_ca_init_at(const char *dir, const char *key_type, int64_t now, pki_ca_t **out, char **err) {
	ERR_clear_error();
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	int r = pki_keygen(key_type, &key, err);
	if (r < 0) return r;
	_cleanup_(X509_freep) X509 *x = NULL;
	r = build_root(key, now, &x, err);
	if (r < 0) return r;
	_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_X509(b, x)) return pki_set_err(err, -ENOMEM, "cannot encode the CA certificate");
	_cleanup_free_ char *pem = pki_bio_take(b, NULL);
	r = install(dir, key, pem, err);
	if (r < 0) return r;
	if (!out) return 0;
	return ca_new(dir, x, key, TAKE_PTR(pem), out, err);
}

int pki_ca_init(const char *dir, const char *key_type, pki_ca_t **out, char **err) {
	return pki_ca_init_at(dir, key_type, now_s(), out, err);
}

/* What import checks of a CA given as PEM text (the certificates from
 * cb, the key from kb; the names say where they came from): on success
 * *key is its key and *pem the certificates re-encoded. */
static int import_check(BIO *cb, BIO *kb, const char *cert_pem_path, const char *key_pem_path, EVP_PKEY **key_out,
                        char **pem_out, char **err) {
	_cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
	int r = read_certs_bio(cb, cert_pem_path, &certs, err);
	if (r < 0) return r;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	r = read_key_bio(kb, key_pem_path, &key, err);
	if (r < 0) return r;
	X509 *x = sk_X509_value(certs, 0);
	if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		return pki_set_err(err, -EINVAL, "the key in %s does not belong to the certificate in %s", key_pem_path,
		                   cert_pem_path);
	}
	uint32_t flags = X509_get_extension_flags(x);
	if (!(flags & EXFLAG_CA))
		return pki_set_err(err, -EINVAL, "%s is not a CA certificate (basicConstraints CA:TRUE missing)",
		                   cert_pem_path);
	/* No keyUsage extension means every usage is allowed. */
	uint32_t need = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
	if ((X509_get_key_usage(x) & need) != need)
		return pki_set_err(err, -EINVAL, "%s may not sign certificates and CRLs (keyUsage needs keyCertSign, cRLSign)",
		                   cert_pem_path);
	/* RFC 5280 requires it of CAs, and the AKI of what we sign copies it. */
	if (!X509_get0_subject_key_id(x))
		return pki_set_err(err, -EINVAL, "%s has no subjectKeyIdentifier extension", cert_pem_path);
	/* Re-encoded rather than copied, so that nothing but certificates (a key
	 * pasted into the same file, say) reaches the world-readable ca.pem. */
	char *pem = certs_pem(certs, err);
	if (!pem) return -ENOMEM;
	*pem_out = pem;
	*key_out = TAKE_PTR(key);
	return 0;
}

int pki_ca_import_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, char **err) {
	ERR_clear_error();
	if (cert_len > INT_MAX || key_len > INT_MAX) return pki_set_err(err, -EFBIG, "the PEM text is too large");
	_cleanup_(BIO_freep) BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
	_cleanup_(BIO_freep) BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
	if (!cb || !kb) return pki_set_err(err, -ENOMEM, "out of memory");
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *pem = NULL;
	return import_check(cb, kb, "(certificate text)", "(key text)", &key, &pem, err);
}

int pki_ca_import(const char *dir, const char *cert_pem_path, const char *key_pem_path, char **err) {
	ERR_clear_error();
	_cleanup_(BIO_freep) BIO *cb = NULL;
	_cleanup_(BIO_freep) BIO *kb = NULL;
	int r = open_file(cert_pem_path, &cb, err);
	if (r < 0 || (r = open_file(key_pem_path, &kb, err)) < 0) return r;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *pem = NULL;
	r = import_check(cb, kb, cert_pem_path, key_pem_path, &key, &pem, err);
	if (r < 0) return r;
	return install(dir, key, pem, err);
}

int pki_ca_load(const char *dir, pki_ca_t **out, char **err) {
	ERR_clear_error();
	_cleanup_free_ char *cert_path = xasprintf("%s/ca.pem", dir);
	_cleanup_free_ char *key_path = xasprintf("%s/ca.key", dir);
	struct stat st;
	if (stat(cert_path, &st) < 0) {
		int r = -errno;
		if (r == -ENOENT && access(key_path, F_OK) == 0)
			return pki_set_err(err, -ENOENT,
			                   "%s holds ca.key but no ca.pem: a CA creation or import was interrupted before "
			                   "its certificate was written, so nothing was signed with that key; run "
			                   "'cvmctl ca init' or 'cvmctl ca import' again to replace it",
			                   dir);
		return pki_set_err(err, r, "no CA in %s: %s", dir, strerror(-r));
	}
	/* The directory first: another user's ca/ is refused whatever it holds. */
	int r = trust_dir(dir, false, err);
	if (r < 0) return r;
	if (lstat(key_path, &st) < 0)
		return pki_set_err(err, -errno, "%s has a CA certificate but its key %s is unreadable: %s", dir, key_path,
		                   strerror(errno));

	_cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
	r = read_certs(cert_path, &certs, err);
	if (r < 0) return r;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	r = read_ca_key(key_path, &key, err);
	if (r < 0) return r;
	X509 *x = sk_X509_value(certs, 0);
	if (X509_check_private_key(x, key) != 1)
		return pki_set_err(err, -EINVAL, "%s does not belong to %s", key_path, cert_path);
	_cleanup_free_ char *pem = NULL;
	r = read_file(cert_path, &pem, NULL);
	if (r < 0) return pki_set_err(err, r, "cannot read %s: %s", cert_path, strerror(-r));
	return ca_new(dir, x, key, TAKE_PTR(pem), out, err);
}
