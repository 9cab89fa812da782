/* CVM records and their history of events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

#define CVM_COLS                                                                                                  \
	"id, name, scope, flavor, provider, placement, status, url, spec_hash, spec_json, attempt, vcpus, memory_gib, " \
	"created_at, updated_at, last_error, handle"
/* What a read adds: the facts put leaves alone. */
#define CVM_READ_COLS CVM_COLS ", suspended, deletion_policy, spec_suspended"

/* Reads one row selected with CVM_READ_COLS. */
static int cvm_from_row(store_t *s, sqlite3_stmt *st, cvm_record_t *r) {
	memset(r, 0, sizeof *r);
	const char *status = (const char *)sqlite3_column_text(st, 6);
	int sv = cvm_status_from_name(status);
	snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
	if (sv < 0)
		return store_fail(s, -EBADMSG, "CVM %s has status \"%s\", which this cvmctl does not know", r->id,
		                  status ? status : "");
	r->name = sq_col_strdup(st, 1);
	r->scope = sq_col_strdup(st, 2);
	r->flavor = sq_col_strdup(st, 3);
	r->provider = sq_col_strdup(st, 4);
	r->placement = sq_col_strdup(st, 5);
	r->status = (cvm_status_t)sv;
	r->url = sq_col_strdup(st, 7);
	r->spec_hash = sq_col_strdup(st, 8);
	r->spec_json = sq_col_strdup(st, 9);
	r->attempt = sq_col_strdup(st, 10);
	r->vcpus = sqlite3_column_int(st, 11);
	r->memory_gib = sqlite3_column_int(st, 12);
	r->created_at = sqlite3_column_int64(st, 13);
	r->updated_at = sqlite3_column_int64(st, 14);
	r->last_error = sq_col_strdup(st, 15);
	r->handle = sq_col_strdup(st, 16);
	r->suspended = sqlite3_column_int(st, 17) != 0;
	const char *dp = (const char *)sqlite3_column_text(st, 18);
	r->orphan = dp && strcmp(dp, "Orphan") == 0;
	r->spec_suspended = sqlite3_column_int(st, 19) != 0;
	return 0;
}

/* Steps a query expected to yield at most one record. */
static int one_cvm(store_t *s, sqlite3_stmt *st, cvm_record_t *out) {
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return -ENOENT;
	if (rc != SQLITE_ROW) return sq_err(s);
	return cvm_from_row(s, st, out);
}

/* The columns a put replaces, apart from created_at and updated_at. */
#define PUT_COLS(X)                                                                                     \
	X(name) X(scope) X(flavor) X(provider) X(placement) X(status) X(url) X(spec_hash) X(spec_json) \
	X(attempt) X(vcpus) X(memory_gib) X(last_error) X(handle)
#define SET_COL(c) #c " = excluded." #c ", "
#define DIFFERS(c) "cvms." #c " IS NOT excluded." #c " OR "

/* One upsert. updated_at is always now (?17): the record's own value is a
 * copy of what was read and would freeze it. The WHERE on the update makes
 * a put that changes nothing write nothing, so that a converged pass over
 * many CVMs neither rewrites their rows nor moves their updated_at. */
static const char put_sql[] =
	"INSERT INTO cvms (" CVM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	"  COALESCE(?14, ?17), ?17, ?16, ?18) "
	"ON CONFLICT(id) DO UPDATE SET " PUT_COLS(SET_COL)
	"  created_at = COALESCE(?14, cvms.created_at), updated_at = excluded.updated_at "
	"WHERE " PUT_COLS(DIFFERS) "cvms.created_at IS NOT COALESCE(?14, cvms.created_at)";

int sq_put_cvm(store_t *s, const cvm_record_t *r) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r0 = sq_prepare(s, put_sql, &st);
	if (r0 < 0) return r0;
	sq_bind_text(st, 1, r->id);
	sq_bind_text(st, 2, r->name);
	sq_bind_text(st, 3, r->scope ? r->scope : CVM_DEFAULT_SCOPE);
	sq_bind_text(st, 4, r->flavor);
	sq_bind_text(st, 5, r->provider);
	sq_bind_text(st, 6, r->placement);
	sq_bind_text(st, 7, cvm_status_name(r->status));
	sq_bind_text(st, 8, r->url);
	sq_bind_text(st, 9, r->spec_hash);
	sq_bind_text(st, 10, r->spec_json);
	sq_bind_text(st, 11, r->attempt);
	sqlite3_bind_int(st, 12, r->vcpus);
	sqlite3_bind_int(st, 13, r->memory_gib);
	/* Zero means "now" for a new record and "keep it" for an update. */
	if (r->created_at) sqlite3_bind_int64(st, 14, r->created_at);
	sq_bind_text(st, 16, r->last_error);
	sqlite3_bind_int64(st, 17, now_s());
	sq_bind_text(st, 18, r->handle);
	return sq_step_done(s, st);
}

int sq_get_cvm(store_t *s, const char *id, cvm_record_t *out) {
	memset(out, 0, sizeof *out);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT " CVM_READ_COLS " FROM cvms WHERE id = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, id);
	r = one_cvm(s, st, out);
	if (r == -ENOENT) return store_fail(s, r, "no CVM with id %s", id);
	return r;
}

int sq_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out) {
	int r = sq_get_cvm(s, name_or_id, out);
	if (r != -ENOENT) return r;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* Active records first, then the most recently touched. */
	r = sq_prepare(s,
	               "SELECT " CVM_READ_COLS " FROM cvms WHERE name = ?1 "
	               "ORDER BY status = 'Inactive', updated_at DESC, created_at DESC, rowid DESC LIMIT 1",
	               &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, name_or_id);
	r = one_cvm(s, st, out);
	if (r == -ENOENT) return store_fail(s, r, "no CVM named %s", name_or_id);
	return r;
}

static int cvm_row(store_t *s, sqlite3_stmt *st, void *elem) { return cvm_from_row(s, st, elem); }
static void cvm_free_all(void *v, size_t n) { cvm_records_free(v, n); }

int sq_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "SELECT " CVM_READ_COLS " FROM cvms WHERE ?1 IS NULL OR scope = ?1 "
	                   "ORDER BY name, created_at, id",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, scope);
	return sq_collect(s, st, sizeof(cvm_record_t), cvm_row, cvm_free_all, (void **)out, n);
}

int sq_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "INSERT INTO events (cvm_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sqlite3_bind_int64(st, 2, now_s());
	sq_bind_text(st, 3, kind);
	sq_bind_text(st, 4, message);
	r = sq_step_done(s, st);
	if (r == -ENOENT) return store_fail(s, r, "cannot record an event for CVM %s: no such CVM", cvm_id);
	return r;
}

static int event_row(store_t *s, sqlite3_stmt *st, void *elem) {
	(void)s;
	cvm_event_t *e = elem;
	e->at = sqlite3_column_int64(st, 0);
	e->kind = sq_col_strdup(st, 1);
	e->message = sq_col_strdup(st, 2);
	return 0;
}
static void event_free_all(void *v, size_t n) { cvm_events_free(v, n); }

int sq_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT at, kind, message FROM events WHERE cvm_id = ?1 ORDER BY at, seq", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	return sq_collect(s, st, sizeof(cvm_event_t), event_row, event_free_all, (void **)out, n);
}

