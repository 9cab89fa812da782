#!/usr/bin/python3
"""Microsoft's own Python SDK (Debian's python3-azure: azure-identity, azure-mgmt-resource,
azure-mgmt-network, azure-mgmt-compute) against the ARM emulator, with only the authority host,
the ARM endpoint and the CA changed, as a user would point them at it.

usage: arm-azure-sdk.py secret|cert|federated   (environment: ARM_URL ARM_TENANT ARM_CLIENT_ID
ARM_SUB ARM_DIR; REQUESTS_CA_BUNDLE names the emulator's CA)

Creates a resource group, a VNet with a subnet, an NSG, a public IP, a NIC and a DCasv5
confidential VM, checks what GET returns, then deletes them in reverse. Prints one line per
step; exits non-zero on the first failure."""
import base64
import os
import sys

from azure.identity import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource import ResourceManagementClient

url = os.environ["ARM_URL"]
tenant = os.environ["ARM_TENANT"]
client_id = os.environ["ARM_CLIENT_ID"]
sub = os.environ["ARM_SUB"]
d = os.environ["ARM_DIR"]
mode = sys.argv[1] if len(sys.argv) > 1 else "secret"

# instance_discovery=False: MSAL would otherwise ask login.microsoftonline.com about this host.
common = dict(authority=url, instance_discovery=False)
if mode == "secret":
    cred = ClientSecretCredential(tenant, client_id, open(d + "/client-secret").read().strip(), **common)
elif mode == "cert":
    cred = CertificateCredential(tenant, client_id, certificate_path=d + "/client-both.pem", **common)
elif mode == "federated":
    # Workload identity as a CI runner sets it up: this SDK version takes it through
    # ManagedIdentityCredential and the environment (its ClientAssertionCredential rejects
    # every keyword argument, authority included).
    os.environ.update(AZURE_AUTHORITY_HOST=url, AZURE_TENANT_ID=tenant, AZURE_CLIENT_ID=client_id,
                      AZURE_FEDERATED_TOKEN_FILE=d + "/federated-token")
    cred = ManagedIdentityCredential()
else:
    sys.exit("unknown mode " + mode)

scopes = ["https://management.azure.com/.default"]
rc = ResourceManagementClient(cred, sub, base_url=url, credential_scopes=scopes)
nc = NetworkManagementClient(cred, sub, base_url=url, credential_scopes=scopes)
cc = ComputeManagementClient(cred, sub, base_url=url, credential_scopes=scopes)

rg, loc = "sdk-rg", "eastus"
tags = {"cvmctl-id": "sdk-" + mode}


def step(msg):
    print(msg, flush=True)


rc.resource_groups.create_or_update(rg, {"location": loc, "tags": tags})
step("resource group created")
vnet = nc.virtual_networks.begin_create_or_update(rg, "vnet", {
    "location": loc, "tags": tags,
    "address_space": {"address_prefixes": ["10.0.0.0/16"]},
    "subnets": [{"name": "default", "address_prefix": "10.0.0.0/24"}]}).result()
assert vnet.provisioning_state == "Succeeded", vnet.provisioning_state
subnet = nc.subnets.get(rg, "vnet", "default")
step("vnet created: subnet %s" % subnet.address_prefix)
nsg = nc.network_security_groups.begin_create_or_update(rg, "nsg", {
    "location": loc, "tags": tags,
    "security_rules": [{"name": "agent", "priority": 1000, "direction": "Inbound", "access": "Allow",
                        "protocol": "Tcp", "source_address_prefix": "*", "source_port_range": "*",
                        "destination_address_prefix": "*", "destination_port_range": "7001"}]}).result()
step("nsg created: %d rule(s)" % len(nsg.security_rules))
pip = nc.public_ip_addresses.begin_create_or_update(rg, "pip", {
    "location": loc, "tags": tags, "sku": {"name": "Standard", "tier": "Regional"},
    "public_ip_allocation_method": "Static", "public_ip_address_version": "IPv4"}).result()
assert pip.ip_address, "no public address"
step("public ip created: has an address")
nic = nc.network_interfaces.begin_create_or_update(rg, "nic", {
    "location": loc, "tags": tags,
    "ip_configurations": [{"name": "ipconfig1", "subnet": {"id": subnet.id},
                           "private_ip_allocation_method": "Dynamic",
                           "public_ip_address": {"id": pip.id}}],
    "network_security_group": {"id": nsg.id}}).result()
step("nic created: private %s" % nic.ip_configurations[0].private_ip_address)

user_data = base64.b64encode(b"certificates v1").decode()
vm = cc.virtual_machines.begin_create_or_update(rg, "cvm", {
    "location": loc, "tags": tags,
    "hardware_profile": {"vm_size": "Standard_DC2as_v5"},
    "security_profile": {"security_type": "ConfidentialVM",
                         "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True}},
    "storage_profile": {
        "image_reference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-confidential-vm-jammy",
                            "sku": "22_04-lts-cvm", "version": "latest"},
        "os_disk": {"create_option": "FromImage", "caching": "ReadWrite", "delete_option": "Delete",
                    "managed_disk": {"storage_account_type": "Premium_LRS",
                                     "security_profile": {"security_encryption_type": "VMGuestStateOnly"}}}},
    "os_profile": {"computer_name": "cvm", "admin_username": "azureuser",
                   "custom_data": base64.b64encode(b"#cloud-config\n").decode(),
                   "linux_configuration": {"disable_password_authentication": True, "ssh": {"public_keys": [
                       {"path": "/home/azureuser/.ssh/authorized_keys",
                        "key_data": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test@sdk"}]}}},
    "network_profile": {"network_interfaces": [{"id": nic.id, "primary": True, "delete_option": "Delete"}]},
    "user_data": user_data}).result()
assert vm.provisioning_state == "Succeeded", vm.provisioning_state
step("vm created: %s %s" % (vm.hardware_profile.vm_size, vm.security_profile.security_type))
iv = cc.virtual_machines.get(rg, "cvm", expand="instanceView").instance_view
power = [s.code for s in iv.statuses if s.code.startswith("PowerState/")]
step("vm power: %s" % power[0])
got = cc.virtual_machines.get(rg, "cvm", expand="userData")
assert got.user_data == user_data, "userData differs"
assert got.os_profile.custom_data is None, "GET returned customData"
step("vm userData round-trips; customData not returned")
cc.virtual_machines.begin_update(rg, "cvm", {"user_data": base64.b64encode(b"certificates v2").decode()}).result()
got = cc.virtual_machines.get(rg, "cvm", expand="userData")
assert base64.b64decode(got.user_data) == b"certificates v2"
step("vm userData updated")
cc.virtual_machines.begin_deallocate(rg, "cvm").result()
cc.virtual_machines.begin_start(rg, "cvm").result()
iv = cc.virtual_machines.instance_view(rg, "cvm")
step("vm deallocated and started: %s" % [s.code for s in iv.statuses if s.code.startswith("PowerState/")][0])
vms = [v.name for v in cc.virtual_machines.list(rg)]
step("vm list: %s" % vms)

cc.virtual_machines.begin_delete(rg, "cvm").result()
step("vm deleted")
remaining = sorted(r.type for r in rc.resources.list_by_resource_group(rg))
step("left after the vm: %s" % remaining)
for name, op in (("pip", None), ("nsg", None)):
    pass
nc.public_ip_addresses.begin_delete(rg, "pip").result()
nc.network_security_groups.begin_delete(rg, "nsg").result()
nc.virtual_networks.begin_delete(rg, "vnet").result()
step("network deleted")
rc.resource_groups.begin_delete(rg).result()
step("resource group deleted: exists=%s" % rc.resource_groups.check_existence(rg))
