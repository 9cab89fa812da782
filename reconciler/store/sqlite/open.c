/* Opening the SQLite store safely (a private directory, a database created
 * under umask 077, WAL, the schema migrated), closing it, and the ops
 * table the dispatch layer calls. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

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
	int rc = sqlite3_open_v2(path, &sq(s)->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		if (!sq_db(s)) return store_fail(s, -ENOMEM, "cannot open %s: out of memory", path);
		int r = sq_err(s);
		return store_fail(s, r, "cannot open %s: %s", path, sqlite3_errmsg(sq_db(s)));
	}
	sqlite3_extended_result_codes(sq_db(s), 1);
	sqlite3_busy_timeout(sq_db(s), 5000);

	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "PRAGMA journal_mode=WAL", &st);
	if (r < 0) return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(sq_db(s)));
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = sq_err(s);
		return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(sq_db(s)));
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcasecmp(mode, "wal") != 0)
		return store_fail(s, -ENOTSUP, "%s: cannot use the WAL journal here (got %s)", path, mode ? mode : "?");
	r = sq_exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
	if (r < 0) return store_fail(s, r, "%s: %s", path, sqlite3_errmsg(sq_db(s)));
	return 0;
}

/* Inside the migration transaction: a new state gets its installation id
 * here, once; an existing one keeps the one it has. */
static int settle_installation(store_t *s, const char *want) {
	_cleanup_free_ char *have = NULL;
	int r = sq_get_setting(s, "installation_id", &have);
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
	return sq_set_setting(s, "installation_id", s->installation);
}

int sqlite_store_open(const char *dir, const char *installation, store_t **out) {
	*out = NULL;
	sqlite_store_t *q = xcalloc(1, sizeof *q);
	store_t *s = &q->base;
	store_base_init(s, &sqlite_store_ops, dir);
	q->lock_fd = -1;
	_cleanup_free_ char *path = xasprintf("%s/state.db", dir);

	/* Registered before the first statement is prepared (open_db's own
	 * PRAGMA), so that every statement finds its way back to the cache. */
	sq_register(s, true);
	int r = prepare_dir(s, dir);
	if (r >= 0) r = open_db(s, path);
	if (r >= 0) r = sq_begin(s);
	if (r >= 0) {
		r = sq_migrate(s);
		if (r >= 0) r = settle_installation(s, installation);
		if (r >= 0)
			r = sq_commit(s);
		else
			sq_rollback(s);
	}
	if (r < 0) {
		store_open_failed("%s", s->err);
		sq_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void sq_close(store_t *s) {
	sq_unlock(s);
	sq_register(s, false);
	sq_cache_drop(s);
	/* An open transaction is rolled back by the close. */
	sqlite3_close_v2(sq_db(s));
	store_base_fini(s);
	free(sq(s));
}

const store_ops_t sqlite_store_ops = {
	.name = "sqlite",
	.close = sq_close,
	.lock = sq_lock,
	.unlock = sq_unlock,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.put_cvm = sq_put_cvm,
	.get_cvm = sq_get_cvm,
	.find_cvm = sq_find_cvm,
	.list_cvms = sq_list_cvms,
	.add_event = sq_add_event,
	.list_events = sq_list_events,
	.put_cert = sq_put_cert,
	.get_cert = sq_get_cert,
	.list_certs = sq_list_certs,
	.list_cert_states = sq_list_cert_states,
	.set_delivered = sq_set_delivered,
	.get_delivered = sq_get_delivered,
	.set_rotation_retry = sq_set_rotation_retry,
	.get_rotation_retry = sq_get_rotation_retry,
	.put_provider = sq_put_provider,
	.get_provider = sq_get_provider,
	.get_setting = sq_get_setting,
	.set_setting = sq_set_setting,
};
