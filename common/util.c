#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/cleanup.h"

static void oom(void) {
	fputs("cvmctl: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n) {
	void *p = malloc(n ? n : 1);
	if (!p) oom();
	return p;
}

void *xcalloc(size_t n, size_t m) {
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p) oom();
	return p;
}

void *xrealloc(void *p, size_t n) {
	p = realloc(p, n ? n : 1);
	if (!p) oom();
	return p;
}

char *xstrdup(const char *s) {
	if (!s) return NULL;
	char *d = strdup(s);
	if (!d) oom();
	return d;
}

void str_set(char **dst, const char *v) {
	char *n = xstrdup(v);
	free(*dst);
	*dst = n;
}

char *xasprintf(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) oom();
	return s;
}

static void sb_grow(strbuf *sb, size_t extra) {
	if (sb->len + extra + 1 <= sb->cap) return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1) cap *= 2;
	sb->buf = xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void sb_reserve(strbuf *sb, size_t n) {
	if (n > sb->len) sb_grow(sb, n - sb->len);
}

void sb_addn(strbuf *sb, const char *s, size_t n) {
	sb_grow(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
}

void sb_add(strbuf *sb, const char *s) { sb_addn(sb, s, strlen(s)); }

void sb_addf(strbuf *sb, const char *fmt, ...) {
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) oom();
	sb_grow(sb, (size_t)n);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	sb->len += (size_t)n;
}

void sb_add_xml_escaped(strbuf *sb, const char *s) {
	for (; *s; s++) {
		switch (*s) {
		case '<': sb_add(sb, "&lt;"); break;
		case '>': sb_add(sb, "&gt;"); break;
		case '&': sb_add(sb, "&amp;"); break;
		case '\'': sb_add(sb, "&apos;"); break;
		case '"': sb_add(sb, "&quot;"); break;
		default: sb_addn(sb, s, 1);
		}
	}
}

char *sb_take(strbuf *sb) {
	char *b = sb->buf ? sb->buf : xstrdup("");
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return b;
}

void sb_free(strbuf *sb) {
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

size_t utf8_seq(const unsigned char *s, size_t n) {
	if (n == 0) return 0;
	unsigned c = s[0];
	if (c < 0x80) return 1;
	size_t len;
	unsigned cp, min;
	if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07, min = 0x10000;
	else return 0;
	if (n < len) return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
	return len;
}

/* C0 controls, DEL, and C1 controls (U+0080-U+009F: two bytes, 0xc2 0x80-0x9f). */
static bool is_c1(const unsigned char *s, size_t len) { return len == 2 && s[0] == 0xc2 && s[1] < 0xa0; }

bool text_control_at(const char *s, size_t n, size_t *at) {
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (u[i] < 0x20 || u[i] == 0x7f || (l && is_c1(u + i, l))) {
			*at = i;
			return true;
		}
		i += l ? l : 1;
	}
	return false;
}

void sb_add_escaped(strbuf *sb, const char *s, size_t n) {
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (u[i] == '\n') sb_add(sb, "\\n");
		else if (u[i] == '\t') sb_add(sb, "\\t");
		else if (!l || u[i] < 0x20 || u[i] == 0x7f) sb_addf(sb, "\\x%02x", u[i]);
		else if (is_c1(u + i, l)) sb_addf(sb, "\\u%04x", u[i + 1]);
		else sb_addn(sb, s + i, l);
		i += l ? l : 1;
	}
	if (!sb->buf) sb_add(sb, "");
}

const char *shown(shown_t *b, const char *s) {
	if (!s) s = "";
	size_t n = 0, chars = 0, len = strlen(s);
	while (n < len && chars < SHOWN_MAX) {
		size_t l = utf8_seq((const unsigned char *)s + n, len - n);
		n += l ? l : 1;
		chars++;
	}
	strbuf sb = {0};
	sb_add_escaped(&sb, s, n);
	if (n < len) sb_add(&sb, "...");
	snprintf(b->s, sizeof b->s, "%s", sb.buf);
	sb_free(&sb);
	return b->s;
}

void json_escape(const char *s, char *out, size_t outsz) {
	size_t o = 0, n = strlen(s);
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n && o + 7 < outsz;) {
		unsigned char c = u[i];
		size_t l = utf8_seq(u + i, n - i);
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
		} else if (!l) {
			/* not UTF-8: the JSON stays valid */
			o += (size_t)snprintf(out + o, outsz - o, "\\ufffd");
		} else if (is_c1(u + i, l)) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", u[i + 1]);
		} else {
			if (o + l + 1 >= outsz) break;
			memcpy(out + o, s + i, l);
			o += l;
		}
		i += l ? l : 1;
	}
	out[o] = 0;
}

int parse_duration(const char *s, int64_t *out) {
	if (!s || !*s) return -EINVAL;
	int64_t total = 0;
	bool too_long = false; /* reported after the syntax is known to be right */
	const char *p = s;
	while (*p) {
		if (*p < '0' || *p > '9') return -EINVAL;
		int64_t v = 0;
		while (*p >= '0' && *p <= '9') {
			/* bounded before it is multiplied: never wraps */
			if (v <= DURATION_MAX_S) v = v * 10 + (*p - '0');
			p++;
		}
		int64_t mul;
		switch (*p) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -EINVAL;
		}
		p++;
		/* v <= 10 * DURATION_MAX_S + 9 and mul <= 86400: the product
		 * fits, and the sum is checked before it is made. */
		if (too_long || v > DURATION_MAX_S || v * mul > DURATION_MAX_S - total)
			too_long = true;
		else
			total += v * mul;
	}
	if (too_long) return -ERANGE;
	*out = total;
	return 0;
}

void format_duration(int64_t secs, char *out, size_t outsz) {
	static const struct { int64_t mul; char unit; } u[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	size_t o = 0;
	out[0] = 0;
	if (secs == 0) {
		snprintf(out, outsz, "0s");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(u) && o < outsz; i++) {
		if (secs >= u[i].mul) {
			o += (size_t)snprintf(out + o, outsz - o, "%lld%c", (long long)(secs / u[i].mul), u[i].unit);
			secs %= u[i].mul;
		}
	}
}

/* The directory itself first: it usually exists already (every share and
 * key write passes here), and walking the parents costs a mkdir each. */
int mkdir_p(const char *dir, mode_t mode) {
	if (mkdir(dir, mode) == 0) return chmod(dir, mode) < 0 ? -errno : 0; /* mkdir honours the umask */
	if (errno == EEXIST) {
		struct stat st;
		if (stat(dir, &st) < 0) return -errno;
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	}
	if (errno != ENOENT) return -errno;
	_cleanup_free_ char *copy = xstrdup(dir);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) < 0) {
		if (errno != EEXIST) return -errno;
		struct stat st;
		if (stat(copy, &st) < 0) return -errno;
		if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
		return 0;
	}
	/* mkdir honours the umask; the mode we asked for is the mode we want. */
	if (chmod(copy, mode) < 0) return -errno;
	return 0;
}

int fsync_dir(const char *dir) {
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
	return write_file_replace(path, data, len, mode, true);
}

int write_file_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable) {
	_cleanup_free_ char *dcopy = xstrdup(path);
	const char *dir = dirname(dcopy);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) return -errno;
	int r = 0;
	/* mkstemp creates 0600; set the final mode before the name appears. */
	if (fchmod(fd, mode) < 0) r = -errno;
	const char *p = data;
	size_t left = len;
	while (!r && left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR) continue;
			r = -errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (!r && durable && fsync(fd) < 0) r = -errno;
	if (close(fd) < 0 && !r) r = -errno;
	if (!r && rename(tmp, path) < 0) r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	return durable ? fsync_dir(dir) : 0;
}

int read_file(const char *path, char **out, size_t *len) {
	_cleanup_fclose_ FILE *f = fopen(path, "rbe");
	if (!f) return -errno;
	strbuf sb = {0};
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_addn(&sb, buf, n);
	if (ferror(f)) {
		sb_free(&sb);
		return -EIO;
	}
	if (len) *len = sb.len;
	*out = sb_take(&sb);
	return 0;
}

static void uuid_format(char out[37], unsigned char b[16], unsigned version);

void uuid_generate_v4(char out[37]) {
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1) {
		fputs("cvmctl: no randomness available\n", stderr);
		abort();
	}
	uuid_format(out, b, 4);
}

static void uuid_format(char out[37], unsigned char b[16], unsigned version) {
	b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
	         b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void uuid_from_names(char out[37], const char *domain, const char *const *parts, size_t n_parts) {
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) abort(); /* allocation failure only */
	EVP_DigestUpdate(ctx, domain, strlen(domain) + 1);
	for (size_t i = 0; i < n_parts; i++) {
		const char *s = parts[i] ? parts[i] : "";
		EVP_DigestUpdate(ctx, s, strlen(s) + 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	uuid_format(out, md, 8);
}

bool uuid_valid(const char *s) {
	if (!s || strlen(s) != 36) return false;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-') return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

void sha256_hex(const void *data, size_t len, char out[65]) {
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int64_t now_s(void) {
#ifdef CVM_TEST_HOOKS
	const char *t = getenv("CVMCTL_TEST_NOW");
	if (t && *t) return strtoll(t, NULL, 10);
#endif
	return (int64_t)time(NULL);
}

void format_time(int64_t t, char *out, size_t outsz) {
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#ifdef CVM_TEST_HOOKS
void crash_point(const char *name) {
	static int hits;
	const char *want = getenv("CVMCTL_CRASH_AT");
	if (!want || !*want) return;
	size_t nl = strlen(name);
	if (strncmp(want, name, nl) != 0 || (want[nl] != 0 && want[nl] != ':')) return;
	int n = want[nl] == ':' ? atoi(want + nl + 1) : 1;
	/* Workers reach the same point concurrently: count atomically. */
	if (__atomic_add_fetch(&hits, 1, __ATOMIC_SEQ_CST) >= n) {
		/* CVMCTL_CRASH_SIGNAL=SEGV: crash as a bug would (core dump
		 * rules apply), saying whether a dump is allowed. */
		const char *sig = getenv("CVMCTL_CRASH_SIGNAL");
		if (sig && !strcmp(sig, "SEGV")) {
			struct rlimit rl = {0};
			getrlimit(RLIMIT_CORE, &rl);
			fprintf(stderr, "cvmctl: crash point %s reached, raising SIGSEGV (dumpable %d, core limit %llu)\n", name,
			        prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), (unsigned long long)rl.rlim_cur);
			signal(SIGSEGV, SIG_DFL);
			raise(SIGSEGV);
		}
		fprintf(stderr, "cvmctl: crash point %s reached, killing myself\n", name);
		kill(getpid(), SIGKILL);
	}
}
#endif
