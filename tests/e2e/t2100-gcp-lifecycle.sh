#!/bin/bash
# GCP SEV-SNP CVMs against the Compute Engine emulator (tests/emulators/gce),
# asserted against the emulator's own inventory: created to Running with a
# URL, left alone by a second pass, recreated under the same id when deleted
# behind cvmctl's back, started when found TERMINATED, deleted when the spec
# goes (record Inactive), a vcpus change refused without --allow-replace,
# and instances without our labels or with another installation's never
# touched.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

test_expect_success 'an emulator and a tree of two gcp CVMs' '
	gcp_emu_start &&
	write_gcp_provider specs/providers.yaml gce &&
	write_gcp_cvm specs/web-1.yaml web-1 &&
	write_gcp_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=32 &&
	cvmctl validate -f specs
'

test_expect_success 'plan knows the gcp backend and changes nothing' '
	cvmctl plan -f specs >plan.out 2>plan.err &&
	! grep "not built" plan.out plan.err &&
	grep "^  + create   web-1  (new CVM)$" plan.out &&
	test "$(inv | jq ".instances | length")" = 0 &&
	test -z "$(mutating_calls)"
'

test_expect_success 'reconcile creates both as SEV-SNP N2D instances, Running with a URL' '
	cvmctl reconcile -f specs --once >out &&
	echo "default: 2 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	test "$(inst_field web-1 .status)" = RUNNING &&
	test "$(inst_field web-1 .machineType)" = n2d-standard-2 &&
	test "$(inst_field web-2 .machineType)" = n2d-highmem-4 &&
	test "$(inst_field web-1 .resource.confidentialInstanceConfig.confidentialInstanceType)" = SEV_SNP &&
	test "$(inst_field web-1 .resource.minCpuPlatform)" = "AMD Milan" &&
	test "$(inst_field web-1 .resource.scheduling.onHostMaintenance)" = TERMINATE &&
	test "$(inst_field web-1 ".disks[0].interface")" = NVME &&
	test "$(inst_field web-1 ".labels[\"cvmctl-id\"]")" = "$(record_field web-1 id)" &&
	test "$(inst_field web-1 ".labels[\"managed-by\"]")" = cvmctl &&
	nat=$(inst_field web-1 ".networkInterfaces[0].accessConfigs[0].natIP") &&
	test -n "$nat" && test "$(record_field web-1 url)" = "$nat:7002" &&
	test "$(record_field web-1 status)" = Running
'

test_expect_success 'the requestId of each insert is the attempt the intent recorded' '
	for n in web-1 web-2; do
		test "$(inst_field $n .requestId)" = "$(record_attempt $n)" &&
		test "$(inst_field $n ".labels[\"cvmctl-attempt\"]")" = "$(record_attempt $n)" || return 1
	done
'

test_expect_success 'a second pass is idempotent: no mutating call reaches the emulator' '
	ctl DELETE requests &&
	cvmctl reconcile -f specs --once >out &&
	echo "default: 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 2 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	mutating_calls >calls && test_must_be_empty calls &&
	test "$(inv | jq ".instances | length")" = 2
'

test_expect_success 'plan --detailed-exitcode finds nothing, and list --refresh observes both Running with their URLs' '
	cvmctl plan -f specs --detailed-exitcode >plan.out &&
	cvmctl list --refresh -o json >live.json &&
	test "$(jq -r "[.[] | select(.status == \"Running\")] | length" live.json)" = 2 &&
	test "$(jq -r ".[] | select(.name == \"web-2\") | .url" live.json)" = \
		"$(inst_field web-2 ".networkInterfaces[0].accessConfigs[0].natIP"):7002"
'

test_expect_code 2 'plan --detailed-exitcode sees an instance deleted behind our back' '
	ctl DELETE instances/us-central1-a/web-1 &&
	cvmctl plan -f specs --detailed-exitcode >plan.out
'

test_expect_success 'an instance deleted behind our back is recreated under the same id' '
	id=$(record_field web-1 id) &&
	cvmctl reconcile -f specs --once >out &&
	grep "^recreated web-1 .*$id" out &&
	test "$(gce_count_label cvmctl-id "$id")" = 1 &&
	test "$(inst_field web-1 .status)" = RUNNING &&
	test "$(record_field web-1 id)" = "$id"
'

test_expect_success 'a TERMINATED instance is started, not recreated' '
	ctl POST instances/us-central1-a/web-2/status "{\"status\":\"TERMINATED\"}" &&
	gid=$(inst_field web-2 .id) &&
	ctl DELETE requests &&
	cvmctl reconcile -f specs --once >out &&
	grep "^started   web-2" out &&
	test "$(inst_field web-2 .status)" = RUNNING &&
	test "$(inst_field web-2 .id)" = "$gid" &&
	mutating_calls >calls &&
	grep -c "^POST .*/instances/web-2/start$" calls >n && echo 1 >expect && test_cmp expect n &&
	! grep "instances?requestId" calls
'

test_expect_success 'instances without our labels or of another installation are never touched' '
	ctl POST instances "{\"zone\":\"us-central1-a\",\"name\":\"foreign-1\"}" &&
	ctl POST instances "{\"zone\":\"us-central1-a\",\"name\":\"theirs-1\",\"labels\":{\"managed-by\":\"cvmctl\",\"cvmctl-id\":\"11111111-2222-4333-8444-555555555555\",\"cvmctl-installation\":\"99999999-2222-4333-8444-555555555555\",\"cvmctl-scope\":\"default\"}}" &&
	ctl DELETE requests &&
	cvmctl reconcile -f specs --once >out &&
	mutating_calls >calls && test_must_be_empty calls &&
	test "$(inst_field foreign-1 .status)" = RUNNING &&
	test "$(inst_field theirs-1 .status)" = RUNNING
'

test_expect_success 'a spec named like a foreign instance fails that CVM and leaves the instance alone' '
	write_gcp_cvm specs/foreign-1.yaml foreign-1 &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "instance foreign-1 in zone us-central1-a is not this CVM.s (it has no cvmctl labels); it is left alone" err &&
	test "$(inst_field foreign-1 ".labels[\"managed-by\"]")" = null &&
	test "$(record_field foreign-1 status)" = Failed &&
	rm specs/foreign-1.yaml &&
	cvmctl reconcile -f specs --once >out 2>err &&
	test "$(inst_field foreign-1 .status)" = RUNNING &&
	test "$(record_field foreign-1 status)" = Inactive
'

test_expect_success 'a label change is an update in place: labels and markers rewritten, every other metadata key kept' '
	gid=$(inst_field web-2 .id) &&
	sed -i "s|^metadata: {name: web-2}$|metadata: {name: web-2, labels: {team: data}}|" specs/web-2.yaml &&
	cvmctl plan -f specs >plan.out &&
	grep "^  ~ update   web-2 " plan.out &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f specs --once >out &&
	grep "^updated   web-2" out &&
	test "$(inst_field web-2 ".labels.team")" = data &&
	hash=$(record_field web-2 specHash) && test ${#hash} = 64 &&
	test "$(inst_field web-2 ".labels[\"cvmctl-spec\"]")" = "$(echo "$hash" | cut -c1-32)" &&
	test "$(inst_field web-2 ".metadata.items[] | select(.key == \"cvmctl-spec-hash\") | .value")" = "$hash" &&
	test "$(inst_field web-2 "[.metadata.items[].key] | join(\",\")")" = "user-data,cvmctl-delivery,cvmctl-spec-hash,cvmctl-scope" &&
	test "$(inst_field web-2 .id)" = "$gid" &&
	mutating_calls >calls && grep "/instances/web-2/setLabels$" calls &&
	cvmctl plan -f specs --detailed-exitcode
'

test_expect_code 4 'a vcpus change plans a replace and is refused without --allow-replace' '
	write_gcp_cvm specs/web-1.yaml web-1 vcpus=8 memoryGiB=32 &&
	cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success 'the refusal changed nothing; --allow-replace replaces it under the same id' '
	grep "replace" out err &&
	test "$(inst_field web-1 .machineType)" = n2d-standard-2 &&
	id=$(record_field web-1 id) &&
	cvmctl reconcile -f specs --once --allow-replace >out &&
	grep "^replaced  web-1" out &&
	test "$(inst_field web-1 .machineType)" = n2d-standard-8 &&
	test "$(gce_count_label cvmctl-id "$id")" = 1
'

test_expect_success 'spec removed: the instance is gone and the record Inactive' '
	id=$(record_field web-2 id) &&
	rm specs/web-2.yaml &&
	cvmctl reconcile -f specs --once >out &&
	grep "^deleted   web-2" out &&
	test "$(gce_count_label cvmctl-id "$id")" = 0 &&
	test "$(cvmctl list -o json | jq -r --arg id "$id" ".[] | select(.id == \$id) | .status")" = Inactive &&
	test "$(inst_field foreign-1 .status)" = RUNNING &&
	test "$(inst_field theirs-1 .status)" = RUNNING
'

test_done
