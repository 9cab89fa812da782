#include "common/process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/exitcode.h"
#include "common/log.h"

/* Standard output was closed when we started: it now points at /dev/full
 * so that nothing else can take fd 1, and a write to it is reported as
 * what it is rather than as a full disk. */
static bool stdout_was_closed;

static bool fd_closed(int fd) { return fcntl(fd, F_GETFD) < 0 && errno == EBADF; }

/* Reopens fd on path; open() returns the lowest free descriptor, which is
 * fd itself when it is closed and the lower ones are open. */
static void reopen_std(int fd, const char *path, int flags) {
	int n = open(path, flags | O_CLOEXEC);
	if (n < 0) return;
	if (n != fd) {
		dup2(n, fd);
		close(n);
	} else {
		/* the standard descriptors survive an exec */
		fcntl(fd, F_SETFD, 0);
	}
}

void process_harden(void) {
	struct rlimit none = {0, 0};
	if (setrlimit(RLIMIT_CORE, &none) < 0) log_debug("cannot set RLIMIT_CORE to 0: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) log_debug("cannot clear the dumpable flag: %s", strerror(errno));

	/* In order, so that each open lands on the one closed descriptor. */
	if (fd_closed(0)) reopen_std(0, "/dev/null", O_RDONLY);
	if (fd_closed(1)) {
		stdout_was_closed = true;
		reopen_std(1, "/dev/full", O_WRONLY);
		if (fd_closed(1)) reopen_std(1, "/dev/null", O_WRONLY);
	}
	if (fd_closed(2)) reopen_std(2, "/dev/null", O_WRONLY);
}

static int stdout_failed(int code, int err, const char *what) {
	if (stdout_was_closed)
		log_error("cannot write the output: standard output is closed");
	else if (err)
		log_error("cannot write the output (%s): %s", what, strerror(err));
	else
		log_error("cannot write the output (%s)", what);
	return exit_merge(code, EXIT_FAILED);
}

int process_finish_stdout(int code) {
	struct stat st;
	/* A reader that went away chose to stop reading (| head -1). */
	if (!stdout_was_closed && fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		fflush(stdout);
		return code;
	}
	errno = 0;
	if (fflush(stdout) != 0) return stdout_failed(code, errno, "flush");
	/* An earlier write failed: its errno is gone, the error flag stays. */
	if (ferror(stdout)) return stdout_failed(code, 0, "a write failed");
	if (fclose(stdout) != 0) return stdout_failed(code, errno, "close");
	return code;
}
