#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
enum log_format log_get_format(void) { return format; }

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
	} else {
		/* Paths and names come from outside: no raw terminal escapes. */
		strbuf sb = {0};
		sb_add_escaped(&sb, msg, strlen(msg));
		if (lvl == LOG_INFO)
			fprintf(stderr, "%s\n", sb.buf);
		else
			fprintf(stderr, "cvmctl: %s: %s\n", level_name[lvl], sb.buf);
		sb_free(&sb);
	}
}

static void json_field(strbuf *sb, const char *name, const char *v) {
	size_t n = strlen(v);
	char *esc = xmalloc(6 * n + 8);
	json_escape(v, esc, 6 * n + 8);
	sb_addf(sb, ",\"%s\":\"%s\"", name, esc);
	free(esc);
}

void log_diag(enum log_level lvl, const char *file, int line, int col, const char *field, const char *msg) {
	if (lvl < min_level) return;
	if (format != LOG_JSON) {
		log_msg(lvl, "%s:%d:%d: %s%s%s", file, line, col, field && *field ? field : "", field && *field ? ": " : "",
		        msg);
		return;
	}
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	strbuf sb = {0};
	sb_addf(&sb, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_name[lvl]);
	json_field(&sb, "file", file ? file : "");
	if (line > 0) sb_addf(&sb, ",\"line\":%d,\"column\":%d", line, col);
	json_field(&sb, "field", field ? field : "");
	json_field(&sb, "msg", msg);
	sb_add(&sb, "}\n");
	fputs(sb.buf, stderr);
	sb_free(&sb);
}

static void json_num(strbuf *sb, const char *name, double v) {
	if (v == (double)(long long)v && v < 9e15 && v > -9e15)
		sb_addf(sb, ",\"%s\":%lld", name, (long long)v);
	else
		sb_addf(sb, ",\"%s\":%.6g", name, v);
}

void log_kv(enum log_level lvl, const log_kv_t *kv, size_t n, const char *fmt, ...) {
	if (lvl < min_level) return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	strbuf sb = {0};
	if (format == LOG_JSON) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		sb_addf(&sb, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_name[lvl]);
		json_field(&sb, "msg", msg);
		for (size_t i = 0; i < n; i++) {
			if (kv[i].is_num)
				json_num(&sb, kv[i].key, kv[i].num);
			else if (kv[i].s)
				json_field(&sb, kv[i].key, kv[i].s);
		}
		sb_add(&sb, "}\n");
		fputs(sb.buf, stderr);
		sb_free(&sb);
		return;
	}
	if (lvl != LOG_INFO) sb_addf(&sb, "cvmctl: %s: ", level_name[lvl]);
	/* Paths and names come from outside: no raw terminal escapes. */
	sb_add_escaped(&sb, msg, strlen(msg));
	for (size_t i = 0; i < n; i++) {
		if (kv[i].json_only) continue;
		if (kv[i].is_num) {
			if (kv[i].num == (double)(long long)kv[i].num)
				sb_addf(&sb, " %s=%lld", kv[i].key, (long long)kv[i].num);
			else
				sb_addf(&sb, " %s=%.3f", kv[i].key, kv[i].num);
		} else if (kv[i].s) {
			bool quote = !*kv[i].s || strpbrk(kv[i].s, " \"=") != NULL;
			sb_addf(&sb, " %s=%s", kv[i].key, quote ? "\"" : "");
			sb_add_escaped(&sb, kv[i].s, strlen(kv[i].s));
			if (quote) sb_add(&sb, "\"");
		}
	}
	sb_add(&sb, "\n");
	fputs(sb.buf, stderr);
	sb_free(&sb);
}
