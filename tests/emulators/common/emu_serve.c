/* Start-up and shutdown both emulators share (emu_serve.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "emu_serve.h"
#include "emu_util.h"

int emu_open_log(const char *prog, const char *path, FILE **log)
{
	*log = fopen(path, "ae");
	if (!*log) {
		int e = errno;
		fprintf(stderr, "%s: cannot open the log %s: %s\n", prog, path, strerror(e));
		return -e;
	}
	setvbuf(*log, NULL, _IOLBF, 0);
	return 0;
}

static int read_tls(const char *prog, const char *cert, const char *key, char **cert_pem, char **key_pem)
{
	int rc = read_file(cert, cert_pem, NULL);
	if (rc == 0)
		rc = read_file(key, key_pem, NULL);
	if (rc < 0)
		fprintf(stderr, "%s: cannot read the TLS certificate %s or key %s\n", prog, cert, key);
	return rc;
}

/* Written under a temporary name and renamed: a reader never sees half. */
static int write_ready(const char *prog, const char *path, int port)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f) {
		int e = errno;
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, tmp, strerror(e));
		return -e;
	}
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(e));
		unlink(tmp);
		return -e;
	}
	return 0;
}

static int serve(const struct emu_server *s, const char *cert_pem, const char *key_pem)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Before any thread starts, so that every thread blocks them and
	 * sigwait below is the one place they arrive. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (s->start(cert_pem, key_pem) < 0)
		return 1;
	if ((s->side_ready && write_ready(s->prog, s->side_ready, *s->side_port) < 0) ||
	    write_ready(s->prog, s->ready, *s->port) < 0) {
		s->stop();
		return 1;
	}
	if (s->log)
		fprintf(s->log, "%s: serving on https://127.0.0.1:%d, %s on http://127.0.0.1:%d\n", s->prog, *s->port,
			s->side_name, *s->side_port);
	int sig = 0;
	sigwait(&set, &sig);
	s->stop();
	return 0;
}

int emu_serve(const struct emu_server *s)
{
	_cleanup_free_ char *cert_pem = NULL, *key_pem = NULL;
	int rc = read_tls(s->prog, s->cert, s->key, &cert_pem, &key_pem) < 0 ? 2 : serve(s, cert_pem, key_pem);
	if (s->log)
		fclose(s->log);
	return rc;
}
