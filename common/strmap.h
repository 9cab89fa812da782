/* A small open-addressing hash table from strings to size_t values (in
 * practice indexes into the caller's own arrays), so that "the record with
 * this id" or "the first key with this name" is O(1) instead of a scan.
 *
 * Keys are borrowed, never copied: they must stay where they are (and
 * unchanged) while the map is used. Linear probing in a power-of-two table
 * kept at most half full; there is no removal, which the callers (indexes
 * built once, then read) do not need.
 *
 * The hash is fixed (FNV-1a with a final mix), not keyed: the keys are the
 * operator's own specs and state, and crafted collisions could only make a
 * lookup slow, never wrong. */
#ifndef CVM_STRMAP_H
#define CVM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap_slot {
	const char *key; /* NULL: empty */
	size_t hash;
	size_t val;
} strmap_slot_t;

typedef struct strmap {
	strmap_slot_t *slots;
	size_t cap, n;
} strmap_t;

/* Room for n keys without rehashing (optional; a zeroed map works). */
void strmap_reserve(strmap_t *m, size_t n);

/* The value slot of key, inserted (with value 0, *added true) if it was
 * absent. The pointer is valid until the next insertion. key must not be
 * NULL. */
size_t *strmap_put(strmap_t *m, const char *key, bool *added);

/* Inserts key -> val unless the key is already there (first one wins).
 * Returns whether it was inserted. */
bool strmap_add(strmap_t *m, const char *key, size_t val);

/* The value of key, or NULL when absent (or key is NULL). */
const size_t *strmap_get(const strmap_t *m, const char *key);

void strmap_free(strmap_t *m);

#endif
