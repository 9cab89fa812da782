/* What every command shares: the global flags, the state directory, output
 * formats, and the command entry points (one file per command, git style). */
#ifndef CVM_CLI_H
#define CVM_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "reconciler/store/store.h"

typedef enum output_format { OUT_TABLE, OUT_WIDE, OUT_JSON, OUT_YAML } output_format_t;

typedef struct globals {
	const char *state_dir;    /* --state-dir; default from the environment */
	const char *scope;        /* --scope; default "default" */
	bool scope_given;         /* --scope was on the command line */
	const char *installation; /* --installation-id: recovery of a lost state */
	int lock_timeout_ms;      /* --lock-timeout */
	int verbosity;
} globals_t;

extern globals_t G;

/* The state directory: --state-dir, $CVMCTL_STATE_DIR, $XDG_STATE_HOME/cvmctl,
 * /var/lib/cvmctl as root, else ~/.local/state/cvmctl. */
const char *state_dir(void);

/* Opens the store, reporting failure. Returns 0 or an exit code. */
int open_store(store_t **out);
/* For commands that only read (plan, list, get, cert list/download): a
 * state that does not exist yet is not created; they see an empty one
 * (in a private temporary directory, removed by close_store). */
int open_store_for_reading(store_t **out);
void close_store(store_t *s);

/* Takes the writer lock, reporting who holds it on timeout. 0 or exit code. */
int lock_store(store_t *s);

/* What a saved plan records of how it was made (plan_meta_t), for the pass
 * p of the state st made with the paths and flags of o. Borrows from all
 * three; free the two strings it makes with plan_meta_fini. */
struct plan_meta;
struct pass;
struct pass_opts;
void plan_meta_for(struct plan_meta *m, const struct pass *p, store_t *st, const struct pass_opts *o);
void plan_meta_fini(struct plan_meta *m);

/* Parses "-o" values; returns -1 (after an error message) if invalid. */
int parse_output_format(const char *s, bool allow_wide);

/* Prints a usage error for cmd and returns EXIT_INVALID. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Finds a CVM by name or id, printing "no CVM named or with id X" (exit 1)
 * when there is none. Returns 0 or an exit code. */
int find_cvm_or_fail(store_t *s, const char *name_or_id, cvm_record_t *out);

/* JSON (jansson) of a record, for list/get -o json. */
struct json_t;
struct json_t *cvm_record_json(const cvm_record_t *r);
/* The CVM's conditions as the last pass judged them: a JSON array of
 * {type, status, reason, message, lastTransitionTime, specHash}; an empty one if none (or they cannot be read). */
struct json_t *cvm_conditions_json(store_t *s, const char *cvm_id);
/* Prints a jansson value as YAML (block style) to stdout. */
void print_json_as_yaml(const struct json_t *v);

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_suspend(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_host(int argc, char **argv);

#endif
