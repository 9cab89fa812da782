#!/bin/bash
# cvmctl ca init|download|crl|import (issue 3), checked with openssl: the key
# type asked for, a second init refused with exit 3 and nothing changed, an
# openssl-made CA imported (and its CRL signed by it), a key that does not
# belong to the certificate (or a certificate that is no CA) refused with
# nothing written, and `ca download` giving the state's ca.pem. No hosts.
#
# Needs the test build (CVMCTL_TEST_NOW) and openssl.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

T0=$(( $(date +%s) / 3600 * 3600 ))
export CVMCTL_TEST_NOW=$T0

# cv DIR ARGS...: cvmctl on the state in DIR.
cv() {
	local d=$1
	shift
	cvmctl --state-dir "$d" "$@"
}

# digest DIR: what the CA files of a state hold (or "none").
digest() {
	if [ -e "$1/ca" ]; then
		(cd "$1/ca" && ls -A && cat ca.pem ca.key 2>/dev/null) | sha256sum
	else
		echo none
	fi
}

# make_ca NAME [EXTRA openssl req args...]: an openssl-made EC P-256 CA.
make_ca() {
	local n=$1
	shift
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" \
		-out "$n.pem" -days 365 -subj "/CN=$n" "$@" 2>/dev/null
}

test_expect_success 'ca init --key-type rsa-2048 on a fresh state makes an RSA CA' '
	cv rsa ca init --key-type rsa-2048 >out &&
	grep "^created CA \"cvmctl CA [0-9a-f]\{8\}\" (rsa-2048, serial [0-9A-F]*) in " out &&
	openssl x509 -in rsa/ca/ca.pem -noout -text >ca.txt &&
	grep "Public Key Algorithm: rsaEncryption" ca.txt &&
	grep "Public-Key: (2048 bit)" ca.txt &&
	grep -A1 "X509v3 Basic Constraints: critical" ca.txt | grep "CA:TRUE, pathlen:0" &&
	grep -A1 "X509v3 Key Usage: critical" ca.txt | grep "Certificate Sign, CRL Sign" &&
	openssl pkey -in rsa/ca/ca.key -noout -text | head -n 1 | grep "Private-Key: (2048 bit" &&
	openssl pkey -in rsa/ca/ca.key -pubout >key.pub &&
	openssl x509 -in rsa/ca/ca.pem -noout -pubkey >cert.pub && test_cmp cert.pub key.pub &&
	openssl verify -attime $((T0 + 60)) -CAfile rsa/ca/ca.pem rsa/ca/ca.pem &&
	test "$(openssl x509 -in rsa/ca/ca.pem -noout -subject | sed "s/.*CN *= *//")" = \
		"$(sed -n "s/^created CA \"\([^\"]*\)\".*/\1/p" out)" &&
	test "$(mode_of rsa/ca)" = 700 && test "$(mode_of rsa/ca/ca.key)" = 600
'

test_expect_success 'the CA is backdated an hour and valid for about ten years, from the clock cvmctl was given' '
	test "$(cert_start rsa/ca/ca.pem)" = $((T0 - 3600)) &&
	test $(( $(cert_end rsa/ca/ca.pem) - $(cert_start rsa/ca/ca.pem) )) = $((10 * 365 * 86400 + 2 * 86400))
'

test_expect_success 'ca init signs an empty CRL with it' '
	cv rsa ca crl --file crl.pem &&
	openssl crl -in crl.pem -noout -CAfile rsa/ca/ca.pem 2>&1 | grep "verify OK" &&
	! openssl crl -in crl.pem -noout -text | grep "Serial Number" &&
	openssl crl -in crl.pem -noout -crlnumber | grep "^crlNumber=" &&
	openssl crl -in crl.pem -noout -nextupdate | grep "^nextUpdate="
'

test_expect_success 'ca init twice: exit 3 and why, nothing changed' '
	digest rsa >before &&
	test_expect_code 3 cv rsa ca init --key-type ecdsa-p256 2>err &&
	test -s err && cat err &&
	test_expect_code 3 cv rsa ca init --key-type rsa-2048 2>err &&
	digest rsa >after && test_cmp before after
'

test_expect_success 'ca init with a bad key type: exit 3, no CA' '
	test_expect_code 3 cv bad ca init --key-type rsa-1024 2>err &&
	grep "rsa-1024" err &&
	test "$(digest bad)" = none
'

test_expect_success 'ca init without --key-type: ECDSA P-256' '
	cv ec ca init >out &&
	grep "(ecdsa-p256, serial" out &&
	openssl x509 -in ec/ca/ca.pem -noout -text >ca.txt &&
	grep "Public Key Algorithm: id-ecPublicKey" ca.txt &&
	grep "ASN1 OID: prime256v1" ca.txt &&
	test "$(openssl x509 -in ec/ca/ca.pem -noout -serial | sed s/serial=//)" = \
		"$(sed -n "s/.*, serial \([0-9A-F]*\)).*/\1/p" out)"
'

test_expect_success 'ca init --key-type rsa-3072' '
	cv rsa3 ca init --key-type rsa-3072 &&
	openssl x509 -in rsa3/ca/ca.pem -noout -text | grep "Public-Key: (3072 bit)"
'

test_expect_success 'ca download --file equals the state ca.pem; so does stdout' '
	cv rsa ca download --file rsa-ca.pem &&
	cmp rsa-ca.pem rsa/ca/ca.pem &&
	cv rsa ca download >rsa-ca.stdout && cmp rsa-ca.pem rsa-ca.stdout &&
	cv ec ca download --file ec-ca.pem && cmp ec-ca.pem ec/ca/ca.pem &&
	! cmp rsa-ca.pem ec-ca.pem
'

test_expect_success 'ca download and ca crl on a state without a CA fail and say how to make one' '
	test_must_fail cv empty ca download --file x.pem 2>err &&
	grep "ca init" err &&
	test_path_is_missing x.pem &&
	test_must_fail cv empty ca crl 2>err &&
	test "$(digest empty)" = none
'

test_expect_success 'ca import of an openssl-made CA' '
	make_ca imported -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" &&
	cv imp ca import --cert imported.pem --key imported.key >out &&
	grep "^imported CA \"imported\" (serial $(cert_serial imported.pem)) into " out &&
	cv imp ca download --file imp-ca.pem &&
	cmp imported.pem imp-ca.pem &&
	openssl pkey -in imp/ca/ca.key -pubout >a.pub && openssl pkey -in imported.key -pubout >b.pub &&
	test_cmp a.pub b.pub &&
	test "$(mode_of imp/ca/ca.key)" = 600 && test "$(mode_of imp/ca)" = 700 &&
	# and it signs the CRL
	cv imp ca crl --file imp-crl.pem &&
	openssl crl -in imp-crl.pem -noout -CAfile imported.pem 2>&1 | grep "verify OK" &&
	openssl crl -in imp-crl.pem -noout -issuer | grep "CN *= *imported"
'

test_expect_success 'ca import into a state that has a CA: exit 3, nothing changed' '
	digest rsa >before &&
	test_expect_code 3 cv rsa ca import --cert imported.pem --key imported.key 2>err &&
	digest rsa >after && test_cmp before after
'

test_expect_success 'ca import of a key that does not belong to the certificate: refused, nothing written' '
	make_ca other -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
	test_expect_code 3 cv mis ca import --cert imported.pem --key other.key 2>err &&
	grep "the key in other.key does not belong to the certificate in imported.pem" err &&
	test_path_is_missing mis/ca/ca.pem &&
	test_path_is_missing mis/ca/ca.key &&
	test_must_fail cv mis ca download 2>err &&
	# the same into a state with a CA leaves it as it was
	digest ec >before &&
	test_expect_code 3 cv ec ca import --cert imported.pem --key other.key 2>err &&
	digest ec >after && test_cmp before after
'

test_expect_success 'ca import of a certificate that is no CA: refused, nothing written' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
		-subj "/CN=leaf" 2>/dev/null &&
	openssl x509 -req -in leaf.csr -CA imported.pem -CAkey imported.key -CAcreateserial -days 30 \
		-extfile /dev/stdin -out leaf.pem 2>/dev/null <<-\EOF &&
	basicConstraints=CA:FALSE
	EOF
	test_expect_code 3 cv leaf ca import --cert leaf.pem --key leaf.key 2>err &&
	grep "leaf.pem" err && cat err &&
	test_path_is_missing leaf/ca/ca.pem &&
	# a CA that may not sign CRLs is no use either
	make_ca nocrl -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" &&
	test_expect_code 3 cv nocrl ca import --cert nocrl.pem --key nocrl.key 2>err &&
	grep "keyCertSign, cRLSign" err &&
	test_path_is_missing nocrl/ca/ca.pem
'

test_expect_success 'ca import: missing flags or files are refused' '
	test_expect_code 3 cv x ca import --cert imported.pem 2>err &&
	test_must_fail cv x ca import --cert nosuch.pem --key imported.key 2>err &&
	test_path_is_missing x/ca/ca.pem
'

test_expect_success 'no private key in any output; the CA keys are 0600' '
	for d in rsa ec rsa3 imp; do
		test "$(mode_of $d/ca/ca.key)" = 600 || return 1
	done &&
	for d in rsa ec rsa3 imp; do
		STATE=$PWD/$d check_no_secrets "$CVMLOG" imported.key other.key leaf.key nocrl.key || return 1
	done
'

test_done
