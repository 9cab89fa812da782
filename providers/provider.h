/* One vtable for every backend (gcp, azure, manager). Nothing above
 * providers/ knows which backend it talks to. Backends know nothing of specs,
 * the store or the CA: they receive plain values and file bytes.
 *
 * Errors: every operation returns 0 or a negative errno, and on failure sets
 * *err to one malloc'ed sentence saying what went wrong where (the caller
 * records it on the CVM and reports it once). */
#ifndef CVM_PROVIDER_H
#define CVM_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A backend connection's settings, mapped from a Provider spec. */
typedef struct provider_config {
	const char *name;   /* the Provider's metadata.name */
	const char *flavor; /* "gcp" | "azure" | "manager" */
	/* gcp */
	const char *project, *zone, *credentials_file, *endpoint;
	/* azure */
	const char *subscription, *resource_group, *location, *tenant, *client_id, *client_secret_file;
	/* manager */
	const char *const *hosts;
	size_t n_hosts;
	const char *firmware, *kernel, *initrd, *cmdline;
	const char *domain_type, *cpu_model, *network, *share_dir;
	bool vtpm, insecure_no_sev;
	int capacity_vcpus, capacity_memory_gib; /* 0: ask the host */
	int call_timeout_s;                      /* per remote call; default 10 */
} provider_config_t;

/* A file delivered into the CVM: `dir` is "certs" (cert.pem, key.pem,
 * ca.pem) or "env" (environment). */
typedef struct prov_file {
	const char *dir;
	const char *name;
	const unsigned char *data;
	size_t len;
} prov_file_t;

/* What one CVM should be, as far as a backend needs to know. */
typedef struct cvm_desired {
	const char *id;           /* UUID: the identity, libvirt UUID on manager hosts */
	const char *name;         /* RFC 1035 label */
	const char *scope;        /* marker */
	const char *installation; /* marker: the state's installation id */
	const char *spec_hash;    /* marker: drift is judged from it */
	const char *attempt;      /* idempotency key of this create attempt */
	const char *placement;    /* host URI or zone, chosen by place() */
	int vcpus;
	int memory_gib;
	int agent_port;
	const char *const *labels; /* key, value, key, value, ... */
	size_t n_labels;           /* pairs */
	const prov_file_t *files;
	size_t n_files;
} cvm_desired_t;

typedef enum res_state {
	RES_RUNNING,
	RES_STOPPED, /* shut off, TERMINATED: start it again */
	RES_PAUSED,
	RES_PENDING, /* provisioning / being deleted */
	RES_OTHER,
} res_state_t;

const char *res_state_name(res_state_t s);

/* One resource that carries our ownership markers. */
typedef struct observed {
	char id[37];
	char *name;
	char *scope;
	char *installation;
	char *spec_hash;
	char *attempt;
	char *placement;
	char *url; /* may be NULL (no address yet) */
	res_state_t state;
	int vcpus;
	int memory_gib;
} observed_t;

/* A place (host or zone) that could not be observed this pass. */
typedef struct unknown_place {
	char *placement;
	char *why;
} unknown_place_t;

typedef struct observation {
	observed_t *v;
	size_t n;
	unknown_place_t *unknown;
	size_t n_unknown;
	bool all_unknown; /* the whole provider could not be observed */
} observation_t;

void observation_free(observation_t *o);
void observed_free(observed_t *o);

/* What cvmctl already placed, for capacity accounting. */
typedef struct placement_use {
	const char *placement;
	int vcpus;
	int memory_gib;
} placement_use_t;

typedef struct provider provider_t; /* backend-private */
typedef struct prov_op prov_op_t;   /* a submitted long-running operation */

typedef struct provider_ops {
	const char *flavor;
	/* Connects (lazily or not). A host that cannot be reached is not an
	 * error here: observe() reports it as unknown. */
	int (*open)(const provider_config_t *cfg, provider_t **out, char **err);
	void (*close)(provider_t *p);
	/* Every resource carrying `managed-by: cvmctl` markers, whatever its
	 * installation or scope (the plan decides what is ours). Foreign
	 * resources are not reported. */
	int (*observe)(provider_t *p, observation_t *out, char **err);
	/* Chooses where a new CVM goes, given what cvmctl already placed.
	 * Unknown places are never chosen. -ENOSPC when nothing fits. */
	int (*place)(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
	             char **placement, char **err);
	/* Submits a create; idempotent per (id, attempt): a retry after a crash
	 * finds the existing resource and carries on. *op is NULL when the create
	 * completed synchronously. */
	int (*create)(provider_t *p, const cvm_desired_t *want, prov_op_t **op, char **err);
	/* Polls a submitted operation: 0 with *done set, or an error. */
	int (*poll)(provider_t *p, prov_op_t *op, bool *done, char **err);
	void (*op_free)(prov_op_t *op);
	/* Deletes the resource and everything it owns; absent is success. */
	int (*remove)(provider_t *p, const char *id, const char *placement, prov_op_t **op, char **err);
	/* Starts a stopped resource. */
	int (*start)(provider_t *p, const char *id, const char *placement, char **err);
	/* Rewrites the delivery channel (certificates, agent environment,
	 * markers) of a live resource. */
	int (*update)(provider_t *p, const cvm_desired_t *want, char **err);
} provider_ops_t;

/* The registry: NULL for a flavor not built in. */
const provider_ops_t *provider_ops_for(const char *flavor);

extern const provider_ops_t manager_provider_ops;

#endif
