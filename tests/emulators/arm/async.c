/* Long-running operations as Resource Manager serves them: the
 * Azure-AsyncOperation status resource and the Location result URL. An
 * operation ends on the Nth poll (of either URL, or of the resource
 * itself) or when the control clock has moved far enough; never on wall
 * time, so tests are deterministic. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

struct op *op_new(enum op_kind kind, const char *res_key, const char *ns, const char *sub, const char *location,
		  const char *api_version)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	char g[37];
	random_guid(g);
	op->id = xstrdup(g);
	op->kind = kind;
	op->res_key = xstrdup(res_key);
	op->ns = xstrdup(ns);
	op->sub = xstrdup(sub);
	op->location = xstrdup(location ? location : "eastus");
	op->api_version = xstrdup(api_version);
	op->status = xstrdup("InProgress");
	op->polls_needed = emu.cfg.polls_to_done;
	op->clock_start = emu.clock;
	iso_time(op->start_time, sizeof(op->start_time), now_wall());
	op->next = emu.ops;
	emu.ops = op;
	return op;
}

struct op *op_pending(const char *res_key)
{
	for (struct op *op = emu.ops; op; op = op->next)
		if (strcmp(op->status, "InProgress") == 0 && strcasecmp(op->res_key, res_key) == 0)
			return op;
	return NULL;
}

static void set_status(struct op *op, const char *s)
{
	free(op->status);
	op->status = xstrdup(s);
	iso_time(op->end_time, sizeof(op->end_time), now_wall());
}

void op_finish(struct op *op)
{
	if (strcmp(op->status, "InProgress") != 0)
		return;
	set_status(op, op->fail_code ? "Failed" : "Succeeded");
	res_op_finished(op);
}

void op_cancel(struct op *op)
{
	if (strcmp(op->status, "InProgress") == 0)
		set_status(op, "Canceled");
}

void op_poll(struct op *op)
{
	if (strcmp(op->status, "InProgress") != 0)
		return;
	if (++op->polls >= op->polls_needed)
		op_finish(op);
}

void ops_clock_tick(void)
{
	if (emu.cfg.clock_to_done <= 0)
		return;
	for (struct op *op = emu.ops; op; op = op->next)
		if (strcmp(op->status, "InProgress") == 0 && emu.clock - op->clock_start >= emu.cfg.clock_to_done)
			op_finish(op);
}

static char *status_url(struct op *op)
{
	return xasprintf("%s/subscriptions/%s/providers/%s/locations/%s/operations/%s?api-version=%s", link_base(), op->sub,
			 op->ns, op->location, op->id, op->api_version);
}

static char *result_url(struct op *op)
{
	if (op->kind == OP_RG_DELETE)
		return xasprintf("%s/subscriptions/%s/operationresults/%s?api-version=%s", link_base(), op->sub, op->id,
				 op->api_version);
	return xasprintf("%s/subscriptions/%s/providers/%s/locations/%s/operationResults/%s?api-version=%s", link_base(),
			 op->sub, op->ns, op->location, op->id, op->api_version);
}

void op_headers(struct req *r, struct op *op, bool location)
{
	if (op->kind != OP_RG_DELETE) {
		_cleanup_free_ char *u = status_url(op);
		reply_header(r, "Azure-AsyncOperation", "%s", u);
	}
	if (location || op->kind == OP_RG_DELETE) {
		_cleanup_free_ char *u = result_url(op);
		reply_header(r, "Location", "%s", u);
	}
	if (emu.cfg.retry_after >= 0)
		reply_header(r, "Retry-After", "%d", emu.cfg.retry_after);
}

static struct op *op_find(const char *id)
{
	for (struct op *op = emu.ops; op; op = op->next)
		if (strcasecmp(op->id, id) == 0)
			return op;
	return NULL;
}

static void op_gone(struct req *r)
{
	reply_error(r, 404, "NotFound", NULL, "The entity was not found in this Azure location.");
}

/* GET .../providers/{ns}/locations/{loc}/operations/{id},
 *     .../providers/{ns}/locations/{loc}/operationResults/{id},
 *     /subscriptions/{s}/operationresults/{id} (resource group deletes). */
bool async_route(struct req *r, const char *sub, char **seg, int n)
{
	(void)sub;
	bool status = n == 8 && strcasecmp(seg[6], "operations") == 0;
	bool result = (n == 8 && strcasecmp(seg[6], "operationResults") == 0) ||
		      (n == 4 && strcasecmp(seg[2], "operationresults") == 0);
	if (!status && !result)
		return false;
	if (strcmp(r->method, "GET") != 0) {
		reply_error(r, 405, "MethodNotAllowed", NULL, "The requested resource does not support http method '%s'.",
			    r->method);
		return true;
	}
	struct op *op = op_find(seg[n - 1]);
	if (!op || op->expired) {
		op_gone(r);
		return true;
	}
	op_poll(op);
	bool running = strcmp(op->status, "InProgress") == 0;
	if (status) {
		json_t *b = json_pack("{s:s,s:s,s:s}", "name", op->id, "status", op->status, "startTime", op->start_time);
		if (!running)
			json_object_set_new(b, "endTime", json_string(op->end_time));
		if (strcmp(op->status, "Failed") == 0)
			json_object_set_new(b, "error", json_pack("{s:s,s:s}", "code", op->fail_code, "message", op->fail_message));
		if (running && emu.cfg.retry_after >= 0)
			reply_header(r, "Retry-After", "%d", emu.cfg.retry_after);
		reply_json(r, 200, b);
		return true;
	}
	if (running) {
		_cleanup_free_ char *u = result_url(op);
		reply_header(r, "Location", "%s", u);
		if (emu.cfg.retry_after >= 0)
			reply_header(r, "Retry-After", "%d", emu.cfg.retry_after);
		reply_empty(r, 202);
		return true;
	}
	if (strcmp(op->status, "Failed") == 0) {
		reply_json(r, 400, arm_error(op->fail_code, NULL, op->fail_message));
		return true;
	}
	if (strcmp(op->status, "Canceled") == 0) {
		reply_json(r, 409, arm_error("OperationCanceled", NULL, "The operation was canceled."));
		return true;
	}
	struct res *x = op->kind == OP_PUT ? res_find(op->res_key) : NULL;
	if (x)
		reply_json(r, 200, res_view(x));
	else if (op->kind == OP_ACTION)
		reply_empty(r, 200);
	else
		reply_empty(r, 204);
	return true;
}
