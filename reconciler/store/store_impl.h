/* For backing stores only (reconciler/store/<backend>/): the part of a
 * handle every backend shares. A backend's handle embeds struct store
 * first, so that a store_t * is also a pointer to the backend's own
 * struct:
 *
 *	typedef struct sqlite_store {
 *		struct store base;   // first
 *		sqlite3 *db;
 *		...
 *	} sqlite_store_t;
 *
 * Nothing outside reconciler/store/ includes this (the store's own unit
 * tests excepted): to callers store_t is opaque. */
#ifndef CVM_STORE_IMPL_H
#define CVM_STORE_IMPL_H

#include "reconciler/store/store.h"

#define STORE_ERR_MAX 512

struct store {
	const store_ops_t *ops; /* first: what every dispatcher reads */
	char *dir;              /* the state directory (CA, keys, lock) */
	char installation[37];
	char err[STORE_ERR_MAX]; /* store_errmsg() */
	int fail_write_in;       /* test hook: writes left before the injected failure; 0 = off */
};

/* Fills in the shared part of a new handle (dir copied). */
void store_base_init(store_t *s, const store_ops_t *ops, const char *dir);
/* Releases what store_base_init allocated (not the handle itself). */
void store_base_fini(store_t *s);

/* Records our own message and returns r (a negative errno). */
int store_fail(store_t *s, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records why an open failed, for store_errmsg(NULL): there is no handle
 * to hold it. */
void store_open_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
