/* Growing arrays by doubling: appending one element at a time must cost
 * O(1) amortized, not a realloc (and possibly a copy) per element, or a
 * spec tree of 100,000 documents turns quadratic. */
#ifndef CVM_ARRAY_H
#define CVM_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

/* A capacity of at least `need`, at least twice `cap`. */
static inline size_t array_grow_cap(size_t cap, size_t need, size_t elem) {
	size_t c = cap ? cap : 8;
	while (c < need) {
		if (c > SIZE_MAX / 2) abort();
		c *= 2;
	}
	if (c > SIZE_MAX / elem) abort();
	return c;
}

/* Makes v (with capacity cap, both lvalues) hold at least `need` elements. */
#define ARRAY_RESERVE(v, cap, need)                                               \
	do {                                                                      \
		if ((need) > (cap)) {                                             \
			(cap) = array_grow_cap((cap), (need), sizeof *(v));       \
			(v) = xrealloc((v), (cap) * sizeof *(v));                 \
		}                                                                 \
	} while (0)

#endif
