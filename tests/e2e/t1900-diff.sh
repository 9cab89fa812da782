#!/bin/bash
# cvmctl diff: drift between the backends and the records, changing
# nothing. Exit 0 with none; 2 naming a domain shut off or undefined behind
# our back; 1 when a host cannot be observed, its CVMs reported as
# unknown and never as missing. The state is the same before and after
# every diff (the database's content and `list -o json`).

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

SOCK_b=$(libvirtd_dir b)/run/libvirt-sock

cvms_on() {
	virsh_names "$1" | { grep -v -x test || :; }
}

# snapshot FILE: what the state holds, as data (a checkpoint may rewrite
# the database file's bytes without changing a row).
snapshot() {
	{
		sqlite3 "$XDG_STATE_HOME/cvmctl/state.db" .dump
		cvmctl list -o json
	} >"$1" 2>/dev/null
}

test_expect_success 'two hosts, two CVMs on each, converged' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 40 "$URI_a" "$URI_b" &&
	for n in 1 2 3 4; do
		write_cvm specs/db-$n.yaml db-$n vcpus=2 memoryGiB=16 || return 1
	done &&
	cvmctl reconcile -f specs --once >out &&
	cvms_on "$URI_a" >on-a && cvms_on "$URI_b" >on-b &&
	test "$(wc -l <on-a)" = 2 && test "$(wc -l <on-b)" = 2 &&
	A1=$(sed -n 1p on-a) && A2=$(sed -n 2p on-a) && B1=$(sed -n 1p on-b) && B2=$(sed -n 2p on-b)
'

test_expect_success 'no drift: exit 0, every CVM checked, nothing changed' '
	snapshot before &&
	cvmctl diff >out &&
	echo "4 CVMs checked: 0 drift, 0 unknown" >expect && test_cmp expect out &&
	cvmctl diff -f specs -o json >out.json &&
	test "$(jq -r "[.checked, .drift, .unknown, (.findings | length)] | @tsv" out.json)" = "4	0	0	0" &&
	snapshot after && test_cmp before after
'

test_expect_success 'a domain shut off behind our back is drift (exit 2), the record untouched' '
	id=$(record_field $A1 id) &&
	virsh -q -c "$URI_a" destroy $A1 &&
	snapshot before &&
	test_expect_code 2 cvmctl diff >out &&
	grep "^! stopped  $A1 *$id  found stopped$" out &&
	grep "^4 CVMs checked: 1 drift, 0 unknown$" out &&
	test_expect_code 2 cvmctl diff -o json >out.json &&
	test "$(jq -r ".findings[0] | [.name, .kind] | @tsv" out.json)" = "$A1	stopped" &&
	snapshot after && test_cmp before after &&
	test "$(record_field $A1 status)" = Running
'

test_expect_success 'a domain undefined behind our back is missing (exit 2), named' '
	id2=$(record_field $A2 id) &&
	virsh -q -c "$URI_a" destroy $A2 && virsh -q -c "$URI_a" undefine $A2 &&
	snapshot before &&
	test_expect_code 2 cvmctl diff -f specs >out &&
	grep "^- missing  $A2 *$id2  its resource is gone from its backend$" out &&
	grep "^! stopped  $A1 " out &&
	grep "^4 CVMs checked: 2 drift, 0 unknown$" out &&
	snapshot after && test_cmp before after
'

test_expect_success 'a marker changed behind our back is drift naming the field' '
	idB1=$(record_field $B1 id) &&
	virsh -c "$URI_b" dumpxml $B1 >b1.xml &&
	sed -e "s|<cvm:spec-hash>[^<]*<|<cvm:spec-hash>0000<|" -e "/<domain /s/ id=.[0-9]*.//" b1.xml >b1.edited &&
	grep "<cvm:spec-hash>0000<" b1.edited &&
	virsh -q -c "$URI_b" destroy $B1 && virsh -q -c "$URI_b" define b1.edited &&
	virsh -q -c "$URI_b" start $B1 &&
	test_expect_code 2 cvmctl diff >out &&
	grep "^~ changed  $B1 *$idB1  specHash: recorded [0-9a-f]*, observed 0000$" out &&
	test_expect_code 2 cvmctl diff -f specs >out &&
	grep "^~ changed  $B1 *$idB1  specHash: " out
'

test_expect_success 'a host that cannot be reached: exit 1, its CVMs unknown, never missing' '
	mv "$SOCK_b" "$SOCK_b.away" &&
	test_when_finished "mv \"$SOCK_b.away\" \"$SOCK_b\"" &&
	snapshot before &&
	test_expect_code 1 cvmctl diff >out 2>err &&
	grep "^? unknown  $B1 .* $URI_b: " out && grep "^? unknown  $B2 " out &&
	! grep -e "missing  $B1 " -e "missing  $B2 " out &&
	grep "^- missing  $A2 " out &&
	grep "^4 CVMs checked: 2 drift, 2 unknown$" out &&
	test_expect_code 1 cvmctl diff -f specs -o json >out.json 2>/dev/null &&
	jq -r ".findings[] | select(.kind == \"unknown\") | .name" out.json | sort >unknown &&
	printf "%s\n%s\n" "$B1" "$B2" | sort >expect && test_cmp expect unknown &&
	snapshot after && test_cmp before after
'

test_expect_success 'usage errors are exit 3' '
	test_expect_code 3 cvmctl diff extra 2>err && grep "unexpected argument" err &&
	test_expect_code 3 cvmctl diff --bogus 2>err &&
	test_expect_code 3 cvmctl diff -o yaml 2>err
'

test_expect_success 'the marker put back and a reconcile: diff is clean again' '
	sed "/<domain /s/ id=.[0-9]*.//" b1.xml >b1.orig &&
	virsh -q -c "$URI_b" destroy $B1 && virsh -q -c "$URI_b" define b1.orig &&
	virsh -q -c "$URI_b" start $B1 &&
	cvmctl reconcile -f specs --once >out &&
	{ cvmctl diff >out || { cat out; false; }; } && grep "^4 CVMs checked: 0 drift, 0 unknown$" out
'

test_done
