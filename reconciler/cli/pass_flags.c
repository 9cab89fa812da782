#include "reconciler/cli/pass_flags.h"

#include <errno.h>
#include <stdlib.h>

#include "common/exitcode.h"
#include "reconciler/cli/cli.h"

static int parse_count(const char *s, long *out) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0) return -EINVAL;
	*out = v;
	return 0;
}

int pass_flag(const char *cmd, int c, const char *arg, pass_opts_t *o, const char **paths) {
	long v;
	switch (c) {
	case 'f': paths[o->n_paths++] = arg; return 1;
	case OPT_ALLOW_REPLACE: o->allow_replace = true; return 1;
	case OPT_ALLOW_EMPTY: o->allow_empty = true; return 1;
	case OPT_MAX_DELETIONS:
		if (parse_count(arg, &v) < 0)
			return -usage_error(cmd, "--max-deletions needs a whole number (0 or more), not '%s'", arg);
		o->max_deletions = v;
		return 1;
	case OPT_CONCURRENCY:
		if (parse_count(arg, &v) < 0 || v < 1 || v > 256)
			return -usage_error(cmd, "--concurrency needs a number from 1 to 256, not '%s'", arg);
		o->per_provider = (int)v;
		return 1;
	default: return 0;
	}
}
