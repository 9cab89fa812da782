/* cvmctl plan -f PATH [-o json] [--detailed-exitcode] [--out PLAN]: what a
 * reconcile would do, and why. Reads the state and observes the backends;
 * changes nothing, so it takes no lock. --out saves the JSON plan for
 * `cvmctl apply PLAN` (cmd_apply.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"
#include "reconciler/cli/pass_flags.h"
#include "reconciler/plan_file.h"
#include "reconciler/tree.h"

void plan_meta_for(plan_meta_t *m, const pass_t *p, store_t *st, const pass_opts_t *o) {
	*m = (plan_meta_t){
	    .version = CVMCTL_VERSION,
	    .installation = store_installation_id(st),
	    .paths = o->paths,
	    .n_paths = o->n_paths,
	    .content_hash = tree_content_hash(&p->specs),
	    .revision = tree_revision(o->paths, o->n_paths),
	    .allow_replace = o->allow_replace,
	    .allow_empty = o->allow_empty,
	    .max_deletions = o->max_deletions,
	};
}

void plan_meta_fini(plan_meta_t *m) {
	free((char *)m->content_hash);
	free((char *)m->revision);
	m->content_hash = m->revision = NULL;
}

int cmd_plan(int argc, char **argv) {
	static const struct option opts[] = {PASS_LONG_OPTS,
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
	                                     {"out", required_argument, NULL, OPT_OUT},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	pass_opts_t o = {.paths = paths, .max_deletions = -1, .scope_given = G.scope_given, .describe = true};
	int fmt = OUT_TABLE, c;
	bool detailed = false;
	const char *out = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f:o:h", opts, NULL)) != -1) {
		int r = pass_flag("plan", c, optarg, &o, paths);
		if (r < 0) return -r;
		if (r == 1) continue;
		switch (c) {
		case 'o':
			if ((fmt = parse_output_format(optarg, false)) < 0 || fmt == OUT_YAML) {
				if (fmt == OUT_YAML) log_error("plan -o takes table or json");
				return EXIT_INVALID;
			}
			break;
		case OPT_DETAILED: detailed = true; break;
		case OPT_OUT:
			if (!*optarg) return usage_error("plan", "--out needs a file name");
			out = optarg;
			break;
		case 'h':
			printf("usage: cvmctl plan -f PATH [-o table|json] [--detailed-exitcode] [--out PLAN] [--allow-replace] "
			       "[--allow-empty] [--max-deletions N]\n");
			return EXIT_OK;
		default: return usage_error("plan", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("plan", "unexpected argument '%s'", argv[optind]);
	if (o.n_paths == 0) return usage_error("plan", "no specs given: use -f FILE|DIR|-");

	store_t *st = NULL;
	int code = open_store_for_reading(&st);
	if (code) return code;
	pass_t p;
	code = pass_prepare(&p, st, G.scope, &o);
	if (code == 0) {
		plan_meta_t m;
		plan_meta_for(&m, &p, st, &o);
		_cleanup_free_ char *j = plan_to_json(&p.plan, &m);
		plan_meta_fini(&m);
		int w = out ? plan_file_write(out, j) : 0;
		if (w < 0) {
			log_error("cannot write the plan to %s: %s; nothing was changed", out, strerror(-w));
			code = EXIT_FAILED;
		} else if (fmt == OUT_JSON) {
			printf("%s\n", j);
		} else {
			plan_print_text(&p.plan, stdout);
			if (out) printf("Saved the plan to %s; carry it out with: cvmctl apply %s\n", out, out);
		}
		if (p.plan.n_unknown) code = exit_merge(code, EXIT_FAILED);
		if (p.plan.refused) code = exit_merge(code, EXIT_REFUSED);
		if (detailed && p.plan.n_changes) code = exit_merge(code, EXIT_CHANGES);
	}
	pass_free(&p);
	close_store(st);
	return code;
}
