#!/bin/bash
# Crashes and lost answers on GCP, against the emulator: a pass killed at
# the engine's crash points, or whose insert was committed but never
# answered, ends after a rerun with exactly one instance per CVM id label,
# created with the requestId the intent recorded; and the same when the
# state directory is lost and a new one adopts by --installation-id.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t21-fixtures/gcp.sh"

ST=$TRASH/state
export STATE_DIR=$ST
cvmctl() {
	"$CVMCTL" --state-dir "$ST" "$@"
}
ALL="c-1 c-2 c-3"

# fresh: no instances, no state, the tree of three CVMs.
fresh() {
	gce_stop && rm -rf "$TRASH/gce" "$ST" specs && gcp_emu_start &&
	write_gcp_provider specs/providers.yaml gce &&
	for n in $ALL; do write_gcp_cvm specs/$n.yaml $n || return 1; done
}

rec() {
	cvmctl reconcile -f specs --once "$@"
}

crash_run() {
	local at=$1 rc
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" CVMCTL_CRASH_AT=$at \
		cvmctl reconcile -f specs --once "$@" >crash.out 2>&1 && rc=0 || rc=$?
	cat crash.out
	test "$rc" = 137 || { echo "wanted death by SIGKILL (137) at $at, got exit $rc"; return 1; }
}

# one_each: every CVM of the tree has exactly one instance with its id
# label, and nothing else exists; each was inserted with the requestId its
# intent recorded (and that attempt is on its label).
one_each() {
	local n id
	test "$(inv | jq ".instances | length")" = 3 || { echo "not 3 instances"; inv | jq -c "[.instances[].name]"; return 1; }
	for n in $ALL; do
		id=$(cvmctl list -o json | jq -r --arg n "$n" '.[] | select(.name == $n and .status != "Inactive") | .id')
		test -n "$id" &&
		test "$(gce_count_label cvmctl-id "$id")" = 1 || { echo "$n: not one instance with id $id"; return 1; }
		test "$(inst_field $n .requestId)" = "$(record_attempt $n)" &&
		test "$(inst_field $n ".labels[\"cvmctl-attempt\"]")" = "$(record_attempt $n)" &&
		test "$(cvmctl list -o json | jq -r --arg n "$n" '.[] | select(.name == $n and .status != "Inactive") | .status')" = Running ||
			{ echo "$n: not one instance with the recorded attempt"; return 1; }
	done
}

# finish_orphans: the emulator advances an operation only when it is
# polled, and nobody saw the operations of the dropped answers; the real
# service finishes them anyway, so the test polls them to DONE.
finish_orphans() {
	local tok op
	tok=$(gce_token) &&
	for op in $(inv | jq -r ".operations[] | select(.status != \"DONE\") | .name"); do
		for _ in 1 2 3; do
			gce_api "$tok" GET "projects/cvmctl-test/zones/us-central1-a/operations/$op" >/dev/null || return 1
		done
	done &&
	test "$(inv | jq "[.instances[] | select(.status != \"RUNNING\")] | length")" = 0
}

# Compares a requestId with the attempt recorded right after the crash.
attempts() {
	for n in $ALL; do record_attempt $n; done
}

for at in after-intent-commit before-status-commit; do
	test_expect_success "killed at $at: a rerun ends with one instance per id, inserted with the intent's requestId" '
		fresh &&
		crash_run '"$at"' --concurrency 1 &&
		attempts >before &&
		rec >rerun.out 2>&1 || { cat rerun.out; false; } &&
		one_each &&
		attempts >after && test_cmp before after
	'
done

test_expect_success 'killed before the status commit, state lost: a new state adopts by --installation-id' '
	fresh &&
	crash_run before-status-commit &&
	inst=$(inv | jq -r "[.instances[].labels[\"cvmctl-installation\"]] | unique | .[]") &&
	test "$(echo "$inst" | wc -l)" = 1 &&
	requests=$(inv | jq -r "[.instances[].requestId] | sort | join(\" \")") &&
	rm -rf "$ST" &&
	gce_ctl DELETE requests >/dev/null &&
	rec --installation-id "$inst" >rerun.out 2>&1 || { cat rerun.out; false; } &&
	cat rerun.out &&
	grep "adopted" rerun.out &&
	test "$(inv | jq ".instances | length")" = 3 &&
	test "$(inv | jq -r "[.instances[].requestId] | sort | join(\" \")")" = "$requests" &&
	one_each
'

test_expect_success 'insert committed, answer dropped (once): the retry with the same requestId finds it' '
	fresh &&
	ctl POST faults "{\"kind\":\"drop\",\"method\":\"POST\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"times\":1}" &&
	rec >out 2>&1 || { cat out; false; } &&
	gce_ctl GET requests | jq -r ".requests[] | select(.method == \"POST\" and (.path | endswith(\"/instances\"))) | \"\(.requestId) \(.dropped)\"" | sort >posts &&
	cat posts &&
	test "$(wc -l <posts)" = 4 &&
	test "$(grep -c " true$" posts)" = 1 &&
	dropped=$(sed -n "s/ true$//p" posts) &&
	test "$(grep -c "^$dropped " posts)" = 2 &&
	one_each
'

test_expect_code 1 'insert committed, every answer dropped: that create fails this pass' '
	fresh &&
	ctl POST faults "{\"kind\":\"drop\",\"method\":\"POST\",\"path\":\"/compute/v1/projects/*/zones/*/instances\",\"times\":-1}" &&
	rec >out 2>err
'

test_expect_success '... and the next pass adopts the instances, one per id, no second insert' '
	cat err &&
	grep "no answer\|Server returned nothing\|Empty reply" err &&
	test "$(inv | jq ".instances | length")" = 3 &&
	ctl DELETE faults &&
	finish_orphans &&
	gce_ctl DELETE requests >/dev/null &&
	rec >out 2>&1 || { cat out; false; } &&
	mutating_calls >calls && ! grep "instances?requestId" calls &&
	one_each
'

test_expect_success 'the same with the state lost: --installation-id adopts them' '
	inst=$(inv | jq -r "[.instances[].labels[\"cvmctl-installation\"]] | unique | .[]") &&
	rm -rf "$ST" &&
	rec --installation-id "$inst" >out 2>&1 || { cat out; false; } &&
	grep "0 created, 3 adopted" out &&
	one_each
'

test_done
