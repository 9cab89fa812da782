/* The control endpoint (/emulator/..., no auth, JSON): inventory, request
 * log, faults, configuration, the control clock, instances made or changed
 * behind the client's back, token expiry, the metadata server's instance.
 * README.md lists every call. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"


static long fault_ids;

struct fault *fault_match(struct req *r, enum fault_kind kind, int page)
{
	for (struct fault *f = emu.faults; f; f = f->next) {
		if (f->kind != kind || f->times == 0)
			continue;
		if (strcmp(f->method, "*") != 0 && strcasecmp(f->method, r->method) != 0)
			continue;
		if (fnmatch(f->pattern, r->path, 0) != 0)
			continue;
		if (kind == F_LIST_PAGE && f->page != page)
			continue;
		return f;
	}
	return NULL;
}

static json_t *default_body(int status)
{
	switch (status) {
	case 400: return error_body(400, "global", "badRequest", NULL, "Bad Request (injected).");
	case 403: return error_body(403, "global", "forbidden", NULL, "Forbidden (injected).");
	case 404: return error_body(404, "global", "notFound", NULL, "The resource was not found (injected).");
	case 409:
		return error_body(409, "global", "resourceInUseByAnotherResource", NULL,
				  "The resource is not ready: operationInProgress (injected).");
	case 429:
		return error_body(429, "usageLimits", "rateLimitExceeded", "RESOURCE_EXHAUSTED",
				  "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
				  "'compute.googleapis.com' for consumer 'project_number:123456789012'.");
	case 500: return error_body(500, "global", "backendError", NULL, "Internal error (injected).");
	case 502: return error_body(502, "global", "badGateway", NULL, "Bad Gateway (injected).");
	default:
		return error_body(status, "global", "backendError", NULL,
				  "Internal error. Please try again or contact Google Support. (injected)");
	}
}

bool fault_apply(struct req *r, struct fault *f)
{
	if (f->times > 0)
		f->times--;
	f->hits++;
	char ra[24];
	switch (f->kind) {
	case F_DROP:
		r->drop = true;
		r->fault = "drop";
		return true;
	case F_OP_ERROR:
		return false;
	case F_RATE_LIMIT: {
		int code = f->status == 429 ? 429 : 403;
		r->fault = "rate_limit";
		reply_json(r, code,
			   error_body(code, "usageLimits", "rateLimitExceeded",
				      code == 429 ? "RESOURCE_EXHAUSTED" : "PERMISSION_DENIED",
				      "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
				      "'compute.googleapis.com' for consumer 'project_number:123456789012'."));
		break;
	}
	case F_STATUS:
	case F_LIST_PAGE: {
		int code = f->status ? f->status : 503;
		r->fault = f->kind == F_LIST_PAGE ? "list_page" : "status";
		if (f->echo) {
			/* Like an error that quotes the request's values back: the
			 * client must not print what it sent (keys, user-data). */
			_cleanup_free_ char *msg = xasprintf("Invalid value for field 'resource': '%.*s'.",
							     (int)(r->len > 65536 ? 65536 : r->len), r->body ? r->body : "");
			reply_json(r, code, error_body(code, "global", "invalid", NULL, msg));
		} else if (json_is_string(f->body)) {
			reply_text(r, code, "text/html; charset=UTF-8", json_string_value(f->body));
		} else if (f->body) {
			reply_json(r, code, json_deep_copy(f->body));
		} else {
			reply_json(r, code, default_body(code));
		}
		break;
	}
	}
	if (f->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", f->retry_after);
		reply_header(r, "Retry-After", ra);
	}
	return true;
}

void log_request(struct req *r)
{
	if (strncmp(r->path, "/emulator/", 10) == 0)
		return;
	json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:i,s:I,s:b,s:b}", "seq", (json_int_t)++emu.seq, "method", r->method,
			      "path", r->path, "bearer", r->bearer ? r->bearer : "none", "status", r->status, "clock_ms",
			      (json_int_t)emu.clock_ms, "dropped", r->drop, "metadata_port", r->metadata_port);
	const char *rid = req_arg(r, "requestId");
	json_object_set_new(e, "requestId", rid ? json_string(rid) : json_null());
	json_object_set_new(e, "fault", r->fault ? json_string(r->fault) : json_null());
	if (json_array_size(emu.requests) >= 20000)
		json_array_remove(emu.requests, 0);
	json_array_append_new(emu.requests, e);
	if (emu.log)
		fprintf(emu.log, "%s %s%s%s -> %d bearer=%s%s%s\n", r->method, r->path, rid ? " requestId=" : "",
			rid ? rid : "", r->status, r->bearer ? r->bearer : "none", r->fault ? " fault=" : "",
			r->fault ? r->fault : "");
}

static void ok(struct req *r, json_t *v)
{
	reply_json(r, 200, v ? v : json_object());
}

static void ctl_error(struct req *r, int status, const char *msg)
{
	reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static json_t *config_json(void)
{
	return json_pack("{s:i,s:I,s:I,s:i,s:i,s:i,s:I,s:s,s:O}", "polls_to_done", emu.cfg.polls_to_done,
			 "op_latency_clock_ms", (json_int_t)emu.cfg.op_latency_clock_ms, "op_latency_ms",
			 (json_int_t)emu.cfg.op_latency_ms, "token_lifetime_s", emu.cfg.token_lifetime_s,
			 "rate_limit_per_s", emu.cfg.rate_limit_per_s, "rate_limit_status", emu.cfg.rate_limit_status,
			 "wait_max_ms", (json_int_t)emu.cfg.wait_max_ms, "nat_ip", emu.cfg.nat_ip, "networks",
			 emu.networks);
}

static void set_config(struct req *r, json_t *body)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		bool num = json_is_integer(v) && json_integer_value(v) >= 0;
		if (strcmp(k, "nat_ip") == 0 && json_is_string(v)) {
			snprintf(emu.cfg.nat_ip, sizeof(emu.cfg.nat_ip), "%s", json_string_value(v));
		} else if (strcmp(k, "networks") == 0 && json_is_array(v)) {
			json_decref(emu.networks);
			emu.networks = json_deep_copy(v);
		} else if (!num) {
			_cleanup_free_ char *m = xasprintf("config key '%s' is unknown or not a non-negative integer", k);
			ctl_error(r, 400, m);
			return;
		} else if (strcmp(k, "polls_to_done") == 0) {
			emu.cfg.polls_to_done = (int)json_integer_value(v);
		} else if (strcmp(k, "op_latency_clock_ms") == 0) {
			emu.cfg.op_latency_clock_ms = json_integer_value(v);
		} else if (strcmp(k, "op_latency_ms") == 0) {
			emu.cfg.op_latency_ms = json_integer_value(v);
		} else if (strcmp(k, "token_lifetime_s") == 0) {
			emu.cfg.token_lifetime_s = (int)json_integer_value(v);
		} else if (strcmp(k, "rate_limit_per_s") == 0) {
			emu.cfg.rate_limit_per_s = (int)json_integer_value(v);
		} else if (strcmp(k, "rate_limit_status") == 0) {
			emu.cfg.rate_limit_status = (int)json_integer_value(v);
		} else if (strcmp(k, "wait_max_ms") == 0) {
			emu.cfg.wait_max_ms = json_integer_value(v);
		} else {
			_cleanup_free_ char *m = xasprintf("config key '%s' is unknown", k);
			ctl_error(r, 400, m);
			return;
		}
	}
	ok(r, config_json());
}

static json_t *inventory(void)
{
	json_t *ins = json_array();
	for (struct instance *in = emu.instances; in; in = in->next) {
		const char *mt = json_string_value(json_object_get(in->res, "machineType"));
		json_t *md = json_object_get(in->res, "metadata");
		json_t *labels = json_object_get(in->res, "labels");
		json_t *labels_v = labels ? json_incref(labels) : json_object();
		json_t *items = json_object_get(md, "items");
		json_t *items_v = items ? json_incref(items) : json_array();
		json_t *e = json_pack("{s:s,s:s,s:s,s:O,s:o,s:{s:O,s:o},s:s,s:O,s:O,s:O,s:b,s:O}", "project", in->project,
				      "zone", in->zone, "name", in->name, "status", json_object_get(in->res, "status"),
				      "labels", labels_v, "metadata", "fingerprint", json_object_get(md, "fingerprint"),
				      "items", items_v, "machineType", mt ? strrchr(mt, '/') + 1 : "", "disks",
				      json_object_get(in->res, "disks"), "networkInterfaces",
				      json_object_get(in->res, "networkInterfaces"), "id", json_object_get(in->res, "id"),
				      "foreign", in->foreign, "resource", in->res);
		json_object_set_new(e, "requestId", in->request_id ? json_string(in->request_id) : json_null());
		json_object_set_new(e, "operation", in->op_name ? json_string(in->op_name) : json_null());
		json_array_append_new(ins, e);
	}
	json_t *ops = json_array();
	for (struct operation *op = emu.ops; op; op = op->next) {
		json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:O,s:i,s:i}", "name", op->name, "project", op->project,
				      "operationType", op_kind_word(op->kind), "target", op->target, "status",
				      json_object_get(op->res, "status"), "polls", op->polls, "polls_needed",
				      op->polls_needed);
		json_object_set_new(e, "zone", op->zone ? json_string(op->zone) : json_null());
		json_object_set(e, "clientOperationId",
				json_object_get(op->res, "clientOperationId") ?: json_null());
		json_object_set(e, "error", json_object_get(op->res, "error") ?: json_null());
		json_array_append_new(ops, e);
	}
	json_t *fws = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(emu.firewalls, k, v)
		json_array_append(fws, v);
	return json_pack("{s:o,s:o,s:o,s:I,s:i,s:o}", "instances", ins, "operations", ops, "firewalls", fws, "clock_ms",
			 (json_int_t)emu.clock_ms, "metadata_waiters", emu.md_waiters, "config", config_json());
}

static void add_fault(struct req *r, json_t *b)
{
	static const char *kinds[] = {"status", "rate_limit", "drop", "op_error", "list_page"};
	const char *kind = json_string_value(json_object_get(b, "kind"));
	const char *path = json_string_value(json_object_get(b, "path"));
	const char *method = json_string_value(json_object_get(b, "method"));
	int ki = -1;
	for (int i = 0; kind && i < 5; i++)
		if (strcmp(kinds[i], kind) == 0)
			ki = i;
	if (ki < 0 || !path) {
		ctl_error(r, 400, "a fault needs kind (status, rate_limit, drop, op_error, list_page) and path");
		return;
	}
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	snprintf(f->method, sizeof(f->method), "%s", method ? method : "*");
	f->pattern = xstrdup(path);
	f->kind = (enum fault_kind)ki;
	json_t *t = json_object_get(b, "times");
	f->times = t ? (int)json_integer_value(t) : 1;
	f->status = (int)json_integer_value(json_object_get(b, "status"));
	json_t *body = json_object_get(b, "body");
	f->body = body ? json_incref(body) : NULL;
	f->retry_after = (int)json_integer_value(json_object_get(b, "retry_after"));
	f->page = (int)json_integer_value(json_object_get(b, "page"));
	if (f->kind == F_LIST_PAGE && f->page < 1)
		f->page = 1;
	const char *code = json_string_value(json_object_get(b, "op_error"));
	f->op_error_code = code ? xstrdup(code) : NULL;
	f->echo = json_is_true(json_object_get(b, "echo"));
	f->hits = ++fault_ids; /* reused below as the id; hits counted from here */
	long id = f->hits;
	f->hits = 0;
	/* Appended: faults match in the order they were added. */
	struct fault **pp = &emu.faults;
	while (*pp)
		pp = &(*pp)->next;
	*pp = f;
	ok(r, json_pack("{s:i}", "id", (int)id));
}

static json_t *faults_json(void)
{
	static const char *kinds[] = {"status", "rate_limit", "drop", "op_error", "list_page"};
	json_t *a = json_array();
	for (struct fault *f = emu.faults; f; f = f->next)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:i,s:I}", "kind", kinds[f->kind], "method", f->method,
						   "path", f->pattern, "times_left", f->times, "status", f->status, "hits",
						   (json_int_t)f->hits));
	return a;
}

static void clear_faults(void)
{
	while (emu.faults) {
		struct fault *f = emu.faults;
		emu.faults = f->next;
		free(f->pattern);
		free(f->op_error_code);
		json_decref(f->body);
		free(f);
	}
}

void control_route(struct req *r)
{
	const char *p = r->path + 10; /* after /emulator/ */
	const char *m = r->method;
	_cleanup_(json_decrefp) json_t *body = NULL;
	if (r->len) {
		body = json_loadb(r->body, r->len, 0, NULL);
		if (!json_is_object(body)) {
			ctl_error(r, 400, "the control body must be a JSON object");
			return;
		}
	} else {
		body = json_object();
	}
	const char *project = json_string_value(json_object_get(body, "project"));
	if (!project)
		project = req_arg(r, "project");
	if (!project)
		project = emu.projects[0];

	if (strcmp(p, "inventory") == 0 && strcmp(m, "GET") == 0) {
		ok(r, inventory());
	} else if (strcmp(p, "requests") == 0 && strcmp(m, "GET") == 0) {
		ok(r, json_pack("{s:O}", "requests", emu.requests));
	} else if (strcmp(p, "requests") == 0 && strcmp(m, "DELETE") == 0) {
		json_array_clear(emu.requests);
		ok(r, NULL);
	} else if (strcmp(p, "faults") == 0 && strcmp(m, "POST") == 0) {
		add_fault(r, body);
	} else if (strcmp(p, "faults") == 0 && strcmp(m, "GET") == 0) {
		ok(r, json_pack("{s:o}", "faults", faults_json()));
	} else if (strcmp(p, "faults") == 0 && strcmp(m, "DELETE") == 0) {
		clear_faults();
		ok(r, NULL);
	} else if (strcmp(p, "config") == 0 && strcmp(m, "GET") == 0) {
		ok(r, config_json());
	} else if (strcmp(p, "config") == 0 && strcmp(m, "POST") == 0) {
		set_config(r, body);
	} else if (strcmp(p, "clock") == 0 && strcmp(m, "POST") == 0) {
		json_t *adv = json_object_get(body, "advance_ms");
		if (!json_is_integer(adv) || json_integer_value(adv) < 0) {
			ctl_error(r, 400, "advance_ms must be a non-negative integer");
			return;
		}
		emu.clock_ms += json_integer_value(adv);
		ops_tick();
		pthread_cond_broadcast(&emu.changed);
		ok(r, json_pack("{s:I}", "clock_ms", (json_int_t)emu.clock_ms));
	} else if (strcmp(p, "tokens/expire") == 0 && strcmp(m, "POST") == 0) {
		tokens_expire_all();
		ok(r, NULL);
	} else if (strcmp(p, "metadata-instance") == 0 && strcmp(m, "POST") == 0) {
		const char *z = json_string_value(json_object_get(body, "zone"));
		const char *n = json_string_value(json_object_get(body, "name"));
		if (!z || !n) {
			ctl_error(r, 400, "metadata-instance needs zone and name");
			return;
		}
		free(emu.md_zone);
		free(emu.md_name);
		emu.md_zone = xstrdup(z);
		emu.md_name = xstrdup(n);
		pthread_cond_broadcast(&emu.changed);
		ok(r, NULL);
	} else if (strcmp(p, "instances") == 0 && strcmp(m, "POST") == 0) {
		const char *z = json_string_value(json_object_get(body, "zone"));
		const char *n = json_string_value(json_object_get(body, "name"));
		if (!z || !n || !zone_valid(z) || !name_valid(n)) {
			ctl_error(r, 400, "a foreign instance needs a valid zone and name");
			return;
		}
		if (instance_find(project, z, n)) {
			ctl_error(r, 409, "that instance exists");
			return;
		}
		struct instance *in = instance_foreign(project, z, body, r);
		if (in)
			ok(r, json_deep_copy(in->res));
	} else if (strncmp(p, "instances/", 10) == 0) {
		char zone[64] = "", name[80] = "", verb[16] = "";
		int k = sscanf(p + 10, "%63[^/]/%79[^/]/%15s", zone, name, verb);
		struct instance *in = k >= 2 ? instance_find(project, zone, name) : NULL;
		if (!in) {
			ctl_error(r, 404, "no such instance");
		} else if (k == 2 && strcmp(m, "DELETE") == 0) {
			instance_remove(in);
			ok(r, NULL);
		} else if (k == 3 && strcmp(verb, "status") == 0 && strcmp(m, "POST") == 0) {
			const char *st = json_string_value(json_object_get(body, "status"));
			if (!st) {
				ctl_error(r, 400, "status needs {\"status\": ...}");
				return;
			}
			if (strcmp(st, "TERMINATED") == 0 || strcmp(st, "STOPPED") == 0) {
				size_t i, j;
				json_t *nic, *ac;
				json_array_foreach(json_object_get(in->res, "networkInterfaces"), i, nic)
					json_array_foreach(json_object_get(nic, "accessConfigs"), j, ac)
						json_object_del(ac, "natIP");
			} else if (strcmp(st, "RUNNING") == 0) {
				instance_fill_ips(in);
			}
			instance_set_status(in, st);
			ok(r, json_deep_copy(in->res));
		} else {
			ctl_error(r, 404, "unknown control call");
		}
	} else if (strcmp(p, "networks") == 0 && strcmp(m, "POST") == 0) {
		const char *n = json_string_value(json_object_get(body, "name"));
		if (!n) {
			ctl_error(r, 400, "networks needs a name");
			return;
		}
		json_array_append_new(emu.networks, json_string(n));
		ok(r, config_json());
	} else {
		ctl_error(r, 404, "unknown control call");
	}
}
