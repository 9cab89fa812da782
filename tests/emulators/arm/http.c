/* The libmicrohttpd glue: two daemons (HTTPS through GnuTLS for the
 * identity platform, Resource Manager and the control endpoint; plain HTTP
 * for IMDS, as the guest sees it), one thread per connection so that an
 * injected latency delays only its own client. Every request is handled
 * under emu.lock; the latency is slept outside it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

static struct MHD_Daemon *tls_daemon, *imds_daemon;

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

void reply_empty(struct req *r, int status)
{
	free(r->out);
	r->out = NULL;
	r->status = status;
	r->ctype = NULL;
}

void reply_json(struct req *r, int status, json_t *v)
{
	free(r->out);
	r->out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	r->status = status;
	r->ctype = "application/json; charset=utf-8";
}

void reply_header(struct req *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *v = xvasprintf(fmt, ap);
	va_end(ap);
	json_object_set_new(r->hdrs, name, json_string(v));
	free(v);
}

json_t *arm_error(const char *code, const char *target, const char *message)
{
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
	if (target)
		json_object_set_new(e, "target", json_string(target));
	return json_pack("{s:o}", "error", e);
}

void reply_error(struct req *r, int status, const char *code, const char *target, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	reply_json(r, status, arm_error(code, target, msg));
	free(msg);
}

static void route(struct req *r)
{
	ops_clock_tick();
	if (r->imds) {
		imds_route(r);
		return;
	}
	if (strncmp(r->path, "/emulator/", 10) == 0 || strcmp(r->path, "/emulator") == 0) {
		control_route(r);
		return;
	}
	if (auth_route(r))
		return;
	if (strncasecmp(r->path, "/subscriptions", 14) == 0) {
		arm_route(r);
		return;
	}
	r->token = NULL;
	struct fault *f = fault_match(r);
	if (f) {
		fault_reply(r, f);
		return;
	}
	log_request(r, req_arg(r, "api-version"));
	reply_error(r, 404, "NotFound", NULL, "The requested path '%s' is not served here.", r->path);
}

struct conn_state {
	char *body;
	size_t len;
	bool overflow;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct conn_state *cs = *con_cls;
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return MHD_NO;
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_size) {
		if (emu_body_append(&cs->body, &cs->len, &cs->overflow, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}

	struct req r = {
		.conn = conn,
		.method = method,
		.path = url,
		.body = cs->body ? cs->body : (char *)"",
		.len = cs->len,
		.overflow = cs->overflow,
		.imds = cls == (void *)&imds_daemon,
		.status = 500,
		.hdrs = json_object(),
	};
	pthread_mutex_lock(&emu.lock);
	if (r.overflow)
		reply_error(&r, 413, "RequestEntityTooLarge", NULL, "The request body is too large.");
	else
		route(&r);
	if (r.log_entry) {
		json_object_set_new(r.log_entry, "status", json_integer(r.status));
		if (r.drop)
			json_object_set_new(r.log_entry, "dropped", json_true());
	}
	int latency = emu.cfg.latency_ms;
	pthread_mutex_unlock(&emu.lock);
	if (latency > 0 && !r.imds && strncmp(url, "/emulator", 9) != 0) {
		struct timespec ts = {.tv_sec = latency / 1000, .tv_nsec = (long)(latency % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}

	enum MHD_Result ret = MHD_NO;
	if (!r.drop) {
		struct MHD_Response *resp = emu_http_response(r.out, r.ctype);
		if (resp) {
			const char *k;
			json_t *v;
			json_object_foreach(r.hdrs, k, v)
				MHD_add_response_header(resp, k, json_string_value(v));
		}
		ret = emu_http_queue(conn, r.status, resp);
	}
	/* A dropped answer closes the connection: the client sees the request
	 * fail although its effect is committed. */
	free(r.out);
	json_decref(r.hdrs);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct conn_state *cs = *con_cls;
	if (cs) {
		free(cs->body);
		free(cs);
	}
	*con_cls = NULL;
}

int http_start(const char *cert_pem, const char *key_pem)
{
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		fprintf(stderr, "arm-emu: this libmicrohttpd was built without TLS\n");
		return -ENOTSUP;
	}
	tls_daemon = emu_http_listen(cert_pem, key_pem, handler, &tls_daemon, completed, &emu.port);
	if (!tls_daemon || emu.port == 0) {
		fprintf(stderr, "arm-emu: cannot serve HTTPS on 127.0.0.1 (is the key the certificate's?)\n");
		return -EIO;
	}
	imds_daemon = emu_http_listen(NULL, NULL, handler, &imds_daemon, completed, &emu.iport);
	if (!imds_daemon || emu.iport == 0) {
		fprintf(stderr, "arm-emu: cannot serve IMDS on 127.0.0.1\n");
		MHD_stop_daemon(tls_daemon);
		return -EIO;
	}
	snprintf(emu.base, sizeof(emu.base), "https://127.0.0.1:%d", emu.port);
	return 0;
}

void http_stop(void)
{
	if (tls_daemon)
		MHD_stop_daemon(tls_daemon);
	if (imds_daemon)
		MHD_stop_daemon(imds_daemon);
	tls_daemon = imds_daemon = NULL;
}
