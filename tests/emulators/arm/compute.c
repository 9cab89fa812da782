/* Compute resources: the confidential VM (references, immutable fields, what
 * GET hides), its instance view and power states, and its OS disk. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "res.h"

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

json_t *instance_view(struct res *x)
{
	const char *st = res_state(x) ? res_state(x) : "Succeeded";
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
	json_t *p = res_props(x);
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
static const char *disk_security_type(const char *enc, bool des)
{
	if (streqi(enc, "DiskWithVMGuestState"))
		return des ? "ConfidentialVM_DiskEncryptedWithCustomerKey" : "ConfidentialVM_DiskEncryptedWithPlatformKey";
	if (streqi(enc, "NonPersistedTPM"))
		return "ConfidentialVM_NonPersistedTPM";
	return "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey";
}

/* The OS disk a VM's create makes. */
struct res *make_os_disk(struct ctx *c, json_t *vmo, const char *location)
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

int build_vm(struct ctx *c, json_t *o, struct res *old, const char *location, char **user_data, char **custom_data)
{
	if (validate_vm(c->r, c->name, o, old != NULL) < 0)
		return -EINVAL;
	json_t *p = json_object_get(o, "properties");
	json_t *os = json_object_get(p, "osProfile");
	json_t *sp = json_object_get(p, "storageProfile");
	json_t *osd = json_object_get(sp, "osDisk");
	const char *cd = json_string_value(json_object_get(os, "customData"));
	if (old) {
		json_t *op = res_props(old);
		if (cd && (!old->custom_data || strcmp(cd, old->custom_data) != 0))
			return immutable(c, "osProfile.customData");
		const char *u = json_sget(os, "adminUsername", NULL, NULL), *ou = json_sget(op, "osProfile", "adminUsername", NULL);
		if (u && ou && strcmp(u, ou) != 0)
			return immutable(c, "osProfile.adminUsername");
		const char *cn = json_sget(os, "computerName", NULL, NULL), *ocn = json_sget(op, "osProfile", "computerName", NULL);
		if (cn && ocn && strcmp(cn, ocn) != 0)
			return immutable(c, "osProfile.computerName");
		const char *dn = json_sget(osd, "name", NULL, NULL), *odn = json_sget(op, "storageProfile", "osDisk", "name");
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
		const char *user = ref_id(res_props(nic), "virtualMachine");
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
		const char *dname = json_sget(osd, "name", NULL, NULL);
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
		json_t *oosd = json_object_get(json_object_get(res_props(old), "storageProfile"), "osDisk");
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
		json_object_set(p, "vmId", json_object_get(res_props(old), "vmId"));
		json_object_set(p, "timeCreated", json_object_get(res_props(old), "timeCreated"));
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
void vm_link(struct res *vm, json_t *old_nics)
{
	json_t *nics = json_object_get(json_object_get(res_props(vm), "networkProfile"), "networkInterfaces");
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
			json_object_del(res_props(nic), "virtualMachine");
			json_object_del(res_props(nic), "primary");
		}
	}
	json_array_foreach(nics, i, n) {
		struct res *nic = res_by_id(json_string_value(json_object_get(n, "id")));
		if (!nic)
			continue;
		json_object_set_new(res_props(nic), "virtualMachine", json_pack("{s:s}", "id", res_id_of(vm)));
		json_object_set_new(res_props(nic), "primary",
				    json_boolean(json_array_size(nics) == 1 || json_is_true(json_object_get(json_object_get(n, "properties"), "primary"))));
	}
}

void vm_delete_effects(struct res *vm)
{
	json_t *p = res_props(vm);
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), i, n) {
		struct res *nic = res_by_id(json_string_value(json_object_get(n, "id")));
		if (!nic || !streqi(ref_id(res_props(nic), "virtualMachine"), res_id_of(vm)))
			continue;
		json_object_del(res_props(nic), "virtualMachine");
		json_object_del(res_props(nic), "primary");
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
			json_object_set_new(res_props(disk), "diskState", json_string("Unattached"));
		}
	}
}

