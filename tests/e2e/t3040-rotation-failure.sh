#!/bin/bash
# A rotation that cannot be published fails on that CVM alone: the other
# CVMs are rotated in the same pass, the failure is recorded on the CVM
# (lastError, history) and retried with backoff, and once the channel works
# again the recorded certificate is published and the error cleared. Driven
# by a clock the test sets (CVMCTL_TEST_NOW), never by sleeping.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

T0=$(( $(date +%s) / 3600 * 3600 ))
R=$((T0 + 7200 - 3600)) # notAfter - renewBefore of the first certificates

at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}
share_serial() { cert_serial "$(share_of "$1")/certs/cert.pem"; }
failures() { cvmctl get "$1" -o json | jq "[.history[] | select(.event == \"failed\")] | length"; }
last_error() { cvmctl get "$1" -o json | jq -r ".lastError"; }

test_expect_success 'two CVMs with validity 2h, renewBefore 1h, created at T0' '
	libvirtd_start a &&
	write_provider "$URI_a" &&
	write_cvm one 2h 1h &&
	write_cvm two 2h 1h &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	grep "2 created, .*0 failed" out &&
	s1=$(share_serial one) && s2=$(share_serial two)
'

test_expect_success 'one CVM cannot be published to: its certs share is not a directory of ours' '
	d=$(share_of one)/certs &&
	mv "$d" "$TRASH/certs-one" &&
	ln -s "$TRASH/elsewhere" "$d" && mkdir "$TRASH/elsewhere"
'

test_expect_code 1 'at notAfter - renewBefore + 1 the pass fails for that CVM only' '
	at $((R + 1)) cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success 'the other CVM was rotated in the same pass' '
	test "$(share_serial two)" != "$s2" &&
	check_share two dl2
'

test_expect_success 'the failure is recorded on the failing CVM, with its new certificate on record' '
	grep -q "one.*certificate rotation failed" err &&
	last_error one >e && grep -q "certificate rotation failed" e &&
	test "$(failures one)" = 1 &&
	test "$(failures two)" = 0 &&
	last_error two >e2 && echo null >expect && test_cmp expect e2 &&
	at $((R + 1)) list_json one | jq -r "[.[] | select(.status == \"valid\")] | length" >n &&
	echo 1 >expect && test_cmp expect n &&
	test -z "$(ls "$TRASH/elsewhere")"
'

test_expect_success 'within the backoff the next pass does not retry' '
	at $((R + 30)) cvmctl reconcile -f specs --once >out 2>err &&
	test "$(failures one)" = 1
'

test_expect_success 'after the backoff it retries, and fails again while the channel is broken' '
	test_expect_code 1 at $((R + 62)) cvmctl reconcile -f specs --once >out 2>err &&
	test "$(failures one)" = 2
'

test_expect_success 'with the channel repaired, the recorded certificate is published and the error cleared' '
	rm "$(share_of one)/certs" && mv "$TRASH/certs-one" "$(share_of one)/certs" &&
	at $((R + 62 + 121)) cvmctl reconcile -f specs --once >out &&
	test "$(share_serial one)" != "$s1" &&
	check_share one dl1 &&
	last_error one >e && echo null >expect && test_cmp expect e &&
	cvmctl get one -o json | jq -r ".history[].event" | grep -c "cert-published" >n &&
	echo 1 >expect && test_cmp expect n
'

test_expect_success 'no private key in any output' '
	check_no_secrets
'

test_done
