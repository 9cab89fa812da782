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
	/* 2: facts that version 1 kept as settings keys become columns and a
	 * table of their own; the keys are moved, then dropped. The provider
	 * settings are renamed to the YAML field names the backends' schemas
	 * use (json_patch drops the keys that were absent). `handle` is the
	 * backend's own address of a CVM's resource. */
	"ALTER TABLE cvms ADD COLUMN handle TEXT;"
	"ALTER TABLE cvms ADD COLUMN delivered_serial TEXT;"
	"ALTER TABLE cvms ADD COLUMN rotate_failures INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cvms ADD COLUMN rotate_next_at INTEGER NOT NULL DEFAULT 0;"
	"UPDATE cvms SET delivered_serial = (SELECT value FROM settings WHERE key = 'delivered:' || cvms.id);"
	"UPDATE cvms SET"
	"  rotate_failures = COALESCE((SELECT CAST(substr(value, 1, instr(value, ' ') - 1) AS INTEGER)"
	"                              FROM settings WHERE key = 'rotate-retry:' || cvms.id), 0),"
	"  rotate_next_at = COALESCE((SELECT CAST(substr(value, instr(value, ' ') + 1) AS INTEGER)"
	"                             FROM settings WHERE key = 'rotate-retry:' || cvms.id), 0);"
	"CREATE TABLE providers ("
	"  name TEXT NOT NULL PRIMARY KEY,"
	"  flavor TEXT NOT NULL,"
	"  settings TEXT NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"INSERT INTO providers (name, flavor, settings, updated_at)"
	"  SELECT substr(key, 10), COALESCE(json_extract(value, '$.flavor'), ''),"
	"    json_patch('{}', json_object("
	"      'project', json_extract(value, '$.project'), 'zone', json_extract(value, '$.zone'),"
	"      'credentialsFile', json_extract(value, '$.credentials_file'),"
	"      'endpoint', json_extract(value, '$.endpoint'),"
	"      'subscription', json_extract(value, '$.subscription'),"
	"      'resourceGroup', json_extract(value, '$.resource_group'),"
	"      'location', json_extract(value, '$.location'), 'tenant', json_extract(value, '$.tenant'),"
	"      'clientId', json_extract(value, '$.client_id'),"
	"      'clientSecretFile', json_extract(value, '$.client_secret_file'),"
	"      'hosts', json_extract(value, '$.hosts'), 'firmware', json_extract(value, '$.firmware'),"
	"      'kernel', json_extract(value, '$.kernel'), 'initrd', json_extract(value, '$.initrd'),"
	"      'cmdline', json_extract(value, '$.cmdline'), 'domainType', json_extract(value, '$.domain_type'),"
	"      'cpuModel', json_extract(value, '$.cpu_model'), 'network', json_extract(value, '$.network'),"
	"      'shareDir', json_extract(value, '$.share_dir'),"
	"      'vtpm', json(CASE json_extract(value, '$.vtpm') WHEN 1 THEN 'true' ELSE 'false' END),"
	"      'insecureNoSEV', json(CASE json_extract(value, '$.insecure_no_sev') WHEN 1 THEN 'true' ELSE 'false' END),"
	"      'capacity', CASE WHEN json_extract(value, '$.capacity_vcpus') > 0"
	"                       OR json_extract(value, '$.capacity_memory_gib') > 0"
	"                  THEN json_patch('{}', json_object("
	"                    'vcpus', NULLIF(json_extract(value, '$.capacity_vcpus'), 0),"
	"                    'memoryGiB', NULLIF(json_extract(value, '$.capacity_memory_gib'), 0))) END)),"
	"    CAST(strftime('%s', 'now') AS INTEGER)"
	"  FROM settings WHERE key LIKE 'provider:%' AND json_valid(value);"
	"DELETE FROM settings WHERE key LIKE 'delivered:%' OR key LIKE 'rotate-retry:%' OR key LIKE 'provider:%';",
};

int sqlite_schema_version(void) {
	return (int)ARRAY_SIZE(migrations);
}

static int read_user_version(store_t *s, int *out) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "PRAGMA user_version", &st);
	if (r < 0) return r;
	if (sqlite3_step(st) != SQLITE_ROW) return sq_err(s);
	*out = sqlite3_column_int(st, 0);
	return 0;
}

static int check_version(store_t *s, int v) {
	if (v > sqlite_schema_version())
		return store_fail(s, -EPROTO, "state schema version %d is newer than this cvmctl understands (%d)", v,
		                  sqlite_schema_version());
	if (v < 0) return store_fail(s, -EPROTO, "state schema version %d is not valid", v);
	return 0;
}

/* Must be called inside a write transaction (BEGIN IMMEDIATE), so that two
 * processes opening a new state at once do not both migrate it. */
int sq_migrate(store_t *s) {
	int v = 0, r = read_user_version(s, &v);
	if (r < 0) return r;
	r = check_version(s, v);
	if (r < 0) return r;
	for (; v < sqlite_schema_version(); v++) {
		r = sq_exec(s, migrations[v]);
		if (r < 0) return r;
		/* PRAGMA takes no bound parameters; v is our own integer. */
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		r = sq_exec(s, sql);
		if (r < 0) return r;
	}
	return 0;
}
