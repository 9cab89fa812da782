/* The store: the resource types served, ids (case-insensitive, the resource
 * group upper-cased as Compute returns it), the list of resources in
 * creation order, and small helpers over their stored JSON. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "res.h"

static const struct rtype types[] = {
	{"Microsoft.Network/virtualNetworks", "VirtualNetwork"},
	{"Microsoft.Network/virtualNetworks/subnets", "Subnet"},
	{"Microsoft.Network/networkSecurityGroups", "NetworkSecurityGroup"},
	{"Microsoft.Network/publicIPAddresses", "PublicIPAddress"},
	{"Microsoft.Network/networkInterfaces", "NetworkInterface"},
	{"Microsoft.Compute/virtualMachines", "VirtualMachine"},
	{"Microsoft.Compute/disks", "Disk"},
};


const struct rtype *type_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strcasecmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

bool res_is(const struct res *x, const char *type)
{
	return x && strcmp(x->type, type) == 0;
}

char *ns_of(const char *type)
{
	return strndup(type, strcspn(type, "/"));
}

/* ---- ids and the store ---- */

char *make_key(const char *sub, const char *rg, const char *type, const char *name)
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

json_t *res_props(struct res *x)
{
	json_t *p = json_object_get(x->obj, "properties");
	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(x->obj, "properties", p);
	}
	return p;
}

const char *res_id_of(struct res *x)
{
	return json_string_value(json_object_get(x->obj, "id"));
}

const char *res_state(struct res *x)
{
	return json_string_value(json_object_get(res_props(x), "provisioningState"));
}

void res_set_state(struct res *x, const char *s)
{
	json_object_set_new(res_props(x), "provisioningState", json_string(s));
}

void new_etag(json_t *o)
{
	char g[37];
	random_guid(g);
	json_object_set_new(o, "etag", json_sprintf("W/\"%s\"", g));
}

/* ---- back-references (what uses a resource) ---- */

/* Removes {"id": ID} from the array at res_props(X)[FIELD]. */
void backref_del(struct res *x, const char *field, const char *id)
{
	json_t *a = json_object_get(res_props(x), field);
	for (size_t i = 0; i < json_array_size(a);) {
		if (streqi(json_string_value(json_object_get(json_array_get(a, i), "id")), id))
			json_array_remove(a, i);
		else
			i++;
	}
}

void backref_add(struct res *x, const char *field, const char *id)
{
	json_t *a = json_object_get(res_props(x), field);
	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(res_props(x), field, a);
	}
	backref_del(x, field, id);
	json_array_append_new(a, json_pack("{s:s}", "id", id));
}

const char *ref_id(json_t *o, const char *field)
{
	return json_string_value(json_object_get(json_object_get(o, field), "id"));
}

/* A NIC's references: to its subnets, public IPs and NSG. */
/* ---- request context ---- */


void ctx_free(struct ctx *c)
{
	free(c->name);
	free(c->key);
	free(c->ns);
	free(c->rid);
}

void not_found(struct ctx *c)
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

int invalid_ref(struct ctx *c, const char *ref)
{
	reply_error(c->r, 400, "InvalidResourceReference", NULL,
		    "Resource %s referenced by resource %s was not found. Please make sure that the referenced resource "
		    "exists, and that both resources are in the same region.", ref, c->rid);
	return -EINVAL;
}

/* A reference the new resource makes: it must exist, be of TYPE, and have
 * finished provisioning. */
struct res *need_ref(struct ctx *c, const char *ref, const char *type, int *err)
{
	struct res *x = res_by_id(ref);
	if (!x || !res_is(x, type) || streqi(res_state(x), "Deleting")) {
		*err = invalid_ref(c, ref ? ref : "(null)");
		return NULL;
	}
	if (!streqi(res_state(x), "Succeeded")) {
		reply_error(c->r, 400, "ReferencedResourceNotProvisioned", NULL,
			    "Cannot proceed with operation because resource %s used by resource %s is not in Succeeded "
			    "state. Resource is in %s state.", ref, c->rid, res_state(x) ? res_state(x) : "Unknown");
		*err = -EINVAL;
		return NULL;
	}
	*err = 0;
	return x;
}

char *norm_location(const char *l)
{
	char *d = xstrdown(l), *o = d;
	for (const char *p = d; *p; p++)
		if (*p != ' ')
			*o++ = *p;
	*o = 0;
	return d;
}

/* The common fields of a served resource. */
json_t *res_served(struct ctx *c, json_t *body, const char *location)
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

void keep_prop(json_t *o, struct res *old, const char *field)
{
	json_t *v = old ? json_object_get(res_props(old), field) : NULL;
	if (v)
		json_object_set(json_object_get(o, "properties"), field, v);
}

void resource_guid(json_t *o, struct res *old)
{
	keep_prop(o, old, "resourceGuid");
	if (!json_object_get(json_object_get(o, "properties"), "resourceGuid")) {
		char g[37];
		random_guid(g);
		json_object_set_new(json_object_get(o, "properties"), "resourceGuid", json_string(g));
	}
}

const char *json_sget(json_t *o, const char *a, const char *b, const char *cc)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (cc)
		v = json_object_get(v, cc);
	return json_string_value(v);
}

/* O is the request made into the served VM. */
