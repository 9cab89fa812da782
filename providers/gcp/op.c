/* Operations: each create, delete, start or update is a short chain of
 * Compute requests, each answered by an Operation that is then polled
 * (zoneOperations.get) until DONE, which may still carry an error
 * (reference/cloud-apis.md A8). Nothing here waits: a submission queues
 * its request on the provider's HTTP client, and every poll drives the
 * client a little and looks at the answer, so the engine's scheduler keeps
 * many operations in flight on one thread.
 *
 * Retries stay inside the operation and resend the same request: an insert
 * with the same requestId (the attempt recorded in the intent), a delete
 * with the same derived requestId, so a retry after a lost answer finds the
 * first one's work instead of doing it twice. Throttling (429, 5xx, 403
 * rateLimitExceeded) is -EAGAIN with again_ms from Retry-After or a
 * jittered backoff; a 401 fetches a new token once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/cloudinit.h"
#include "providers/gcp/gcp.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

#define IN_FLIGHT_MS 5   /* poll again this soon while a request is on the wire */
#define MAX_THROTTLED 10 /* throttled answers to one step before it fails */
#define MAX_TRANSPORT 3  /* lost answers (reset, timeout) to one step */
#define MAX_STALE 8      /* 412 on a stale fingerprint: re-read and retry */

typedef enum kind { K_CREATE, K_REMOVE, K_START, K_UPDATE } kind_t;

typedef enum step {
	S_INSERT,
	S_ADOPT_GET, /* 409 alreadyExists: is it ours? */
	S_CHECK_GET, /* a delete of an instance not seen this pass: is it ours? */
	S_DELETE,
	S_START,
	S_META_GET,
	S_SETMETA,
	S_SETLABELS,
	S_ZONEOP,
	S_DONE,
} step_t;

struct prov_op {
	provider_t *p;
	kind_t kind;
	step_t step, after; /* after: what follows the zone operation */
	char *id, *name, *zone, *request_id;
	char *body;            /* of S_INSERT */
	json_t *markers;       /* S_META_GET: the metadata keys to set */
	json_t *labels;        /* S_META_GET: the labels to set */
	char *label_fp;        /* the labelFingerprint last read */
	char *opname;          /* the zone operation polled */
	http_req_t *req;
	const char *method;
	char *url, *req_body;
	int throttled, transport, stale, reauth, refound;
	bool wait; /* the request set is sent at the next poll, not now */
};

static const char *verb(kind_t k) {
	switch (k) {
	case K_CREATE: return "create";
	case K_REMOVE: return "delete";
	case K_START: return "start";
	default: return "update";
	}
}

void gcp_op_free(prov_op_t *op) {
	if (!op) return;
	http_req_free(op->req);
	free(op->id);
	free(op->name);
	free(op->zone);
	free(op->request_id);
	free(op->body);
	json_decref(op->markers);
	json_decref(op->labels);
	free(op->label_fp);
	free(op->opname);
	free(op->url);
	free(op->req_body);
	free(op);
}

static char *handle_of(const prov_op_t *op) {
	return xasprintf("projects/%s/zones/%s/instances/%s", op->p->project, op->zone, op->name);
}

/* Sets the request of the current step. */
static void set_request(prov_op_t *op, const char *method, char *url, char *body) {
	http_req_free(op->req);
	op->req = NULL;
	free(op->url);
	free(op->req_body);
	op->method = method;
	op->url = url;
	op->req_body = body;
}

static void enter(prov_op_t *op, step_t s) {
	provider_t *p = op->p;
	op->step = s;
	op->throttled = op->transport = op->reauth = 0;
	const char *pj = p->project, *z = op->zone, *n = op->name;
	switch (s) {
	case S_INSERT:
		set_request(op, "POST", gcp_insert_url(p, z, op->request_id), xstrdup(op->body));
		break;
	case S_ADOPT_GET:
	case S_CHECK_GET:
	case S_META_GET:
		set_request(op, "GET", gcp_instance_url(p, z, n, NULL), NULL);
		break;
	case S_DELETE:
		set_request(op, "DELETE", gcp_delete_url(p, z, n, op->request_id), NULL);
		break;
	case S_START:
		set_request(op, "POST", gcp_instance_url(p, z, n, "start"), NULL);
		break;
	case S_ZONEOP:
		set_request(op, "GET", gcp_url(p, "projects/%s/zones/%s/operations/%s", pj, z, op->opname), NULL);
		break;
	case S_SETLABELS: {
		_cleanup_json_ json_t *b = json_pack("{s:O}", "labels", op->labels);
		if (op->label_fp) json_object_set_new(b, "labelFingerprint", json_string(op->label_fp));
		set_request(op, "POST", gcp_instance_url(p, z, n, "setLabels"), json_dumps(b, JSON_COMPACT));
		break;
	}
	default: break; /* S_SETMETA's body is made from what S_META_GET read */
	}
}

static int send(prov_op_t *op, prov_call_t *call) {
	op->req = gcp_submit(op->p, op->method, op->url, op->req_body, &call->err);
	if (!op->req) return -EACCES;
	http_drive(op->p->http, op->req, 0);
	call->again_ms = IN_FLIGHT_MS;
	return 0;
}

static int fail(prov_op_t *op, prov_call_t *call, int rc, char *msg) {
	call->err = msg ? msg : xasprintf("provider %s: the %s of %s failed", op->p->name, verb(op->kind), op->name);
	return rc;
}

static int fail_http(prov_op_t *op, prov_call_t *call, const char *what) {
	_cleanup_free_ char *w = xasprintf("%s of %s in zone %s", what, op->name, op->zone);
	return fail(op, call, -EIO, gcp_error_message(op->p, w, op->req));
}

/* The zone operation an answer started: polled next, or done now. */
static int take_operation(prov_op_t *op, const json_t *o, step_t after, prov_call_t *call) {
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!name || !*name) {
		return fail(op, call, -EPROTO,
		            xasprintf("provider %s: the %s of %s answered without an operation", op->p->name,
		                      verb(op->kind), op->name));
	}
	free(op->opname);
	op->opname = xstrdup(name);
	op->after = after;
	enter(op, S_ZONEOP);
	op->wait = true; /* the scheduler's backoff paces the polls */
	return 0;
}

static int finish(prov_op_t *op, prov_call_t *call) {
	if (op->kind == K_CREATE) call->handle = handle_of(op);
	op->step = S_DONE;
	return 1;
}

/* DONE does not mean success: error.errors[] says what went wrong. */
static int operation_done(prov_op_t *op, const json_t *o, prov_call_t *call) {
	const json_t *errs = json_object_get(json_object_get(o, "error"), "errors");
	if (json_array_size(errs)) {
		const json_t *e0 = json_array_get(errs, 0);
		const char *code = json_string_value(json_object_get(e0, "code"));
		const char *msg = json_string_value(json_object_get(e0, "message"));
		const char *const secrets[] = {op->p->tok.token, NULL};
		_cleanup_free_ char *m = http_scrub(msg ? msg : "", msg ? strlen(msg) : 0, secrets, 400);
		return fail(op, call, -EIO,
		            xasprintf("provider %s: the %s of %s in zone %s failed: %s%s%s", op->p->name, verb(op->kind),
		                      op->name, op->zone, code ? code : "error", *m ? ": " : "", m));
	}
	step_t next = op->after;
	if (next == S_DONE) return finish(op, call);
	op->after = S_DONE;
	enter(op, next);
	return 0;
}

static bool labels_ours(const prov_op_t *op, const json_t *inst) {
	const json_t *l = json_object_get(inst, "labels");
	return streq(json_string_value(json_object_get(l, "managed-by")), "cvmctl") &&
	       streq(json_string_value(json_object_get(l, "cvmctl-id")), op->id);
}

static int not_ours(prov_op_t *op, const json_t *inst, prov_call_t *call, const char *outcome) {
	const char *other = json_string_value(json_object_get(json_object_get(inst, "labels"), "cvmctl-id"));
	return fail(op, call, -EEXIST,
	            xasprintf("provider %s: instance %s in zone %s is not this CVM's (%s%s); it is left alone%s", op->p->name,
	                      op->name, op->zone, other ? "it carries cvmctl-id " : "it has no cvmctl labels",
	                      other ? other : "", outcome));
}

/* The metadata and labels an update sets, from the instance just read:
 * setMetadata when the delivery document differs (then setLabels when the
 * labels do), setLabels alone, or nothing. */
static int plan_update(prov_op_t *op, const json_t *inst, prov_call_t *call) {
	if (!labels_ours(op, inst)) return not_ours(op, inst, call, " and nothing was updated");
	const json_t *md = json_object_get(inst, "metadata");
	free(op->label_fp);
	op->label_fp = xstrdup(json_string_value(json_object_get(inst, "labelFingerprint")));
	bool md_same = true;
	const char *k;
	json_t *v;
	json_object_foreach(op->markers, k, v) md_same &= streq(gcp_metadata_get(md, k), json_string_value(v));
	bool labels_same = json_equal(json_object_get(inst, "labels"), op->labels);
	if (md_same) {
		if (labels_same) return finish(op, call);
		op->after = S_DONE;
		enter(op, S_SETLABELS);
		return 0;
	}
	_cleanup_json_ json_t *b = gcp_metadata_body(md, op->markers);
	enter(op, S_SETMETA);
	op->after = labels_same ? S_DONE : S_SETLABELS;
	set_request(op, "POST", gcp_instance_url(op->p, op->zone, op->name, "setMetadata"), json_dumps(b, JSON_COMPACT));
	return 0;
}

/* One finished answer of the current step: 1 done, 0 go on (the next
 * request is set, or call->again_ms says when), < 0 failed. */
static int answer(prov_op_t *op, long st, const json_t *j, prov_call_t *call) {
	const char *reason = gcp_error_reason(j);
	switch (op->step) {
	case S_INSERT:
		if (st == 200) return take_operation(op, j, S_DONE, call);
		if (st == 409 && !strcmp(reason, "alreadyExists")) {
			enter(op, S_ADOPT_GET);
			return 0;
		}
		return fail_http(op, call, "insert");
	case S_ADOPT_GET:
		if (st == 200) {
			if (!labels_ours(op, j)) return not_ours(op, j, call, "");
			log_info("provider %s: instance %s in zone %s already carries CVM id %s: taking it (an earlier "
			         "attempt made it)",
			         op->p->name, op->name, op->zone, op->id);
			return finish(op, call);
		}
		if (st == 404 && op->refound++ < 2) { /* deleted between the 409 and the read */
			enter(op, S_INSERT);
			return 0;
		}
		return fail_http(op, call, "read");
	case S_CHECK_GET:
		if (st == 404) return finish(op, call); /* absent is success */
		if (st == 200) {
			if (!labels_ours(op, j)) {
				/* Our resource is gone; what carries the name now is
				 * somebody else's and stays. */
				log_info("provider %s: instance %s in zone %s is not CVM %s's; nothing of that CVM is left to "
				         "delete, and the instance is left alone",
				         op->p->name, op->name, op->zone, op->id);
				return finish(op, call);
			}
			enter(op, S_DELETE);
			return 0;
		}
		return fail_http(op, call, "read");
	case S_DELETE:
		if (st == 404) return finish(op, call);
		if (st == 200) return take_operation(op, j, S_DONE, call);
		return fail_http(op, call, "delete");
	case S_START:
		if (st == 200) return take_operation(op, j, S_DONE, call);
		return fail_http(op, call, "start");
	case S_META_GET:
		if (st == 200) return plan_update(op, j, call);
		return fail_http(op, call, "read");
	case S_SETMETA:
	case S_SETLABELS:
		if (st == 200) return take_operation(op, j, op->after, call);
		if (st == 412 && op->stale++ < MAX_STALE) { /* a stale fingerprint: read again */
			enter(op, S_META_GET);
			return 0;
		}
		return fail_http(op, call, op->step == S_SETMETA ? "setMetadata" : "setLabels");
	case S_ZONEOP:
		if (st == 200) {
			if (streq(json_string_value(json_object_get(j, "status")), "DONE")) return operation_done(op, j, call);
			enter(op, S_ZONEOP); /* asked again after the scheduler's backoff */
			op->wait = true;
			return 0;
		}
		return fail_http(op, call, "operation poll");
	default: break;
	}
	return fail(op, call, -EINVAL, NULL);
}

int gcp_op_poll(provider_t *p, prov_op_t *op, prov_call_t *call) {
	(void)p;
	if (op->step == S_DONE) return finish(op, call);
	if (!op->req) {
		op->wait = false;
		return send(op, call);
	}
	if (!http_drive(op->p->http, op->req, 0)) {
		call->again_ms = IN_FLIGHT_MS;
		return 0;
	}
	long st = http_status(op->req);
	size_t len;
	const char *text = http_body(op->req, &len);
	_cleanup_json_ json_t *j = st ? json_loadb(text, len, 0, NULL) : NULL;
	if (!st) {
		if (op->transport++ < MAX_TRANSPORT) {
			/* Lost: sent again unchanged; a requestId makes that safe. */
			log_debug("provider %s: %s; sending it again", op->p->name, http_transport_error(op->req));
			http_req_free(TAKE_PTR(op->req));
			call->again_ms = gcp_again_ms(op->p, NULL, op->transport);
			return -EAGAIN;
		}
		return fail_http(op, call, verb(op->kind));
	}
	if (st == 401 && op->reauth++ == 0) {
		token_clear(&op->p->tok);
		http_req_free(TAKE_PTR(op->req));
		return send(op, call);
	}
	if (gcp_throttled(st, j) && !(op->step == S_INSERT && st == 409)) {
		if (++op->throttled > MAX_THROTTLED) return fail_http(op, call, verb(op->kind));
		call->again_ms = gcp_again_ms(op->p, op->req, op->throttled - 1);
		call->err = gcp_error_message(op->p, "throttled", op->req);
		http_req_free(TAKE_PTR(op->req));
		return -EAGAIN;
	}
	op->wait = false;
	int r = answer(op, st, j, call);
	if (r != 0) return r;
	/* The next step's request goes out at once, unless it is a zone
	 * operation's poll, which waits for the scheduler's backoff
	 * (again_ms 0). */
	if (op->wait) {
		call->again_ms = 0;
		return 0;
	}
	return send(op, call);
}

/* ---- submissions ---- */

static prov_op_t *op_new(provider_t *p, kind_t kind, const char *id, const char *name, const char *zone) {
	prov_op_t *op = xcalloc(1, sizeof *op);
	op->p = p;
	op->kind = kind;
	op->id = xstrdup(id);
	op->name = xstrdup(name);
	op->zone = xstrdup(zone);
	return op;
}

/* Starts op at step s: the first request is on the wire when this returns. */
static int launch(prov_op_t *op, step_t s, prov_call_t *call) {
	enter(op, s);
	int r = send(op, call);
	if (r < 0) {
		gcp_op_free(op);
		return r;
	}
	call->op = op;
	return 0;
}

int gcp_op_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	if (gcp_check_image(p, &call->err) < 0) return -EINVAL;
	int r = gcp_ensure_firewall(p, want->agent_port, &call->err);
	if (r < 0) return r;
	_cleanup_json_ json_t *b = gcp_insert_body(p, want, p->source_image, &call->err);
	if (!b) return -EINVAL;
	prov_op_t *op = op_new(p, K_CREATE, want->id, want->name, want->placement);
	/* The attempt is a UUIDv4 recorded in the intent: the requestId as it
	 * stands. One that is not a UUID (a record from elsewhere) would be a
	 * 400: a stable UUID is derived from it instead. */
	if (uuid_valid(want->attempt)) {
		op->request_id = xstrdup(want->attempt);
	} else {
		char rid[37];
		gcp_request_id("insert", want->id, want->attempt, rid);
		op->request_id = xstrdup(rid);
	}
	op->body = json_dumps(b, JSON_COMPACT);
	return launch(op, S_INSERT, call);
}

/* Where a target is: its zone (placement, else the handle's) and name (the
 * handle's, else the CVM's). */
static void where(const prov_target_t *t, char **zone, char **name) {
	*zone = t->placement && *t->placement ? xstrdup(t->placement) : NULL;
	*name = NULL;
	const char *h = t->handle ? strstr(t->handle, "/zones/") : NULL;
	if (h) {
		const char *z = h + 7, *e = strchr(z, '/');
		if (e && !*zone) *zone = xasprintf("%.*s", (int)(e - z), z);
		const char *n = strstr(h, "/instances/");
		if (n && n[11]) *name = xstrdup(n + 11);
	}
	if (!*name) *name = xstrdup(t->name);
}

static prov_op_t *target_op(provider_t *p, kind_t kind, const prov_target_t *t, prov_call_t *call) {
	_cleanup_free_ char *zone = NULL, *name = NULL;
	where(t, &zone, &name);
	if (!zone || !name) {
		call->err = xasprintf("provider %s: no zone is known for CVM %s (%s)", p->name, t->name ? t->name : "?", t->id);
		return NULL;
	}
	return op_new(p, kind, t->id, name, zone);
}

int gcp_op_remove(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	prov_op_t *op = target_op(p, K_REMOVE, t, call);
	if (!op) return -EINVAL;
	char rid[37];
	gcp_delete_request_id(t->id, t->observed ? t->observed->attempt : NULL, rid);
	op->request_id = xstrdup(rid);
	/* Seen this pass with our labels: delete. Not seen: make sure first
	 * that what carries the name is ours. */
	return launch(op, t->observed ? S_DELETE : S_CHECK_GET, call);
}

int gcp_op_start(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	prov_op_t *op = target_op(p, K_START, t, call);
	if (!op) return -EINVAL;
	return launch(op, S_START, call);
}

int gcp_op_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call) {
	prov_target_t tt = *t;
	if (!tt.placement && !tt.handle) tt.placement = want->placement;
	prov_op_t *op = target_op(p, K_UPDATE, &tt, call);
	if (!op) return -EINVAL;
	op->labels = gcp_labels(want, &call->err);
	if (!op->labels || !(op->markers = gcp_markers(want, &call->err))) {
		gcp_op_free(op);
		return -EINVAL;
	}
	op->after = S_DONE;
	return launch(op, S_META_GET, call);
}
