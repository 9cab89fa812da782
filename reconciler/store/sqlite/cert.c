/* Certificate records. A serial is unique across the whole store: the same
 * serial may be updated for its own CVM, never taken over by another. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

#define CERT_COLS \
	"serial, cvm_id, is_default, status, not_before, not_after, revoked_at, revoke_reason, cert_pem, key_path"

static int cert_from_row(store_t *s, sqlite3_stmt *st, cert_record_t *c) {
	memset(c, 0, sizeof *c);
	const char *status = (const char *)sqlite3_column_text(st, 3);
	int sv = cert_status_from_name(status);
	c->serial = sq_col_strdup(st, 0);
	if (sv < 0)
		return store_fail(s, -EBADMSG, "certificate %s has status \"%s\", which this cvmctl does not know",
		                  c->serial, status ? status : "");
	snprintf(c->cvm_id, sizeof c->cvm_id, "%s", (const char *)sqlite3_column_text(st, 1));
	c->is_default = sqlite3_column_int(st, 2) != 0;
	c->status = (cert_status_t)sv;
	c->not_before = sqlite3_column_int64(st, 4);
	c->not_after = sqlite3_column_int64(st, 5);
	c->revoked_at = sqlite3_column_int64(st, 6);
	c->revoke_reason = sqlite3_column_int(st, 7);
	c->cert_pem = sq_col_strdup(st, 8);
	c->key_path = sq_col_strdup(st, 9);
	return 0;
}

/* Names the CVM that owns serial, for the refusal message. */
static char *serial_owner(store_t *s, const char *serial) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(sq_db(s), "SELECT cvm_id FROM certs WHERE serial = ?1", -1, &st, NULL) != SQLITE_OK)
		return xstrdup("another CVM");
	sq_bind_text(st, 1, serial);
	if (sqlite3_step(st) != SQLITE_ROW) return xstrdup("another CVM");
	return xasprintf("CVM %s", (const char *)sqlite3_column_text(st, 0));
}

int sq_put_cert(store_t *s, const cert_record_t *c) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* The WHERE makes a serial owned by another CVM a no-op, which
	 * sqlite3_changes() then reports as a conflict. */
	int r = sq_prepare(s,
	                   "INSERT INTO certs (" CERT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
	                   "ON CONFLICT(serial) DO UPDATE SET is_default = excluded.is_default, "
	                   "  status = excluded.status, not_before = excluded.not_before, "
	                   "  not_after = excluded.not_after, revoked_at = excluded.revoked_at, "
	                   "  revoke_reason = excluded.revoke_reason, cert_pem = excluded.cert_pem, "
	                   "  key_path = excluded.key_path "
	                   "WHERE certs.cvm_id = excluded.cvm_id",
	                   &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, c->serial);
	sq_bind_text(st, 2, c->cvm_id);
	sqlite3_bind_int(st, 3, c->is_default ? 1 : 0);
	sq_bind_text(st, 4, cert_status_name(c->status));
	sqlite3_bind_int64(st, 5, c->not_before);
	sqlite3_bind_int64(st, 6, c->not_after);
	sqlite3_bind_int64(st, 7, c->revoked_at);
	sqlite3_bind_int(st, 8, c->revoke_reason);
	sq_bind_text(st, 9, c->cert_pem);
	sq_bind_text(st, 10, c->key_path);
	r = sq_step_done(s, st);
	if (r == -ENOENT)
		return store_fail(s, r, "cannot record certificate %s for CVM %s: no such CVM", c->serial, c->cvm_id);
	if (r < 0) return r;
	if (sqlite3_changes(sq_db(s)) == 0) {
		_cleanup_free_ char *owner = serial_owner(s, c->serial);
		return store_fail(s, -EEXIST, "certificate serial %s already belongs to %s", c->serial, owner);
	}
	return 0;
}

int sq_get_cert(store_t *s, const char *serial, cert_record_t *out) {
	memset(out, 0, sizeof *out);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT " CERT_COLS " FROM certs WHERE serial = ?1", &st);
	if (r < 0) return r;
	sq_bind_text(st, 1, serial);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) return store_fail(s, -ENOENT, "no certificate with serial %s", serial);
	if (rc != SQLITE_ROW) return sq_err(s);
	r = cert_from_row(s, st, out);
	if (r < 0) cert_record_free(out);
	return r;
}

static int cert_row(store_t *s, sqlite3_stmt *st, void *elem) { return cert_from_row(s, st, elem); }
static void cert_free_all(void *v, size_t n) { cert_records_free(v, n); }

int sq_list_certs(store_t *s, const char *cvm_id, cert_record_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* Two statements, not "?1 IS NULL OR cvm_id = ?1": that form keeps
	 * SQLite from using certs_by_cvm, and one CVM's list became a scan. */
	int r = cvm_id ? sq_prepare(s, "SELECT " CERT_COLS " FROM certs WHERE cvm_id = ?1 ORDER BY not_before, serial", &st)
	               : sq_prepare(s, "SELECT " CERT_COLS " FROM certs ORDER BY cvm_id, not_before, serial", &st);
	if (r < 0) return r;
	if (cvm_id) sq_bind_text(st, 1, cvm_id);
	return sq_collect(s, st, sizeof(cert_record_t), cert_row, cert_free_all, (void **)out, n);
}

static int key_path_row(store_t *s, sqlite3_stmt *st, void *elem) {
	(void)s;
	*(char **)elem = sq_col_strdup(st, 0);
	return 0;
}
static void key_paths_free_all(void *v, size_t n) {
	char **p = v;
	for (size_t i = 0; i < n; i++) free(p[i]);
	free(p);
}

int sq_list_key_paths(store_t *s, char ***out, size_t *n) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = sq_prepare(s, "SELECT key_path FROM certs WHERE key_path IS NOT NULL", &st);
	if (r < 0) return r;
	return sq_collect(s, st, sizeof(char *), key_path_row, key_paths_free_all, (void **)out, n);
}

static int cert_state_row(store_t *s, sqlite3_stmt *st, void *elem) {
	(void)s;
	cert_state_t *c = elem;
	snprintf(c->cvm_id, sizeof c->cvm_id, "%s", (const char *)sqlite3_column_text(st, 0));
	c->serial = sq_col_strdup(st, 1);
	c->not_after = sqlite3_column_int64(st, 2);
	c->delivered_serial = sq_col_strdup(st, 3);
	c->rotate_failures = sqlite3_column_int(st, 4);
	c->rotate_next_at = sqlite3_column_int64(st, 5);
	return 0;
}
static void cert_state_free_all(void *v, size_t n) { cert_states_free(v, n); }

int sq_list_cert_states(store_t *s, cert_state_t **out, size_t *n) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	/* The current default certificate is the valid default one with the
	 * latest notAfter (as certs_current_default picks it). */
	int r = sq_prepare(s,
	                   "SELECT c.id, d.serial, d.not_after, c.delivered_serial, c.rotate_failures, c.rotate_next_at "
	                   "FROM cvms c LEFT JOIN ("
	                   "  SELECT cvm_id, serial, not_after,"
	                   "    ROW_NUMBER() OVER (PARTITION BY cvm_id ORDER BY not_after DESC, not_before, serial) AS rn"
	                   "  FROM certs WHERE is_default = 1 AND status = 'valid') d ON d.cvm_id = c.id AND d.rn = 1 "
	                   "WHERE c.status <> 'Inactive' ORDER BY c.id",
	                   &st);
	if (r < 0) return r;
	return sq_collect(s, st, sizeof(cert_state_t), cert_state_row, cert_state_free_all, (void **)out, n);
}
