/* The SQLite store: transactions, settings, and the SQLite helpers the
 * other files of sqlite/ share. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

int sq_err(store_t *s) {
	int rc = sqlite3_extended_errcode(sq_db(s));
	snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(sq_db(s)));
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		/* A certificate or event that names no stored CVM. */
		return -ENOENT;
	}
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return -EIO; /* called without an error: still not success */
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* The open stores, so that sq_release (which gets only the statement) finds
 * the cache a statement came from. Stores are opened and closed rarely and
 * there are a handful at most. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite_store_t *open_stores;

void sq_register(store_t *s, bool open) {
	pthread_mutex_lock(&open_lock);
	sqlite_store_t **pp = &open_stores;
	while (*pp && *pp != sq(s)) pp = &(*pp)->next_open;
	if (open && !*pp) {
		sq(s)->next_open = open_stores;
		open_stores = sq(s);
	} else if (!open && *pp) {
		*pp = sq(s)->next_open;
	}
	pthread_mutex_unlock(&open_lock);
}

int sq_prepare(store_t *s, const char *sql, sqlite3_stmt **st) {
	sqlite_store_t *q = sq(s);
	for (size_t i = 0; i < q->n_cache; i++) {
		if (q->cache[i].sql != sql || q->cache[i].busy) continue;
		q->cache[i].busy = true;
		*st = q->cache[i].st;
		return 0;
	}
	if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) return sq_err(s);
	if (q->n_cache < SQ_CACHE_MAX) q->cache[q->n_cache++] = (sq_cached_t){sql, *st, true};
	return 0;
}

void sq_release(sqlite3_stmt **p) {
	sqlite3_stmt *st = *p;
	if (!st) return;
	sqlite3 *db = sqlite3_db_handle(st);
	pthread_mutex_lock(&open_lock);
	for (sqlite_store_t *q = open_stores; q; q = q->next_open) {
		if (q->db != db) continue;
		for (size_t i = 0; i < q->n_cache; i++) {
			if (q->cache[i].st != st) continue;
			pthread_mutex_unlock(&open_lock);
			sqlite3_reset(st); /* its error, if any, was reported by the step */
			sqlite3_clear_bindings(st);
			q->cache[i].busy = false;
			*p = NULL;
			return;
		}
	}
	pthread_mutex_unlock(&open_lock);
	sqlite3_finalize(st);
	*p = NULL;
}

void sq_cache_drop(store_t *s) {
	sqlite_store_t *q = sq(s);
	for (size_t i = 0; i < q->n_cache; i++) sqlite3_finalize(q->cache[i].st);
	q->n_cache = 0;
}

int sq_exec(store_t *s, const char *sql) {
	if (sqlite3_exec(sq_db(s), sql, NULL, NULL, NULL) != SQLITE_OK) return sq_err(s);
	return 0;
}

int sq_bind_text(sqlite3_stmt *st, int i, const char *v) {
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int sq_step_done(store_t *s, sqlite3_stmt *st) {
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sq_err(s);
	return 0;
}

char *sq_col_strdup(sqlite3_stmt *st, int i) {
	return xstrdup((const char *)sqlite3_column_text(st, i));
}

int sq_begin(store_t *s) {
	if (!sqlite3_get_autocommit(sq_db(s))) return store_fail(s, -EBUSY, "a transaction is already open");
	return sq_exec(s, "BEGIN IMMEDIATE");
}

int sq_commit(store_t *s) {
	if (sqlite3_get_autocommit(sq_db(s))) return store_fail(s, -EINVAL, "commit without a transaction");
	return sq_exec(s, "COMMIT");
}

void sq_rollback(store_t *s) {
	/* SQLite may already have rolled back (after some errors); then there
	 * is nothing left to do. */
	if (sqlite3_get_autocommit(sq_db(s))) return;
	char keep[sizeof s->err];
	memcpy(keep, s->err, sizeof keep);
	if (sqlite3_exec(sq_db(s), "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(s);
		return;
	}
	/* The error that led here is the one worth reading. */
	memcpy(s->err, keep, sizeof keep);
}

int sq_get_setting(store_t *s, const char *key, char **value) {
	*value = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT value FROM settings WHERE key = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no setting %s", key);
	if (rc != SQLITE_ROW) return sq_err(s);
	*value = sq_col_strdup(st, 0);
	return 0;
}

int sq_set_setting(store_t *s, const char *key, const char *value) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "INSERT INTO settings (key, value) VALUES (?1, ?2) "
	                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, key);
	sq_bind_text(st, 2, value);
	return sq_step_done(s, st);
}

int sq_collect(store_t *s, sqlite3_stmt *st, size_t size, sq_row_fn row, void (*free_all)(void *v, size_t n),
               void **out, size_t *n) {
	char *v = NULL;
	size_t len = 0, cap = 0;
	int rc, r = 0;
	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * size);
		}
		memset(v + len * size, 0, size);
		r = row(s, st, v + len * size);
		len++;
		if (r < 0) break;
	}
	if (r >= 0 && rc != SQLITE_DONE) r = sq_err(s);
	if (r < 0) {
		free_all(v, len);
		return r;
	}
	*out = v;
	*n = len;
	return 0;
}
