/* The state store: opening the database safely, transactions, settings, and
 * the SQLite helpers the other store_*.c files share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

static const char *const status_names[ST__COUNT] = {
	[ST_CREATING] = "Creating", [ST_RUNNING] = "Running",   [ST_STOPPED] = "Stopped",   [ST_UNKNOWN] = "Unknown",
	[ST_FAILED] = "Failed",     [ST_DELETING] = "Deleting", [ST_INACTIVE] = "Inactive",
};

const char *cvm_status_name(cvm_status_t s) {
	return (unsigned)s < ST__COUNT ? status_names[s] : "?";
}

int cvm_status_from_name(const char *s) {
	for (int i = 0; s && i < ST__COUNT; i++)
		if (strcmp(s, status_names[i]) == 0) return i;
	return -1;
}

/* Why the last store_open failed: there is no handle to hold it. */
static _Thread_local char open_err[512];

int store_fail(store_t *s, int r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return r;
}

int store_sqlerr(store_t *s) {
	int rc = sqlite3_extended_errcode(s->db);
	snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
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

int store_prepare(store_t *s, const char *sql, sqlite3_stmt **st) {
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) return store_sqlerr(s);
	return 0;
}

int store_exec(store_t *s, const char *sql) {
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) return store_sqlerr(s);
	return 0;
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v) {
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int store_step_done(store_t *s, sqlite3_stmt *st) {
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) return store_sqlerr(s);
	return 0;
}

char *store_col_strdup(sqlite3_stmt *st, int i) {
	return xstrdup((const char *)sqlite3_column_text(st, i));
}

/* The state holds the CA key beside the database: nobody else may look in.
 * A directory we own is tightened; one we don't is refused. */
static int prepare_dir(store_t *s, const char *dir) {
	int r = mkdir_p(dir, 0700);
	if (r < 0) return store_fail(s, r, "cannot create state directory %s: %s", dir, strerror(-r));
	struct stat st;
	if (stat(dir, &st) < 0) return store_fail(s, -errno, "cannot stat state directory %s: %m", dir);
	if (!S_ISDIR(st.st_mode)) return store_fail(s, -ENOTDIR, "state directory %s is not a directory", dir);
	if ((st.st_mode & 077) == 0) return 0;
	if (st.st_uid != geteuid())
		return store_fail(s, -EPERM,
		                  "state directory %s is accessible to group or others (mode %04o) and owned by uid %u, "
		                  "not by us; fix with chmod 0700",
		                  dir, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
	if (chmod(dir, 0700) < 0)
		return store_fail(s, -errno, "cannot make state directory %s private: %m", dir);
	return 0;
}

static int open_db(store_t *s, const char *path) {
	/* Created under umask 077 so the file is never readable by others, not
	 * even for a moment; SQLite gives -wal and -shm the database's mode. */
	mode_t old = umask(077);
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		if (!s->db) return store_fail(s, -ENOMEM, "cannot open %s: out of memory", path);
		int r = store_sqlerr(s);
		return store_fail(s, r, "cannot open %s: %s", path, sqlite3_errmsg(s->db));
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);

	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "PRAGMA journal_mode=WAL", &st);
	if (r < 0) return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(s->db));
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = store_sqlerr(s);
		return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(s->db));
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcasecmp(mode, "wal") != 0)
		return store_fail(s, -ENOTSUP, "%s: cannot use the WAL journal here (got %s)", path, mode ? mode : "?");
	r = store_exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
	if (r < 0) return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(s->db));
	return 0;
}

/* Inside the migration transaction: a new state gets its installation id
 * here, once; an existing one keeps the one it has. */
static int settle_installation(store_t *s, const char *want) {
	_cleanup_free_ char *have = NULL;
	int r = store_get_setting(s, "installation_id", &have);
	if (r < 0 && r != -ENOENT) return r;
	if (r == 0) {
		if (want && strcmp(want, have) != 0)
			return store_fail(s, -EEXIST, "state in %s belongs to installation %s, not %s", s->dir, have,
			                  want);
		snprintf(s->installation, sizeof s->installation, "%s", have);
		return 0;
	}
	if (want)
		snprintf(s->installation, sizeof s->installation, "%s", want);
	else
		uuid_generate_v4(s->installation);
	return store_set_setting(s, "installation_id", s->installation);
}

int store_open(const char *dir, const char *installation, store_t **out) {
	*out = NULL;
	open_err[0] = 0;
	if (!dir || !*dir) {
		snprintf(open_err, sizeof open_err, "no state directory given");
		return -EINVAL;
	}
	if (installation && !uuid_valid(installation)) {
		snprintf(open_err, sizeof open_err, "installation id \"%s\" is not a lower-case UUID", installation);
		return -EINVAL;
	}
	store_t *s = xcalloc(1, sizeof *s);
	s->lock_fd = -1;
	s->dir = xstrdup(dir);
	_cleanup_free_ char *path = xasprintf("%s/state.db", dir);

	int r = prepare_dir(s, dir);
	if (r >= 0) r = open_db(s, path);
	if (r >= 0) r = store_begin(s);
	if (r >= 0) {
		r = store_migrate(s);
		if (r >= 0) r = settle_installation(s, installation);
		if (r >= 0)
			r = store_commit(s);
		else
			store_rollback(s);
	}
	if (r < 0) {
		snprintf(open_err, sizeof open_err, "%s", s->err);
		store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void store_close(store_t *s) {
	if (!s) return;
	store_unlock(s);
	/* An open transaction is rolled back by the close. */
	sqlite3_close_v2(s->db);
	free(s->dir);
	free(s);
}

const char *store_errmsg(store_t *s) {
	return s ? s->err : open_err;
}

const char *store_dir(store_t *s) {
	return s->dir;
}

const char *store_installation_id(store_t *s) {
	return s->installation;
}

int store_begin(store_t *s) {
	if (!sqlite3_get_autocommit(s->db)) return store_fail(s, -EBUSY, "a transaction is already open");
	return store_exec(s, "BEGIN IMMEDIATE");
}

int store_commit(store_t *s) {
	if (sqlite3_get_autocommit(s->db)) return store_fail(s, -EINVAL, "commit without a transaction");
	return store_exec(s, "COMMIT");
}

void store_rollback(store_t *s) {
	/* SQLite may already have rolled back (after some errors); then there
	 * is nothing left to do. */
	if (sqlite3_get_autocommit(s->db)) return;
	char keep[sizeof s->err];
	memcpy(keep, s->err, sizeof keep);
	if (sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
		store_sqlerr(s);
		return;
	}
	/* The error that led here is the one worth reading. */
	memcpy(s->err, keep, sizeof keep);
}

int store_get_setting(store_t *s, const char *key, char **value) {
	*value = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT value FROM settings WHERE key = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no setting %s", key);
	if (rc != SQLITE_ROW) return store_sqlerr(s);
	*value = store_col_strdup(st, 0);
	return 0;
}

int store_set_setting(store_t *s, const char *key, const char *value) {
	if (!key || !value) return store_fail(s, -EINVAL, "setting without a key or a value");
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
	                      "INSERT INTO settings (key, value) VALUES (?1, ?2) "
	                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	                      &st);
	if (r < 0) return r;
	store_bind_text(st, 1, key);
	store_bind_text(st, 2, value);
	return store_step_done(s, st);
}

int store_collect(store_t *s, sqlite3_stmt *st, size_t size, store_row_fn row, void (*free_all)(void *v, size_t n),
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
	if (r >= 0 && rc != SQLITE_DONE) r = store_sqlerr(s);
	if (r < 0) {
		free_all(v, len);
		return r;
	}
	*out = v;
	*n = len;
	return 0;
}
