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
	 * settings are renamed to the YAML field names of the Provider spec,
	 * in the text provider_record_save writes for the same settings (keys
	 * sorted, compact), so that the first pass after an upgrade finds them
	 * unchanged. Absent keys stay absent (json_patch drops NULLs); hosts,
	 * vtpm and insecureNoSEV are the manager's and version 1 wrote them
	 * for every flavor, so they are kept for manager providers only, and
	 * capacity only where it overrides the host's. `handle` is the
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
	"  SELECT substr(key, 10), flavor, json_patch('{}', json_object("
	"      'capacity', CASE WHEN manager AND (json_extract(value, '$.capacity_vcpus') > 0"
	"                                         OR json_extract(value, '$.capacity_memory_gib') > 0)"
	"                  THEN json_patch('{}', json_object("
	"                    'memoryGiB', NULLIF(json_extract(value, '$.capacity_memory_gib'), 0),"
	"                    'vcpus', NULLIF(json_extract(value, '$.capacity_vcpus'), 0))) END,"
	"      'clientId', json_extract(value, '$.client_id'),"
	"      'clientSecretFile', json_extract(value, '$.client_secret_file'),"
	"      'cmdline', json_extract(value, '$.cmdline'),"
	"      'cpuModel', json_extract(value, '$.cpu_model'),"
	"      'credentialsFile', json_extract(value, '$.credentials_file'),"
	"      'domainType', json_extract(value, '$.domain_type'),"
	"      'endpoint', json_extract(value, '$.endpoint'),"
	"      'firmware', json_extract(value, '$.firmware'),"
	"      'hosts', CASE WHEN manager THEN json_extract(value, '$.hosts') END,"
	"      'initrd', json_extract(value, '$.initrd'),"
	"      'insecureNoSEV', CASE WHEN manager THEN json(CASE json_extract(value, '$.insecure_no_sev')"
	"                                                   WHEN 1 THEN 'true' ELSE 'false' END) END,"
	"      'kernel', json_extract(value, '$.kernel'),"
	"      'location', json_extract(value, '$.location'),"
	"      'network', json_extract(value, '$.network'),"
	"      'project', json_extract(value, '$.project'),"
	"      'resourceGroup', json_extract(value, '$.resource_group'),"
	"      'shareDir', json_extract(value, '$.share_dir'),"
	"      'subscription', json_extract(value, '$.subscription'),"
	"      'tenant', json_extract(value, '$.tenant'),"
	"      'vtpm', CASE WHEN manager THEN json(CASE json_extract(value, '$.vtpm')"
	"                                          WHEN 1 THEN 'true' ELSE 'false' END) END,"
	"      'zone', json_extract(value, '$.zone'))),"
	"    CAST(strftime('%s', 'now') AS INTEGER)"
	"  FROM (SELECT key, value, COALESCE(json_extract(value, '$.flavor'), '') AS flavor,"
	"               json_extract(value, '$.flavor') IS 'manager' AS manager"
	"        FROM settings WHERE key LIKE 'provider:%' AND json_valid(value));"
	"DELETE FROM settings WHERE key LIKE 'delivered:%' OR key LIKE 'rotate-retry:%' OR key LIKE 'provider:%';",
	/* 3: each CVM's conditions as the last pass judged them (Ready,
	 * Synced, CertificateReady); status by name, as for cvms. */
	"CREATE TABLE conditions ("
	"  cvm_id TEXT NOT NULL REFERENCES cvms(id) DEFERRABLE INITIALLY DEFERRED,"
	"  type TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  message TEXT,"
	"  spec_hash TEXT,"
	"  last_transition INTEGER NOT NULL,"
	"  observed_at INTEGER NOT NULL,"
	"  PRIMARY KEY (cvm_id, type)"
	");",
	/* 4: suspension (cvmctl suspend/resume), and spec.suspend and the
	 * deletion policy as the last pass saw them in the spec, kept for when
	 * the spec is removed. */
	"ALTER TABLE cvms ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cvms ADD COLUMN spec_suspended INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cvms ADD COLUMN deletion_policy TEXT NOT NULL DEFAULT 'Delete';",
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
