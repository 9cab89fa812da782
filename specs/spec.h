/* The typed, validated specs: what the operator wants. Every value keeps the
 * source position it came from so that later checks (and the plan) can name
 * file:line:column. Loading is pure: it reads files and nothing else. */
#ifndef CVM_SPEC_H
#define CVM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/schema.h"

/* The backends a load knows, as the data they declare (common/schema.h).
 * specs/ never asks providers/ for them: the caller hands them in (the
 * engine passes its registry's, a test its own), so a Provider's fields,
 * a CVM's flavor and its size are checked against whatever is registered. */
typedef struct spec_schemas {
	const backend_schema_t *const *v;
	size_t n;
} spec_schemas_t;

/* The schema of that flavor, or NULL. */
const backend_schema_t *spec_schema_for(const spec_schemas_t *s, const char *flavor);

typedef struct srcpos {
	const char *file; /* owned by the spec_set's file table */
	int line, col;    /* 1-based */
} srcpos_t;

typedef struct label {
	char *key, *value;
} label_t;

typedef struct provider_spec {
	char *name;
	const char *type;                /* backend->flavor; NULL when the type is unknown */
	const backend_schema_t *backend; /* the schema its fields were checked against */
	srcpos_t pos;
	/* shared */
	char *control_plane_url;     /* optional default for the CVMs */
	char *control_plane_ca_file; /* optional default for the CVMs */
	/* the engine's limits for this provider (0: the engine's default) */
	int concurrency;            /* operations in flight at once */
	double requests_per_second; /* mutating requests submitted per second */
	/* The backend's own fields as JSON, named as in YAML (hosts, shareDir,
	 * capacity.vcpus ...), checked against its schema and with its defaults
	 * filled in (durations as integer seconds): what the backend is opened
	 * with and what the state records. Nothing outside the backend reads
	 * them. */
	json_t *settings;
} provider_spec_t;

enum agent_log_level { AGENT_LOG_DEBUG, AGENT_LOG_INFO, AGENT_LOG_WARN, AGENT_LOG_ERROR };
const char *agent_log_level_name(enum agent_log_level l);

typedef struct cvm_spec {
	char *name;
	srcpos_t pos; /* of the document */
	label_t *labels;
	size_t n_labels;
	const char *flavor;              /* backend->flavor; NULL when unknown */
	const backend_schema_t *backend; /* its sizes, its replace rules */
	char *provider;                  /* as written (may be NULL) */
	size_t provider_idx; /* resolved index into spec_set.providers */
	int vcpus;
	int memory_gib;
	struct {
		enum agent_log_level log_level;
		int port;                    /* default 7002 */
		char *control_plane_url;     /* NULL: take the provider's */
		char *control_plane_ca_file; /* NULL: take the provider's, else cvmctl's CA */
	} agent;
	struct {
		int64_t validity_s;     /* default 30d */
		int64_t renew_before_s; /* default 10d */
	} certs;
	bool active; /* state: active (default) | inactive */
	/* Lifecycle, not shape: neither is in the hash. suspend: no action
	 * for it (certificates still renewed); orphan: deletionPolicy Orphan,
	 * removing its spec forgets it and leaves its resource standing. */
	bool suspend;
	bool orphan;
	/* SHA-256 over the canonical form (cvm_spec_canonical_json): the fields
	 * above except name and state, and the Provider settings that reach the
	 * CVM; it is what the backends carry as their drift marker. */
	char hash[65];
} cvm_spec_t;

typedef struct spec_set {
	provider_spec_t *providers;
	size_t n_providers;
	cvm_spec_t *cvms;
	size_t n_cvms;
	/* kind: Scope, at most one per tree: the scope the tree belongs to
	 * (NULL: none declared) and its deletion cap (-1: none). */
	char *scope;
	long scope_max_deletions;
	srcpos_t scope_pos;
	char **files; /* every file name positions point into */
	size_t n_files;
	/* "loaded once: skipped PATH (the same as PATH), ...": paths that
	 * reached a file or directory already loaded, or NULL. An info line
	 * for the caller to print. */
	char *skipped;
} spec_set_t;

/* One problem with a spec, always with where it is. */
typedef struct diag {
	char *file;
	int line, col;
	char *field; /* dotted path, e.g. "spec.agent.logLevel"; may be empty */
	char *msg;
} diag_t;

typedef struct diags {
	diag_t *v;
	size_t n, cap;
} diags_t;

void diags_add(diags_t *d, const char *file, int line, int col, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Prints "file:line:column: field: message" per diagnostic to stderr, sorted
 * by file then position. */
void diags_print(const diags_t *d);
void diags_free(diags_t *d);

/* Loads every *.yaml / *.yml below each path (recursively, skipping hidden
 * files and directories; "-" reads standard input), then validates the whole
 * set (names, references, limits). Provider types and CVM flavors are the
 * backends in `schemas` (which must outlive *out: specs point into it).
 * Returns 0, or -EINVAL with every problem of the load in *d (nothing
 * partial is returned in *out then). */
int spec_load(const char *const *paths, size_t n_paths, const spec_schemas_t *schemas, spec_set_t *out, diags_t *d);
/* The same for one document stream held in memory, named `name` in
 * diagnostics (fuzzing, and callers that already read the file). */
int spec_load_buffer(const char *name, const char *buf, size_t len, const spec_schemas_t *schemas, spec_set_t *out,
                     diags_t *d);
void spec_set_free(spec_set_t *s);

/* The CVM's effective control-plane URL and CA file after provider defaults. */
const char *cvm_control_plane_url(const spec_set_t *s, const cvm_spec_t *c);
const char *cvm_control_plane_ca_file(const spec_set_t *s, const cvm_spec_t *c);

/* The key of the canonical JSON that holds the CVM's Provider settings
 * whose change reaches the CVM (schema effect FX_UPDATE / FX_REPLACE); the
 * plan names them provider.FIELD. */
#define CANONICAL_PROVIDER_KEY "providerSettings"

/* Canonical one-line JSON of the fields that define a CVM (used for the
 * hash and recorded in the store so that a later plan can name which fields
 * changed), its Provider's settings that affect it included. Caller frees. */
char *cvm_spec_canonical_json(const spec_set_t *s, const cvm_spec_t *c);

/* ---- additions (specs/enums.c, specs/diags.c) ---- */

/* Parses "debug" | "info" | "warn" | "error". Returns 0 or -EINVAL. */
int agent_log_level_from_name(const char *s, enum agent_log_level *out);

/* The text diags_print writes (sorted; one "file:line:column: field: message"
 * line each). Caller frees. */
char *diags_format(const diags_t *d);

#endif
