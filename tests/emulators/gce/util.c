/* Small helpers: clocks, strings, identifiers, files, forms, zones. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <regex.h>
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

char *random_id(void)
{
	unsigned long long v;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		abort();
	v = (v % 9000000000000000000ULL) + 1000000000000000000ULL;
	return xasprintf("%llu", v);
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
