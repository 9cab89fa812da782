/* The state store: every CVM ever managed, its history, and its
 * certificates. SQLite today (WAL, synchronous=FULL, user_version
 * migrations); this narrow interface is all that plan, apply and the
 * commands see, so that another backend (PostgreSQL) can be added later.
 *
 * All functions return 0 or a negative errno (-ENOENT: no such row) and log
 * nothing: the caller reports. store_errmsg() says what the database said. */
/* Contract details:
 *  - store_errmsg(NULL) is why the last store_open in this thread failed;
 *  - store_open: -EPERM for a group/world-accessible state dir we do not own,
 *    -EPROTO for a schema newer than ours, -EEXIST when `installation` differs
 *    from the state's own; -EINVAL when it is not a lower-case UUID;
 *  - certificates and events must name a stored CVM: checked when the
 *    transaction commits (autocommit: at once), -ENOENT otherwise;
 *  - cvm_record_free/cert_record_free free the fields, not the struct;
 *    cvm_record_copy overwrites dst without freeing it;
 *  - store_put_cvm: scope NULL is "default"; created_at/updated_at 0 mean now
 *    (an update keeps created_at when given 0);
 *  - store_lock: timeout_ms < 0 waits forever; holder may be NULL; a handle
 *    that already holds the lock gets 0;
 *  - store_begin inside a transaction is -EBUSY. */
#ifndef CVM_STORE_H
#define CVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Status of a CVM record. Inactive is final. */
typedef enum cvm_status {
	ST_CREATING, /* intent recorded; create submitted or about to be */
	ST_RUNNING,
	ST_STOPPED,
	ST_UNKNOWN,  /* its place could not be observed in the last pass */
	ST_FAILED,   /* last operation failed; the next pass retries */
	ST_DELETING, /* delete intent recorded */
	ST_INACTIVE,
	ST__COUNT,
} cvm_status_t;

const char *cvm_status_name(cvm_status_t s);
int cvm_status_from_name(const char *s); /* -1 if unknown */

typedef struct cvm_record {
	char id[37];
	char *name;
	char *scope;
	char *flavor;
	char *provider;  /* Provider name */
	char *placement; /* host URI / zone; NULL before placement */
	cvm_status_t status;
	char *url;
	char *spec_hash;
	char *spec_json; /* canonical spec last applied (cvm_spec_canonical_json) */
	char *attempt;   /* idempotency key of the current create attempt */
	int vcpus, memory_gib;
	int64_t created_at, updated_at;
	char *last_error; /* NULL when the last operation succeeded */
	char *handle;     /* the backend's own address of the resource (observed_t.handle); may be NULL */
} cvm_record_t;

typedef struct cvm_event {
	int64_t at;
	char *kind; /* created, adopted, started, recreated, deleted, failed, cert-renewed, ... */
	char *message;
} cvm_event_t;

typedef enum cert_status { CERT_VALID, CERT_REVOKED, CERT_SUPERSEDED } cert_status_t;

typedef struct cert_record {
	char *serial;  /* hex, upper case */
	char cvm_id[37];
	bool is_default;  /* the CVM's default certificate (delivered into it) */
	cert_status_t status;
	int64_t not_before, not_after;
	int64_t revoked_at;
	int revoke_reason; /* RFC 5280 CRLReason code, -1 if none */
	char *cert_pem;
	char *key_path; /* private key file (0600) */
} cert_record_t;

/* Opens (creating if needed) the store in dir: dir 0700, database created
 * under umask 077, schema migrated to the current version. A new state gets
 * a random installation id unless `installation` names one (recovery). */
int store_open(const char *dir, const char *installation, store_t **out);
void store_close(store_t *s);
const char *store_errmsg(store_t *s);
const char *store_dir(store_t *s);
const char *store_installation_id(store_t *s);

/* One writer at a time: flock on <dir>/lock, which records the holder's pid,
 * host and start time. Waits up to timeout_ms; -EWOULDBLOCK on timeout with
 * *holder describing who has it (caller frees). */
int store_lock(store_t *s, int timeout_ms, char **holder);
void store_unlock(store_t *s);

/* Transactions: one durable commit (one fsync) per call to store_commit. */
int store_begin(store_t *s);
int store_commit(store_t *s);
void store_rollback(store_t *s);

int store_put_cvm(store_t *s, const cvm_record_t *r); /* insert or replace by id */
int store_get_cvm(store_t *s, const char *id, cvm_record_t *out);
/* By id, or by name (the active record of that name in any scope, else the
 * most recent inactive one). -ENOENT if none. */
int store_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out);
/* All records (scope NULL) or one scope's, ordered by name, created_at. */
int store_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n);
void cvm_record_free(cvm_record_t *r);
void cvm_records_free(cvm_record_t *v, size_t n);
void cvm_record_copy(cvm_record_t *dst, const cvm_record_t *src);

int store_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message);
int store_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n);
void cvm_events_free(cvm_event_t *v, size_t n);

/* Certificates. Serials are unique across the store (UNIQUE constraint). */
int store_put_cert(store_t *s, const cert_record_t *c); /* insert or replace by serial */
int store_get_cert(store_t *s, const char *serial, cert_record_t *out);
int store_list_certs(store_t *s, const char *cvm_id /* NULL: all */, cert_record_t **out, size_t *n);
void cert_record_free(cert_record_t *c);
void cert_records_free(cert_record_t *v, size_t n);
const char *cert_status_name(cert_status_t s); /* "valid", "revoked", "superseded" */
int cert_status_from_name(const char *s);      /* -1 if unknown */

/* Per-CVM facts with setters of their own: store_put_cvm leaves them
 * alone, so a record copied before a pass cannot roll them back.
 *  - delivered: the serial of the default certificate the CVM has been
 *    handed (NULL: none yet);
 *  - rotation retry: how many renew-and-publish attempts failed in a row,
 *    and when the next may run. */
int store_set_delivered(store_t *s, const char *cvm_id, const char *serial);
int store_get_delivered(store_t *s, const char *cvm_id, char **serial);
int store_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at);
int store_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at);

/* Provider settings as the last pass saw them (the backend's fields as
 * JSON; never credentials, which stay in their files), so that commands
 * run without the spec tree can reach the backend. */
int store_put_provider(store_t *s, const char *name, const char *flavor, const char *settings_json);
int store_get_provider(store_t *s, const char *name, char **flavor, char **settings_json);

/* Small key/value settings (installation id, CRL number, ...). */
int store_get_setting(store_t *s, const char *key, char **value);
int store_set_setting(store_t *s, const char *key, const char *value);

#ifdef CVM_TEST_HOOKS
/* Test builds only: the nth write from now on (1 = the next; store_put_*,
 * store_add_event, store_set_*, store_commit) fails with -EIO and a message
 * saying so, as a full disk would; 0 turns it off. Also set at store_open
 * from $CVMCTL_TEST_FAIL_STORE_WRITE. */
void store_test_fail_write(store_t *s, int nth);
#endif

#endif
