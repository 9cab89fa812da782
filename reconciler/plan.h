/* The plan: a pure function of (desired specs, observed resources, records).
 * No I/O, no clock, no randomness except the ids it is handed, so it is
 * tested without any backend. */
#ifndef CVM_PLAN_H
#define CVM_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "providers/provider.h"
#include "reconciler/store/store.h"
#include "specs/spec.h"

typedef enum action_kind {
	ACT_NOOP,
	ACT_CREATE,  /* new CVM (new id), or its resource vanished (same id) */
	ACT_ADOPT,   /* an owned resource with no record: record it */
	ACT_START,   /* found stopped */
	ACT_UPDATE,  /* in-place change: labels, agent settings, certificates */
	ACT_REPLACE, /* a change the backend cannot apply in place: same id, new attempt */
	ACT_DELETE,  /* delete the resource, keep the record as Inactive */
	ACT_UNKNOWN, /* cannot be observed this pass: nothing is done */
} action_kind_t;

const char *action_kind_name(action_kind_t k);

/* What happens to a CVM's default certificate after its action (rotation,
 * reconciler/rotate.c): renewed (due: it reached renewBefore, or there is
 * none) and published, or only published (the current one was never
 * delivered). Creates and replaces deliver a certificate of their own. */
typedef enum cert_action {
	CERT_NONE,
	CERT_RENEW,
	CERT_PUBLISH,
} cert_action_t;

const char *cert_action_name(cert_action_t c);

typedef struct action {
	action_kind_t kind;
	char id[37];                /* the CVM id (new for a new CVM) */
	const char *name;
	const cvm_spec_t *spec;     /* desired; NULL for delete */
	const cvm_record_t *record; /* NULL when none */
	const observed_t *observed; /* NULL when absent */
	size_t provider_idx;        /* into plan_input.providers; n_providers when
	                             * the provider has no view (unknown action) */
	const char *provider;       /* that Provider's name (borrowed from the input) */
	char *reason;               /* one sentence, for people */
	char **fields;              /* for replace/update: the fields that force it */
	size_t n_fields;
	bool refused;               /* held back by a safety rule */
	bool orphan;                /* delete: deletionPolicy Orphan, the record is retired and the
	                             * resource left standing (nothing remote) */
	char *refusal;              /* why */
	/* For programs (the JSON plan): a reason code (static: "new",
	 * "missing", "spec-changed", ...), the refusal's code, and every field
	 * that changes with its value before and after (a JSON array of
	 * {field, before, after}, owned; NULL unless plan_input.describe). */
	const char *code;
	const char *refusal_code;
	json_t *changes;
	/* The target placement of a create or replace, chosen when the plan is
	 * made (pass_place); NULL with place_err set when none could be. */
	char *placement;
	char *place_err;
	/* The certificate after the action, and what it is decided from. */
	cert_action_t cert;
	const cert_state_t *cert_state;
} action_t;

/* What one provider showed this pass. */
typedef struct provider_view {
	const char *name; /* Provider name */
	const char *flavor;
	const backend_schema_t *schema; /* its backend: the placement noun (may be NULL) */
	const observation_t *obs;       /* NULL or obs->all_unknown: the provider is Unknown */
} provider_view_t;

typedef struct plan_input {
	const spec_set_t *specs;
	const cvm_record_t *records; /* every record in the state, all scopes */
	size_t n_records;
	const provider_view_t *providers; /* one per spec provider, same order */
	size_t n_providers;
	const char *scope;
	const char *installation;
	/* ids for new CVMs, consumed in order; NULL: each new CVM's id is
	 * derived from (installation, scope, name, generation), the generation
	 * being how many records of that name the state holds, so that two
	 * plans of the same tree, world and records give the same ids and a
	 * name that comes back after its CVM went Inactive gets a fresh one */
	char (*new_ids)[37];
	size_t n_new_ids;
	/* every CVM's certificates (store_list_cert_states: sorted by id) and
	 * the time they are judged at; no certs: no certificate actions */
	const cert_state_t *certs;
	size_t n_certs;
	int64_t now;
	/* fill each action's changes (what the JSON plan shows); a pass that
	 * only carries the plan out need not spend the memory */
	bool describe;
	bool allow_replace, allow_empty;
	long max_deletions; /* < 0: no cap */
	const char *max_deletions_from; /* who set the cap, for the refusal (NULL: "--max-deletions") */
} plan_input_t;

/* Strings in a plan that are not the plan's own (names, the scope, the
 * provider names, the spec/record/observed pointers) are borrowed from the
 * plan_input: the plan must not outlive its inputs. */
typedef struct plan {
	const char *scope;  /* plan_input.scope */
	action_t *v;        /* sorted by name, then kind */
	size_t n;
	size_t n_changes;   /* actions other than noop/unknown that are not refused,
	                     * and noops with a certificate action */
	size_t n_cert;      /* certificate actions */
	size_t n_unknown;
	bool refused;       /* some action was held back by a safety rule (exit 4) */
	/* an input error found while planning (a name active in another scope):
	 * the whole plan is invalid (exit 3) */
	char *invalid;
} plan_t;

/* Returns 0, or -EINVAL with plan->invalid set, or -ENOSPC when new CVMs
 * need more ids than in->new_ids holds. plan_free() in every case. */
int plan_compute(const plan_input_t *in, plan_t *out);
void plan_free(plan_t *p);

/* Takes action i out of the plan (the daemon holding back a delete whose
 * absence is too recent), keeping the counts and the refusal flag true. */
void plan_remove(plan_t *p, size_t i);

/* For people: one line per action ("+ create analytics-01 (reason)"), and a
 * summary line. */
void plan_print_text(const plan_t *p, FILE *f);
/* What the JSON plan says about where it came from (NULL members: null). */
typedef struct plan_meta {
	const char *version;      /* cvmctl's */
	const char *installation; /* the state's installation id */
	const char *const *paths; /* the tree, as given */
	size_t n_paths;
	const char *content_hash; /* tree_content_hash() */
	const char *revision;     /* tree_revision(), or NULL */
	bool allow_replace, allow_empty;
	long max_deletions; /* < 0: none */
} plan_meta_t;

#define PLAN_FORMAT_MAJOR 2
#define PLAN_FORMAT_MINOR 0

/* The JSON plan (format_version 2.0, documented in cvmctl(1)) as a value:
 * stable for the same inputs, with a "checksum" over the rest (plan_file.h).
 * m may be NULL (no provenance: those members are null). */
json_t *plan_to_json_value(const plan_t *p, const plan_meta_t *m);
/* The same as text (sorted keys, two-space indent, no trailing newline).
 * Caller frees. */
char *plan_to_json(const plan_t *p, const plan_meta_t *m);

#endif
