#!/bin/bash
# Crash safety for certificates (issue 3). The test build of cvmctl SIGKILLs
# itself at named crash points (CVMCTL_CRASH_AT=name[:n]); the clock is
# CVMCTL_TEST_NOW. A pass killed right after its intents are committed
# leaves each new CVM with a valid default certificate on record, which the
# rerun delivers (no second one issued). A pass killed after a renewal is
# committed leaves the new certificate recorded but not published; the next
# pass publishes it and issues nothing more. A pass killed after the
# revocations of a deleted CVM are committed but before the CRL is re-signed
# leaves them for the next pass to put on the CRL. Throughout, no two
# certificates share a serial and the CA key never changes.
#
# Needs the test build (crash points, CVMCTL_TEST_NOW), jq and openssl.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

T0=$(( $(date +%s) / 3600 * 3600 ))
KILLED=137 # 128 + SIGKILL

at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}

rec() {
	cvmctl reconcile -f specs --once "$@"
}

# crash POINT EPOCH ARGS...: cvmctl ARGS at EPOCH, killed at crash point POINT.
crash() {
	local p=$1 t=$2
	shift 2
	CVMCTL_CRASH_AT=$p CVMCTL_TEST_NOW=$t cvmctl "$@"
}

share_serial() {
	cert_serial "$SHARES/$1/certs/cert.pem"
}

# current ID: the serial of the valid default certificate on record.
current() {
	cvmctl cert list "$1" -o json | jq -r '.[] | select(.status == "valid" and .kind == "default") | .serial'
}

record_status() {
	cvmctl list -o json | jq -r --arg n "$1" '.[] | select(.name == $n) | .status'
}

ncerts() {
	cvmctl cert list "$1" -o json | jq length
}

ca_unchanged() {
	sha256sum "$STATE/ca/ca.key" "$STATE/ca/ca.pem" >ca.now &&
	test_cmp ca.sum ca.now
}

# Every serial on record, over every CVM (active or not), is unique.
# Certificates are never dropped from the state, so a duplicate made at any
# point would still show at the end.
serials_unique() {
	local id
	cvmctl list -o json | jq -r '.[].id' >all-ids &&
	for id in $(cat all-ids); do
		cvmctl cert list "$id" -o json | jq -r '.[].serial' || return 1
	done >all-serials &&
	test -s all-serials &&
	sort all-serials | uniq -d >dups &&
	test_must_be_empty dups
}

test_expect_success 'setup: two hosts, two CVMs with validity 2h, renewBefore 1h' '
	libvirtd_start a b &&
	write_provider "$URI_a" "$URI_b" &&
	write_cvm web-1 2h 1h &&
	write_cvm web-2 2h 1h
'

test_expect_success 'killed after the intent commit: each new CVM has a valid default certificate on record' '
	test_expect_code $KILLED crash after-intent-commit $T0 reconcile -f specs --once >out 2>err &&
	grep "crash point after-intent-commit" err &&
	cvmctl list -o json | jq -r ".[] | [.name, .status] | @tsv" | sort >records &&
	printf "web-1\tCreating\nweb-2\tCreating\n" >expect && test_cmp expect records &&
	id1=$(cvm_id web-1) && id2=$(cvm_id web-2) &&
	for id in $id1 $id2; do
		at $T0 list_json $id >l.$id &&
		test "$(jq -r "[.[] | .status + \" \" + .kind] | join(\",\")" l.$id)" = "valid default" &&
		test_path_is_missing "$SHARES/$id" || return 1
	done &&
	c1=$(current $id1) && c2=$(current $id2) &&
	cvmctl cert download $id1 --dir k1 >/dev/null &&
	openssl verify -attime $((T0 + 1)) -CAfile k1/ca.pem k1/cert.pem &&
	sha256sum "$STATE/ca/ca.key" "$STATE/ca/ca.pem" >ca.sum
'

test_expect_success 'the rerun creates them and delivers those very certificates' '
	at $((T0 + 10)) rec >out &&
	grep "2 created, .*0 failed" out &&
	test "$(share_serial $id1)" = "$c1" && test "$(share_serial $id2)" = "$c2" &&
	test "$(ncerts $id1)" = 1 && test "$(ncerts $id2)" = 1 &&
	check_share web-1 d1 && check_share web-2 d2 &&
	cmp k1/key.pem d1/key.pem &&
	ca_unchanged
'

R=$((T0 + 3600)) # both first certificates are due from here

test_expect_success 'killed after a renewal commit: the new certificate is recorded, not published' '
	test_expect_code $KILLED env CVMCTL_CRASH_AT=after-renew-commit CVMCTL_TEST_NOW=$((R + 1)) \
		"$CVMCTL" reconcile -f specs --once >out 2>err &&
	grep "crash point after-renew-commit" err &&
	# one CVM was renewed before the kill, the other not yet
	if [ "$(current $id1)" != "$c1" ]; then A=$id1 cA=$c1 B=$id2 cB=$c2; else A=$id2 cA=$c2 B=$id1 cB=$c1; fi &&
	nA=$(current $A) && test "$nA" != "$cA" &&
	test "$(ncerts $A)" = 2 &&
	test "$(at $((R + 1)) cert_field $A "$cA" status)" = superseded &&
	test "$(share_serial $A)" = "$cA" &&
	test "$(current $B)" = "$cB" && test "$(ncerts $B)" = 1 &&
	cvmctl get $A -o json | jq -r ".history[].event" >events &&
	grep "^cert-renewed$" events && ! grep "^cert-published$" events &&
	ca_unchanged
'

test_expect_success 'the next pass publishes it (no new one for that CVM) and renews the other' '
	at $((R + 2)) rec >out &&
	grep "^rotated .*$A  certificate $nA\$" out &&
	grep "^rotated .*$B  certificate " out &&
	test "$(share_serial $A)" = "$nA" &&
	test "$(ncerts $A)" = 2 &&
	nB=$(current $B) && test "$nB" != "$cB" &&
	test "$(share_serial $B)" = "$nB" && test "$(ncerts $B)" = 2 &&
	check_share web-1 d1 && check_share web-2 d2 &&
	cvmctl get $A -o json | jq -r ".history[] | [.event, .message] | @tsv" >history &&
	grep "^cert-published	certificate $nA published$" history &&
	ca_unchanged && serials_unique
'

test_expect_success 'and a pass after that does nothing' '
	at $((R + 3)) rec >out &&
	! grep "^rotated" out &&
	test "$(ncerts $A)" = 2 && test "$(ncerts $B)" = 2
'

R2=$((R + 2 + 3600 + 1)) # both second certificates are due

# Publications are asynchronous operations of the scheduler: the first
# CVM's may or may not have landed when the second renewal is killed.
test_expect_success 'killed at the second renewal of a pass: both renewals recorded, at most the first published' '
	test_expect_code $KILLED crash after-renew-commit:2 $R2 reconcile -f specs --once >out 2>err &&
	grep "crash point after-renew-commit" err &&
	published=0 &&
	for id in $id1 $id2; do
		if [ "$(share_serial $id)" = "$(current $id)" ]; then published=$((published + 1)); fi
	done &&
	test $published -le 1 &&
	test "$(ncerts $id1)" = 3 && test "$(ncerts $id2)" = 3 &&
	ca_unchanged
'

test_expect_success 'the next pass publishes what was only recorded and issues nothing more' '
	at $((R2 + 1)) rec >out &&
	# A publication that reached the share but was killed before it was
	# recorded is published once more (the same certificate): harmless.
	n=$(grep -c "^rotated" out) && test $n -ge $((2 - published)) && test $n -le 2 &&
	test "$(share_serial $id1)" = "$(current $id1)" &&
	test "$(share_serial $id2)" = "$(current $id2)" &&
	test "$(ncerts $id1)" = 3 && test "$(ncerts $id2)" = 3 &&
	check_share web-1 d1 && check_share web-2 d2 &&
	openssl verify -attime $((R2 + 1)) -CAfile d1/ca.pem d1/cert.pem d2/cert.pem &&
	ca_unchanged
'

T3=$((R2 + 100))

test_expect_success 'killed before the status commit of a create: the delivered certificate is the recorded one' '
	write_cvm web-3 2h 1h &&
	test_expect_code $KILLED crash before-status-commit $T3 reconcile -f specs --once >out 2>err &&
	id3=$(cvm_id web-3) && test -n "$id3" &&
	test "$(ncerts $id3)" = 1 &&
	c3=$(current $id3) &&
	test "$(share_serial $id3)" = "$c3" &&
	at $((T3 + 1)) rec >out &&
	grep "0 created, .* 3 up to date; 0 failed" out &&
	test "$(record_status web-3)" = Running &&
	test "$(ncerts $id3)" = 1 &&
	test "$(share_serial $id3)" = "$c3" &&
	check_share web-3 d3 &&
	ca_unchanged && serials_unique
'

T4=$((R2 + 3601)) # web-1 and web-2 are due again

test_expect_success 'killed after the revocations of a deleted CVM are committed, before the CRL is re-signed' '
	at $T4 cvmctl ca crl --file crl-before.pem &&
	rm specs/web-3.yaml &&
	# web-1 and web-2 are due again, so the pass reaches the renewal
	# crash point after its outcome commit and before the CRL
	test_expect_code $KILLED crash after-renew-commit $T4 reconcile -f specs --once >out 2>err &&
	test "$(cvmctl get $id3 -o json | jq -r .status)" = Inactive &&
	test "$(at $T4 cert_field $id3 "$c3" status)" = revoked &&
	test "$(at $T4 cert_field $id3 "$c3" reason)" = cessationOfOperation &&
	at $((T4 + 1)) rec >out &&
	at $((T4 + 2)) cvmctl ca crl --file crl-after.pem &&
	openssl crl -in crl-after.pem -noout -text >crl.txt &&
	grep "Serial Number: $c3" crl.txt &&
	test "$(crl_number crl-after.pem)" -gt "$(crl_number crl-before.pem)" &&
	test "$(crl_reason crl-after.pem "$c3")" = "Cessation Of Operation" &&
	test_must_fail openssl verify -attime $((T4 + 2)) -crl_check -CRLfile crl-after.pem -CAfile d3/ca.pem d3/cert.pem >v 2>&1 &&
	grep "error 23" v &&
	test "$(share_serial $id1)" = "$(current $id1)" &&
	test "$(share_serial $id2)" = "$(current $id2)" &&
	ca_unchanged && serials_unique
'

test_expect_success 'certificates issued by an imported (openssl-made) CA verify against it' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout imported.key \
		-out imported.pem -days 365 -subj "/CN=imported" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
	mkdir -p specs-imp && cp specs/providers.yaml specs-imp/ &&
	sed "s/web-1/imp-1/" specs/web-1.yaml >specs-imp/imp-1.yaml &&
	cvmctl --state-dir imp ca import --cert imported.pem --key imported.key &&
	cvmctl --state-dir imp reconcile -f specs-imp --once >out &&
	grep "^created   imp-1 " out &&
	cvmctl --state-dir imp cert download imp-1 --dir di >/dev/null &&
	cmp imported.pem di/ca.pem &&
	openssl verify -CAfile imported.pem di/cert.pem &&
	test_must_fail openssl verify -CAfile d1/ca.pem di/cert.pem &&
	idi=$(cvmctl --state-dir imp list -o json | jq -r ".[0].id") &&
	cmp di/cert.pem "$SHARES/$idi/certs/cert.pem" &&
	cmp imported.pem "$SHARES/$idi/certs/ca.pem"
'

test_expect_success 'no private key in any output' '
	check_key_perms &&
	check_no_secrets "$CVMLOG" imported.key "$PWD"/imp/keys/*.key
'

test_done
