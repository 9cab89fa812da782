#!/bin/bash
# Crashes and lost answers on Azure, against the emulator: a pass killed at
# the engine's crash points, or whose PUT at any step of the create chain
# (NSG, public IP, NIC, VM) was committed but never answered, ends after a
# rerun with exactly the expected set: one VM, NIC, public IP, NSG and OS
# disk per CVM id and nothing untagged; the same when the state directory
# is lost and a new one adopts by --installation-id, also after a kill
# with the chain half made (the old attempt's NSG, public IP and NIC are
# deleted by the next create). A foreign VM that
# holds the name a resumed create wants is left alone and that CVM fails.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t22-fixtures/azure.sh"

ST=$TRASH/state
export STATE_DIR=$ST
cvmctl() {
	"$CVMCTL" --state-dir "$ST" "$@"
}
ALL="c-1 c-2"

fresh() {
	arm_stop && rm -rf "$TRASH/arm" "$ST" specs && azure_emu_start &&
	write_azure_provider specs/providers.yaml az &&
	for n in $ALL; do write_azure_cvm specs/$n.yaml $n || return 1; done
}

rec() {
	cvmctl reconcile -f specs --once "$@"
}

crash_run() {
	local at=$1 rc
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" CVMCTL_CRASH_AT=$at \
		cvmctl reconcile -f specs --once "$@" >crash.out 2>&1 && rc=0 || rc=$?
	cat crash.out
	test "$rc" = 137 || { echo "wanted death by SIGKILL (137) at $at, got exit $rc"; return 1; }
}

record_attempt() {
	local id
	id=$(record_field "$1" id) || return 1
	sqlite3 "$ST/state.db" "select attempt from cvms where id = '$id'"
}

# expected: one of each per-CVM resource per id, the vnet, nothing else.
expected() {
	local n id t
	for n in $ALL; do
		id=$(record_field $n id) &&
		test -n "$id" || { echo "$n: no record"; return 1; }
		for t in vm nic pip nsg; do
			test "$(count $t cvmctl-id "$id")" = 1 || { echo "$n: not one $t"; inv | jq -c "[.resources[] | [.type, .name, .tags[\"cvmctl-id\"]]]"; return 1; }
		done
		test "$(record_field $n status)" = Running || { echo "$n: $(record_field $n status)"; return 1; }
	done
	for t in vm nic pip nsg disk; do
		test "$(count $t)" = 2 || { echo "$t: not 2"; inv | jq -c "[.resources[] | [.type, .name]]"; return 1; }
	done
	test "$(count vnet)" = 1 && test "$(untagged)" = 0
}

for at in after-intent-commit before-status-commit; do
	test_expect_success "killed at $at: a rerun ends with the expected set, the attempts kept" '
		fresh &&
		crash_run '"$at"' --concurrency 1 &&
		for n in $ALL; do record_attempt $n; done >before &&
		rec >rerun.out 2>&1 || { cat rerun.out; false; } &&
		expected &&
		for n in $ALL; do record_attempt $n; done >after && test_cmp before after &&
		for n in $ALL; do
			test "$(vm_of $n ".tags[\"cvmctl-attempt\"]")" = "$(record_attempt $n)" || return 1
		done
	'
done

for step in networkSecurityGroups publicIPAddresses networkInterfaces virtualMachines; do
	test_expect_success "the $step PUT committed, its answer dropped: If-None-Match finds ours, adopted" '
		fresh &&
		ctl POST faults "{\"method\":\"PUT\",\"path\":\"*/'"$step"'/c-1-*\",\"preset\":\"drop\",\"times\":1}" &&
		rec >out 2>&1 || { cat out; false; } &&
		test "$(arm_ctl GET faults | jq "[.faults[].hits] | add")" = 1 &&
		arm_ctl GET requests | jq -r ".requests[] | select(.method == \"PUT\" and (.path | test(\"'"$step"'/c-1-\"))) | .status" >st &&
		cat st && grep -qx 412 st &&
		expected
	'
done

for step in networkInterfaces virtualMachines; do
	test_expect_success "killed while the $step PUT is refused (the chain half made): a rerun ends with the expected set" '
		fresh &&
		ctl POST faults "{\"method\":\"PUT\",\"path\":\"*/'"$step"'/*\",\"preset\":\"unavailable\",\"retryAfter\":30,\"times\":-1}" &&
		{ ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$CVMCTL" --state-dir "$ST" reconcile -f specs --once >kill.out 2>&1 & pid=$!; } &&
		for _ in $(seq 1 150); do
			test "$(arm_ctl GET faults | jq "[.faults[].hits] | add")" -ge 2 && break
			sleep 0.2
		done &&
		kill -9 $pid && { wait $pid 2>/dev/null; true; } &&
		test "$(count nsg)" = 2 && test "$(count vm)" = 0 &&
		ctl DELETE faults &&
		rec >rerun.out 2>&1 || { cat rerun.out; false; } &&
		cat rerun.out &&
		expected
	'
done

test_expect_success 'killed with the chain half made, state lost: --installation-id ends with the expected set, no leftovers' '
	fresh &&
	ctl POST faults "{\"method\":\"PUT\",\"path\":\"*/virtualMachines/*\",\"preset\":\"unavailable\",\"retryAfter\":30,\"times\":-1}" &&
	{ ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$CVMCTL" --state-dir "$ST" reconcile -f specs --once >kill.out 2>&1 & pid=$!; } &&
	for _ in $(seq 1 150); do
		test "$(arm_ctl GET faults | jq "[.faults[].hits] | add")" -ge 2 && break
		sleep 0.2
	done &&
	kill -9 $pid && { wait $pid 2>/dev/null; true; } &&
	test "$(count nic)" = 2 && test "$(count vm)" = 0 &&
	inst=$(inv | jq -r "[.resources[] | select(.type == \"Microsoft.Network/networkInterfaces\") | .tags[\"cvmctl-installation\"]] | unique | .[]") &&
	rm -rf "$ST" && ctl DELETE faults &&
	rec --installation-id "$inst" >rerun.out 2>&1 || { cat rerun.out; false; } &&
	cat rerun.out &&
	expected
'

test_expect_success 'killed before the status commit, state lost: a new state adopts by --installation-id' '
	fresh &&
	crash_run before-status-commit &&
	inst=$(inv | jq -r "[.resources[] | select(.type == \"Microsoft.Compute/virtualMachines\") | .tags[\"cvmctl-installation\"]] | unique | .[]") &&
	test "$(echo "$inst" | wc -l)" = 1 &&
	rm -rf "$ST" &&
	ctl DELETE requests &&
	rec --installation-id "$inst" >rerun.out 2>&1 || { cat rerun.out; false; } &&
	cat rerun.out &&
	grep "2 adopted" rerun.out &&
	# The new state has a new CA: the certificates rotate through
	# userData (a PATCH of each VM); nothing is created or deleted.
	mutating_calls >calls && cat calls &&
	! grep -v "^PATCH .*/virtualMachines/c-[12]-[0-9a-f]*$" calls &&
	expected
'

test_expect_success 'a foreign VM holding the name a resumed create wants: left alone, that CVM Failed' '
	fresh &&
	crash_run after-intent-commit --concurrency 1 &&
	id=$(record_field c-1 id) && attempt=$(record_attempt c-1) &&
	h=$(printf "cvmctl-azure\n%s\n%s" "$id" "$attempt" | sha256sum | cut -c1-8) &&
	vmid=/subscriptions/$ARM_SUB/resourceGroups/$AZ_RG/providers/Microsoft.Compute/virtualMachines/c-1-$h &&
	ctl POST resources "{\"id\":\"$vmid\",\"location\":\"westeurope\",\"tags\":{\"owner\":\"someone-else\"}}" &&
	{ rec >out 2>err; rc=$?; } &&
	cat out err &&
	test "$rc" = 1 &&
	grep "1 failed" out &&
	grep "c-1-$h" err | grep "not CVM c-1" | grep "left alone" &&
	! grep "c-2" err &&
	test "$(record_field c-2 status)" = Running &&
	test "$(inv | jq -r ".resources[] | select(.name == \"c-1-$h\") | .tags.owner")" = someone-else &&
	test "$(inv | jq -r ".resources[] | select(.name == \"c-1-$h\") | .tags | length")" = 1
'

test_done
