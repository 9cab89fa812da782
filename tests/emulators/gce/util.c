/* Small helpers: clocks, strings, identifiers, files, forms, zones. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "emu.h"

long long now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* Google writes timestamps in Pacific time with an offset: -08:00 here, a
 * fixed offset (no DST rules needed for a test server). */
void rfc3339(char *buf, size_t n, long long wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000) - 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	char tmp[40];
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03lld-08:00", tmp, wall_ms % 1000);
}

void random_hex(char *buf, size_t nhex)
{
	unsigned char b[64];
	size_t nb = (nhex + 1) / 2;
	if (nb > sizeof(b))
		nb = sizeof(b);
	if (RAND_bytes(b, (int)nb) != 1)
		abort();
	for (size_t i = 0; i < nhex && i / 2 < nb; i++)
		buf[i] = "0123456789abcdef"[(i % 2) ? (b[i / 2] & 15) : (b[i / 2] >> 4)];
	buf[nhex] = 0;
}

char *random_id(void)
{
	unsigned long long v;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		abort();
	v = (v % 9000000000000000000ULL) + 1000000000000000000ULL;
	return xasprintf("%llu", v);
}

int read_file(const char *path, char **out, size_t *len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *url_decode(const char *s, size_t n)
{
	char *d = malloc(n + 1), *o = d;
	if (!d)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return d;
}

char *form_value(const char *body, const char *name)
{
	size_t nl = strlen(name);
	const char *p = body ? body : "";
	while (*p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return url_decode(p + nl + 1, len - nl - 1);
		if (!end)
			break;
		p = end + 1;
	}
	return NULL;
}

/* Any zone of the form region-letter: us-central1-a, europe-west4-c. */
bool zone_valid(const char *zone)
{
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&re, "^[a-z]+-[a-z]+[0-9]+-[a-z]$", REG_EXTENDED | REG_NOSUB))
			abort();
		compiled = true;
	}
	return regexec(&re, zone, 0, NULL, 0) == 0;
}

char *zone_region(const char *zone)
{
	char *r = xstrdup(zone);
	char *dash = strrchr(r, '-');
	if (dash)
		*dash = 0;
	return r;
}

bool project_known(const char *p)
{
	for (size_t i = 0; i < emu.n_projects; i++)
		if (strcmp(emu.projects[i], p) == 0)
			return true;
	return false;
}
