/* Logging to stderr, as text or one JSON object per line. An error is logged
 * once, where it is understood; callers further up only pass the code on.
 * Never pass key material or credentials to these functions. */
#ifndef CVM_LOG_H
#define CVM_LOG_H

#include <errno.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level min, enum log_format fmt);
enum log_level log_get_level(void);
enum log_format log_get_format(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One diagnostic about a place in a file: under json, an object with
 * file, line, column, field and msg; as text, "file:line:col: field: msg". */
void log_diag(enum log_level lvl, const char *file, int line, int col, const char *field, const char *msg);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Logs and returns the (negative) error code, so call sites stay one line:
 *     return log_error_errno(r, "cannot open %s: %s", path, strerror(-r)); */
#define log_error_errno(r, ...) (log_msg(LOG_ERROR, __VA_ARGS__), (r) > 0 ? -(r) : (r))

#endif
