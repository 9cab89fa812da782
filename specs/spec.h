/* The typed, validated specs: what the operator wants. Every value keeps the
 * source position it came from so that later checks (and the plan) can name
 * file:line:column. Loading is pure: it reads files and nothing else. */
#ifndef CVM_SPEC_H
#define CVM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum flavor { FLAVOR_INVALID = -1, FLAVOR_GCP = 0, FLAVOR_AZURE, FLAVOR_MANAGER, FLAVOR__COUNT } flavor_t;

const char *flavor_name(flavor_t f);
flavor_t flavor_from_name(const char *s); /* FLAVOR_INVALID if unknown */

typedef struct srcpos {
	const char *file; /* owned by the spec_set's file table */
	int line, col;    /* 1-based */
} srcpos_t;

/* One limit table for all flavors (issue 2): the validator, the plan and the
 * backends read the same numbers. */
typedef struct flavor_limits {
	int min_vcpus, max_vcpus, default_vcpus;
	int max_memory_gib, default_memory_gib;
} flavor_limits_t;
const flavor_limits_t *flavor_limits(flavor_t f);

typedef struct label {
	char *key, *value;
} label_t;

typedef struct provider_spec {
	char *name;
	flavor_t type;
	srcpos_t pos;
	/* shared */
	char *control_plane_url;     /* optional default for the CVMs */
	char *control_plane_ca_file; /* optional default for the CVMs */
	/* gcp */
	char *project, *zone, *credentials_file, *endpoint;
	/* azure */
	char *subscription, *resource_group, *location, *tenant, *client_id, *client_secret_file;
	/* manager */
	char **hosts;
	size_t n_hosts;
	char *firmware, *kernel, *initrd, *cmdline;
	char *domain_type; /* "kvm" (default) or "qemu" */
	char *cpu_model;   /* default "EPYC-Milan" */
	char *network;     /* libvirt network name; optional */
	bool vtpm;
	int capacity_vcpus;      /* 0 = from libvirt node info */
	int capacity_memory_gib; /* 0 = from libvirt node info */
	char *share_dir;         /* host directory for per-CVM files; default /var/lib/cvmctl/shares */
	bool insecure_no_sev;
} provider_spec_t;

enum agent_log_level { AGENT_LOG_DEBUG, AGENT_LOG_INFO, AGENT_LOG_WARN, AGENT_LOG_ERROR };
const char *agent_log_level_name(enum agent_log_level l);

typedef struct cvm_spec {
	char *name;
	srcpos_t pos; /* of the document */
	label_t *labels;
	size_t n_labels;
	flavor_t flavor;
	char *provider;      /* as written (may be NULL) */
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
	/* SHA-256 over the canonical form of every field above except name
	 * position; it is what the backends carry as their drift marker. */
	char hash[65];
} cvm_spec_t;

typedef struct spec_set {
	provider_spec_t *providers;
	size_t n_providers;
	cvm_spec_t *cvms;
	size_t n_cvms;
	char **files; /* every file name positions point into */
	size_t n_files;
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
 * set (names, references, limits). Returns 0, or -EINVAL with every problem
 * of the load in *d (nothing partial is returned in *out then). */
int spec_load(const char *const *paths, size_t n_paths, spec_set_t *out, diags_t *d);
/* The same for one document stream held in memory, named `name` in
 * diagnostics (fuzzing, and callers that already read the file). */
int spec_load_buffer(const char *name, const char *buf, size_t len, spec_set_t *out, diags_t *d);
void spec_set_free(spec_set_t *s);

/* The CVM's effective control-plane URL and CA file after provider defaults. */
const char *cvm_control_plane_url(const spec_set_t *s, const cvm_spec_t *c);
const char *cvm_control_plane_ca_file(const spec_set_t *s, const cvm_spec_t *c);

/* Canonical one-line JSON of the fields that define a CVM (used for the
 * hash and recorded in the store so that a later plan can name which fields
 * changed). Caller frees. */
char *cvm_spec_canonical_json(const spec_set_t *s, const cvm_spec_t *c);

/* ---- additions (specs/flavors.c, specs/diags.c) ---- */

/* Parses "debug" | "info" | "warn" | "error". Returns 0 or -EINVAL. */
int agent_log_level_from_name(const char *s, enum agent_log_level *out);

/* Memory a CVM gets when its spec names no memoryGiB: 4 GiB per vCPU on the
 * clouds (their standard shapes), the table's default on manager hosts. */
int flavor_default_memory_gib(flavor_t f, int vcpus);

/* Checks vcpus/memory against the flavor's limits and sizes. Returns 0, or
 * -EINVAL with the offending field ("vcpus" or "memoryGiB") in *field and a
 * message naming the limit in msg. */
int flavor_check_size(flavor_t f, int vcpus, int memory_gib, const char **field, char *msg, size_t n);

/* The N2D machine type for a size ("n2d-standard-8", "n2d-highmem-4",
 * "n2d-custom-8-24576"), written into buf; NULL if no N2D type fits. */
const char *gcp_machine_type(int vcpus, int memory_gib, char *buf, size_t n);
/* The DCasv5 size name ("Standard_DC8as_v5") into buf; NULL if none fits. */
const char *azure_vm_size(int vcpus, int memory_gib, char *buf, size_t n);

/* The text diags_print writes (sorted; one "file:line:column: field: message"
 * line each). Caller frees. */
char *diags_format(const diags_t *d);

#endif
