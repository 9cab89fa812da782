/* The libmicrohttpd glue: two daemons (HTTPS for OAuth, Compute and the
 * control endpoint; plain HTTP for the guest metadata server), one thread
 * per connection so that hanging GETs (operations.wait, wait_for_change)
 * block only their own client. Every request is handled under emu.lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

static struct MHD_Daemon *tls_daemon, *md_daemon;

const char *req_arg(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void reply_text(struct req *r, int status, const char *ctype, const char *text)
{
	free(r->out);
	r->out = xstrdup(text);
	r->status = status;
	r->ctype = ctype;
}

void reply_json(struct req *r, int status, json_t *v)
{
	free(r->out);
	r->out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	r->status = status;
	r->ctype = "application/json; charset=UTF-8";
}

void reply_header(struct req *r, const char *name, const char *value)
{
	if (r->n_hdr >= 4)
		return;
	r->hdr_name[r->n_hdr] = xstrdup(name);
	r->hdr_value[r->n_hdr] = xstrdup(value);
	r->n_hdr++;
}

json_t *error_body(int code, const char *domain, const char *reason, const char *status_word,
		   const char *message)
{
	json_t *e = json_pack("{s:i,s:s,s:[{s:s,s:s,s:s}]}", "code", code, "message", message, "errors",
			      "message", message, "domain", domain, "reason", reason);
	if (status_word)
		json_object_set_new(e, "status", json_string(status_word));
	return json_pack("{s:o}", "error", e);
}

void reply_error(struct req *r, int code, const char *domain, const char *reason, const char *status_word,
		 const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	reply_json(r, code, error_body(code, domain, reason, status_word, msg));
	free(msg);
}

static void route(struct req *r)
{
	ops_tick();
	if (r->metadata_port) {
		metadata_route(r);
		return;
	}
	if (r->overflow) {
		reply_error(r, 413, "global", "badRequest", NULL, "Request body too large.");
		return;
	}
	if (strncmp(r->path, "/emulator/", 10) == 0) {
		control_route(r);
		return;
	}
	if (strcmp(r->path, "/token") == 0) {
		struct fault *f = fault_match(r, F_STATUS, 0);
		if (f && fault_apply(r, f))
			return;
		oauth_token(r);
		f = fault_match(r, F_DROP, 0);
		if (f && r->status == 200)
			fault_apply(r, f);
		return;
	}
	if (strcmp(r->path, "/sts/v1/token") == 0) {
		oauth_sts(r);
		return;
	}
	if (strncmp(r->path, "/computeMetadata/", 17) == 0) {
		metadata_route(r);
		return;
	}
	if (strncmp(r->path, "/compute/v1/", 12) == 0) {
		char *copy = xstrdup(r->path + 12);
		char *seg[16];
		int n = 0;
		for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
			if (n == 16) {
				n = -1;
				break;
			}
			seg[n++] = t;
		}
		if (n < 0)
			reply_error(r, 404, "global", "notFound", NULL, "The requested URL %s was not found.",
				    r->path);
		else
			compute_route(r, seg, n);
		free(copy);
		return;
	}
	reply_error(r, 404, "global", "notFound", NULL, "The requested URL %s was not found.", r->path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct req *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->conn = conn;
		r->metadata_port = cls != NULL;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > MAX_BODY) {
			r->overflow = true;
		} else {
			char *nb = realloc(r->body, r->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	r->method = method;
	r->path = url;
	r->bearer = "none";
	pthread_mutex_lock(&emu.lock);
	route(r);
	if (!r->out)
		reply_error(r, 500, "global", "backendError", NULL, "Internal error.");
	log_request(r);
	pthread_mutex_unlock(&emu.lock);
	if (r->drop)
		return MHD_NO; /* the side effect happened; the client sees the connection close */
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(r->out), r->out, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", r->ctype);
	for (int i = 0; i < r->n_hdr; i++)
		MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req *r = *con_cls;
	if (!r)
		return;
	free(r->body);
	free(r->out);
	for (int i = 0; i < r->n_hdr; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_value[i]);
	}
	free(r);
	*con_cls = NULL;
}

static struct MHD_Daemon *start_one(bool tls, const char *cert, const char *key, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	if (tls)
		d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)120, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, (void *)1, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)120, MHD_OPTION_END);
	if (!d)
		return NULL;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	return d;
}

int http_start(const char *cert_pem, const char *key_pem)
{
	tls_daemon = start_one(true, cert_pem, key_pem, &emu.port);
	if (!tls_daemon || !emu.port) {
		fprintf(stderr, "gce-emu: cannot start the HTTPS server on 127.0.0.1\n");
		return -EIO;
	}
	md_daemon = start_one(false, NULL, NULL, &emu.mport);
	if (!md_daemon || !emu.mport) {
		fprintf(stderr, "gce-emu: cannot start the metadata server on 127.0.0.1\n");
		return -EIO;
	}
	return 0;
}

void http_stop(void)
{
	pthread_mutex_lock(&emu.lock);
	emu.stopping = true;
	pthread_cond_broadcast(&emu.changed);
	pthread_mutex_unlock(&emu.lock);
	if (tls_daemon)
		MHD_stop_daemon(tls_daemon);
	if (md_daemon)
		MHD_stop_daemon(md_daemon);
}
