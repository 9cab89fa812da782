/* What the store_*.c files share: the handle and the small SQLite helpers.
 * Nothing outside reconciler/store*.c includes this. */
#ifndef CVM_STORE_PRIV_H
#define CVM_STORE_PRIV_H

#include <sqlite3.h>

#include "common/cleanup.h"
#include "reconciler/store/store.h"

struct store {
	sqlite3 *db;
	char *dir;
	char installation[37];
	int lock_fd; /* -1 unless this handle holds <dir>/lock */
	char err[512];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Records our own message and returns r (a negative errno). */
int store_fail(store_t *s, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records what SQLite said about the last call and returns the errno that
 * best says the same (-EEXIST for a uniqueness conflict, -EBUSY, ...). */
int store_sqlerr(store_t *s);
/* Prepares sql; on failure records the error and returns it. */
int store_prepare(store_t *s, const char *sql, sqlite3_stmt **st);
/* Runs one or more statements that return no rows. */
int store_exec(store_t *s, const char *sql);
/* Binds a string or SQL NULL. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Steps a statement that returns no row. */
int store_step_done(store_t *s, sqlite3_stmt *st);
char *store_col_strdup(sqlite3_stmt *st, int i);
/* Steps st to the end, turning each row into one element of a growing
 * array with row() (elements of `size` bytes). On error the elements made
 * so far are released with free_all() and nothing is returned. */
typedef int (*store_row_fn)(store_t *s, sqlite3_stmt *st, void *elem);
int store_collect(store_t *s, sqlite3_stmt *st, size_t size, store_row_fn row, void (*free_all)(void *v, size_t n),
                  void **out, size_t *n);

/* Schema (store_schema.c): brings the database to the current version.
 * -EPROTO if it is newer than this program knows. */
int store_migrate(store_t *s);
int store_schema_version(void);

#endif
