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

/* Reads a certificate's key file (caller wipes and frees). */
int certs_read_key(const cert_record_t *c, char **key_pem);

/* The serial delivered into a CVM last (NULL if unknown); and recording it. */
char *certs_delivered_serial(store_t *st, const char *id);
STORE_MUST_CHECK int certs_set_delivered(store_t *st, const char *id, const char *serial);

#define CRL_VALIDITY_S (7 * 86400)

#endif
