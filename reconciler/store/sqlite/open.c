/* Opening the SQLite store safely (a private directory, a database created
 * under umask 077, WAL, the schema migrated), closing it, and the ops
 * table the dispatch layer calls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/trust.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

/* *err = msg (malloc'ed), replacing an earlier one; returns r. */
static int set_err(char **err, int r, char *msg) {
	free(*err);
	*err = msg;
	return r;
}

/* What only a state makes: a CA, or keys. Beside a missing or empty
 * database they mean that the state was lost, not that none was made. */
static const char *state_leftovers(const char *dir) {
	static const char *const what[] = {"ca/ca.key", "ca/ca.pem", "keys"};
	for (size_t i = 0; i < ARRAY_SIZE(what); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, what[i]);
		struct stat st;
		if (lstat(p, &st) < 0) continue;
		if (i < 2) return what[i];
		/* keys/: only when it holds something */
		_cleanup_(closedirp) DIR *d = opendir(p);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.') return what[i];
	}
	return NULL;
}

/* A file of the state that exists: ours, 0600 at most, never a symlink.
 * *size is its size (-1 when missing). */
static int check_state_file(const char *path, off_t *size, char **err) {
	*size = -1;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) return 0;
		int r = -errno;
		if (r == -ELOOP) return set_err(err, -EPERM, xasprintf("%s is a symbolic link: refusing to follow it", path));
		return set_err(err, r, xasprintf("cannot open %s: %s", path, strerror(-r)));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return set_err(err, -EPERM, xasprintf("%s is not a regular file", path));
	*size = st.st_size;
	return trust_fd(fd, path, 0600, err);
}

/* Every key in keys/ (and in the per-CVM directories older states made):
 * a regular file of ours, never a symlink; ours too open are tightened
 * with one warning for them all. fstatat on the directory's descriptor,
 * no file opened: a pass over many keys costs one stat each. */
static int check_keys_in(int dfd, const char *path, int depth, size_t *tightened, char **err) {
	_cleanup_(closedirp) DIR *d = fdopendir(dfd);
	if (!d) {
		int r = -errno;
		close(dfd);
		return set_err(err, r, xasprintf("cannot read %s: %s", path, strerror(-r)));
	}
	struct dirent *de;
	uid_t me = geteuid();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", path, de->d_name);
		if (S_ISDIR(st.st_mode) && depth == 0) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) continue;
			int r = trust_fd(sub, p, 0700, err);
			if (r < 0) {
				close(sub);
				return r;
			}
			if ((r = check_keys_in(sub, p, 1, tightened, err)) < 0) return r;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			return set_err(err, -EPERM,
			               xasprintf("%s is %s, not a key file: refusing to trust %s", p,
			                         S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file", path));
		if (st.st_uid != me) {
			/* trust_fd words it: the same sentence for every path */
			_cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0) return trust_fd(fd, p, 0600, err);
			return set_err(err, -EPERM,
			               xasprintf("%s is owned by uid %u, not by us: refusing to trust it", p, (unsigned)st.st_uid));
		}
		if (st.st_mode & 0177) {
			/* our directory, 0700: nobody else can swap the name */
			if (fchmodat(dirfd(d), de->d_name, st.st_mode & 0600, 0) == 0) (*tightened)++;
		}
	}
	return 0;
}

static int check_keys(const char *dir, char **err) {
	_cleanup_free_ char *path = xasprintf("%s/keys", dir);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) return 0; /* missing; anything else was refused by trust_dir */
	size_t tightened = 0;
	int r = check_keys_in(dfd, path, 0, &tightened, err);
	if (tightened)
		log_warn("%zu key file%s in %s %s open to others: tightened to 0600", tightened, tightened == 1 ? "" : "s",
		         path, tightened == 1 ? "was" : "were");
	return r;
}

int sqlite_check_dir(const char *dir, const char *installation, char **err) {
	int r = trust_dir(dir, true, err);
	if (r == -ENOENT) return 0; /* nothing there: a new state */
	if (r < 0) return r;
	static const char *const subdirs[] = {"ca", "keys"};
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, subdirs[i]);
		r = trust_dir(p, false, err);
		if (r < 0 && r != -ENOENT) return r;
	}
	if ((r = check_keys(dir, err)) < 0) return r;
	static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm", "lock"};
	off_t db_size = -1;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);
		off_t size;
		if ((r = check_state_file(p, &size, err)) < 0) return r;
		if (i == 0) db_size = size;
	}
	const char *left;
	if (db_size <= 0 && !installation && (left = state_leftovers(dir))) {
		return set_err(err, -EUCLEAN,
		               xasprintf("%s/state.db is %s, but %s/%s is there: the state was lost or damaged, and a new "
		                         "one would not know the CVMs made under it. Restore state.db from a backup, or "
		                         "start a new state that adopts them with --installation-id ID (the id in their "
		                         "markers)",
		                         dir, db_size < 0 ? "missing" : "empty", dir, left));
	}
	return 0;
}

/* The state holds the CA key beside the database: nobody else may look in
 * (sqlite_check_dir: ours and private, or refused). */
static int prepare_dir(store_t *s, const char *dir, const char *installation) {
	_cleanup_free_ char *err = NULL;
	int r = sqlite_check_dir(dir, installation, &err);
	if (r < 0) return store_fail(s, r, "%s", err);
	r = mkdir_p(dir, 0700);
	if (r < 0) return store_fail(s, r, "cannot create state directory %s: %s", dir, strerror(-r));
	/* Made just now, or checked above. */
	r = trust_dir(dir, true, &err);
	if (r < 0) return store_fail(s, r, "%s", err);
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
	int r = prepare_dir(s, dir, installation);
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
	.list_key_paths = sq_list_key_paths,
	.list_cert_states = sq_list_cert_states,
	.set_suspended = sq_set_suspended,
	.set_lifecycle = sq_set_lifecycle,
	.put_condition = sq_put_condition,
	.list_conditions = sq_list_conditions,
	.set_delivered = sq_set_delivered,
	.get_delivered = sq_get_delivered,
	.set_rotation_retry = sq_set_rotation_retry,
	.get_rotation_retry = sq_get_rotation_retry,
	.put_provider = sq_put_provider,
	.get_provider = sq_get_provider,
	.get_setting = sq_get_setting,
	.set_setting = sq_set_setting,
};
