/* The certificates of CVMs, between the CA (pki/) and the store: issuing a
 * default certificate with its key file, finding the current one, revoking,
 * renewing when due, and publishing the CRL. Keys live in
 * <state>/keys/<cvm-id>/<serial>.key (0600, directories 0700); the CA in
 * <state>/ca; the CRL in <state>/ca/crl.pem. */
#ifndef CVM_CERTS_H
#define CVM_CERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "pki/pki.h"
#include "reconciler/store/store.h"

/* Loads the CA of the state, creating one (ECDSA P-256) on first use when
 * `create` is true. Returns 0 or -errno with *err set. */
int certs_open_ca(store_t *st, bool create, pki_ca_t **ca, char **err);
char *certs_ca_dir(store_t *st);

/* Issues a certificate for CVM (id, name) valid from `now` for validity_s
 * with a fresh key of key_type (NULL: PKI_DEFAULT_KEY_TYPE), writes its key
 * file and records it (in the caller's transaction, if any). A default
 * certificate supersedes the CVM's previous default. */
STORE_MUST_CHECK int certs_issue(store_t *st, pki_ca_t *ca, const char *id, const char *name, int64_t now,
                                 int64_t validity_s, const char *key_type, bool is_default, cert_record_t *out, char **err);

/* The same in steps, for callers that batch them (apply's create path):
 * minting is pure CPU (key generation and signing: no store, no file, safe
 * in several threads on one CA once it has signed once); key files are
 * written together and made durable at once; the records go into the
 * caller's transaction. */
int certs_mint(pki_ca_t *ca, const char *id, const char *name, int64_t now, int64_t validity_s, const char *key_type,
               pki_issued_t *out, char **err);
char *certs_key_path(store_t *st, const char *id, const char *serial); /* caller frees */

/* Many at once, in this thread and one more (pure CPU: two cores make it
 * nearly twice as fast). Each request gets its own rc, err and out. */
typedef struct certs_mint_req {
	const char *id, *name;
	int64_t now, validity_s;
	const char *key_type; /* NULL: the default */
	pki_issued_t out;
	int rc;
	char *err;
	bool ran;
} certs_mint_req_t;
void certs_mint_many(pki_ca_t *ca, certs_mint_req_t *v, size_t n);

typedef struct certs_key {
	const char *path;
	const char *pem;
} certs_key_t;

typedef enum certs_sync {
	CERTS_SYNC_FS,   /* one syncfs() of the key directory's file system */
	CERTS_SYNC_EACH, /* fsync each file, then each directory */
} certs_sync_t;

/* Writes each key file (0600, directories 0700, never open to others) and
 * makes them all durable before returning. */
int certs_write_keys(store_t *st, const certs_key_t *keys, size_t n, certs_sync_t how, char **err);
/* Removes what an interrupted or failed pass left in keys/ and ca/: key
 * files no certificate record names (a key is written before the record
 * that names it commits, so a full disk or a kill between them leaves
 * one), and temporary files of atomic writes. Under the writer lock.
 * Returns how many files went, or a negative errno (the sweep is
 * best-effort: a failure is logged by the caller, and changes nothing). */
int certs_sweep_orphans(store_t *st);

/* Records a minted certificate whose key is at key_path (in the caller's
 * transaction); a default one supersedes the CVM's previous default. */
int certs_record(store_t *st, const char *id, const pki_issued_t *is, const char *key_path, bool is_default,
                 cert_record_t *out, char **err);

/* The CVM's current default certificate: valid (not revoked or superseded)
 * and the latest notAfter. -ENOENT if none. */
int certs_current_default(store_t *st, const char *id, cert_record_t *out);

/* True when a default certificate must be renewed at `now`. */
bool certs_due(const cert_record_t *c, int64_t now, int64_t renew_before_s);

/* Marks one certificate revoked (RFC 5280 reason code) in the store. */
STORE_MUST_CHECK int certs_mark_revoked(store_t *st, const char *serial, int reason, int64_t now, char **err);
/* Revokes every unrevoked certificate of a CVM (cessationOfOperation). */
STORE_MUST_CHECK int certs_revoke_all(store_t *st, const char *id, int64_t now, char **err);

/* Re-signs the CRL from the store (new CRL number), writes crl.pem. */
STORE_MUST_CHECK int certs_publish_crl(store_t *st, pki_ca_t *ca, int64_t now, char **err);
/* Re-signs it if missing or past half its life. */
STORE_MUST_CHECK int certs_refresh_crl(store_t *st, pki_ca_t *ca, int64_t now, char **err);

/* Reads a certificate's key file through read_secret_file (O_NOFOLLOW, ours,
 * 0600); the caller frees it with free_secret. */
int certs_read_key(const cert_record_t *c, char **key_pem, char **err);

/* The serial delivered into a CVM last (NULL if unknown); and recording it. */
char *certs_delivered_serial(store_t *st, const char *id);
STORE_MUST_CHECK int certs_set_delivered(store_t *st, const char *id, const char *serial);

#define CRL_VALIDITY_S (7 * 86400)

#endif
