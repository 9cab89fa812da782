/* Long-running operations. An operation is DONE once every gate it was
 * given at creation is passed: a number of polls (get or wait on it,
 * cfg.polls_to_done), control-clock milliseconds (cfg.op_latency_clock_ms,
 * advanced by POST /emulator/clock) and, only when configured, wall-clock
 * milliseconds (cfg.op_latency_ms). Nothing advances by wall time unless
 * that knob is set. DONE may carry an injected error.errors[]. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "emu.h"

const char *op_kind_word(enum op_kind k)
{
	switch (k) {
	case OP_INSERT: return "insert";
	case OP_DELETE: return "delete";
	case OP_START: return "start";
	case OP_STOP: return "stop";
	case OP_SETMETA: return "setMetadata";
	case OP_SETLABELS: return "setLabels";
	case OP_FW_INSERT: return "insert";
	case OP_FW_DELETE: return "delete";
	case OP_FW_PATCH: return "patch";
	case OP_FW_UPDATE: return "update";
	}
	return "unknown";
}

struct operation *op_new(const char *project, const char *zone, enum op_kind kind, const char *target,
			 const char *target_id, const char *request_id, const char *user)
{
	struct operation *op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	char a[14], b[9], c[9], ts[40];
	random_hex(a, 13);
	random_hex(b, 8);
	random_hex(c, 8);
	long long now = now_wall_ms();
	op->name = xasprintf("operation-%lld-%s-%s-%s", now, a, b, c);
	op->project = xstrdup(project);
	op->zone = zone ? xstrdup(zone) : NULL;
	op->kind = kind;
	op->target = xstrdup(target);
	op->polls_needed = emu.cfg.polls_to_done;
	op->clock_start = emu.clock_ms;
	op->latency_clock_ms = emu.cfg.op_latency_clock_ms;
	op->wall_start_ms = now_mono_ms();
	op->latency_wall_ms = emu.cfg.op_latency_ms;
	_cleanup_free_ char *id = random_id();
	rfc3339(ts, sizeof(ts), now);
	op->res = json_pack("{s:s,s:s,s:s}", "kind", "compute#operation", "id", id, "name", op->name);
	if (zone)
		json_object_set_new(op->res, "zone", json_sprintf(SELF_BASE "projects/%s/zones/%s", project, zone));
	if (request_id)
		json_object_set_new(op->res, "clientOperationId", json_string(request_id));
	json_object_set_new(op->res, "operationType", json_string(op_kind_word(kind)));
	bool fw = kind == OP_FW_INSERT || kind == OP_FW_DELETE || kind == OP_FW_PATCH || kind == OP_FW_UPDATE;
	if (fw)
		json_object_set_new(op->res, "targetLink",
				    json_sprintf(SELF_BASE "projects/%s/global/firewalls/%s", project, target));
	else
		json_object_set_new(op->res, "targetLink",
				    json_sprintf(SELF_BASE "projects/%s/zones/%s/instances/%s", project, zone, target));
	json_object_set_new(op->res, "targetId", json_string(target_id));
	json_object_set_new(op->res, "status", json_string("RUNNING"));
	json_object_set_new(op->res, "user", json_string(user && *user ? user : "unknown"));
	json_object_set_new(op->res, "progress", json_integer(0));
	json_object_set_new(op->res, "insertTime", json_string(ts));
	json_object_set_new(op->res, "startTime", json_string(ts));
	if (zone)
		json_object_set_new(op->res, "selfLink",
				    json_sprintf(SELF_BASE "projects/%s/zones/%s/operations/%s", project, zone, op->name));
	else
		json_object_set_new(op->res, "selfLink",
				    json_sprintf(SELF_BASE "projects/%s/global/operations/%s", project, op->name));
	op->next = emu.ops;
	emu.ops = op;
	return op;
}

struct operation *op_find(const char *project, const char *zone, const char *name)
{
	for (struct operation *op = emu.ops; op; op = op->next) {
		if (strcmp(op->name, name) != 0 || strcmp(op->project, project) != 0)
			continue;
		if ((zone == NULL) != (op->zone == NULL) || (zone && strcmp(zone, op->zone) != 0))
			continue;
		return op;
	}
	return NULL;
}

static bool time_gates_passed(struct operation *op)
{
	if (op->latency_clock_ms > 0 && emu.clock_ms - op->clock_start < op->latency_clock_ms)
		return false;
	if (op->latency_wall_ms > 0 && now_mono_ms() - op->wall_start_ms < op->latency_wall_ms)
		return false;
	return true;
}

static void op_advance(struct operation *op)
{
	if (op->done || op->polls < op->polls_needed || !time_gates_passed(op))
		return;
	op->done = true;
	char ts[40];
	rfc3339(ts, sizeof(ts), now_wall_ms());
	json_object_set_new(op->res, "status", json_string("DONE"));
	json_object_set_new(op->res, "progress", json_integer(100));
	json_object_set_new(op->res, "endTime", json_string(ts));
	if (op->fail) {
		json_object_set_new(op->res, "httpErrorStatusCode", json_integer(op->fail_http));
		json_object_set_new(op->res, "httpErrorMessage",
				    json_string(op->fail_http == 403 ? "FORBIDDEN" : "SERVICE UNAVAILABLE"));
		json_object_set_new(op->res, "error", json_pack("{s:O}", "errors", op->fail));
	}
	op_finished(op);
	pthread_cond_broadcast(&emu.changed);
}

void op_poll(struct operation *op)
{
	if (op->done)
		return;
	op->polls++;
	op_advance(op);
	if (!op->done && (op->kind == OP_INSERT || op->kind == OP_START)) {
		struct instance *in = instance_find(op->project, op->zone, op->target);
		if (in && in->op_name && strcmp(in->op_name, op->name) == 0)
			instance_set_status(in, "STAGING");
	}
}

void ops_tick(void)
{
	for (struct operation *op = emu.ops; op; op = op->next)
		op_advance(op);
}

void ops_handle(struct req *r, const char *project, const char *zone, const char *name, bool wait)
{
	struct operation *op = op_find(project, zone, name);
	if (!op) {
		if (zone)
			reply_error(r, 404, "global", "notFound", NULL,
				    "The resource 'projects/%s/zones/%s/operations/%s' was not found", project, zone, name);
		else
			reply_error(r, 404, "global", "notFound", NULL,
				    "The resource 'projects/%s/global/operations/%s' was not found", project, name);
		return;
	}
	op_poll(op);
	if (wait && !op->done && op->polls >= op->polls_needed) {
		/* Only a time gate is left: block like the real wait does, but
		 * no longer than cfg.wait_max_ms (the real one gives up after
		 * about two minutes and returns the operation as it is). */
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		long long ms = emu.cfg.wait_max_ms;
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!op->done && !emu.stopping) {
			struct timespec step;
			clock_gettime(CLOCK_MONOTONIC, &step);
			/* Wake at least every 10 ms to see wall-time gates pass. */
			step.tv_nsec += 10 * 1000000;
			if (step.tv_nsec >= 1000000000) {
				step.tv_sec++;
				step.tv_nsec -= 1000000000;
			}
			if (step.tv_sec > until.tv_sec || (step.tv_sec == until.tv_sec && step.tv_nsec > until.tv_nsec))
				step = until;
			int rc = pthread_cond_timedwait(&emu.changed, &emu.lock, &step);
			ops_tick();
			if (rc == ETIMEDOUT && (step.tv_sec == until.tv_sec && step.tv_nsec == until.tv_nsec))
				break;
		}
	}
	reply_json(r, 200, json_deep_copy(op->res));
}
