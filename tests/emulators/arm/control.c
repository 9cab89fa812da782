/* The control endpoint (/emulator/..., no auth, JSON): what a test asks of
 * the emulator besides the real API. README.md documents every call.
 * Also here: fault injection (consulted by every API request) and the
 * request log. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

/* ---- the request log ---- */

void log_request(struct req *r, const char *api_version)
{
	json_t *e = json_pack("{s:I,s:s,s:s,s:s?,s:s?}", "seq", (json_int_t)json_array_size(emu.requests) + 1, "method",
			      r->method, "path", r->path, "apiVersion", api_version, "token", r->token);
	const char *crid = req_header(r, "x-ms-client-request-id");
	if (crid)
		json_object_set_new(e, "clientRequestId", json_string(crid));
	json_array_append_new(emu.requests, e);
	r->log_entry = e;
}

/* ---- faults ---- */

struct fault *fault_match(struct req *r)
{
	for (struct fault *f = emu.faults; f; f = f->next) {
		if (f->times == 0)
			continue;
		if (strcmp(f->method, "*") != 0 && strcasecmp(f->method, r->method) != 0)
			continue;
		if (fnmatch(f->pattern, r->path, FNM_CASEFOLD) != 0)
			continue;
		if (f->times > 0)
			f->times--;
		f->hits++;
		if (r->log_entry)
			json_object_set_new(r->log_entry, "fault", json_string(f->pattern));
		return f;
	}
	return NULL;
}

void fault_reply(struct req *r, struct fault *f)
{
	const char *k;
	json_t *v;
	json_object_foreach(f->headers, k, v)
		reply_header(r, k, "%s", json_is_string(v) ? json_string_value(v) : "0");
	if (f->retry_after >= 0)
		reply_header(r, "Retry-After", "%d", f->retry_after);
	if (f->body)
		reply_json(r, f->status, json_incref(f->body));
	else
		reply_empty(r, f->status);
}

static void fault_free(struct fault *f)
{
	free(f->pattern);
	json_decref(f->body);
	json_decref(f->headers);
	free(f->code);
	free(f->message);
	free(f);
}

struct preset {
	const char *name;
	enum fault_action action;
	int status;
	const char *body; /* JSON */
	int retry_after;
	const char *headers; /* JSON */
};

static const struct preset presets[] = {
	{"throttle", FA_STATUS, 429,
	 "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"The request is being throttled as the limit has been "
	 "reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - "
	 "https://aka.ms/servicebusthrottling\"}}",
	 5, "{\"x-ms-ratelimit-remaining-subscription-reads\":\"0\",\"x-ms-ratelimit-remaining-subscription-writes\":\"0\"}"},
	{"compute-throttle", FA_STATUS, 409,
	 "{\"error\":{\"code\":\"OperationNotAllowed\",\"message\":\"The server rejected the request because too many "
	 "requests have been received for this subscription.\",\"details\":[{\"code\":\"TooManyRequests\",\"target\":"
	 "\"HighCostGet30Min\",\"message\":\"{\\\"operationGroup\\\":\\\"HighCostGet30Min\\\",\\\"startTime\\\":"
	 "\\\"2024-05-01T10:00:00+00:00\\\",\\\"endTime\\\":\\\"2024-05-01T10:30:00+00:00\\\",\\\"allowedRequestCount\\\":800,"
	 "\\\"measuredRequestCount\\\":1238}\"}]}}",
	 5, "{\"x-ms-ratelimit-remaining-resource\":\"Microsoft.Compute/HighCostGet3Min;0,Microsoft.Compute/HighCostGet30Min;0\"}"},
	{"quota", FA_STATUS, 409,
	 "{\"error\":{\"code\":\"OperationNotAllowed\",\"message\":\"Operation could not be completed as it results in "
	 "exceeding approved standardDCASv5Family Cores quota. Additional details - Deployment Model: Resource Manager, "
	 "Location: eastus, Current Limit: 0, Current Usage: 0, Additional Required: 2, (Minimum) New Limit Required: 2.\"}}",
	 -1, NULL},
	{"sku-not-available", FA_STATUS, 409,
	 "{\"error\":{\"code\":\"SkuNotAvailable\",\"message\":\"The requested VM size for resource "
	 "'Following SKUs have failed for Capacity Restrictions: Standard_DC2as_v5' is currently not available in "
	 "location 'eastus'. Please try another size or deploy to a different location or different zone.\"}}",
	 -1, NULL},
	{"conflict", FA_STATUS, 409,
	 "{\"error\":{\"code\":\"Conflict\",\"message\":\"The operation cannot be performed because another operation is "
	 "in progress on the resource.\"}}",
	 5, NULL},
	{"internal", FA_STATUS, 500,
	 "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"Encountered internal server error. Diagnostic "
	 "information: timestamp '20240501T101112Z'.\"}}",
	 -1, NULL},
	{"unavailable", FA_STATUS, 503,
	 "{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":\"The service is temporarily unavailable. Please try "
	 "again later.\"}}",
	 10, NULL},
	{"allocation-failed", FA_ASYNC_FAIL, 0, NULL, -1, NULL},
	{"expire-async", FA_ASYNC_EXPIRE, 0, NULL, -1, NULL},
	{"drop", FA_DROP, 0, NULL, -1, NULL},
};

static int bad_request(struct req *r, const char *fmt, const char *arg)
{
	_cleanup_free_ char *m = xasprintf(fmt, arg ? arg : "");
	reply_json(r, 400, json_pack("{s:s}", "error", m));
	return -EINVAL;
}

static int fault_add(struct req *r, json_t *b)
{
	const char *path = json_string_value(json_object_get(b, "path"));
	const char *method = json_string_value(json_object_get(b, "method"));
	const char *preset = json_string_value(json_object_get(b, "preset"));
	const char *action = json_string_value(json_object_get(b, "action"));
	if (!path)
		return bad_request(r, "a fault needs \"path\" (an fnmatch pattern over the request path)%s", NULL);
	if (method && strlen(method) >= sizeof(((struct fault *)0)->method))
		return bad_request(r, "\"method\" %s is too long", method);
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	snprintf(f->method, sizeof(f->method), "%s", method ? method : "*");
	f->pattern = xstrdup(path);
	f->times = 1;
	f->retry_after = -1;
	f->status = 500;
	f->headers = json_object();
	if (preset) {
		const struct preset *p = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(presets); i++)
			if (strcmp(presets[i].name, preset) == 0)
				p = &presets[i];
		if (!p) {
			fault_free(f);
			return bad_request(r, "unknown fault preset %s", preset);
		}
		f->action = p->action;
		f->status = p->status;
		f->retry_after = p->retry_after;
		if (p->body)
			f->body = json_loads(p->body, 0, NULL);
		if (p->headers) {
			json_decref(f->headers);
			f->headers = json_loads(p->headers, 0, NULL);
		}
	}
	if (action) {
		if (strcmp(action, "status") == 0)
			f->action = FA_STATUS;
		else if (strcmp(action, "drop") == 0)
			f->action = FA_DROP;
		else if (strcmp(action, "async-fail") == 0)
			f->action = FA_ASYNC_FAIL;
		else if (strcmp(action, "async-expire") == 0)
			f->action = FA_ASYNC_EXPIRE;
		else {
			fault_free(f);
			return bad_request(r, "unknown fault action %s (status, drop, async-fail, async-expire)", action);
		}
	}
	json_t *v;
	if ((v = json_object_get(b, "times")))
		f->times = (int)json_integer_value(v);
	if ((v = json_object_get(b, "status")))
		f->status = (int)json_integer_value(v);
	if ((v = json_object_get(b, "retryAfter")))
		f->retry_after = (int)json_integer_value(v);
	if ((v = json_object_get(b, "body"))) {
		json_decref(f->body);
		f->body = json_incref(v);
	}
	if ((v = json_object_get(b, "headers")))
		json_object_update(f->headers, v);
	if ((v = json_object_get(b, "code")))
		f->code = xstrdup(json_string_value(v));
	if ((v = json_object_get(b, "message")))
		f->message = xstrdup(json_string_value(v));
	if (f->action == FA_STATUS && (f->status < 100 || f->status > 599)) {
		fault_free(f);
		return bad_request(r, "a status fault needs an HTTP \"status\"%s", NULL);
	}
	struct fault **pp = &emu.faults;
	while (*pp)
		pp = &(*pp)->next;
	*pp = f;
	return 0;
}

static json_t *faults_json(void)
{
	static const char *const names[] = {"status", "drop", "async-fail", "async-expire"};
	json_t *a = json_array();
	for (struct fault *f = emu.faults; f; f = f->next)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:I,s:i}", "method", f->method, "path", f->pattern,
						   "action", names[f->action], "times", f->times, "hits", (json_int_t)f->hits,
						   "status", f->status));
	return a;
}

/* ---- the inventory ---- */

json_t *inventory(void)
{
	json_t *rgs = json_array(), *res = json_array(), *ops = json_array();
	for (struct rgroup *g = emu.rgs; g; g = g->next)
		json_array_append_new(rgs, json_pack("{s:O,s:s,s:s,s:O,s:O*,s:O}", "id", json_object_get(g->obj, "id"),
						     "subscription", g->sub, "name", g->name, "location",
						     json_object_get(g->obj, "location"), "tags", json_object_get(g->obj, "tags"),
						     "provisioningState",
						     json_object_get(json_object_get(g->obj, "properties"), "provisioningState")));
	for (struct res *x = emu.res; x; x = x->next) {
		json_t *v = res_view(x);
		json_t *p = json_object_get(v, "properties");
		json_t *e = json_pack("{s:O,s:s,s:s,s:s,s:s,s:O*,s:o,s:O*,s:b,s:O}", "id", json_object_get(v, "id"), "type", x->type,
				      "name", x->name, "subscription", x->sub, "resourceGroup", x->rg, "location",
				      json_object_get(v, "location"), "tags", json_object_get(v, "tags") ? json_incref(json_object_get(v, "tags")) : json_object(),
				      "provisioningState", json_object_get(p, "provisioningState"), "foreign", x->foreign,
				      "properties", p);
		if (strcmp(x->type, "Microsoft.Compute/virtualMachines") == 0) {
			json_object_set_new(e, "powerState", json_string(power_code(x->power)));
			json_object_set_new(e, "userData", x->user_data ? json_string(x->user_data) : json_null());
			json_object_set_new(e, "customData", x->custom_data ? json_string(x->custom_data) : json_null());
		}
		if (x->fail_code)
			json_object_set_new(e, "error", json_pack("{s:s,s:s}", "code", x->fail_code, "message", x->fail_message));
		json_decref(v);
		json_array_append_new(res, e);
	}
	static const char *const kinds[] = {"put", "delete", "action", "resourceGroupDelete"};
	for (struct op *op = emu.ops; op; op = op->next)
		json_array_append_new(ops, json_pack("{s:s,s:s,s:s,s:s,s:i,s:b}", "id", op->id, "kind", kinds[op->kind],
						     "resource", op->res_key, "status", op->status, "polls", op->polls,
						     "expired", op->expired));
	return json_pack("{s:I,s:o,s:o,s:o,s:s?}", "clock", (json_int_t)emu.clock, "resourceGroups", rgs, "resources",
			 res, "operations", ops, "imds", emu.imds_key);
}

/* ---- config ---- */

static json_t *config_json(void)
{
	return json_pack("{s:i,s:I,s:i,s:i,s:i,s:i,s:s}", "pollsToDone", emu.cfg.polls_to_done, "clockToDone",
			 (json_int_t)emu.cfg.clock_to_done, "tokenLifetime", emu.cfg.token_lifetime_s, "latencyMs",
			 emu.cfg.latency_ms, "retryAfter", emu.cfg.retry_after, "pageSize", emu.cfg.page_size, "linkBase",
			 emu.cfg.link_base);
}

static int config_set(struct req *r, json_t *b)
{
	const char *k;
	json_t *v;
	json_object_foreach(b, k, v) {
		if (strcmp(k, "linkBase") == 0) {
			const char *lb = json_string_value(v);
			if (!lb || strlen(lb) >= sizeof(emu.cfg.link_base) || (*lb && strncmp(lb, "https://", 8) != 0))
				return bad_request(r, "linkBase wants \"\" or an https:// URL without a trailing slash%s", NULL);
			snprintf(emu.cfg.link_base, sizeof(emu.cfg.link_base), "%s", lb);
			continue;
		}
		if (!json_is_integer(v))
			return bad_request(r, "config field %s wants an integer", k);
		long long n = json_integer_value(v);
		if (strcmp(k, "pollsToDone") == 0)
			emu.cfg.polls_to_done = (int)n;
		else if (strcmp(k, "clockToDone") == 0)
			emu.cfg.clock_to_done = n;
		else if (strcmp(k, "tokenLifetime") == 0 && n > 0)
			emu.cfg.token_lifetime_s = (int)n;
		else if (strcmp(k, "latencyMs") == 0 && n >= 0 && n <= 60000)
			emu.cfg.latency_ms = (int)n;
		else if (strcmp(k, "retryAfter") == 0)
			emu.cfg.retry_after = (int)n;
		else if (strcmp(k, "pageSize") == 0 && n > 0)
			emu.cfg.page_size = (int)n;
		else
			return bad_request(r, "unknown or out-of-range config field %s", k);
	}
	return 0;
}

/* ---- resources made or changed behind the client's back ---- */

static int foreign_create(struct req *r, json_t *b)
{
	const char *id = json_string_value(json_object_get(b, "id"));
	if (!id)
		return bad_request(r, "a resource needs \"id\"%s", NULL);
	_cleanup_free_ char *sub = NULL, *rg = NULL, *name = NULL;
	const char *type;
	if (id_parse(id, &sub, &rg, &type, &name) < 0) {
		/* a resource group: /subscriptions/S/resourceGroups/RG */
		char s[128], g[128];
		if (sscanf(id, "/subscriptions/%127[^/]/resourceGroups/%127[^/]", s, g) == 2 ||
		    sscanf(id, "/subscriptions/%127[^/]/resourcegroups/%127[^/]", s, g) == 2) {
			if (rg_find(s, g))
				return bad_request(r, "resource group %s exists", id);
			struct rgroup *grp = calloc(1, sizeof(*grp));
			if (!grp)
				abort();
			grp->sub = xstrdup(s);
			grp->name = xstrdup(g);
			_cleanup_free_ char *rid = xasprintf("/subscriptions/%s/resourceGroups/%s", s, g);
			const char *loc = json_string_value(json_object_get(b, "location"));
			grp->obj = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "id", rid, "name", g, "type",
					     "Microsoft.Resources/resourceGroups", "location", loc ? loc : "eastus",
					     "properties", "provisioningState", "Succeeded");
			if (json_object_get(b, "tags"))
				json_object_set(grp->obj, "tags", json_object_get(b, "tags"));
			grp->next = emu.rgs;
			emu.rgs = grp;
			return 0;
		}
		return bad_request(r, "%s is not the id of a resource type served here", id);
	}
	if (!rg_find(sub, rg))
		return bad_request(r, "resource group of %s does not exist (create it first)", id);
	_cleanup_free_ char *rid = res_id(sub, rg, type, name);
	for (struct res *x = emu.res; x; x = x->next)
		if (strcasecmp(json_string_value(json_object_get(x->obj, "id")), rid) == 0)
			return bad_request(r, "%s exists", id);
	const char *slash = strrchr(name, '/');
	const char *loc = json_string_value(json_object_get(b, "location"));
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", rid, "name", slash ? slash + 1 : name, "type", type, "location",
			      loc ? loc : "eastus");
	json_t *p = json_object_get(b, "properties");
	json_object_set_new(o, "properties", json_is_object(p) ? json_deep_copy(p) : json_object());
	json_object_set_new(json_object_get(o, "properties"), "provisioningState", json_string("Succeeded"));
	if (json_object_get(b, "tags"))
		json_object_set(o, "tags", json_object_get(b, "tags"));
	/* {"type": "SystemAssigned"}: a VM whose IMDS hands out managed-identity tokens */
	if (json_object_get(b, "identity"))
		json_object_set(o, "identity", json_object_get(b, "identity"));
	if (strcmp(type, "Microsoft.Network/virtualNetworks/subnets") == 0)
		json_object_del(o, "location");
	struct res *x = res_add(sub, rg, type, name, o);
	x->foreign = true;
	if (strcmp(type, "Microsoft.Compute/virtualMachines") == 0) {
		char g[37];
		random_guid(g);
		json_object_set_new(json_object_get(o, "properties"), "vmId", json_string(g));
		x->power = PW_RUNNING;
		const char *ud = json_string_value(json_object_get(b, "userData"));
		if (ud)
			x->user_data = xstrdup(ud);
	}
	return 0;
}

static int vm_behind_back(struct req *r, json_t *b)
{
	const char *id = json_string_value(json_object_get(b, "id"));
	const char *action = json_string_value(json_object_get(b, "action"));
	struct res *x = res_by_id(id);
	if (!x || strcmp(x->type, "Microsoft.Compute/virtualMachines") != 0)
		return bad_request(r, "no virtual machine %s", id);
	if (!action)
		return bad_request(r, "\"action\" is one of delete, deallocate, stop, start%s", NULL);
	if (strcmp(action, "delete") == 0)
		res_delete_now(x);
	else if (strcmp(action, "deallocate") == 0)
		x->power = PW_DEALLOCATED;
	else if (strcmp(action, "stop") == 0)
		x->power = PW_STOPPED;
	else if (strcmp(action, "start") == 0)
		x->power = PW_RUNNING;
	else
		return bad_request(r, "unknown action %s (delete, deallocate, stop, start)", action);
	return 0;
}

static void reset_all(void)
{
	while (emu.res)
		res_remove(emu.res);
	while (emu.rgs) {
		struct rgroup *g = emu.rgs;
		emu.rgs = g->next;
		free(g->sub);
		free(g->name);
		json_decref(g->obj);
		free(g);
	}
	while (emu.faults) {
		struct fault *f = emu.faults;
		emu.faults = f->next;
		fault_free(f);
	}
	json_array_clear(emu.requests);
	free(emu.imds_key);
	emu.imds_key = NULL;
}

void control_route(struct req *r)
{
	const char *p = r->path + strlen("/emulator");
	const char *m = r->method;
	_cleanup_(json_decrefp) json_t *b = NULL;
	if (r->len) {
		b = json_loadb(r->body, r->len, 0, NULL);
		if (!json_is_object(b)) {
			bad_request(r, "the body is not a JSON object%s", NULL);
			return;
		}
	} else {
		b = json_object();
	}
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
	bool put = strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
	if (strcmp(p, "/inventory") == 0 && get) {
		reply_json(r, 200, inventory());
	} else if (strcmp(p, "/requests") == 0 && get) {
		reply_json(r, 200, json_pack("{s:O}", "requests", emu.requests));
	} else if (strcmp(p, "/requests") == 0 && del) {
		json_array_clear(emu.requests);
		reply_json(r, 200, json_object());
	} else if (strcmp(p, "/faults") == 0 && get) {
		reply_json(r, 200, json_pack("{s:o}", "faults", faults_json()));
	} else if (strcmp(p, "/faults") == 0 && post) {
		if (fault_add(r, b) == 0)
			reply_json(r, 200, json_pack("{s:o}", "faults", faults_json()));
	} else if (strcmp(p, "/faults") == 0 && del) {
		while (emu.faults) {
			struct fault *f = emu.faults;
			emu.faults = f->next;
			fault_free(f);
		}
		reply_json(r, 200, json_pack("{s:[]}", "faults"));
	} else if (strcmp(p, "/config") == 0 && get) {
		reply_json(r, 200, config_json());
	} else if (strcmp(p, "/config") == 0 && put) {
		if (config_set(r, b) == 0)
			reply_json(r, 200, config_json());
	} else if (strcmp(p, "/clock") == 0 && (get || post)) {
		json_t *adv = json_object_get(b, "advance");
		if (post && (!json_is_integer(adv) || json_integer_value(adv) < 0)) {
			bad_request(r, "POST /emulator/clock wants {\"advance\": SECONDS}%s", NULL);
			return;
		}
		if (post) {
			emu.clock += json_integer_value(adv);
			ops_clock_tick();
		}
		reply_json(r, 200, json_pack("{s:I}", "clock", (json_int_t)emu.clock));
	} else if (strcmp(p, "/resources") == 0 && post) {
		if (foreign_create(r, b) == 0)
			reply_json(r, 201, inventory());
	} else if (strcmp(p, "/vm") == 0 && post) {
		if (vm_behind_back(r, b) == 0)
			reply_json(r, 200, inventory());
	} else if (strcmp(p, "/tokens/expire") == 0 && post) {
		tokens_expire_all();
		reply_json(r, 200, json_object());
	} else if (strcmp(p, "/imds") == 0 && put) {
		const char *id = json_string_value(json_object_get(b, "id"));
		struct res *x = res_by_id(id);
		if (!x || strcmp(x->type, "Microsoft.Compute/virtualMachines") != 0) {
			bad_request(r, "no virtual machine %s", id);
			return;
		}
		free(emu.imds_key);
		emu.imds_key = xstrdup(x->key);
		reply_json(r, 200, json_pack("{s:s}", "imds", json_string_value(json_object_get(x->obj, "id"))));
	} else if (strcmp(p, "/reset") == 0 && post) {
		reset_all();
		reply_json(r, 200, json_object());
	} else {
		reply_json(r, 404, json_pack("{s:s}", "error", "no such control call (see tests/emulators/arm/README.md)"));
	}
}
