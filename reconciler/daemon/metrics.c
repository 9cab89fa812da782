#include "reconciler/daemon/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/certs.h"

static const double BUCKETS[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])
#define N_RESULTS 5
static const char *const RESULTS[N_RESULTS] = {"ok", "failed", "invalid", "refused", "other"};

/* One cvmctl_actions_total series. */
typedef struct action_count {
	char *provider;
	const char *action, *result; /* static strings */
	unsigned long n;
} action_count_t;

typedef struct cert_expiry {
	char *cvm, id[37];
	int64_t not_after;
} cert_expiry_t;

struct metrics {
	pthread_mutex_t lock;
	unsigned long passes[N_RESULTS];
	unsigned long load_failures;
	action_count_t *actions;
	size_t n_actions;
	unsigned long bucket[N_BUCKETS];
	unsigned long dur_count;
	double dur_sum;
	int64_t last_success, last_pass;
	unsigned long cvms[ST__COUNT];
	cert_expiry_t *certs;
	size_t n_certs;
	bool ready, have_store;
	struct MHD_Daemon *httpd;
};

metrics_t *metrics_new(void) {
	metrics_t *m = xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void free_certs(metrics_t *m) {
	for (size_t i = 0; i < m->n_certs; i++) free(m->certs[i].cvm);
	free(m->certs);
	m->certs = NULL;
	m->n_certs = 0;
}

void metrics_free(metrics_t *m) {
	if (!m) return;
	if (m->httpd) MHD_stop_daemon(m->httpd);
	free_certs(m);
	for (size_t i = 0; i < m->n_actions; i++) free(m->actions[i].provider);
	free(m->actions);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void metrics_pass(metrics_t *m, const pass_report_t *r, int64_t now) {
	pthread_mutex_lock(&m->lock);
	int res = r->code == 0 ? 0 : r->code == 1 ? 1 : r->code == 3 ? 2 : r->code == 4 ? 3 : 4;
	m->passes[res]++;
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (r->seconds <= BUCKETS[i]) m->bucket[i]++;
	m->dur_count++;
	m->dur_sum += r->seconds;
	m->last_pass = now;
	if (r->code == 0) m->last_success = now;
	pthread_mutex_unlock(&m->lock);
}

void metrics_on_result(void *ctx, const char *provider, const char *action, const char *result) {
	metrics_t *m = ctx;
	pthread_mutex_lock(&m->lock);
	action_count_t *c = NULL;
	for (size_t i = 0; i < m->n_actions && !c; i++)
		if (!strcmp(m->actions[i].provider, provider) && !strcmp(m->actions[i].action, action) &&
		    !strcmp(m->actions[i].result, result))
			c = &m->actions[i];
	if (!c) {
		m->actions = xrealloc(m->actions, (m->n_actions + 1) * sizeof *m->actions);
		c = &m->actions[m->n_actions++];
		*c = (action_count_t){.provider = xstrdup(provider), .action = action, .result = result};
	}
	c->n++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_load_failed(metrics_t *m) {
	pthread_mutex_lock(&m->lock);
	m->load_failures++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_ready(metrics_t *m, bool ready) {
	pthread_mutex_lock(&m->lock);
	m->ready = ready;
	pthread_mutex_unlock(&m->lock);
}

void metrics_refresh(metrics_t *m, store_t *st) {
	cvm_record_t *v = NULL;
	size_t n = 0;
	if (store_list_cvms(st, NULL, &v, &n) < 0) return;
	unsigned long counts[ST__COUNT] = {0};
	cert_expiry_t *certs = xcalloc(n + 1, sizeof *certs);
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].status < ST__COUNT) counts[v[i].status]++;
		if (v[i].status == ST_INACTIVE) continue;
		cert_record_t c = {0};
		if (certs_current_default(st, v[i].id, &c) < 0) continue;
		certs[nc].cvm = xstrdup(v[i].name);
		memcpy(certs[nc].id, v[i].id, sizeof certs[nc].id);
		certs[nc++].not_after = c.not_after;
		cert_record_free(&c);
	}
	cvm_records_free(v, n);
	pthread_mutex_lock(&m->lock);
	memcpy(m->cvms, counts, sizeof counts);
	free_certs(m);
	m->certs = certs;
	m->n_certs = nc;
	m->have_store = true;
	pthread_mutex_unlock(&m->lock);
}

/* Label values here are CVM names and ids (validated DNS-style names and
 * UUIDs), but escape as the format says anyway. */
static void add_label(strbuf *sb, const char *v) {
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"') sb_addf(sb, "\\%c", *p);
		else if (*p == '\n') sb_add(sb, "\\n");
		else sb_addn(sb, p, 1);
	}
}

char *metrics_render(metrics_t *m) {
	strbuf sb = {0};
	pthread_mutex_lock(&m->lock);
	sb_add(&sb, "# HELP cvmctl_passes_total Reconcile passes run, by result.\n# TYPE cvmctl_passes_total counter\n");
	for (size_t i = 0; i < N_RESULTS; i++)
		sb_addf(&sb, "cvmctl_passes_total{result=\"%s\"} %lu\n", RESULTS[i], m->passes[i]);
	sb_add(&sb, "# HELP cvmctl_tree_load_failures_total Spec tree loads that failed (no pass ran).\n"
	            "# TYPE cvmctl_tree_load_failures_total counter\n");
	sb_addf(&sb, "cvmctl_tree_load_failures_total %lu\n", m->load_failures);
	sb_add(&sb, "# HELP cvmctl_actions_total Plan actions, by Provider, action and result "
	            "(ok, failed, refused, unknown).\n# TYPE cvmctl_actions_total counter\n");
	for (size_t i = 0; i < m->n_actions; i++) {
		sb_add(&sb, "cvmctl_actions_total{provider=\"");
		add_label(&sb, m->actions[i].provider);
		sb_addf(&sb, "\",action=\"%s\",result=\"%s\"} %lu\n", m->actions[i].action, m->actions[i].result,
		        m->actions[i].n);
	}
	sb_add(&sb, "# HELP cvmctl_pass_duration_seconds How long a pass took.\n"
	            "# TYPE cvmctl_pass_duration_seconds histogram\n");
	for (size_t i = 0; i < N_BUCKETS; i++)
		sb_addf(&sb, "cvmctl_pass_duration_seconds_bucket{le=\"%g\"} %lu\n", BUCKETS[i], m->bucket[i]);
	sb_addf(&sb, "cvmctl_pass_duration_seconds_bucket{le=\"+Inf\"} %lu\n", m->dur_count);
	sb_addf(&sb, "cvmctl_pass_duration_seconds_sum %.6f\n", m->dur_sum);
	sb_addf(&sb, "cvmctl_pass_duration_seconds_count %lu\n", m->dur_count);
	sb_add(&sb, "# HELP cvmctl_last_success_timestamp_seconds When the last pass that succeeded ended (0: none).\n"
	            "# TYPE cvmctl_last_success_timestamp_seconds gauge\n");
	sb_addf(&sb, "cvmctl_last_success_timestamp_seconds %lld\n", (long long)m->last_success);
	if (m->have_store) {
		sb_add(&sb, "# HELP cvmctl_cvms CVMs in the state, by status.\n# TYPE cvmctl_cvms gauge\n");
		for (int s = 0; s < ST__COUNT; s++)
			sb_addf(&sb, "cvmctl_cvms{status=\"%s\"} %lu\n", cvm_status_name((cvm_status_t)s), m->cvms[s]);
		sb_add(&sb, "# HELP cvmctl_certificate_expiry_timestamp_seconds When each active CVM's default "
		            "certificate expires.\n# TYPE cvmctl_certificate_expiry_timestamp_seconds gauge\n");
		for (size_t i = 0; i < m->n_certs; i++) {
			sb_add(&sb, "cvmctl_certificate_expiry_timestamp_seconds{cvm=\"");
			add_label(&sb, m->certs[i].cvm);
			sb_addf(&sb, "\",id=\"%s\"} %lld\n", m->certs[i].id, (long long)m->certs[i].not_after);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return sb.buf ? sb.buf : xstrdup("");
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload, size_t *upload_len, void **req) {
	(void)version, (void)upload, (void)upload_len, (void)req;
	metrics_t *m = cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return MHD_NO;
	char *body;
	unsigned status = MHD_HTTP_OK;
	const char *ctype = "text/plain; charset=utf-8";
	if (strcmp(url, "/metrics") == 0) {
		body = metrics_render(m);
		ctype = "text/plain; version=0.0.4; charset=utf-8";
	} else if (strcmp(url, "/healthz") == 0) {
		body = xstrdup("ok\n");
	} else if (strcmp(url, "/readyz") == 0) {
		pthread_mutex_lock(&m->lock);
		bool ready = m->ready;
		pthread_mutex_unlock(&m->lock);
		status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
		body = xstrdup(ready ? "ready\n" : "not ready\n");
	} else {
		status = MHD_HTTP_NOT_FOUND;
		body = xstrdup("not found\n");
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", ctype);
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

int metrics_serve(metrics_t *m, const char *addr, const char *port_file) {
	_cleanup_free_ char *host = xstrdup(addr);
	char *colon = strrchr(host, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || !end || *end || end == colon + 1 || port < 0 || port > 65535) {
		log_error("--metrics-addr needs HOST:PORT, such as 127.0.0.1:9464, not '%s'", addr);
		return -EINVAL;
	}
	*colon = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		log_error("--metrics-addr needs an IPv4 address, not '%s'", host);
		return -EINVAL;
	}
	m->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, m, MHD_OPTION_SOCK_ADDR,
	                            &sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!m->httpd) {
		log_error("cannot serve metrics on %s: %s", addr, strerror(errno ? errno : EADDRINUSE));
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = info ? info->port : (unsigned)port;
	log_info("serving metrics on http://%s:%u/metrics", host, bound);
	if (port_file) {
		char buf[16];
		int n = snprintf(buf, sizeof buf, "%u\n", bound);
		int r = write_file_atomic(port_file, buf, (size_t)n, 0644);
		if (r < 0) {
			log_error("cannot write %s: %s", port_file, strerror(-r));
			return r;
		}
	}
	return 0;
}

int metrics_write_textfile(metrics_t *m, const char *path) {
	_cleanup_free_ char *text = metrics_render(m);
	int r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0) log_error("cannot write the metrics textfile %s: %s", path, strerror(-r));
	return r;
}
