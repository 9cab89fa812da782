/* The PUT bodies of every resource type the backend makes (reference/
 * cloud-apis.md B4, B5), rendered here alone so that the golden files
 * (tests/golden/azure/) show exactly what is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/azure/azure.h"
#include "providers/azure/size.h"
#include "providers/cloudinit.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

#define VNET_PREFIX "10.42.0.0/16"
#define SUBNET_PREFIX "10.42.0.0/24"
#define AGENT_RULE_PRIORITY 1000

/* Azure requires an SSH key when password login is off. This one's private
 * half was thrown away when it was made: nobody can log in with it. */
#define NO_LOGIN_KEY                                                                                                   \
	"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDjpDB8/fti/4V/zfGdx/gwmt/94D3Yaiy2H5Y0migYqFW62t5cU7VicXx84rSNMh/VgeT/UE+" \
	"NaRse3X3zemcuqK75R+TGxPZS32N9BQRLGMPFA/58TgNKogy2OXejmo21CrT24XmBG2xRaifYUkQ37G8v+QaZHBiIZyr5vtT98lEsMsYhRhWHd0k" \
	"NoBrMDKw6x+JiftjM82pSS3E5itmr9oz0fj9dmLl5+0eU35nAYRIMXg7vEtU1p2yEyYG6j9WF29ToCvdHwlKECagcB5xfP0Cr3ZHkoK1q2Ulw/0B8" \
	"lPwERVf7+LEjUaSzQmsIFSAEEJ1h42d4xz7s103ElsXD cvmctl-no-login"

static json_t *provider_tags(const provider_t *p) {
	return json_pack("{s:s, s:s}", "managed-by", "cvmctl", "cvmctl-provider", p->name);
}

json_t *az_vnet_body(const provider_t *p) {
	return json_pack("{s:s, s:o, s:{s:{s:[s]}, s:[{s:s, s:{s:s}}]}}", "location", p->location, "tags",
	                 provider_tags(p), "properties", "addressSpace", "addressPrefixes", VNET_PREFIX, "subnets", "name",
	                 p->subnet, "properties", "addressPrefix", SUBNET_PREFIX);
}

json_t *az_subnet_body(const provider_t *p) {
	(void)p;
	return json_pack("{s:{s:s}}", "properties", "addressPrefix", SUBNET_PREFIX);
}

json_t *az_nsg_body(const provider_t *p, const cvm_desired_t *w, const json_t *tags) {
	char port[16];
	snprintf(port, sizeof port, "%d", w->agent_port > 0 ? w->agent_port : 7002);
	json_t *rule = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "priority", AGENT_RULE_PRIORITY, "direction",
	                         "Inbound", "access", "Allow", "protocol", "Tcp", "sourcePortRange", "*",
	                         "destinationAddressPrefix", "*", "destinationPortRange", port);
	if (p->n_cidrs > 1) {
		json_t *a = json_array();
		for (size_t i = 0; i < p->n_cidrs; i++) json_array_append_new(a, json_string(p->cidrs[i]));
		json_object_set_new(rule, "sourceAddressPrefixes", a);
	} else {
		json_object_set_new(rule, "sourceAddressPrefix", json_string(p->n_cidrs ? p->cidrs[0] : "*"));
	}
	return json_pack("{s:s, s:O, s:{s:[{s:s, s:o}]}}", "location", p->location, "tags", tags, "properties",
	                 "securityRules", "name", "cocos-agent", "properties", rule);
}

json_t *az_pip_body(const provider_t *p, const json_t *tags) {
	return json_pack("{s:s, s:O, s:{s:s, s:s}, s:{s:s, s:s}}", "location", p->location, "tags", tags, "sku", "name",
	                 "Standard", "tier", "Regional", "properties", "publicIPAllocationMethod", "Static",
	                 "publicIPAddressVersion", "IPv4");
}

json_t *az_nic_body(const provider_t *p, const char *base, const json_t *tags) {
	_cleanup_free_ char *subnet_id = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/"
	                                           "Microsoft.Network/virtualNetworks/%s/subnets/%s",
	                                           p->sub, p->rg, p->vnet, p->subnet);
	_cleanup_free_ char *nsg = az_kind_name(AZ_NSG, base), *pip = az_kind_name(AZ_PIP, base);
	_cleanup_free_ char *nsg_id = az_resource_id(p, AZ_NSG, nsg), *pip_id = az_resource_id(p, AZ_PIP, pip);
	json_t *ipc = json_pack("{s:{s:s}, s:s, s:b}", "subnet", "id", subnet_id, "privateIPAllocationMethod", "Dynamic",
	                        "primary", 1);
	if (p->public_ip) json_object_set_new(ipc, "publicIPAddress", json_pack("{s:s}", "id", pip_id));
	return json_pack("{s:s, s:O, s:{s:[{s:s, s:o}], s:{s:s}}}", "location", p->location, "tags", tags, "properties",
	                 "ipConfigurations", "name", "ipconfig1", "properties", ipc, "networkSecurityGroup", "id", nsg_id);
}

static void set_files(cloudinit_params_t *cp, const cvm_desired_t *w) {
	*cp = (cloudinit_params_t){.cloud = CLOUD_AZURE, .cvm_id = w->id, .cvm_name = w->name};
	cloudinit_params_set_files(cp, w->files, w->n_files);
	if (!cp->environment) cp->environment = "";
}

char *az_user_data(const cvm_desired_t *w, char **err) {
	cloudinit_params_t cp;
	set_files(&cp, w);
	_cleanup_free_ char *doc = NULL;
	size_t len;
	if (cloudinit_render_delivery(&cp, &doc, &len, err) < 0) return NULL;
	return cloudinit_base64(doc, len);
}

json_t *az_vm_body(const provider_t *p, const cvm_desired_t *w, const char *base, const json_t *tags, char **err) {
	_cleanup_free_ char *size = azure_vm_size(w->vcpus, w->memory_gib);
	if (!size) {
		*err = xasprintf("no DCasv5 size has %d vCPUs and %d GiB", w->vcpus, w->memory_gib);
		return NULL;
	}
	cloudinit_params_t cp;
	set_files(&cp, w);
	_cleanup_free_ char *cc = NULL;
	size_t len;
	if (cloudinit_render(&cp, &cc, &len, err) < 0) return NULL;
	_cleanup_free_ char *custom = cloudinit_base64(cc, len);
	_cleanup_free_ char *ud = az_user_data(w, err);
	if (!ud) return NULL;
	_cleanup_free_ char *disk = az_kind_name(AZ_DISK, base), *nic = az_kind_name(AZ_NIC, base);
	_cleanup_free_ char *nic_id = az_resource_id(p, AZ_NIC, nic);
	_cleanup_free_ char *key_path = xasprintf("/home/%s/.ssh/authorized_keys", p->admin);

	json_t *disk_sec = json_pack("{s:s}", "securityEncryptionType", p->encryption);
	if (p->des_id) json_object_set_new(disk_sec, "diskEncryptionSet", json_pack("{s:s}", "id", p->des_id));
	json_t *props = json_object();
	json_object_set_new(props, "hardwareProfile", json_pack("{s:s}", "vmSize", size));
	json_object_set_new(props, "securityProfile",
	                    json_pack("{s:s, s:{s:b, s:b}}", "securityType", "ConfidentialVM", "uefiSettings",
	                              "secureBootEnabled", 1, "vTpmEnabled", 1));
	json_object_set_new(props, "storageProfile",
	                    json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:{s:s, s:o}}}", "imageReference",
	                              "publisher", p->image_publisher, "offer", p->image_offer, "sku", p->image_sku,
	                              "version", p->image_version, "osDisk", "name", disk, "createOption", "FromImage",
	                              "caching", "ReadWrite", "deleteOption", "Delete", "managedDisk",
	                              "storageAccountType", "Premium_LRS", "securityProfile", disk_sec));
	json_object_set_new(props, "osProfile",
	                    json_pack("{s:s, s:s, s:s, s:{s:b, s:{s:[{s:s, s:s}]}}}", "computerName", base,
	                              "adminUsername", p->admin, "customData", custom, "linuxConfiguration",
	                              "disablePasswordAuthentication", 1, "ssh", "publicKeys", "path", key_path, "keyData",
	                              p->ssh_key ? p->ssh_key : NO_LOGIN_KEY));
	json_object_set_new(props, "networkProfile",
	                    json_pack("{s:[{s:s, s:{s:b, s:s}}]}", "networkInterfaces", "id", nic_id, "properties",
	                              "primary", 1, "deleteOption", "Delete"));
	json_object_set_new(props, "userData", json_string(ud));
	return json_pack("{s:s, s:O, s:o}", "location", p->location, "tags", tags, "properties", props);
}
