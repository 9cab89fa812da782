/* Small helpers shared by every module: growable strings, durations, files
 * written atomically with their mode set before they appear, ids and hashes,
 * and the clock (overridable by tests). */
#ifndef CVM_UTIL_H
#define CVM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- growable string ---- */
typedef struct strbuf {
	char *buf; /* always NUL-terminated once anything was added */
	size_t len, cap;
} strbuf;

void sb_add(strbuf *sb, const char *s);
void sb_addn(strbuf *sb, const char *s, size_t n);
void sb_addf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_add_xml_escaped(strbuf *sb, const char *s);
char *sb_take(strbuf *sb); /* returns the buffer ("" if empty), resets sb */
/* Room for n bytes in all: a buffer that will hold a secret is sized once,
 * so that growing it leaves no copy in freed memory. */
void sb_reserve(strbuf *sb, size_t n);
void sb_free(strbuf *sb);

/* Allocation failure is not recoverable in a CLI: these abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);       /* NULL in, NULL out */
/* Replaces *dst with a copy of v (NULL allowed), freeing the old value
 * only after the copy (v may point into *dst). */
void str_set(char **dst, const char *v);

/* Both set and equal. */
static inline bool streq(const char *a, const char *b) {
	return a && b && __builtin_strcmp(a, b) == 0;
}
/* Equal, a NULL counting as "". */
static inline bool streq_or_empty(const char *a, const char *b) {
	return __builtin_strcmp(a ? a : "", b ? b : "") == 0;
}
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Escapes s for a JSON string body into out (truncating safely): control
 * characters (C0, DEL, C1) as \uXXXX, bytes that are not UTF-8 as U+FFFD. */
void json_escape(const char *s, char *out, size_t outsz);

/* The length of the valid UTF-8 sequence at s (1-4), 0 if none. */
size_t utf8_seq(const unsigned char *s, size_t n);
/* Whether s (n bytes, NULs included) holds a control character: C0 (NUL,
 * tab and newline too), DEL or C1 (U+0080-U+009F). *at is its offset. */
bool text_control_at(const char *s, size_t n, size_t *at);
/* Adds s (n bytes) with control characters and bytes that are not UTF-8
 * escaped (\n, \t, \x1b, \u0085): safe on a terminal. */
void sb_add_escaped(strbuf *sb, const char *s, size_t n);

/* A value as a message shows it: at most SHOWN_MAX characters, escaped as
 * sb_add_escaped does, "..." when cut. A 1 MB value is not echoed. */
#define SHOWN_MAX 40
typedef struct shown {
	char s[SHOWN_MAX * 6 + 8]; /* \u0085 is the longest escape */
} shown_t;
const char *shown(shown_t *b, const char *s);

/* Durations: integer+unit runs, units s m h d ("720h", "30d", "1h30m"),
 * at most DURATION_MAX_S (100 years of 365 days): every sum of a duration
 * and a time in seconds fits an int64. Returns 0 and seconds in *out,
 * -EINVAL for what is not a duration, -ERANGE above the maximum. */
#define DURATION_MAX_S ((int64_t)100 * 365 * 86400)
int parse_duration(const char *s, int64_t *out);
/* Formats seconds back as the shortest run ("30d", "1h30m"). */
void format_duration(int64_t secs, char *out, size_t outsz);

/* ---- files ---- */
/* Creates dir (and missing parents, 0755) with exactly `mode`; an existing
 * directory is left as it is. Returns 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);
/* Writes data to path atomically: a temporary file in the same directory,
 * created with `mode`, fsync'ed, renamed over path, directory fsync'ed. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without the two fsyncs: the new content replaces the old by
 * rename (a reader sees one or the other), and the caller makes a batch of
 * such writes durable at once (syncfs). durable=true is write_file_atomic. */
int write_file_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable);
/* Reads a whole file (NUL-terminated). Returns 0 or -errno. */
int read_file(const char *path, char **out, size_t *len);
int fsync_dir(const char *dir);

/* ---- ids, hashes ---- */
/* Random RFC 4122 version 4 UUID, lower case, 36 chars + NUL. */
void uuid_generate_v4(char out[37]);
bool uuid_valid(const char *s);
/* Name-based UUID (RFC 9562 version 8, from SHA-256): the first 16 bytes of
 * the SHA-256 of `domain` and each part, every one followed by a NUL byte,
 * with the version and variant bits set. The same parts give the same id
 * on every machine; any difference gives another. */
void uuid_from_names(char out[37], const char *domain, const char *const *parts, size_t n_parts);
/* Hex SHA-256 of data: 64 chars + NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* ---- time ---- */
/* Wall-clock seconds. Test builds honour CVMCTL_TEST_NOW (epoch seconds) so
 * that rotation and expiry are driven by the test's clock, never by sleeping. */
int64_t now_s(void);
/* RFC 3339 UTC. */
void format_time(int64_t t, char *out, size_t outsz);

/* ---- crash points (test builds only) ----
 * CVMCTL_CRASH_AT=name[:n] makes the n-th (default first) arrival at the
 * named point SIGKILL the process, to prove that a kill there loses nothing.
 * Compiled to nothing unless CVM_TEST_HOOKS is defined. */
#ifdef CVM_TEST_HOOKS
void crash_point(const char *name);
#else
static inline void crash_point(const char *name) { (void)name; }
#endif

#endif
