/* Flags shared by plan and reconcile (-f, the safety switches). */
#ifndef CVM_PASS_FLAGS_H
#define CVM_PASS_FLAGS_H

#include <getopt.h>

#include "reconciler/pass.h"

enum {
	OPT_ALLOW_REPLACE = 0x100,
	OPT_ALLOW_EMPTY,
	OPT_MAX_DELETIONS,
	OPT_CONCURRENCY,
	OPT_DETAILED,
	OPT_ONCE,
	OPT_WATCH,
	OPT_RESYNC,
	OPT_OUT,
	OPT_DEBOUNCE,
	OPT_PRUNE_DELAY,
	OPT_METRICS_ADDR,
	OPT_METRICS_PORT_FILE,
	OPT_METRICS_TEXTFILE,
};

/* Handles one pass flag; returns 1 if taken, 0 if not a pass flag, or an
 * exit code (EXIT_INVALID) after reporting a bad value as -(code). */
int pass_flag(const char *cmd, int c, const char *arg, pass_opts_t *o, const char **paths);

#define PASS_LONG_OPTS                                                                     \
	{"file", required_argument, NULL, 'f'}, {"allow-replace", no_argument, NULL, OPT_ALLOW_REPLACE}, \
	    {"allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY},                                   \
	    {"max-deletions", required_argument, NULL, OPT_MAX_DELETIONS},                         \
	    {"concurrency", required_argument, NULL, OPT_CONCURRENCY}

#endif
