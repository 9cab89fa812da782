/* Resource Manager: the URL space under /subscriptions, resource groups,
 * and PUT/GET/PATCH/DELETE/list of the resource types a confidential VM
 * needs (virtual networks and subnets, network security groups, public IP
 * addresses, network interfaces, virtual machines and their OS disks),
 * with the references between them kept both ways so that deleting a
 * resource still in use fails as it does in Azure. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

struct rtype {
	const char *name;  /* canonical */
	const char *model; /* in the wire schema */
};

static const struct rtype types[] = {
	{"Microsoft.Network/virtualNetworks", "VirtualNetwork"},
	{"Microsoft.Network/virtualNetworks/subnets", "Subnet"},
	{"Microsoft.Network/networkSecurityGroups", "NetworkSecurityGroup"},
	{"Microsoft.Network/publicIPAddresses", "PublicIPAddress"},
	{"Microsoft.Network/networkInterfaces", "NetworkInterface"},
	{"Microsoft.Compute/virtualMachines", "VirtualMachine"},
	{"Microsoft.Compute/disks", "Disk"},
};

#define T_VNET "Microsoft.Network/virtualNetworks"
#define T_SUBNET "Microsoft.Network/virtualNetworks/subnets"
#define T_NSG "Microsoft.Network/networkSecurityGroups"
#define T_PIP "Microsoft.Network/publicIPAddresses"
#define T_NIC "Microsoft.Network/networkInterfaces"
#define T_VM "Microsoft.Compute/virtualMachines"
#define T_DISK "Microsoft.Compute/disks"

static const struct rtype *type_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strcasecmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

static bool is(const struct res *x, const char *type)
{
	return x && strcmp(x->type, type) == 0;
}

static char *ns_of(const char *type)
{
	return strndup(type, strcspn(type, "/"));
}

/* ---- ids and the store ---- */

static char *make_key(const char *sub, const char *rg, const char *type, const char *name)
{
	_cleanup_free_ char *k = xasprintf("%s/%s/%s/%s", sub, rg, type, name);
	return xstrdown(k);
}

/* Resource ids carry the resource group upper-cased, as Compute returns
 * them: a client comparing ids case-sensitively fails here as in Azure. */
char *res_id(const char *sub, const char *rg, const char *type, const char *name)
{
	_cleanup_free_ char *up = xstrup(rg);
	const char *t2 = strchr(type, '/') ? strchr(strchr(type, '/') + 1, '/') : NULL;
	if (!t2)
		return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", sub, up, type, name);
	const char *n2 = strchr(name, '/');
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/%.*s/%.*s/%s/%s", sub, up,
			 (int)(t2 - type), type, (int)(n2 - name), name, t2 + 1, n2 + 1);
}

struct res *res_find(const char *key)
{
	for (struct res *x = emu.res; x; x = x->next)
		if (strcasecmp(x->key, key) == 0)
			return x;
	return NULL;
}

/* Splits a resource id; the type comes back canonical. -EINVAL if ID names
 * no resource of a type served here. */
int id_parse(const char *id, char **sub, char **rg, const char **type, char **name)
{
	if (!id)
		return -EINVAL;
	_cleanup_free_ char *s = xstrdup(id);
	char *seg[12];
	int n = 0;
	for (char *save = NULL, *t = strtok_r(s, "/", &save); t && n < 12; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	if ((n != 8 && n != 10) || strcasecmp(seg[0], "subscriptions") != 0 || strcasecmp(seg[2], "resourceGroups") != 0 ||
	    strcasecmp(seg[4], "providers") != 0)
		return -EINVAL;
	_cleanup_free_ char *ty = n == 8 ? xasprintf("%s/%s", seg[5], seg[6]) : xasprintf("%s/%s/%s", seg[5], seg[6], seg[8]);
	const struct rtype *t = type_lookup(ty);
	if (!t)
		return -EINVAL;
	*sub = xstrdup(seg[1]);
	*rg = xstrdup(seg[3]);
	*type = t->name;
	*name = n == 8 ? xstrdup(seg[7]) : xasprintf("%s/%s", seg[7], seg[9]);
	return 0;
}

/* The resource an id names (compared case-insensitively), or NULL. */
struct res *res_by_id(const char *id)
{
	_cleanup_free_ char *sub = NULL, *rg = NULL, *name = NULL;
	const char *type;
	if (id_parse(id, &sub, &rg, &type, &name) < 0)
		return NULL;
	_cleanup_free_ char *key = make_key(sub, rg, type, name);
	return res_find(key);
}

struct rgroup *rg_find(const char *sub, const char *rg)
{
	for (struct rgroup *g = emu.rgs; g; g = g->next)
		if (strcasecmp(g->sub, sub) == 0 && strcasecmp(g->name, rg) == 0)
			return g;
	return NULL;
}

struct res *res_add(const char *sub, const char *rg, const char *type, const char *name, json_t *obj)
{
	struct res *x = calloc(1, sizeof(*x));
	if (!x)
		abort();
	x->key = make_key(sub, rg, type, name);
	x->sub = xstrdup(sub);
	x->rg = xstrdup(rg);
	x->type = xstrdup(type);
	x->name = xstrdup(name);
	x->obj = obj;
	x->addr = (unsigned)++emu.seq;
	struct res **pp = &emu.res;
	while (*pp)
		pp = &(*pp)->next;
	*pp = x; /* lists keep creation order */
	return x;
}

void res_remove(struct res *x)
{
	for (struct res **pp = &emu.res; *pp; pp = &(*pp)->next) {
		if (*pp != x)
			continue;
		*pp = x->next;
		struct op *op = op_pending(x->key);
		if (op)
			op_cancel(op);
		free(x->key);
		free(x->sub);
		free(x->rg);
		free(x->type);
		free(x->name);
		free(x->user_data);
		free(x->custom_data);
		free(x->fail_code);
		free(x->fail_message);
		json_decref(x->obj);
		free(x);
		return;
	}
}

static json_t *props(struct res *x)
{
	json_t *p = json_object_get(x->obj, "properties");
	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(x->obj, "properties", p);
	}
	return p;
}

static const char *id_of(struct res *x)
{
	return json_string_value(json_object_get(x->obj, "id"));
}

static const char *state_of(struct res *x)
{
	return json_string_value(json_object_get(props(x), "provisioningState"));
}

static void set_state(struct res *x, const char *s)
{
	json_object_set_new(props(x), "provisioningState", json_string(s));
}

static void new_etag(json_t *o)
{
	char g[37];
	random_guid(g);
	json_object_set_new(o, "etag", json_sprintf("W/\"%s\"", g));
}

/* ---- back-references (what uses a resource) ---- */

/* Removes {"id": ID} from the array at props(X)[FIELD]. */
static void backref_del(struct res *x, const char *field, const char *id)
{
	json_t *a = json_object_get(props(x), field);
	for (size_t i = 0; i < json_array_size(a);) {
		if (streqi(json_string_value(json_object_get(json_array_get(a, i), "id")), id))
			json_array_remove(a, i);
		else
			i++;
	}
}

static void backref_add(struct res *x, const char *field, const char *id)
{
	json_t *a = json_object_get(props(x), field);
	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(props(x), field, a);
	}
	backref_del(x, field, id);
	json_array_append_new(a, json_pack("{s:s}", "id", id));
}

static const char *ref_id(json_t *o, const char *field)
{
	return json_string_value(json_object_get(json_object_get(o, field), "id"));
}

/* A NIC's references: to its subnets, public IPs and NSG. */
static void nic_unlink(struct res *nic)
{
	size_t i;
	json_t *ipc;
	json_array_foreach(json_object_get(props(nic), "ipConfigurations"), i, ipc) {
		json_t *p = json_object_get(ipc, "properties");
		const char *ipc_id = json_string_value(json_object_get(ipc, "id"));
		struct res *sn = res_by_id(ref_id(p, "subnet"));
		if (sn)
			backref_del(sn, "ipConfigurations", ipc_id);
		struct res *pip = res_by_id(ref_id(p, "publicIPAddress"));
		if (pip && streqi(ref_id(props(pip), "ipConfiguration"), ipc_id))
			json_object_del(props(pip), "ipConfiguration");
	}
	struct res *nsg = res_by_id(ref_id(props(nic), "networkSecurityGroup"));
	if (nsg)
		backref_del(nsg, "networkInterfaces", id_of(nic));
}

static void nic_link(struct res *nic)
{
	size_t i;
	json_t *ipc;
	json_array_foreach(json_object_get(props(nic), "ipConfigurations"), i, ipc) {
		json_t *p = json_object_get(ipc, "properties");
		const char *ipc_id = json_string_value(json_object_get(ipc, "id"));
		struct res *sn = res_by_id(ref_id(p, "subnet"));
		if (sn)
			backref_add(sn, "ipConfigurations", ipc_id);
		struct res *pip = res_by_id(ref_id(p, "publicIPAddress"));
		if (pip)
			json_object_set_new(props(pip), "ipConfiguration", json_pack("{s:s}", "id", ipc_id));
	}
	struct res *nsg = res_by_id(ref_id(props(nic), "networkSecurityGroup"));
	if (nsg)
		backref_add(nsg, "networkInterfaces", id_of(nic));
}

/* ---- views ---- */

const char *power_code(enum power p)
{
	switch (p) {
	case PW_STARTING: return "PowerState/starting";
	case PW_RUNNING: return "PowerState/running";
	case PW_STOPPING: return "PowerState/stopping";
	case PW_STOPPED: return "PowerState/stopped";
	case PW_DEALLOCATING: return "PowerState/deallocating";
	case PW_DEALLOCATED: return "PowerState/deallocated";
	default: return "PowerState/unknown";
	}
}

static const char *power_display(enum power p)
{
	switch (p) {
	case PW_STARTING: return "VM starting";
	case PW_RUNNING: return "VM running";
	case PW_STOPPING: return "VM stopping";
	case PW_STOPPED: return "VM stopped";
	case PW_DEALLOCATING: return "VM deallocating";
	case PW_DEALLOCATED: return "VM deallocated";
	default: return "VM status unknown";
	}
}

static json_t *instance_view(struct res *x)
{
	const char *st = state_of(x) ? state_of(x) : "Succeeded";
	char now[40];
	iso_time(now, sizeof(now), now_wall());
	json_t *pstat;
	if (x->fail_code && streqi(st, "Failed"))
		pstat = json_pack("{s:s,s:s,s:s,s:s,s:s}", "code", "ProvisioningState/failed/", "level", "Error",
				  "displayStatus", "Provisioning failed", "message", x->fail_message, "time", now);
	else
		pstat = json_pack("{s:s,s:s,s:s,s:s}", "code", "ProvisioningState/", "level", "Info", "displayStatus",
				  "Provisioning succeeded", "time", now);
	_cleanup_free_ char *low = xstrdown(st);
	_cleanup_free_ char *code = x->fail_code && streqi(st, "Failed")
					    ? xasprintf("ProvisioningState/failed/%s", x->fail_code)
					    : xasprintf("ProvisioningState/%s", low);
	json_object_set_new(pstat, "code", json_string(code));
	if (!streqi(st, "Succeeded") && !streqi(st, "Failed"))
		json_object_set_new(pstat, "displayStatus", json_sprintf("Provisioning %s", low));
	json_t *p = props(x);
	json_t *os = json_object_get(p, "osProfile");
	const char *disk = json_string_value(json_object_get(json_object_get(json_object_get(p, "storageProfile"), "osDisk"), "name"));
	return json_pack("{s:s?,s:s,s:s,s:s,s:{s:s,s:[{s:s,s:s,s:s,s:s}]},s:[{s:s?,s:[{s:s,s:s,s:s}]}],s:[o,{s:s,s:s,s:s}]}",
			 "computerName", json_string_value(json_object_get(os, "computerName")), "osName", "ubuntu",
			 "osVersion", "22.04", "hyperVGeneration", "V2", "vmAgent", "vmAgentVersion", "2.11.1.12",
			 "statuses", "code", "ProvisioningState/succeeded", "level", "Info", "displayStatus", "Ready",
			 "message", "Guest Agent is running", "disks", "name", disk, "statuses", "code",
			 "ProvisioningState/succeeded", "level", "Info", "displayStatus", "Provisioning succeeded",
			 "statuses", pstat, "code", power_code(x->power), "level", "Info", "displayStatus",
			 power_display(x->power));
}

json_t *vm_view(struct res *x, bool iv, bool ud)
{
	json_t *o = json_deep_copy(x->obj);
	json_t *p = json_object_get(o, "properties");
	if (iv)
		json_object_set_new(p, "instanceView", instance_view(x));
	if (ud && x->user_data)
		json_object_set_new(p, "userData", json_string(x->user_data));
	return o;
}

/* A virtual network's subnets live as resources of their own; the VNet's
 * view gathers them. */
json_t *res_view(struct res *x)
{
	if (is(x, T_VM))
		return vm_view(x, false, false);
	json_t *o = json_deep_copy(x->obj);
	if (is(x, T_VNET)) {
		json_t *subs = json_array();
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res; s; s = s->next)
			if (is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/')
				json_array_append_new(subs, json_deep_copy(s->obj));
		json_object_set_new(json_object_get(o, "properties"), "subnets", subs);
	}
	return o;
}

/* ---- request context ---- */

struct ctx {
	struct req *r;
	const char *sub, *rg, *api;
	const struct rtype *t;
	char *name;   /* "vm" or "vnet/subnet" */
	char *key;
	char *ns;
	char *rid;    /* the id this resource has / would have */
};

static void ctx_free(struct ctx *c)
{
	free(c->name);
	free(c->key);
	free(c->ns);
	free(c->rid);
}

static void not_found(struct ctx *c)
{
	/* a child's message names the parent's type, as Azure's does */
	const char *slash = strchr(c->name, '/');
	if (slash)
		reply_error(c->r, 404, "NotFound", NULL, "Resource %s not found.", c->rid);
	else
		reply_error(c->r, 404, "ResourceNotFound", NULL,
			    "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to "
			    "https://aka.ms/ARMResourceNotFoundFix", c->t->name, c->name, c->rg);
}

static int invalid_ref(struct ctx *c, const char *ref)
{
	reply_error(c->r, 400, "InvalidResourceReference", NULL,
		    "Resource %s referenced by resource %s was not found. Please make sure that the referenced resource "
		    "exists, and that both resources are in the same region.", ref, c->rid);
	return -EINVAL;
}

/* A reference the new resource makes: it must exist, be of TYPE, and have
 * finished provisioning. */
static struct res *need_ref(struct ctx *c, const char *ref, const char *type, int *err)
{
	struct res *x = res_by_id(ref);
	if (!x || !is(x, type) || streqi(state_of(x), "Deleting")) {
		*err = invalid_ref(c, ref ? ref : "(null)");
		return NULL;
	}
	if (!streqi(state_of(x), "Succeeded")) {
		reply_error(c->r, 400, "ReferencedResourceNotProvisioned", NULL,
			    "Cannot proceed with operation because resource %s used by resource %s is not in Succeeded "
			    "state. Resource is in %s state.", ref, c->rid, state_of(x) ? state_of(x) : "Unknown");
		*err = -EINVAL;
		return NULL;
	}
	*err = 0;
	return x;
}

static char *norm_location(const char *l)
{
	char *d = xstrdown(l), *o = d;
	for (const char *p = d; *p; p++)
		if (*p != ' ')
			*o++ = *p;
	*o = 0;
	return d;
}

/* The common fields of a served resource. */
static json_t *served(struct ctx *c, json_t *body, const char *location)
{
	json_t *o = json_deep_copy(body);
	json_object_set_new(o, "id", json_string(c->rid));
	const char *slash = strrchr(c->name, '/');
	json_object_set_new(o, "name", json_string(slash ? slash + 1 : c->name));
	json_object_set_new(o, "type", json_string(c->t->name));
	if (location)
		json_object_set_new(o, "location", json_string(location));
	if (!json_is_object(json_object_get(o, "properties")))
		json_object_set_new(o, "properties", json_object());
	return o;
}

static void keep_prop(json_t *o, struct res *old, const char *field)
{
	json_t *v = old ? json_object_get(props(old), field) : NULL;
	if (v)
		json_object_set(json_object_get(o, "properties"), field, v);
}

static void resource_guid(json_t *o, struct res *old)
{
	keep_prop(o, old, "resourceGuid");
	if (!json_object_get(json_object_get(o, "properties"), "resourceGuid")) {
		char g[37];
		random_guid(g);
		json_object_set_new(json_object_get(o, "properties"), "resourceGuid", json_string(g));
	}
}

/* ---- the per-type builders: validate references, make the served object ---- */

static int build_vnet(struct ctx *c, json_t *body, struct res *old, json_t *o, json_t **subnets_out)
{
	(void)body;
	resource_guid(o, old);
	json_t *p = json_object_get(o, "properties");
	json_t *subs = json_object_get(p, "subnets");
	/* subnets the new body leaves out go, unless something uses them */
	_cleanup_free_ char *skey = make_key(c->sub, c->rg, T_SUBNET, c->name);
	for (struct res *s = emu.res; old && s; s = s->next) {
		if (!is(s, T_SUBNET) || strncasecmp(s->key, skey, strlen(skey)) != 0 || s->key[strlen(skey)] != '/')
			continue;
		const char *sname = strrchr(s->name, '/') + 1;
		bool kept = false;
		size_t i;
		json_t *e;
		json_array_foreach(subs, i, e)
			kept |= streqi(json_string_value(json_object_get(e, "name")), sname);
		json_t *users = json_object_get(props(s), "ipConfigurations");
		if (!kept && json_array_size(users) > 0) {
			reply_error(c->r, 400, "InUseSubnetCannotBeDeleted", NULL,
				    "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, delete "
				    "all the resources within the subnet. See aka.ms/deletesubnet.", sname,
				    json_string_value(json_object_get(json_array_get(users, 0), "id")));
			return -EINVAL;
		}
	}
	size_t i;
	json_t *e;
	json_array_foreach(subs, i, e) {
		if (!json_string_value(json_object_get(e, "name"))) {
			reply_error(c->r, 400, "InvalidRequestFormat", "properties.subnets", "Cannot parse the request: "
				    "subnet %zu has no name.", i);
			return -EINVAL;
		}
	}
	*subnets_out = subs ? json_incref(subs) : json_array();
	json_object_del(p, "subnets");
	return 0;
}

static json_t *subnet_served(struct ctx *vc, const char *sname, json_t *sbody, struct res *old)
{
	_cleanup_free_ char *full = xasprintf("%s/%s", vc->name, sname);
	_cleanup_free_ char *sid = res_id(vc->sub, vc->rg, T_SUBNET, full);
	json_t *o = json_deep_copy(sbody);
	json_object_set_new(o, "id", json_string(sid));
	json_object_set_new(o, "name", json_string(sname));
	json_object_set_new(o, "type", json_string(T_SUBNET));
	if (!json_is_object(json_object_get(o, "properties")))
		json_object_set_new(o, "properties", json_object());
	json_object_del(json_object_get(o, "properties"), "ipConfigurations");
	keep_prop(o, old, "ipConfigurations");
	json_object_set_new(json_object_get(o, "properties"), "provisioningState", json_string("Succeeded"));
	new_etag(o);
	return o;
}

static void vnet_store_subnets(struct ctx *c, json_t *subs)
{
	_cleanup_free_ char *skey = make_key(c->sub, c->rg, T_SUBNET, c->name);
	for (struct res *s = emu.res, *next; s; s = next) {
		next = s->next;
		if (!is(s, T_SUBNET) || strncasecmp(s->key, skey, strlen(skey)) != 0 || s->key[strlen(skey)] != '/')
			continue;
		const char *sname = strrchr(s->name, '/') + 1;
		bool kept = false;
		size_t i;
		json_t *e;
		json_array_foreach(subs, i, e)
			kept |= streqi(json_string_value(json_object_get(e, "name")), sname);
		if (!kept)
			res_remove(s);
	}
	size_t i;
	json_t *e;
	json_array_foreach(subs, i, e) {
		const char *sname = json_string_value(json_object_get(e, "name"));
		_cleanup_free_ char *full = xasprintf("%s/%s", c->name, sname);
		_cleanup_free_ char *k = make_key(c->sub, c->rg, T_SUBNET, full);
		struct res *old = res_find(k);
		json_t *o = subnet_served(c, sname, e, old);
		if (old) {
			json_decref(old->obj);
			old->obj = o;
		} else {
			res_add(c->sub, c->rg, T_SUBNET, full, o);
		}
	}
}

static int build_nsg(struct ctx *c, json_t *o, struct res *old)
{
	resource_guid(o, old);
	json_t *p = json_object_get(o, "properties");
	json_object_del(p, "networkInterfaces");
	keep_prop(o, old, "networkInterfaces");
	size_t i;
	json_t *rule;
	json_array_foreach(json_object_get(p, "securityRules"), i, rule) {
		const char *rn = json_string_value(json_object_get(rule, "name"));
		json_t *rp = json_object_get(rule, "properties");
		json_t *prio = json_object_get(rp, "priority");
		if (!rn || !json_is_object(rp)) {
			reply_error(c->r, 400, "InvalidRequestFormat", "properties.securityRules",
				    "Cannot parse the request: security rule %zu needs a name and properties.", i);
			return -EINVAL;
		}
		if (!json_is_integer(prio) || json_integer_value(prio) < 100 || json_integer_value(prio) > 4096) {
			reply_error(c->r, 400, "SecurityRuleInvalidPriority", NULL,
				    "Security rule %s has invalid Priority. Value provided: %lld Allowed values are 100-4096.",
				    rn, json_is_integer(prio) ? (long long)json_integer_value(prio) : 0LL);
			return -EINVAL;
		}
		static const char *const need[] = {"protocol", "access", "direction"};
		for (size_t k = 0; k < ARRAY_SIZE(need); k++)
			if (!json_string_value(json_object_get(rp, need[k]))) {
				reply_error(c->r, 400, "SecurityRuleParameterContainsUnsupportedValue", NULL,
					    "Security rule parameter %s for rule with Id %s/securityRules/%s cannot be null.",
					    need[k], c->rid, rn);
				return -EINVAL;
			}
		json_object_set_new(rule, "id", json_sprintf("%s/securityRules/%s", c->rid, rn));
		json_object_set_new(rule, "type", json_string("Microsoft.Network/networkSecurityGroups/securityRules"));
		json_object_set_new(rp, "provisioningState", json_string("Succeeded"));
		new_etag(rule);
	}
	return 0;
}

static int build_pip(struct ctx *c, json_t *o, struct res *old)
{
	(void)c;
	resource_guid(o, old);
	json_t *p = json_object_get(o, "properties");
	if (!json_object_get(o, "sku"))
		json_object_set_new(o, "sku", json_pack("{s:s,s:s}", "name", "Standard", "tier", "Regional"));
	if (!json_object_get(p, "publicIPAllocationMethod"))
		json_object_set_new(p, "publicIPAllocationMethod", json_string("Static"));
	if (!json_object_get(p, "publicIPAddressVersion"))
		json_object_set_new(p, "publicIPAddressVersion", json_string("IPv4"));
	if (!json_object_get(p, "idleTimeoutInMinutes"))
		json_object_set_new(p, "idleTimeoutInMinutes", json_integer(4));
	json_object_del(p, "ipConfiguration");
	keep_prop(o, old, "ipConfiguration");
	unsigned a = old ? old->addr : (unsigned)emu.seq + 1;
	json_object_set_new(p, "ipAddress", json_sprintf("20.%u.%u.%u", 10 + (a >> 16) % 200, (a >> 8) & 255, a & 255));
	return 0;
}

static int build_nic(struct ctx *c, json_t *o, struct res *old)
{
	resource_guid(o, old);
	json_t *p = json_object_get(o, "properties");
	json_t *ipcs = json_object_get(p, "ipConfigurations");
	if (json_array_size(ipcs) == 0) {
		reply_error(c->r, 400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration", NULL,
			    "Network interface %s must have at least one IP configuration.", c->rid);
		return -EINVAL;
	}
	int err;
	const char *nsg_id = ref_id(p, "networkSecurityGroup");
	if (json_object_get(p, "networkSecurityGroup") && !need_ref(c, nsg_id, T_NSG, &err))
		return err;
	unsigned a = old ? old->addr : (unsigned)emu.seq + 1;
	size_t i;
	json_t *ipc;
	json_array_foreach(ipcs, i, ipc) {
		const char *iname = json_string_value(json_object_get(ipc, "name"));
		json_t *ip = json_object_get(ipc, "properties");
		if (!iname || !json_is_object(ip)) {
			reply_error(c->r, 400, "InvalidRequestFormat", "properties.ipConfigurations",
				    "Cannot parse the request: IP configuration %zu needs a name and properties.", i);
			return -EINVAL;
		}
		_cleanup_free_ char *ipc_id = xasprintf("%s/ipConfigurations/%s", c->rid, iname);
		const char *sn_id = ref_id(ip, "subnet");
		if (!sn_id) {
			reply_error(c->r, 400, "SubnetIsRequiredForNetworkInterface", NULL,
				    "Subnet is required for IP configuration %s.", ipc_id);
			return -EINVAL;
		}
		struct res *sn = need_ref(c, sn_id, T_SUBNET, &err);
		if (!sn)
			return err;
		if (json_object_get(ip, "publicIPAddress")) {
			const char *pip_id = ref_id(ip, "publicIPAddress");
			struct res *pip = need_ref(c, pip_id, T_PIP, &err);
			if (!pip)
				return err;
			const char *user = ref_id(props(pip), "ipConfiguration");
			if (user && !streqi(user, ipc_id)) {
				reply_error(c->r, 400, "PublicIPAddressInUse", NULL,
					    "Resource %s is already in use by %s.", pip_id, user);
				return -EINVAL;
			}
		}
		/* the subnet's first address + 4: Azure keeps .0-.3 */
		const char *prefix = json_string_value(json_object_get(props(sn), "addressPrefix"));
		unsigned b[4] = {10, 0, 0, 0};
		if (prefix)
			sscanf(prefix, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]);
		json_object_set_new(ipc, "id", json_string(ipc_id));
		json_object_set_new(ipc, "type", json_string("Microsoft.Network/networkInterfaces/ipConfigurations"));
		new_etag(ipc);
		if (!json_string_value(json_object_get(ip, "privateIPAddress")))
			json_object_set_new(ip, "privateIPAddress",
					    json_sprintf("%u.%u.%u.%u", b[0], b[1], b[2], (b[3] + 4 + a % 250 + (unsigned)i) & 255));
		if (!json_object_get(ip, "privateIPAllocationMethod"))
			json_object_set_new(ip, "privateIPAllocationMethod", json_string("Dynamic"));
		json_object_set_new(ip, "privateIPAddressVersion", json_string("IPv4"));
		if (!json_object_get(ip, "primary"))
			json_object_set_new(ip, "primary", json_boolean(i == 0));
		json_object_set_new(ip, "provisioningState", json_string("Succeeded"));
	}
	json_object_del(p, "virtualMachine");
	keep_prop(o, old, "virtualMachine");
	keep_prop(o, old, "primary");
	json_object_set_new(p, "macAddress", json_sprintf("00-0D-3A-%02X-%02X-%02X", (a >> 16) & 255, (a >> 8) & 255, a & 255));
	if (!json_object_get(p, "enableAcceleratedNetworking"))
		json_object_set_new(p, "enableAcceleratedNetworking", json_false());
	if (!json_object_get(p, "enableIPForwarding"))
		json_object_set_new(p, "enableIPForwarding", json_false());
	json_object_set_new(p, "nicType", json_string("Standard"));
	return 0;
}

static const char *disk_security_type(const char *enc, bool des)
{
	if (streqi(enc, "DiskWithVMGuestState"))
		return des ? "ConfidentialVM_DiskEncryptedWithCustomerKey" : "ConfidentialVM_DiskEncryptedWithPlatformKey";
	if (streqi(enc, "NonPersistedTPM"))
		return "ConfidentialVM_NonPersistedTPM";
	return "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey";
}

/* The OS disk a VM's create makes. */
static struct res *make_os_disk(struct ctx *c, json_t *vmo, const char *location)
{
	json_t *osd = json_object_get(json_object_get(json_object_get(vmo, "properties"), "storageProfile"), "osDisk");
	json_t *md = json_object_get(osd, "managedDisk");
	json_t *img = json_object_get(json_object_get(json_object_get(vmo, "properties"), "storageProfile"), "imageReference");
	const char *dname = json_string_value(json_object_get(osd, "name"));
	const char *sat = json_string_value(json_object_get(md, "storageAccountType"));
	const char *enc = json_string_value(json_object_get(json_object_get(md, "securityProfile"), "securityEncryptionType"));
	bool des = json_object_get(json_object_get(md, "securityProfile"), "diskEncryptionSet") != NULL;
	json_t *size = json_object_get(osd, "diskSizeGB");
	_cleanup_free_ char *did = res_id(c->sub, c->rg, T_DISK, dname);
	_cleanup_free_ char *imgid = xasprintf(
		"/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s/Publishers/%s/ArtifactTypes/VMImage/Offers/%s/Skus/%s/Versions/%s",
		c->sub, location, json_string_value(json_object_get(img, "publisher")),
		json_string_value(json_object_get(img, "offer")), json_string_value(json_object_get(img, "sku")),
		"22.04.202410020");
	char now[40], uid[37];
	iso_time(now, sizeof(now), now_wall());
	random_guid(uid);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:{s:s,s:{s:s}},s:I,s:{s:s},s:s,s:s,s:s,s:s}}",
			      "id", did, "name", dname, "type", T_DISK, "location", location, "managedBy", c->rid, "sku",
			      "name", sat ? sat : "Premium_LRS", "tier", sat && strncasecmp(sat, "Premium", 7) == 0 ? "Premium" : "Standard",
			      "properties", "osType", "Linux", "hyperVGeneration", "V2", "creationData", "createOption",
			      "FromImage", "imageReference", "id", imgid, "diskSizeGB",
			      (json_int_t)(json_is_integer(size) ? json_integer_value(size) : 30), "securityProfile",
			      "securityType", disk_security_type(enc, des), "diskState", "Attached", "timeCreated", now,
			      "uniqueId", uid, "provisioningState", "Succeeded");
	json_t *tags = json_object_get(vmo, "tags");
	(void)tags; /* Azure does not copy a VM's tags to its OS disk */
	json_object_set_new(md, "id", json_string(did));
	if (!sat)
		json_object_set_new(md, "storageAccountType", json_string("Premium_LRS"));
	return res_add(c->sub, c->rg, T_DISK, dname, o);
}

static int immutable(struct ctx *c, const char *what)
{
	reply_error(c->r, 409, "PropertyChangeNotAllowed", what, "Changing property '%s' is not allowed.", what);
	return -EINVAL;
}

static const char *sget(json_t *o, const char *a, const char *b, const char *cc)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (cc)
		v = json_object_get(v, cc);
	return json_string_value(v);
}

/* O is the request made into the served VM. */
static int build_vm(struct ctx *c, json_t *o, struct res *old, const char *location, char **user_data, char **custom_data)
{
	if (validate_vm(c->r, c->name, o, old != NULL) < 0)
		return -EINVAL;
	json_t *p = json_object_get(o, "properties");
	json_t *os = json_object_get(p, "osProfile");
	json_t *sp = json_object_get(p, "storageProfile");
	json_t *osd = json_object_get(sp, "osDisk");
	const char *cd = json_string_value(json_object_get(os, "customData"));
	if (old) {
		json_t *op = props(old);
		if (cd && (!old->custom_data || strcmp(cd, old->custom_data) != 0))
			return immutable(c, "osProfile.customData");
		const char *u = sget(os, "adminUsername", NULL, NULL), *ou = sget(op, "osProfile", "adminUsername", NULL);
		if (u && ou && strcmp(u, ou) != 0)
			return immutable(c, "osProfile.adminUsername");
		const char *cn = sget(os, "computerName", NULL, NULL), *ocn = sget(op, "osProfile", "computerName", NULL);
		if (cn && ocn && strcmp(cn, ocn) != 0)
			return immutable(c, "osProfile.computerName");
		const char *dn = sget(osd, "name", NULL, NULL), *odn = sget(op, "storageProfile", "osDisk", "name");
		if (dn && odn && strcasecmp(dn, odn) != 0)
			return immutable(c, "storageProfile.osDisk.name");
	}
	/* every NIC must exist and be free (or already this VM's) */
	int err;
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), i, n) {
		const char *nid = json_string_value(json_object_get(n, "id"));
		struct res *nic = need_ref(c, nid, T_NIC, &err);
		if (!nic)
			return err;
		const char *user = ref_id(props(nic), "virtualMachine");
		if (user && !streqi(user, c->rid)) {
			reply_error(c->r, 400, "NicInUse", NULL,
				    "Network Interface %s is used by existing resource %s. In order to delete the network "
				    "interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
				    nid, user);
			return -EINVAL;
		}
		if (!json_object_get(n, "properties"))
			json_object_set_new(n, "properties", json_object());
		if (!json_object_get(json_object_get(n, "properties"), "deleteOption"))
			json_object_set_new(json_object_get(n, "properties"), "deleteOption", json_string("Detach"));
	}
	if (!old) {
		const char *dname = sget(osd, "name", NULL, NULL);
		char hex[33];
		random_hex(hex, 32);
		_cleanup_free_ char *auto_name = xasprintf("%s_OsDisk_1_%s", c->name, hex);
		if (!dname) {
			dname = auto_name;
			json_object_set_new(osd, "name", json_string(auto_name));
		}
		_cleanup_free_ char *dkey = make_key(c->sub, c->rg, T_DISK, dname);
		if (res_find(dkey)) {
			reply_error(c->r, 409, "Conflict", NULL,
				    "Disk %s already exists in resource group %s. Only CreateOption.Attach is supported.",
				    dname, c->rg);
			return -EINVAL;
		}
	} else {
		json_t *oosd = json_object_get(json_object_get(props(old), "storageProfile"), "osDisk");
		json_object_set(osd, "name", json_object_get(oosd, "name"));
		if (!json_object_get(osd, "managedDisk"))
			json_object_set_new(osd, "managedDisk", json_object());
		json_object_set(json_object_get(osd, "managedDisk"), "id",
				json_object_get(json_object_get(oosd, "managedDisk"), "id"));
	}
	if (!json_object_get(osd, "deleteOption"))
		json_object_set_new(osd, "deleteOption", json_string("Detach"));
	if (!json_object_get(osd, "caching"))
		json_object_set_new(osd, "caching", json_string("ReadWrite"));
	if (!json_object_get(osd, "osType"))
		json_object_set_new(osd, "osType", json_string("Linux"));
	if (!json_object_get(osd, "diskSizeGB"))
		json_object_set_new(osd, "diskSizeGB", json_integer(30));
	json_t *img = json_object_get(sp, "imageReference");
	json_object_set_new(img, "exactVersion", json_string("22.04.202410020"));
	/* what GET never returns */
	if (cd)
		*custom_data = xstrdup(cd);
	else if (old && old->custom_data)
		*custom_data = xstrdup(old->custom_data);
	json_object_del(os, "customData");
	json_object_del(os, "adminPassword");
	if (!json_object_get(os, "computerName"))
		json_object_set_new(os, "computerName", json_string(c->name));
	json_object_set_new(os, "requireGuestProvisionSignal", json_true());
	if (!json_object_get(os, "allowExtensionOperations"))
		json_object_set_new(os, "allowExtensionOperations", json_true());
	if (!json_object_get(os, "secrets"))
		json_object_set_new(os, "secrets", json_array());
	const char *ud = json_string_value(json_object_get(p, "userData"));
	if (ud)
		*user_data = xstrdup(ud);
	else if (old && old->user_data)
		*user_data = xstrdup(old->user_data);
	json_object_del(p, "userData");
	json_object_del(p, "instanceView");
	if (old) {
		json_object_set(p, "vmId", json_object_get(props(old), "vmId"));
		json_object_set(p, "timeCreated", json_object_get(props(old), "timeCreated"));
	} else {
		char g[37], now[40];
		random_guid(g);
		iso_time(now, sizeof(now), now_wall());
		json_object_set_new(p, "vmId", json_string(g));
		json_object_set_new(p, "timeCreated", json_string(now));
	}
	json_t *ident = json_object_get(o, "identity");
	const char *it = json_string_value(json_object_get(ident, "type"));
	if (it && strstr(it, "SystemAssigned")) {
		json_t *oi = old ? json_object_get(old->obj, "identity") : NULL;
		const char *pid = json_string_value(json_object_get(oi, "principalId"));
		char g[37];
		random_guid(g);
		json_object_set_new(ident, "principalId", json_string(pid ? pid : g));
		json_object_set_new(ident, "tenantId", json_string(emu.tenant));
	}
	(void)location;
	json_object_set_new(o, "etag", json_sprintf("\"%u\"", (unsigned)++emu.seq));
	return 0;
}

/* Attach the VM's NICs; detach those an update dropped. */
static void vm_link(struct res *vm, json_t *old_nics)
{
	json_t *nics = json_object_get(json_object_get(props(vm), "networkProfile"), "networkInterfaces");
	size_t i;
	json_t *n;
	json_array_foreach(old_nics, i, n) {
		const char *nid = json_string_value(json_object_get(n, "id"));
		bool kept = false;
		size_t j;
		json_t *m;
		json_array_foreach(nics, j, m)
			kept |= streqi(json_string_value(json_object_get(m, "id")), nid);
		struct res *nic = res_by_id(nid);
		if (!kept && nic) {
			json_object_del(props(nic), "virtualMachine");
			json_object_del(props(nic), "primary");
		}
	}
	json_array_foreach(nics, i, n) {
		struct res *nic = res_by_id(json_string_value(json_object_get(n, "id")));
		if (!nic)
			continue;
		json_object_set_new(props(nic), "virtualMachine", json_pack("{s:s}", "id", id_of(vm)));
		json_object_set_new(props(nic), "primary",
				    json_boolean(json_array_size(nics) == 1 || json_is_true(json_object_get(json_object_get(n, "properties"), "primary"))));
	}
}

/* ---- deletes and their cascades ---- */


void vm_delete_effects(struct res *vm)
{
	json_t *p = props(vm);
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), i, n) {
		struct res *nic = res_by_id(json_string_value(json_object_get(n, "id")));
		if (!nic || !streqi(ref_id(props(nic), "virtualMachine"), id_of(vm)))
			continue;
		json_object_del(props(nic), "virtualMachine");
		json_object_del(props(nic), "primary");
		if (streqi(json_string_value(json_object_get(json_object_get(n, "properties"), "deleteOption")), "Delete"))
			res_delete_now(nic);
	}
	json_t *osd = json_object_get(json_object_get(p, "storageProfile"), "osDisk");
	struct res *disk = res_by_id(json_string_value(json_object_get(json_object_get(osd, "managedDisk"), "id")));
	if (disk) {
		if (streqi(json_string_value(json_object_get(osd, "deleteOption")), "Delete")) {
			res_remove(disk);
		} else {
			json_object_del(disk->obj, "managedBy");
			json_object_set_new(props(disk), "diskState", json_string("Unattached"));
		}
	}
}

/* Removes X and undoes its references (the checks were made before). */
void res_delete_now(struct res *x)
{
	if (is(x, T_VM)) {
		vm_delete_effects(x);
	} else if (is(x, T_NIC)) {
		nic_unlink(x);
		/* a public IP made with deleteOption Delete goes with its NIC */
		size_t i;
		json_t *ipc;
		json_array_foreach(json_object_get(props(x), "ipConfigurations"), i, ipc) {
			json_t *ip = json_object_get(ipc, "properties");
			struct res *pip = res_by_id(ref_id(ip, "publicIPAddress"));
			if (pip && streqi(sget(props(pip), "deleteOption", NULL, NULL), "Delete"))
				res_remove(pip);
		}
	} else if (is(x, T_VNET)) {
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res, *next; s; s = next) {
			next = s->next;
			if (is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/')
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
	json_t *p = props(x);
	if (is(x, T_NIC) && ref_id(p, "virtualMachine")) {
		reply_error(r, 400, "NicInUse", NULL,
			    "Network Interface %s is used by existing resource %s. In order to delete the network interface, "
			    "it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
			    id_of(x), ref_id(p, "virtualMachine"));
		return -EBUSY;
	}
	if (is(x, T_PIP) && ref_id(p, "ipConfiguration")) {
		reply_error(r, 400, "PublicIPAddressCannotBeDeleted", NULL,
			    "Public IP address %s can not be deleted since it is still allocated to resource %s. In order "
			    "to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn "
			    "how to do this, see aka.ms/deletepublicip.", id_of(x), ref_id(p, "ipConfiguration"));
		return -EBUSY;
	}
	if (is(x, T_NSG) && json_array_size(json_object_get(p, "networkInterfaces")) > 0) {
		reply_error(r, 400, "InUseNetworkSecurityGroupCannotBeDeleted", NULL,
			    "Network security group %s cannot be deleted because it is in use by the following resources: "
			    "%s. In order to delete the Network security group, remove the association with the resource(s). "
			    "To learn how to do this, see aka.ms/deletensg.", id_of(x),
			    json_string_value(json_object_get(json_array_get(json_object_get(p, "networkInterfaces"), 0), "id")));
		return -EBUSY;
	}
	if (is(x, T_SUBNET) && json_array_size(json_object_get(p, "ipConfigurations")) > 0) {
		reply_error(r, 400, "InUseSubnetCannotBeDeleted", NULL,
			    "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, delete all the "
			    "resources within the subnet. See aka.ms/deletesubnet.", json_string_value(json_object_get(x->obj, "name")),
			    json_string_value(json_object_get(json_array_get(json_object_get(p, "ipConfigurations"), 0), "id")));
		return -EBUSY;
	}
	if (is(x, T_VNET)) {
		_cleanup_free_ char *skey = make_key(x->sub, x->rg, T_SUBNET, x->name);
		for (struct res *s = emu.res; s; s = s->next)
			if (is(s, T_SUBNET) && strncasecmp(s->key, skey, strlen(skey)) == 0 && s->key[strlen(skey)] == '/' &&
			    delete_check(r, s) < 0)
				return -EBUSY;
	}
	if (is(x, T_DISK) && json_string_value(json_object_get(x->obj, "managedBy"))) {
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
				if ((pass == 0 && is(x, T_VM)) || (pass == 1 && is(x, T_NIC)) || pass == 2) {
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
			set_state(x, "Failed");
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
		set_state(x, "Failed");
		free(x->fail_code);
		free(x->fail_message);
		x->fail_code = xstrdup(op->fail_code);
		x->fail_message = xstrdup(op->fail_message);
		if (is(x, T_VM) && x->power == PW_STARTING)
			x->power = PW_DEALLOCATED;
		return;
	}
	set_state(x, "Succeeded");
	free(x->fail_code);
	free(x->fail_message);
	x->fail_code = x->fail_message = NULL;
	if (is(x, T_VM) && (x->power == PW_STARTING || x->power == PW_NONE))
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
	if (x && streqi(state_of(x), "Deleting")) {
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
		if (!is(x, T_VM)) {
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
	if (pending)
		(void)busy(c, pending);
	if (pending)
		return;

	json_t *o = served(c, body, location);
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
	if (x && is(x, T_NIC))
		nic_unlink(x);
	if (x && is(x, T_VM))
		old_nics = json_incref(json_object_get(json_object_get(props(x), "networkProfile"), "networkInterfaces"));
	bool created = !x;
	if (x) {
		json_decref(x->obj);
		x->obj = o;
	} else {
		x = res_add(c->sub, c->rg, c->t->name, c->name, o);
	}
	if (is(x, T_VNET)) {
		vnet_store_subnets(c, subnets);
		json_decref(subnets);
	}
	if (is(x, T_NIC))
		nic_link(x);
	if (is(x, T_VM)) {
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
	set_state(x, created ? "Creating" : "Updating");
	struct op *op = start_op(c, OP_PUT, x->key, location ? location : location_for_errors(NULL, x));
	op_headers(r, op, false);
	if (is(x, T_VM))
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
	if (is(x, T_VM)) {
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
	set_state(x, "Deleting");
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
		json_object_set_new(out, "nextLink", json_sprintf("%s%s?api-version=%s%s&$skiptoken=%zu", emu.base, r->path,
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
			if (is(x, T_SUBNET) || !filter_match(x, filter))
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
