/* CVM records and their history of events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

#define CVM_COLS                                                                                                  \
	"id, name, scope, flavor, provider, placement, status, url, spec_hash, spec_json, attempt, vcpus, memory_gib, " \
	"created_at, updated_at, last_error, handle"

void cvm_record_free(cvm_record_t *r) {
	if (!r) return;
	free(r->name);
	free(r->scope);
	free(r->flavor);
	free(r->provider);
	free(r->placement);
	free(r->url);
	free(r->spec_hash);
	free(r->spec_json);
	free(r->attempt);
	free(r->last_error);
	free(r->handle);
	memset(r, 0, sizeof *r);
}

void cvm_records_free(cvm_record_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) cvm_record_free(&v[i]);
	free(v);
}

void cvm_record_copy(cvm_record_t *dst, const cvm_record_t *src) {
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->scope = xstrdup(src->scope);
	dst->flavor = xstrdup(src->flavor);
	dst->provider = xstrdup(src->provider);
	dst->placement = xstrdup(src->placement);
	dst->url = xstrdup(src->url);
	dst->spec_hash = xstrdup(src->spec_hash);
	dst->spec_json = xstrdup(src->spec_json);
	dst->attempt = xstrdup(src->attempt);
	dst->last_error = xstrdup(src->last_error);
	dst->handle = xstrdup(src->handle);
}

/* Reads one row selected with CVM_COLS. */
static int cvm_from_row(store_t *s, sqlite3_stmt *st, cvm_record_t *r) {
	memset(r, 0, sizeof *r);
	const char *status = (const char *)sqlite3_column_text(st, 6);
	int sv = cvm_status_from_name(status);
	snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
	if (sv < 0)
		return store_fail(s, -EBADMSG, "CVM %s has status \"%s\", which this cvmctl does not know", r->id,
		                  status ? status : "");
	r->name = store_col_strdup(st, 1);
	r->scope = store_col_strdup(st, 2);
	r->flavor = store_col_strdup(st, 3);
	r->provider = store_col_strdup(st, 4);
	r->placement = store_col_strdup(st, 5);
	r->status = (cvm_status_t)sv;
	r->url = store_col_strdup(st, 7);
	r->spec_hash = store_col_strdup(st, 8);
	r->spec_json = store_col_strdup(st, 9);
	r->attempt = store_col_strdup(st, 10);
	r->vcpus = sqlite3_column_int(st, 11);
	r->memory_gib = sqlite3_column_int(st, 12);
	r->created_at = sqlite3_column_int64(st, 13);
	r->updated_at = sqlite3_column_int64(st, 14);
	r->last_error = store_col_strdup(st, 15);
	r->handle = store_col_strdup(st, 16);
	return 0;
}

/* Steps a query expected to yield at most one record. */
static int one_cvm(store_t *s, sqlite3_stmt *st, cvm_record_t *out) {
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return -ENOENT;
	if (rc != SQLITE_ROW) return store_sqlerr(s);
	return cvm_from_row(s, st, out);
}

int store_put_cvm(store_t *s, const cvm_record_t *r) {
	if (!r->id[0] || !r->name || !*r->name)
		return store_fail(s, -EINVAL, "a CVM record needs an id and a name");
	if ((unsigned)r->status >= ST__COUNT)
		return store_fail(s, -EINVAL, "CVM %s has an invalid status %d", r->id, (int)r->status);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* Zero timestamps mean "now"; an update keeps the original created_at
	 * unless the caller gives one. */
	int r0 = store_prepare(
		s,
		"INSERT INTO cvms (" CVM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
		"  COALESCE(?14, ?17), COALESCE(?15, ?17), ?16, ?18) "
		"ON CONFLICT(id) DO UPDATE SET name = excluded.name, scope = excluded.scope, flavor = excluded.flavor, "
		"  provider = excluded.provider, placement = excluded.placement, status = excluded.status, "
		"  url = excluded.url, spec_hash = excluded.spec_hash, spec_json = excluded.spec_json, "
		"  attempt = excluded.attempt, vcpus = excluded.vcpus, memory_gib = excluded.memory_gib, "
		"  created_at = COALESCE(?14, cvms.created_at), updated_at = excluded.updated_at, "
		"  last_error = excluded.last_error, handle = excluded.handle",
		&st);
	if (r0 < 0) return r0;
	store_bind_text(st, 1, r->id);
	store_bind_text(st, 2, r->name);
	store_bind_text(st, 3, r->scope ? r->scope : "default");
	store_bind_text(st, 4, r->flavor);
	store_bind_text(st, 5, r->provider);
	store_bind_text(st, 6, r->placement);
	store_bind_text(st, 7, cvm_status_name(r->status));
	store_bind_text(st, 8, r->url);
	store_bind_text(st, 9, r->spec_hash);
	store_bind_text(st, 10, r->spec_json);
	store_bind_text(st, 11, r->attempt);
	sqlite3_bind_int(st, 12, r->vcpus);
	sqlite3_bind_int(st, 13, r->memory_gib);
	if (r->created_at) sqlite3_bind_int64(st, 14, r->created_at);
	if (r->updated_at) sqlite3_bind_int64(st, 15, r->updated_at);
	store_bind_text(st, 16, r->last_error);
	sqlite3_bind_int64(st, 17, now_s());
	store_bind_text(st, 18, r->handle);
	return store_step_done(s, st);
}

int store_get_cvm(store_t *s, const char *id, cvm_record_t *out) {
	memset(out, 0, sizeof *out);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT " CVM_COLS " FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, id);
	r = one_cvm(s, st, out);
	if (r == -ENOENT) return store_fail(s, r, "no CVM with id %s", id);
	return r;
}

int store_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out) {
	int r = store_get_cvm(s, name_or_id, out);
	if (r != -ENOENT) return r;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* Active records first, then the most recently touched. */
	r = store_prepare(s,
	                  "SELECT " CVM_COLS " FROM cvms WHERE name = ?1 "
	                  "ORDER BY status = 'Inactive', updated_at DESC, created_at DESC, rowid DESC LIMIT 1",
	                  &st);
	if (r < 0) return r;
	store_bind_text(st, 1, name_or_id);
	r = one_cvm(s, st, out);
	if (r == -ENOENT) return store_fail(s, r, "no CVM named %s", name_or_id);
	return r;
}

static int cvm_row(store_t *s, sqlite3_stmt *st, void *elem) { return cvm_from_row(s, st, elem); }
static void cvm_free_all(void *v, size_t n) { cvm_records_free(v, n); }

int store_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
	                      "SELECT " CVM_COLS " FROM cvms WHERE ?1 IS NULL OR scope = ?1 "
	                      "ORDER BY name, created_at, id",
	                      &st);
	if (r < 0) return r;
	store_bind_text(st, 1, scope);
	return store_collect(s, st, sizeof(cvm_record_t), cvm_row, cvm_free_all, (void **)out, n);
}

int store_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message) {
	if (!cvm_id || !kind) return store_fail(s, -EINVAL, "an event needs a CVM id and a kind");
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "INSERT INTO events (cvm_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	sqlite3_bind_int64(st, 2, now_s());
	store_bind_text(st, 3, kind);
	store_bind_text(st, 4, message);
	r = store_step_done(s, st);
	if (r == -ENOENT) return store_fail(s, r, "cannot record an event for CVM %s: no such CVM", cvm_id);
	return r;
}

static int event_row(store_t *s, sqlite3_stmt *st, void *elem) {
	(void)s;
	cvm_event_t *e = elem;
	e->at = sqlite3_column_int64(st, 0);
	e->kind = store_col_strdup(st, 1);
	e->message = store_col_strdup(st, 2);
	return 0;
}
static void event_free_all(void *v, size_t n) { cvm_events_free(v, n); }

int store_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT at, kind, message FROM events WHERE cvm_id = ?1 ORDER BY at, seq", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	return store_collect(s, st, sizeof(cvm_event_t), event_row, event_free_all, (void **)out, n);
}

void cvm_events_free(cvm_event_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].kind);
		free(v[i].message);
	}
	free(v);
}

/* ---- per-CVM facts with setters of their own ---- */

static int update_one(store_t *s, sqlite3_stmt *st, const char *id) {
	int r = store_step_done(s, st);
	if (r < 0) return r;
	if (sqlite3_changes(s->db) == 0) return store_fail(s, -ENOENT, "no CVM with id %s", id);
	return 0;
}

int store_set_delivered(store_t *s, const char *cvm_id, const char *serial) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "UPDATE cvms SET delivered_serial = ?2, updated_at = ?3 WHERE id = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	store_bind_text(st, 2, serial);
	sqlite3_bind_int64(st, 3, now_s());
	return update_one(s, st, cvm_id);
}

int store_get_delivered(store_t *s, const char *cvm_id, char **serial) {
	*serial = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT delivered_serial FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no CVM with id %s", cvm_id);
	if (rc != SQLITE_ROW) return store_sqlerr(s);
	*serial = store_col_strdup(st, 0);
	return 0;
}

int store_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "UPDATE cvms SET rotate_failures = ?2, rotate_next_at = ?3 WHERE id = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	sqlite3_bind_int(st, 2, failures);
	sqlite3_bind_int64(st, 3, next_at);
	return update_one(s, st, cvm_id);
}

int store_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at) {
	*failures = 0;
	*next_at = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT rotate_failures, rotate_next_at FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, cvm_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no CVM with id %s", cvm_id);
	if (rc != SQLITE_ROW) return store_sqlerr(s);
	*failures = sqlite3_column_int(st, 0);
	*next_at = sqlite3_column_int64(st, 1);
	return 0;
}

/* ---- provider settings ---- */

int store_put_provider(store_t *s, const char *name, const char *flavor, const char *settings_json) {
	if (!name || !flavor || !settings_json) return store_fail(s, -EINVAL, "a provider record needs a name, a flavor and settings");
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
	                      "INSERT INTO providers (name, flavor, settings, updated_at) VALUES (?1, ?2, ?3, ?4) "
	                      "ON CONFLICT(name) DO UPDATE SET flavor = excluded.flavor, settings = excluded.settings, "
	                      "  updated_at = excluded.updated_at "
	                      "WHERE providers.flavor IS NOT excluded.flavor OR providers.settings IS NOT excluded.settings",
	                      &st);
	if (r < 0) return r;
	store_bind_text(st, 1, name);
	store_bind_text(st, 2, flavor);
	store_bind_text(st, 3, settings_json);
	sqlite3_bind_int64(st, 4, now_s());
	return store_step_done(s, st);
}

int store_get_provider(store_t *s, const char *name, char **flavor, char **settings_json) {
	*flavor = NULL;
	*settings_json = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT flavor, settings FROM providers WHERE name = ?1", &st);
	if (r < 0) return r;
	store_bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no provider named %s on record", name);
	if (rc != SQLITE_ROW) return store_sqlerr(s);
	*flavor = store_col_strdup(st, 0);
	*settings_json = store_col_strdup(st, 1);
	return 0;
}
