/* cvmctl suspend NAME|ID and cvmctl resume NAME|ID: the stored flag that
 * holds every action for a CVM (no create, update, start, replace,
 * delete, not pruned when its spec is removed) while its certificates are
 * still renewed. Under the state lock, like the cert commands, so that
 * it is never lost between a pass's read and its write. */
#include <stdio.h>
#include <string.h>

#include "common/exitcode.h"
#include "common/log.h"
#include "reconciler/cli/cli.h"

static int set_suspended(const char *cmd, int argc, char **argv, bool suspend) {
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': printf("usage: cvmctl %s NAME|ID\n", cmd); return EXIT_OK;
		default: return usage_error(cmd, "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1) return usage_error(cmd, "needs exactly one NAME or ID");

	store_t *st = NULL;
	int code = open_store(&st);
	if (code) return code;
	cvm_record_t r = {0};
	if ((code = lock_store(st)) || (code = find_cvm_or_fail(st, argv[optind], &r))) goto out;
	if (r.status == ST_INACTIVE) {
		log_error("%s (%s) is Inactive: there is nothing to %s", r.name, r.id, cmd);
		code = EXIT_FAILED;
		goto out;
	}
	/* resume also forgets a spec.suspend remembered from a spec that is
	 * gone: else a CVM suspended in its spec and then removed could never
	 * be pruned (a spec that still says suspend: true holds it again) */
	bool held = r.suspended || (!suspend && r.spec_suspended);
	if (held == suspend) {
		printf("%s %s (%s) already\n", suspend ? "suspended" : "resumed", r.name, r.id);
		goto out;
	}
	int rc = store_begin(st);
	if (rc == 0) rc = store_set_suspended(st, r.id, suspend);
	if (rc == 0 && !suspend && r.spec_suspended) rc = store_set_lifecycle(st, r.id, false, r.orphan);
	if (rc == 0)
		rc = store_add_event(st, r.id, suspend ? "suspended" : "resumed",
		                     suspend ? "cvmctl suspend: no action for it until cvmctl resume"
		                             : "cvmctl resume: reconciled again");
	if (rc == 0) rc = store_commit(st);
	if (rc < 0) {
		log_error("cannot record that %s is %s: %s", r.name, suspend ? "suspended" : "resumed", store_errmsg(st));
		store_rollback(st);
		code = EXIT_FAILED;
		goto out;
	}
	printf("%s %s (%s)\n", suspend ? "suspended" : "resumed", r.name, r.id);
out:
	cvm_record_free(&r);
	close_store(st);
	return code;
}

int cmd_suspend(int argc, char **argv) {
	return set_suspended("suspend", argc, argv, true);
}

int cmd_resume(int argc, char **argv) {
	return set_suspended("resume", argc, argv, false);
}
