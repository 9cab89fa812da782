/* Network resources: virtual networks and their subnets, network security
 * groups, public IP addresses and network interfaces, with the references
 * between them kept both ways (so that an in-use delete fails as in Azure). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "res.h"

/* LINK: the back-references to NIC's IP configurations and to NIC made in
 * the subnets, public IPs and security group it names; else removed (a
 * public IP's only where it still names this configuration). */
static void nic_refs(struct res *nic, bool link)
{
	size_t i;
	json_t *ipc;
	json_array_foreach(json_object_get(res_props(nic), "ipConfigurations"), i, ipc) {
		json_t *p = json_object_get(ipc, "properties");
		const char *ipc_id = json_string_value(json_object_get(ipc, "id"));
		struct res *sn = res_by_id(ref_id(p, "subnet"));
		if (sn)
			(link ? backref_add : backref_del)(sn, "ipConfigurations", ipc_id);
		struct res *pip = res_by_id(ref_id(p, "publicIPAddress"));
		if (pip && link)
			json_object_set_new(res_props(pip), "ipConfiguration", json_pack("{s:s}", "id", ipc_id));
		else if (pip && streqi(ref_id(res_props(pip), "ipConfiguration"), ipc_id))
			json_object_del(res_props(pip), "ipConfiguration");
	}
	struct res *nsg = res_by_id(ref_id(res_props(nic), "networkSecurityGroup"));
	if (nsg)
		(link ? backref_add : backref_del)(nsg, "networkInterfaces", res_id_of(nic));
}

void nic_unlink(struct res *nic)
{
	nic_refs(nic, false);
}

void nic_link(struct res *nic)
{
	nic_refs(nic, true);
}

/* S's own name when S is a subnet of the virtual network whose subnets'
 * keys start SKEY + '/', else NULL. */
static const char *own_subnet(struct res *s, const char *skey)
{
	size_t n = strlen(skey);
	if (!res_is(s, T_SUBNET) || strncasecmp(s->key, skey, n) != 0 || s->key[n] != '/')
		return NULL;
	return strrchr(s->name, '/') + 1;
}

/* Whether the body's subnets SUBS name SNAME (case-insensitively). */
static bool subnet_listed(json_t *subs, const char *sname)
{
	bool kept = false;
	size_t i;
	json_t *e;
	json_array_foreach(subs, i, e)
		kept |= streqi(json_string_value(json_object_get(e, "name")), sname);
	return kept;
}

/* ---- the per-type builders: validate references, make the served object ---- */

int build_vnet(struct ctx *c, json_t *body, struct res *old, json_t *o, json_t **subnets_out)
{
	(void)body;
	resource_guid(o, old);
	json_t *p = json_object_get(o, "properties");
	json_t *subs = json_object_get(p, "subnets");
	/* subnets the new body leaves out go, unless something uses them */
	_cleanup_free_ char *skey = make_key(c->sub, c->rg, T_SUBNET, c->name);
	for (struct res *s = emu.res; old && s; s = s->next) {
		const char *sname = own_subnet(s, skey);
		if (!sname)
			continue;
		bool kept = subnet_listed(subs, sname);
		json_t *users = json_object_get(res_props(s), "ipConfigurations");
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

json_t *subnet_served(struct ctx *vc, const char *sname, json_t *sbody, struct res *old)
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

void vnet_store_subnets(struct ctx *c, json_t *subs)
{
	_cleanup_free_ char *skey = make_key(c->sub, c->rg, T_SUBNET, c->name);
	for (struct res *s = emu.res, *next; s; s = next) {
		next = s->next;
		const char *sname = own_subnet(s, skey);
		if (sname && !subnet_listed(subs, sname))
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

int build_nsg(struct ctx *c, json_t *o, struct res *old)
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

int build_pip(struct ctx *c, json_t *o, struct res *old)
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

int build_nic(struct ctx *c, json_t *o, struct res *old)
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
			const char *user = ref_id(res_props(pip), "ipConfiguration");
			if (user && !streqi(user, ipc_id)) {
				reply_error(c->r, 400, "PublicIPAddressInUse", NULL,
					    "Resource %s is already in use by %s.", pip_id, user);
				return -EINVAL;
			}
		}
		/* the subnet's first address + 4: Azure keeps .0-.3 */
		const char *prefix = json_string_value(json_object_get(res_props(sn), "addressPrefix"));
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

