/* cvmctl apply PLAN [-f PATH]: carry out a saved plan (plan --out) exactly.
 *
 * The plan is made again, under the state lock, from the tree it names (or
 * -f), the world and the records as they are now, with the scope, the
 * installation and the safety flags the saved plan was made with; it is
 * carried out only if it is the saved plan. A plan that is stale (the
 * tree, the world or the records changed) or was edited is refused (exit
 * 4) with the first difference, and nothing is changed. Flags that
 * contradict the saved ones are a usage error (exit 3); a file that is not
 * a plan this cvmctl reads is invalid input (exit 3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/apply.h"
#include "reconciler/cli/cli.h"
#include "reconciler/cli/pass_flags.h"
#include "reconciler/plan_file.h"

/* The flags given on apply's command line, to be checked against the plan. */
typedef struct given {
	bool allow_replace, allow_empty, max_deletions;
	pass_opts_t o;
} given_t;

static int read_plan(const char *path, saved_plan_t *sp) {
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len);
	if (r < 0) {
		log_error("cannot read the plan %s: %s", path, strerror(-r));
		return EXIT_INVALID;
	}
	_cleanup_free_ char *err = NULL;
	if (saved_plan_parse(buf, len, sp, &err) < 0) {
		log_error("%s: %s; nothing was changed", path, err);
		return EXIT_INVALID;
	}
	return 0;
}

/* A flag given to apply must say what the plan says. */
static int check_flags(const char *path, const saved_plan_t *sp, const given_t *g) {
	if (g->allow_replace && !sp->allow_replace)
		return usage_error("apply", "--allow-replace contradicts the plan %s, made without it; make a new plan", path);
	if (g->allow_empty && !sp->allow_empty)
		return usage_error("apply", "--allow-empty contradicts the plan %s, made without it; make a new plan", path);
	if (g->max_deletions && g->o.max_deletions != sp->max_deletions) {
		if (sp->max_deletions < 0)
			return usage_error("apply", "--max-deletions %ld contradicts the plan %s, made without a cap; make a new plan",
			                   g->o.max_deletions, path);
		return usage_error("apply", "--max-deletions %ld contradicts the plan %s, made with --max-deletions %ld",
		                   g->o.max_deletions, path, sp->max_deletions);
	}
	if (G.scope_given && strcmp(G.scope, sp->scope) != 0)
		return usage_error("apply", "--scope %s contradicts the plan %s, made for scope %s", G.scope, path, sp->scope);
	if (G.installation && sp->installation && strcmp(G.installation, sp->installation) != 0)
		return usage_error("apply", "--installation-id %s contradicts the plan %s, made for installation %s",
		                   G.installation, path, sp->installation);
	return 0;
}

/* The state the plan was made for: a state that does not exist yet is
 * made with the plan's installation id (the plan's new CVMs' ids derive
 * from it); an existing one must be of that installation. */
static int open_plan_state(const saved_plan_t *sp, store_t **st) {
	_cleanup_free_ char *db = xasprintf("%s/state.db", state_dir());
	bool exists = access(db, F_OK) == 0;
	const char *saved_inst = G.installation;
	if (!exists && !G.installation) G.installation = sp->installation;
	if (exists) G.installation = NULL; /* compared below, as a refusal */
	int code = open_store(st);
	G.installation = saved_inst;
	if (code) return code;
	const char *have = store_installation_id(*st);
	if (sp->installation && strcmp(have, sp->installation) != 0) {
		log_error("the plan was made for installation %s, but the state in %s is installation %s; the plan was "
		          "refused and nothing was changed",
		          sp->installation, state_dir(), have);
		store_close(*st);
		*st = NULL;
		return EXIT_REFUSED;
	}
	return 0;
}

static int carry_out(pass_t *p, const pass_opts_t *o) {
	apply_summary_t s;
	int code = apply_plan(p, o, &s);
	printf("Applied the plan to scope %s: %zu created, %zu adopted, %zu started, %zu updated, %zu replaced, "
	       "%zu deleted, %zu up to date; %zu failed, %zu unknown, %zu refused.\n",
	       p->scope, s.created, s.adopted, s.started, s.updated, s.replaced, s.deleted, s.noop, s.failed, s.unknown,
	       s.refused);
	fflush(stdout);
	return code;
}

static int apply_saved(const char *path, const saved_plan_t *sp, given_t *g) {
	pass_opts_t o = g->o;
	if (o.n_paths == 0) {
		o.paths = sp->paths;
		o.n_paths = sp->n_paths;
	}
	for (size_t i = 0; i < o.n_paths; i++)
		if (strcmp(o.paths[i], "-") == 0 && g->o.n_paths == 0)
			return usage_error("apply", "the plan %s was made from standard input: give the tree again with -f -",
			                   path);
	o.allow_replace = sp->allow_replace;
	o.allow_empty = sp->allow_empty;
	o.max_deletions = sp->max_deletions;
	o.describe = true; /* compared with the saved plan's */
	G.scope = sp->scope;
	o.scope_given = true; /* a tree whose kind: Scope says otherwise is refused */

	store_t *st = NULL;
	int code = open_plan_state(sp, &st);
	if (code) return code;
	if ((code = lock_store(st))) {
		store_close(st);
		return code;
	}
	pass_t p;
	code = pass_prepare(&p, st, G.scope, &o);
	if (code == 0) {
		plan_meta_t m;
		plan_meta_for(&m, &p, st, &o);
		_cleanup_(json_decrefp) json_t *now = plan_to_json_value(&p.plan, &m);
		plan_meta_fini(&m);
		_cleanup_free_ char *what = NULL;
		bool differs = plan_doc_compare(sp->doc, now, &what) != 0;
		if (!sp->sealed) {
			log_error("the plan %s was edited after it was written (its checksum does not match its content)%s%s; "
			          "it was refused and nothing was changed",
			          path, differs ? ": " : "", differs ? what : "");
			code = EXIT_REFUSED;
		} else if (differs) {
			log_error("the plan %s is stale: %s; it was refused and nothing was changed (make a new plan)", path,
			          what);
			code = EXIT_REFUSED;
		} else {
			code = carry_out(&p, &o);
		}
	}
	pass_free(&p);
	store_unlock(st);
	store_close(st);
	return code;
}

int cmd_apply(int argc, char **argv) {
	static const struct option opts[] = {PASS_LONG_OPTS, {"help", no_argument, NULL, 'h'}, {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	given_t g = {.o = {.paths = paths, .max_deletions = -1}};
	int c;
	optind = 1;
	opterr = 0;
	/* Flags may follow the plan's file name ("apply PLAN -f DIR"). */
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		int r = pass_flag("apply", c, optarg, &g.o, paths);
		if (r < 0) return -r;
		if (r == 1) {
			g.allow_replace |= c == OPT_ALLOW_REPLACE;
			g.allow_empty |= c == OPT_ALLOW_EMPTY;
			g.max_deletions |= c == OPT_MAX_DELETIONS;
			continue;
		}
		switch (c) {
		case 'h':
			printf("usage: cvmctl apply PLAN [-f PATH] [--concurrency N]\n"
			       "(the scope, installation and safety flags are the plan's; flags that say otherwise are refused)\n");
			return EXIT_OK;
		default: return usage_error("apply", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) return usage_error("apply", "needs the file of a saved plan (cvmctl plan --out PLAN)");
	if (optind + 1 < argc) return usage_error("apply", "unexpected argument '%s'", argv[optind + 1]);
	const char *path = argv[optind];

	saved_plan_t sp;
	int code = read_plan(path, &sp);
	if (code) return code;
	code = check_flags(path, &sp, &g);
	if (code == 0) code = apply_saved(path, &sp, &g);
	saved_plan_free(&sp);
	return code;
}
