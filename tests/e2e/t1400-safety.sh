#!/bin/bash
# Safety rules: a tree that fails to load changes nothing (exit 3); a tree
# with no CVM deletes nothing without --allow-empty (exit 4);
# --max-deletions caps the deletions of a pass (over it: none, the rest
# done, exit 4); a replace needs --allow-replace (exit 4); scopes do not
# prune each other and do not share names (exit 3); a held state lock is
# exit 1 with a message; bad flag values are exit 3.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

STATE=$XDG_STATE_HOME/cvmctl

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

# What a user would look at to see that nothing changed: the records and
# each domain's XML.
snapshot() {
	cvmctl list -o json | jq "del(.[].updatedAt)" >"$1.records" &&
	for n in $(virsh_names "$URI_a"); do
		virsh -c "$URI_a" dumpxml "$n" || return 1
	done >"$1.domains"
}

test_expect_success 'one private host and three CVMs' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 48 "$URI_a" &&
	for n in 1 2 3; do write_cvm specs/app-$n.yaml app-$n || return 1; done &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 3 created, .* 0 failed"
'

test_expect_success 'a malformed tree changes nothing, even with every safety off' '
	snapshot before &&
	cp -R specs broken &&
	rm broken/app-1.yaml broken/app-2.yaml &&
	printf "apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: app-3\n" >broken/app-3.yaml &&
	test_expect_code 3 cvmctl reconcile -f broken --once --allow-empty --allow-replace >out 2>err &&
	grep "^broken/app-3.yaml:4:1: syntax error" err &&
	grep "nothing was changed" err &&
	test_must_be_empty out &&
	test_expect_code 3 cvmctl plan -f broken --detailed-exitcode >out 2>err &&
	snapshot after &&
	test_cmp before.records after.records &&
	test_cmp before.domains after.domains
'

test_expect_success 'a tree with no CVM at all deletes nothing without --allow-empty (exit 4)' '
	mkdir only-providers && cp specs/providers.yaml only-providers/ &&
	test_expect_code 4 cvmctl plan -f only-providers >plan.out &&
	grep -c "REFUSED: the spec tree has no CVM at all; pass --allow-empty" plan.out >n &&
	echo 3 >expect && test_cmp expect n &&
	test_expect_code 4 cvmctl reconcile -f only-providers --once >out 2>err &&
	summary out | grep "^default: 0 created, .* 0 deleted, 0 up to date; 0 failed, 0 unknown, 3 refused.$" &&
	grep "delete app-1: refused: the spec tree has no CVM at all" err &&
	snapshot after &&
	test_cmp before.records after.records &&
	test_cmp before.domains after.domains
'

test_expect_success '...and with --allow-empty deletes them all' '
	cvmctl reconcile -f only-providers --once --allow-empty >out &&
	summary out | grep "^default: 0 created, .* 3 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused.$" &&
	virsh_names "$URI_a" >names && echo test >expect && test_cmp expect names &&
	cvmctl list -o json | jq -r ".[].status" | sort -u >status &&
	echo Inactive >expect && test_cmp expect status
'

test_expect_success 'setup: three new CVMs' '
	rm specs/app-*.yaml &&
	for n in 1 2 3; do write_cvm specs/svc-$n.yaml svc-$n || return 1; done &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 3 created"
'

test_expect_success '--max-deletions 1 with two deletions: deletes none, still creates, exit 4' '
	rm specs/svc-1.yaml specs/svc-2.yaml &&
	write_cvm specs/svc-4.yaml svc-4 &&
	cvmctl plan -f specs --max-deletions 1 -o json >plan.json;
	jq -r ".actions[] | [.name, .action, .refused, .refusal // \"-\"] | @tsv" plan.json | sort >actions &&
	printf "%s\n" "svc-1	delete	true	2 deletions exceed --max-deletions 1" \
		"svc-2	delete	true	2 deletions exceed --max-deletions 1" \
		"svc-3	noop	false	-" "svc-4	create	false	-" >expect &&
	test_cmp expect actions &&
	test_expect_code 4 cvmctl reconcile -f specs --once --max-deletions 1 >out 2>err &&
	summary out | grep "^default: 1 created, .* 0 deleted, 1 up to date; 0 failed, 0 unknown, 2 refused.$" &&
	grep "delete svc-1: refused: 2 deletions exceed --max-deletions 1" err &&
	virsh_names "$URI_a" >names &&
	printf "svc-1\nsvc-2\nsvc-3\nsvc-4\ntest\n" >expect && test_cmp expect names &&
	test "$(record_field svc-1 status)" = Running &&
	test "$(record_field svc-4 status)" = Running
'

test_expect_success '--max-deletions 2 lets them go' '
	cvmctl reconcile -f specs --once --max-deletions 2 >out &&
	summary out | grep "^default: 0 created, .* 2 deleted, 2 up to date; 0 failed, 0 unknown, 0 refused.$" &&
	virsh_names "$URI_a" >names &&
	printf "svc-3\nsvc-4\ntest\n" >expect && test_cmp expect names
'

test_expect_success 'a change of vcpus is refused without --allow-replace (exit 4)' '
	id3=$(record_field svc-3 id) &&
	virsh -c "$URI_a" dumpxml svc-3 >svc-3.before &&
	write_cvm specs/svc-3.yaml svc-3 vcpus=6 &&
	test_expect_code 4 cvmctl plan -f specs >plan.out &&
	grep "^-/+ replace  svc-3  ${id3%%-*}.*\[spec.vcpus\].*REFUSED: replacing needs --allow-replace$" plan.out &&
	test_expect_code 4 cvmctl plan -f specs -o json >plan.json &&
	jq -c ".actions[] | select(.name == \"svc-3\") | [.action, .fields, .refused]" plan.json >action &&
	echo "[\"replace\",[\"spec.vcpus\"],true]" >expect && test_cmp expect action &&
	test_expect_code 4 cvmctl reconcile -f specs --once >out 2>err &&
	grep "replace svc-3: refused: replacing needs --allow-replace" err &&
	summary out | grep "^default: 0 created, .* 0 replaced, 0 deleted, 1 up to date; 0 failed, 0 unknown, 1 refused.$" &&
	virsh -c "$URI_a" dumpxml svc-3 >svc-3.after && test_cmp svc-3.before svc-3.after
'

test_expect_success '...and done with it: same id, the domain redefined with the new vcpus' '
	test_expect_code 2 cvmctl plan -f specs --allow-replace --detailed-exitcode >plan.out &&
	cvmctl reconcile -f specs --once --allow-replace >out &&
	grep "^replaced  svc-3 *$id3 " out &&
	summary out | grep "^default: 0 created, .* 1 replaced, 0 deleted, 1 up to date; 0 failed, 0 unknown, 0 refused.$" &&
	virsh -c "$URI_a" dumpxml svc-3 >svc-3.after &&
	grep -F "<uuid>$id3</uuid>" svc-3.after &&
	grep -F "<vcpu placement='\''static'\''>6</vcpu>" svc-3.after &&
	grep -F "<cvm:vcpus>6</cvm:vcpus>" svc-3.after &&
	cvmctl list -o json | jq -r ".[] | select(.name == \"svc-3\") | [.id, .vcpus, .status] | @tsv" >rec &&
	printf "%s\t6\tRunning\n" "$id3" >expect && test_cmp expect rec &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_expect_success 'two scopes in one state do not prune each other' '
	write_provider team-a/providers.yaml lab 48 "$URI_a" &&
	write_cvm team-a/a-1.yaml a-1 &&
	write_provider team-b/providers.yaml lab 48 "$URI_a" &&
	write_cvm team-b/b-1.yaml b-1 &&
	cvmctl --scope a reconcile -f team-a --once >out &&
	summary out | grep "^a: 1 created, .* 0 deleted, 0 up to date; 0 failed" &&
	cvmctl reconcile -f team-b --once --scope b >out &&
	summary out | grep "^b: 1 created, .* 0 deleted, 0 up to date; 0 failed" &&
	cvmctl reconcile -f team-a --once --scope a >out &&
	summary out | grep "^a: 0 created, .* 0 deleted, 1 up to date; 0 failed" &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 0 created, .* 0 deleted, 2 up to date; 0 failed" &&
	virsh_names "$URI_a" >names &&
	printf "a-1\nb-1\nsvc-3\nsvc-4\ntest\n" >expect && test_cmp expect names &&
	test "$(record_field b-1 scope)" = b &&
	virsh -c "$URI_a" dumpxml b-1 | grep -F "<cvm:scope>b</cvm:scope>"
'

test_expect_success 'a scope prunes only its own' '
	rm team-a/a-1.yaml && write_cvm team-a/a-2.yaml a-2 &&
	cvmctl reconcile -f team-a --once --scope a >out &&
	summary out | grep "^a: 1 created, .* 1 deleted, 0 up to date; 0 failed" &&
	cvmctl list -o json | jq -r ".[] | select(.name == \"a-1\" or .name == \"b-1\") | [.name, .status] | @tsv" >rec &&
	printf "a-1\tInactive\nb-1\tRunning\n" >expect && test_cmp expect rec &&
	virsh_names "$URI_a" >names &&
	printf "a-2\nb-1\nsvc-3\nsvc-4\ntest\n" >expect && test_cmp expect names
'

test_expect_success 'a name active in scope a, used in scope b, is exit 3 and changes nothing' '
	snapshot before &&
	write_cvm team-b/a-2.yaml a-2 &&
	test_expect_code 3 cvmctl reconcile -f team-b --once --scope b >out 2>err &&
	grep "^cvmctl: error: team-b/a-2.yaml:1:1: metadata.name: cvm .a-2. is active in scope .a.; names are unique among the active CVMs of a state$" err &&
	test_expect_code 3 cvmctl plan -f team-b --scope b >out 2>err &&
	snapshot after &&
	test_cmp before.records after.records &&
	test_cmp before.domains after.domains &&
	rm team-b/a-2.yaml
'

test_expect_success 'a held state lock: reconcile gives up after --lock-timeout, exit 1, and says so' '
	exec 7>"$STATE/lock" && flock -x 7 &&
	test_when_finished "exec 7>&-" &&
	start=$(date +%s%N) &&
	test_expect_code 1 cvmctl reconcile -f specs --once --lock-timeout 1s >out 2>err &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) &&
	test "$ms" -ge 1000 &&
	grep "the state in $STATE is locked by another cvmctl (an unrecorded holder); gave up after 1000 ms" err &&
	test_must_be_empty out
'

test_expect_success 'the refusal names the holder the lock file records' '
	echo "pid=$$ host=ci-runner-7 started=2030-01-01T00:00:00Z" >"$STATE/lock.text" &&
	exec 7<>"$STATE/lock" && flock -x 7 && cat "$STATE/lock.text" >&7 &&
	test_when_finished "exec 7>&-" &&
	test_expect_code 1 cvmctl reconcile -f specs --once --lock-timeout=1s 2>err &&
	grep "locked by another cvmctl (pid=$$ host=ci-runner-7 started=2030-01-01T00:00:00Z)" err
'

test_expect_success 'once the lock is free, reconcile runs' '
	cvmctl reconcile -f specs --once --lock-timeout 1s >out &&
	summary out | grep "^default: 0 created, .* 2 up to date; 0 failed"
'

test_expect_success 'bad flag values are exit 3' '
	snapshot before &&
	test_expect_code 3 cvmctl reconcile -f specs --once --max-deletions -1 2>err &&
	grep "max-deletions needs a whole number" err &&
	test_expect_code 3 cvmctl reconcile -f specs --once --max-deletions lots 2>err &&
	test_expect_code 3 cvmctl plan -f specs -o bogus 2>err &&
	grep "output takes table, json or yaml, not .bogus." err &&
	test_expect_code 3 cvmctl list -o bogus 2>err &&
	test_expect_code 3 cvmctl reconcile -f specs --once --lock-timeout soon 2>err &&
	test_expect_code 3 cvmctl reconcile -f specs 2>err &&
	grep "either --once or --watch" err &&
	test_expect_code 3 cvmctl reconcile -f specs --once --watch 2>err &&
	snapshot after &&
	test_cmp before.records after.records &&
	test_cmp before.domains after.domains
'

test_done
