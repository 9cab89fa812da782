/* Host workers: one thread and one connection per host, a queue of jobs,
 * and the bound every job runs under (see backend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/manager/backend.h"

#ifdef CVM_TEST_HOOKS
manager_test_calls_t manager_test_calls;
#endif

void lv_capture(lv_error_t *e) {
	const char *m = virGetLastErrorMessage();
	e->code = virGetLastErrorCode();
	free(e->msg);
	e->msg = xstrdup(m && *m ? m : "unknown libvirt error");
}

void lv_error_clear(lv_error_t *e) {
	free(e->msg);
	memset(e, 0, sizeof *e);
}

/* ---- URIs with a worker stuck in a call, process-wide ---- */

typedef struct stuck {
	char *uri;
	time_t since;
	struct stuck *next;
} stuck_t;

static pthread_mutex_t stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static stuck_t *stuck_list;

static bool stuck_find(const char *uri, time_t *since) {
	pthread_mutex_lock(&stuck_lock);
	stuck_t *s = stuck_list;
	while (s && strcmp(s->uri, uri) != 0) s = s->next;
	if (s) *since = s->since;
	pthread_mutex_unlock(&stuck_lock);
	return s != NULL;
}

static void stuck_add(const char *uri) {
	stuck_t *s = xcalloc(1, sizeof *s);
	s->uri = xstrdup(uri);
	s->since = time(NULL);
	pthread_mutex_lock(&stuck_lock);
	s->next = stuck_list;
	stuck_list = s;
	pthread_mutex_unlock(&stuck_lock);
}

static void stuck_remove(const char *uri) {
	pthread_mutex_lock(&stuck_lock);
	for (stuck_t **sp = &stuck_list; *sp; sp = &(*sp)->next) {
		if (strcmp((*sp)->uri, uri) != 0) continue;
		stuck_t *s = *sp;
		*sp = s->next;
		free(s->uri);
		free(s);
		break;
	}
	pthread_mutex_unlock(&stuck_lock);
}

/* ---- jobs ---- */

mjob_t *job_new(mhost_t *h, mjob_fn fn) {
	mjob_t *j = xcalloc(1, sizeof *j);
	j->h = h;
	j->fn = fn;
	return j;
}

cvm_desired_t *want_dup(const cvm_desired_t *w) {
	cvm_desired_t *d = xcalloc(1, sizeof *d);
	*d = *w;
	d->id = xstrdup(w->id);
	d->name = xstrdup(w->name);
	d->scope = xstrdup(w->scope);
	d->installation = xstrdup(w->installation);
	d->spec_hash = xstrdup(w->spec_hash);
	d->attempt = xstrdup(w->attempt);
	d->placement = xstrdup(w->placement);
	d->labels = NULL; /* libvirt domains carry none */
	d->n_labels = 0;
	prov_file_t *f = xcalloc(w->n_files + 1, sizeof *f);
	for (size_t i = 0; i < w->n_files; i++) {
		f[i].dir = xstrdup(w->files[i].dir);
		f[i].name = xstrdup(w->files[i].name);
		unsigned char *data = xmalloc(w->files[i].len + 1);
		memcpy(data, w->files[i].data, w->files[i].len);
		f[i].data = data;
		f[i].len = w->files[i].len;
	}
	d->files = f;
	return d;
}

static void want_free(cvm_desired_t *d) {
	if (!d) return;
	free((char *)d->id);
	free((char *)d->name);
	free((char *)d->scope);
	free((char *)d->installation);
	free((char *)d->spec_hash);
	free((char *)d->attempt);
	free((char *)d->placement);
	for (size_t i = 0; i < d->n_files; i++) {
		free((char *)d->files[i].dir);
		free((char *)d->files[i].name);
		free((unsigned char *)d->files[i].data);
	}
	free((prov_file_t *)d->files);
	free(d);
}

static void job_free(mjob_t *j) {
	want_free(j->want);
	free(j->id);
	free(j->name);
	free(j->handle);
	for (size_t i = 0; i < j->n_known; i++) observed_free(&j->known[i]);
	free(j->known);
	free(j->err);
	free(j->out_handle);
	observation_free(&j->obs);
	for (size_t i = 0; i < j->n_seen; i++) {
		free(j->seen[i].name);
		free(j->seen[i].id);
	}
	free(j->seen);
	free(j);
}

static void job_maybe_free(mjob_t *j) {
	if (j->worker_gone && j->owner_gone) job_free(j);
}

/* The owner-visible result; the first one set wins (a timeout, or the
 * worker). */
static void job_finish(mjob_t *j, int rc, const char *err) {
	if (j->done) return;
	j->rc = rc;
	free(j->err);
	j->err = rc < 0 ? xstrdup(err ? err : strerror(-rc)) : NULL;
	j->done = true;
}

/* ---- hosts (p->lock held unless said otherwise) ---- */

static int budget_s(const provider_t *p) {
	return p->connect_timeout_s + p->call_timeout_s;
}

static void mono_now(struct timespec *ts) {
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static double elapsed_s(const struct timespec *since) {
	struct timespec now;
	mono_now(&now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Out for the rest of the provider's life: queued jobs fail now, later
 * ones at submission. */
static void host_down_locked(mhost_t *h, int rc, const char *why) {
	if (h->down) return;
	h->down = xstrdup(why);
	h->down_rc = rc;
	while (h->head) {
		mjob_t *j = h->head;
		h->head = j->next;
		job_finish(j, rc, why);
		j->worker_gone = true;
		job_maybe_free(j);
	}
	h->tail = NULL;
	pthread_cond_broadcast(&h->cond);
}

/* The job being run has had its time: the host is down, and its worker is
 * left to its call. */
static void check_bound_locked(mhost_t *h) {
	mjob_t *j = h->current;
	if (!j || j->done || elapsed_s(&j->started) < budget_s(h->p)) return;
	_cleanup_free_ char *why = xasprintf("host %s did not answer within %d s (connectTimeout %d s + callTimeout %d s)",
	                                     h->uri, budget_s(h->p), h->p->connect_timeout_s, h->p->call_timeout_s);
	job_finish(j, -ETIMEDOUT, why);
	j->stuck = true;
	stuck_add(h->uri);
	host_down_locked(h, -ETIMEDOUT, why);
}

static void set_keepalive(mhost_t *h, virConnectPtr c) {
	/* Dead after interval * (count + 1) = callTimeout of silence. */
	int interval = h->p->call_timeout_s / 3 > 0 ? h->p->call_timeout_s / 3 : 1;
	if (virConnectSetKeepAlive(c, interval, 2) < 0) {
		/* In-process drivers (test:///default) have no peer to lose. */
		_cleanup_lverr_ lv_error_t e = {0};
		lv_capture(&e);
		log_debug("no keepalive on %s: %s", h->uri, e.msg);
	}
}

#ifdef CVM_TEST_HOOKS
/* CVMCTL_TEST_MANAGER_DELAY_MS=N: every job waits N ms before it starts,
 * so that an end-to-end test can stop a daemon in the middle of a pass. */
static void test_delay(void) {
	const char *v = getenv("CVMCTL_TEST_MANAGER_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	if (ms > 0) nanosleep(&ts, NULL);
}
#else
static void test_delay(void) {}
#endif

/* Called on the worker, unlocked: the connection, then the job. */
static int run_one(mhost_t *h, mjob_t *j, char **err) {
	provider_t *p = h->p;
	test_delay();
	if (!h->conn) {
		LV_COUNT(connect);
		virConnectPtr c = virConnectOpen(h->uri);
		if (!c) {
			_cleanup_lverr_ lv_error_t e = {0};
			lv_capture(&e);
			*err = xasprintf("cannot connect to %s: %s", h->uri, e.msg);
			pthread_mutex_lock(&p->lock);
			host_down_locked(h, -EHOSTUNREACH, *err);
			pthread_mutex_unlock(&p->lock);
			return -EHOSTUNREACH;
		}
		set_keepalive(h, c);
		h->conn = c;
		h->libver = 0; /* a new connection: ask again */
	}
	int rc = j->fn(h, h->conn, j, err);
	if (rc < 0 && virConnectIsAlive(h->conn) != 1) {
		_cleanup_free_ char *why = xasprintf("lost the connection to %s: %s", h->uri, *err ? *err : strerror(-rc));
		pthread_mutex_lock(&p->lock);
		host_down_locked(h, -EHOSTUNREACH, why);
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

static void *worker_main(void *arg) {
	mhost_t *h = arg;
	provider_t *p = h->p;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!h->head && !h->quit) pthread_cond_wait(&h->cond, &p->lock);
		mjob_t *j = h->head;
		if (!j) break;
		h->head = j->next;
		if (!h->head) h->tail = NULL;
		j->running = true;
		mono_now(&j->started);
		h->current = j;
		pthread_mutex_unlock(&p->lock);
		char *err = NULL;
		int rc = run_one(h, j, &err);
		pthread_mutex_lock(&p->lock);
		h->current = NULL;
		job_finish(j, rc, err);
		free(err);
		if (j->stuck) stuck_remove(h->uri);
		j->worker_gone = true;
		job_maybe_free(j);
		pthread_cond_broadcast(&h->cond);
	}
	virConnectPtr c = h->conn;
	h->conn = NULL;
	pthread_mutex_unlock(&p->lock);
	if (c) virConnectClose(c);
	pthread_mutex_lock(&p->lock);
	h->exited = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&p->lock);
	provider_unref(p);
	return NULL;
}

static int start_worker_locked(mhost_t *h) {
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	h->p->refs++;
	int r = pthread_create(&t, &attr, worker_main, h);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		h->p->refs--;
		return -r;
	}
	h->worker = true;
	return 0;
}

void host_submit(mhost_t *h, mjob_t *j) {
	provider_t *p = h->p;
	pthread_mutex_lock(&p->lock);
	time_t since;
	if (!h->down && !h->worker && stuck_find(h->uri, &since)) {
		_cleanup_free_ char *why = xasprintf("host %s has not answered a call made %lld s ago", h->uri,
		                                     (long long)(time(NULL) - since));
		host_down_locked(h, -ETIMEDOUT, why);
	}
	int r = h->down || h->worker ? 0 : start_worker_locked(h);
	if (h->down || r < 0 || h->quit) {
		_cleanup_free_ char *why = r < 0 ? xasprintf("cannot start a worker for %s: %s", h->uri, strerror(-r)) : NULL;
		job_finish(j, h->down ? h->down_rc : r < 0 ? r : -ECANCELED,
		           h->down ? h->down : why ? why : "the provider is closing");
		j->worker_gone = true;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (h->tail) h->tail->next = j;
	else h->head = j;
	h->tail = j;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Until the job being run must end (its bound), or a short while. */
static void wait_step_locked(mhost_t *h) {
	struct timespec ts;
	mono_now(&ts);
	if (h->current && !h->current->done) {
		ts = h->current->started;
		ts.tv_sec += budget_s(h->p);
		ts.tv_nsec += 10 * 1000000L;
	} else {
		ts.tv_nsec += 100 * 1000000L;
	}
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&h->cond, &h->p->lock, &ts);
}

int host_wait(mjob_t *j) {
	mhost_t *h = j->h;
	pthread_mutex_lock(&h->p->lock);
	while (!j->done) {
		check_bound_locked(h);
		if (!j->done) wait_step_locked(h);
	}
	int rc = j->rc;
	pthread_mutex_unlock(&h->p->lock);
	return rc;
}

int job_poll(mjob_t *j, int *again_ms) {
	mhost_t *h = j->h;
	pthread_mutex_lock(&h->p->lock);
	check_bound_locked(h);
	int done = j->done;
	/* Define + start on a test driver take a millisecond, on QEMU a few
	 * hundred: ask soon, and sooner the closer the job is to its turn. */
	if (!done) *again_ms = j->running ? 2 : 5;
	pthread_mutex_unlock(&h->p->lock);
	return done;
}

void job_release(mjob_t *j) {
	if (!j) return;
	mhost_t *h = j->h;
	pthread_mutex_lock(&h->p->lock);
	if (!j->running && !j->worker_gone) {
		/* Still queued: nobody wants it any more. */
		mjob_t **jp = &h->head;
		while (*jp && *jp != j) jp = &(*jp)->next;
		if (*jp) *jp = j->next;
		h->tail = NULL;
		for (mjob_t *q = h->head; q; q = q->next) h->tail = q;
		j->worker_gone = true;
	}
	j->owner_gone = true;
	job_maybe_free(j);
	pthread_mutex_unlock(&h->p->lock);
}

/* Tells every worker to finish and waits, within the bound, for those of
 * hosts that still answer; a stuck one is left behind. */
void host_stop_all(provider_t *p) {
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_hosts; i++) {
		p->hosts[i].quit = true;
		pthread_cond_broadcast(&p->hosts[i].cond);
	}
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		while (h->worker && !h->exited && !(h->down && h->current)) {
			check_bound_locked(h);
			if (!(h->down && h->current)) wait_step_locked(h);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

static void provider_free(provider_t *p) {
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		pthread_cond_destroy(&h->cond);
		for (size_t k = 0; k < h->n_seen; k++) {
			free(h->seen[k].name);
			free(h->seen[k].id);
		}
		free(h->seen);
		free(h->uri);
		free(h->down);
	}
	pthread_mutex_destroy(&p->lock);
	free(p->hosts);
	free(p->name);
	free(p->firmware);
	free(p->kernel);
	free(p->initrd);
	free(p->cmdline);
	free(p->domain_type);
	free(p->cpu_model);
	free(p->network);
	free(p->share_dir);
	free(p);
}

void provider_unref(provider_t *p) {
	pthread_mutex_lock(&p->lock);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last) provider_free(p);
}

mhost_t *find_host(provider_t *p, const char *uri) {
	for (size_t i = 0; uri && i < p->n_hosts; i++)
		if (strcmp(p->hosts[i].uri, uri) == 0) return &p->hosts[i];
	return NULL;
}
