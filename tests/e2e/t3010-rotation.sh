#!/bin/bash
# Certificate rotation and revocation (issue 3), on a clock the test sets
# (CVMCTL_TEST_NOW), never by sleeping. web-1 has `validity: 2h,
# renewBefore: 1h`: a pass one second before notAfter - renewBefore changes
# nothing, one second after renews and publishes into the host share; the
# old certificate is superseded and stays valid until it expires. Revoking
# the current certificate issues and publishes a replacement in the same
# command; the CRL (checked by openssl, PEM and DER) lists it with its reason
# and a growing CRL number. A CVM whose spec goes has every certificate
# revoked (cessationOfOperation).
#
# Needs the test build (CVMCTL_TEST_NOW), jq and openssl.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

T0=$(( $(date +%s) / 3600 * 3600 ))
R=$((T0 + 7200 - 3600)) # notAfter - renewBefore of web-1's first certificate

# at EPOCH CMD...: run CMD with cvmctl's clock at EPOCH.
at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}

# The serial of the certificate in NAME's host share.
share_serial() {
	cert_serial "$(share_of "$1")/certs/cert.pem"
}

test_expect_success 'two CVMs created at T0; web-1 has validity 2h, renewBefore 1h' '
	libvirtd_start a b &&
	write_provider "$URI_a" "$URI_b" &&
	write_cvm web-1 2h 1h &&
	write_cvm web-2 &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	grep "2 created, .*0 failed" out &&
	id1=$(cvm_id web-1) && id2=$(cvm_id web-2) &&
	s1=$(share_serial web-1) && s2=$(share_serial web-2) &&
	test "$(at $T0 list_json web-1 | jq -r ".[0].serial")" = "$s1" &&
	check_share web-1 dl && cp dl/cert.pem s1.pem &&
	test "$(cert_end s1.pem)" = $((T0 + 7200)) &&
	at $T0 cvmctl ca crl --file crl0.pem &&
	cp "$SHARES/$id1/env/environment" env1.before
'

test_expect_success 'at notAfter - renewBefore - 1 a pass changes nothing' '
	at $((R - 1)) list_json web-1 >l1.before && at $((R - 1)) list_json web-2 >l2.before &&
	cat "$SHARES"/*/certs/* "$SHARES"/*/env/* | sha256sum >shares.before &&
	at $((R - 1)) cvmctl reconcile -f specs --once >out &&
	grep "0 created, .* 2 up to date; 0 failed" out &&
	! grep "^rotated" out &&
	test "$(share_serial web-1)" = "$s1" && test "$(share_serial web-2)" = "$s2" &&
	cat "$SHARES"/*/certs/* "$SHARES"/*/env/* | sha256sum >shares.after &&
	test_cmp shares.before shares.after &&
	at $((R - 1)) list_json web-1 >l1.after && at $((R - 1)) list_json web-2 >l2.after &&
	test_cmp l1.before l1.after && test_cmp l2.before l2.after &&
	! cvmctl get web-1 -o json | jq -r ".history[].event" | grep "^cert-"
'

test_expect_success 'at notAfter - renewBefore + 1 web-1 is renewed and the new certificate published' '
	at $((R + 1)) cvmctl reconcile -f specs --once >out &&
	grep "0 created, .* 2 up to date; 0 failed" out &&
	grep "^rotated   web-1 *$id1  certificate " out &&
	test "$(grep -c "^rotated" out)" = 1 &&
	n1=$(share_serial web-1) &&
	test "$n1" != "$s1" &&
	grep "certificate $n1\$" out &&
	test "$(share_serial web-2)" = "$s2" &&
	cp "$(share_of web-1)/certs/cert.pem" n1.pem &&
	test "$(cert_start n1.pem)" = $((R + 1)) &&
	test "$(cert_end n1.pem)" = $((R + 1 + 7200))
'

test_expect_success 'cert list: the old one superseded, the new one the valid default; web-2 untouched' '
	at $((R + 1)) list_json web-1 >l1 &&
	jq -r ".[] | [.serial, .status, .kind] | @tsv" l1 | sort >rows &&
	printf "%s\tsuperseded\tdefault\n%s\tvalid\tdefault\n" "$s1" "$n1" | sort >expect &&
	test_cmp expect rows &&
	at $((R + 1)) list_json web-2 >l2 && test_cmp l2.before l2
'

test_expect_success 'history: cert-renewed then cert-published, naming the new serial' '
	cvmctl get web-1 -o json | jq -r ".history[] | [.event, .message] | @tsv" >history &&
	grep "^cert-renewed	certificate $n1 issued" history &&
	grep "^cert-published	certificate $n1 published$" history &&
	grep -n . history | grep -m1 "cert-renewed" | cut -d: -f1 >a &&
	grep -n . history | grep -m1 "cert-published" | cut -d: -f1 >b &&
	test "$(cat a)" -lt "$(cat b)"
'

test_expect_success 'the share matches the store after the rotation; the environment is unchanged' '
	check_share web-1 dl && check_share web-2 dl2 &&
	cmp dl/cert.pem n1.pem &&
	test_cmp env1.before "$SHARES/$id1/env/environment" &&
	check_key_perms
'

test_expect_success 'openssl: old and new both verify at the renewal time; the old one until it expires' '
	cvmctl ca download --file ca.pem &&
	openssl verify -attime $((R + 1)) -CAfile ca.pem s1.pem &&
	openssl verify -attime $((R + 1)) -CAfile ca.pem n1.pem &&
	openssl verify -attime $((T0 + 7199)) -CAfile ca.pem s1.pem &&
	test_must_fail openssl verify -attime $((T0 + 7201)) -CAfile ca.pem s1.pem
'

test_expect_success 'a second pass at the same time renews nothing more' '
	at $((R + 2)) cvmctl reconcile -f specs --once >out &&
	! grep "^rotated" out &&
	test "$(at $((R + 2)) list_json web-1 | jq length)" = 2 &&
	test "$(share_serial web-1)" = "$n1"
'

test_expect_success 'cert revoke of the current certificate (keyCompromise) revokes and publishes a replacement' '
	at $((R + 5)) cvmctl ca crl --file crl1.pem &&
	at $((R + 10)) cvmctl -vv cert revoke web-1 --serial "$n1" --reason keyCompromise >out 2>err &&
	grep "^revoked $n1 (keyCompromise)" out &&
	r1=$(share_serial web-1) &&
	test "$r1" != "$n1" && test "$r1" != "$s1" &&
	grep "^issued $r1 as the default certificate of web-1" out &&
	grep "^published it to web-1" out &&
	check_share web-1 dl &&
	cp dl/cert.pem r1.pem &&
	test "$(cert_start r1.pem)" = $((R + 10)) &&
	at $((R + 10)) list_json web-1 >l1 &&
	jq -r ".[] | [.serial, .status, .kind, .reason // \"-\"] | @tsv" l1 | sort >rows &&
	printf "%s\tsuperseded\tdefault\t-\n%s\trevoked\tdefault\tkeyCompromise\n%s\tvalid\tdefault\t-\n" \
		"$s1" "$n1" "$r1" | sort >expect &&
	test_cmp expect rows &&
	test "$(epoch_of "$(jq -r ".[] | select(.serial == \"$n1\") | .revokedAt" l1)")" = $((R + 10)) &&
	cvmctl get web-1 -o json | jq -r ".history[].message" >msgs &&
	grep "certificate $n1 revoked (keyCompromise)" msgs &&
	grep "certificate $r1 published" msgs
'

test_expect_success 'ca crl: the revoked serial with reason Key Compromise, a higher CRL number, nextUpdate' '
	at $((R + 20)) cvmctl ca crl --file crl2.pem &&
	openssl crl -in crl2.pem -noout -text >crl2.txt &&
	grep "Serial Number: $n1" crl2.txt &&
	test "$(crl_reason crl2.pem "$n1")" = "Key Compromise" &&
	! grep "Serial Number: $s1" crl2.txt && ! grep "Serial Number: $r1" crl2.txt &&
	test "$(crl_number crl2.pem)" -gt "$(crl_number crl1.pem)" &&
	test "$(crl_number crl1.pem)" -ge "$(crl_number crl0.pem)" &&
	openssl crl -in crl2.pem -noout -nextupdate | grep "^nextUpdate=" &&
	test "$(epoch_of "$(openssl crl -in crl2.pem -noout -lastupdate | sed "s/^lastUpdate=//")")" = $((R + 10)) &&
	test "$(epoch_of "$(openssl crl -in crl2.pem -noout -nextupdate | sed "s/^nextUpdate=//")")" -gt $((R + 10)) &&
	openssl crl -in crl2.pem -noout -CAfile ca.pem 2>&1 | grep "verify OK" &&
	cmp crl2.pem "$STATE/ca/crl.pem"
'

test_expect_success 'openssl verify -crl_check: error 23 for the revoked one; the replacement and the superseded one pass' '
	test_must_fail openssl verify -attime $((R + 20)) -crl_check -CRLfile crl2.pem -CAfile ca.pem n1.pem >v 2>&1 &&
	grep "error 23 at 0 depth lookup: certificate revoked" v &&
	openssl verify -attime $((R + 20)) -crl_check -CRLfile crl2.pem -CAfile ca.pem r1.pem &&
	openssl verify -attime $((R + 20)) -crl_check -CRLfile crl2.pem -CAfile ca.pem s1.pem &&
	# without the CRL the revoked one would pass: the CRL is what rejects it
	openssl verify -attime $((R + 20)) -CAfile ca.pem n1.pem
'

test_expect_success 'ca crl --der: the same CRL, DER-encoded, to a file and to stdout' '
	at $((R + 20)) cvmctl ca crl --der --file crl2.der &&
	openssl crl -inform DER -in crl2.der -noout -text >der.txt &&
	test_cmp crl2.txt der.txt &&
	openssl crl -in crl2.pem -outform DER | cmp - crl2.der &&
	at $((R + 20)) cvmctl ca crl --der >crl2.stdout.der &&
	cmp crl2.der crl2.stdout.der
'

test_expect_success 'cert renew of a revoked certificate is refused (exit 3), nothing issued' '
	at $((R + 30)) list_json web-1 >before &&
	test_expect_code 3 at $((R + 30)) cvmctl cert renew web-1 --serial "$n1" 2>err &&
	grep "revoked" err &&
	at $((R + 30)) list_json web-1 >after && test_cmp before after &&
	test "$(share_serial web-1)" = "$r1"
'

test_expect_success 'cert revoke of an already revoked certificate changes nothing' '
	at $((R + 30)) cvmctl cert revoke web-1 --serial "$n1" --reason superseded >out &&
	grep "already revoked" out &&
	at $((R + 30)) list_json web-1 >after && test_cmp before after &&
	test "$(share_serial web-1)" = "$r1"
'

test_expect_success 'cert issue adds an extra certificate; the share keeps the default one' '
	at $((R + 40)) cvmctl cert issue web-1 >out &&
	x1=$(sed -n "s/^issued \([0-9A-F]*\) for web-1.*/\1/p" out) && test -n "$x1" &&
	at $((R + 40)) list_json web-1 >l1 &&
	test "$(jq length l1)" = 4 &&
	test "$(jq -r ".[] | select(.serial == \"$x1\") | .kind + \" \" + .status" l1)" = "extra valid" &&
	test "$(jq -r "[.[] | select(.status == \"valid\" and .kind == \"default\")] | length" l1)" = 1 &&
	test "$(share_serial web-1)" = "$r1" &&
	cvmctl cert download web-1 --serial "$x1" --dir dx >/dev/null &&
	test "$(cert_serial dx/cert.pem)" = "$x1" &&
	openssl verify -attime $((R + 41)) -crl_check -CRLfile crl2.pem -CAfile ca.pem dx/cert.pem &&
	openssl x509 -in dx/cert.pem -noout -ext subjectAltName | grep -F "DNS:web-1, URI:urn:uuid:$id1" &&
	test "$(mode_of dx/key.pem)" = 600 &&
	# the extra key is its own
	! cmp dx/key.pem dl/key.pem &&
	# cert download without --serial is still the default one
	cvmctl cert download web-1 --dir dd >/dev/null && test "$(cert_serial dd/cert.pem)" = "$r1"
'

test_expect_success 'cert renew of the current default issues and publishes a new default' '
	at $((R + 50)) cvmctl cert renew web-1 >out &&
	w1=$(share_serial web-1) && test "$w1" != "$r1" &&
	grep "^issued $w1 as the default certificate of web-1" out &&
	test "$(at $((R + 50)) cert_field web-1 "$r1" status)" = superseded &&
	test "$(at $((R + 50)) cert_field web-1 "$w1" status)" = valid &&
	check_share web-1 dl && cp dl/cert.pem w1.pem
'

test_expect_success 'revoking a certificate that is not the current default issues nothing' '
	at $((R + 60)) cvmctl cert revoke web-1 --serial "$x1" --reason affiliationChanged >out &&
	! grep "^issued" out &&
	test "$(share_serial web-1)" = "$w1" &&
	at $((R + 60)) cvmctl ca crl --file crl3.pem &&
	test "$(crl_reason crl3.pem "$x1")" = "Affiliation Changed" &&
	test "$(crl_reason crl3.pem "$n1")" = "Key Compromise" &&
	test "$(crl_number crl3.pem)" -gt "$(crl_number crl2.pem)"
'

test_expect_success 'superseded certificates stay valid until they expire, then list as expired' '
	test "$(at $((T0 + 7199)) cert_field web-1 "$s1" status)" = superseded &&
	test "$(at $((T0 + 7200)) cert_field web-1 "$s1" status)" = expired &&
	openssl verify -attime $((T0 + 7199)) -crl_check -CRLfile crl3.pem -CAfile ca.pem s1.pem &&
	test_must_fail openssl verify -attime $((T0 + 7201)) -CAfile ca.pem s1.pem >v 2>&1 &&
	grep "error 10 at 0 depth lookup: certificate has expired" v
'

test_expect_success 'bad revocation input: unknown reason and removeFromCRL exit 3; an unknown serial fails' '
	at $((R + 70)) list_json web-1 >before &&
	test_expect_code 3 cvmctl cert revoke web-1 --serial "$w1" --reason stolen 2>err &&
	test_expect_code 3 cvmctl cert revoke web-1 --serial "$w1" --reason removeFromCRL 2>err &&
	test_expect_code 3 cvmctl cert revoke web-1 2>err &&
	test_must_fail cvmctl cert revoke web-1 --serial 0123ABCD 2>err &&
	# a serial of another CVM is not this one'\''s
	test_must_fail cvmctl cert revoke web-1 --serial "$s2" 2>err &&
	at $((R + 70)) list_json web-1 >after && test_cmp before after &&
	test "$(at $((R + 70)) cert_field web-2 "$s2" status)" = valid
'

test_expect_success 'a CVM whose spec is removed: Inactive, all its certificates revoked (cessationOfOperation)' '
	rm specs/web-1.yaml &&
	at $((R + 100)) cvmctl reconcile -f specs --once >out &&
	grep "^deleted   web-1 *$id1" out &&
	test "$(cvmctl get "$id1" -o json | jq -r .status)" = Inactive &&
	at $((R + 100)) list_json "$id1" >l1 &&
	jq -r ".[] | [.serial, .status, .reason] | @tsv" l1 | sort >rows &&
	printf "%s\trevoked\t%s\n" "$s1" cessationOfOperation "$n1" keyCompromise "$r1" cessationOfOperation \
		"$x1" affiliationChanged "$w1" cessationOfOperation | sort >expect &&
	test_cmp expect rows &&
	# web-2 keeps its certificate
	test "$(at $((R + 100)) cert_field web-2 "$s2" status)" = valid
'

test_expect_success 'the CRL says so, and openssl rejects them; the share of web-1 is gone' '
	at $((R + 110)) cvmctl ca crl --file crl4.pem &&
	test "$(crl_number crl4.pem)" -gt "$(crl_number crl3.pem)" &&
	for s in "$s1" "$r1" "$w1"; do
		test "$(crl_reason crl4.pem "$s")" = "Cessation Of Operation" || { echo "$s"; return 1; }
	done &&
	test "$(crl_reason crl4.pem "$n1")" = "Key Compromise" &&
	test "$(crl_reason crl4.pem "$x1")" = "Affiliation Changed" &&
	! openssl crl -in crl4.pem -noout -text | grep "Serial Number: $s2" &&
	for f in s1.pem r1.pem w1.pem; do
		test_must_fail openssl verify -attime $((R + 110)) -crl_check -CRLfile crl4.pem -CAfile ca.pem $f >v 2>&1 &&
		grep "error 23" v || return 1
	done &&
	cvmctl cert download web-2 --dir d2 >/dev/null &&
	openssl verify -attime $((R + 110)) -crl_check -CRLfile crl4.pem -CAfile ca.pem d2/cert.pem &&
	test_path_is_missing "$SHARES/$id1"
'

test_expect_success 'an Inactive CVM gets no new certificate (renew and issue exit 3)' '
	at $((R + 120)) list_json "$id1" >before &&
	test_expect_code 3 at $((R + 120)) cvmctl cert issue "$id1" 2>err &&
	test_expect_code 3 at $((R + 120)) cvmctl cert renew "$id1" --serial "$w1" 2>err &&
	at $((R + 120)) list_json "$id1" >after && test_cmp before after
'

test_expect_success 'the CRL is re-signed before it goes stale: by a pass, and by ca crl, after half its life' '
	late=$((R + 4 * 86400)) && later=$((late + 4 * 86400)) &&
	test_must_fail openssl verify -attime $later -crl_check -CRLfile crl4.pem -CAfile ca.pem d2/cert.pem >v 2>&1 &&
	grep "error 12 at 0 depth lookup: CRL has expired" v &&
	at $late cvmctl reconcile -f specs --once >out &&
	grep "1 up to date; 0 failed" out &&
	cp "$STATE/ca/crl.pem" crl5.pem &&
	test "$(epoch_of "$(openssl crl -in crl5.pem -noout -lastupdate | sed "s/^lastUpdate=//")")" = $late &&
	test "$(crl_number crl5.pem)" -gt "$(crl_number crl4.pem)" &&
	openssl crl -in crl5.pem -noout -CAfile ca.pem 2>&1 | grep "verify OK" &&
	# expired certificates have left it (RFC 5280 3.3); the others stay
	! openssl crl -in crl5.pem -noout -text | grep "Serial Number" &&
	openssl verify -attime $later -crl_check -CRLfile crl5.pem -CAfile ca.pem d2/cert.pem &&
	at $later cvmctl ca crl --file crl6.pem &&
	test "$(epoch_of "$(openssl crl -in crl6.pem -noout -lastupdate | sed "s/^lastUpdate=//")")" = $later &&
	test "$(crl_number crl6.pem)" -gt "$(crl_number crl5.pem)" &&
	# within half its life, ca crl hands out the same CRL
	at $((later + 60)) cvmctl ca crl --file crl7.pem && cmp crl6.pem crl7.pem
'

test_expect_success 'no two certificates share a serial' '
	{ at $((R + 120)) list_json "$id1" && at $((R + 120)) list_json "$id2"; } | jq -r ".[].serial" >serials &&
	test "$(wc -l <serials)" = 6 &&
	sort serials | uniq -d >dups && test_must_be_empty dups
'

test_expect_success 'permissions, and no private key in any output' '
	check_key_perms &&
	grep -q "^\$ cvmctl -vv cert revoke" "$CVMLOG" &&
	check_no_secrets &&
	check_no_secrets "$STATE/state.db"
'

test_done
