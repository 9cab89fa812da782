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
#include <stdio.h>
#include <string.h>

#include "emu.h"

struct emu emu = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cfg = {.polls_to_done = 2, .token_lifetime_s = 3600, .rate_limit_status = 403, .wait_max_ms = 2000},
};

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
	if (logpath && emu_open_log("gce-emu", logpath, &emu.log) < 0)
		return 2;
	if (schema_load() < 0)
		return 2;

	return emu_serve(&(struct emu_server){
		.prog = "gce-emu", .start = http_start, .stop = http_stop, .log = emu.log,
		.cert = cert, .key = key, .ready = ready, .port = &emu.port,
		.side_ready = mready, .side_port = &emu.mport, .side_name = "metadata",
	});
}
