/* The manager backend: each Provider host is a libvirt URI. Identity is the
 * libvirt UUID (= CVM id); ownership is our <metadata> element, and a
 * domain without it is never listed, started, changed or removed.
 *
 * Each host has a worker thread and one connection for the provider's life
 * (a pass), and every call is bounded (backend.h): observe and place wait
 * for all hosts at once, within connectTimeout + callTimeout; create,
 * remove, start and update return an operation at once, which poll()
 * reports. The engine calls this provider from one thread at a time; the
 * lock below only guards what the engine and the workers share. */
#include "providers/manager/manager.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/manager/backend.h"
#include "providers/manager/placement.h"
#include "providers/manager/shares.h"
#include "providers/provider.h"

static void silent_error(void *userdata, virErrorPtr e) {
	(void)userdata;
	(void)e;
}

/* libvirt ≥ 6 clients no longer time out a blocked call by themselves
 * (virNetClientIOEventLoop computes a keepalive timeout and never uses it):
 * keepalive probes and the dead-peer verdict run as timers of the default
 * event loop, so somebody must run it. */
static void *event_loop(void *arg) {
	(void)arg;
	for (;;) {
		if (virEventRunDefaultImpl() < 0) {
			_cleanup_lverr_ lv_error_t e = {0};
			lv_capture(&e);
			log_debug("libvirt event loop: %s", e.msg);
		}
	}
	return NULL;
}

static void libvirt_init_once(void) {
	/* libvirt writes to sockets without MSG_NOSIGNAL: a daemon dying
	 * under a call would otherwise kill us with SIGPIPE instead of
	 * failing the call. Left alone if someone already chose a handler. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	_cleanup_lverr_ lv_error_t e = {0};
	if (virInitialize() < 0) {
		lv_capture(&e);
		log_error("cannot initialise libvirt: %s", e.msg);
	}
	virSetErrorFunc(NULL, silent_error);
	if (virEventRegisterDefaultImpl() < 0) {
		lv_capture(&e);
		log_warn("libvirt event loop not registered, dead hosts may block calls: %s", e.msg);
		return;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &attr, event_loop, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) log_warn("cannot start the libvirt event thread, dead hosts may block calls: %s", strerror(r));
}

void manager_libvirt_init(void) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, libvirt_init_once);
}

/* ---- observe ---- */

static void add_unknown(observation_t *o, const char *uri, const char *why) {
	o->unknown = xrealloc(o->unknown, (o->n_unknown + 1) * sizeof *o->unknown);
	o->unknown[o->n_unknown].placement = xstrdup(uri);
	o->unknown[o->n_unknown].why = xstrdup(why ? why : "cannot be observed");
	o->n_unknown++;
}

/* The recorded resources that may be on h, copied into its job. */
static void give_known(mjob_t *j, const observed_t *known, size_t n_known) {
	j->known = xcalloc(n_known + 1, sizeof *j->known);
	for (size_t i = 0; i < n_known; i++) {
		if (known[i].placement && strcmp(known[i].placement, j->h->uri) != 0) continue;
		observed_copy(&j->known[j->n_known++], &known[i]);
	}
}

/* Takes what one host's job saw: its resources into out, its names into
 * the host (for later name checks). */
static void take_observation(mhost_t *h, mjob_t *j, observation_t *out) {
	out->v = xrealloc(out->v, (out->n + j->obs.n + 1) * sizeof *out->v);
	if (j->obs.n) memcpy(out->v + out->n, j->obs.v, j->obs.n * sizeof *out->v);
	out->n += j->obs.n;
	j->obs.n = 0;
	pthread_mutex_lock(&h->p->lock);
	for (size_t k = 0; k < h->n_seen; k++) {
		free(h->seen[k].name);
		free(h->seen[k].id);
	}
	free(h->seen);
	h->seen = TAKE_PTR(j->seen);
	h->n_seen = j->n_seen;
	j->n_seen = 0;
	h->observed = true;
	pthread_mutex_unlock(&h->p->lock);
}

static int manager_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err) {
	(void)err;
	memset(out, 0, sizeof *out);
	_cleanup_free_ mjob_t **jobs = xcalloc(p->n_hosts + 1, sizeof *jobs);
	for (size_t i = 0; i < p->n_hosts; i++) {
		jobs[i] = job_new(&p->hosts[i], observe_job);
		give_known(jobs[i], known, n_known);
		host_submit(&p->hosts[i], jobs[i]);
	}
	for (size_t i = 0; i < p->n_hosts; i++) {
		/* Reported once, by the reconciler, which knows what it means for
		 * the pass (the host's CVMs are Unknown). */
		if (host_wait(jobs[i]) < 0) add_unknown(out, p->hosts[i].uri, jobs[i]->err);
		else take_observation(&p->hosts[i], jobs[i], out);
		job_release(jobs[i]);
	}
	out->all_unknown = p->n_hosts > 0 && out->n_unknown == p->n_hosts;
	return 0;
}

/* ---- place ---- */

static int noop_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	(void)h, (void)c, (void)j, (void)err;
	return 0;
}

/* Capacity from the override or the node info (read once per pass);
 * a host is reachable when it answers. */
static int manager_place(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
                         char **placement, char **err) {
	bool fixed = p->cap_vcpus && p->cap_memory_gib;
	_cleanup_free_ mjob_t **jobs = xcalloc(p->n_hosts + 1, sizeof *jobs);
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		pthread_mutex_lock(&p->lock);
		bool known = fixed ? h->observed : h->have_cap;
		pthread_mutex_unlock(&p->lock);
		if (known) continue;
		jobs[i] = job_new(h, fixed ? noop_job : nodeinfo_job);
		host_submit(h, jobs[i]);
	}
	_cleanup_free_ manager_host_capacity_t *caps = xcalloc(p->n_hosts + 1, sizeof *caps);
	_cleanup_free_ char **whys = xcalloc(p->n_hosts + 1, sizeof *whys);
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		if (jobs[i] && host_wait(jobs[i]) < 0) whys[i] = xstrdup(jobs[i]->err);
		job_release(jobs[i]);
		pthread_mutex_lock(&p->lock);
		if (!whys[i] && h->down) whys[i] = xstrdup(h->down);
		caps[i] = (manager_host_capacity_t){
			.uri = h->uri,
			.reachable = !whys[i],
			.why = whys[i],
			.vcpus = p->cap_vcpus ? p->cap_vcpus : h->cap_vcpus,
			.memory_gib = p->cap_memory_gib ? p->cap_memory_gib : h->cap_memory_gib,
		};
		pthread_mutex_unlock(&p->lock);
	}
	size_t chosen;
	int r = manager_choose_host(caps, p->n_hosts, used, n_used, want->vcpus, want->memory_gib, &chosen, err);
	if (r == 0) *placement = xstrdup(p->hosts[chosen].uri);
	for (size_t i = 0; i < p->n_hosts; i++) free(whys[i]);
	return r;
}

/* ---- operations ---- */

/* Queues j on its host and hands it to the engine; a host already known to
 * be down fails it at once. */
static int submit_op(mjob_t *j, prov_call_t *call) {
	host_submit(j->h, j);
	int again = 0;
	if (!job_poll(j, &again)) {
		call->op = j;
		call->again_ms = again;
		return 0;
	}
	int r = j->rc;
	if (r < 0) call->err = xstrdup(j->err);
	else call->handle = xstrdup(j->out_handle);
	job_release(j);
	return r;
}

static int manager_poll(provider_t *p, prov_op_t *op, prov_call_t *call) {
	(void)p;
	int again = 0;
	if (!job_poll(op, &again)) {
		call->again_ms = again;
		return 0;
	}
	if (op->rc < 0) {
		call->err = xstrdup(op->err);
		return op->rc;
	}
	call->handle = xstrdup(op->out_handle);
	return 1;
}

static void manager_op_free(prov_op_t *op) {
	job_release(op);
}

static int manager_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	mhost_t *h = find_host(p, want->placement);
	if (!h) {
		call->err = xasprintf("'%s' is not a host of provider %s", want->placement ? want->placement : "(none)",
		                      p->name);
		return -EINVAL;
	}
	/* Checked before anything else: shareDir has no default that could
	 * stand in for storage the remote host shares with us. */
	if (!p->share_dir_explicit && !manager_uri_is_local(h->uri)) {
		call->err = xasprintf("cannot deliver files to remote host %s: set shareDir on provider %s to a "
		                      "directory on storage shared with that host",
		                      h->uri, p->name);
		return -EOPNOTSUPP;
	}
	mjob_t *j = job_new(h, create_job);
	j->want = want_dup(want);
	return submit_op(j, call);
}

/* Asks every host whether it holds id (all at once, within the bound):
 * 0 with *out, -ENOENT when none does, or why a host could not tell. */
static int locate(provider_t *p, const char *id, mhost_t **out, char **err) {
	_cleanup_free_ mjob_t **jobs = xcalloc(p->n_hosts + 1, sizeof *jobs);
	for (size_t i = 0; i < p->n_hosts; i++) {
		jobs[i] = job_new(&p->hosts[i], locate_job);
		jobs[i]->id = xstrdup(id);
		host_submit(&p->hosts[i], jobs[i]);
	}
	int why_rc = 0;
	for (size_t i = 0; i < p->n_hosts; i++) {
		int ri = host_wait(jobs[i]);
		if (ri == 0 && !*out) *out = &p->hosts[i];
		if (ri < 0 && ri != -ENOENT && !why_rc) {
			/* Cannot tell whether it is there (or it is not ours). */
			why_rc = ri;
			*err = xstrdup(jobs[i]->err);
		}
		job_release(jobs[i]);
	}
	if (*out) {
		free(TAKE_PTR(*err));
		return 0;
	}
	return why_rc ? why_rc : -ENOENT;
}

/* The host a target is on: its placement, else where this pass saw it,
 * else whichever host says it holds it. */
static int target_host(provider_t *p, const prov_target_t *t, mhost_t **out, char **err) {
	const char *where = t->placement ? t->placement : t->observed ? t->observed->placement : NULL;
	if (where) {
		*out = find_host(p, where);
		if (*out) return 0;
		*err = xasprintf("'%s' is not a host of provider %s", where, p->name);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_hosts && !*out; i++)
		for (size_t k = 0; k < p->hosts[i].n_seen && !*out; k++)
			if (p->hosts[i].seen[k].id && strcmp(p->hosts[i].seen[k].id, t->id) == 0) *out = &p->hosts[i];
	pthread_mutex_unlock(&p->lock);
	return *out ? 0 : locate(p, t->id, out, err);
}

static mjob_t *target_job(mhost_t *h, mjob_fn fn, const prov_target_t *t) {
	mjob_t *j = job_new(h, fn);
	j->id = xstrdup(t->id);
	j->name = xstrdup(t->name);
	j->handle = xstrdup(t->handle);
	return j;
}

static int manager_remove(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	mhost_t *h = NULL;
	int r = target_host(p, t, &h, &call->err);
	if (r == -ENOENT) {
		/* On no host: only its share directories may be left. */
		r = manager_shares_remove(p->share_dir, t->id, &call->err);
		if (r == 0 && t->handle) r = manager_shares_remove(t->handle, t->id, &call->err);
		return r;
	}
	if (r < 0) return r;
	return submit_op(target_job(h, remove_job, t), call);
}

static int manager_start(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	mhost_t *h = NULL;
	int r = target_host(p, t, &h, &call->err);
	if (r == -ENOENT) call->err = xasprintf("no domain %s on any host of provider %s", t->id, p->name);
	if (r < 0) return r;
	return submit_op(target_job(h, start_job, t), call);
}

static int manager_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call) {
	mhost_t *h = NULL;
	prov_target_t at = *t;
	if (!at.placement && !at.observed) at.placement = want->placement;
	int r = target_host(p, &at, &h, &call->err);
	if (r == -ENOENT) call->err = xasprintf("no domain %s on any host of provider %s", t->id, p->name);
	if (r < 0) return r;
	mjob_t *j = target_job(h, update_job, t);
	j->want = want_dup(want);
	return submit_op(j, call);
}

/* ---- open, close ---- */

static void manager_close(provider_t *p) {
	if (!p) return;
	host_stop_all(p);
	provider_unref(p);
}

/* A setting, else the schema's default for it (a record written by an older
 * cvmctl may lack one the spec loader fills in today). */
static const char *setting_str(const json_t *s, const char *key) {
	const char *v = json_string_value(json_object_get(s, key));
	return v ? v : manager_default_str(key);
}

static int setting_int(const json_t *s, const char *key) {
	json_t *v = json_object_get(s, key);
	return json_is_integer(v) ? (int)json_integer_value(v) : manager_default_int(key);
}

/* Connections are made on first use, so a host that is down costs nothing
 * until it is needed and a remote host is never contacted by a call that
 * can be refused without it. */
static int manager_open(const provider_config_t *cfg, provider_t **out, char **err) {
	const json_t *s = cfg->settings;
	json_t *hosts = json_object_get(s, "hosts");
	if (json_array_size(hosts) == 0) {
		*err = xasprintf("provider %s lists no hosts", cfg->name);
		return -EINVAL;
	}
	const char *share = setting_str(s, "shareDir");
	if ((!share || !*share) && !cfg->state_dir) {
		*err = xasprintf("provider %s: no shareDir and no state directory to keep CVM shares under", cfg->name);
		return -EINVAL;
	}
	manager_libvirt_init();
	provider_t *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	p->refs = 1;
	p->name = xstrdup(cfg->name);
	p->n_hosts = json_array_size(hosts);
	p->hosts = xcalloc(p->n_hosts, sizeof *p->hosts);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the bound must not move with the wall clock */
	for (size_t i = 0; i < p->n_hosts; i++) {
		p->hosts[i].p = p;
		p->hosts[i].uri = xstrdup(json_string_value(json_array_get(hosts, i)));
		pthread_cond_init(&p->hosts[i].cond, &ca);
	}
	pthread_condattr_destroy(&ca);
	p->firmware = xstrdup(setting_str(s, "firmware"));
	p->kernel = xstrdup(setting_str(s, "kernel"));
	p->initrd = xstrdup(setting_str(s, "initrd"));
	p->cmdline = xstrdup(setting_str(s, "cmdline"));
	p->domain_type = xstrdup(setting_str(s, "domainType"));
	p->cpu_model = xstrdup(setting_str(s, "cpuModel"));
	p->network = xstrdup(setting_str(s, "network"));
	p->share_dir_explicit = share && *share;
	/* Private keys land below the state directory unless told otherwise;
	 * that default is for local hosts only (manager_create refuses a
	 * remote host without an explicit shareDir). */
	p->share_dir = p->share_dir_explicit ? xstrdup(share) : xasprintf("%s/shares", cfg->state_dir);
	p->vtpm = json_is_true(json_object_get(s, "vtpm"));
	p->insecure = json_is_true(json_object_get(s, "insecureNoSEV"));
	json_t *cap = json_object_get(s, "capacity");
	p->cap_vcpus = (int)json_integer_value(json_object_get(cap, "vcpus")); /* 0: ask the host */
	p->cap_memory_gib = (int)json_integer_value(json_object_get(cap, "memoryGiB"));
	/* Seconds (the schema turns durations into seconds); the defaults in
	 * schema.c make 10 + 20 = 30 s for a dead host to become Unknown. */
	p->connect_timeout_s = setting_int(s, "connectTimeout");
	p->call_timeout_s = setting_int(s, "callTimeout");
	if (p->connect_timeout_s < 1) p->connect_timeout_s = 1;
	if (p->call_timeout_s < 1) p->call_timeout_s = 1;
	if (p->insecure)
		log_warn("provider %s: insecureNoSEV is set: its CVMs run WITHOUT SEV-SNP memory encryption or "
		         "attestation",
		         p->name);
	*out = p;
	return 0;
}

const provider_ops_t manager_provider_ops = {
	.flavor = "manager",
	.open = manager_open,
	.close = manager_close,
	.observe = manager_observe,
	.place = manager_place,
	.create = manager_create,
	.poll = manager_poll,
	.op_free = manager_op_free,
	.remove = manager_remove,
	.start = manager_start,
	.update = manager_update,
};
