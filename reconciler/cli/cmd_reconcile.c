/* cvmctl reconcile -f PATH --once | --watch: converge the world to the specs.
 * --watch hands the pass to the daemon loop (reconciler/daemon/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/timing.h"
#include "common/util.h"
#include "reconciler/apply.h"
#include "reconciler/cli/cli.h"
#include "reconciler/cli/pass_flags.h"
#include "reconciler/daemon/watch.h"

static void print_timings(const pass_timings_t *t, int64_t total_ns) {
	fprintf(stderr,
	        "timings: load=%.1fms store=%.1fms observe=%.1fms plan=%.1fms apply=%.1fms "
	        "(intents=%.1fms remote=%.1fms outcome=%.1fms rotation=%.1fms) total=%.1fms\n",
	        ns_to_ms(t->load_ns), ns_to_ms(t->store_ns), ns_to_ms(t->observe_ns), ns_to_ms(t->plan_ns),
	        ns_to_ms(t->apply_ns), ns_to_ms(t->intents_ns), ns_to_ms(t->remote_ns), ns_to_ms(t->outcome_ns),
	        ns_to_ms(t->rotation_ns), ns_to_ms(total_ns));
}

static int one_pass(store_t *st, const pass_opts_t *o) {
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t start = mono_ns();
	int code = lock_store(st);
	if (code) return code;
	pass_t p;
	code = pass_prepare(&p, st, G.scope, o);
	if (code == 0) {
		apply_summary_t s;
		int64_t t = mono_ns();
		code = apply_plan(&p, o, &s);
		timing_lap(&t, &p.timings.apply_ns);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("Reconciled scope %s in %.2fs: %zu created, %zu adopted, %zu started, %zu updated, %zu replaced, "
		       "%zu deleted, %zu up to date; %zu failed, %zu unknown, %zu refused",
		       p.scope, secs, s.created, s.adopted, s.started, s.updated, s.replaced, s.deleted, s.noop, s.failed,
		       s.unknown, s.refused);
		if (s.errors)
			printf("; %zu error%s recording the pass (see above)", s.errors, s.errors == 1 ? "" : "s");
		printf(".\n");
		fflush(stdout);
	}
	pass_timings_t timings = p.timings;
	pass_free(&p);
	store_unlock(st);
	if (timings_enabled()) print_timings(&timings, mono_ns() - start);
	return code;
}

int cmd_reconcile(int argc, char **argv) {
	static const struct option opts[] = {PASS_LONG_OPTS,
	                                     {"once", no_argument, NULL, OPT_ONCE},
	                                     {"watch", no_argument, NULL, OPT_WATCH},
	                                     {"resync", required_argument, NULL, OPT_RESYNC},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	pass_opts_t o = {.paths = paths, .max_deletions = -1, .scope_given = G.scope_given};
	bool once = false, watch = false;
	int64_t resync = 300;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		int r = pass_flag("reconcile", c, optarg, &o, paths);
		if (r < 0) return -r;
		if (r == 1) continue;
		switch (c) {
		case OPT_ONCE: once = true; break;
		case OPT_WATCH: watch = true; break;
		case OPT_RESYNC:
			if (parse_duration(optarg, &resync) < 0 || resync < 1)
				return usage_error("reconcile", "--resync needs a duration such as 5m, not '%s'", optarg);
			break;
		case 'h':
			printf("usage: cvmctl reconcile -f PATH (--once | --watch [--resync DUR]) [--allow-replace] "
			       "[--allow-empty] [--max-deletions N] [--concurrency N]\n");
			return EXIT_OK;
		default: return usage_error("reconcile", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("reconcile", "unexpected argument '%s'", argv[optind]);
	if (o.n_paths == 0) return usage_error("reconcile", "no specs given: use -f FILE|DIR|-");
	if (once == watch) return usage_error("reconcile", "say either --once or --watch");

	store_t *st = NULL;
	int code = open_store(&st);
	if (code) return code;
	code = watch ? daemon_watch(st, &o, resync, one_pass) : one_pass(st, &o);
	store_close(st);
	return code;
}
