#!/bin/bash
# The GCE emulator itself (tests/emulators/gce): known-bad requests get the
# exact status and reason the real service gives, and the behaviours the
# GCP backend's tests lean on (operations advancing per poll or on the
# control clock, requestId de-duplication, commit-then-drop, paging and
# filters, fingerprints, the guest metadata server, faults) do what the
# README says. Talks plain HTTP(S) with curl; no cvmctl involved.

. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/emulators/gce/lib.sh"

Z=projects/cvmctl-test/zones/us-central1-a

# call TOKEN METHOD PATH [BODY]: the answer's body in resp.json, its status in ./status.
call() {
	gce_api "$@" >resp.raw || return 1
	tail -n 1 resp.raw | sed 's/^HTTP //' >status
	sed '$d' resp.raw >resp.json
}

# expect STATUS [REASON]: the last answer had STATUS and errors[0].reason REASON.
expect() {
	local got
	got=$(cat status)
	[ "$got" = "$1" ] || { echo "status $got, wanted $1:"; cat resp.json; return 1; }
	[ -z "${2:-}" ] && return 0
	got=$(jq -r '.error.errors[0].reason' resp.json) &&
	[ "$got" = "$2" ] || { echo "reason $got, wanted $2:"; cat resp.json; return 1; }
	[ "$(jq -r .error.code resp.json)" = "$1" ] || { echo "error.code is not $1"; return 1; }
}

# message_has TEXT: errors[0].message (and message) contain TEXT.
message_has() {
	jq -e --arg t "$1" '(.error.message | contains($t)) and (.error.errors[0].message | contains($t))' resp.json >/dev/null ||
		{ echo "message lacks: $1"; cat resp.json; return 1; }
}

good_body() {
	cat <<'EOF'
{"name":"cvm-ok","machineType":"zones/us-central1-a/machineTypes/n2d-standard-2",
 "minCpuPlatform":"AMD Milan",
 "confidentialInstanceConfig":{"confidentialInstanceType":"SEV_SNP"},
 "scheduling":{"onHostMaintenance":"TERMINATE","automaticRestart":true},
 "shieldedInstanceConfig":{"enableSecureBoot":true,"enableVtpm":true,"enableIntegrityMonitoring":true},
 "disks":[{"boot":true,"autoDelete":true,"type":"PERSISTENT","mode":"READ_WRITE","interface":"NVME",
   "initializeParams":{"sourceImage":"projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
     "diskSizeGb":"20","diskType":"zones/us-central1-a/diskTypes/pd-balanced","labels":{},"resourceManagerTags":{}}}],
 "networkInterfaces":[{"network":"global/networks/default",
   "accessConfigs":[{"type":"ONE_TO_ONE_NAT","name":"External NAT","networkTier":"PREMIUM"}]}],
 "metadata":{"items":[{"key":"user-data","value":"#cloud-config\n"}]},
 "labels":{"cvmctl-id":"ok","team":"a"},
 "tags":{"items":["cvm"]}}
EOF
}

# body JQ: the good body changed by JQ.
body() {
	good_body | jq -c "$1"
}

test_expect_success 'the emulator starts, writes its ports, and issues a token' '
	gce_start "$TRASH/gce" &&
	test "$(stat -c %a "$TRASH/gce")" = 700 &&
	test "$GCE_PORT" -gt 0 && test "$GCE_MPORT" -gt 0 &&
	OLD=$(gce_token) && test -n "$OLD" &&
	gce_ctl POST tokens/expire &&
	TOK=$(gce_token) && test -n "$TOK" && test "$TOK" != "$OLD"
'

# --- authentication ---

test_expect_success 'no bearer token: 401 required, UNAUTHENTICATED' '
	call "" GET "$Z/instances" && expect 401 required &&
	jq -e ".error.status == \"UNAUTHENTICATED\" and .error.errors[0].location == \"Authorization\"" resp.json
'

test_expect_success 'an expired token: 401 authError' '
	call "$OLD" GET "$Z/instances" && expect 401 authError
'

test_expect_success 'a token never issued: 401 authError' '
	call "ya29.not-a-token" GET "$Z/instances" && expect 401 authError
'

# token_grant ASSERTION: POST /token; the answer in resp.json, status in ./status.
token_grant() {
	curl -sS --cacert "$GCE_CA" -w "\n%{http_code}\n" \
		--data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer" \
		--data-urlencode "assertion=$1" "$GCE_TOKEN_URI" >resp.raw &&
	tail -n 1 resp.raw >status && sed "\$d" resp.raw >resp.json
}

# grant_fails DESCRIPTION-SUBSTRING: 400 invalid_grant whose description contains it.
grant_fails() {
	test "$(cat status)" = 400 &&
	jq -e --arg d "$1" ".error == \"invalid_grant\" and (.error_description | contains(\$d))" resp.json ||
		{ cat status resp.json; return 1; }
}

test_expect_success 'a JWT signed with another key: invalid_grant, Invalid JWT Signature.' '
	token_grant "$(gce_jwt "$GCE_DIR/sa-rogue.json")" && grant_fails "Invalid JWT Signature."
'

test_expect_success 'a JWT for another audience: invalid_grant, audience check' '
	token_grant "$(gce_jwt "$GCE_SA" https://example.com/token)" && grant_fails "Failed audience check"
'

test_expect_success 'a JWT living longer than an hour: invalid_grant, short-lived' '
	token_grant "$(gce_jwt "$GCE_SA" "" 7200)" && grant_fails "short-lived token"
'

test_expect_success 'an expired JWT: invalid_grant' '
	token_grant "$(gce_jwt "$GCE_SA" "" 3600 -7300)" && grant_fails "short-lived token"
'

test_expect_success 'the audience Node clients use is accepted too' '
	token_grant "$(gce_jwt "$GCE_SA" https://oauth2.googleapis.com/token)" &&
	test "$(cat status)" = 200 &&
	jq -e ".token_type == \"Bearer\" and (.expires_in > 0) and (.access_token | length > 20)" resp.json
'

test_expect_success 'another grant type: unsupported_grant_type' '
	curl -sS --cacert "$GCE_CA" -o resp.json -w "%{http_code}" -d grant_type=client_credentials "$GCE_TOKEN_URI" >status &&
	test "$(cat status)" = 400 && jq -e ".error == \"unsupported_grant_type\"" resp.json
'

test_expect_success 'a self-signed JWT is accepted as a bearer token' '
	call "$(gce_jwt "$GCE_SA" https://compute.googleapis.com/)" GET "$Z/instances" && expect 200 &&
	gce_ctl GET requests | jq -e "[.requests[] | select(.bearer == \"jwt\")] | length == 1"
'

# --- request bodies: the wire schema, then Compute's rules ---
# desc | status | reason | jq change to the good body | text the message must hold
while IFS='|' read -r desc st reason change text; do
	[ -n "$desc" ] || continue
	test_expect_success "insert with $desc: $st $reason" '
		call "$TOK" POST "$Z/instances" "$(body "$change")" && expect '"$st $reason"' &&
		message_has "$text"
	'
done <<'EOF'
an unknown field|400|invalid|.foo = 1|Unknown name "foo" at 'instance_resource'
an unknown nested field|400|invalid|.scheduling.sometimes = true|Unknown name "sometimes" at 'instance_resource.scheduling'
a bad enum value|400|invalid|.scheduling.onHostMaintenance = "SOMETIMES"|'instance_resource.scheduling.on_host_maintenance'
a bad enum in an array|400|invalid|.disks[0].interface = "IDE"|'instance_resource.disks[0].interface'
a number for a string|400|invalid|.name = 5|'instance_resource.name' (TYPE_STRING), 5
no name|400|required|del(.name)|Required field 'resource.name'
a bad name|400|invalid|.name = "Cvm_1"|Invalid value for field 'resource.name': 'Cvm_1'
a 64-character name|400|invalid|.name = ("a" * 64)|Invalid value for field 'resource.name'
a non-N2D machine type|400|invalid|.machineType = "zones/us-central1-a/machineTypes/e2-standard-2"|SEV_SNP needs an N2D machine type
an unknown machine type|400|invalid|.machineType = "zones/us-central1-a/machineTypes/n2d-standard-3"|does not exist in zone 'us-central1-a'
a bad custom machine type|400|invalid|.machineType = "zones/us-central1-a/machineTypes/n2d-custom-3-4096"|does not exist in zone
a machine type of another zone|400|invalid|.machineType = "zones/us-east1-b/machineTypes/n2d-standard-2"|does not match the instance zone
no minCpuPlatform|400|invalid|del(.minCpuPlatform)|'resource.minCpuPlatform'
minCpuPlatform AMD Rome|400|invalid|.minCpuPlatform = "AMD Rome"|requires minCpuPlatform 'AMD Milan'
onHostMaintenance MIGRATE|400|invalid|.scheduling.onHostMaintenance = "MIGRATE"|'resource.scheduling.onHostMaintenance': 'MIGRATE'
no onHostMaintenance|400|invalid|del(.scheduling.onHostMaintenance)|'resource.scheduling.onHostMaintenance': 'MIGRATE'
a SCSI boot disk|400|invalid|.disks[0].interface = "SCSI"|'resource.disks[0].interface': 'SCSI'
an image without SEV_SNP_CAPABLE|400|invalid|.disks[0].initializeParams.sourceImage = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2004-lts"|lack SEV_SNP_CAPABLE
an unknown image|404|notFound|.disks[0].initializeParams.sourceImage = "projects/ubuntu-os-cloud/global/images/family/nope"|The resource 'projects/ubuntu-os-cloud/global/images/family/nope' was not found
an unknown network|404|notFound|.networkInterfaces[0].network = "global/networks/nope"|global/networks/nope' was not found
a label key with a capital|400|invalid|.labels.Env = "x"|Label key 'Env' violates format constraints
a label value with a capital|400|invalid|.labels.env = "X"|Label value 'X' violates format constraints
a 64-character label value|400|invalid|.labels.env = ("a" * 64)|violates format constraints
a bad metadata key|400|invalid|.metadata.items[0].key = "user data"|'resource.metadata.items[0].key'
a duplicate metadata key|400|invalid|.metadata.items += [{"key":"user-data","value":"x"}]|Duplicate keys
a metadata value over 256 KiB|400|invalid|.metadata.items[0].value = ("a" * 262145)|maximum size 262144
metadata over 512 KiB in all|400|invalid|.metadata.items = [{"key":"k0","value":("a" * 200000)},{"key":"k1","value":("a" * 200000)},{"key":"k2","value":("a" * 200000)}]|maximum size 524288
no boot disk image|400|required|del(.disks[0].initializeParams.sourceImage)|initializeParams.sourceImage
no network interface|400|invalid|del(.networkInterfaces)|At least one network interface
EOF

test_expect_success 'a body that is not JSON: 400 parseError' '
	call "$TOK" POST "$Z/instances" "{not json" && expect 400 parseError
'

test_expect_success 'a requestId that is not a UUID: 400 invalid' '
	call "$TOK" POST "$Z/instances?requestId=nope" "$(body .)" && expect 400 invalid && message_has "requestId"
'

test_expect_success 'a custom N2D type and empty maps are accepted' '
	call "$TOK" POST "$Z/instances" "$(body ".name = \"cvm-custom\" | .machineType = \"zones/us-central1-a/machineTypes/n2d-custom-4-16384\"")" &&
	expect 200 && jq -e ".kind == \"compute#operation\" and .operationType == \"insert\"" resp.json
'

# --- insert, operations, requestId ---

test_expect_success 'insert: 200 and a RUNNING Operation with the real shape' '
	call "$TOK" POST "$Z/instances?requestId=11111111-2222-4333-8444-555555555555" "$(body .)" && expect 200 &&
	OP=$(jq -r .name resp.json) &&
	jq -e --arg z "https://www.googleapis.com/compute/v1/$Z" "
		.status == \"RUNNING\" and .zone == \$z and
		.selfLink == \"\(\$z)/operations/\(.name)\" and .targetLink == \"\(\$z)/instances/cvm-ok\" and
		.clientOperationId == \"11111111-2222-4333-8444-555555555555\" and
		.user == \"cvmctl@cvmctl-test.iam.gserviceaccount.com\"" resp.json
'

test_expect_success 'the instance is PROVISIONING, without addresses, before the operation is polled' '
	call "$TOK" GET "$Z/instances/cvm-ok" && expect 200 &&
	jq -e ".status == \"PROVISIONING\" and (.networkInterfaces[0].networkIP == null) and
		(.networkInterfaces[0].accessConfigs[0].natIP == null)" resp.json
'

test_expect_success 'the same name again: 409 alreadyExists' '
	call "$TOK" POST "$Z/instances" "$(body .)" && expect 409 alreadyExists &&
	message_has "instances/cvm-ok'"'"' already exists"
'

test_expect_success 'the same requestId again: the earlier Operation, no second instance' '
	BEFORE=$(gce_count_instances) &&
	call "$TOK" POST "$Z/instances?requestId=11111111-2222-4333-8444-555555555555" "$(body .)" && expect 200 &&
	test "$(jq -r .name resp.json)" = "$OP" &&
	test "$(gce_count_instances)" = "$BEFORE"
'

test_expect_success 'the operation is DONE on the second poll; the instance RUNNING with addresses' '
	call "$TOK" GET "$Z/operations/$OP" && expect 200 && jq -e ".status == \"RUNNING\"" resp.json &&
	call "$TOK" GET "$Z/instances/cvm-ok" && jq -e ".status == \"STAGING\"" resp.json &&
	call "$TOK" POST "$Z/operations/$OP/wait" "\"\"" && expect 200 &&
	jq -e ".status == \"DONE\" and .progress == 100 and (.error == null)" resp.json &&
	call "$TOK" GET "$Z/instances/cvm-ok" &&
	jq -e ".status == \"RUNNING\" and (.networkInterfaces[0].networkIP | startswith(\"10.\")) and
		(.networkInterfaces[0].accessConfigs[0].natIP | length > 6) and .cpuPlatform == \"AMD Milan\" and
		(.machineType | endswith(\"/zones/us-central1-a/machineTypes/n2d-standard-2\"))" resp.json
'

test_expect_success 'an unknown instance or operation: 404 notFound' '
	call "$TOK" GET "$Z/instances/nope" && expect 404 notFound &&
	message_has "The resource '"'"'$Z/instances/nope'"'"' was not found" &&
	jq -e ".error.status == null" resp.json &&
	call "$TOK" GET "$Z/operations/operation-1-2-3-4" && expect 404 notFound &&
	call "$TOK" DELETE "$Z/instances/nope" && expect 404 notFound
'

test_expect_success 'an unknown zone: 404' '
	call "$TOK" GET "projects/cvmctl-test/zones/mars/instances" && expect 404 notFound
'

test_expect_success 'another project: 403 forbidden' '
	call "$TOK" GET "projects/someone-else/zones/us-central1-a/instances" && expect 403 forbidden
'

test_expect_success 'the image family carries SEV_SNP_CAPABLE; the old one does not' '
	call "$TOK" GET "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts" && expect 200 &&
	jq -e "[.guestOsFeatures[].type] | index(\"SEV_SNP_CAPABLE\")" resp.json &&
	call "$TOK" GET "projects/ubuntu-os-cloud/global/images/family/ubuntu-2004-lts" && expect 200 &&
	jq -e "[.guestOsFeatures[].type] | index(\"SEV_SNP_CAPABLE\") | not" resp.json
'

test_expect_success 'machineTypes.get knows N2D types' '
	call "$TOK" GET "$Z/machineTypes/n2d-highmem-4" && expect 200 &&
	jq -e ".guestCpus == 4 and .memoryMb == 32768" resp.json &&
	call "$TOK" GET "$Z/machineTypes/n2d-standard-3" && expect 404 notFound
'

# --- metadata and fingerprints ---

test_expect_success 'setMetadata with a stale fingerprint: 412 conditionNotMet' '
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" "{\"fingerprint\":\"c3RhbGU=\",\"items\":[]}" &&
	expect 412 conditionNotMet &&
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" "{\"items\":[]}" && expect 412 conditionNotMet
'

test_expect_success 'setMetadata with the fingerprint: applied, and a new fingerprint' '
	call "$TOK" GET "$Z/instances/cvm-ok" && FP=$(jq -r .metadata.fingerprint resp.json) &&
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" \
		"{\"fingerprint\":\"$FP\",\"items\":[{\"key\":\"user-data\",\"value\":\"#cloud-config\\n\"},{\"key\":\"cvmctl-certs\",\"value\":\"v1\"}]}" &&
	expect 200 && jq -e ".operationType == \"setMetadata\"" resp.json &&
	call "$TOK" GET "$Z/instances/cvm-ok" &&
	test "$(jq -r .metadata.fingerprint resp.json)" != "$FP" &&
	jq -e "[.metadata.items[].key] == [\"user-data\", \"cvmctl-certs\"]" resp.json &&
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" "{\"fingerprint\":\"$FP\",\"items\":[]}" &&
	expect 412 conditionNotMet
'

test_expect_success 'setMetadata with an unknown field: 400 invalid at metadata_resource' '
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" "{\"fingerprint\":\"x\",\"itemz\":[]}" &&
	expect 400 invalid && message_has "metadata_resource"
'

# --- the guest metadata server ---

md() {
	curl -sS -H "Metadata-Flavor: Google" -D headers -o value -w "%{http_code}" \
		"http://127.0.0.1:$GCE_MPORT/computeMetadata/v1/instance/attributes/$1"
}

test_expect_success 'the metadata server wants Metadata-Flavor: Google' '
	gce_ctl POST metadata-instance "{\"zone\":\"us-central1-a\",\"name\":\"cvm-ok\"}" &&
	test "$(curl -sS -o /dev/null -w "%{http_code}" "http://127.0.0.1:$GCE_MPORT/computeMetadata/v1/instance/attributes/cvmctl-certs")" = 403 &&
	test "$(md cvmctl-certs)" = 200 && test "$(cat value)" = v1 &&
	grep -qi "^Metadata-Flavor: Google" headers &&
	grep -qi "^ETag: [0-9a-f]\{16\}" headers &&
	test "$(md nope)" = 404
'

test_expect_success 'wait_for_change returns once setMetadata changed the value' '
	md cvmctl-certs >/dev/null &&
	ETAG=$(sed -n "s/^[Ee][Tt]ag: \([0-9a-f]*\).*/\1/p" headers) &&
	{ curl -sS -H "Metadata-Flavor: Google" -D headers2 -o value2 \
		"http://127.0.0.1:$GCE_MPORT/computeMetadata/v1/instance/attributes/cvmctl-certs?wait_for_change=true&last_etag=$ETAG&timeout_sec=120" & } &&
	WAITER=$! &&
	test_wait_for 60 "gce_ctl GET inventory | jq -e \".metadata_waiters == 1\" >/dev/null" &&
	! test -s value2 &&
	call "$TOK" GET "$Z/instances/cvm-ok" && FP=$(jq -r .metadata.fingerprint resp.json) &&
	call "$TOK" POST "$Z/instances/cvm-ok/setMetadata" \
		"{\"fingerprint\":\"$FP\",\"items\":[{\"key\":\"cvmctl-certs\",\"value\":\"v2\"}]}" && expect 200 &&
	wait "$WAITER" && test "$(cat value2)" = v2 &&
	! grep -qi "ETag: $ETAG" headers2
'

test_expect_success 'wait_for_change with an old ETag answers at once' '
	curl -sS -H "Metadata-Flavor: Google" -o value3 \
		"http://127.0.0.1:$GCE_MPORT/computeMetadata/v1/instance/attributes/cvmctl-certs?wait_for_change=true&last_etag=0123456789abcdef" &&
	test "$(cat value3)" = v2
'

test_expect_success 'the metadata server hands out a token that Compute accepts' '
	curl -sS -H "Metadata-Flavor: Google" -o mdtok.json \
		"http://127.0.0.1:$GCE_MPORT/computeMetadata/v1/instance/service-accounts/default/token" &&
	call "$(jq -r .access_token mdtok.json)" GET "$Z/instances/cvm-ok" && expect 200
'

test_expect_success 'an STS token exchange (external_account) gives a token Compute accepts' '
	curl -sS --cacert "$GCE_CA" -o sts.json \
		--data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
		--data-urlencode audience=//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x \
		--data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt \
		--data-urlencode subject_token=some-oidc-token \
		--data-urlencode requested_token_type=urn:ietf:params:oauth:token-type:access_token \
		"https://127.0.0.1:$GCE_PORT/sts/v1/token" &&
	jq -e ".token_type == \"Bearer\" and .issued_token_type == \"urn:ietf:params:oauth:token-type:access_token\"" sts.json &&
	call "$(jq -r .access_token sts.json)" GET "$Z/instances" && expect 200
'

# --- lists: paging and filters ---

test_expect_success 'five more instances (operations DONE at once)' '
	gce_ctl POST config "{\"polls_to_done\":0}" >/dev/null &&
	for n in 1 2 3 4 5; do
		call "$TOK" POST "$Z/instances" "$(body ".name = \"page-$n\" | .labels = {\"team\":\"b\",\"n\":\"$n\"}")" &&
		expect 200 && jq -e ".status == \"DONE\"" resp.json || return 1
	done
'

test_expect_success 'paging: maxResults 2 gives pages of 2, 2, 1 and a token while more' '
	F="labels.team+%3D+%22b%22" &&
	call "$TOK" GET "$Z/instances?filter=$F&maxResults=2" && expect 200 &&
	jq -r ".items[].name" resp.json >names && T=$(jq -r .nextPageToken resp.json) && test "$T" != null &&
	call "$TOK" GET "$Z/instances?filter=$F&maxResults=2&pageToken=$T" && expect 200 &&
	jq -r ".items[].name" resp.json >>names && T=$(jq -r .nextPageToken resp.json) && test "$T" != null &&
	call "$TOK" GET "$Z/instances?filter=$F&maxResults=2&pageToken=$T" && expect 200 &&
	jq -r ".items[].name" resp.json >>names && jq -e "has(\"nextPageToken\") | not" resp.json &&
	printf "page-%s\n" 1 2 3 4 5 >expect && test_cmp expect names
'

test_expect_success 'filters: AND, name, parentheses, %20 and + for spaces, != and :' '
	call "$TOK" GET "$Z/instances?filter=labels.team%20%3D%20%22b%22%20AND%20labels.n%20%3D%20%223%22" &&
	test "$(jq -r "[.items[].name] | join(\",\")" resp.json)" = page-3 &&
	call "$TOK" GET "$Z/instances?filter=(labels.team+=+%22b%22)+(name+=+%22page-4%22)" &&
	test "$(jq -r "[.items[].name] | join(\",\")" resp.json)" = page-4 &&
	call "$TOK" GET "$Z/instances?filter=labels.team+!%3D+%22b%22" &&
	test "$(jq -r "[.items[].name] | join(\",\")" resp.json)" = cvm-custom,cvm-ok &&
	call "$TOK" GET "$Z/instances?filter=labels.cvmctl-id:*" &&
	test "$(jq -r "[.items[].name] | join(\",\")" resp.json)" = cvm-custom,cvm-ok
'

test_expect_success 'a list with no match has no items field' '
	call "$TOK" GET "$Z/instances?filter=labels.team+%3D+%22nobody%22" && expect 200 &&
	jq -e "(has(\"items\") | not) and .kind == \"compute#instanceList\"" resp.json
'

test_expect_success 'a bad filter, maxResults or pageToken: 400 invalid' '
	call "$TOK" GET "$Z/instances?filter=labels.team+%3D" && expect 400 invalid && message_has "filter" &&
	call "$TOK" GET "$Z/instances?maxResults=501" && expect 400 invalid && message_has "maxResults" &&
	call "$TOK" GET "$Z/instances?pageToken=garbage" && expect 400 invalid && message_has "pageToken"
'

test_expect_success 'an injected failure of list page 2 fails page 2 only' '
	gce_ctl POST faults "{\"kind\":\"list_page\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"page\":2,\"status\":503}" &&
	call "$TOK" GET "$Z/instances?maxResults=2" && expect 200 && T=$(jq -r .nextPageToken resp.json) &&
	call "$TOK" GET "$Z/instances?maxResults=2&pageToken=$T" && expect 503 backendError &&
	call "$TOK" GET "$Z/instances?maxResults=2&pageToken=$T" && expect 200
'

# --- faults ---

test_expect_success 'insert committed, answer dropped: the retry with the requestId gets the same operation' '
	gce_ctl POST faults "{\"kind\":\"drop\",\"method\":\"POST\",\"path\":\"/compute/v1/projects/*/zones/*/instances\"}" &&
	RID=22222222-3333-4444-8555-666666666666 &&
	test_expect_code 52 curl -sS --cacert "$GCE_CA" -H "Authorization: Bearer $TOK" -H "Content-Type: application/json" \
		--data-binary "$(body ".name = \"dropped\" | .labels = {\"cvmctl-id\":\"dropped\"}")" \
		"$GCE_URL/$Z/instances?requestId=$RID" &&
	test "$(gce_count_label cvmctl-id dropped)" = 1 &&
	call "$TOK" POST "$Z/instances?requestId=$RID" "$(body ".name = \"dropped\" | .labels = {\"cvmctl-id\":\"dropped\"}")" &&
	expect 200 && test "$(jq -r .clientOperationId resp.json)" = $RID &&
	test "$(gce_count_label cvmctl-id dropped)" = 1 &&
	gce_ctl GET inventory | jq -e --arg r $RID ".instances[] | select(.name == \"dropped\") | .requestId == \$r" &&
	gce_ctl GET requests | jq -e "[.requests[] | select(.dropped)] | length == 1"
'

test_expect_success 'an injected QUOTA_EXCEEDED: the operation is DONE with error.errors[], no instance' '
	gce_ctl POST faults "{\"kind\":\"op_error\",\"method\":\"POST\",\"path\":\"*/instances\",\"op_error\":\"QUOTA_EXCEEDED\"}" &&
	call "$TOK" POST "$Z/instances" "$(body ".name = \"quota\"")" && expect 200 &&
	jq -e ".status == \"DONE\" and .error.errors[0].code == \"QUOTA_EXCEEDED\" and .httpErrorStatusCode == 403" resp.json &&
	call "$TOK" GET "$Z/instances/quota" && expect 404 notFound
'

test_expect_success 'an injected ZONE_RESOURCE_POOL_EXHAUSTED likewise' '
	gce_ctl POST faults "{\"kind\":\"op_error\",\"path\":\"*/instances\",\"op_error\":\"ZONE_RESOURCE_POOL_EXHAUSTED\"}" &&
	call "$TOK" POST "$Z/instances" "$(body ".name = \"stockout\"")" && expect 200 &&
	jq -e ".error.errors[0].code == \"ZONE_RESOURCE_POOL_EXHAUSTED\"" resp.json
'

test_expect_success 'an injected 403 rateLimitExceeded, and 429 with Retry-After' '
	gce_ctl POST faults "{\"kind\":\"rate_limit\",\"method\":\"GET\",\"path\":\"*/instances\"}" &&
	call "$TOK" GET "$Z/instances" && expect 403 rateLimitExceeded &&
	jq -e ".error.errors[0].domain == \"usageLimits\"" resp.json &&
	gce_ctl POST faults "{\"kind\":\"status\",\"method\":\"GET\",\"path\":\"*/instances\",\"status\":429,\"retry_after\":7}" &&
	curl -sS --cacert "$GCE_CA" -H "Authorization: Bearer $TOK" -D headers -o resp.json -w "%{http_code}" "$GCE_URL/$Z/instances" >status &&
	expect 429 rateLimitExceeded && grep -qi "^Retry-After: 7" headers &&
	call "$TOK" GET "$Z/instances" && expect 200
'

test_expect_success 'an echo fault quotes the request body back in its error' '
	gce_ctl POST faults "{\"kind\":\"status\",\"status\":400,\"echo\":true,\"method\":\"POST\",\"path\":\"*/instances\"}" &&
	call "$TOK" POST "$Z/instances" "$(body ".name = \"echoed\" | .metadata.items[0].value = \"SECRET-MARKER\"")" &&
	expect 400 invalid && message_has "SECRET-MARKER" &&
	call "$TOK" GET "$Z/instances/echoed" && expect 404 notFound
'

test_expect_success 'the per-second rate limit answers 403 rateLimitExceeded beyond it' '
	gce_ctl POST config "{\"rate_limit_per_s\":1}" >/dev/null &&
	for i in 1 2 3 4 5 6 7 8 9 10; do call "$TOK" GET "$Z/instances/cvm-ok"; cat status; done >codes &&
	grep -q 403 codes &&
	gce_ctl POST config "{\"rate_limit_per_s\":0}" >/dev/null
'

# --- the control clock, delete, start ---

test_expect_success 'with clock latency, the operation waits for the control clock, not for polls' '
	gce_ctl POST config "{\"polls_to_done\":0,\"op_latency_clock_ms\":5000}" >/dev/null &&
	call "$TOK" POST "$Z/instances" "$(body ".name = \"clocked\"")" && CLOCKED=$(jq -r .name resp.json) &&
	for i in 1 2 3; do call "$TOK" GET "$Z/operations/$CLOCKED" || return 1; done &&
	jq -e ".status == \"RUNNING\"" resp.json &&
	gce_ctl POST clock "{\"advance_ms\":4999}" && call "$TOK" GET "$Z/operations/$CLOCKED" &&
	jq -e ".status == \"RUNNING\"" resp.json &&
	gce_ctl POST clock "{\"advance_ms\":1}" && call "$TOK" GET "$Z/operations/$CLOCKED" &&
	jq -e ".status == \"DONE\"" resp.json &&
	gce_ctl POST config "{\"polls_to_done\":2,\"op_latency_clock_ms\":0}" >/dev/null
'

test_expect_success 'with wall-clock latency (only when configured), wait blocks until DONE' '
	gce_ctl POST config "{\"polls_to_done\":0,\"op_latency_ms\":300,\"wait_max_ms\":60000}" >/dev/null &&
	call "$TOK" POST "$Z/instances" "$(body ".name = \"walled\"")" && expect 200 &&
	jq -e ".status == \"RUNNING\"" resp.json && WOP=$(jq -r .name resp.json) &&
	call "$TOK" POST "$Z/operations/$WOP/wait" && expect 200 && jq -e ".status == \"DONE\"" resp.json &&
	call "$TOK" GET "$Z/instances/walled" && jq -e ".status == \"RUNNING\"" resp.json &&
	gce_ctl POST config "{\"polls_to_done\":2,\"op_latency_ms\":0,\"wait_max_ms\":2000}" >/dev/null
'

test_expect_success 'tokens last token_lifetime_s: a 1-second token is refused once it is over' '
	gce_ctl POST config "{\"token_lifetime_s\":1}" >/dev/null &&
	token_grant "$(gce_jwt "$GCE_SA")" && test "$(cat status)" = 200 &&
	jq -e ".expires_in == 1" resp.json && SHORT=$(jq -r .access_token resp.json) &&
	sleep 2 &&
	call "$SHORT" GET "$Z/instances" && expect 401 authError &&
	gce_ctl POST config "{\"token_lifetime_s\":3600}" >/dev/null
'

test_expect_success 'delete: STOPPING, then gone; a second delete is 404' '
	call "$TOK" DELETE "$Z/instances/page-1" && expect 200 && DOP=$(jq -r .name resp.json) &&
	jq -e ".operationType == \"delete\"" resp.json &&
	call "$TOK" GET "$Z/instances/page-1" && jq -e ".status == \"STOPPING\"" resp.json &&
	call "$TOK" POST "$Z/operations/$DOP/wait" && call "$TOK" POST "$Z/operations/$DOP/wait" &&
	jq -e ".status == \"DONE\"" resp.json &&
	call "$TOK" GET "$Z/instances/page-1" && expect 404 notFound &&
	call "$TOK" DELETE "$Z/instances/page-1" && expect 404 notFound
'

test_expect_success 'an instance TERMINATED behind the back starts again' '
	gce_ctl POST instances/us-central1-a/page-2/status "{\"status\":\"TERMINATED\"}" >/dev/null &&
	call "$TOK" GET "$Z/instances/page-2" && jq -e ".status == \"TERMINATED\"" resp.json &&
	call "$TOK" POST "$Z/instances/page-2/start" && expect 200 && SOP=$(jq -r .name resp.json) &&
	jq -e ".operationType == \"start\"" resp.json &&
	call "$TOK" GET "$Z/operations/$SOP" && call "$TOK" GET "$Z/operations/$SOP" &&
	call "$TOK" GET "$Z/instances/page-2" && jq -e ".status == \"RUNNING\"" resp.json
'

test_expect_success 'a foreign instance and one deleted behind the back show in the lists' '
	gce_ctl POST instances "{\"zone\":\"us-central1-a\",\"name\":\"theirs\",\"labels\":{\"owner\":\"bob\"}}" >/dev/null &&
	call "$TOK" GET "$Z/instances?filter=labels.owner+%3D+%22bob%22" && test "$(jq -r ".items[0].status" resp.json)" = RUNNING &&
	gce_ctl DELETE instances/us-central1-a/page-3 &&
	call "$TOK" GET "$Z/instances/page-3" && expect 404 notFound
'

# --- firewalls ---

test_expect_success 'firewalls: insert, duplicate 409, get, list, delete' '
	FW="{\"name\":\"cvmctl-agent\",\"network\":\"global/networks/default\",\"direction\":\"INGRESS\",\"allowed\":[{\"IPProtocol\":\"tcp\",\"ports\":[\"7001\"]}],\"sourceRanges\":[\"0.0.0.0/0\"],\"targetTags\":[\"cvm\"]}" &&
	call "$TOK" POST projects/cvmctl-test/global/firewalls "$FW" && expect 200 && FOP=$(jq -r .name resp.json) &&
	jq -e ".selfLink | contains(\"/global/operations/\")" resp.json &&
	call "$TOK" GET "projects/cvmctl-test/global/operations/$FOP" && expect 200 &&
	call "$TOK" POST projects/cvmctl-test/global/firewalls "$FW" && expect 409 alreadyExists &&
	call "$TOK" GET projects/cvmctl-test/global/firewalls/cvmctl-agent && expect 200 &&
	jq -e ".allowed[0].ports == [\"7001\"] and .priority == 1000" resp.json &&
	call "$TOK" GET projects/cvmctl-test/global/firewalls && jq -e "[.items[].name] == [\"cvmctl-agent\"]" resp.json &&
	call "$TOK" POST projects/cvmctl-test/global/firewalls "{\"name\":\"x\",\"allowed\":[{\"IPProtocol\":\"tcp\"}],\"direction\":\"SIDEWAYS\"}" &&
	expect 400 invalid &&
	call "$TOK" PATCH projects/cvmctl-test/global/firewalls/cvmctl-agent "{\"sourceRanges\":[\"10.0.0.0/8\"]}" &&
	expect 200 && jq -e ".operationType == \"patch\"" resp.json &&
	call "$TOK" GET projects/cvmctl-test/global/firewalls/cvmctl-agent &&
	jq -e ".sourceRanges == [\"10.0.0.0/8\"] and .targetTags == [\"cvm\"]" resp.json &&
	call "$TOK" DELETE projects/cvmctl-test/global/firewalls/cvmctl-agent && expect 200 &&
	call "$TOK" GET projects/cvmctl-test/global/firewalls/cvmctl-agent && expect 404 notFound
'

# --- the log and the inventory ---

test_expect_success 'the request log says which bearer each call had, and holds no token' '
	gce_ctl GET requests >log.json &&
	for b in none expired invalid valid jwt; do
		jq -e --arg b $b "[.requests[] | select(.bearer == \$b)] | length > 0" log.json >/dev/null ||
			{ echo "no $b entry"; return 1; }
	done &&
	! grep -F "$TOK" log.json "$GCE_DIR/emu.log" &&
	! grep -F "$OLD" log.json "$GCE_DIR/emu.log"
'

test_expect_success 'the inventory lists zone, name, status, labels, metadata and fingerprint, machine type' '
	gce_ctl GET inventory >inv.json &&
	jq -e ".instances[] | select(.name == \"cvm-ok\") |
		.zone == \"us-central1-a\" and .status == \"RUNNING\" and .labels.team == \"a\" and
		.machineType == \"n2d-standard-2\" and (.metadata.fingerprint | length > 0) and
		.metadata.items[0].key == \"cvmctl-certs\" and .requestId == \"11111111-2222-4333-8444-555555555555\" and
		(.disks[0].interface == \"NVME\") and (.networkInterfaces[0].accessConfigs[0].natIP | length > 0)" inv.json
'

test_expect_success 'SIGTERM: the emulator exits 0' '
	kill "$GCE_PID" && wait "$GCE_PID" && GCE_PID=
'

test_expect_success 'TLS is checked: another CA, or a certificate for another name, is refused' '
	gce_start "$TRASH/gce" &&
	test_expect_code 60 curl -sS --cacert "$GCE_DIR/other.pem" -o /dev/null "$GCE_URL/$Z/instances" &&
	gce_stop &&
	GCE_TLS_CERT=$GCE_DIR/wrong-host.pem GCE_TLS_KEY=$GCE_DIR/wrong-host.key gce_start "$TRASH/gce" &&
	test_expect_code 60 curl -sS --cacert "$GCE_CA" -o /dev/null "$GCE_URL/$Z/instances" &&
	gce_stop
'

test_done
