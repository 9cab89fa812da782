/* Small helpers: clocks, strings, identifiers, files, forms, base64. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "emu.h"

long long now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec;
}

/* Tokens expire on this clock: the control clock moves it forward, so a
 * test can expire a token without waiting. */
long long emu_now(void)
{
	return now_wall() + emu.clock;
}

/* A test can make the links the emulator hands out point at another host,
 * to check that a client does not follow them with its token. */
const char *link_base(void)
{
	return emu.cfg.link_base[0] ? emu.cfg.link_base : emu.base;
}

char *xstrdown(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

char *xstrup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return d;
}

bool streqi(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

void iso_time(char *buf, size_t n, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char tmp[32];
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.0000000+00:00", tmp);
}

void random_guid(char buf[37])
{
	char h[33];
	random_hex(h, 32);
	snprintf(buf, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* The value of NAME in an x-www-form-urlencoded body (fields in any order,
 * unknown ones ignored), or NULL. */
char *form_value(const char *body, const char *name)
{
	size_t nl = strlen(name);
	const char *p = body;
	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (eq) {
			_cleanup_free_ char *k = url_decode(p, (size_t)(eq - p));
			if (strlen(k) == nl && memcmp(k, name, nl) == 0)
				return url_decode(eq + 1, len - (size_t)(eq - p) - 1);
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

char *b64url_encode(const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(n * 4 / 3 + 4), *o = out;
	if (!out)
		abort();
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i + 1 == n) {
		unsigned v = (unsigned)p[i] << 16;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
	} else if (i + 2 == n) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
	}
	*o = 0;
	return out;
}

static int b64val(int c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Standard base64 (padding required unless URL) or unpadded base64url.
 * NULL when S is not base64. The result is NUL-terminated. */
unsigned char *b64_decode(const char *s, size_t *n, bool url)
{
	size_t len = strlen(s);
	if (!url && len % 4 != 0)
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 4);
	if (!out)
		abort();
	size_t o = 0, i = 0;
	unsigned acc = 0;
	int bits = 0;
	for (; i < len; i++) {
		if (s[i] == '=')
			break;
		int v = b64val((unsigned char)s[i], url);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	size_t pad = len - i;
	for (; i < len; i++)
		if (s[i] != '=')
			pad = 99;
	if (pad > 2 || (url && pad)) {
		free(out);
		return NULL;
	}
	out[o] = 0;
	if (n)
		*n = o;
	return out;
}
