#!/bin/bash
# Default certificates, end to end (issue 3): one per CVM, issued with the
# create intent by the CA cvmctl makes on first use, listed and downloaded by
# `cvmctl cert`, and delivered byte for byte into each manager CVM's host
# share with the agent's environment file. The openssl command checks every
# certificate: chain, validity window, SAN, EKU, subject, key. Keys stay
# private: 0600 files in 0700 directories, and no private key in anything
# cvmctl prints (debug logging included).
#
# Needs the test build (CVMCTL_TEST_NOW sets its clock), jq and openssl.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

# Every certificate is issued at T0, a fixed time near the real one, so that
# `openssl verify -attime` checks the window cvmctl meant.
T0=$(( $(date +%s) / 3600 * 3600 ))
export CVMCTL_TEST_NOW=$T0

test_expect_success 'two private hosts, two CVMs; reconcile --once (debug logging) creates them' '
	libvirtd_start a b &&
	write_provider "$URI_a" "$URI_b" &&
	write_cvm web-1 2h 1h &&
	write_cvm web-2 &&
	cvmctl -vv reconcile -f specs --once >out 2>err &&
	grep "^created   web-1 " out && grep "^created   web-2 " out &&
	grep "2 created, .*0 failed" out &&
	grep "^cvmctl: debug: defining web-1 " err &&
	id1=$(cvm_id web-1) && id2=$(cvm_id web-2) &&
	test -n "$id1" && test -n "$id2" && test "$id1" != "$id2"
'

test_expect_success 'cert list: one valid default certificate each (table and JSON)' '
	for n in web-1 web-2; do
		cvmctl cert list $n >table.$n &&
		head -n 1 table.$n | tr -s " " >header &&
		echo "SERIAL NOT-BEFORE NOT-AFTER STATUS KIND" >expect && test_cmp expect header &&
		test "$(wc -l <table.$n)" = 2 &&
		tail -n 1 table.$n | awk "{ print \$4, \$5 }" >row &&
		echo "valid default" >expect && test_cmp expect row &&
		list_json $n >list.$n.json &&
		test "$(jq length list.$n.json)" = 1 &&
		test "$(jq -r ".[0].status + \" \" + .[0].kind" list.$n.json)" = "valid default" &&
		test "$(jq -r ".[0].serial" list.$n.json)" = "$(tail -n 1 table.$n | awk "{ print \$1 }")" || return 1
	done &&
	# by id as well as by name
	cvmctl cert list "$id1" -o json >by-id.json && test_cmp list.web-1.json by-id.json &&
	serial1=$(jq -r ".[0].serial" list.web-1.json) && serial2=$(jq -r ".[0].serial" list.web-2.json) &&
	test "$serial1" != "$serial2"
'

test_expect_success 'cert download writes cert.pem, key.pem (0600) and ca.pem into a new 0700 directory' '
	cvmctl cert download web-1 --dir d1 >out &&
	grep "certificate $serial1" out &&
	test_path_is_file d1/cert.pem && test_path_is_file d1/key.pem && test_path_is_file d1/ca.pem &&
	test "$(mode_of d1/key.pem)" = 600 &&
	test "$(mode_of d1)" = 700 &&
	test "$(cert_serial d1/cert.pem)" = "$serial1" &&
	cvmctl cert download "$id2" --dir d2 >out &&
	test "$(cert_serial d2/cert.pem)" = "$serial2" &&
	cmp d1/ca.pem d2/ca.pem
'

test_expect_success 'cert download refuses to overwrite, unless --force' '
	cp d1/key.pem key.before &&
	test_must_fail cvmctl cert download web-2 --dir d1 2>err &&
	grep "exists" err &&
	cmp key.before d1/key.pem &&
	cvmctl cert download web-2 --dir d1 --force &&
	test "$(cert_serial d1/cert.pem)" = "$serial2" &&
	cvmctl cert download web-1 --dir d1 --force &&
	cmp key.before d1/key.pem
'

test_expect_success 'openssl verify: each certificate chains to ca.pem inside its window, for TLS client and server' '
	for d in d1 d2; do
		openssl verify -attime $((T0 + 60)) -CAfile $d/ca.pem $d/cert.pem >v &&
		echo "$d/cert.pem: OK" >expect && test_cmp expect v &&
		openssl verify -attime $((T0 + 60)) -purpose sslclient -CAfile $d/ca.pem $d/cert.pem &&
		openssl verify -attime $((T0 + 60)) -purpose sslserver -CAfile $d/ca.pem $d/cert.pem || return 1
	done &&
	# the window is real: not yet valid before T0, expired after notAfter
	test_must_fail openssl verify -attime $((T0 - 1)) -CAfile d1/ca.pem d1/cert.pem >v 2>&1 &&
	grep "error 9 at 0 depth" v &&
	test_must_fail openssl verify -attime $((T0 + 7201)) -CAfile d1/ca.pem d1/cert.pem >v 2>&1 &&
	grep "error 10 at 0 depth" v
'

test_expect_success 'SAN: DNS:NAME and URI:urn:uuid:ID; EKU: TLS server and client' '
	openssl x509 -in d1/cert.pem -noout -ext subjectAltName | tail -n +2 | sed "s/^ *//" >san &&
	echo "DNS:web-1, URI:urn:uuid:$id1" >expect && test_cmp expect san &&
	openssl x509 -in d2/cert.pem -noout -ext subjectAltName | tail -n +2 | sed "s/^ *//" >san &&
	echo "DNS:web-2, URI:urn:uuid:$id2" >expect && test_cmp expect san &&
	openssl x509 -in d1/cert.pem -noout -ext extendedKeyUsage | tail -n +2 | sed "s/^ *//" >eku &&
	echo "TLS Web Server Authentication, TLS Web Client Authentication" >expect && test_cmp expect eku &&
	openssl x509 -in d1/cert.pem -noout -ext basicConstraints | grep "CA:FALSE"
'

test_expect_success 'subject: CN=NAME and serialNumber=ID; issuer is the CA' '
	openssl x509 -in d1/cert.pem -noout -subject -nameopt RFC2253 >subj &&
	echo "subject=serialNumber=$id1,CN=web-1" >expect && test_cmp expect subj &&
	openssl x509 -in d2/cert.pem -noout -subject -nameopt RFC2253 >subj &&
	echo "subject=serialNumber=$id2,CN=web-2" >expect && test_cmp expect subj &&
	openssl x509 -in d1/cert.pem -noout -issuer -nameopt RFC2253 | sed "s/^issuer=//" >issuer &&
	openssl x509 -in d1/ca.pem -noout -subject -nameopt RFC2253 | sed "s/^subject=//" >casubj &&
	test_cmp casubj issuer
'

test_expect_success 'validity: notBefore is the pass time; notAfter - notBefore is the spec validity (2h, default 30d)' '
	test "$(cert_start d1/cert.pem)" = "$T0" &&
	test $(( $(cert_end d1/cert.pem) - $(cert_start d1/cert.pem) )) = 7200 &&
	test "$(cert_start d2/cert.pem)" = "$T0" &&
	test $(( $(cert_end d2/cert.pem) - $(cert_start d2/cert.pem) )) = $((30 * 86400)) &&
	# cert list tells the same dates
	test "$(epoch_of "$(jq -r ".[0].notBefore" list.web-1.json)")" = "$T0" &&
	test "$(epoch_of "$(jq -r ".[0].notAfter" list.web-1.json)")" = $((T0 + 7200)) &&
	test "$(epoch_of "$(jq -r ".[0].notAfter" list.web-2.json)")" = $((T0 + 30 * 86400))
'

test_expect_success 'the key matches the certificate (public keys compared); keys differ between CVMs' '
	for d in d1 d2; do
		openssl pkey -in $d/key.pem -pubout >$d.pub.key &&
		openssl x509 -in $d/cert.pem -noout -pubkey >$d.pub.cert &&
		test_cmp $d.pub.cert $d.pub.key || return 1
	done &&
	! cmp d1.pub.key d2.pub.key &&
	# and the CA is a CA, ECDSA P-256 by default, self-signed
	openssl x509 -in d1/ca.pem -noout -text >ca.txt &&
	grep "CA:TRUE" ca.txt && grep "ASN1 OID: prime256v1" ca.txt &&
	openssl verify -attime $((T0 + 60)) -CAfile d1/ca.pem d1/ca.pem
'

test_expect_success 'negative control: a certificate from a foreign CA (made by openssl) is rejected' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign-ca.key \
		-out foreign-ca.pem -days 30 -subj "/CN=foreign CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign.key \
		-out foreign.csr -subj "/CN=web-1" 2>/dev/null &&
	openssl x509 -req -in foreign.csr -CA foreign-ca.pem -CAkey foreign-ca.key -CAcreateserial \
		-days 30 -out foreign.pem 2>/dev/null &&
	openssl verify -CAfile foreign-ca.pem foreign.pem &&
	test_must_fail openssl verify -CAfile d1/ca.pem foreign.pem >v 2>&1 &&
	grep "error 20 at 0 depth lookup: unable to get local issuer certificate" v &&
	# and ours is not accepted by the foreign CA either
	test_must_fail openssl verify -attime $((T0 + 60)) -CAfile foreign-ca.pem d1/cert.pem
'

test_expect_success 'ca download --file equals the state ca.pem and what the CVMs got' '
	cvmctl ca download --file ca.pem &&
	cmp ca.pem "$STATE/ca/ca.pem" &&
	cmp ca.pem d1/ca.pem &&
	cvmctl ca download >ca.stdout &&
	cmp ca.pem ca.stdout
'

# check_env NAME ID: the environment file of NAME's share, exactly.
check_env() {
	cat >expect.env <<-EOF &&
	AGENT_LOG_LEVEL=info
	AGENT_CVM_ID=$2
	AGENT_CVM_GRPC_CLIENT_CERT=/etc/certs/cert.pem
	AGENT_CVM_GRPC_CLIENT_KEY=/etc/certs/key.pem
	AGENT_CVM_GRPC_SERVER_CA_CERTS=/etc/certs/ca.pem
	EOF
	test_cmp expect.env "$(share_of "$1")/env/environment"
}

test_expect_success 'each host share holds the store'\''s cert, key and CA byte for byte, and the agent environment' '
	test "$(share_of web-1)" = "$SHARES/$id1" &&
	check_share web-1 s1 && check_share web-2 s2 &&
	test "$(cert_serial "$SHARES/$id1/certs/cert.pem")" = "$serial1" &&
	test "$(cert_serial "$SHARES/$id2/certs/cert.pem")" = "$serial2" &&
	check_env web-1 "$id1" && check_env web-2 "$id2" &&
	ls "$SHARES/$id1/certs" >files && printf "ca.pem\ncert.pem\nkey.pem\n" >expect && test_cmp expect files &&
	ls "$SHARES/$id1/env" >files && echo environment >expect && test_cmp expect files
'

test_expect_success 'the domains mount those shares (9p tags certs_share and env_share)' '
	virsh -c "$(cvmctl list -o json | jq -r ".[] | select(.name == \"web-1\") | .placement")" dumpxml web-1 >web-1.xml &&
	grep -F "<source dir='\''$SHARES/$id1/certs'\''/>" web-1.xml &&
	grep -F "<target dir='\''certs_share'\''/>" web-1.xml &&
	grep -F "<source dir='\''$SHARES/$id1/env'\''/>" web-1.xml &&
	grep -F "<target dir='\''env_share'\''/>" web-1.xml
'

test_expect_success 'a second pass keeps the certificates and the shares as they are' '
	cat "$SHARES"/*/certs/* "$SHARES"/*/env/* | sha256sum >shares.before &&
	list_json web-1 >l1.before && list_json web-2 >l2.before &&
	cvmctl -v reconcile -f specs --once >out &&
	grep "0 created, .* 2 up to date; 0 failed" out &&
	cat "$SHARES"/*/certs/* "$SHARES"/*/env/* | sha256sum >shares.after &&
	test_cmp shares.before shares.after &&
	list_json web-1 >l1.after && list_json web-2 >l2.after &&
	test_cmp l1.before l1.after && test_cmp l2.before l2.after
'

test_expect_success 'get shows the certificates with the CVM' '
	cvmctl get web-1 -o json >get.json &&
	test "$(jq -r ".certificates | length" get.json)" = 1 &&
	test "$(jq -r ".certificates[0].serial" get.json)" = "$serial1" &&
	test "$(jq -r ".certificates[0].default" get.json)" = true &&
	cvmctl get web-1 >get.txt &&
	grep "$serial1" get.txt
'

test_expect_success 'key files are 0600 in 0700 directories: state keys/, ca/ca.key, host shares' '
	check_key_perms &&
	ls "$STATE"/keys >keys && printf "%s\n" "$id1.$serial1.key" "$id2.$serial2.key" | sort >expect &&
	test_cmp expect keys &&
	test_path_is_file "$STATE/keys/$id1.$serial1.key" &&
	cmp "$STATE/keys/$id1.$serial1.key" d1/key.pem
'

test_expect_success 'the secret check finds a key when one is there (positive control)' '
	cp "$CVMLOG" leak.log &&
	sed -n "2,3p" "$STATE/keys/$id2.$serial2.key" >>leak.log &&
	test_must_fail check_no_secrets leak.log &&
	cp "$CVMLOG" leak2.log &&
	openssl pkey -in "$STATE/ca/ca.key" -outform DER | base64 -w0 >>leak2.log &&
	test_must_fail check_no_secrets leak2.log &&
	cp "$CVMLOG" leak3.log && echo "-----BEGIN PRIVATE KEY-----" >>leak3.log &&
	test_must_fail check_no_secrets leak3.log &&
	cp "$CVMLOG" leak4.log &&
	openssl pkey -in "$STATE/keys/$id1.$serial1.key" -noout -text |
		sed -n "/^priv:/,/^pub:/p" | sed "1d;\$d" | tr -d " :\n" >>leak4.log &&
	test_must_fail check_no_secrets leak4.log
'

test_expect_success 'no private key in any output of cvmctl, the state database, domain XML or libvirtd logs' '
	grep -c "^\$ cvmctl" "$CVMLOG" >count && test "$(cat count)" -gt 20 &&
	grep -q "^\$ cvmctl -vv reconcile" "$CVMLOG" &&
	check_no_secrets &&
	for f in "$STATE/state.db" web-1.xml "$TRASH"/libvirtd-*/libvirtd.log "$TRASH"/libvirtd-*/events.log; do
		check_no_secrets "$f" >/dev/null || { echo "in $f"; return 1; }
	done
'

test_done
