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
#include "reconciler/daemon/metrics.h"
#include "reconciler/daemon/watch.h"
#include "reconciler/tree.h"

static void print_timings(const pass_timings_t *t, int64_t total_ns) {
	fprintf(stderr,
	        "timings: load=%.1fms store=%.1fms observe=%.1fms plan=%.1fms apply=%.1fms "
	        "(intents=%.1fms remote=%.1fms outcome=%.1fms rotation=%.1fms) total=%.1fms\n",
	        ns_to_ms(t->load_ns), ns_to_ms(t->store_ns), ns_to_ms(t->observe_ns), ns_to_ms(t->plan_ns),
	        ns_to_ms(t->apply_ns), ns_to_ms(t->intents_ns), ns_to_ms(t->remote_ns), ns_to_ms(t->outcome_ns),
	        ns_to_ms(t->rotation_ns), ns_to_ms(total_ns));
}

static void one_pass(store_t *st, const pass_opts_t *o, pass_report_t *rep) {
	int64_t start = mono_ns();
	*rep = (pass_report_t){0};
	int code = lock_store(st);
	if (code) {
		rep->code = code;
		return;
	}
	pass_t p;
	code = pass_prepare(&p, st, G.scope, o);
	if (p.specs.n_cvms || p.specs.n_providers) rep->content_hash = tree_content_hash(&p.specs);
	if (code == 0) {
		apply_summary_t s;
		int64_t t = mono_ns();
		code = apply_plan(&p, o, &s);
		timing_lap(&t, &p.timings.apply_ns);
		double secs = (double)(mono_ns() - start) / 1e9;
		printf("Reconciled scope %s in %.2fs: %zu created, %zu adopted, %zu started, %zu updated, %zu replaced, "
		       "%zu deleted, %zu up to date; %zu failed, %zu unknown, %zu refused",
		       p.scope, secs, s.created, s.adopted, s.started, s.updated, s.replaced, s.deleted, s.noop, s.failed,
		       s.unknown, s.refused);
		if (s.errors)
			printf("; %zu error%s recording the pass (see above)", s.errors, s.errors == 1 ? "" : "s");
		printf(".\n");
		fflush(stdout);
		rep->applied = true;
		rep->sum = s;
	}
	pass_timings_t timings = p.timings;
	pass_free(&p);
	store_unlock(st);
	rep->code = code;
	rep->seconds = (double)(mono_ns() - start) / 1e9;
	if (timings_enabled()) print_timings(&timings, mono_ns() - start);
	else
		log_kv(LOG_DEBUG,
		       LOG_FIELDS(LOG_N("load_ms", ns_to_ms(timings.load_ns)), LOG_N("store_ms", ns_to_ms(timings.store_ns)),
		                  LOG_N("observe_ms", ns_to_ms(timings.observe_ns)), LOG_N("plan_ms", ns_to_ms(timings.plan_ns)),
		                  LOG_N("apply_ms", ns_to_ms(timings.apply_ns)), LOG_N("duration", rep->seconds)),
		       "timings:");
}

/* --debounce takes milliseconds too ("250ms"), which parse_duration does not. */
static int parse_debounce(const char *s, int64_t *ms) {
	size_t n = strlen(s);
	if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end != s + n - 2 || v < 0 || v > 3600000) return -EINVAL;
		*ms = v;
		return 0;
	}
	int64_t secs;
	if (parse_duration(s, &secs) < 0 || secs > 3600) return -EINVAL;
	*ms = secs * 1000;
	return 0;
}

int cmd_reconcile(int argc, char **argv) {
	static const struct option opts[] = {PASS_LONG_OPTS,
	                                     {"once", no_argument, NULL, OPT_ONCE},
	                                     {"watch", no_argument, NULL, OPT_WATCH},
	                                     {"resync", required_argument, NULL, OPT_RESYNC},
	                                     {"debounce", required_argument, NULL, OPT_DEBOUNCE},
	                                     {"prune-delay", required_argument, NULL, OPT_PRUNE_DELAY},
	                                     {"metrics-addr", required_argument, NULL, OPT_METRICS_ADDR},
	                                     {"metrics-port-file", required_argument, NULL, OPT_METRICS_PORT_FILE},
	                                     {"metrics-textfile", required_argument, NULL, OPT_METRICS_TEXTFILE},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	pass_opts_t o = {.paths = paths, .max_deletions = -1, .scope_given = G.scope_given};
	bool once = false, watch = false;
	watch_cfg_t cfg = {.resync_s = 300, .debounce_ms = 1000, .prune_delay_s = 30};
	const char *textfile = NULL;
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
			if (parse_duration(optarg, &cfg.resync_s) < 0 || cfg.resync_s < 1)
				return usage_error("reconcile", "--resync needs a duration such as 5m, not '%s'", optarg);
			break;
		case OPT_DEBOUNCE:
			if (parse_debounce(optarg, &cfg.debounce_ms) < 0)
				return usage_error("reconcile", "--debounce needs a duration such as 1s or 250ms, not '%s'", optarg);
			break;
		case OPT_PRUNE_DELAY:
			if (parse_duration(optarg, &cfg.prune_delay_s) < 0 && strcmp(optarg, "0") != 0)
				return usage_error("reconcile", "--prune-delay needs a duration such as 30s, not '%s'", optarg);
			if (strcmp(optarg, "0") == 0) cfg.prune_delay_s = 0;
			break;
		case OPT_METRICS_ADDR: cfg.metrics_addr = optarg; break;
		case OPT_METRICS_PORT_FILE: cfg.metrics_port_file = optarg; break;
		case OPT_METRICS_TEXTFILE: textfile = optarg; break;
		case 'h':
			printf("usage: cvmctl reconcile -f PATH (--once [--metrics-textfile PATH] | --watch [--resync DUR] "
			       "[--debounce DUR] [--prune-delay DUR] [--metrics-addr HOST:PORT] [--metrics-port-file PATH]) [--allow-replace] "
			       "[--allow-empty] [--max-deletions N] [--concurrency N]\n");
			return EXIT_OK;
		default: return usage_error("reconcile", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("reconcile", "unexpected argument '%s'", argv[optind]);
	if (o.n_paths == 0) return usage_error("reconcile", "no specs given: use -f FILE|DIR|-");
	if (once == watch) return usage_error("reconcile", "say either --once or --watch");
	if (textfile && watch) return usage_error("reconcile", "--metrics-textfile goes with --once; --watch serves --metrics-addr");
	if ((cfg.metrics_addr || cfg.metrics_port_file) && once)
		return usage_error("reconcile", "--metrics-addr goes with --watch; --once writes --metrics-textfile");

	store_t *st = NULL;
	int code = open_store(&st);
	if (code) return code;
	if (watch) {
		code = daemon_watch(st, &o, &cfg, one_pass);
	} else {
		pass_report_t rep;
		metrics_t *m = textfile ? metrics_new() : NULL;
		if (m) {
			o.on_result = metrics_on_result;
			o.result_ctx = m;
		}
		one_pass(st, &o, &rep);
		code = rep.code;
		if (m) {
			metrics_pass(m, &rep, now_s());
			metrics_refresh(m, st);
			if (metrics_write_textfile(m, textfile) < 0 && code == 0) code = EXIT_FAILED;
			metrics_free(m);
		}
		free(rep.content_hash);
	}
	store_close(st);
	return code;
}
