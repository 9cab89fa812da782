/* Operations: each create, delete, start or update is a chain of steps,
 * each a Resource Manager request whose long-running operation is then
 * followed by polling: Azure-AsyncOperation, else Location, else the
 * resource's own provisioningState (also when an operation URL has
 * expired, 404) (reference/cloud-apis.md B8). Nothing here waits: a
 * submission queues its request on the provider's HTTP client and every
 * poll drives it a little, so the engine's scheduler keeps many operations
 * in flight on one thread.
 *
 * A create first lists what carries the CVM's id (earlier attempts, a VM
 * whose create failed) and deletes it, then makes the vnet and subnet when
 * missing, and PUTs the NSG, public IP, NIC and VM with If-None-Match: *.
 * A 412 means the name is taken: adopted when the tags are this CVM's
 * (a retry after a crash), else the CVM fails and the resource stays.
 * A delete lists what carries the id and deletes it in reverse order (VM,
 * NIC, public IP, NSG, OS disk), then lists again: it is done only when
 * nothing is left.
 *
 * Throttling (429, 5xx, Compute's 409 TooManyRequests, a resource still
 * in use by one being deleted) is -EAGAIN with again_ms from Retry-After
 * or a jittered backoff; a 401 fetches a new token once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/azure/azure.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

#define IN_FLIGHT_MS 5
#define MAX_THROTTLED 10
#define MAX_TRANSPORT 3
#define MAX_FIND 4     /* delete rounds before a delete that leaves things behind fails */
#define MAX_ADOPT 3    /* 412 on a name that then was gone */
#define DEFAULT_WAIT_MS 1000
#define MAX_STEPS 24

typedef enum kind { K_CREATE, K_REMOVE, K_START, K_UPDATE } kind_t;

typedef enum act {
	A_FIND,   /* list what carries the CVM's tag, plan the deletes */
	A_VNET,   /* GET the vnet: make it, or its subnet, when missing */
	A_PUT,    /* PUT with If-None-Match: * */
	A_REPUT,  /* PUT over a resource of ours (an update, a failed VM) */
	A_DELETE, /* DELETE, until a GET says 404 */
	A_START,  /* POST start */
	A_PATCH,  /* PATCH userData and tags */
} act_t;

typedef enum phase {
	PH_REQ,     /* the step's own request */
	PH_ADOPT,   /* 412: GET, is it ours? */
	PH_ASYNC,   /* GET Azure-AsyncOperation */
	PH_LOC,     /* GET Location */
	PH_CONFIRM, /* GET the resource until its state is final */
} phase_t;

typedef struct step {
	act_t act;
	az_kind_t k; /* AZ_N_KINDS: the vnet (A_VNET) */
	char *url;   /* the resource (or list) URL */
	char *body;  /* A_PUT, A_PATCH */
} step_t;

struct prov_op {
	provider_t *p;
	kind_t kind;
	char *id, *name, *attempt;
	char base[AZ_BASE_MAX];
	json_t *tags;
	step_t steps[MAX_STEPS];
	size_t n_steps, cur;
	phase_t ph;
	char *poll_url;
	json_t *found; /* A_FIND: resource ids found so far (all pages) */
	char *next_link;
	http_req_t *req;
	const char *method;
	char *url;
	const char *req_body;
	const char *extra;
	int throttled, transport, reauth, adopt, finds;
	int wait_ms; /* >0: the next request waits for a poll after this long */
	bool done;
};

static const char *verb(kind_t k) {
	switch (k) {
	case K_CREATE: return "create";
	case K_REMOVE: return "delete";
	case K_START: return "start";
	default: return "update";
	}
}

static const char *kind_word(az_kind_t k) {
	switch (k) {
	case AZ_NSG: return "network security group";
	case AZ_PIP: return "public IP";
	case AZ_NIC: return "network interface";
	case AZ_VM: return "VM";
	case AZ_DISK: return "OS disk";
	default: return "virtual network";
	}
}

static void steps_clear(prov_op_t *op, size_t from) {
	for (size_t i = from; i < op->n_steps; i++) {
		free(op->steps[i].url);
		free(op->steps[i].body);
		memset(&op->steps[i], 0, sizeof op->steps[i]);
	}
	if (op->n_steps > from) op->n_steps = from;
}

void az_op_free(prov_op_t *op) {
	if (!op) return;
	http_req_free(op->req);
	steps_clear(op, 0);
	free(op->id);
	free(op->name);
	free(op->attempt);
	json_decref(op->tags);
	json_decref(op->found);
	free(op->poll_url);
	free(op->next_link);
	free(op->url);
	free(op);
}

static void add_step(prov_op_t *op, act_t a, az_kind_t k, char *url, char *body) {
	if (op->n_steps == MAX_STEPS) abort(); /* the plans below are bounded */
	op->steps[op->n_steps++] = (step_t){.act = a, .k = k, .url = url, .body = body};
}

static void add_res_step(prov_op_t *op, act_t a, az_kind_t k, const char *name, char *body) {
	add_step(op, a, k, az_resource_url(op->p, k, name), body);
}

static void set_request(prov_op_t *op, const char *method, char *url, const char *body, const char *extra) {
	http_req_free(op->req);
	op->req = NULL;
	free(op->url);
	op->method = method;
	op->url = url;
	op->req_body = body;
	op->extra = extra;
}

static char *find_url(const prov_op_t *op) {
	_cleanup_free_ char *f = xasprintf("tagName eq 'cvmctl-id' and tagValue eq '%s'", op->id);
	_cleanup_free_ char *fe = http_escape(f);
	return az_url(op->p, "/subscriptions/%s/resourceGroups/%s/resources?api-version=2021-04-01&$filter=%s",
	              op->p->sub, op->p->rg, fe);
}

/* Sets the request of the current step's phase. */
static void enter(prov_op_t *op, phase_t ph) {
	step_t *s = &op->steps[op->cur];
	op->ph = ph;
	op->throttled = op->transport = op->reauth = 0;
	switch (ph) {
	case PH_REQ:
		switch (s->act) {
		case A_FIND: set_request(op, "GET", op->next_link ? xstrdup(op->next_link) : xstrdup(s->url), NULL, NULL); break;
		case A_VNET: set_request(op, "GET", xstrdup(s->url), NULL, NULL); break;
		case A_PUT: set_request(op, "PUT", xstrdup(s->url), s->body, "If-None-Match: *"); break;
		case A_REPUT: set_request(op, "PUT", xstrdup(s->url), s->body, NULL); break;
		case A_DELETE: set_request(op, "DELETE", xstrdup(s->url), NULL, NULL); break;
		case A_START: {
			char *q = strchr(s->url, '?');
			set_request(op, "POST", xasprintf("%.*s/start%s", (int)(q - s->url), s->url, q), NULL, NULL);
			break;
		}
		case A_PATCH: set_request(op, "PATCH", xstrdup(s->url), s->body, NULL); break;
		}
		break;
	case PH_ASYNC:
	case PH_LOC: set_request(op, "GET", xstrdup(op->poll_url), NULL, NULL); break;
	case PH_ADOPT:
	case PH_CONFIRM: set_request(op, "GET", xstrdup(s->url), NULL, NULL); break;
	}
}

static int send(prov_op_t *op, prov_call_t *call) {
	op->req = az_submit(op->p, op->method, op->url, op->req_body, op->extra, &call->err);
	if (!op->req) return -EACCES;
	http_drive(op->p->http, op->req, 0);
	call->again_ms = IN_FLIGHT_MS;
	return 0;
}

static int fail(prov_op_t *op, prov_call_t *call, int rc, char *msg) {
	call->err = msg ? msg : xasprintf("provider %s: the %s of %s failed", op->p->name, verb(op->kind), op->name);
	return rc;
}

static int fail_http(prov_op_t *op, prov_call_t *call) {
	const step_t *s = &op->steps[op->cur];
	_cleanup_free_ char *w = xasprintf("the %s of CVM %s (%s)", verb(op->kind), op->name, kind_word(s->k));
	return fail(op, call, -EIO, az_error_message(op->p, w, op->req));
}

static int finish(prov_op_t *op, prov_call_t *call) {
	if (op->kind == K_CREATE) call->handle = az_resource_id(op->p, AZ_VM, op->base);
	op->done = true;
	return 1;
}

/* The step is done: the next one's request is set, or the op is done. */
static int next_step(prov_op_t *op, prov_call_t *call) {
	if (++op->cur >= op->n_steps) return finish(op, call);
	enter(op, PH_REQ);
	return 0;
}

static void wait_for(prov_op_t *op, const http_req_t *r) {
	int ra = r ? http_retry_after_ms(r) : -1;
	op->wait_ms = ra > 0 ? ra : DEFAULT_WAIT_MS;
}

/* After a write was accepted: follow its operation, or the resource. */
static int follow(prov_op_t *op, const json_t *j) {
	const char *ao = http_async_operation(op->req), *loc = http_location(op->req);
	wait_for(op, op->req);
	free(op->poll_url);
	op->poll_url = NULL;
	if (ao && *ao) {
		op->poll_url = xstrdup(ao);
		enter(op, PH_ASYNC);
	} else if (loc && *loc) {
		op->poll_url = xstrdup(loc);
		enter(op, PH_LOC);
	} else {
		const char *ps = json_string_value(json_object_get(json_object_get(j, "properties"), "provisioningState"));
		if (op->steps[op->cur].act != A_DELETE && ps && !strcasecmp(ps, "Succeeded")) {
			op->wait_ms = 0;
			return 1; /* done at once */
		}
		enter(op, PH_CONFIRM);
	}
	return 0;
}

static int after_write(prov_op_t *op, const json_t *j, prov_call_t *call) {
	int r = follow(op, j);
	return r == 1 ? next_step(op, call) : 0;
}

static const char *prov_state(const json_t *j) {
	return json_string_value(json_object_get(json_object_get(j, "properties"), "provisioningState"));
}

/* The kind of a resource id's type, or AZ_N_KINDS. */
static az_kind_t kind_of_type(const char *type) {
	if (!type) return AZ_N_KINDS;
	static const char *const types[] = {"Microsoft.Network/networkSecurityGroups", "Microsoft.Network/publicIPAddresses",
	                                    "Microsoft.Network/networkInterfaces", "Microsoft.Compute/virtualMachines",
	                                    "Microsoft.Compute/disks"};
	for (int k = 0; k < AZ_N_KINDS; k++)
		if (!strcasecmp(type, types[k])) return (az_kind_t)k;
	return AZ_N_KINDS;
}

/* The delete steps of what A_FIND found, VM first; create keeps what
 * belongs to its own attempt (unless it is a failed VM). Then the steps
 * that followed A_FIND in the plan. */
static int plan_deletes(prov_op_t *op, prov_call_t *call) {
	/* Keep the rest of the plan (create's PUTs) aside. */
	size_t rest_from = op->cur + 1, n_rest = op->n_steps - rest_from;
	step_t rest[MAX_STEPS];
	memcpy(rest, &op->steps[rest_from], n_rest * sizeof *rest);
	op->n_steps = rest_from;
	static const az_kind_t order[] = {AZ_VM, AZ_NIC, AZ_PIP, AZ_NSG, AZ_DISK};
	size_t n_del = 0;
	for (size_t o = 0; o < ARRAY_SIZE(order); o++) {
		size_t i;
		json_t *x;
		json_array_foreach(op->found, i, x) {
			const char *name = json_string_value(json_object_get(x, "name"));
			const char *attempt = json_string_value(json_object_get(x, "attempt"));
			const char *ps = json_string_value(json_object_get(x, "state"));
			az_kind_t k = kind_of_type(json_string_value(json_object_get(x, "type")));
			if (k != order[o] || !name) continue;
			if (op->kind == K_CREATE && streq(attempt, op->attempt) && !(k == AZ_VM && ps && !strcasecmp(ps, "Failed")))
				continue;
			if (op->n_steps + n_rest + 2 >= MAX_STEPS) break;
			add_res_step(op, A_DELETE, k, name, NULL);
			n_del++;
			if (k == AZ_VM) {
				/* Its OS disk carries no tags of ours: it goes by name. */
				_cleanup_free_ char *d = az_kind_name(AZ_DISK, name);
				add_res_step(op, A_DELETE, AZ_DISK, d, NULL);
			}
		}
	}
	json_decref(op->found);
	op->found = NULL;
	if (op->kind == K_REMOVE) {
		if (!n_del) return finish(op, call); /* nothing carries the id: gone */
		if (++op->finds > MAX_FIND)
			return fail(op, call, -EIO,
			            xasprintf("provider %s: resources of CVM %s are still there after %d rounds of deletes",
			                      op->p->name, op->name, MAX_FIND));
		/* Then list again: done only when nothing is left. */
		add_step(op, A_FIND, AZ_N_KINDS, find_url(op), NULL);
	} else if (n_del) {
		log_info("provider %s: deleting %zu resource%s an earlier attempt of %s left", op->p->name, n_del,
		         n_del == 1 ? "" : "s", op->name);
	}
	memcpy(&op->steps[op->n_steps], rest, n_rest * sizeof *rest);
	op->n_steps += n_rest;
	return next_step(op, call);
}

static int found_page(prov_op_t *op, const json_t *j, prov_call_t *call) {
	if (!op->found) op->found = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "value"), i, x) {
		const json_t *tags = json_object_get(x, "tags");
		if (!az_tags_ours(tags, op->id)) continue; /* a server that ignored the filter */
		json_array_append_new(op->found,
		                      json_pack("{s:s?, s:s?, s:s?, s:s?}", "name", json_string_value(json_object_get(x, "name")),
		                                "type", json_string_value(json_object_get(x, "type")), "attempt",
		                                az_tag(tags, "cvmctl-attempt"), "state", prov_state(x)));
	}
	const char *next = json_string_value(json_object_get(j, "nextLink"));
	free(op->next_link);
	op->next_link = next && *next ? xstrdup(next) : NULL;
	if (op->next_link) {
		if (!az_url_ours(op->p, op->next_link))
			return fail(op, call, -EPROTO,
			            xasprintf("provider %s: the list of CVM %s's resources continues at %s, not at the "
			                      "configured endpoint %s; it is not followed with the token",
			                      op->p->name, op->name, op->next_link, op->p->arm));
		enter(op, PH_REQ);
		return 0;
	}
	return plan_deletes(op, call);
}

static bool subnet_present(const provider_t *p, const json_t *vnet) {
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(json_object_get(vnet, "properties"), "subnets"), i, s)
		if (!strcasecmp(json_string_value(json_object_get(s, "name")) ?: "", p->subnet)) return true;
	return false;
}

static int not_ours(prov_op_t *op, const json_t *j, prov_call_t *call) {
	const step_t *s = &op->steps[op->cur];
	_cleanup_free_ char *name = xstrdup(json_string_value(json_object_get(j, "name")));
	const char *other = az_tag(json_object_get(j, "tags"), "cvmctl-id");
	return fail(op, call, -EEXIST,
	            xasprintf("provider %s: %s %s in resource group %s is not CVM %s's (%s%s); it is left alone", op->p->name,
	                      kind_word(s->k), name ? name : op->base, op->p->rg, op->name,
	                      other ? "it carries cvmctl-id " : "it has no cvmctl tags", other ? other : ""));
}

/* One finished answer: 1 done, 0 go on, < 0 failed. */
static int answer(prov_op_t *op, long st, const json_t *j, prov_call_t *call) {
	step_t *s = &op->steps[op->cur];
	switch (op->ph) {
	case PH_REQ:
		switch (s->act) {
		case A_FIND:
			if (st == 200) return found_page(op, j, call);
			return fail_http(op, call);
		case A_VNET:
			if (st == 200) {
				const char *ps = prov_state(j);
				if (ps && strcasecmp(ps, "Succeeded") && strcasecmp(ps, "Failed")) {
					wait_for(op, op->req); /* being made by another CVM's create */
					enter(op, PH_REQ);
					return 0;
				}
				if (subnet_present(op->p, j)) {
					op->p->net_ready = true;
					return next_step(op, call);
				}
				/* A vnet without our subnet: the subnet is added. */
				char *url = az_url(op->p,
				                   "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/"
				                   "virtualNetworks/%s/subnets/%s?api-version=%s",
				                   op->p->sub, op->p->rg, op->p->vnet, op->p->subnet, AZ_API_NETWORK);
				json_t *b = az_subnet_body(op->p);
				free(s->url);
				s->url = url;
				s->body = json_dumps(b, JSON_COMPACT);
				json_decref(b);
				s->act = A_REPUT;
				enter(op, PH_REQ);
				return 0;
			}
			if (st == 404) {
				json_t *b = az_vnet_body(op->p);
				s->body = json_dumps(b, JSON_COMPACT);
				json_decref(b);
				s->act = A_PUT;
				enter(op, PH_REQ);
				return 0;
			}
			return fail_http(op, call);
		case A_PUT:
		case A_REPUT:
			if (st == 200 || st == 201) return after_write(op, j, call);
			if (st == 412) {
				if (s->k == AZ_N_KINDS) { /* another create made the vnet meanwhile */
					s->act = A_VNET;
					free(s->body);
					s->body = NULL;
					wait_for(op, NULL);
					enter(op, PH_REQ);
					return 0;
				}
				enter(op, PH_ADOPT);
				return 0;
			}
			return fail_http(op, call);
		case A_DELETE:
			if (st == 204 || st == 404) return next_step(op, call);
			if (st == 200 || st == 202) return after_write(op, j, call);
			return fail_http(op, call);
		case A_START:
		case A_PATCH:
			if (st == 200 || st == 202) return after_write(op, j, call);
			if (st == 404 && s->act == A_START)
				return fail(op, call, -ENOENT,
				            xasprintf("provider %s: VM %s of CVM %s is gone; it cannot be started", op->p->name,
				                      op->base, op->name));
			return fail_http(op, call);
		}
		break;
	case PH_ADOPT:
		if (st == 200) {
			if (!az_tags_ours(json_object_get(j, "tags"), op->id)) return not_ours(op, j, call);
			const char *ps = prov_state(j);
			if (ps && !strcasecmp(ps, "Failed")) {
				s->act = A_REPUT; /* ours, failed: PUT again */
				enter(op, PH_REQ);
				return 0;
			}
			log_info("provider %s: %s %s already carries CVM id %s: taking it (an earlier attempt made it)",
			         op->p->name, kind_word(s->k), az_tag(json_object_get(j, "tags"), "cvmctl-name") ?: op->base,
			         op->id);
			if (ps && !strcasecmp(ps, "Succeeded")) return next_step(op, call);
			wait_for(op, op->req);
			enter(op, PH_CONFIRM);
			return 0;
		}
		if (st == 404 && op->adopt++ < MAX_ADOPT) {
			enter(op, PH_REQ);
			return 0;
		}
		return fail_http(op, call);
	case PH_ASYNC:
		if (st == 200) {
			const char *status = json_string_value(json_object_get(j, "status"));
			if (status && !strcasecmp(status, "Succeeded")) {
				if (s->act == A_START) return next_step(op, call);
				wait_for(op, NULL);
				op->wait_ms = 0;
				enter(op, PH_CONFIRM);
				return 0;
			}
			if (status && (!strcasecmp(status, "Failed") || !strcasecmp(status, "Canceled") ||
			               !strcasecmp(status, "Cancelled"))) {
				const json_t *e = json_object_get(j, "error");
				const char *ec = json_string_value(json_object_get(e, "code"));
				const char *em = json_string_value(json_object_get(e, "message"));
				const char *const secrets[] = {op->p->tok.token, NULL};
				_cleanup_free_ char *m = http_scrub(em ? em : "", em ? strlen(em) : 0, secrets, 400);
				return fail(op, call, -EIO,
				            xasprintf("provider %s: the %s of CVM %s (%s %s) %s: %s%s%s", op->p->name, verb(op->kind),
				                      op->name, kind_word(s->k), op->base, strcasecmp(status, "Failed") ? "was canceled" : "failed",
				                      ec ? ec : status, *m ? ": " : "", m));
			}
			wait_for(op, op->req);
			enter(op, PH_ASYNC);
			return 0;
		}
		if (st == 404) { /* the operation URL expired: the resource tells */
			enter(op, PH_CONFIRM);
			return 0;
		}
		return fail_http(op, call);
	case PH_LOC:
		if (st == 202) {
			wait_for(op, op->req);
			enter(op, PH_LOC);
			return 0;
		}
		if (st == 200 || st == 204 || st == 404) {
			if (s->act == A_START) return next_step(op, call);
			enter(op, PH_CONFIRM);
			return 0;
		}
		return fail_http(op, call);
	case PH_CONFIRM:
		if (s->act == A_DELETE) {
			if (st == 404) return next_step(op, call);
			if (st == 200) {
				const char *ps = prov_state(j);
				if (!ps || strcasecmp(ps, "Deleting")) {
					enter(op, PH_REQ); /* not being deleted (canceled?): again */
					wait_for(op, NULL);
					return 0;
				}
				wait_for(op, op->req);
				enter(op, PH_CONFIRM);
				return 0;
			}
			return fail_http(op, call);
		}
		if (st == 200) {
			const char *ps = prov_state(j);
			if (!ps || !strcasecmp(ps, "Succeeded")) return next_step(op, call);
			if (!strcasecmp(ps, "Failed") || !strcasecmp(ps, "Canceled"))
				return fail(op, call, -EIO,
				            xasprintf("provider %s: the %s of CVM %s: %s %s ended %s", op->p->name, verb(op->kind),
				                      op->name, kind_word(s->k), op->base, ps));
			wait_for(op, op->req);
			enter(op, PH_CONFIRM);
			return 0;
		}
		return fail_http(op, call);
	}
	return fail(op, call, -EINVAL, NULL);
}

int az_op_poll(provider_t *p, prov_op_t *op, prov_call_t *call) {
	(void)p;
	if (op->done) return finish(op, call);
	if (!op->req) {
		op->wait_ms = 0;
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
			/* Lost: sent again; a PUT of the same body, a DELETE, a GET are safe. */
			log_debug("provider %s: %s; sending it again", op->p->name, http_transport_error(op->req));
			http_req_free(TAKE_PTR(op->req));
			call->again_ms = az_again_ms(op->p, NULL, op->transport);
			return -EAGAIN;
		}
		return fail_http(op, call);
	}
	if (st == 401 && op->reauth++ == 0) {
		token_clear(&op->p->tok);
		http_req_free(TAKE_PTR(op->req));
		return send(op, call);
	}
	const char *code = az_error_code(j);
	bool in_use = st == 400 && (!strcmp(code, "NicInUse") || !strcmp(code, "PublicIPAddressCannotBeDeleted") ||
	                            !strcmp(code, "InUseNetworkSecurityGroupCannotBeDeleted"));
	bool disk_attached = st == 409 && op->steps[op->cur].k == AZ_DISK && !strcmp(code, "OperationNotAllowed");
	if (az_throttled(st, j) || in_use || disk_attached) {
		if (++op->throttled > MAX_THROTTLED) return fail_http(op, call);
		call->again_ms = az_again_ms(op->p, op->req, op->throttled - 1);
		call->err = az_error_message(op->p, "throttled", op->req);
		http_req_free(TAKE_PTR(op->req));
		return -EAGAIN;
	}
	op->wait_ms = 0;
	int r = answer(op, st, j, call);
	if (r != 0) return r;
	if (op->wait_ms > 0) {
		/* The next poll sends it, after the operation's Retry-After. */
		http_req_free(TAKE_PTR(op->req));
		call->again_ms = op->wait_ms;
		return 0;
	}
	http_req_free(TAKE_PTR(op->req));
	return send(op, call);
}

/* ---- submissions ---- */

static prov_op_t *op_new(provider_t *p, kind_t kind, const char *id, const char *name) {
	prov_op_t *op = xcalloc(1, sizeof *op);
	op->p = p;
	op->kind = kind;
	op->id = xstrdup(id);
	op->name = xstrdup(name ? name : id);
	return op;
}

static int launch(prov_op_t *op, prov_call_t *call) {
	op->cur = 0;
	enter(op, PH_REQ);
	int r = send(op, call);
	if (r < 0) {
		az_op_free(op);
		return r;
	}
	call->op = op;
	return 0;
}

static char *dumps(json_t *j) {
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

int az_op_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	prov_op_t *op = op_new(p, K_CREATE, want->id, want->name);
	op->attempt = xstrdup(want->attempt);
	az_base_name(want->name, want->id, want->attempt, op->base);
	op->tags = az_tags(want, &call->err);
	json_t *vm = op->tags ? az_vm_body(p, want, op->base, op->tags, &call->err) : NULL;
	if (!vm) {
		az_op_free(op);
		return -EINVAL;
	}
	add_step(op, A_FIND, AZ_N_KINDS, find_url(op), NULL);
	if (!p->net_ready)
		add_step(op, A_VNET, AZ_N_KINDS,
		         az_url(p, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s?api-version=%s",
		                p->sub, p->rg, p->vnet, AZ_API_NETWORK),
		         NULL);
	_cleanup_free_ char *nsg = az_kind_name(AZ_NSG, op->base), *pip = az_kind_name(AZ_PIP, op->base),
	                    *nic = az_kind_name(AZ_NIC, op->base);
	add_res_step(op, A_PUT, AZ_NSG, nsg, dumps(az_nsg_body(p, want, op->tags)));
	if (p->public_ip) add_res_step(op, A_PUT, AZ_PIP, pip, dumps(az_pip_body(p, op->tags)));
	add_res_step(op, A_PUT, AZ_NIC, nic, dumps(az_nic_body(p, op->base, op->tags)));
	add_res_step(op, A_PUT, AZ_VM, op->base, dumps(vm));
	return launch(op, call);
}

/* The VM's name: the handle's last segment, else the observation's. */
static bool vm_name(const prov_target_t *t, char out[AZ_BASE_MAX]) {
	const char *h = t->handle && *t->handle ? t->handle : t->observed ? t->observed->handle : NULL;
	const char *v = h ? strcasestr(h, "/virtualMachines/") : NULL;
	if (!v || !v[17] || strchr(v + 17, '/')) return false;
	snprintf(out, AZ_BASE_MAX, "%s", v + 17);
	return true;
}

int az_op_remove(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	prov_op_t *op = op_new(p, K_REMOVE, t->id, t->name);
	if (!vm_name(t, op->base)) snprintf(op->base, sizeof op->base, "%s", t->name ? t->name : t->id);
	add_step(op, A_FIND, AZ_N_KINDS, find_url(op), NULL);
	return launch(op, call);
}

int az_op_start(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	prov_op_t *op = op_new(p, K_START, t->id, t->name);
	if (!vm_name(t, op->base)) {
		call->err = xasprintf("provider %s: no VM is known for CVM %s (%s)", p->name, t->name ? t->name : "?", t->id);
		az_op_free(op);
		return -EINVAL;
	}
	add_res_step(op, A_START, AZ_VM, op->base, NULL);
	return launch(op, call);
}

int az_op_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call) {
	prov_op_t *op = op_new(p, K_UPDATE, t->id, want->name);
	if (!vm_name(t, op->base)) {
		call->err = xasprintf("provider %s: no VM is known for CVM %s (%s)", p->name, want->name, t->id);
		az_op_free(op);
		return -EINVAL;
	}
	op->tags = az_tags(want, &call->err);
	_cleanup_free_ char *ud = op->tags ? az_user_data(want, &call->err) : NULL;
	if (!ud) {
		az_op_free(op);
		return -EINVAL;
	}
	/* Certificate rotation: the refresher in the guest follows userData. */
	json_t *b = json_pack("{s:O, s:{s:s}}", "tags", op->tags, "properties", "userData", ud);
	add_res_step(op, A_PATCH, AZ_VM, op->base, dumps(b));
	return launch(op, call);
}
