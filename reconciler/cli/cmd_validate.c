/* cvmctl validate -f PATH...: load and check specs. Offline: no state, no
 * credentials, no backend (a pipeline validating a merge request has none). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"
#include "reconciler/schemas.h"
#include "specs/spec.h"

int cmd_validate(int argc, char **argv) {
	static const struct option opts[] = {{"file", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	size_t n_paths = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': paths[n_paths++] = optarg; break;
		case 'h': printf("usage: cvmctl validate -f PATH [-f PATH...]\n"); return EXIT_OK;
		default: return usage_error("validate", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("validate", "unexpected argument '%s'", argv[optind]);
	if (n_paths == 0) return usage_error("validate", "no specs given: use -f FILE|DIR|-");

	spec_set_t s = {0};
	diags_t d = {0};
	if (spec_load(paths, n_paths, engine_schemas(), &s, &d) < 0) {
		diags_print(&d);
		if (log_get_format() == LOG_JSON)
			log_error("%zu problem%s found", d.n, d.n == 1 ? "" : "s");
		else
			fprintf(stderr, "%zu problem%s found\n", d.n, d.n == 1 ? "" : "s");
		diags_free(&d);
		return EXIT_INVALID;
	}
	if (s.skipped) log_info("%s", s.skipped);
	printf("ok: %zu provider%s, %zu CVM%s\n", s.n_providers, s.n_providers == 1 ? "" : "s", s.n_cvms,
	       s.n_cvms == 1 ? "" : "s");
	spec_set_free(&s);
	diags_free(&d);
	return EXIT_OK;
}
