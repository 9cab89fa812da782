/* An access-token cache for the cloud backends: a token is used until a
 * margin before it expires, so that no request sent with it arrives after
 * its end; then the backend asks for a new one. Time comes from
 * common/clock.h, so tests drive expiry with a fake clock. The token is
 * wiped from memory when replaced or cleared. */
#ifndef CVM_PROVIDERS_TOKEN_H
#define CVM_PROVIDERS_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"

/* A token is refreshed when less than this share of its life is left, and
 * at least TOKEN_MIN_MARGIN_MS and at most TOKEN_MAX_MARGIN_MS before its
 * end (a 1-hour token: 5 minutes early; a 5-second one: 2.5 s early). */
#define TOKEN_MAX_MARGIN_MS (5 * 60 * 1000)
#define TOKEN_MIN_MARGIN_MS 1000

typedef struct token_cache {
	const clock_src_t *clock; /* NULL: the real clock */
	char *token;
	int64_t expires_ms;  /* on the clock */
	int64_t refresh_ms;  /* from then on the token is not handed out */
} token_cache_t;

/* The cached token, or NULL when there is none or it is due for refresh. */
const char *token_get(const token_cache_t *c);
/* Takes a token that lives expires_in_s seconds from now (taken over: the
 * caller's copy is the cache's now). */
void token_set(token_cache_t *c, char *token, int64_t expires_in_s);
void token_clear(token_cache_t *c);

#endif
