/* Helpers both emulators (gce-emu, arm-emu) use: strings that never come
 * back NULL, whole files, form decoding, random hex. They share this with
 * each other only, never with providers/ or libcvm.a: an emulator is the
 * other side of the wire, and a bug copied into both would pass every test. */
#ifndef EMU_UTIL_H
#define EMU_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/* A body larger than this is refused (413) without being kept. */
#define MAX_BODY (4u << 20)

/* These abort when memory runs out: a test server has nothing better to do. */
char *xstrdup(const char *s); /* NULL gives "" */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* The whole of PATH, NUL-terminated; 0 or a negative errno. */
int read_file(const char *path, char **out, size_t *len);
/* The N bytes at S with %XX and '+' decoded (x-www-form-urlencoded). */
char *url_decode(const char *s, size_t n);
/* NHEX random lower-case hex digits and a NUL (at most 128). */
void random_hex(char *buf, size_t nhex);

#endif
