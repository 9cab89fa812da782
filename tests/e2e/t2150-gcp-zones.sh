#!/bin/bash
# Zones on GCP, against the emulator: new CVMs are spread over the
# Provider's zones; every zone that holds a record is listed even when the
# Provider no longer names it; a zone that cannot be listed is Unknown
# alone: its CVMs are left as they are, and new CVMs go to the zones that
# answer.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

test_expect_success 'four CVMs over two zones: two in each' '
	gcp_emu_start &&
	write_gcp_provider specs/providers.yaml gce zones="us-central1-a, us-central1-b" &&
	for n in z-1 z-2 z-3 z-4; do write_gcp_cvm specs/$n.yaml $n || return 1; done &&
	cvmctl reconcile -f specs --once >out &&
	test "$(gce_count_instances us-central1-a)" = 2 &&
	test "$(gce_count_instances us-central1-b)" = 2 &&
	for n in z-1 z-2 z-3 z-4; do
		test "$(record_field $n placement)" = "$(inst_field $n .zone)" || return 1
	done
'

test_expect_success 'a zone dropped from the Provider is still listed while it holds records' '
	write_gcp_provider specs/providers.yaml gce zones="us-central1-a" &&
	gce_ctl DELETE requests >/dev/null &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "0 created, .* 4 up to date; 0 failed, 0 unknown" &&
	gce_ctl GET requests | jq -r ".requests[] | select(.method == \"GET\") | .path" >gets &&
	grep "/zones/us-central1-b/instances$" gets &&
	mutating_calls >calls && test_must_be_empty calls
'

test_expect_code 1 'zone b cannot be listed: its CVMs are Unknown, a new CVM goes to zone c' '
	write_gcp_provider specs/providers.yaml gce zones="us-central1-b, us-central1-c" &&
	ctl POST faults "{\"kind\":\"status\",\"method\":\"GET\",\"path\":\"/compute/v1/projects/*/zones/us-central1-b/instances\",\"status\":503,\"times\":-1}" &&
	write_gcp_cvm specs/z-5.yaml z-5 &&
	rm specs/z-4.yaml &&
	cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success '... and nothing in zone b was touched' '
	grep "zone us-central1-b of provider gce cannot be observed" err &&
	test "$(inst_field z-5 .zone)" = us-central1-c &&
	test "$(gce_count_instances us-central1-b)" = 2 &&
	b=$(inv | jq -r "[.instances[] | select(.zone == \"us-central1-b\") | .name] | sort | join(\" \")") &&
	for n in $b; do grep "$n is Unknown this pass" err || return 1; done &&
	ctl DELETE faults &&
	cvmctl reconcile -f specs --once >out &&
	test "$(inv | jq "[.instances[] | select(.name == \"z-4\")] | length")" = 0
'

test_done
