/* The provider seam: one vtable for every backend (gcp, azure, manager, and
 * fake in test builds). Nothing above providers/ knows which backend it
 * talks to; backends know nothing of specs, the store or the CA: they
 * receive plain values and file bytes.
 *
 * The engine never calls the vtable directly: it goes through the prov_*()
 * functions below, which check arguments and missing operations once, for
 * every backend.
 *
 * Threading contract:
 *  - calls on one provider_t are serialised by the engine: never two at once
 *    on the same provider_t, from whichever thread;
 *  - different provider_t may be used at the same time from different
 *    threads (a pass observes every provider at once);
 *  - a backend may run threads of its own (the manager backend has one worker
 *    per host); results reach the engine only through poll();
 *  - no call blocks longer than the backend's call timeout (connect
 *    included): a place that cannot answer in time is reported unknown
 *    (observe) or fails the call (-ETIMEDOUT), it never hangs the pass.
 *
 * Errors: every operation returns 0 (or a documented positive value) or a
 * negative errno, and on failure sets call->err (or *err) to one malloc'ed
 * sentence saying what went wrong where; the engine records it on the CVM
 * and reports it once. -EAGAIN means "throttled, not failed": submit again
 * after call->again_ms. */
#ifndef CVM_PROVIDER_H
#define CVM_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/schema.h"

/* A backend connection's settings, from a Provider spec (or, without the
 * spec tree, from what the last pass recorded). */
typedef struct provider_config {
	const char *name;       /* the Provider's metadata.name */
	const char *flavor;     /* its type */
	const json_t *settings; /* the backend's own fields, checked and defaulted by its schema */
	const char *state_dir;  /* the state directory: backend-local defaults live below it */
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
	char *handle; /* the backend's own address of it (opaque above providers/); may be NULL */
	char *url;    /* may be NULL (no address yet) */
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
void observed_copy(observed_t *dst, const observed_t *src);

/* What cvmctl already placed, for capacity accounting. */
typedef struct placement_use {
	const char *placement;
	int vcpus;
	int memory_gib;
} placement_use_t;

/* The resource an operation acts on: what the backend observed of it this
 * pass (observed != NULL), or what the state recorded (placement, handle)
 * when it was not seen. */
typedef struct prov_target {
	const char *id;
	const char *name;
	const char *placement;
	const char *handle;         /* from the observation, else the record; may be NULL */
	const observed_t *observed; /* NULL: not seen this pass */
} prov_target_t;

typedef struct provider provider_t; /* backend-private */
typedef struct prov_op prov_op_t;   /* a submitted long-running operation, backend-private */

/* One call's results besides its return value. The engine zeroes it before
 * each call and frees err and handle after. */
typedef struct prov_call {
	prov_op_t *op; /* set when the work goes on after the call returns: poll it */
	int again_ms;  /* poll (or, after -EAGAIN, submit) again no sooner than this; 0: no opinion */
	char *handle;  /* create, when done: the backend's address of the new resource */
	char *err;     /* on failure: one sentence */
} prov_call_t;

typedef struct provider_ops {
	const char *flavor;
	/* Reads cfg->settings (already checked against the schema) and
	 * prepares to connect. Connecting itself may be lazy: a place that
	 * cannot be reached is not an error here; observe() reports it. */
	int (*open)(const provider_config_t *cfg, provider_t **out, char **err);
	void (*close)(provider_t *p);
	/* Every resource carrying `managed-by: cvmctl` markers, whatever its
	 * installation or scope (the plan decides what is ours). Foreign
	 * resources are not reported. `known` is what the state recorded of the
	 * resources it believes exist (id, name, markers, placement, handle,
	 * state, url): a backend may take a recorded resource's markers from it
	 * instead of asking for them again, as long as it checks that the
	 * resource is still there under that id and in that state. A converged
	 * pass then costs a few calls per place, not calls per resource. */
	int (*observe)(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err);
	/* Chooses where a new CVM goes, given what cvmctl already placed.
	 * Unknown places are never chosen. -ENOSPC when nothing fits. May use
	 * what the last observe() learnt; must not block for long. */
	int (*place)(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
	             char **placement, char **err);
	/* Submits a create; idempotent per (id, attempt): a retry after a crash
	 * finds the resource that attempt made and carries on. Done at once:
	 * 0 with call->op NULL (and call->handle); otherwise call->op. */
	int (*create)(provider_t *p, const cvm_desired_t *want, prov_call_t *call);
	/* Polls a submitted operation: 1 done (call->handle for a create),
	 * 0 still running (call->again_ms: when to ask again, from Retry-After
	 * or the backend's own estimate), or a negative errno: it failed. */
	int (*poll)(provider_t *p, prov_op_t *op, prov_call_t *call);
	void (*op_free)(prov_op_t *op);
	/* Deletes the resource and everything it owns (disks, addresses, host
	 * share directories, also at old paths); absent is success. */
	int (*remove)(provider_t *p, const prov_target_t *t, prov_call_t *call);
	/* Starts a stopped resource. */
	int (*start)(provider_t *p, const prov_target_t *t, prov_call_t *call);
	/* Rewrites the delivery channel (certificates, agent environment,
	 * markers) of a live resource, where the resource reads it (for a
	 * manager domain: the share directory its XML mounts). */
	int (*update)(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call);
} provider_ops_t;

/* A built-in backend: its schema always (validate works for every flavor),
 * its ops when the backend is built into this cvmctl. */
typedef struct provider_backend {
	const backend_schema_t *schema;
	const provider_ops_t *ops; /* NULL: not built in */
} provider_backend_t;

/* Every backend this cvmctl knows (the fake one only in test builds). */
const provider_backend_t *const *provider_backends(size_t *n);
const provider_backend_t *provider_backend_for(const char *flavor); /* NULL if unknown */
const backend_schema_t *provider_schema_for(const char *flavor);     /* NULL if unknown */
const provider_ops_t *provider_ops_for(const char *flavor);         /* NULL if not built in */

/* ---- the thin layer the engine calls ----
 * Each checks its arguments (a valid id, a name, a placement where one is
 * needed), turns a missing operation into -ENOSYS with a sentence, and
 * makes sure a failure always carries call->err. */
int prov_open(const provider_ops_t *ops, const provider_config_t *cfg, provider_t **out, char **err);
int prov_observe(const provider_ops_t *ops, provider_t *p, const observed_t *known, size_t n_known,
                 observation_t *out, char **err);
int prov_place(const provider_ops_t *ops, provider_t *p, const cvm_desired_t *want, const placement_use_t *used,
               size_t n_used, char **placement, char **err);
int prov_create(const provider_ops_t *ops, provider_t *p, const cvm_desired_t *want, prov_call_t *call);
int prov_poll(const provider_ops_t *ops, provider_t *p, prov_op_t *op, prov_call_t *call);
void prov_op_free(const provider_ops_t *ops, prov_op_t *op);
int prov_remove(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, prov_call_t *call);
int prov_start(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, prov_call_t *call);
int prov_update(const provider_ops_t *ops, provider_t *p, const prov_target_t *t, const cvm_desired_t *want,
                prov_call_t *call);
void prov_call_clear(prov_call_t *call); /* frees err and handle, zeroes it */

extern const provider_ops_t manager_provider_ops, gcp_provider_ops, azure_provider_ops;
extern const backend_schema_t manager_schema, gcp_schema, azure_schema;
#ifdef CVM_TEST_HOOKS
extern const provider_ops_t fake_provider_ops;
extern const backend_schema_t fake_schema;
#endif

#endif
