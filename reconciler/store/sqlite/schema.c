/* The state schema and its migrations. PRAGMA user_version is the number of
 * migrations applied; each migration runs once, in order, inside the same
 * write transaction as the version bump, so a crash leaves either the old
 * schema or the new one. Append migrations; never edit a released one. */
#include <errno.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

static const char *const migrations[] = {
	/* 1: the first schema. Statuses are stored by name so that the
	 * database reads the same to a human with the sqlite3 shell. The
	 * references to cvms are checked at commit, so that one transaction
	 * may record a certificate before the CVM it belongs to. */
	"CREATE TABLE cvms ("
	"  id TEXT NOT NULL PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  scope TEXT NOT NULL,"
	"  flavor TEXT,"
	"  provider TEXT,"
	"  placement TEXT,"
	"  status TEXT NOT NULL,"
	"  url TEXT,"
	"  spec_hash TEXT,"
	"  spec_json TEXT,"
	"  attempt TEXT,"
	"  vcpus INTEGER NOT NULL DEFAULT 0,"
	"  memory_gib INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  last_error TEXT"
	");"
	"CREATE INDEX cvms_by_name ON cvms(name, status);"
	"CREATE INDEX cvms_by_scope ON cvms(scope, name, created_at);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  cvm_id TEXT NOT NULL REFERENCES cvms(id) DEFERRABLE INITIALLY DEFERRED,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  message TEXT"
	");"
	"CREATE INDEX events_by_cvm ON events(cvm_id, at, seq);"
	"CREATE TABLE certs ("
	"  serial TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  cvm_id TEXT NOT NULL REFERENCES cvms(id) DEFERRABLE INITIALLY DEFERRED,"
	"  is_default INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  revoked_at INTEGER NOT NULL DEFAULT 0,"
	"  revoke_reason INTEGER NOT NULL DEFAULT -1,"
	"  cert_pem TEXT,"
	"  key_path TEXT"
	");"
	"CREATE INDEX certs_by_cvm ON certs(cvm_id, not_before);"
	"CREATE TABLE settings ("
	"  key TEXT NOT NULL PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");",
};

int store_schema_version(void) {
	return (int)ARRAY_SIZE(migrations);
}

static int read_user_version(store_t *s, int *out) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "PRAGMA user_version", &st);
	if (r < 0) return r;
	if (sqlite3_step(st) != SQLITE_ROW) return store_sqlerr(s);
	*out = sqlite3_column_int(st, 0);
	return 0;
}

static int check_version(store_t *s, int v) {
	if (v > store_schema_version())
		return store_fail(s, -EPROTO, "state schema version %d is newer than this cvmctl understands (%d)", v,
		                  store_schema_version());
	if (v < 0) return store_fail(s, -EPROTO, "state schema version %d is not valid", v);
	return 0;
}

/* Must be called inside a write transaction (BEGIN IMMEDIATE), so that two
 * processes opening a new state at once do not both migrate it. */
int store_migrate(store_t *s) {
	int v = 0, r = read_user_version(s, &v);
	if (r < 0) return r;
	r = check_version(s, v);
	if (r < 0) return r;
	for (; v < store_schema_version(); v++) {
		r = store_exec(s, migrations[v]);
		if (r < 0) return r;
		/* PRAGMA takes no bound parameters; v is our own integer. */
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		r = store_exec(s, sql);
		if (r < 0) return r;
	}
	return 0;
}
