/* gce-emu: command line, start-up and shutdown.
 *
 *   gce-emu --tls-cert server.pem --tls-key server.key --service-account sa.json
 *           --ready-file PORTFILE [--metadata-ready-file MPORTFILE] [--project P]...
 *           [--sts-subject-token FILE] [--log FILE]
 *
 * Binds 127.0.0.1 on two free ports (HTTPS; plain HTTP for the guest
 * metadata server), writes each port and a newline atomically to its ready
 * file once it serves, and exits 0 on SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

struct emu emu = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cfg = {.polls_to_done = 2, .token_lifetime_s = 3600, .rate_limit_status = 403, .wait_max_ms = 2000},
};

static int write_ready(const char *path, int port)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f) {
		int e = errno;
		fprintf(stderr, "gce-emu: cannot write %s: %s\n", tmp, strerror(e));
		free(tmp);
		return -e;
	}
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		fprintf(stderr, "gce-emu: cannot write %s: %s\n", path, strerror(e));
		unlink(tmp);
		free(tmp);
		return -e;
	}
	free(tmp);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: gce-emu --tls-cert FILE --tls-key FILE --service-account FILE... --ready-file FILE\n"
			"               [--metadata-ready-file FILE] [--project P]... [--sts-subject-token FILE]\n"
			"               [--log FILE]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"service-account", required_argument, NULL, 's'},
		{"ready-file", required_argument, NULL, 'r'},
		{"metadata-ready-file", required_argument, NULL, 'm'},
		{"project", required_argument, NULL, 'p'},
		{"sts-subject-token", required_argument, NULL, 't'},
		{"log", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cert = NULL, *key = NULL, *ready = NULL, *mready = NULL, *logpath = NULL;
	int n_sa = 0, c;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&emu.changed, &ca);
	emu.firewalls = json_object();
	emu.requests = json_array();
	emu.request_ids = json_object();
	emu.networks = json_pack("[s]", "default");

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'r': ready = optarg; break;
		case 'm': mready = optarg; break;
		case 'l': logpath = optarg; break;
		case 's':
			if (sa_load(optarg) < 0)
				return 2;
			n_sa++;
			break;
		case 'p': {
			char **np = realloc(emu.projects, (emu.n_projects + 1) * sizeof(*np));
			if (!np)
				return 2;
			emu.projects = np;
			emu.projects[emu.n_projects++] = xstrdup(optarg);
			break;
		}
		case 't': {
			char *tok = NULL;
			if (read_file(optarg, &tok, NULL) < 0) {
				fprintf(stderr, "gce-emu: cannot read the STS subject token %s\n", optarg);
				return 2;
			}
			tok[strcspn(tok, "\r\n")] = 0;
			emu.sts_subject_token = tok;
			break;
		}
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!cert || !key || !ready || n_sa == 0 || optind != argc) {
		usage();
		return 2;
	}
	if (emu.n_projects == 0) {
		emu.projects = calloc(1, sizeof(*emu.projects));
		if (!emu.projects)
			return 2;
		emu.projects[emu.n_projects++] = xstrdup("cvmctl-test");
	}
	if (logpath) {
		emu.log = fopen(logpath, "ae");
		if (!emu.log) {
			fprintf(stderr, "gce-emu: cannot open the log %s: %s\n", logpath, strerror(errno));
			return 2;
		}
		setvbuf(emu.log, NULL, _IOLBF, 0);
	}
	if (schema_load() < 0)
		return 2;

	_cleanup_free_ char *cert_pem = NULL, *key_pem = NULL;
	if (read_file(cert, &cert_pem, NULL) < 0 || read_file(key, &key_pem, NULL) < 0) {
		fprintf(stderr, "gce-emu: cannot read the TLS certificate %s or key %s\n", cert, key);
		return 2;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	signal(SIGPIPE, SIG_IGN);

	if (http_start(cert_pem, key_pem) < 0)
		return 1;
	if ((mready && write_ready(mready, emu.mport) < 0) || write_ready(ready, emu.port) < 0) {
		http_stop();
		return 1;
	}
	if (emu.log)
		fprintf(emu.log, "gce-emu: serving on https://127.0.0.1:%d, metadata on http://127.0.0.1:%d\n",
			emu.port, emu.mport);
	int sig = 0;
	sigwait(&set, &sig);
	http_stop();
	if (emu.log)
		fclose(emu.log);
	return 0;
}
