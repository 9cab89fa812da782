#!/bin/bash
# A hung manager host (its libvirtd SIGSTOPped: the socket accepts, nothing
# answers) costs a pass at most connectTimeout + callTimeout, not minutes:
# reconcile --once, plan and list --refresh finish within the bound, only
# that host's CVMs are Unknown (nothing created or deleted there), the other
# host converges, and the state lock is free on time for a `cert renew`
# beside it. Stopped before a pass, and in the middle of one; after SIGCONT
# the next pass converges.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

# Timeouts of 3 s each: a pass may take 6 s per hung host. Where the spec
# loader does not know the Provider's connectTimeout/callTimeout yet (they
# reach the backend through its schema), the defaults apply: 10 + 20 s. The
# bound asserted (40 s) is generous for both; a hang without timeouts takes
# 60 s and more.
BOUND=40
TIMEOUTS=
mkdir -p probe &&
	write_provider probe/p.yaml probe 40 test:///default &&
	printf "  connectTimeout: 3s\n  callTimeout: 3s\n" >>probe/p.yaml &&
	write_cvm probe/c.yaml probe-cvm &&
	cvmctl validate -f probe >/dev/null 2>&1 &&
	TIMEOUTS="  connectTimeout: 3s\n  callTimeout: 3s\n"
rm -rf probe

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

cvms_on() {
	virsh_names "$1" | { grep -v -x test || :; }
}

# timed VAR CMD...: runs CMD, its exit code in $rc and its seconds in VAR.
timed() {
	local var=$1 t0
	shift
	t0=$(date +%s)
	"$@" && rc=0 || rc=$?
	eval "$var=$(($(date +%s) - t0))"
	echo "took ${!var} s, exit $rc: $*"
}

test_expect_success 'two hosts, two CVMs on each, converged' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 40 "$URI_a" "$URI_b" &&
	printf "$TIMEOUTS" >>specs/providers.yaml &&
	for n in 1 2 3 4; do
		write_cvm specs/db-$n.yaml db-$n vcpus=2 memoryGiB=16 || return 1
	done &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 4 created, .* 0 failed, 0 unknown" &&
	cvms_on "$URI_a" >on-a && cvms_on "$URI_b" >on-b &&
	test "$(wc -l <on-a)" = 2 && test "$(wc -l <on-b)" = 2 &&
	A1=$(sed -n 1p on-a) && B1=$(sed -n 1p on-b) && B2=$(sed -n 2p on-b)
'

test_expect_success 'host b is stopped before the pass; a spec of b goes, a small one comes' '
	rm specs/$B1.yaml &&
	write_cvm specs/web-1.yaml web-1 memoryGiB=4 &&
	libvirtd_pause b
'

test_expect_success 'reconcile --once finishes within the bound: b Unknown, a converged' '
	timed took cvmctl reconcile -f specs --once >out 2>err &&
	cat out err &&
	test "$rc" = 1 && test "$took" -lt $BOUND &&
	grep "host $URI_b.*cannot be observed" err &&
	grep "$B1 is Unknown this pass" err && grep "$B2 is Unknown this pass" err &&
	summary out | grep "^default: 1 created, .* 0 deleted, .* 0 failed, 2 unknown" &&
	grep "^created   web-1 " out &&
	test "$(record_field web-1 placement)" = "$URI_a" &&
	test "$(record_field $B1 status)" = Unknown
'

test_expect_success 'plan and list --refresh finish within the bound too' '
	timed took cvmctl plan -f specs --detailed-exitcode >plan.out 2>err &&
	test "$rc" = 1 && test "$took" -lt $BOUND &&
	grep "^  ? unknown  $B1 " plan.out &&
	timed took cvmctl list --refresh -f specs >list.out 2>err &&
	test "$took" -lt $BOUND &&
	grep -E "^$B2 .* Unknown$" list.out &&
	grep -E "^$A1 .* Running$" list.out
'

test_expect_success 'the lock is free on time: cert renew on host a beside a pass' '
	cvmctl cert list $A1 -o json >before.json && cat before.json &&
	t0=$(date +%s) &&
	{ cvmctl reconcile -f specs --once >bg.out 2>&1 & } &&
	bg=$! &&
	cvmctl --lock-timeout 45s cert renew $A1 >renew.out 2>&1 &&
	wait $bg || : &&
	test $(($(date +%s) - t0)) -lt $BOUND &&
	cvmctl cert list $A1 -o json >after.json &&
	test "$(jq length after.json)" -gt "$(jq length before.json)"
'

test_expect_success 'nothing was created or deleted on b while it was stopped' '
	libvirtd_resume b &&
	cvms_on "$URI_b" >now-b && test_cmp on-b now-b
'

test_expect_success 'after SIGCONT the next pass converges' '
	cvmctl reconcile -f specs --once >out 2>err &&
	summary out | grep "^default: 0 created, .* 1 deleted, .* 0 failed, 0 unknown" &&
	grep "^deleted   $B1 " out &&
	cvms_on "$URI_b" >now-b && echo "$B2" >expect && test_cmp expect now-b &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

# Mid-pass: every manager job waits 400 ms first (a test hook), so host b
# can be stopped right after the pass defined its first new CVM there,
# before the second one is created. Both go to b: it has 24 GiB free, a 4.
test_expect_success 'host b is stopped in the middle of a pass that creates two CVMs there' '
	write_cvm specs/new-1.yaml new-1 memoryGiB=2 &&
	write_cvm specs/new-2.yaml new-2 memoryGiB=2 &&
	: >"$(libvirtd_dir b)/events.log" &&
	t0=$(date +%s) &&
	{ CVMCTL_TEST_MANAGER_DELAY_MS=400 cvmctl reconcile -f specs --once >mid.out 2>mid.err & } &&
	bg=$! &&
	test_wait_for 20 "grep -q \"new-[12]\" \"$(libvirtd_dir b)/events.log\"" &&
	libvirtd_pause b &&
	{ wait $bg && rc=0 || rc=$?; } &&
	took=$(($(date +%s) - t0)) &&
	cat mid.out mid.err && echo "took $took s, exit $rc" &&
	test "$rc" = 1 && test "$took" -lt $BOUND &&
	test "$(record_field new-1 placement)" = "$URI_b" &&
	test "$(record_field new-2 placement)" = "$URI_b" &&
	test "$(record_field $A1 status)" = Running
'

test_expect_success 'after SIGCONT: no duplicate, and the pass converges' '
	libvirtd_resume b &&
	cvmctl reconcile -f specs --once >out 2>err &&
	cat out &&
	cvms_on "$URI_b" >now-b && printf "%s\nnew-1\nnew-2\n" "$B2" | sort >expect && test_cmp expect now-b &&
	test "$(record_field new-1 status)" = Running &&
	test "$(record_field new-2 status)" = Running &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_done
