#!/bin/bash
# Azure DCasv5 confidential VMs against the Resource Manager emulator
# (tests/emulators/arm), asserted against the emulator's own inventory:
# created to Running with a URL (NSG, public IP, NIC, VM and its OS disk,
# the vnet made once), left alone by a second pass, recreated under the
# same id when deleted behind cvmctl's back, started when found
# deallocated, and deleted when the spec goes (VM, NIC, public IP, NSG and
# OS disk gone, the vnet kept, the record Inactive).

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t22-fixtures/azure.sh"

VM=Microsoft.Compute/virtualMachines

test_expect_success 'an emulator and a tree of two azure CVMs' '
	azure_emu_start &&
	write_azure_provider specs/providers.yaml az &&
	write_azure_cvm specs/web-1.yaml web-1 &&
	write_azure_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=16 &&
	cvmctl validate -f specs
'

test_expect_success 'plan knows the azure backend and changes nothing' '
	cvmctl plan -f specs >plan.out 2>plan.err &&
	! grep "not built" plan.out plan.err &&
	grep "^  + create   web-1  (new CVM)$" plan.out &&
	test "$(count vm)" = 0 &&
	test -z "$(mutating_calls)"
'

test_expect_success 'reconcile creates both as DCasv5 confidential VMs, Running with a URL' '
	cvmctl reconcile -f specs --once >out &&
	echo "default: 2 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	test "$(vm_of web-1 .powerState)" = PowerState/running &&
	test "$(vm_of web-1 .properties.hardwareProfile.vmSize)" = Standard_DC2as_v5 &&
	test "$(vm_of web-2 .properties.hardwareProfile.vmSize)" = Standard_DC4as_v5 &&
	test "$(vm_of web-1 .properties.securityProfile.securityType)" = ConfidentialVM &&
	test "$(vm_of web-1 .properties.securityProfile.uefiSettings.vTpmEnabled)" = true &&
	test "$(vm_of web-1 .properties.securityProfile.uefiSettings.secureBootEnabled)" = true &&
	test "$(vm_of web-1 .properties.storageProfile.osDisk.managedDisk.securityProfile.securityEncryptionType)" = VMGuestStateOnly &&
	test "$(vm_of web-1 .properties.storageProfile.osDisk.managedDisk.storageAccountType)" = Premium_LRS &&
	test "$(vm_of web-1 .properties.storageProfile.osDisk.deleteOption)" = Delete &&
	test "$(vm_of web-1 .properties.storageProfile.imageReference.sku)" = 22_04-lts-cvm &&
	test "$(vm_of web-1 ".tags[\"cvmctl-id\"]")" = "$(record_field web-1 id)" &&
	test "$(vm_of web-1 ".tags[\"managed-by\"]")" = cvmctl &&
	test "$(vm_of web-1 .customData | base64 -d | head -n 1)" = "#cloud-config" &&
	test -n "$(vm_of web-1 .userData)" &&
	for t in vm nic pip nsg disk; do test "$(count $t)" = 2 || { echo "$t: not 2"; return 1; }; done &&
	test "$(count vnet)" = 1 &&
	test "$(count vnet managed-by cvmctl)" = 1 &&
	id1=$(record_field web-1 id) &&
	test "$(count nsg cvmctl-id "$id1")" = 1 && test "$(count pip cvmctl-id "$id1")" = 1 &&
	test "$(count nic cvmctl-id "$id1")" = 1 &&
	test "$(untagged)" = 0 &&
	vm=$(vm_of web-1 .name) &&
	ip=$(inv | jq -r --arg n "$vm-pip" ".resources[] | select(.name == \$n) | .properties.ipAddress") &&
	test -n "$ip" && test "$ip" != null &&
	test "$(record_field web-1 url)" = "$ip:7002" &&
	test "$(record_field web-1 status)" = Running
'

test_expect_success 'every ARM call went to a pinned api-version with a valid token' '
	arm_ctl GET requests | jq "{requests: [.requests[] | select(.path | ascii_downcase | startswith(\"/subscriptions/\"))]}" >reqs.json &&
	test "$(jq ".requests | length" reqs.json)" -gt 8 &&
	test "$(jq "[.requests[] | select(.token != \"valid\")] | length" reqs.json)" = 0 &&
	jq -r ".requests[].apiVersion" reqs.json | sort -u >versions &&
	grep -qx 2024-11-01 versions && grep -qx 2024-10-01 versions &&
	! grep -v -x -e 2024-11-01 -e 2024-10-01 -e 2021-04-01 -e 2024-03-02 versions
'

test_expect_success 'a second pass is idempotent: no mutating call reaches the emulator' '
	ctl DELETE requests &&
	cvmctl reconcile -f specs --once >out &&
	echo "default: 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 2 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	mutating_calls >calls && test_must_be_empty calls
'

test_expect_success 'list --refresh observes both Running with their URLs' '
	cvmctl list --refresh -o json >live.json &&
	test "$(jq -r "[.[] | select(.status == \"Running\")] | length" live.json)" = 2 &&
	vm=$(vm_of web-2 .name) &&
	ip=$(inv | jq -r --arg n "$vm-pip" ".resources[] | select(.name == \$n) | .properties.ipAddress") &&
	test "$(jq -r ".[] | select(.name == \"web-2\") | .url" live.json)" = "$ip:7002"
'

test_expect_success 'a VM deleted behind our back is recreated under the same id, leftovers cleaned' '
	id=$(record_field web-1 id) &&
	vmid=$(vm_of web-1 .id) &&
	ctl POST vm "{\"id\":\"$vmid\",\"action\":\"delete\"}" &&
	test "$(count vm cvmctl-id "$id")" = 0 &&
	cvmctl reconcile -f specs --once >out &&
	grep "^recreated web-1 .*$id" out &&
	test "$(count vm cvmctl-id "$id")" = 1 &&
	test "$(count nsg cvmctl-id "$id")" = 1 &&
	test "$(count pip cvmctl-id "$id")" = 1 &&
	test "$(count nic cvmctl-id "$id")" = 1 &&
	for t in vm nic pip nsg disk; do test "$(count $t)" = 2 || { echo "$t: not 2"; inv | jq -c "[.resources[] | [.type, .name]]"; return 1; }; done &&
	test "$(record_field web-1 status)" = Running
'

test_expect_success 'a deallocated VM is started' '
	vmid=$(vm_of web-2 .id) &&
	ctl POST vm "{\"id\":\"$vmid\",\"action\":\"deallocate\"}" &&
	test "$(vm_of web-2 .powerState)" = PowerState/deallocated &&
	cvmctl reconcile -f specs --once >out &&
	grep "^started" out &&
	test "$(vm_of web-2 .powerState)" = PowerState/running &&
	test "$(record_field web-2 status)" = Running
'

test_expect_success 'spec removed: VM, NIC, public IP, NSG and OS disk gone, the vnet kept, the record Inactive' '
	id=$(record_field web-2 id) &&
	rm specs/web-2.yaml &&
	cvmctl reconcile -f specs --once >out &&
	grep "1 deleted" out &&
	for t in vm nic pip nsg disk; do test "$(count $t)" = 1 || { echo "$t: not 1"; return 1; }; done &&
	test "$(count vnet)" = 1 &&
	test "$(inv | jq "[.resources[] | select(.tags[\"cvmctl-id\"] == \"$id\")] | length")" = 0 &&
	test "$(cvmctl list -o json | jq -r ".[] | select(.id == \"$id\") | .status")" = Inactive
'

test_expect_success 'no key material in any output' '
	cvmctl -v reconcile -f specs --once >out.v 2>err.v &&
	cvmctl -v list -o json >list.v 2>&1 &&
	secret=$(cat "$ARM_DIR/client-secret") &&
	! grep -F -e "$secret" out out.v err.v list.v plan.out plan.err &&
	! grep -e "BEGIN .*PRIVATE KEY" -e "eyJ[A-Za-z0-9_-]\{20,\}" out.v err.v list.v
'

test_done
