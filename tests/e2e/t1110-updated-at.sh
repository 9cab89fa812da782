#!/bin/bash
# updatedAt says when a record last changed: it moves with an update in
# place, a replace and a delete, and stays put through a pass that changes
# nothing. Driven by a clock the test sets (CVMCTL_TEST_NOW).

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

T0=1767225600 # 2026-01-01T00:00:00Z
at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
updated_at() { cvmctl get "$1" -o json | jq -r .updatedAt; }

test_expect_success 'a CVM created at T0 was last changed at T0' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	write_cvm specs/web.yaml web &&
	at $T0 cvmctl reconcile -f specs --once >out &&
	grep "1 created" out &&
	id=$(record_field web id) &&
	test "$(updated_at web)" = "$(iso $T0)" &&
	test "$(cvmctl get web -o json | jq -r .createdAt)" = "$(iso $T0)"
'

test_expect_success 'a pass that changes nothing leaves it' '
	at $((T0 + 100)) cvmctl reconcile -f specs --once >out &&
	grep "1 up to date; 0 failed" out &&
	test "$(updated_at web)" = "$(iso $T0)"
'

test_expect_success 'an update in place moves it' '
	cat >>specs/web.yaml <<-EOF &&
	  agent: {logLevel: debug}
	EOF
	at $((T0 + 200)) cvmctl reconcile -f specs --once >out &&
	grep "1 updated" out &&
	test "$(updated_at web)" = "$(iso $((T0 + 200)))" &&
	at $((T0 + 250)) cvmctl reconcile -f specs --once >out &&
	grep "1 up to date; 0 failed" out &&
	test "$(updated_at web)" = "$(iso $((T0 + 200)))"
'

test_expect_success 'a replace moves it; createdAt stays' '
	write_cvm specs/web.yaml web vcpus=4 &&
	at $((T0 + 300)) cvmctl reconcile -f specs --once --allow-replace >out &&
	grep "1 replaced" out &&
	test "$(record_field web id)" = "$id" &&
	test "$(updated_at web)" = "$(iso $((T0 + 300)))" &&
	test "$(cvmctl get web -o json | jq -r .createdAt)" = "$(iso $T0)"
'

test_expect_success 'a delete moves it: Inactive since then' '
	rm specs/web.yaml &&
	at $((T0 + 400)) cvmctl reconcile -f specs --once --allow-empty >out &&
	grep "1 deleted" out &&
	test "$(cvmctl get "$id" -o json | jq -r .status)" = Inactive &&
	test "$(updated_at "$id")" = "$(iso $((T0 + 400)))" &&
	at $((T0 + 500)) cvmctl reconcile -f specs --once --allow-empty >out &&
	test "$(updated_at "$id")" = "$(iso $((T0 + 400)))"
'

test_done
