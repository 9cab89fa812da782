/* Each CVM's conditions (store.h: cvm_condition_t). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

int sq_put_condition(store_t *s, const char *cvm_id, const cvm_condition_t *c) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* The transition time moves only when the status does; a row that
	 * already says all of it is not written again (a converged pass
	 * writes no condition). */
	int r = sq_prepare(s,
	                   "INSERT INTO conditions (cvm_id, type, status, reason, message, spec_hash, last_transition, "
	                   "observed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
	                   "ON CONFLICT (cvm_id, type) DO UPDATE SET "
	                   "  last_transition = CASE WHEN status IS excluded.status THEN last_transition "
	                   "                         ELSE excluded.last_transition END, "
	                   "  status = excluded.status, reason = excluded.reason, message = excluded.message, "
	                   "  spec_hash = excluded.spec_hash, observed_at = excluded.observed_at "
	                   "WHERE status IS NOT excluded.status OR reason IS NOT excluded.reason "
	                   "   OR message IS NOT excluded.message OR spec_hash IS NOT excluded.spec_hash",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	sq_bind_text(st, 2, c->type);
	sq_bind_text(st, 3, cond_status_name(c->status));
	sq_bind_text(st, 4, c->reason);
	sq_bind_text(st, 5, c->message);
	sq_bind_text(st, 6, c->spec_hash);
	sqlite3_bind_int64(st, 7, c->observed_at ? c->observed_at : now_s());
	return sq_step_done(s, st);
}

int sq_list_conditions(store_t *s, const char *cvm_id, cvm_condition_t **out, size_t *n) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s,
	                   "SELECT type, status, reason, message, spec_hash, last_transition, observed_at "
	                   "FROM conditions WHERE cvm_id = ?1 ORDER BY type",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, cvm_id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		cvm_condition_t *c = &(*out)[(*n)++];
		const char *status = (const char *)sqlite3_column_text(st, 1);
		*c = (cvm_condition_t){
			.type = sq_col_strdup(st, 0),
			.status = status && strcmp(status, "True") == 0    ? COND_TRUE
			          : status && strcmp(status, "False") == 0 ? COND_FALSE
			                                                   : COND_UNKNOWN,
			.reason = sq_col_strdup(st, 2),
			.message = sq_col_strdup(st, 3),
			.spec_hash = sq_col_strdup(st, 4),
			.last_transition = sqlite3_column_int64(st, 5),
			.observed_at = sqlite3_column_int64(st, 6),
		};
	}
	if (rc != SQLITE_DONE) {
		cvm_conditions_free(*out, *n);
		*out = NULL;
		*n = 0;
		return sq_err(s);
	}
	return 0;
}
