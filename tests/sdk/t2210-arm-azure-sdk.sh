#!/bin/bash
# Microsoft's own Python SDK (Debian 12's python3-azure: azure-identity
# 1.13 with MSAL, azure-mgmt-resource, -network and -compute) against the
# ARM emulator with only the authority host, the ARM endpoint and the CA
# changed: a confidential VM chain created and deleted with each kind of
# credential (client secret, certificate, federated token file), and the
# wrong CA refused. Run by `make check-sdk` (it installs python3-azure);
# a missing SDK is a failure here, never a skip.

. "$SRCDIR/tests/e2e/lib.sh"
. "$SRCDIR/tests/emulators/arm/lib.sh"

PY=/usr/bin/python3
SCRIPT=$SRCDIR/tests/sdk/arm-azure-sdk.py

test_expect_success "Debian's python3-azure is installed" '
	$PY -c "import azure.identity, azure.mgmt.compute, azure.mgmt.network, azure.mgmt.resource" || {
		echo "python3-azure is missing: run make check-sdk (scripts/deps.sh --sdk installs it)"
		false
	}
'

test_expect_success 'the emulator starts' '
	arm_start "$TRASH/arm" --subscription "$ARM_SUB" &&
	arm_ctl PUT config "{\"pollsToDone\":2}" >/dev/null
'

for mode in secret cert federated; do
	test_expect_success "SDK ($mode credential): resource group, vnet, NSG, public IP, NIC, confidential VM, and back" '
		arm_ctl DELETE requests >/dev/null &&
		REQUESTS_CA_BUNDLE=$ARM_CA timeout 240 $PY "$SCRIPT" '"$mode"' >sdk.out 2>&1 || { cat sdk.out; false; }
		cat sdk.out &&
		grep -x "vm created: Standard_DC2as_v5 ConfidentialVM" sdk.out &&
		grep -x "vm power: PowerState/running" sdk.out &&
		grep -x "vm deallocated and started: PowerState/running" sdk.out &&
		grep -x "left after the vm: \[.Microsoft.Network/networkSecurityGroups., .Microsoft.Network/publicIPAddresses., .Microsoft.Network/virtualNetworks.\]" sdk.out &&
		grep -x "resource group deleted: exists=False" sdk.out &&
		arm_ctl GET inventory >inv.json &&
		test "$(jq ".resources | length" inv.json)" = 0 &&
		test "$(jq ".resourceGroups | length" inv.json)" = 0
	'
	test_expect_success "SDK ($mode): the versions it sent, a client request id on every ARM call, no bad status" '
		arm_ctl GET requests >log.json &&
		jq -e "[.requests[] | select(.path | test(\"/virtualMachines\")) | .apiVersion] | unique == [\"2022-08-01\"]" log.json &&
		jq -e "[.requests[] | select(.path | test(\"/Microsoft.Network/\")) | .apiVersion] | unique == [\"2022-07-01\"]" log.json &&
		jq -e "[.requests[] | select(.path | test(\"^/subscriptions\")) | select(.clientRequestId == null)] | length == 0" log.json &&
		jq -e "[.requests[] | select(.status >= 400 and .method != \"HEAD\")] | length == 0" log.json &&
		jq -e "[.requests[] | select(.path | endswith(\"/oauth2/v2.0/token\"))] | length >= 1" log.json
	'
done

test_expect_success 'SDK: the wrong CA is refused (TLS verification stays on)' '
	REQUESTS_CA_BUNDLE=$ARM_DIR/other.pem test_must_fail timeout 120 $PY "$SCRIPT" secret >wrong.out 2>&1 &&
	grep -i "certificate verify failed" wrong.out &&
	test "$(arm_ctl GET inventory | jq ".resourceGroups | length")" = 0
'

test_done
