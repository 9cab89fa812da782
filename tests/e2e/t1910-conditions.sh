#!/bin/bash
# Conditions per CVM (Ready, Synced, CertificateReady) recorded by each
# pass and shown by get, list -o json and status: all True once converged;
# Ready=Unknown (and Synced=Unknown) for the CVMs of a host that cannot be
# reached, with its last transition moved and the others' kept; a domain
# that vanished and cannot be made again is Missing, not Failed (also in
# list --refresh). status shows the last pass and the CVMs by status.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

SOCK_b=$(libvirtd_dir b)/run/libvirt-sock

# cond NAME TYPE [FIELD]: a condition's status (or FIELD) from get -o json.
cond() {
	cvmctl get "$1" -o json | jq -r --arg t "$2" --arg f "${3:-status}" '.conditions[] | select(.type == $t) | .[$f]'
}

test_expect_success 'two hosts, one CVM on each, converged: every condition True' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 40 "$URI_a" "$URI_b" &&
	write_cvm specs/db-1.yaml db-1 vcpus=2 memoryGiB=16 &&
	write_cvm specs/db-2.yaml db-2 vcpus=2 memoryGiB=16 &&
	cvmctl reconcile -f specs --once >out &&
	A=$(record_field db-1 placement) && test "$A" != "$(record_field db-2 placement)" &&
	if test "$A" = "$URI_a"; then ON_A=db-1 ON_B=db-2; else ON_A=db-2 ON_B=db-1; fi &&
	for n in db-1 db-2; do
		test "$(cond $n Ready)" = True && test "$(cond $n Ready reason)" = Running &&
		test "$(cond $n Synced)" = True &&
		test "$(cond $n CertificateReady)" = True &&
		test "$(cond $n Synced specHash)" = "$(record_field $n specHash)" || return 1
	done &&
	cvmctl list -o json | jq -r ".[] | .conditions | map(.status) | join(\",\")" >conds &&
	printf "True,True,True\nTrue,True,True\n" >expect && test_cmp expect conds
'

test_expect_success 'status: the last pass, the CVMs by status, the conditions' '
	cvmctl status >out &&
	grep "^Last pass: .*, scope default, ok (exit 0)$" out &&
	grep "^Summary: 2 created, .* 0 failed, 0 unknown, 0 refused$" out &&
	grep "^CVMs: Running 2$" out &&
	grep -E "^db-1 +[0-9a-f-]{36} Running +True +True +True$" out &&
	cvmctl status -o json >status.json &&
	test "$(jq -r ".lastPass.result, .lastPass.summary.created, .cvmsByStatus.Running" status.json | paste -sd " ")" = "ok 2 2" &&
	jq -e ".lastPass.contentHash | startswith(\"sha256:\")" status.json
'

test_expect_success 'a host that cannot be reached: Ready=Unknown for its CVM only' '
	t0=$(cond $ON_A Ready lastTransitionTime) && tb=$(cond $ON_B Ready lastTransitionTime) &&
	mv "$SOCK_b" "$SOCK_b.away" &&
	test_when_finished "mv \"$SOCK_b.away\" \"$SOCK_b\"" &&
	sleep 1 &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	test "$(cond $ON_B Ready)" = Unknown &&
	test "$(cond $ON_B Ready reason)" = Unobservable &&
	cond $ON_B Ready message | grep "could not be observed" &&
	test "$(cond $ON_B Synced)" = Unknown &&
	test "$(cond $ON_B Ready lastTransitionTime)" != "$tb" &&
	test "$(cond $ON_A Ready)" = True &&
	test "$(cond $ON_A Ready lastTransitionTime)" = "$t0" &&
	cvmctl status >out &&
	grep "^Last pass: .* failed (exit 1)$" out &&
	grep -E "^$ON_B +[0-9a-f-]{36} Unknown +Unknown +Unknown " out
'

test_expect_success 'back again: Ready=True' '
	cvmctl reconcile -f specs --once >out &&
	test "$(cond $ON_B Ready)" = True
'

test_expect_success 'a domain gone behind our back shows as Missing in list --refresh' '
	virsh -q -c "$URI_a" destroy $ON_A && virsh -q -c "$URI_a" undefine $ON_A &&
	cvmctl list --refresh -o json >list.json &&
	test "$(jq -r --arg n $ON_A ".[] | select(.name == \$n) | .status" list.json)" = Missing &&
	test "$(record_field $ON_A status)" = Running
'

test_expect_success 'one that cannot be made again is Missing, not Failed, with Ready=False Missing' '
	cat >foreign.xml <<-EOF &&
	<domain type="test">
	  <name>$ON_A</name>
	  <memory unit="MiB">256</memory>
	  <vcpu>1</vcpu>
	  <os><type arch="x86_64">hvm</type></os>
	</domain>
	EOF
	virsh -q -c "$URI_a" define foreign.xml &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	test "$(record_field $ON_A status)" = Missing &&
	test "$(cond $ON_A Ready)" = False &&
	test "$(cond $ON_A Ready reason)" = Missing &&
	test "$(cond $ON_A Synced)" = False &&
	test "$(cond $ON_A Synced reason)" = Failed &&
	cvmctl status >out && grep "^CVMs: Missing 1, Running 1$" out
'

test_expect_success 'the foreign domain gone, the next pass makes it again: Ready=True' '
	virsh -q -c "$URI_a" undefine $ON_A &&
	cvmctl reconcile -f specs --once >out &&
	test "$(record_field $ON_A status)" = Running &&
	test "$(cond $ON_A Ready)" = True
'

test_done
