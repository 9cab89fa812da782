#!/bin/bash
# A CVM moved to another Provider: a replace (it needs --allow-replace) whose
# remove goes to the provider the CVM is on now, at the host it is on, and
# whose create goes to the new one. One pass moves it: the old domain is gone
# from host a, the new one runs on host b under the same id, the certificate
# is delivered again (into the new provider's share directory; the old one
# is cleared), and the next pass has nothing to do. The same holds back the
# other way, and after a kill at each step of a move (the intent, the
# remove, the create intent, the define, the start, the status commit): the
# rerun converges with one owned domain across both hosts, on the target,
# and nothing left on the source.
#
# Needs the sanitizer/test build (crash points) and jq.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

# The CVMs (not the test driver's own domain) on a host.
cvms_on() {
	virsh_names "$1" | { grep -v -x test || :; }
}

# where: "a", "b", or a list when the CVM is on both (or "none").
where() {
	local w=
	cvms_on "$URI_a" | grep -qx web-1 && w="${w}a"
	cvms_on "$URI_b" | grep -qx web-1 && w="${w}b"
	echo "${w:-none}"
}

# The share directory of each provider.
share_dir() {
	case "$1" in a) echo "$TRASH/shares" ;; b) echo "$TRASH/shares-b" ;; esac
}

cert_serial() {
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

current_cert() {
	cvmctl cert list web-1 -o json | jq -r '.[] | select(.status == "valid" and .kind == "default") | .serial'
}

# move_to SIDE: the spec of web-1 names the provider of host SIDE.
move_to() {
	write_cvm specs/web-1.yaml web-1 provider=lab-$1
}

# on SIDE: web-1 runs on host SIDE only, as the record says, and its
# certificate is in that provider's share directory only; the plan and
# the next pass have nothing to do.
on() {
	local side=$1 other id
	case "$side" in a) other=b ;; b) other=a ;; esac
	test "$(where)" = "$side" || { echo "web-1 is on: $(where)"; return 1; }
	eval "uri=\$URI_$side"
	id=$(record_field web-1 id) &&
	test "$(virsh -c "$uri" domuuid web-1 | sed "/^$/d")" = "$id" &&
	test "$(virsh -c "$uri" domstate web-1 | sed "/^$/d")" = running &&
	test "$(record_field web-1 status)" = Running &&
	test "$(record_field web-1 provider)" = "lab-$side" &&
	test "$(record_field web-1 placement)" = "$uri" &&
	test "$(cvmctl list -o json | jq "[.[] | select(.name == \"web-1\")] | length")" = 1 &&
	test "$(cert_serial "$(share_dir "$side")/$id/certs/cert.pem")" = "$(current_cert)" &&
	test_path_is_missing "$(share_dir "$other")/$id" &&
	cvmctl plan -f specs --detailed-exitcode &&
	cvmctl reconcile -f specs --once --allow-replace >again &&
	summary again | grep "^default: 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 1 up to date; 0 failed"
}

test_expect_success 'setup: two manager providers, one host each; web-1 on lab-a' '
	command -v jq &&
	libvirtd_start a b &&
	write_provider specs/lab-a.yaml lab-a 64 "$URI_a" &&
	write_provider specs/lab-b.yaml lab-b 64 "$URI_b" &&
	sed -i "s|shareDir: .*|shareDir: $TRASH/shares-b|" specs/lab-b.yaml &&
	move_to a && grep "provider: lab-a" specs/web-1.yaml &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 1 created, .* 0 failed" &&
	on a
'

test_expect_code 4 'the move needs --allow-replace' '
	move_to b &&
	cvmctl reconcile -f specs --once >out 2>err
'

test_expect_success '... and changed nothing without it' '
	grep "replace web-1: refused: replacing needs --allow-replace" err &&
	test "$(where)" = a
'

test_expect_success 'one pass moves it: removed from lab-a, created on lab-b under the same id' '
	id=$(record_field web-1 id) && serial=$(current_cert) &&
	cvmctl reconcile -f specs --once --allow-replace >out 2>err &&
	cat out err &&
	summary out | grep "^default: 0 created, 0 adopted, 0 started, 0 updated, 1 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused" &&
	grep "^replaced  web-1 *$id  $URI_b" out &&
	test "$(record_field web-1 id)" = "$id" &&
	test "$(current_cert)" = "$serial" &&
	on b
'

test_expect_success 'the history tells the move' '
	cvmctl get web-1 -o json | jq -r ".history[] | [.event, .message] | @tsv" >history &&
	grep "^intent	replace: removing it from lab-a on $URI_a first, then creating it on lab-b" history &&
	grep "^intent	replace on $URI_b (attempt " history &&
	grep "^replaced	" history
'

test_expect_success 'and back, in one pass' '
	move_to a &&
	cvmctl reconcile -f specs --once --allow-replace >out &&
	summary out | grep "1 replaced, 0 deleted, 0 up to date; 0 failed" &&
	on a
'

# A kill at each step of a move, alternately a -> b and b -> a; the rerun
# converges on the target.
from=a
for at in after-intent-commit after-move-remove after-intent-commit:2 after-define after-start before-status-commit; do
	case "$from" in a) to=b ;; b) to=a ;; esac
	test_expect_success "a move $from -> $to killed at $at, then rerun: one domain, on $to" '
		move_to $to &&
		test_expect_code 137 env CVMCTL_CRASH_AT=$at "$CVMCTL" reconcile -f specs --once --allow-replace >out 2>err &&
		grep "crash point ${at%%:*} reached" err &&
		echo "after the kill: $(where)" &&
		case "$(where)" in ab) echo "two domains after the kill"; false ;; esac &&
		cvmctl reconcile -f specs --once --allow-replace >out 2>err &&
		cat out err &&
		summary out | grep "0 failed, 0 unknown, 0 refused" &&
		on $to
	'
	from=$to
done

test_done
