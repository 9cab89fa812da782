#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_TEXT;

void log_setup(enum log_level min, enum log_format fmt) {
	min_level = min;
	format = fmt;
}

enum log_level log_get_level(void) { return min_level; }

static const char *level_name[] = {"debug", "info", "warn", "error"};

void log_msg(enum log_level lvl, const char *fmt, ...) {
	if (lvl < min_level) return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (format == LOG_JSON) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		char esc[8192];
		json_escape(msg, esc, sizeof esc);
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level_name[lvl], esc);
	} else if (lvl == LOG_INFO) {
		fprintf(stderr, "%s\n", msg);
	} else {
		fprintf(stderr, "cvmctl: %s: %s\n", level_name[lvl], msg);
	}
}
