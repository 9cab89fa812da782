/* The access-token cache: see token.h. */
#include "providers/token.h"

#include <stdlib.h>
#include <string.h>

static int64_t now_ms(const token_cache_t *c) {
	return clock_now_ms(c->clock ? c->clock : &clock_real);
}

const char *token_get(const token_cache_t *c) {
	if (!c->token || now_ms(c) >= c->refresh_ms) return NULL;
	return c->token;
}

void token_clear(token_cache_t *c) {
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = NULL;
	c->expires_ms = c->refresh_ms = 0;
}

void token_set(token_cache_t *c, char *token, int64_t expires_in_s) {
	token_clear(c);
	if (expires_in_s < 0) expires_in_s = 0;
	int64_t life = expires_in_s * 1000;
	int64_t margin = life / 2;
	if (margin > TOKEN_MAX_MARGIN_MS) margin = TOKEN_MAX_MARGIN_MS;
	if (margin < TOKEN_MIN_MARGIN_MS) margin = TOKEN_MIN_MARGIN_MS;
	int64_t now = now_ms(c);
	c->token = token;
	c->expires_ms = now + life;
	c->refresh_ms = now + life - margin;
}
