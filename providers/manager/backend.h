/* Inside the manager backend: the provider, its hosts and their workers.
 * Not for use outside providers/manager/.
 *
 * Every host has one worker thread (started on first use) that owns the
 * host's one libvirt connection for the life of the provider (a pass) and
 * runs the host's jobs in order: observe, node info, create, remove, start,
 * update. The engine's calls only queue jobs and look at their results, so
 * a host that does not answer holds up nothing but its own jobs.
 *
 * The bound. A job may run for connectTimeout + callTimeout (defaults 10 s
 * + 20 s = 30 s) from the moment it starts; whoever waits for it (observe,
 * place) or polls it (operations) declares the host down when that passes.
 * Keepalive on the connection (callTimeout / 3 s interval, 2 probes) makes
 * libvirt itself fail a call on a peer that stopped answering mid-call
 * within callTimeout; the wall-clock check also covers a connect, which
 * has no keepalive yet. A host that is down (timed out, refused the
 * connection or lost it) stays down for the rest of the provider's life:
 * its queued and later jobs fail at once with the reason, its CVMs are
 * Unknown for the pass. A worker stuck in a call that never returns is
 * abandoned, not waited for: it keeps the provider's memory alive until
 * the call returns (SIGCONT), and while it is stuck no later provider
 * starts another worker on that URI (process-wide registry), so a watch
 * daemon leaks at most one thread per stuck host, not one per pass. */
#ifndef CVM_MANAGER_BACKEND_H
#define CVM_MANAGER_BACKEND_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "providers/manager/shares.h"
#include "providers/provider.h"

typedef struct mhost mhost_t;
typedef struct prov_op mjob_t; /* an operation handed to the engine is a job */

/* Runs on the host's worker with its live connection; returns 0 or -errno
 * with *err set. It writes its outputs into j, which the owner reads only
 * when the worker, not a timeout, finished the job. */
typedef int (*mjob_fn)(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);

/* A domain name the last observe saw on a host: ours (id set) or not. */
typedef struct seen_name {
	char *name;
	char *id; /* NULL: a domain cvmctl does not own */
} seen_name_t;

struct prov_op {
	mhost_t *h;
	mjob_fn fn;
	/* Inputs, owned copies: a job may outlive the call that queued it. */
	cvm_desired_t *want;
	char *id, *name, *handle;
	observed_t *known; /* observe: the recorded resources of this host, sorted by id */
	size_t n_known;
	/* Outputs. */
	int rc;
	char *err;
	char *out_handle;     /* create: the share root the domain mounts */
	observation_t obs;    /* observe */
	seen_name_t *seen;    /* observe: every domain name on the host */
	size_t n_seen;
	/* Life, guarded by the provider's lock. */
	bool running, done, worker_gone, owner_gone;
	bool stuck; /* timed out while running: registered process-wide */
	struct timespec started;
	mjob_t *next;
};

struct mhost {
	provider_t *p;
	char *uri;
	pthread_cond_t cond; /* with p->lock: a job finished, work arrived, the worker left */
	mjob_t *head, *tail; /* queued, not started */
	mjob_t *current;     /* being run by the worker */
	bool worker, quit, exited;
	char *down;          /* why the host is out for the rest of the provider's life */
	int down_rc;
	/* What the last observe saw (guarded by p->lock). */
	bool observed;
	seen_name_t *seen;
	size_t n_seen;
	bool have_cap;
	int cap_vcpus, cap_memory_gib;
	/* The worker's own. */
	virConnectPtr conn;
	unsigned long libver; /* of conn, read once (0: not yet) */
	bool owner_read;
	manager_owner_t owner;
};

struct provider {
	pthread_mutex_t lock;
	int refs; /* the engine's, and one per live worker */
	char *name;
	mhost_t *hosts;
	size_t n_hosts;
	char *firmware, *kernel, *initrd, *cmdline, *domain_type, *cpu_model, *network, *share_dir;
	bool share_dir_explicit, vtpm, insecure;
	int cap_vcpus, cap_memory_gib;
	int connect_timeout_s, call_timeout_s;
};

/* ---- host.c ---- */
mjob_t *job_new(mhost_t *h, mjob_fn fn);
cvm_desired_t *want_dup(const cvm_desired_t *w);
/* Queues j (or fails it at once when the host is down). */
void host_submit(mhost_t *h, mjob_t *j);
/* Waits until j is done, within the bound; returns j->rc. */
int host_wait(mjob_t *j);
/* 1 done, 0 not yet (*again_ms set), after checking the bound. */
int job_poll(mjob_t *j, int *again_ms);
void job_release(mjob_t *j); /* the owner is done with j */
void host_stop_all(provider_t *p);
void provider_unref(provider_t *p);
mhost_t *find_host(provider_t *p, const char *uri);

/* ---- errors: libvirt's last error, captured before any other call ---- */
typedef struct lv_error {
	int code;
	char *msg;
} lv_error_t;
/* The calling thread's last libvirt error, copied (call it first thing on
 * a failure path: every libvirt API call resets it). */
void lv_capture(lv_error_t *e);
void lv_error_clear(lv_error_t *e);
#define _cleanup_lverr_ __attribute__((cleanup(lv_error_clear)))

/* ---- observe.c ---- */
int observe_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
int nodeinfo_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
/* 1 ours (into *m), 0 not ours or gone, -EIO (e set) libvirt could not say. */
struct manager_meta;
int read_marker(virDomainPtr d, const char *name, struct manager_meta *m, lv_error_t *e);

/* ---- ops.c ---- */
int create_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
int remove_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
int start_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
int update_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);
int locate_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err);

/* ---- counters of libvirt calls that reach a host, for tests ---- */
#ifdef CVM_TEST_HOOKS
#include "providers/manager/manager.h"
#define LV_COUNT(field) __atomic_add_fetch(&manager_test_calls.field, 1, __ATOMIC_RELAXED)
#else
#define LV_COUNT(field) ((void)0)
#endif

#endif
