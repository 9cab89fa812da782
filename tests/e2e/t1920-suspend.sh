#!/bin/bash
# Suspend and resume, and deletionPolicy. A CVM suspended (spec.suspend:
# true, or cvmctl suspend) gets no action: not created, not started when
# found shut off, not pruned when its spec is removed; spec.suspend is
# not in the spec hash (the resource's marker and the record's hash do not
# move); its certificate is still renewed when due (the clock moved with
# CVMCTL_TEST_NOW). cvmctl resume lets the next pass act again. A spec
# with deletionPolicy: Orphan, removed, retires the record (Inactive) and
# leaves the domain standing.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

T0=$(( $(date +%s) / 3600 * 3600 ))

at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}

# (record_field reads false as "": jq's // takes false for absent)
suspended() {
	cvmctl list -o json | jq -r --arg n "$1" ".[] | select(.name == \$n and .status != \"Inactive\") | .suspended"
}

domstate() {
	virsh -c "$URI_a" domstate "$1" | sed "/^$/d"
}

marker() {
	virsh -c "$URI_a" dumpxml "$1" | sed -n "s|.*<cvm:spec-hash>\(.*\)</cvm:spec-hash>.*|\1|p"
}

test_expect_success 'three CVMs, web-3 suspended from the start: it is not created' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 48 "$URI_a" &&
	write_cvm specs/web-1.yaml web-1 &&
	printf "  certificates: {validity: 2h, renewBefore: 1h}\n" >>specs/web-1.yaml &&
	write_cvm specs/web-2.yaml web-2 &&
	printf "  deletionPolicy: Orphan\n" >>specs/web-2.yaml &&
	write_cvm specs/web-3.yaml web-3 &&
	printf "  suspend: true\n" >>specs/web-3.yaml &&
	cvmctl validate -f specs &&
	at $T0 cvmctl plan -f specs -o json >plan.json &&
	test "$(jq -r ".actions[] | select(.name == \"web-3\") | .action" plan.json)" = noop &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	grep "2 created" out &&
	virsh_names "$URI_a" | grep -v -x test >names &&
	printf "web-1\nweb-2\n" >expect && test_cmp expect names &&
	! cvmctl list -o json | jq -r ".[].name" | grep -x web-3 &&
	test "$(record_field web-2 deletionPolicy)" = Orphan &&
	test "$(record_field web-1 deletionPolicy)" = Delete
'

test_expect_success 'spec.suspend is not in the spec hash: adding it moves neither hash nor marker' '
	h=$(record_field web-1 specHash) && m=$(marker web-1) && test "$h" = "$m" &&
	printf "  suspend: true\n" >>specs/web-1.yaml &&
	at $T0 cvmctl plan -f specs -o json >plan.json &&
	jq -r ".actions[] | select(.name == \"web-1\") | .action" plan.json >action &&
	echo noop >expect && test_cmp expect action &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	test "$(record_field web-1 specHash)" = "$h" && test "$(marker web-1)" = "$h" &&
	cvmctl get web-1 -o json | jq -r ".conditions[] | select(.type == \"Synced\") | .reason" >reason &&
	echo Suspended >expect && test_cmp expect reason
'

test_expect_success 'suspended and found shut off: it is not started' '
	virsh -q -c "$URI_a" destroy web-1 &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	! grep "^started" out &&
	test "$(domstate web-1)" = "shut off"
'

test_expect_success 'suspended and its spec removed: it is not pruned' '
	mv specs/web-1.yaml web-1.yaml.away &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	! grep "^deleted" out &&
	test "$(record_field web-1 status)" != Inactive &&
	virsh_names "$URI_a" | grep -x web-1 &&
	test "$(suspended web-1)" = true &&
	mv web-1.yaml.away specs/web-1.yaml
'

test_expect_success 'its certificate is still renewed while it is suspended' '
	at $T0 cvmctl cert list web-1 -o json | jq -r ".[] | select(.status == \"valid\") | .serial" >before &&
	virsh -q -c "$URI_a" start web-1 &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	grep "^rotated   web-1 " out &&
	at $((T0 + 3601)) cvmctl cert list web-1 -o json | jq -r ".[] | select(.status == \"valid\") | .serial" >after &&
	! cmp -s before after
'

test_expect_success 'cvmctl suspend holds a CVM whose spec does not say so; resume lets the pass act' '
	sed -i "/suspend: true/d" specs/web-1.yaml &&
	cvmctl suspend web-1 >out && grep "^suspended web-1 " out &&
	test "$(suspended web-1)" = true &&
	virsh -q -c "$URI_a" destroy web-1 &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	! grep "^started" out && test "$(domstate web-1)" = "shut off" &&
	cvmctl resume web-1 >out && grep "^resumed web-1 " out &&
	test "$(suspended web-1)" = false &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	grep "^started   web-1 " out && test "$(domstate web-1)" = running &&
	cvmctl get web-1 -o json | jq -r ".history[].event" >events &&
	grep -x suspended events && grep -x resumed events
'

test_expect_success 'suspend and resume: an unknown name is exit 1, usage is exit 3' '
	test_expect_code 1 cvmctl suspend nope 2>err && grep "nope" err &&
	test_expect_code 3 cvmctl suspend 2>err &&
	test_expect_code 3 cvmctl resume a b 2>err
'

test_expect_success 'deletionPolicy Orphan: removing the spec retires the record, the domain stays' '
	id2=$(record_field web-2 id) &&
	rm specs/web-2.yaml &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	grep "^orphaned  web-2 *$id2 " out &&
	test "$(record_field web-2 status)" = Inactive &&
	virsh_names "$URI_a" | grep -x web-2 &&
	test "$(domstate web-2)" = running &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	! grep "web-2" out &&
	test "$(domstate web-2)" = running
'

test_expect_success 'suspended in a spec since removed: resume forgets it, and the next pass prunes it' '
	write_cvm specs/web-4.yaml web-4 &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	grep "^created   web-4 " out &&
	printf "  suspend: true\n" >>specs/web-4.yaml &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	test "$(suspended web-4)" = true &&
	rm specs/web-4.yaml &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	! grep "^deleted" out && test "$(record_field web-4 status)" = Running &&
	cvmctl resume web-4 >out && grep "^resumed web-4 " out &&
	test "$(suspended web-4)" = false &&
	at $((T0 + 3601)) cvmctl reconcile -f specs --once >out &&
	grep "^deleted   web-4 " out &&
	test "$(record_field web-4 status)" = Inactive
'

test_expect_success 'a deletionPolicy that is neither Delete nor Orphan is an error with its place' '
	mkdir bad && cp specs/providers.yaml bad/ && write_cvm bad/x.yaml x &&
	printf "  deletionPolicy: Keep\n" >>bad/x.yaml &&
	test_expect_code 3 cvmctl validate -f bad 2>err &&
	grep "x.yaml:[0-9]*:[0-9]*: spec.deletionPolicy: unknown deletionPolicy .Keep. (expected Delete or Orphan)" err
'

test_done
