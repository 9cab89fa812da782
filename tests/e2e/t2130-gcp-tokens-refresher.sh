#!/bin/bash
# Tokens and the guest side on GCP, against the emulator: with 5-second
# access tokens a pass that outlives several of them sends no request to
# Compute with an expired one; and the refresher that cloud-init installs,
# run as rendered against the emulator's metadata server, writes files equal
# to what the store holds, before and after a certificate rotation (which
# reaches it through setMetadata and its wait_for_change).

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

test_expect_success 'an emulator whose tokens live 5 seconds and whose operations take 2' '
	gcp_emu_start &&
	ctl POST config "{\"token_lifetime_s\":5,\"op_latency_ms\":2000,\"polls_to_done\":1}" &&
	write_gcp_provider specs/providers.yaml gce extra="concurrency: 1" &&
	for n in t-1 t-2 t-3 t-4; do write_gcp_cvm specs/$n.yaml $n || return 1; done
'

test_expect_success 'a pass of four creates one after the other outlives several tokens' '
	gce_ctl DELETE requests >/dev/null &&
	t0=$(date +%s) &&
	cvmctl reconcile -f specs --once >out &&
	t1=$(date +%s) &&
	test $((t1 - t0)) -ge 7 &&
	test "$(inv | jq "[.instances[] | select(.status == \"RUNNING\")] | length")" = 4
'

test_expect_success '... and no request reached Compute with an expired token' '
	gce_ctl GET requests >log.json &&
	jq -r ".requests[] | select(.path | startswith(\"/compute/\")) | .bearer" log.json | sort | uniq -c >bearers &&
	cat bearers &&
	jq -r ".requests[] | select(.path | startswith(\"/compute/\")) | .bearer" log.json | sort -u >kinds &&
	echo valid >expect && test_cmp expect kinds &&
	test "$(jq "[.requests[] | select(.path == \"/token\" and .status == 200)] | length" log.json)" -ge 2 &&
	test "$(jq "[.requests[] | select(.status == 401)] | length" log.json)" = 0
'

test_expect_success 'every token expired behind our back: one 401, a new token, the pass goes on' '
	ctl POST config "{\"token_lifetime_s\":3600,\"op_latency_ms\":0,\"polls_to_done\":2}" &&
	cvmctl reconcile -f specs --once >/dev/null &&
	ctl POST tokens/expire &&
	write_gcp_cvm specs/t-5.yaml t-5 &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f specs --once >out &&
	grep "^created   t-5" out &&
	gce_ctl GET requests >log.json &&
	test "$(jq "[.requests[] | select(.bearer == \"expired\")] | length" log.json)" -le 1
'

# The refresher as cloud-init would install it: taken from the instance's
# user-data, byte for byte.
extract_refresher() {
	inst_field "$1" ".metadata.items[] | select(.key == \"user-data\") | .value" >user-data &&
	python3 -c "
import sys, yaml
doc = yaml.safe_load(open(\"user-data\"))
f = [w for w in doc[\"write_files\"] if w[\"path\"] == \"/usr/local/sbin/cvmctl-refresh\"][0]
open(\"refresh.sh\", \"w\").write(f[\"content\"])
" && chmod +x refresh.sh
}

# same_as_store NAME ROOT: the files under ROOT are the store's default
# certificate, key and CA of NAME, and the delivered environment.
same_as_store() {
	rm -rf dl && cvmctl cert download "$1" --dir dl >/dev/null &&
	cmp dl/cert.pem "$2/etc/cocos/certs/cert.pem" &&
	cmp dl/key.pem "$2/etc/cocos/certs/key.pem" &&
	cmp dl/ca.pem "$2/etc/cocos/certs/ca.pem" &&
	grep "^AGENT_CVM_ID=$(record_field "$1" id)$" "$2/etc/cocos/environment" &&
	test "$(stat -c %a "$2/etc/cocos/certs/key.pem")" = 600 &&
	test "$(stat -c %a "$2/etc/cocos/environment")" = 600 &&
	test "$(stat -c %a "$2/etc/cocos/certs/cert.pem")" = 644
}

test_expect_success 'the rendered refresher, run against the metadata server, writes the store s files' '
	extract_refresher t-1 &&
	ctl POST metadata-instance "{\"zone\":\"us-central1-a\",\"name\":\"t-1\"}" &&
	mkdir -p bin root &&
	printf "#!/bin/sh\necho \"\$*\" >>\"$TRASH/systemctl.log\"\n" >bin/systemctl && chmod +x bin/systemctl &&
	PATH=$TRASH/bin:$PATH GCE_METADATA_HOST=127.0.0.1:$GCE_MPORT CVMCTL_REFRESH_ROOT=$TRASH/root \
		CVMCTL_REFRESH_PASSES=1 ./refresh.sh 2>refresh.err &&
	same_as_store t-1 root &&
	grep "restart cocos-agent.service" systemctl.log
'

test_expect_success 'a rotation reaches the waiting refresher: the files are the new certificate' '
	old=$(record_field t-1 id) &&
	cp root/etc/cocos/certs/cert.pem old-cert.pem &&
	(PATH=$TRASH/bin:$PATH GCE_METADATA_HOST=127.0.0.1:$GCE_MPORT CVMCTL_REFRESH_ROOT=$TRASH/root \
		CVMCTL_REFRESH_PASSES=2 timeout 60 ./refresh.sh 2>refresh2.err 5>&-; echo $? >refresh2.rc) &
	sleep 1 &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl cert renew t-1 >renew.out &&
	gce_ctl GET requests | jq -r ".requests[] | select(.method == \"POST\") | .path" >posts &&
	grep "/instances/t-1/setMetadata$" posts &&
	for _ in $(seq 1 100); do test -s refresh2.rc && break; sleep 0.2; done &&
	test "$(cat refresh2.rc)" = 0 &&
	! cmp -s old-cert.pem root/etc/cocos/certs/cert.pem &&
	same_as_store t-1 root &&
	! grep -E "PRIVATE|BEGIN" refresh.err refresh2.err
'

test_done
