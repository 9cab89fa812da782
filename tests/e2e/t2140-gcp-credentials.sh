#!/bin/bash
# The other two kinds of GCP credentials, against the emulator: an
# external_account file (workload identity federation: a subject token read
# from a file, exchanged at the STS endpoint) and the metadata server's
# token (credentials: metadata, reached through GCE_METADATA_HOST); and the
# agent firewall rule a Provider may ask for.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

test_expect_success 'an emulator that accepts one subject token' '
	echo "oidc-subject-token-from-ci" >subject.txt &&
	gcp_emu_start --sts-subject-token "$TRASH/subject.txt"
'

test_expect_success 'external_account: the subject token file is exchanged and the CVM created' '
	jq -n --arg url "https://127.0.0.1:$GCE_PORT/sts/v1/token" --arg f "$TRASH/subject.txt" \
		"{type: \"external_account\", audience: \"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/ci\",
		  subject_token_type: \"urn:ietf:params:oauth:token-type:jwt\", token_url: \$url, credential_source: {file: \$f}}" >ext.json &&
	chmod 600 ext.json &&
	write_gcp_provider ext/providers.yaml gce credentialsFile="$TRASH/ext.json" &&
	sed -i "/tokenURI/d" ext/providers.yaml &&
	write_gcp_cvm ext/e-1.yaml e-1 &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f ext --once >out &&
	grep "^created   e-1" out &&
	test "$(inst_field e-1 .status)" = RUNNING &&
	gce_ctl GET requests | jq -r ".requests[] | \"\(.method) \(.path) \(.status)\"" >log &&
	grep "^POST /sts/v1/token 200$" log &&
	! grep "^POST /token " log
'

test_expect_code 1 'external_account with a subject token the STS refuses: Unknown' '
	echo "someone-elses-token" >subject.txt &&
	cvmctl plan -f ext >out 2>err
'

test_expect_success '... saying so' '
	grep "provider gce: the token exchange of external_account $TRASH/ext.json: https://127.0.0.1:$GCE_PORT/sts/v1/token refused it: 400" err &&
	! grep "someone-elses-token" out err &&
	echo "oidc-subject-token-from-ci" >subject.txt
'

test_expect_success 'credentials: metadata takes the metadata server s token' '
	write_gcp_provider md/providers.yaml gce &&
	sed -i "s|^  credentialsFile: .*|  credentials: metadata|; /tokenURI/d" md/providers.yaml &&
	cvmctl validate -f md &&
	write_gcp_cvm md/m-1.yaml m-1 &&
	cp ext/e-1.yaml md/ &&
	gce_ctl DELETE requests >/dev/null &&
	GCE_METADATA_HOST=127.0.0.1:$GCE_MPORT cvmctl reconcile -f md --once >out &&
	grep "^created   m-1" out &&
	test "$(inst_field m-1 .status)" = RUNNING &&
	gce_ctl GET requests | jq -r ".requests[] | select(.metadata_port) | \"\(.method) \(.path) \(.status)\"" >log &&
	grep "^GET /computeMetadata/v1/instance/service-accounts/default/token 200$" log
'

test_expect_code 3 'credentials: metadata and credentialsFile together are a spec error' '
	write_gcp_provider both/providers.yaml gce &&
	echo "  credentials: metadata" >>both/providers.yaml &&
	cvmctl validate -f both 2>err
'

test_expect_success 'agentFirewall: the rule for the agent port, opened to the tagged instances' '
	grep "give either credentialsFile or credentials: metadata, not both" err &&
	write_gcp_provider fw/providers.yaml gce extra="agentFirewall: true
  agentSourceRanges: [203.0.113.0/24]" &&
	write_gcp_cvm fw/f-1.yaml f-1 &&
	cp ext/e-1.yaml md/m-1.yaml fw/ &&
	cvmctl reconcile -f fw --once >out &&
	grep "^created   f-1" out &&
	inv | jq -c ".firewalls[] | select(.name == \"cvmctl-agent-7002\")" >fw.json &&
	test -s fw.json &&
	jq -e ".targetTags == [\"cvmctl-agent\"] and .sourceRanges == [\"203.0.113.0/24\"] and .allowed[0].ports == [\"7002\"]" fw.json &&
	test "$(inst_field f-1 ".resource.tags.items | index(\"cvmctl-agent\") != null")" = true
'

test_done
