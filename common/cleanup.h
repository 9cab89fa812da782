/* Scope-bound freeing, in the style of systemd's _cleanup_: a variable declared
 * with one of these attributes is released on every path out of its block, so
 * error paths cannot leak. */
#ifndef CVM_CLEANUP_H
#define CVM_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree) defines
 * virDomainFreep(virDomainPtr *) that tolerates NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
	static inline void func##p(type *p) {            \
		if (*p) func(*p);                        \
	}

/* Hand ownership out of a _cleanup_ variable: returns the value, leaves NULL. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
