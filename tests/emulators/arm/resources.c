/* Resource Manager: the URL space under /subscriptions, resource groups,
 * and the PUT/GET/PATCH/DELETE/list handlers of the resource types a
 * confidential VM needs (their builders are in network.c and compute.c),
 * deletes with their checks and cascades, and what an operation's end does. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "res.h"

json_t *res_view(struct res *x)
{
	if (res_is(x, T_VM))
		return vm_view(x, false, false);
	json_t *o = json_deep_copy(x->obj);
	if (res_is(x, T_VNET)) {
		json_t *subs = json_array();
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res; s; s = s->next)
			if (res_is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/')
				json_array_append_new(subs, json_deep_copy(s->obj));
		json_object_set_new(json_object_get(o, "properties"), "subnets", subs);
	}
	return o;
}

/* ---- deletes and their cascades ---- */


/* Removes X and undoes its references (the checks were made before). */
void res_delete_now(struct res *x)
{
	if (res_is(x, T_VM)) {
		vm_delete_effects(x);
	} else if (res_is(x, T_NIC)) {
		nic_unlink(x);
		/* a public IP made with deleteOption Delete goes with its NIC */
		size_t i;
		json_t *ipc;
		json_array_foreach(json_object_get(res_props(x), "ipConfigurations"), i, ipc) {
			json_t *ip = json_object_get(ipc, "properties");
			struct res *pip = res_by_id(ref_id(ip, "publicIPAddress"));
			if (pip && streqi(json_sget(res_props(pip), "deleteOption", NULL, NULL), "Delete"))
				res_remove(pip);
		}
	} else if (res_is(x, T_VNET)) {
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res, *next; s; s = next) {
			next = s->next;
			if (res_is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/')
				res_remove(s);
		}
	}
	if (strcmp(emu.imds_key ? emu.imds_key : "", x->key) == 0) {
		free(emu.imds_key);
		emu.imds_key = NULL;
	}
	res_remove(x);
}

/* 0 when nothing stops X from being deleted; else the 400/409 answered. */
static int delete_check(struct req *r, struct res *x)
{
	json_t *p = res_props(x);
	if (res_is(x, T_NIC) && ref_id(p, "virtualMachine")) {
		reply_error(r, 400, "NicInUse", NULL,
			    "Network Interface %s is used by existing resource %s. In order to delete the network interface, "
			    "it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
			    res_id_of(x), ref_id(p, "virtualMachine"));
		return -EBUSY;
	}
	if (res_is(x, T_PIP) && ref_id(p, "ipConfiguration")) {
		reply_error(r, 400, "PublicIPAddressCannotBeDeleted", NULL,
			    "Public IP address %s can not be deleted since it is still allocated to resource %s. In order "
			    "to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn "
			    "how to do this, see aka.ms/deletepublicip.", res_id_of(x), ref_id(p, "ipConfiguration"));
		return -EBUSY;
	}
	if (res_is(x, T_NSG) && json_array_size(json_object_get(p, "networkInterfaces")) > 0) {
		reply_error(r, 400, "InUseNetworkSecurityGroupCannotBeDeleted", NULL,
			    "Network security group %s cannot be deleted because it is in use by the following resources: "
			    "%s. In order to delete the Network security group, remove the association with the resource(s). "
			    "To learn how to do this, see aka.ms/deletensg.", res_id_of(x),
			    json_string_value(json_object_get(json_array_get(json_object_get(p, "networkInterfaces"), 0), "id")));
		return -EBUSY;
	}
	if (res_is(x, T_SUBNET) && json_array_size(json_object_get(p, "ipConfigurations")) > 0) {
		reply_error(r, 400, "InUseSubnetCannotBeDeleted", NULL,
			    "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, delete all the "
			    "resources within the subnet. See aka.ms/deletesubnet.", json_string_value(json_object_get(x->obj, "name")),
			    json_string_value(json_object_get(json_array_get(json_object_get(p, "ipConfigurations"), 0), "id")));
		return -EBUSY;
	}
	if (res_is(x, T_VNET)) {
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res; s; s = s->next)
			if (res_is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/' &&
			    delete_check(r, s) < 0)
				return -EBUSY;
	}
	if (res_is(x, T_DISK) && json_string_value(json_object_get(x->obj, "managedBy"))) {
		reply_error(r, 409, "OperationNotAllowed", NULL, "Disk %s is attached to VM %s.",
			    json_string_value(json_object_get(x->obj, "name")),
			    json_string_value(json_object_get(x->obj, "managedBy")));
		return -EBUSY;
	}
	return 0;
}

void res_op_finished(struct op *op)
{
	if (op->kind == OP_RG_DELETE) {
		_cleanup_free_ char *prefix = xasprintf("%s/", op->res_key);
		/* VMs first, so that their NICs and disks are free to go */
		for (int pass = 0; pass < 3; pass++)
			for (struct res *x = emu.res, *next; x; x = next) {
				next = x->next;
				if (strncasecmp(x->key, prefix, strlen(prefix)) != 0)
					continue;
				if ((pass == 0 && res_is(x, T_VM)) || (pass == 1 && res_is(x, T_NIC)) || pass == 2) {
					res_delete_now(x);
					next = emu.res; /* a cascade may have removed the next one */
				}
			}
		for (struct rgroup **pp = &emu.rgs; *pp; pp = &(*pp)->next) {
			_cleanup_free_ char *k = xasprintf("%s/%s", (*pp)->sub, (*pp)->name);
			if (strcasecmp(k, op->res_key) == 0) {
				struct rgroup *g = *pp;
				*pp = g->next;
				free(g->sub);
				free(g->name);
				json_decref(g->obj);
				free(g);
				break;
			}
		}
		return;
	}
	struct res *x = res_find(op->res_key);
	if (!x)
		return;
	bool failed = streqi(op->status, "Failed");
	if (op->kind == OP_DELETE) {
		if (failed)
			res_set_state(x, "Failed");
		else
			res_delete_now(x);
		return;
	}
	if (op->kind == OP_ACTION) {
		if (failed)
			return;
		if (streqi(op->action, "deallocate"))
			x->power = PW_DEALLOCATED;
		else if (streqi(op->action, "powerOff"))
			x->power = PW_STOPPED;
		else
			x->power = PW_RUNNING;
		return;
	}
	if (failed) {
		res_set_state(x, "Failed");
		free(x->fail_code);
		free(x->fail_message);
		x->fail_code = xstrdup(op->fail_code);
		x->fail_message = xstrdup(op->fail_message);
		if (res_is(x, T_VM) && x->power == PW_STARTING)
			x->power = PW_DEALLOCATED;
		return;
	}
	res_set_state(x, "Succeeded");
	free(x->fail_code);
	free(x->fail_message);
	x->fail_code = x->fail_message = NULL;
	if (res_is(x, T_VM) && (x->power == PW_STARTING || x->power == PW_NONE))
		x->power = PW_RUNNING;
}

/* ---- handlers ---- */

static const char *location_for_errors(json_t *body, struct res *x)
{
	const char *l = json_string_value(json_object_get(body, "location"));
	if (!l && x)
		l = json_string_value(json_object_get(x->obj, "location"));
	return l ? l : "eastus";
}

static struct op *start_op(struct ctx *c, enum op_kind kind, const char *key, const char *location)
{
	struct op *op = op_new(kind, key, c->ns, c->sub, location, c->api);
	struct fault *f = c->r->async_fault;
	if (f && f->action == FA_ASYNC_FAIL) {
		op->fail_code = xstrdup(f->code ? f->code : "AllocationFailed");
		op->fail_message = xstrdup(f->message ? f->message
					   : "Allocation failed. We do not have sufficient capacity for the requested VM "
					     "size in this region. Read more about improving likelihood of allocation "
					     "success at http://aka.ms/allocation-guidance");
	}
	if (f && f->action == FA_ASYNC_EXPIRE)
		op->expired = true;
	if (op->polls_needed <= 0)
		op_finish(op);
	return op;
}

static int parse_body(struct ctx *c, json_t **out)
{
	json_error_t err;
	json_t *b = json_loadb(c->r->body, c->r->len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(b)) {
		json_decref(b);
		_cleanup_free_ char *m = xasprintf("Unexpected character encountered while parsing value: %s. Path '', line %d, "
						   "position %d.", err.text, err.line, err.column);
		if (streqi(c->ns, "Microsoft.Compute")) {
			_cleanup_free_ char *mm = xasprintf("The request content was invalid and could not be deserialized: '%s'.", m);
			reply_json(c->r, 400, arm_error("InvalidRequestContent", NULL, mm));
		} else {
			json_t *e = arm_error("InvalidRequestFormat", NULL, "Cannot parse the request.");
			json_object_set_new(json_object_get(e, "error"), "details",
					    json_pack("[{s:s,s:s}]", "code", "InvalidJson", "message", m));
			reply_json(c->r, 400, e);
		}
		return -EINVAL;
	}
	*out = b;
	return 0;
}

static bool preconditions(struct ctx *c, struct res *x)
{
	const char *inm = req_header(c->r, "If-None-Match");
	const char *im = req_header(c->r, "If-Match");
	if (inm && strcmp(inm, "*") == 0 && x) {
		reply_error(c->r, 412, "PreconditionFailed", NULL,
			    "The condition specified using HTTP conditional header(s) is not met.");
		return false;
	}
	if (im) {
		const char *etag = x ? json_string_value(json_object_get(x->obj, "etag")) : NULL;
		if (!x || (strcmp(im, "*") != 0 && (!etag || strcmp(im, etag) != 0))) {
			reply_error(c->r, 412, "PreconditionFailed", NULL,
				    "The condition specified using HTTP conditional header(s) is not met.");
			return false;
		}
	}
	return true;
}

static int busy(struct ctx *c, struct op *op)
{
	if (streqi(c->ns, "Microsoft.Compute"))
		reply_error(c->r, 409, "OperationNotAllowed", NULL,
			    "Operation '%s' is not allowed on '%s' since another operation (%s) is in progress on it.",
			    c->r->method, c->name, op->id);
	else
		reply_error(c->r, 429, "AnotherOperationInProgress", NULL,
			    "Another operation on this or dependent resource is in progress. To retrieve status of the "
			    "operation use uri: %s/subscriptions/%s/providers/%s/locations/%s/operations/%s?api-version=%s.",
			    emu.base, op->sub, op->ns, op->location, op->id, op->api_version);
	reply_header(c->r, "Retry-After", "%d", emu.cfg.retry_after > 0 ? emu.cfg.retry_after : 1);
	return -EBUSY;
}

static void put_resource(struct ctx *c, bool patch)
{
	struct req *r = c->r;
	struct res *x = res_find(c->key);
	if (x && streqi(res_state(x), "Deleting")) {
		struct op *op = op_pending(c->key);
		if (op) {
			busy(c, op);
			return;
		}
	}
	if (patch && !x) {
		not_found(c);
		return;
	}
	if (!preconditions(c, x))
		return;
	_cleanup_(json_decrefp) json_t *body = NULL;
	if (parse_body(c, &body) < 0)
		return;
	if (schema_check(r, body, c->t->model, c->ns) < 0)
		return;
	if (patch) {
		/* PATCH: the new tags replace the old; properties merge */
		json_t *merged = json_deep_copy(x->obj);
		json_t *tags = json_object_get(body, "tags");
		json_object_update_recursive(merged, body);
		if (tags)
			json_object_set(merged, "tags", tags);
		json_decref(body);
		body = merged;
		if (!res_is(x, T_VM)) {
			/* Network's PATCH updates tags only, and at once */
			if (validate_tags(r, json_object_get(body, "tags")) < 0)
				return;
			json_object_set(x->obj, "tags", json_object_get(body, "tags"));
			new_etag(x->obj);
			reply_json(r, 200, res_view(x));
			return;
		}
	}
	bool child = strchr(c->name, '/') != NULL;
	_cleanup_free_ char *location = NULL;
	if (!child) {
		const char *l = json_string_value(json_object_get(body, "location"));
		if (!l) {
			reply_error(r, 400, "LocationRequired", NULL, "The location property is required for this definition.");
			return;
		}
		location = norm_location(l);
		const char *ol = x ? json_string_value(json_object_get(x->obj, "location")) : NULL;
		if (ol && strcmp(ol, location) != 0) {
			reply_error(r, 400, "InvalidResourceLocation", NULL,
				    "The resource '%s' already exists in location '%s' in resource group '%s'. A resource "
				    "with the same name cannot be created in location '%s'. Please select a new resource name.",
				    c->name, ol, c->rg, location);
			return;
		}
	}
	if (validate_tags(r, json_object_get(body, "tags")) < 0)
		return;
	struct op *pending = x ? op_pending(c->key) : NULL;
	if (pending && pending->kind == OP_PUT && !patch && json_equal(pending->body, body)) {
		/* the same goal again while the first PUT runs: its operation */
		op_headers(r, pending, false);
		reply_json(r, streqi(res_state(x), "Creating") ? 201 : 200, res_view(x));
		return;
	}
	if (pending) {
		busy(c, pending);
		return;
	}

	json_t *o = res_served(c, body, location);
	json_t *subnets = NULL;
	_cleanup_free_ char *ud = NULL, *cd = NULL;
	int rc = 0;
	if (strcmp(c->t->name, T_VNET) == 0)
		rc = build_vnet(c, body, x, o, &subnets);
	else if (strcmp(c->t->name, T_NSG) == 0)
		rc = build_nsg(c, o, x);
	else if (strcmp(c->t->name, T_PIP) == 0)
		rc = build_pip(c, o, x);
	else if (strcmp(c->t->name, T_NIC) == 0)
		rc = build_nic(c, o, x);
	else if (strcmp(c->t->name, T_VM) == 0)
		rc = build_vm(c, o, x, location, &ud, &cd);
	else if (strcmp(c->t->name, T_SUBNET) == 0) {
		_cleanup_free_ char *vname = strndup(c->name, strcspn(c->name, "/"));
		_cleanup_free_ char *vkey = make_key(c->sub, c->rg, T_VNET, vname);
		struct res *vnet = res_find(vkey);
		if (!vnet) {
			reply_error(r, 404, "ResourceNotFound", NULL,
				    "The Resource '%s/%s' under resource group '%s' was not found. For more details please "
				    "go to https://aka.ms/ARMResourceNotFoundFix", T_VNET, vname, c->rg);
			rc = -ENOENT;
		} else {
			json_decref(o);
			_cleanup_free_ char *sname = xstrdup(strchr(c->name, '/') + 1);
			o = subnet_served(&(struct ctx){.sub = c->sub, .rg = c->rg, .name = vname}, sname, body, x);
		}
	} else if (strcmp(c->t->name, T_DISK) == 0) {
		json_t *p = json_object_get(o, "properties");
		if (!json_object_get(p, "diskState"))
			json_object_set_new(p, "diskState", json_string("Unattached"));
		if (x && json_object_get(x->obj, "managedBy"))
			json_object_set(o, "managedBy", json_object_get(x->obj, "managedBy"));
	}
	if (rc < 0) {
		json_decref(o);
		json_decref(subnets);
		return;
	}
	if (strcmp(c->t->name, T_VM) != 0 && strcmp(c->t->name, T_DISK) != 0)
		new_etag(o);
	json_t *old_nics = NULL;
	if (x && res_is(x, T_NIC))
		nic_unlink(x);
	if (x && res_is(x, T_VM))
		old_nics = json_incref(json_object_get(json_object_get(res_props(x), "networkProfile"), "networkInterfaces"));
	bool created = !x;
	if (x) {
		json_decref(x->obj);
		x->obj = o;
	} else {
		x = res_add(c->sub, c->rg, c->t->name, c->name, o);
	}
	if (res_is(x, T_VNET)) {
		vnet_store_subnets(c, subnets);
		json_decref(subnets);
	}
	if (res_is(x, T_NIC))
		nic_link(x);
	if (res_is(x, T_VM)) {
		free(x->user_data);
		x->user_data = TAKE_PTR(ud);
		free(x->custom_data);
		x->custom_data = TAKE_PTR(cd);
		if (created) {
			make_os_disk(c, o, location);
			x->power = PW_STARTING;
		}
		vm_link(x, old_nics);
		json_decref(old_nics);
	}
	res_set_state(x, created ? "Creating" : "Updating");
	struct op *op = start_op(c, OP_PUT, x->key, location ? location : location_for_errors(NULL, x));
	if (!patch)
		op->body = json_incref(body);
	op_headers(r, op, false);
	if (res_is(x, T_VM))
		reply_json(r, created ? 201 : 200, vm_view(x, false, false));
	else
		reply_json(r, created ? 201 : 200, res_view(x));
}

static void get_resource(struct ctx *c)
{
	struct res *x = res_find(c->key);
	struct op *op = x ? op_pending(c->key) : NULL;
	if (op) {
		op_poll(op); /* the client that lost its status URL polls the resource */
		x = res_find(c->key);
	}
	if (!x) {
		not_found(c);
		return;
	}
	if (res_is(x, T_VM)) {
		const char *ex = req_arg(c->r, "$expand");
		reply_json(c->r, 200, vm_view(x, ex && strcasestr(ex, "instanceView"), ex && strcasestr(ex, "userData")));
		return;
	}
	reply_json(c->r, 200, res_view(x));
}

static void delete_resource(struct ctx *c)
{
	struct res *x = res_find(c->key);
	if (!x) {
		reply_empty(c->r, 204);
		return;
	}
	struct op *op = op_pending(c->key);
	if (op && op->kind == OP_DELETE) {
		op_headers(c->r, op, true);
		reply_empty(c->r, 202);
		return;
	}
	if (delete_check(c->r, x) < 0)
		return;
	if (op)
		op_cancel(op); /* a delete supersedes a create in progress */
	res_set_state(x, "Deleting");
	const char *loc = json_string_value(json_object_get(x->obj, "location"));
	op = start_op(c, OP_DELETE, x->key, loc ? loc : "eastus");
	op_headers(c->r, op, true);
	reply_empty(c->r, 202);
}

static void vm_action(struct ctx *c, const char *action)
{
	static const char *const actions[] = {"start", "deallocate", "powerOff", "restart"};
	const char *a = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		if (strcasecmp(action, actions[i]) == 0)
			a = actions[i];
	if (!a) {
		reply_error(c->r, 404, "InvalidResourceType", NULL,
			    "The resource type 'virtualMachines/%s' could not be found in the namespace 'Microsoft.Compute' "
			    "for api version '%s'.", action, c->api);
		return;
	}
	if (strcmp(c->r->method, "POST") != 0) {
		reply_error(c->r, 405, "MethodNotAllowed", NULL, "The requested resource does not support http method '%s'.",
			    c->r->method);
		return;
	}
	struct res *x = res_find(c->key);
	if (!x) {
		not_found(c);
		return;
	}
	struct op *op = op_pending(c->key);
	if (op) {
		busy(c, op);
		return;
	}
	if (strcmp(a, "restart") == 0 && x->power != PW_RUNNING) {
		reply_error(c->r, 409, "OperationNotAllowed", NULL,
			    "Operation 'Restart' is not allowed on VM '%s' since the VM is %s.", c->name,
			    strchr(power_code(x->power), '/') + 1);
		return;
	}
	if (strcmp(a, "deallocate") == 0)
		x->power = PW_DEALLOCATING;
	else if (strcmp(a, "powerOff") == 0)
		x->power = PW_STOPPING;
	else
		x->power = PW_STARTING;
	const char *loc = json_string_value(json_object_get(x->obj, "location"));
	op = start_op(c, OP_ACTION, x->key, loc ? loc : "eastus");
	op->action = xstrdup(a);
	if (op->polls_needed <= 0)
		res_op_finished(op);
	op_headers(c->r, op, true);
	reply_empty(c->r, 202);
}

/* $filter of the generic resources list: tagName eq 'k' [and tagValue eq 'v'],
 * resourceType eq 't'. */
static bool filter_match(struct res *x, const char *filter)
{
	if (!filter)
		return true;
	char k[256] = "", v[256] = "", t[256] = "";
	const char *p;
	if ((p = strcasestr(filter, "tagName eq '")))
		sscanf(p + 12, "%255[^']", k);
	if ((p = strcasestr(filter, "tagValue eq '")))
		sscanf(p + 13, "%255[^']", v);
	if ((p = strcasestr(filter, "resourceType eq '")))
		sscanf(p + 17, "%255[^']", t);
	if (*t && strcasecmp(t, x->type) != 0)
		return false;
	if (*k) {
		json_t *tags = json_object_get(x->obj, "tags");
		const char *tk;
		json_t *tv;
		bool found = false;
		json_object_foreach(tags, tk, tv)
			if (strcasecmp(tk, k) == 0 && (!*v || strcmp(json_string_value(tv), v) == 0))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* One page of a list, with nextLink to the emulator's own URL. */
static void list_page(struct req *r, const char *api, json_t *items)
{
	long skip = 0;
	const char *st = req_arg(r, "$skiptoken");
	if (st)
		skip = strtol(st, NULL, 10);
	size_t n = json_array_size(items), ps = emu.cfg.page_size > 0 ? (size_t)emu.cfg.page_size : 100;
	json_t *page = json_array();
	for (size_t i = (size_t)(skip > 0 ? skip : 0); i < n && json_array_size(page) < ps; i++)
		json_array_append(page, json_array_get(items, i));
	json_t *out = json_pack("{s:o}", "value", page);
	size_t next = (size_t)(skip > 0 ? skip : 0) + ps;
	if (next < n) {
		const char *filter = req_arg(r, "$filter");
		_cleanup_free_ char *extra = NULL;
		if (filter) {
			/* keep the filter, percent-encoded */
			size_t fl = strlen(filter);
			extra = malloc(fl * 3 + 16);
			char *o = extra + sprintf(extra, "&$filter=");
			for (size_t i = 0; i < fl; i++) {
				unsigned char ch = (unsigned char)filter[i];
				if (isalnum(ch) || strchr("-_.~", ch))
					*o++ = (char)ch;
				else
					o += sprintf(o, "%%%02X", ch);
			}
			*o = 0;
		}
		json_object_set_new(out, "nextLink", json_sprintf("%s%s?api-version=%s%s&$skiptoken=%zu", link_base(), r->path,
								  api, extra ? extra : "", next));
	}
	json_decref(items);
	reply_json(r, 200, out);
}

static void list_resources(struct req *r, const char *api, const char *sub, const char *rg, const struct rtype *t,
			   const char *parent_key, bool generic)
{
	json_t *items = json_array();
	const char *filter = generic ? req_arg(r, "$filter") : NULL;
	for (struct res *x = emu.res; x; x = x->next) {
		if (strcasecmp(x->sub, sub) != 0 || (rg && strcasecmp(x->rg, rg) != 0))
			continue;
		if (t && strcmp(x->type, t->name) != 0)
			continue;
		if (parent_key && (strncasecmp(x->key, parent_key, strlen(parent_key)) != 0 || x->key[strlen(parent_key)] != '/'))
			continue;
		if (generic) {
			if (res_is(x, T_SUBNET) || !filter_match(x, filter))
				continue;
			json_array_append_new(items, json_pack("{s:O,s:O,s:O,s:O*,s:O*}", "id", json_object_get(x->obj, "id"),
							       "name", json_object_get(x->obj, "name"), "type",
							       json_object_get(x->obj, "type"), "location",
							       json_object_get(x->obj, "location"), "tags",
							       json_object_get(x->obj, "tags")));
			continue;
		}
		json_array_append_new(items, res_view(x));
	}
	list_page(r, api, items);
}

/* ---- resource groups ---- */

static void rg_put(struct req *r, const char *sub, const char *name)
{
	json_error_t err;
	_cleanup_(json_decrefp) json_t *b = json_loadb(r->body, r->len, 0, &err);
	if (!json_is_object(b)) {
		reply_error(r, 400, "InvalidRequestContent", NULL,
			    "The request content was invalid and could not be deserialized: '%s'.", err.text);
		return;
	}
	const char *k;
	json_t *v;
	json_object_foreach(b, k, v) {
		if (strcmp(k, "location") && strcmp(k, "tags") && strcmp(k, "managedBy") && strcmp(k, "properties") &&
		    strcmp(k, "id") && strcmp(k, "name") && strcmp(k, "type")) {
			reply_error(r, 400, "InvalidRequestContent", k,
				    "The request content was invalid and could not be deserialized: 'Could not find member "
				    "'%s' on object of type 'ResourceGroupDefinition'. Path '%s'.'.", k, k);
			return;
		}
	}
	const char *loc = json_string_value(json_object_get(b, "location"));
	if (!loc) {
		reply_error(r, 400, "LocationRequired", NULL, "The location property is required for this definition.");
		return;
	}
	if (validate_tags(r, json_object_get(b, "tags")) < 0)
		return;
	struct rgroup *g = rg_find(sub, name);
	if (g && g->deleting) {
		reply_error(r, 409, "ResourceGroupBeingDeleted", NULL,
			    "The resource group '%s' is in deprovisioning state and cannot perform this operation.", name);
		return;
	}
	_cleanup_free_ char *l = norm_location(loc);
	bool created = !g;
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			abort();
		g->sub = xstrdup(sub);
		g->name = xstrdup(name);
		g->next = emu.rgs;
		emu.rgs = g;
	} else {
		const char *ol = json_string_value(json_object_get(g->obj, "location"));
		if (ol && strcmp(ol, l) != 0) {
			reply_error(r, 409, "InvalidResourceGroupLocation", NULL,
				    "Invalid resource group location '%s'. The Resource group already exists in location '%s'.",
				    l, ol);
			return;
		}
		json_decref(g->obj);
	}
	_cleanup_free_ char *id = xasprintf("/subscriptions/%s/resourceGroups/%s", sub, g->name);
	g->obj = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "id", id, "name", g->name, "type",
			   "Microsoft.Resources/resourceGroups", "location", l, "properties", "provisioningState", "Succeeded");
	if (json_object_get(b, "tags"))
		json_object_set(g->obj, "tags", json_object_get(b, "tags"));
	reply_json(r, created ? 201 : 200, json_deep_copy(g->obj));
}

static void rg_missing(struct req *r, const char *name)
{
	reply_error(r, 404, "ResourceGroupNotFound", NULL, "Resource group '%s' could not be found.", name);
}

static void rg_route(struct req *r, const char *sub, const char *name, const char *api)
{
	struct rgroup *g = rg_find(sub, name);
	if (strcmp(r->method, "PUT") == 0) {
		rg_put(r, sub, name);
		return;
	}
	if (!g) {
		if (strcmp(r->method, "HEAD") == 0)
			reply_empty(r, 404);
		else
			rg_missing(r, name);
		return;
	}
	if (strcmp(r->method, "GET") == 0) {
		reply_json(r, 200, json_deep_copy(g->obj));
	} else if (strcmp(r->method, "HEAD") == 0) {
		reply_empty(r, 204);
	} else if (strcmp(r->method, "PATCH") == 0) {
		_cleanup_(json_decrefp) json_t *b = json_loadb(r->body, r->len, 0, NULL);
		if (json_object_get(b, "tags"))
			json_object_set(g->obj, "tags", json_object_get(b, "tags"));
		reply_json(r, 200, json_deep_copy(g->obj));
	} else if (strcmp(r->method, "DELETE") == 0) {
		_cleanup_free_ char *key = xasprintf("%s/%s", sub, g->name);
		struct op *op = op_pending(key);
		if (!op) {
			g->deleting = true;
			json_object_set_new(json_object_get(g->obj, "properties"), "provisioningState", json_string("Deleting"));
			op = op_new(OP_RG_DELETE, key, "Microsoft.Resources", sub,
				    json_string_value(json_object_get(g->obj, "location")), api);
			if (op->polls_needed <= 0)
				op_finish(op);
		}
		op_headers(r, op, true);
		reply_empty(r, 202);
	} else {
		reply_error(r, 405, "MethodNotAllowed", NULL, "The requested resource does not support http method '%s'.",
			    r->method);
	}
}

/* ---- the URL space ---- */

static bool sub_known(const char *sub)
{
	if (emu.n_subs == 0)
		return true;
	for (size_t i = 0; i < emu.n_subs; i++)
		if (strcasecmp(emu.subs[i], sub) == 0)
			return true;
	return false;
}

/* 0, or the 400 for a missing or unserved api-version answered. */
static int check_api_version(struct req *r, const char *type, const char *typename_for_msg, const char *api)
{
	if (!api || !*api) {
		reply_error(r, 400, "MissingApiVersionParameter", NULL,
			    "The api-version query parameter (?api-version=) is required for all requests.");
		return -EINVAL;
	}
	if (api_version_ok(type, api))
		return 0;
	_cleanup_free_ char *list = xstrdup(api_versions_list(type));
	for (char *p = list; *p; p++)
		if (*p == ',')
			*p = '\001';
	/* ", " between versions */
	_cleanup_free_ char *nice = NULL;
	{
		size_t n = strlen(list);
		nice = malloc(n * 2 + 1);
		char *o = nice;
		for (char *p = list; *p; p++) {
			if (*p == '\001') {
				*o++ = ',';
				*o++ = ' ';
			} else {
				*o++ = *p;
			}
		}
		*o = 0;
	}
	if (strncasecmp(type, "Microsoft.Resources", 19) == 0)
		reply_error(r, 400, "InvalidApiVersionParameter", NULL,
			    "The api-version '%s' is invalid. The supported versions are '%s'.", api, nice);
	else
		reply_error(r, 400, "NoRegisteredProviderFound", NULL,
			    "No registered resource provider found for location 'eastus' and API version '%s' for type "
			    "'%s'. The supported api-versions are '%s'. The supported locations are 'eastus, eastus2, "
			    "westus, westeurope, northeurope'.", api, typename_for_msg, nice);
	return -EINVAL;
}

void arm_route(struct req *r)
{
	_cleanup_free_ char *path = xstrdup(r->path);
	char *seg[16];
	int n = 0;
	for (char *save = NULL, *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n == 16) {
			r->token = NULL;
			log_request(r, req_arg(r, "api-version"));
			reply_error(r, 404, "NotFound", NULL, "The requested path is not served here.");
			return;
		}
		seg[n++] = t;
	}
	const char *api = req_arg(r, "api-version");
	log_request(r, api);
	char rid[37], cid[37];
	random_guid(rid);
	random_guid(cid);
	reply_header(r, "x-ms-request-id", "%s", rid);
	reply_header(r, "x-ms-correlation-request-id", "%s", cid);
	reply_header(r, "x-ms-routing-request-id", "EASTUS:%s", rid);
	const bool write = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
	reply_header(r, write ? (strcmp(r->method, "DELETE") == 0 ? "x-ms-ratelimit-remaining-subscription-deletes"
								   : "x-ms-ratelimit-remaining-subscription-writes")
			      : "x-ms-ratelimit-remaining-subscription-reads",
		     "%d", write ? 1199 : 11999);
	const char *crid = req_header(r, "x-ms-client-request-id");
	const char *ret = req_header(r, "x-ms-return-client-request-id");
	if (crid && ret && strcasecmp(ret, "true") == 0)
		reply_header(r, "x-ms-client-request-id", "%s", crid);
	if (n < 2) {
		reply_error(r, 404, "NotFound", NULL, "The requested path is not served here.");
		return;
	}
	const char *sub = seg[1];
	if (!auth_check_bearer(r)) {
		json_object_set_new(r->log_entry, "token", json_string(r->token));
		return;
	}
	json_object_set_new(r->log_entry, "token", json_string(r->token));

	/* what kind of path: it decides the api-versions */
	const char *vtype = "Microsoft.Resources/subscriptions";
	_cleanup_free_ char *tname = NULL;
	const struct rtype *t = NULL;
	bool rgpath = n >= 3 && strcasecmp(seg[2], "resourceGroups") == 0;
	bool provpath = rgpath && n >= 7 && strcasecmp(seg[4], "providers") == 0;
	bool subprov = n >= 5 && strcasecmp(seg[2], "providers") == 0;
	if (provpath || subprov) {
		const char *ns = provpath ? seg[5] : seg[3];
		const char *ty = provpath ? seg[6] : seg[4];
		if (provpath && n >= 9)
			tname = xasprintf("%s/%s/%s", ns, ty, seg[8]);
		else
			tname = xasprintf("%s/%s", ns, ty);
		t = type_lookup(tname);
		if (!t && provpath && n >= 9) {
			free(tname);
			tname = xasprintf("%s/%s", ns, ty);
			t = type_lookup(tname);
		}
		vtype = t ? t->name : tname;
		if (subprov && strcasecmp(seg[4], "locations") == 0) {
			tname = (free(tname), xasprintf("%s/locations/operations", ns));
			vtype = tname;
		}
	}
	if (!sub_known(sub)) {
		reply_error(r, 404, "SubscriptionNotFound", NULL, "The subscription '%s' could not be found.", sub);
		return;
	}
	if (check_api_version(r, vtype, strchr(vtype, '/') ? strchr(vtype, '/') + 1 : vtype, api) < 0)
		return;
	struct fault *f = fault_match(r);
	if (f && f->action == FA_STATUS) {
		fault_reply(r, f);
		return;
	}
	if (f && (f->action == FA_ASYNC_FAIL || f->action == FA_ASYNC_EXPIRE))
		r->async_fault = f;
	if (f && f->action == FA_DROP)
		r->drop = true; /* handled, committed, and the answer lost */

	if (n >= 4 && strcasecmp(seg[2], "operationresults") == 0) {
		async_route(r, sub, seg, n);
		return;
	}
	if (subprov && strcasecmp(seg[4], "locations") == 0) {
		if (!async_route(r, sub, seg, n))
			reply_error(r, 404, "NotFound", NULL, "The requested path is not served here.");
		return;
	}
	if (n == 2) {
		_cleanup_free_ char *id = xasprintf("/subscriptions/%s", sub);
		reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "subscriptionId", sub, "tenantId", emu.tenant,
					     "displayName", "arm-emu", "state", "Enabled"));
		return;
	}
	if (subprov && n == 5) {
		if (!t) {
			reply_error(r, 404, "InvalidResourceType", NULL, "The resource type '%s' could not be found.", tname);
			return;
		}
		list_resources(r, api, sub, NULL, t, NULL, false);
		return;
	}
	if (n == 3 && strcasecmp(seg[2], "resources") == 0) {
		list_resources(r, api, sub, NULL, NULL, NULL, true);
		return;
	}
	if (!rgpath) {
		reply_error(r, 404, "NotFound", NULL, "The requested path is not served here.");
		return;
	}
	if (n == 3) {
		json_t *items = json_array();
		for (struct rgroup *g = emu.rgs; g; g = g->next)
			if (strcasecmp(g->sub, sub) == 0)
				json_array_append_new(items, json_deep_copy(g->obj));
		list_page(r, api, items);
		return;
	}
	const char *rg = seg[3];
	if (n == 4) {
		rg_route(r, sub, rg, api);
		return;
	}
	struct rgroup *g = rg_find(sub, rg);
	if (!g) {
		rg_missing(r, rg);
		return;
	}
	if (n == 5 && strcasecmp(seg[4], "resources") == 0) {
		list_resources(r, api, sub, g->name, NULL, NULL, true);
		return;
	}
	if (!provpath || !t) {
		reply_error(r, 404, "InvalidResourceType", NULL,
			    "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.",
			    n >= 7 ? seg[6] : "", n >= 6 ? seg[5] : "", api);
		return;
	}
	bool is_child = strchr(strchr(t->name, '/') + 1, '/') != NULL;
	if (n == 7) {
		list_resources(r, api, sub, g->name, t, NULL, false);
		return;
	}
	struct ctx c = {.r = r, .sub = sub, .rg = rg, .api = api, .t = t, .ns = ns_of(t->name)};
	if (is_child && n == 9) { /* .../virtualNetworks/v/subnets */
		_cleanup_free_ char *pk = make_key(sub, rg, t->name, seg[7]);
		list_resources(r, api, sub, g->name, t, pk, false);
		ctx_free(&c);
		return;
	}
	if (n == 9 && strcmp(t->name, T_VM) == 0) {
		c.name = xstrdup(seg[7]);
		c.key = make_key(sub, rg, t->name, c.name);
		c.rid = res_id(sub, rg, t->name, c.name);
		if (strcasecmp(seg[8], "instanceView") == 0 && strcmp(r->method, "GET") == 0) {
			struct res *x = res_find(c.key);
			if (x)
				reply_json(r, 200, instance_view(x));
			else
				not_found(&c);
		} else {
			vm_action(&c, seg[8]);
		}
		ctx_free(&c);
		return;
	}
	if ((is_child && n != 10) || (!is_child && n != 8)) {
		reply_error(r, 404, "NotFound", NULL, "The requested path is not served here.");
		ctx_free(&c);
		return;
	}
	c.name = is_child ? xasprintf("%s/%s", seg[7], seg[9]) : xstrdup(seg[7]);
	c.key = make_key(sub, rg, t->name, c.name);
	c.rid = res_id(sub, rg, t->name, c.name);
	if (strcmp(r->method, "PUT") == 0) {
		if (validate_name(r, t->name, is_child ? seg[9] : seg[7]) == 0)
			put_resource(&c, false);
	} else if (strcmp(r->method, "PATCH") == 0) {
		put_resource(&c, true);
	} else if (strcmp(r->method, "GET") == 0) {
		get_resource(&c);
	} else if (strcmp(r->method, "DELETE") == 0) {
		delete_resource(&c);
	} else if (strcmp(r->method, "HEAD") == 0) {
		reply_empty(r, res_find(c.key) ? 204 : 404);
	} else {
		reply_error(r, 405, "MethodNotAllowed", NULL, "The requested resource does not support http method '%s'.",
			    r->method);
	}
	ctx_free(&c);
}

