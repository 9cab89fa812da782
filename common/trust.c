#include "common/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

/* *err = the sentence (replacing an earlier one); returns r. */
static int fail(char **err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **err, int r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0) abort();
	va_end(ap);
	free(*err);
	*err = msg;
	return r;
}

/* "alice (uid 1000)", or "uid 1000" for a uid with no name. */
static char *user_name(uid_t uid) {
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
		return xasprintf("%s (uid %u)", pw.pw_name, (unsigned)uid);
	return xasprintf("uid %u", (unsigned)uid);
}

int trust_fd(int fd, const char *path, mode_t allowed, char **err) {
	struct stat st;
	if (fstat(fd, &st) < 0) return fail(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	uid_t me = geteuid();
	if (st.st_uid != me) {
		_cleanup_free_ char *owner = user_name(st.st_uid), *us = user_name(me);
		return fail(err, -EPERM,
		            "%s is owned by %s, not by %s who runs cvmctl: refusing to trust it (another user could have "
		            "put their own CA or keys there)",
		            path, owner, us);
	}
	mode_t mode = st.st_mode & 07777;
	if (!(mode & ~allowed)) return 0;
	if (fchmod(fd, mode & allowed) < 0)
		return fail(err, -errno, "%s is open to others (mode %04o) and cannot be made private: %s", path,
		            (unsigned)mode, strerror(errno));
	log_warn("%s had mode %04o: tightened to %04o (it holds private keys or their records)", path, (unsigned)mode,
	         (unsigned)(mode & allowed));
	return 0;
}

int trust_dir(const char *path, bool follow, char **err) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd >= 0) return trust_fd(fd, path, 0700, err);
	int r = -errno;
	if (r == -ENOENT) return r;
	if (r != -ENOTDIR && r != -ELOOP) return fail(err, r, "cannot open %s: %s", path, strerror(-r));
	struct stat st;
	if (!follow && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return fail(err, -EPERM, "%s is a symbolic link: refusing to follow it", path);
	return fail(err, -ENOTDIR, "%s is not a directory", path);
}

int read_secret_file(const char *path, char **out, size_t *len, char **err) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) return fail(err, -EPERM, "%s is a symbolic link: a key is never read through one", path);
	if (fd < 0) return fail(err, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) return fail(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode)) return fail(err, -EPERM, "%s is not a regular file", path);
	int r = trust_fd(fd, path, 0600, err);
	if (r < 0) return r;
	if (st.st_size > (off_t)1 << 20)
		return fail(err, -EFBIG, "%s is larger than any key (%jd bytes)", path, (intmax_t)st.st_size);
	/* One buffer of the file's size: nothing is left behind by growing it. */
	size_t n = (size_t)st.st_size, got = 0;
	char *buf = xmalloc(n + 1);
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			free_secret_n(buf, n + 1);
			return fail(err, r, "cannot read %s: %s", path, k < 0 ? strerror(-r) : "it shrank while being read");
		}
		got += (size_t)k;
	}
	buf[n] = 0;
	*out = buf;
	if (len) *len = n;
	return 0;
}

void free_secret_n(void *p, size_t n) {
	if (!p) return;
	OPENSSL_cleanse(p, n);
	free(p);
}

void free_secret(char *s) {
	if (s) free_secret_n(s, strlen(s));
}
