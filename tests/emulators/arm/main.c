/* arm-emu: command line, start-up and shutdown.
 *
 *   arm-emu --tls-cert server.pem --tls-key server.key --ready-file PORTFILE
 *           [--imds-ready-file FILE] [--tenant T] [--client-id C]
 *           [--client-secret-file F] [--client-cert F] [--federated-token-file F]
 *           [--subscription S]... [--resource-group SUB/RG[@LOCATION]]... [--log FILE]
 *
 * Binds 127.0.0.1 on two free ports (HTTPS; plain HTTP for IMDS), writes
 * each port and a newline atomically to its ready file once it serves, and
 * exits 0 on SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

struct emu emu = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cfg = {.polls_to_done = 2, .token_lifetime_s = 3600, .retry_after = 1, .page_size = 100},
};

static void usage(void)
{
	fprintf(stderr, "usage: arm-emu --tls-cert FILE --tls-key FILE --ready-file FILE [--imds-ready-file FILE]\n"
			"               [--tenant T] [--client-id C] [--client-secret-file F] [--client-cert F]\n"
			"               [--federated-token-file F] [--subscription S]... [--resource-group SUB/RG[@LOC]]...\n"
			"               [--log FILE]\n");
}

/* --resource-group SUB/RG[@LOCATION]: a resource group that exists from the start. */
static int add_rg(const char *arg)
{
	_cleanup_free_ char *s = xstrdup(arg);
	char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1])
		return -EINVAL;
	*slash = 0;
	char *rg = slash + 1, *at = strchr(rg, '@');
	const char *loc = "eastus";
	if (at) {
		*at = 0;
		loc = at + 1;
	}
	struct rgroup *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->sub = xstrdup(s);
	g->name = xstrdup(rg);
	_cleanup_free_ char *id = xasprintf("/subscriptions/%s/resourceGroups/%s", s, rg);
	g->obj = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "id", id, "name", rg, "type",
			   "Microsoft.Resources/resourceGroups", "location", loc, "properties", "provisioningState",
			   "Succeeded");
	g->next = emu.rgs;
	emu.rgs = g;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"ready-file", required_argument, NULL, 'r'},
		{"imds-ready-file", required_argument, NULL, 'i'},
		{"tenant", required_argument, NULL, 't'},
		{"client-id", required_argument, NULL, 'u'},
		{"client-secret-file", required_argument, NULL, 's'},
		{"client-cert", required_argument, NULL, 'x'},
		{"federated-token-file", required_argument, NULL, 'f'},
		{"subscription", required_argument, NULL, 'S'},
		{"resource-group", required_argument, NULL, 'g'},
		{"log", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cert = NULL, *key = NULL, *ready = NULL, *iready = NULL, *logpath = NULL;
	const char *secret_file = NULL, *client_cert = NULL, *fed_file = NULL;
	int c;

	emu.requests = json_array();
	emu.tenant = xstrdup("a2e0e000-0000-4000-8000-000000000001");
	emu.client_id = xstrdup("11111111-2222-3333-4444-555555555555");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'r': ready = optarg; break;
		case 'i': iready = optarg; break;
		case 'l': logpath = optarg; break;
		case 's': secret_file = optarg; break;
		case 'x': client_cert = optarg; break;
		case 'f': fed_file = optarg; break;
		case 't': free(emu.tenant); emu.tenant = xstrdup(optarg); break;
		case 'u': free(emu.client_id); emu.client_id = xstrdup(optarg); break;
		case 'S': {
			char **ns = realloc(emu.subs, (emu.n_subs + 1) * sizeof(*ns));
			if (!ns)
				return 2;
			emu.subs = ns;
			emu.subs[emu.n_subs++] = xstrdup(optarg);
			break;
		}
		case 'g':
			if (add_rg(optarg) < 0) {
				fprintf(stderr, "arm-emu: --resource-group wants SUBSCRIPTION/NAME[@LOCATION], not %s\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!cert || !key || !ready || optind != argc) {
		usage();
		return 2;
	}
	if (logpath && emu_open_log("arm-emu", logpath, &emu.log) < 0)
		return 2;
	if (gnutls_global_init() < 0 || schema_load() < 0 || auth_load(secret_file, client_cert, fed_file) < 0)
		return 2;

	return emu_serve(&(struct emu_server){
		.prog = "arm-emu", .start = http_start, .stop = http_stop, .log = emu.log,
		.cert = cert, .key = key, .ready = ready, .port = &emu.port,
		.side_ready = iready, .side_port = &emu.iport, .side_name = "IMDS",
	});
}
