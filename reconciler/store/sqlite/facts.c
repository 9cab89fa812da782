/* Per-CVM facts with setters of their own (the delivered serial, the
 * rotation retry), and provider settings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

/* ---- per-CVM facts with setters of their own ---- */

/* Steps a query of one row about `key`: 0 with the row ready, -ENOENT
 * ("no WHAT KEY") when there is none. */
static int one_row(store_t *s, sqlite3_stmt *st, const char *what, const char *key) {
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no %s %s", what, key);
	return rc == SQLITE_ROW ? 0 : sq_err(s);
}

static int cvm_exists(store_t *s, const char *id) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT 1 FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, id);
	return one_row(s, st, "CVM with id", id);
}

/* Runs an UPDATE of one CVM's row whose WHERE also skips a row that
 * already holds the values: no row changed is then either that (success,
 * updated_at left alone) or no such CVM. */
static int update_one(store_t *s, sqlite3_stmt *st, const char *id) {
	int r = sq_step_done(s, st);
	if (r < 0) return r;
	if (sqlite3_changes(sq_db(s)) == 0) return cvm_exists(s, id);
	return 0;
}

int sq_set_delivered(store_t *s, const char *cvm_id, const char *serial) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "UPDATE cvms SET delivered_serial = ?2, updated_at = ?3 "
	                   "WHERE id = ?1 AND delivered_serial IS NOT ?2",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sq_bind_text(st, 2, serial);
	sqlite3_bind_int64(st, 3, now_s());
	return update_one(s, st, cvm_id);
}

int sq_set_suspended(store_t *s, const char *cvm_id, bool suspended) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "UPDATE cvms SET suspended = ?2, updated_at = ?3 WHERE id = ?1 AND suspended IS NOT ?2", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sqlite3_bind_int(st, 2, suspended);
	sqlite3_bind_int64(st, 3, now_s());
	return update_one(s, st, cvm_id);
}

int sq_set_lifecycle(store_t *s, const char *cvm_id, bool spec_suspended, bool orphan) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "UPDATE cvms SET deletion_policy = ?2, spec_suspended = ?4, updated_at = ?3 "
	                   "WHERE id = ?1 AND (deletion_policy IS NOT ?2 OR spec_suspended IS NOT ?4)",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sq_bind_text(st, 2, orphan ? "Orphan" : "Delete");
	sqlite3_bind_int64(st, 3, now_s());
	sqlite3_bind_int(st, 4, spec_suspended);
	return update_one(s, st, cvm_id);
}

int sq_get_delivered(store_t *s, const char *cvm_id, char **serial) {
	*serial = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT delivered_serial FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	if ((r = one_row(s, st, "CVM with id", cvm_id)) < 0) return r;
	*serial = sq_col_strdup(st, 0);
	return 0;
}

int sq_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "UPDATE cvms SET rotate_failures = ?2, rotate_next_at = ?3, updated_at = ?4 "
	                   "WHERE id = ?1 AND (rotate_failures IS NOT ?2 OR rotate_next_at IS NOT ?3)",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sqlite3_bind_int(st, 2, failures);
	sqlite3_bind_int64(st, 3, next_at);
	sqlite3_bind_int64(st, 4, now_s());
	return update_one(s, st, cvm_id);
}

int sq_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at) {
	*failures = 0;
	*next_at = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT rotate_failures, rotate_next_at FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	if ((r = one_row(s, st, "CVM with id", cvm_id)) < 0) return r;
	*failures = sqlite3_column_int(st, 0);
	*next_at = sqlite3_column_int64(st, 1);
	return 0;
}

/* ---- provider settings ---- */

int sq_put_provider(store_t *s, const char *name, const char *flavor, const char *settings_json) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "INSERT INTO providers (name, flavor, settings, updated_at) VALUES (?1, ?2, ?3, ?4) "
	                   "ON CONFLICT(name) DO UPDATE SET flavor = excluded.flavor, settings = excluded.settings, "
	                   "  updated_at = excluded.updated_at "
	                   "WHERE providers.flavor IS NOT excluded.flavor OR providers.settings IS NOT excluded.settings",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, name);
	sq_bind_text(st, 2, flavor);
	sq_bind_text(st, 3, settings_json);
	sqlite3_bind_int64(st, 4, now_s());
	return sq_step_done(s, st);
}

int sq_get_provider(store_t *s, const char *name, char **flavor, char **settings_json) {
	*flavor = NULL;
	*settings_json = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT flavor, settings FROM providers WHERE name = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, name);
	if ((r = one_row(s, st, "provider on record named", name)) < 0) return r;
	*flavor = sq_col_strdup(st, 0);
	*settings_json = sq_col_strdup(st, 1);
	return 0;
}
