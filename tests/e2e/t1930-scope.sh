#!/bin/bash
# A scope that travels with the tree: team B's tree declares its scope
# (kind: Scope) and deletion cap. Run without --scope it reconciles into
# its own scope and cannot prune team A's CVMs (the same tree without its
# Scope document would plan their deletion); a --scope or $CVMCTL_SCOPE
# that contradicts it is refused (exit 3, nothing changed); its
# maxDeletions caps a pass and --max-deletions cannot raise it. Every
# global flag has an environment variable, and the flag wins.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

write_scope() {
	cat >"$1" <<-EOF
	apiVersion: cvmctl/v1
	kind: Scope
	metadata: {name: $2}
	spec: {maxDeletions: $3}
	EOF
}

snapshot() {
	sqlite3 "$XDG_STATE_HOME/cvmctl/state.db" .dump >"$1"
}

test_expect_success 'team A reconciles its tree into the default scope' '
	libvirtd_start a &&
	write_provider team-a/providers.yaml lab 48 "$URI_a" &&
	write_cvm team-a/a-1.yaml a-1 && write_cvm team-a/a-2.yaml a-2 &&
	cvmctl reconcile -f team-a --once >out &&
	grep "^Reconciled scope default .* 2 created" out
'

test_expect_success 'team B, without its Scope document, would prune team A (the hazard)' '
	write_provider team-b/providers.yaml lab 48 "$URI_a" &&
	write_cvm team-b/b-1.yaml b-1 && write_cvm team-b/b-2.yaml b-2 && write_cvm team-b/b-3.yaml b-3 &&
	cvmctl plan -f team-b -o json >plan.json &&
	jq -r ".actions[] | select(.action == \"delete\") | .name" plan.json | sort >deletes &&
	printf "a-1\na-2\n" >expect && test_cmp expect deletes
'

test_expect_success 'with it, team B reconciles into team-b and leaves team A alone' '
	write_scope team-b/scope.yaml team-b 1 &&
	cvmctl validate -f team-b &&
	cvmctl plan -f team-b -o json >plan.json &&
	test "$(jq -r .scope plan.json)" = team-b &&
	! jq -r ".actions[] | select(.action == \"delete\") | .name" plan.json | grep . &&
	cvmctl reconcile -f team-b --once >out &&
	grep "^Reconciled scope team-b .* 3 created, .* 0 deleted" out &&
	test "$(record_field a-1 status)" = Running && test "$(record_field a-2 status)" = Running &&
	test "$(record_field b-1 scope)" = team-b &&
	virsh_names "$URI_a" | grep -v -x test >names &&
	printf "a-1\na-2\nb-1\nb-2\nb-3\n" >expect && test_cmp expect names
'

test_expect_success 'a --scope or CVMCTL_SCOPE that contradicts the tree is refused, exit 3, nothing changed' '
	snapshot before &&
	test_expect_code 3 cvmctl reconcile -f team-b --once --scope default >out 2>err &&
	grep "team-b/scope.yaml:3:[0-9]*: metadata.name: the tree declares scope .team-b.; the scope .default. asked for contradicts it" err &&
	test_expect_code 3 cvmctl plan -f team-b --scope team-a 2>err && grep "contradicts" err &&
	CVMCTL_SCOPE=default test_expect_code 3 cvmctl reconcile -f team-b --once 2>err && grep "contradicts" err &&
	snapshot after && test_cmp before after &&
	cvmctl reconcile -f team-b --once --scope team-b >out &&
	CVMCTL_SCOPE=default cvmctl --scope team-b plan -f team-b >out
'

test_expect_success 'the tree declares its deletion cap; --max-deletions may not raise it' '
	rm team-b/b-2.yaml team-b/b-3.yaml &&
	test_expect_code 4 cvmctl reconcile -f team-b --once --max-deletions 5 >out 2>err &&
	grep "2 deletions exceed the maxDeletions of the tree.s Scope (team-b/scope.yaml:3) 1" out err &&
	test "$(record_field b-2 status)" = Running &&
	write_scope team-b/scope.yaml team-b 2 &&
	cvmctl reconcile -f team-b --once >out &&
	grep "2 deleted" out &&
	test "$(record_field b-2 status)" = Inactive && test "$(record_field a-1 status)" = Running
'

test_expect_success 'two Scope documents, or a bad one, are errors with their place' '
	mkdir bad && cp team-b/providers.yaml bad/ &&
	write_scope bad/s1.yaml x 1 && write_scope bad/s2.yaml y 1 &&
	test_expect_code 3 cvmctl validate -f bad 2>err &&
	grep "s2.yaml:[0-9]*:[0-9]*: kind: a second Scope document (the first, .x., is at .*s1.yaml:3:" err &&
	rm bad/s2.yaml && write_scope bad/s1.yaml x -1 &&
	test_expect_code 3 cvmctl validate -f bad 2>err &&
	grep "s1.yaml:4:[0-9]*: spec.maxDeletions: maxDeletions must be 0 or more" err
'

test_expect_success 'every global flag has an environment variable; the flag wins' '
	CVMCTL_LOG_FORMAT=json cvmctl plan -f team-a --scope default >out 2>err &&
	CVMCTL_LOG_FORMAT=json test_expect_code 3 cvmctl plan -f team-b --scope default 2>err &&
	jq -e "select(.level == \"error\") | .msg | test(\"contradicts\")" err &&
	CVMCTL_LOG_FORMAT=json test_expect_code 3 cvmctl --log-format text plan -f team-b --scope default 2>err &&
	grep "^cvmctl: error: .*contradicts" err &&
	CVMCTL_LOG_FORMAT=yaml test_expect_code 3 cvmctl list 2>err &&
	grep "CVMCTL_LOG_FORMAT must be text or json, not .yaml." err &&
	CVMCTL_LOCK_TIMEOUT=soon test_expect_code 3 cvmctl list 2>err && grep "CVMCTL_LOCK_TIMEOUT needs a duration" err &&
	CVMCTL_LOCK_TIMEOUT=soon cvmctl --lock-timeout 5s list >/dev/null 2>&1 &&
	CVMCTL_INSTALLATION_ID=nope test_expect_code 3 cvmctl list 2>err && grep "CVMCTL_INSTALLATION_ID needs a UUID" err &&
	CVMCTL_VERBOSE=7 test_expect_code 3 cvmctl list 2>err && grep "CVMCTL_VERBOSE must be 0, 1 or 2" err &&
	CVMCTL_VERBOSE=1 cvmctl --state-dir "$TRASH/none" list >out 2>err && grep "no state in" err &&
	CVMCTL_VERBOSE=1 cvmctl -q --state-dir "$TRASH/none" list >out 2>err && ! grep "no state in" err &&
	CVMCTL_QUIET=1 cvmctl -v --state-dir "$TRASH/none" list >out 2>err && grep "no state in" err &&
	CVMCTL_STATE_DIR="$TRASH/none" cvmctl -v list >out 2>err && grep "no state in $TRASH/none" err &&
	CVMCTL_SCOPE=team-b cvmctl list -o json >/dev/null &&
	CVMCTL_SCOPE=team-b cvmctl diff >out && grep "^1 CVMs checked" out &&
	cvmctl diff >out && grep "^3 CVMs checked" out
'

test_done
