/* The state store: every CVM ever managed, its history, and its
 * certificates. This narrow interface is all that plan, apply and the
 * commands see.
 *
 * Behind it sits an ops table (store_ops_t, below): the public store_*
 * functions are thin dispatchers (reconciler/store/store.c) that check
 * their arguments the same way for every backend, count writes for the
 * test hook, and call the backend's op. SQLite (reconciler/store/sqlite/:
 * WAL, synchronous=FULL, user_version migrations) provides
 * sqlite_store_ops, and store_open opens it. A PostgreSQL store (for
 * ephemeral pipeline runners and a standby reconciler) can sit beside
 * sqlite/ as reconciler/store/postgres/, providing another ops table and an
 * open function whose handle embeds the shared part, struct store
 * (store_impl.h), first; plan, apply and the commands do not change.
 *
 * All functions return 0 or a negative errno (-ENOENT: no such row) and log
 * nothing: the caller reports. store_errmsg() says what the database said.
 * Every function that writes, or whose outputs are not there when it
 * fails, is STORE_MUST_CHECK: a caller that ignores the result does not
 * compile (-Werror), because a write that failed unnoticed is an intent
 * that was never recorded. */
/* Contract details:
 *  - store_errmsg(NULL) is why the last store_open in this thread failed;
 *  - store_open: -EPERM for a state dir, ca/, keys/ or database file owned
 *    by another user (or a symlink where none belongs; ours too open are
 *    tightened with a warning), -ENOTDIR when dir is not a directory,
 *    -EUCLEAN for a missing or empty database beside a CA or keys (a lost
 *    state, unless `installation` names the one to adopt),
 *    -EPROTO for a schema newer than ours, -EEXIST when `installation` differs
 *    from the state's own; -EINVAL when it is not a lower-case UUID;
 *  - certificates and events must name a stored CVM: checked when the
 *    transaction commits (autocommit: at once), -ENOENT otherwise;
 *  - cvm_record_free/cert_record_free free the fields, not the struct;
 *    cvm_record_copy overwrites dst without freeing it;
 *  - store_put_cvm: scope NULL is "default"; created_at 0 means now (an
 *    update keeps created_at when given 0). updated_at is the store's own:
 *    the record's value is ignored; it is set to now whenever a put or a
 *    setter changes anything, and left alone (no row written at all) when
 *    the record is already what is stored;
 *  - store_lock: timeout_ms < 0 waits forever; holder may be NULL; a handle
 *    that already holds the lock gets 0;
 *  - store_begin inside a transaction is -EBUSY;
 *  - an operation the backend does not provide is -ENOSYS. */
#ifndef CVM_STORE_H
#define CVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MUST_CHECK __attribute__((warn_unused_result))

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
	ST_MISSING,  /* its resource vanished behind our back and is not back yet */
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
	/* Facts with setters of their own (store_set_suspended,
	 * store_set_lifecycle), read by get/list, ignored by put. */
	bool suspended;      /* cvmctl suspend: no action for it until resume */
	bool spec_suspended; /* spec.suspend, as the last pass saw its spec */
	bool orphan;         /* deletionPolicy: Orphan, as the last pass saw its spec */
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

/* A CVM's certificate facts, as the rotation step needs them. */
typedef struct cert_state {
	char cvm_id[37];
	char *serial;           /* its current default certificate (valid, latest notAfter); NULL: none */
	int64_t not_after;
	char *delivered_serial; /* what it has been handed; NULL: nothing yet */
	int rotate_failures;    /* rotation retries, as store_get_rotation_retry says */
	int64_t rotate_next_at;
} cert_state_t;

/* A condition of a CVM (Ready, Synced, CertificateReady), as the last pass
 * judged it. last_transition is when status last changed: a put with the
 * same status keeps it (the store's own; the value given is ignored). A
 * put that changes nothing writes nothing (observed_at stays: it is when
 * the condition was last written). */
typedef enum cond_status { COND_TRUE, COND_FALSE, COND_UNKNOWN } cond_status_t;

typedef struct cvm_condition {
	char *type;    /* "Ready", "Synced", "CertificateReady" */
	cond_status_t status;
	char *reason;  /* CamelCase, for programs */
	char *message; /* one sentence, for people; may be NULL */
	char *spec_hash; /* the spec hash it reflects; may be NULL */
	int64_t last_transition;
	int64_t observed_at; /* when it was last written (the pass that changed it) */
} cvm_condition_t;

const char *cond_status_name(cond_status_t s); /* "True", "False", "Unknown" */
void cvm_conditions_free(cvm_condition_t *v, size_t n);

/* The operations a backing store provides, one per store_* function below
 * (opening excepted: each backend has its own open function, which fills
 * in the handle's ops). Each op has the contract of its store_* function;
 * the dispatchers have already checked the arguments that function
 * documents. An op left NULL makes its function return -ENOSYS. `close`
 * releases everything the handle holds, the handle included. */
typedef struct store_ops {
	const char *name; /* "sqlite", for messages */
	void (*close)(store_t *s);

	int (*lock)(store_t *s, int timeout_ms, char **holder);
	void (*unlock)(store_t *s);

	int (*begin)(store_t *s);
	int (*commit)(store_t *s);
	void (*rollback)(store_t *s);

	int (*put_cvm)(store_t *s, const cvm_record_t *r);
	int (*get_cvm)(store_t *s, const char *id, cvm_record_t *out);
	int (*find_cvm)(store_t *s, const char *name_or_id, cvm_record_t *out);
	int (*list_cvms)(store_t *s, const char *scope, cvm_record_t **out, size_t *n);

	int (*add_event)(store_t *s, const char *cvm_id, const char *kind, const char *message);
	int (*list_events)(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n);

	int (*put_cert)(store_t *s, const cert_record_t *c);
	int (*get_cert)(store_t *s, const char *serial, cert_record_t *out);
	int (*list_certs)(store_t *s, const char *cvm_id, cert_record_t **out, size_t *n);
	int (*list_cert_states)(store_t *s, cert_state_t **out, size_t *n);
	int (*list_key_paths)(store_t *s, char ***out, size_t *n);

	int (*set_delivered)(store_t *s, const char *cvm_id, const char *serial);
	int (*get_delivered)(store_t *s, const char *cvm_id, char **serial);
	int (*set_rotation_retry)(store_t *s, const char *cvm_id, int failures, int64_t next_at);
	int (*get_rotation_retry)(store_t *s, const char *cvm_id, int *failures, int64_t *next_at);

	int (*put_provider)(store_t *s, const char *name, const char *flavor, const char *settings_json);
	int (*get_provider)(store_t *s, const char *name, char **flavor, char **settings_json);

	int (*set_suspended)(store_t *s, const char *cvm_id, bool suspended);
	int (*set_lifecycle)(store_t *s, const char *cvm_id, bool spec_suspended, bool orphan);

	int (*put_condition)(store_t *s, const char *cvm_id, const cvm_condition_t *c);
	int (*list_conditions)(store_t *s, const char *cvm_id, cvm_condition_t **out, size_t *n);

	int (*get_setting)(store_t *s, const char *key, char **value);
	int (*set_setting)(store_t *s, const char *key, const char *value);
} store_ops_t;

/* Opens (creating if needed) the store in dir: dir 0700, database created
 * under umask 077, schema migrated to the current version. A new state gets
 * a random installation id unless `installation` names one (recovery).
 * Today this is always the SQLite store (sqlite_store_ops). */
STORE_MUST_CHECK int store_open(const char *dir, const char *installation, store_t **out);
/* store_open's checks of an existing dir, opening and creating nothing (a
 * reading command that finds no database): 0 also for a missing dir;
 * store_errmsg(NULL) says why not. */
STORE_MUST_CHECK int store_check_dir(const char *dir, const char *installation);
void store_close(store_t *s);
const char *store_errmsg(store_t *s);
const char *store_dir(store_t *s);
const char *store_installation_id(store_t *s);

/* One writer at a time: flock on <dir>/lock, which records the holder's pid,
 * host and start time. Waits up to timeout_ms; -EWOULDBLOCK on timeout with
 * *holder describing who has it (caller frees). */
STORE_MUST_CHECK int store_lock(store_t *s, int timeout_ms, char **holder);
void store_unlock(store_t *s);

/* Transactions: one durable commit (one fsync) per call to store_commit.
 * A failed commit may leave the transaction open: roll it back. */
STORE_MUST_CHECK int store_begin(store_t *s);
STORE_MUST_CHECK int store_commit(store_t *s);
void store_rollback(store_t *s);

STORE_MUST_CHECK int store_put_cvm(store_t *s, const cvm_record_t *r); /* insert or replace by id */
STORE_MUST_CHECK int store_get_cvm(store_t *s, const char *id, cvm_record_t *out);
/* By id, or by name (the active record of that name in any scope, else the
 * most recent inactive one). -ENOENT if none. */
STORE_MUST_CHECK int store_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out);
/* All records (scope NULL) or one scope's, ordered by name, created_at. */
STORE_MUST_CHECK int store_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n);
void cvm_record_free(cvm_record_t *r);
void cvm_records_free(cvm_record_t *v, size_t n);
void cvm_record_copy(cvm_record_t *dst, const cvm_record_t *src);

STORE_MUST_CHECK int store_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message);
STORE_MUST_CHECK int store_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n);
void cvm_events_free(cvm_event_t *v, size_t n);

/* Certificates. Serials are unique across the store (UNIQUE constraint). */
STORE_MUST_CHECK int store_put_cert(store_t *s, const cert_record_t *c); /* insert or replace by serial */
STORE_MUST_CHECK int store_get_cert(store_t *s, const char *serial, cert_record_t *out);
STORE_MUST_CHECK int store_list_certs(store_t *s, const char *cvm_id /* NULL: all */, cert_record_t **out,
                                      size_t *n);
void cert_record_free(cert_record_t *c);
void cert_records_free(cert_record_t *v, size_t n);
/* What the rotation step decides from, for every CVM that is not
 * Inactive, in one query (ordered by cvm_id): a pass's cost must not grow
 * by three queries per converged CVM. */
STORE_MUST_CHECK int store_list_cert_states(store_t *s, cert_state_t **out, size_t *n);
/* Every key file a certificate record names (caller frees each and the
 * array): what the orphan sweep keeps. */
STORE_MUST_CHECK int store_list_key_paths(store_t *s, char ***out, size_t *n);
void cert_states_free(cert_state_t *v, size_t n);
const char *cert_status_name(cert_status_t s); /* "valid", "revoked", "superseded" */
int cert_status_from_name(const char *s);      /* -1 if unknown */

/* Per-CVM facts with setters of their own: store_put_cvm leaves them
 * alone, so a record copied before a pass cannot roll them back.
 *  - delivered: the serial of the default certificate the CVM has been
 *    handed (NULL: none yet);
 *  - rotation retry: how many renew-and-publish attempts failed in a row,
 *    and when the next may run. */
STORE_MUST_CHECK int store_set_delivered(store_t *s, const char *cvm_id, const char *serial);
STORE_MUST_CHECK int store_get_delivered(store_t *s, const char *cvm_id, char **serial);
STORE_MUST_CHECK int store_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at);
STORE_MUST_CHECK int store_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at);

/* Provider settings as the last pass saw them (the backend's fields as a
 * JSON object under their YAML names; never credentials, which stay in
 * their files), so that commands run without the spec tree can reach the
 * backend. */
STORE_MUST_CHECK int store_put_provider(store_t *s, const char *name, const char *flavor,
                                        const char *settings_json);
STORE_MUST_CHECK int store_get_provider(store_t *s, const char *name, char **flavor, char **settings_json);

/* Suspension (cvmctl suspend/resume), and the spec's lifecycle fields
 * (spec.suspend, deletionPolicy Orphan or Delete) kept for when the spec
 * is gone: -ENOENT for no such CVM; setting what is already stored
 * writes nothing. */
STORE_MUST_CHECK int store_set_suspended(store_t *s, const char *cvm_id, bool suspended);
STORE_MUST_CHECK int store_set_lifecycle(store_t *s, const char *cvm_id, bool spec_suspended, bool orphan);

/* Conditions: insert or replace by (cvm_id, type), keeping the last
 * transition time when the status is unchanged; listed by type. */
STORE_MUST_CHECK int store_put_condition(store_t *s, const char *cvm_id, const cvm_condition_t *c);
STORE_MUST_CHECK int store_list_conditions(store_t *s, const char *cvm_id, cvm_condition_t **out, size_t *n);

/* Small key/value settings (installation id, CRL number, ...). */
STORE_MUST_CHECK int store_get_setting(store_t *s, const char *key, char **value);
STORE_MUST_CHECK int store_set_setting(store_t *s, const char *key, const char *value);

#ifdef CVM_TEST_HOOKS
/* Test builds only: the nth write from now on (1 = the next; store_put_*,
 * store_add_event, store_set_*, store_commit) fails with -EIO and the
 * message "injected store write failure (test hook)", as a full disk
 * would; the writes before it and after it succeed (a call refused for
 * its arguments is no write and does not count); 0 turns it off.
 * Counted by the dispatchers, so it works for any backing store. Also
 * armed by every store_open from $CVMCTL_TEST_FAIL_STORE_WRITE=N (the
 * writes store_open itself makes, migrations included, do not count). */
void store_test_fail_write(store_t *s, int nth);
#endif

#endif
