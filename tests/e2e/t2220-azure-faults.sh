#!/bin/bash
# Throttling and faults on Azure, against the emulator: 429 with
# Retry-After, Compute's 409 TooManyRequests form, 5xx, an operation that
# ends AllocationFailed and operation URLs that expire; each affects only
# the CVM it was aimed at, and every CVM converges (within the pass, or on
# the next one) to exactly one VM per id with nothing untagged left over.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t22-fixtures/azure.sh"

ALL="a-1 a-2 a-3"

fresh() {
	arm_stop && rm -rf "$TRASH/arm" "$XDG_STATE_HOME/cvmctl" specs && azure_emu_start &&
	write_azure_provider specs/providers.yaml az &&
	for n in $ALL; do write_azure_cvm specs/$n.yaml $n || return 1; done
}

fault() {
	ctl POST faults "$1"
}

hits() {
	arm_ctl GET faults | jq "[.faults[].hits] | add"
}

# one_each: one VM, NIC, public IP and NSG per CVM id, all Running.
one_each() {
	local n id t
	for n in $ALL; do
		id=$(record_field $n id) &&
		test -n "$id" || { echo "$n: no record"; return 1; }
		for t in vm nic pip nsg; do
			test "$(count $t cvmctl-id "$id")" = 1 || { echo "$n: not one $t"; inv | jq -c "[.resources[] | [.type, .name, .provisioningState]]"; return 1; }
		done
		test "$(record_field $n status)" = Running || { echo "$n: $(record_field $n status)"; return 1; }
	done
	test "$(count vm)" = 3 && test "$(count disk)" = 3 && test "$(untagged)" = 0
}

test_expect_success '429 with Retry-After, the 409 throttling form and a 500: retried within the pass' '
	fresh &&
	fault "{\"method\":\"PUT\",\"path\":\"*/virtualMachines/a-1-*\",\"preset\":\"throttle\",\"retryAfter\":1,\"times\":2}" &&
	fault "{\"method\":\"PUT\",\"path\":\"*/virtualMachines/a-2-*\",\"preset\":\"compute-throttle\",\"retryAfter\":1,\"times\":1}" &&
	fault "{\"method\":\"PUT\",\"path\":\"*/networkSecurityGroups/a-3-*\",\"preset\":\"internal\",\"retryAfter\":1,\"times\":1}" &&
	cvmctl reconcile -f specs --once >out 2>err &&
	cat out err &&
	test "$(hits)" = 4 &&
	grep "3 created" out &&
	one_each &&
	arm_ctl GET requests >reqs.json &&
	test "$(jq "[.requests[] | select(.method == \"PUT\" and (.path | test(\"virtualMachines/a-1-\")))] | length" reqs.json)" = 3
'

test_expect_code 1 'an operation that ends AllocationFailed fails that CVM alone' '
	fresh &&
	fault "{\"method\":\"PUT\",\"path\":\"*/virtualMachines/a-2-*\",\"preset\":\"allocation-failed\",\"times\":1}" &&
	cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success '... with AllocationFailed in its error, the others Running' '
	cat out err &&
	grep "2 created" out && grep "1 failed" out &&
	grep "a-2" err | grep AllocationFailed &&
	! grep -e "a-1" -e "a-3" err &&
	test "$(record_field a-1 status)" = Running && test "$(record_field a-3 status)" = Running
'

test_expect_success '... and the next pass converges: the failed VM replaced, one VM per id' '
	cvmctl reconcile -f specs --once >out 2>err &&
	cat out err &&
	one_each &&
	test "$(inv | jq "[.resources[] | select(.provisioningState == \"Failed\")] | length")" = 0
'

test_expect_success 'expired operation URLs: the resources provisioningState is followed instead' '
	fresh &&
	fault "{\"method\":\"PUT\",\"path\":\"*\",\"preset\":\"expire-async\",\"times\":-1}" &&
	cvmctl reconcile -f specs --once >out 2>err &&
	cat out err &&
	grep "3 created" out &&
	one_each
'

test_expect_success 'a 503 on the VM list: the provider is Unknown, nothing is created or deleted' '
	ctl DELETE faults && ctl DELETE requests &&
	fault "{\"method\":\"GET\",\"path\":\"*/providers/Microsoft.Compute/virtualMachines\",\"preset\":\"unavailable\",\"times\":-1}" &&
	{ cvmctl reconcile -f specs --once >out 2>err; rc=$?; } ;
	cat out err &&
	test "$rc" = 1 &&
	grep "3 unknown" out &&
	test -z "$(mutating_calls)" &&
	ctl DELETE faults &&
	cvmctl reconcile -f specs --once >out 2>err &&
	grep "3 up to date" out
'

test_done
