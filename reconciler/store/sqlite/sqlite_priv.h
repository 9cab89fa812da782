/* What the files of the SQLite store share: the handle, the small SQLite
 * helpers and the ops, one per file's part of sqlite_store_ops. Nothing
 * outside reconciler/store/sqlite/ includes this (the store's own
 * white-box unit test excepted). */
#ifndef CVM_SQLITE_PRIV_H
#define CVM_SQLITE_PRIV_H

#include <sqlite3.h>

#include "common/cleanup.h"
#include "reconciler/store/sqlite/sqlite_store.h"
#include "reconciler/store/store_impl.h"

/* A prepared statement kept for the next call with the same SQL text:
 * compiling an upsert costs more than running it, and a pass runs the same
 * few statements thousands of times. Keyed by the text's address (the SQL
 * are string literals). */
typedef struct sq_cached {
	const char *sql;
	sqlite3_stmt *st;
	bool busy; /* handed out and not yet released */
} sq_cached_t;

#define SQ_CACHE_MAX 48

typedef struct sqlite_store {
	struct store base; /* first: a store_t * of ours is a sqlite_store_t * */
	sqlite3 *db;
	int lock_fd; /* -1 unless this handle holds <dir>/lock */
	sq_cached_t cache[SQ_CACHE_MAX];
	size_t n_cache;
	struct sqlite_store *next_open; /* the process's open stores (sq_release finds a statement's) */
} sqlite_store_t;

static inline sqlite_store_t *sq(store_t *s) {
	return (sqlite_store_t *)s;
}

static inline sqlite3 *sq_db(store_t *s) {
	return sq(s)->db;
}

/* Gives a statement from sq_prepare back: a cached one is reset for its
 * next use, any other finalized. */
void sq_release(sqlite3_stmt **st);
#define _cleanup_stmt_ _cleanup_(sq_release)
/* Every cached statement of s finalized (before its database closes). */
void sq_cache_drop(store_t *s);
/* s joins or leaves the process's list of open stores. */
void sq_register(store_t *s, bool open);

/* Records what SQLite said about the last call and returns the errno that
 * best says the same (-EEXIST for a uniqueness conflict, -EBUSY, ...). */
int sq_err(store_t *s);
/* Prepares sql; on failure records the error and returns it. */
int sq_prepare(store_t *s, const char *sql, sqlite3_stmt **st);
/* Runs one or more statements that return no rows. */
int sq_exec(store_t *s, const char *sql);
/* Binds a string or SQL NULL. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Steps a statement that returns no row. */
int sq_step_done(store_t *s, sqlite3_stmt *st);
char *sq_col_strdup(sqlite3_stmt *st, int i);
/* Steps st to the end, turning each row into one element of a growing
 * array with row() (elements of `size` bytes). On error the elements made
 * so far are released with free_all() and nothing is returned. */
typedef int (*sq_row_fn)(store_t *s, sqlite3_stmt *st, void *elem);
int sq_collect(store_t *s, sqlite3_stmt *st, size_t size, sq_row_fn row, void (*free_all)(void *v, size_t n),
               void **out, size_t *n);

/* Schema (schema.c): brings the database to the current version.
 * -EPROTO if it is newer than this program knows. */
int sq_migrate(store_t *s);
int sqlite_schema_version(void);

/* The ops (store.h has their contracts). sqlite.c: */
void sq_close(store_t *s);
int sq_begin(store_t *s);
int sq_commit(store_t *s);
void sq_rollback(store_t *s);
int sq_get_setting(store_t *s, const char *key, char **value);
int sq_set_setting(store_t *s, const char *key, const char *value);
/* lock.c: */
int sq_lock(store_t *s, int timeout_ms, char **holder);
void sq_unlock(store_t *s);
/* cvm.c: */
int sq_put_cvm(store_t *s, const cvm_record_t *r);
int sq_get_cvm(store_t *s, const char *id, cvm_record_t *out);
int sq_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out);
int sq_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n);
int sq_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message);
int sq_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n);
/* facts.c: */
int sq_set_delivered(store_t *s, const char *cvm_id, const char *serial);
int sq_set_suspended(store_t *s, const char *cvm_id, bool suspended);
int sq_set_lifecycle(store_t *s, const char *cvm_id, bool spec_suspended, bool orphan);
int sq_put_condition(store_t *s, const char *cvm_id, const cvm_condition_t *c);
int sq_list_conditions(store_t *s, const char *cvm_id, cvm_condition_t **out, size_t *n);
int sq_get_delivered(store_t *s, const char *cvm_id, char **serial);
int sq_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at);
int sq_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at);
int sq_put_provider(store_t *s, const char *name, const char *flavor, const char *settings_json);
int sq_get_provider(store_t *s, const char *name, char **flavor, char **settings_json);
/* cert.c: */
int sq_put_cert(store_t *s, const cert_record_t *c);
int sq_get_cert(store_t *s, const char *serial, cert_record_t *out);
int sq_list_certs(store_t *s, const char *cvm_id, cert_record_t **out, size_t *n);
int sq_list_key_paths(store_t *s, char ***out, size_t *n);
int sq_list_cert_states(store_t *s, cert_state_t **out, size_t *n);

#endif
