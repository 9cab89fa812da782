#!/bin/bash
# Manager hosts: CVMs are spread over the hosts by capacity; a host that
# cannot be reached makes its CVMs Unknown: the pass exits 1 and names the
# host, creates/deletes nothing for them (even when a spec goes in that
# pass) and still reconciles the reachable host. When the host is back,
# its CVMs are reconciled again; a host that lost its domains (the test
# driver forgets everything when its daemon stops) gets them recreated
# under the same ids.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

# The CVMs (not the test driver's own domain) on a host.
cvms_on() {
	virsh_names "$1" | { grep -v -x test || :; }
}

# Names of the records placed on a host, sorted.
records_on() {
	cvmctl list -o json |
	jq -r --arg h "$1" '.[] | select(.placement == $h and .status != "Inactive") | .name' | sort
}

SOCK_b=$(libvirtd_dir b)/run/libvirt-sock

test_expect_success 'two hosts of 40 GiB each, four CVMs of 16 GiB' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 40 "$URI_a" "$URI_b" &&
	for n in 1 2 3 4; do
		write_cvm specs/db-$n.yaml db-$n vcpus=4 memoryGiB=16 || return 1
	done
'

test_expect_success 'they must spread: two on each host, where the records say' '
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 4 created, .* 0 up to date; 0 failed, 0 unknown" &&
	cvms_on "$URI_a" >on-a && cvms_on "$URI_b" >on-b &&
	test "$(wc -l <on-a)" = 2 && test "$(wc -l <on-b)" = 2 &&
	records_on "$URI_a" >rec-a && records_on "$URI_b" >rec-b &&
	test_cmp rec-a on-a && test_cmp rec-b on-b &&
	cat on-a on-b | sort >all && printf "db-1\ndb-2\ndb-3\ndb-4\n" >expect && test_cmp expect all &&
	for n in $(cat on-b); do
		test "$(virsh -c "$URI_b" domuuid $n | sed "/^$/d")" = "$(record_field $n id)" || return 1
	done
'

test_expect_success 'a fifth 16 GiB CVM fits on neither host: it fails, nothing else changes' '
	write_cvm specs/db-5.yaml db-5 vcpus=4 memoryGiB=16 &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "db-5.*no host has room for 4 vCPUs and 16 GiB" err &&
	summary out | grep "^default: 0 created, .* 4 up to date; 1 failed, 0 unknown" &&
	cvms_on "$URI_a" >now-a && test_cmp on-a now-a &&
	cvms_on "$URI_b" >now-b && test_cmp on-b now-b &&
	test "$(record_field db-5 status)" = Failed &&
	rm specs/db-5.yaml &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 0 created, .* 1 deleted, 4 up to date; 0 failed, 0 unknown" &&
	test "$(record_field db-5 status)" = Inactive
'

test_expect_success 'setup: one CVM of each host loses its spec, a small new one comes' '
	A1=$(sed -n 1p on-a) && A2=$(sed -n 2p on-a) &&
	B1=$(sed -n 1p on-b) && B2=$(sed -n 2p on-b) &&
	idB1=$(record_field $B1 id) && idB2=$(record_field $B2 id) &&
	rm specs/$A1.yaml specs/$B1.yaml &&
	write_cvm specs/web-1.yaml web-1 memoryGiB=8
'

# First outage: the daemon of b runs on (its domains are kept) but its
# socket is out of reach.
test_expect_success 'host b unreachable: its CVMs are Unknown, the pass exits 1 and names it' '
	mv "$SOCK_b" "$SOCK_b.away" &&
	test_must_fail virsh -c "$URI_b" list &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	cat out &&
	grep "host $URI_b.*cannot be observed" err &&
	grep "$B1 is Unknown this pass" err && grep "$B2 is Unknown this pass" err &&
	summary out | grep "^default: 1 created, 0 adopted, 0 started, 0 updated, 0 replaced, 1 deleted, 1 up to date; 0 failed, 2 unknown, 0 refused.$" &&
	grep "^deleted   $A1 " out && grep "^created   web-1 " out &&
	! grep " $B1 " out && ! grep " $B2 " out
'

test_expect_success 'the reachable host was reconciled; the Unknown CVMs kept their records' '
	cvms_on "$URI_a" >now-a &&
	printf "%s\nweb-1\n" "$A2" >expect && test_cmp expect now-a &&
	test "$(record_field $A1 status)" = Inactive &&
	test "$(record_field web-1 placement)" = "$URI_a" &&
	test "$(record_field $B1 status)" = Unknown &&
	test "$(record_field $B2 status)" = Unknown &&
	test "$(record_field $B1 id)" = "$idB1" &&
	cvmctl list >list.out 2>/dev/null &&
	grep -E "^$B1 +$idB1 .* Unknown$" list.out
'

test_expect_success 'plan says so too: Unknown wins over changes (exit 1)' '
	test_expect_code 1 cvmctl plan -f specs --detailed-exitcode >plan.out 2>err &&
	grep "^  ? unknown  $B1 .*(host $URI_b could not be observed" plan.out &&
	grep "^  ? unknown  $B2 " plan.out &&
	grep "^Plan: 0 to create, .* 0 to delete; 2 unknown; 2 up to date.$" plan.out &&
	cvmctl plan -f specs -o json >plan.json 2>/dev/null;
	test "$(jq -r ".actions[] | select(.name == \"$B1\") | .action" plan.json)" = unknown
'

test_expect_success 'host b is back: nothing was done there while it was away; now it is' '
	mv "$SOCK_b.away" "$SOCK_b" &&
	cvms_on "$URI_b" >now-b && test_cmp on-b now-b &&
	test "$(virsh -c "$URI_b" domuuid $B1 | sed "/^$/d")" = "$idB1" &&
	cvmctl reconcile -f specs --once >out 2>err &&
	summary out | grep "^default: 0 created, .* 1 deleted, 3 up to date; 0 failed, 0 unknown" &&
	grep "^deleted   $B1 *$idB1 " out &&
	cvms_on "$URI_b" >now-b && echo "$B2" >expect && test_cmp expect now-b &&
	test "$(record_field $B1 status)" = Inactive &&
	test "$(record_field $B2 status)" = Running &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

# Second outage: the daemon of b stops, and with it the test driver's state.
test_expect_success 'host b stops: its CVM is Unknown and is not moved to host a' '
	libvirtd_stop b &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "host $URI_b.*cannot be observed" err &&
	summary out | grep "^default: 0 created, .* 0 deleted, 2 up to date; 0 failed, 1 unknown" &&
	cvms_on "$URI_a" >now-a && printf "%s\nweb-1\n" "$A2" >expect && test_cmp expect now-a &&
	test "$(record_field $B2 status)" = Unknown
'

test_expect_success 'host b restarts empty: its CVM is recreated there under the same id' '
	rm -rf "$(libvirtd_dir b)" &&
	libvirtd_start b &&
	cvms_on "$URI_b" >now-b && test_must_be_empty now-b &&
	cvmctl plan -f specs >plan.out &&
	grep "^  + create   $B2  ${idB2%%-*}.*(its resource disappeared; recreating it under the same id)$" plan.out &&
	cvmctl reconcile -f specs --once >out &&
	grep "^recreated $B2 *$idB2 *$URI_b$" out &&
	summary out | grep "^default: 1 created, .* 0 deleted, 2 up to date; 0 failed, 0 unknown" &&
	cvms_on "$URI_b" >now-b && echo "$B2" >expect && test_cmp expect now-b &&
	test "$(virsh -c "$URI_b" domuuid $B2 | sed "/^$/d")" = "$idB2" &&
	test "$(virsh -c "$URI_b" domstate $B2 | sed "/^$/d")" = running &&
	virsh -c "$URI_b" dumpxml $B2 | grep -F "<cvm:id>$idB2</cvm:id>" &&
	test "$(record_field $B2 id)" = "$idB2" &&
	test "$(record_field $B2 status)" = Running &&
	cvmctl get $B2 -o json | jq -r ".history[].event" >events &&
	grep -x recreated events &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_done
