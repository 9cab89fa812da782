/* The SQLite store, as the dispatch layer (reconciler/store/store.c) sees
 * it: its ops table and its open function. */
#ifndef CVM_SQLITE_STORE_H
#define CVM_SQLITE_STORE_H

#include "reconciler/store/store.h"

extern const store_ops_t sqlite_store_ops;

/* store_open's contract for an SQLite database in <dir>/state.db; the
 * arguments are already checked. On failure the reason is recorded with
 * store_open_failed. */
int sqlite_store_open(const char *dir, const char *installation, store_t **out);

/* The checks sqlite_store_open makes of an existing dir before it opens
 * anything (see store_check_dir). */
int sqlite_check_dir(const char *dir, const char *installation, char **err);

#endif
