#!/bin/bash
# What goes wrong on GCP, against the emulator: a failing list page makes
# its zone Unknown (nothing deleted, exit 1); TLS is really verified (a
# wrong CA, or the system store alone, makes the provider Unknown);
# credentials that are missing, readable by others, malformed or rejected
# make their provider Unknown with one clear sentence while another
# provider converges; throttling is retried with the same requestId; an
# operation that ends DONE with an error fails its CVM with the error's
# words; and no key material reaches any output, -v included, even when the
# emulator echoes request values in an error.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

test_expect_success 'an emulator with two projects and three CVMs on one' '
	gcp_emu_start --project cvmctl-test --project second-proj &&
	write_gcp_provider specs/providers.yaml gce &&
	for n in a-1 a-2 a-3; do write_gcp_cvm specs/$n.yaml $n || return 1; done &&
	cvmctl reconcile -f specs --once >out &&
	test "$(inv | jq ".instances | length")" = 3
'

test_expect_code 1 'a fault on list page 2: the pass reports the zone Unknown and exits 1' '
	ctl POST faults "{\"kind\":\"list_page\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"page\":2,\"status\":503}" &&
	rm specs/a-3.yaml &&
	gce_ctl DELETE requests >/dev/null &&
	CVMCTL_GCP_PAGE_SIZE=2 cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success '... and deleted nothing' '
	grep "zone us-central1-a of provider gce cannot be observed: .*503 backendError.*(page 2 of the list)" err &&
	summary out | grep "^default: 0 created, .* 0 deleted, 0 up to date; 0 failed, 3 unknown, 0 refused.$" &&
	mutating_calls >calls && test_must_be_empty calls &&
	test "$(inv | jq ".instances | length")" = 3 &&
	ctl DELETE faults &&
	CVMCTL_GCP_PAGE_SIZE=2 cvmctl reconcile -f specs --once >out &&
	grep "^deleted   a-3" out && test "$(inv | jq ".instances | length")" = 2
'

test_expect_code 1 'a wrong CA: the provider is Unknown' '
	write_gcp_provider wrongca/providers.yaml gce ca=$GCE_DIR/other.pem &&
	cp specs/a-1.yaml specs/a-2.yaml wrongca/ &&
	cvmctl reconcile -f wrongca --once >out 2>err
'

test_expect_success '... saying why, and nothing changed' '
	grep "provider gce cannot be observed: .*127.0.0.1.*: .*certificate" err &&
	summary out | grep "; 0 failed, 2 unknown, 0 refused.$" &&
	test "$(inv | jq ".instances | length")" = 2
'

test_expect_success 'without caBundleFile the system store alone does not trust the emulator' '
	write_gcp_provider sysca/providers.yaml gce &&
	sed -i "/caBundleFile/d" sysca/providers.yaml &&
	cp specs/a-1.yaml sysca/ &&
	test_expect_code 1 cvmctl plan -f sysca >out 2>err &&
	grep "provider gce cannot be observed: .*SSL certificate problem: unable to get local issuer certificate" err
'

# creds_case DIR FILE: a tree with a good provider (second-proj) and one
# using FILE; the good one converges, the bad one is Unknown; exit 1.
creds_case() {
	rm -rf "$1" &&
	write_gcp_provider "$1/good.yaml" good project=second-proj &&
	write_gcp_provider "$1/bad.yaml" bad credentialsFile="$2" &&
	write_gcp_cvm "$1/g.yaml" g-1 provider=good &&
	write_gcp_cvm "$1/b.yaml" b-1 provider=bad &&
	test_expect_code 1 cvmctl --state-dir "$TRASH/$1.state" reconcile -f "$1" --once >"$1.out" 2>"$1.err" &&
	test "$(inv | jq "[.instances[] | select(.name == \"g-1\" and .project == \"second-proj\")] | length")" = 1 &&
	test "$(inv | jq "[.instances[] | select(.name == \"b-1\")] | length")" = 0 &&
	grep "b-1 is Unknown this pass" "$1.err"
}

test_expect_success 'a credentials file others can read: Unknown, the other provider converges' '
	cp "$GCE_SA" open.json && chmod 644 open.json &&
	creds_case c1 "$TRASH/open.json" &&
	grep "provider bad cannot be observed: provider bad: credentials file $TRASH/open.json has mode 0644; it must be 0600 or 0400" c1.err
'

test_expect_success 'a missing credentials file' '
	creds_case c2 "$TRASH/nope.json" &&
	grep "provider bad: credentials file $TRASH/nope.json: No such file or directory" c2.err
'

test_expect_success 'a malformed credentials file' '
	printf "{\"type\": \"service_account\", \"private_key\": " >bad.json && chmod 600 bad.json &&
	creds_case c3 "$TRASH/bad.json" &&
	grep "provider bad: credentials file $TRASH/bad.json is not a JSON object (line 1" c3.err
'

test_expect_success 'a key the token endpoint rejects' '
	creds_case c4 "$GCE_DIR/sa-rogue.json" &&
	grep "provider bad: the token request for cvmctl@cvmctl-test.iam.gserviceaccount.com (credentials file $GCE_DIR/sa-rogue.json): https://127.0.0.1:$GCE_PORT/token refused it: 400 invalid_grant: Invalid JWT Signature." c4.err
'

test_expect_success 'throttled inserts are retried with the same requestId after Retry-After' '
	ctl POST faults "{\"kind\":\"rate_limit\",\"method\":\"POST\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"times\":2,\"retry_after\":1}" &&
	write_gcp_cvm specs/a-4.yaml a-4 &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f specs --once >out &&
	grep "^created   a-4" out &&
	gce_ctl GET requests | jq -r ".requests[] | select(.method == \"POST\" and (.path | endswith(\"/instances\"))) | \"\(.status) \(.requestId)\"" >posts &&
	test "$(wc -l <posts)" = 3 &&
	test "$(cut -d" " -f2 posts | sort -u | wc -l)" = 1 &&
	test "$(cut -d" " -f1 posts | tr "\n" " ")" = "403 403 200 " &&
	test "$(cut -d" " -f2 posts | sort -u)" = "$(record_attempt a-4)"
'

test_expect_success 'a throttled list is asked again after Retry-After, not reported Unknown' '
	ctl POST faults "{\"kind\":\"rate_limit\",\"method\":\"GET\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"times\":2,\"retry_after\":1}" &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f specs --once >out 2>err &&
	summary out | grep "; 0 failed, 0 unknown, 0 refused.$" &&
	gce_ctl GET requests | jq -r ".requests[] | select(.method == \"GET\" and (.path | endswith(\"/instances\"))) | .status" | tr "\n" " " >lists &&
	test "$(cat lists)" = "403 403 200 "
'

test_expect_code 1 'an insert operation DONE with QUOTA_EXCEEDED fails that CVM' '
	ctl POST faults "{\"kind\":\"op_error\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"op_error\":\"QUOTA_EXCEEDED\"}" &&
	write_gcp_cvm specs/a-5.yaml a-5 &&
	cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success '... with the operation error in its sentence; the next pass creates it' '
	grep "a-5.*provider gce: the create of a-5 in zone us-central1-a failed: QUOTA_EXCEEDED: Quota" err &&
	test "$(record_field a-5 status)" = Failed &&
	cvmctl reconcile -f specs --once >out &&
	test "$(inst_field a-5 .status)" = RUNNING
'

# Every secret the test can know: the service account's key lines, and the
# base64 of each CVM's key.pem and environment as delivered in metadata.
secrets() {
	{
		jq -r .private_key "$GCE_SA" | grep -v -- "-----" | cut -c1-40
		inv | jq -r ".instances[].metadata.items[]? | select(.key == \"cvmctl-delivery\") | .value" |
			awk "\$1 == \"key.pem\" { print substr(\$2, 1, 40); print substr(\$2, 41, 40) }"
	} | grep -E "^.{20,}$"
}

test_expect_code 1 'an error that echoes key material, run with -v' '
	doc=$(inst_field a-1 ".metadata.items[] | select(.key == \"cvmctl-delivery\") | .value") &&
	body=$(jq -n --arg d "$doc" --arg k "$(jq -r .private_key "$GCE_SA")" \
		"{error: {code: 400, message: (\"Invalid value for field resource.metadata.items[1].value: \" + \$d + \" signed by \" + \$k), errors: [{reason: \"invalid\", domain: \"global\", message: \$d}]}}") &&
	ctl POST faults "$(jq -n --argjson b "$body" "{kind: \"status\", method: \"POST\", path: \"/compute/v1/projects/*/zones/*/instances\", status: 400, body: \$b}")" &&
	write_gcp_cvm specs/a-6.yaml a-6 &&
	cvmctl -v reconcile -f specs --once >leak.out 2>leak.err
'

test_expect_success '... shows no key material in any output' '
	grep "a-6.*400 invalid: Invalid value for field" leak.err &&
	cvmctl -v plan -f specs >>leak.out 2>>leak.err || : &&
	cvmctl list -o json >>leak.out 2>>leak.err &&
	cvmctl get a-1 -o json >>leak.out 2>>leak.err &&
	secrets >secret-list && test "$(wc -l <secret-list)" -gt 10 &&
	! grep -F -f secret-list leak.out leak.err &&
	! grep -E "PRIVATE KEY|ya29\.|eyJhbGci" leak.out leak.err
'

test_expect_code 1 'the emulator quotes the whole insert body back in its error (echo), run with -v' '
	ctl DELETE faults &&
	ctl POST faults "{\"kind\":\"status\",\"method\":\"POST\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"status\":400,\"echo\":true,\"times\":-1}" &&
	write_gcp_cvm specs/a-7.yaml a-7 &&
	cvmctl -v reconcile -f specs --once >echo.out 2>echo.err
'

test_expect_success '... and none of it is shown: the key, the certificate, the delivery' '
	grep "a-7.*400 invalid" echo.err &&
	rm -rf dl && cvmctl cert download a-7 --dir dl >/dev/null &&
	{ secrets; grep -v -- "-----" dl/key.pem | cut -c1-40; base64 -w0 dl/key.pem | cut -c1-40; } | grep -E "^.{20,}$" >secret-list &&
	! grep -F -f secret-list echo.out echo.err &&
	! grep -E "PRIVATE KEY|BEGIN CERT" echo.out echo.err &&
	ctl DELETE faults
'

test_expect_code 1 'an image without SEV_SNP_CAPABLE: the create fails before any insert' '
	write_gcp_provider oldimg/providers.yaml gce extra="image: projects/ubuntu-os-cloud/global/images/family/ubuntu-2004-lts" &&
	write_gcp_cvm oldimg/o-1.yaml o-1 &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl --state-dir "$TRASH/oldimg.state" reconcile -f oldimg --once >out 2>err
'

test_expect_success '... saying which image and why' '
	grep "provider gce: the image projects/ubuntu-os-cloud/global/images/family/ubuntu-2004-lts (.*) is not SEV_SNP_CAPABLE: a confidential VM cannot boot it; creates will fail" err &&
	grep "create o-1 .*is not SEV_SNP_CAPABLE" err &&
	mutating_calls >calls && test_must_be_empty calls
'

test_expect_code 1 'a server certificate for another host name: the provider is Unknown' '
	gce_stop &&
	GCE_TLS_CERT=$GCE_DIR/wrong-host.pem GCE_TLS_KEY=$GCE_DIR/wrong-host.key gcp_emu_start &&
	write_gcp_provider wronghost/providers.yaml gce &&
	cp specs/a-1.yaml wronghost/ &&
	cvmctl plan -f wronghost >out 2>err
'

test_expect_success '... because the name was checked' '
	grep "provider gce cannot be observed: .*127.0.0.1.*\(certificate\|SSL: no alternative certificate subject name matches\)" err &&
	grep "^  ? unknown  a-1 " out
'

test_expect_success 'a caBundleFile that is missing, or holds no certificate: Unknown, saying so' '
	write_gcp_provider noca/providers.yaml gce ca=$TRASH/none.pem &&
	cp specs/a-1.yaml noca/ &&
	test_expect_code 1 cvmctl plan -f noca >out 2>err &&
	grep "provider gce cannot be observed: provider gce: cannot read caBundleFile $TRASH/none.pem: No such file or directory" err &&
	echo "not a certificate" >junk.pem &&
	write_gcp_provider noca/providers.yaml gce ca=$TRASH/junk.pem &&
	test_expect_code 1 cvmctl plan -f noca >out 2>err &&
	grep "provider gce: caBundleFile $TRASH/junk.pem holds no PEM certificate" err
'

test_done
