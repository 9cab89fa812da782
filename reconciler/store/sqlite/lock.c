/* One writer at a time: an flock on <dir>/lock. The lock itself is the
 * flock (released by the kernel when the holder dies, so it never goes
 * stale); the file's text only says who holds it, so that a refusal can
 * name the holder. flock locks belong to an open file description, so two
 * handles in one process contend like two processes do. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

#define LOCK_POLL_MS 50

static int64_t mono_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static int write_holder(int fd) {
	char host[256] = "?", started[32];
	if (gethostname(host, sizeof host) < 0) snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = 0;
	format_time(now_s(), started, sizeof started);
	_cleanup_free_ char *text = xasprintf("pid=%ld host=%s started=%s\n", (long)getpid(), host, started);
	if (ftruncate(fd, 0) < 0) return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) return -errno;
	return 0;
}

static char *read_holder(int fd) {
	char buf[512];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		ssize_t n = pread(fd, buf + len, sizeof buf - 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r' || buf[len - 1] == '\t'))
		len--;
	buf[len] = 0;
	/* The holder may be between its flock and its write. */
	return xstrdup(len ? buf : "an unrecorded holder");
}

int sq_lock(store_t *s, int timeout_ms, char **holder) {
	if (holder) *holder = NULL;
	if (sq(s)->lock_fd >= 0) return 0;
	_cleanup_free_ char *path = xasprintf("%s/lock", s->dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) return store_fail(s, -errno, "cannot open %s: %m", path);

	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
		if (errno != EWOULDBLOCK && errno != EINTR) return store_fail(s, -errno, "cannot lock %s: %m", path);
		int64_t left = deadline - mono_ms();
		if (timeout_ms >= 0 && left <= 0) {
			_cleanup_free_ char *who = read_holder(fd);
			store_fail(s, -EWOULDBLOCK, "state in %s is locked by %s", s->dir, who);
			if (holder) *holder = TAKE_PTR(who);
			return -EWOULDBLOCK;
		}
		sleep_ms(timeout_ms < 0 || left > LOCK_POLL_MS ? LOCK_POLL_MS : left);
	}

	int r = write_holder(fd);
	if (r < 0) {
		flock(fd, LOCK_UN);
		return store_fail(s, r, "cannot record the lock holder in %s: %s", path, strerror(-r));
	}
	sq(s)->lock_fd = fd;
	fd = -1;
	return 0;
}

void sq_unlock(store_t *s) {
	if (sq(s)->lock_fd < 0) return;
	/* The file stays: deleting it would let a waiter that already opened
	 * it lock an orphan while a newcomer locks a new file. */
	/* Forget the holder before letting go: a later holder that records
	 * nothing (flock(1), an older cvmctl) must not be named as us. */
	if (ftruncate(sq(s)->lock_fd, 0) < 0) {
		/* the lock is released below all the same */
	}
	flock(sq(s)->lock_fd, LOCK_UN);
	close(sq(s)->lock_fd);
	sq(s)->lock_fd = -1;
}
