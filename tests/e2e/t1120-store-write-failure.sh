#!/bin/bash
# Every store write is checked: with the test hook
# CVMCTL_TEST_FAIL_STORE_WRITE=N the Nth write of a command fails as a full
# disk would. For every N, whichever write that is: the command exits 1
# and says so (or 0 when it makes fewer than N writes), no VM exists that
# the state has no intent for (a failed intent write fails its action
# before any remote call), and a rerun without the hook converges with no
# duplicate. The same for `cert renew`. Not tied to the order of writes,
# which is apply's business.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

INJECTED="injected store write failure (test hook)"
MAX_WRITES=60

# The domains of host a other than the test driver's own, as "NAME UUID".
domains() {
	local n
	for n in $(virsh -q -c "$URI_a" list --all --name); do
		[ "$n" = test ] && continue
		echo "$n $(virsh -q -c "$URI_a" domuuid "$n")"
	done
}

clear_host() {
	local n
	for n in $(virsh -q -c "$URI_a" list --all --name); do
		[ "$n" = test ] && continue
		virsh -q -c "$URI_a" destroy "$n" >/dev/null 2>&1
		virsh -q -c "$URI_a" undefine "$n" >/dev/null || return 1
	done
}

# Every domain on the host is a CVM the state in $1 has a record of.
every_domain_recorded() {
	local name uuid
	domains >doms
	while read -r name uuid; do
		cvmctl --state-dir "$1" get "$uuid" -o json >/dev/null 2>&1 ||
			{ echo "domain $name ($uuid) has no record in $1"; return 1; }
	done <doms
}

# Every key file in the state in $1 is one a certificate record names (a
# key is written before the record that names it: a failed write must not
# leave one behind).
keys_recorded() {
	local f serial
	for f in "$1"/keys/*.key; do
		[ -e "$f" ] || continue
		serial=${f%.key}; serial=${serial##*.}
		cvmctl --state-dir "$1" cert list web -o json 2>/dev/null | jq -e --arg s "$serial" "any(.[]; .serial == \$s)" >/dev/null ||
			{ echo "key file $f has no certificate record"; return 1; }
	done
}

# A summary line that says "0 failed" with nothing else wrong beside exit 1
# would be a lie.
summary_honest() {
	if grep -q "^Reconciled scope" "$1"; then
		grep -E "^Reconciled scope .*; 0 failed, 0 unknown, 0 refused\.$" "$1" &&
			{ echo "exit 1 but the summary says nothing failed"; return 1; }
	fi
	return 0
}

# One N: a pass with the Nth write failing, its checks, then the rerun.
# Returns 2 when the pass made fewer than N writes.
pass_with_failing_write() {
	local n=$1 st=$TRASH/state-$1 rc
	clear_host || return 1
	CVMCTL_TEST_FAIL_STORE_WRITE=$n cvmctl --state-dir "$st" reconcile -f specs --once >out 2>err && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		grep -q "$INJECTED" err && { echo "N=$n: exit 0 but a write failed"; return 1; }
		return 2
	fi
	[ "$rc" = 1 ] || { echo "N=$n: exit $rc"; cat err; return 1; }
	grep -q "$INJECTED" err || { echo "N=$n: exit 1 without naming the failed write"; cat err; return 1; }
	summary_honest out || { echo "N=$n"; cat out; return 1; }
	keys_recorded "$st" || { echo "N=$n: after the failed pass"; return 1; }
	every_domain_recorded "$st" || return 1
	cvmctl --state-dir "$st" reconcile -f specs --once >out 2>err ||
		{ echo "N=$n: the rerun failed"; cat err; return 1; }
	keys_recorded "$st" || { echo "N=$n: after the rerun"; return 1; }
	domains >doms
	test "$(wc -l <doms)" = 1 || { echo "N=$n: after the rerun:"; cat doms; return 1; }
	test "$(cvmctl --state-dir "$st" get web -o json | jq -r .status)" = Running ||
		{ echo "N=$n: web is not Running after the rerun"; return 1; }
	test "$(cvmctl --state-dir "$st" cert list web -o json | jq "[.[] | select(.status == \"valid\")] | length")" = 1 ||
		{ echo "N=$n: not exactly one valid certificate"; return 1; }
}

test_expect_success 'a host and one CVM' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	write_cvm specs/web.yaml web
'

test_expect_success 'reconcile: whichever write fails, nothing unrecorded exists and a rerun converges' '
	n=1 &&
	while [ $n -le $MAX_WRITES ]; do
		pass_with_failing_write $n && rc=0 || rc=$?
		[ $rc = 2 ] && break
		[ $rc = 0 ] || return 1
		n=$((n + 1))
	done &&
	echo "a first pass makes $((n - 1)) writes" &&
	test $n -gt 5 && test $n -le $MAX_WRITES
'

test_expect_success 'a failed intent write: no VM at all, the failure named' '
	clear_host &&
	CVMCTL_TEST_FAIL_STORE_WRITE=1 test_expect_code 1 cvmctl --state-dir "$TRASH/first" reconcile -f specs --once \
		>out 2>err &&
	grep "$INJECTED" err &&
	domains >doms && test_must_be_empty doms &&
	cvmctl --state-dir "$TRASH/first" list -o json >list && echo "[]" >expect && test_cmp expect list
'

test_expect_success 'cert renew: whichever write fails, exit 1 and a reconcile converges on one published default' '
	clear_host &&
	base=$TRASH/base && cvmctl --state-dir "$base" reconcile -f specs --once >out &&
	n=1 &&
	while [ $n -le $MAX_WRITES ]; do
		st=$TRASH/renew-$n && rm -rf "$st" && cp -a "$base" "$st" &&
		CVMCTL_TEST_FAIL_STORE_WRITE=$n cvmctl --state-dir "$st" cert renew web >out 2>err && rc=0 || rc=$?
		if [ $rc = 0 ]; then
			! grep -q "$INJECTED" err && break
			echo "N=$n: exit 0 but a write failed"; return 1
		fi
		test $rc = 1 && grep -q "$INJECTED" err || { echo "N=$n: exit $rc"; cat err; return 1; }
		cvmctl --state-dir "$st" reconcile -f specs --once >out 2>err || { cat err; return 1; }
		cvmctl --state-dir "$st" cert list web -o json >certs &&
		valid=$(jq -r "[.[] | select(.status == \"valid\" and .kind == \"default\")] | .[].serial" certs) &&
		test "$(echo "$valid" | wc -w)" = 1 || { echo "N=$n: valid defaults: $valid"; return 1; }
		id=$(cvmctl --state-dir "$st" get web -o json | jq -r .id) &&
		shared=$(openssl x509 -in "$TRASH/shares/$id/certs/cert.pem" -noout -serial | sed "s/^serial=//") &&
		test "$shared" = "$valid" || { echo "N=$n: share has $shared, the store $valid"; return 1; }
		n=$((n + 1))
	done &&
	echo "cert renew makes $((n - 1)) writes" &&
	test $n -gt 3 && test $n -le $MAX_WRITES
'

test_expect_success 'a key file no record names and temp files (a kill mid-pass) are removed by the next pass' '
	st=$TRASH/base &&
	key=$(ls "$st"/keys/*.key | head -1) &&
	cp -p "$key" "$st/keys/0b6a6c9e-4c5e-4a6e-8d8e-0f0e0d0c0b0a.00FF.key" &&
	cp -p "$key" "$st/keys/legacy-dir.key.tmp.AbCdEf" &&
	echo x >"$st/ca/crl.pem.tmp.XyZ123" &&
	cvmctl --state-dir "$st" reconcile -f specs --once >out 2>err &&
	grep "removed 3 files an earlier pass left in $st/keys or $st/ca" err &&
	test_path_is_missing "$st/keys/0b6a6c9e-4c5e-4a6e-8d8e-0f0e0d0c0b0a.00FF.key" &&
	test_path_is_missing "$st/ca/crl.pem.tmp.XyZ123" &&
	test_path_is_file "$key" &&
	keys_recorded "$st" &&
	cvmctl --state-dir "$st" reconcile -f specs --once >out 2>err &&
	test_must_fail grep "removed" err
'

test_done
