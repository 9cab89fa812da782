/* Logging to stderr, as text or one JSON object per line. An error is logged
 * once, where it is understood; callers further up only pass the code on.
 * Never pass key material or credentials to these functions. */
#ifndef CVM_LOG_H
#define CVM_LOG_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level min, enum log_format fmt);
enum log_level log_get_level(void);
enum log_format log_get_format(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One diagnostic about a place in a file: under json, an object with
 * file, line, column, field and msg; as text, "file:line:col: field: msg". */
void log_diag(enum log_level lvl, const char *file, int line, int col, const char *field, const char *msg);

/* A message with fields (cvm, id, provider, placement, action, duration,
 * error, revision, ...): under json, each field is a member of the line's
 * object (numbers as numbers); as text, " key=value" after the message.
 * Fields whose string is NULL are left out. */
typedef struct log_kv {
	const char *key;
	const char *s; /* the value, or NULL: num is */
	double num;
	bool is_num;
	bool json_only; /* the text message says it already */
} log_kv_t;
#define LOG_S(k, v) ((log_kv_t){.key = (k), .s = (v)})
#define LOG_J(k, v) ((log_kv_t){.key = (k), .s = (v), .json_only = true})
#define LOG_N(k, v) ((log_kv_t){.key = (k), .num = (double)(v), .is_num = true})
#define LOG_FIELDS(...) ((const log_kv_t[]){__VA_ARGS__}), (sizeof((const log_kv_t[]){__VA_ARGS__}) / sizeof(log_kv_t))
void log_kv(enum log_level lvl, const log_kv_t *kv, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Logs and returns the (negative) error code, so call sites stay one line:
 *     return log_error_errno(r, "cannot open %s: %s", path, strerror(-r)); */
#define log_error_errno(r, ...) (log_msg(LOG_ERROR, __VA_ARGS__), (r) > 0 ? -(r) : (r))

#endif
