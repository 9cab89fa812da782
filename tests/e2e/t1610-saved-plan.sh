#!/bin/bash
# Saved plans (issue 9, item 2): `plan --out PLAN` writes the JSON plan,
# `apply PLAN` carries out exactly that plan or refuses it (exit 4) when the
# tree, the world or the records changed, or the file was edited, and
# changes nothing then. Two plans of the same state are byte-identical, the
# CVMs apply creates have the ids the plan named (virsh's domain UUIDs),
# and the safety flags travel with the plan.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

# Every domain of both hosts as "host name uuid state", sorted.
world() {
	local u n
	for u in "$URI_a" "$URI_b"; do
		for n in $(virsh_names "$u"); do
			[ "$n" = test ] && continue
			printf '%s %s %s %s\n' "$u" "$n" "$(virsh -c "$u" domuuid "$n" | sed '/^$/d')" \
				"$(virsh -c "$u" domstate "$n" | sed '/^$/d')"
		done
	done | sort
}

# What cvmctl recorded, without the times that move.
records() {
	cvmctl list -o json | jq -S 'map(del(.updatedAt, .createdAt))'
}

test_expect_success 'two hosts, a state with one CVM' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 48 "$URI_a" "$URI_b" &&
	write_cvm specs/web-1.yaml web-1 &&
	cvmctl reconcile -f specs --once >out &&
	grep "1 created" out
'

test_expect_success 'two plans of the same tree, world and records are byte-identical' '
	write_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=8 &&
	write_cvm specs/web-3.yaml web-3 &&
	test_expect_code 2 cvmctl plan -f specs --out p1.json --detailed-exitcode >out &&
	grep "^Saved the plan to p1.json; carry it out with: cvmctl apply p1.json$" out &&
	cvmctl plan -f specs --out p2.json &&
	cmp p1.json p2.json &&
	cvmctl plan -f specs -o json >p3.json &&
	cmp p1.json p3.json &&
	test "$(stat -c %a p1.json)" = 600
'

test_expect_success 'the plan says where it came from and what it does, per action' '
	test "$(jq -r .format_version p1.json)" = 2.0 &&
	test "$(jq -r .cvmctl_version p1.json)" = "$(cvmctl --version | cut -d" " -f2)" &&
	virsh -c "$(record_field web-1 placement)" dumpxml web-1 | sed -n "s|.*<cvm:installation>\(.*\)</cvm:installation>.*|\1|p" >inst &&
	jq -r .installation_id p1.json >inst.plan && test_cmp inst inst.plan &&
	jq -e ".tree.content_hash | test(\"^sha256:[0-9a-f]{64}$\")" p1.json &&
	jq -e ".tree.revision == null and .tree.paths == [\"specs\"]" p1.json &&
	jq -e ".flags == {allow_replace: false, allow_empty: false, max_deletions: null}" p1.json &&
	jq -r ".actions[] | [.action, .name, .reason_code] | @tsv" p1.json >actions &&
	printf "noop\tweb-1\tup-to-date\ncreate\tweb-2\tnew\ncreate\tweb-3\tnew\n" >expect &&
	test_cmp expect actions &&
	jq -r ".actions[] | select(.action == \"create\") | .placement" p1.json >places &&
	grep -c -x -F -e "$URI_a" -e "$URI_b" places >n && test "$(cat n)" = 2 &&
	jq -r ".actions[] | select(.name == \"web-2\") | .changes[] | select(.field == \"spec.vcpus\" or .field == \"state\") | [.field, (.before | tostring), (.after | tostring)] | @tsv" p1.json >changes &&
	printf "spec.vcpus\tnull\t4\nstate\tabsent\trunning\n" >expect && test_cmp expect changes &&
	# nothing that moves from run to run
	! grep -E "\"[0-9]{4}-[0-9]{2}-[0-9]{2}T" p1.json
'

test_expect_success 'apply PLAN creates the CVMs with the ids and on the hosts the plan named' '
	world >world.before &&
	cvmctl apply p1.json >out &&
	grep "^Applied the plan to scope default: 2 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 1 up to date; 0 failed, 0 unknown, 0 refused.$" out &&
	jq -r ".actions[] | select(.action == \"create\") | \"\(.placement) \(.name) \(.id) running\"" p1.json >planned &&
	grep " web-1 " world.before >>planned &&
	sort planned >expect &&
	world >actual && test_cmp expect actual &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_expect_success 'the same plan again is stale: what it would do is done' '
	world >world.before && records >records.before &&
	test_expect_code 4 cvmctl apply p1.json 2>err &&
	grep "the plan p1.json is stale: action 2 of the plan is create web-2 (new), but a reconcile would now do noop web-2 (up-to-date); it was refused and nothing was changed" err &&
	world >world.after && test_cmp world.before world.after &&
	records >records.after && test_cmp records.before records.after
'

test_expect_success 'a plan applied after the tree changed is refused and changes nothing' '
	write_cvm specs/web-4.yaml web-4 &&
	cvmctl plan -f specs --out tree.json >/dev/null &&
	write_cvm specs/web-4.yaml web-4 vcpus=6 &&
	world >world.before && records >records.before &&
	test_expect_code 4 cvmctl apply tree.json 2>err &&
	grep "the plan tree.json is stale: the spec tree changed since the plan was made: its content hash is \"sha256:[0-9a-f]*\" in the plan, \"sha256:[0-9a-f]*\" now;" err &&
	world >world.after && test_cmp world.before world.after &&
	records >records.after && test_cmp records.before records.after &&
	rm specs/web-4.yaml
'

test_expect_success 'a plan applied after a domain was destroyed behind our back is refused' '
	cvmctl plan -f specs --out world.json >/dev/null &&
	host1=$(record_field web-1 placement) &&
	virsh -c "$host1" destroy web-1 >/dev/null &&
	world >world.before && records >records.before &&
	test_expect_code 4 cvmctl apply world.json 2>err &&
	grep "the plan world.json is stale: action 1 of the plan is noop web-1 (up-to-date), but a reconcile would now do start web-1 (stopped);" err &&
	world >world.after && test_cmp world.before world.after &&
	grep " web-1 .* shut off$" world.after &&
	records >records.after && test_cmp records.before records.after
'

test_expect_success 'an edited plan is refused and changes nothing' '
	cvmctl plan -f specs --out start.json >/dev/null &&
	jq -e ".actions[0] | .action == \"start\" and .reason_code == \"stopped\"" start.json &&
	jq ".actions[0].id = \"00000000-0000-4000-8000-000000000000\"" start.json >edited.json &&
	world >world.before && records >records.before &&
	test_expect_code 4 cvmctl apply edited.json 2>err &&
	grep "the plan edited.json was edited after it was written (its checksum does not match its content): the plan.s start web-1 (stopped) is for the CVM with id 00000000-0000-4000-8000-000000000000, but a reconcile would now act on id $(record_field web-1 id); it was refused and nothing was changed" err &&
	# resealed by hand, it is still not what a reconcile would do
	sum=$(jq -cS "del(.checksum)" edited.json | tr -d "\n" | sha256sum | cut -d" " -f1) &&
	jq --arg s "sha256:$sum" ".checksum = \$s" edited.json >resealed.json &&
	test_expect_code 4 cvmctl apply resealed.json 2>err &&
	grep "the plan resealed.json is stale: the plan.s start web-1 (stopped) is for the CVM with id 00000000-0000-4000-8000-000000000000" err &&
	world >world.after && test_cmp world.before world.after &&
	records >records.after && test_cmp records.before records.after
'

test_expect_success 'the unedited plan applies: web-1 is started' '
	cvmctl apply start.json >out &&
	grep ": 0 created, 0 adopted, 1 started," out &&
	grep " web-1 .* running$" <(world)
'

test_expect_success 'the saved --max-deletions holds: two deletions over a cap of 1 delete none' '
	rm specs/web-2.yaml specs/web-3.yaml &&
	test_expect_code 4 cvmctl plan -f specs --max-deletions 1 --out del.json >out &&
	jq -e ".flags.max_deletions == 1" del.json &&
	jq -r ".actions[] | select(.action == \"delete\") | [.name, .reason_code, .refusal_code] | @tsv" del.json >refused &&
	printf "web-2\tspec-removed\tmax-deletions\nweb-3\tspec-removed\tmax-deletions\n" >expect && test_cmp expect refused &&
	world >world.before &&
	test_expect_code 4 cvmctl apply del.json >out 2>err &&
	grep "2 deletions exceed --max-deletions 1" err &&
	grep ": 0 created, .* 0 deleted, 1 up to date; 0 failed, 0 unknown, 2 refused.$" out &&
	world >world.after && test_cmp world.before world.after
'

test_expect_code 3 'flags that contradict the plan are refused before anything is read' '
	test_expect_code 3 cvmctl apply del.json --max-deletions 5 2>err &&
	grep "cvmctl apply: --max-deletions 5 contradicts the plan del.json, made with --max-deletions 1" err &&
	test_expect_code 3 cvmctl apply del.json --allow-replace 2>err &&
	grep "allow-replace contradicts the plan del.json, made without it" err &&
	cvmctl --scope team-b apply del.json
'

test_expect_success 'a plan made with room for both deletes them' '
	cvmctl plan -f specs --max-deletions 2 --out del2.json >/dev/null &&
	cvmctl apply del2.json --max-deletions 2 >out &&
	grep ": 0 created, .* 2 deleted, 1 up to date; 0 failed, 0 unknown, 0 refused.$" out &&
	test "$(world | wc -l)" = 1 &&
	test "$(record_field web-2 status)" = Inactive
'

test_expect_success 'a name that comes back gets a fresh id, the same in every plan' '
	old2=$(record_field web-2 id) &&
	write_cvm specs/web-2.yaml web-2 &&
	cvmctl plan -f specs --out back1.json >/dev/null &&
	cvmctl plan -f specs --out back2.json >/dev/null &&
	cmp back1.json back2.json &&
	new2=$(jq -r ".actions[] | select(.name == \"web-2\") | .id" back1.json) &&
	test -n "$new2" && test "$new2" != "$old2" &&
	cvmctl apply back1.json >/dev/null &&
	test "$(record_field web-2 id)" = "$new2" &&
	world | grep -q " web-2 $new2 running$"
'

test_expect_success 'the revision of a git checkout is read from .git without git' '
	mkdir -p repo/.git/refs/heads &&
	cp specs/*.yaml repo/ &&
	echo "ref: refs/heads/main" >repo/.git/HEAD &&
	echo 0123456789abcdef0123456789abcdef01234567 >repo/.git/refs/heads/main &&
	cvmctl plan -f repo -o json >rev.json &&
	test "$(jq -r .tree.revision rev.json)" = 0123456789abcdef0123456789abcdef01234567 &&
	# the same documents in other files: the same content hash
	test "$(jq -r .tree.content_hash rev.json)" = "$(cvmctl plan -f specs -o json | jq -r .tree.content_hash)" &&
	rm repo/.git/refs/heads/main &&
	printf "# pack-refs with: peeled\n89abcdef0123456789abcdef0123456789abcdef refs/heads/main\n" >repo/.git/packed-refs &&
	test "$(cvmctl plan -f repo -o json | jq -r .tree.revision)" = 89abcdef0123456789abcdef0123456789abcdef &&
	# a worktree: .git is a file naming its git directory, whose commondir holds the refs
	mkdir -p common/worktrees/wt common/refs/heads wt &&
	cp specs/*.yaml wt/ &&
	echo "gitdir: ../common/worktrees/wt" >wt/.git &&
	echo "ref: refs/heads/topic" >common/worktrees/wt/HEAD &&
	echo ../.. >common/worktrees/wt/commondir &&
	echo fedcba9876543210fedcba9876543210fedcba98 >common/refs/heads/topic &&
	test "$(cvmctl plan -f wt -o json | jq -r .tree.revision)" = fedcba9876543210fedcba9876543210fedcba98 &&
	# detached, and a branch with no commit yet
	echo 00112233445566778899aabbccddeeff00112233 >common/worktrees/wt/HEAD &&
	test "$(cvmctl plan -f wt/web-1.yaml -f wt/providers.yaml -o json | jq -r .tree.revision)" = 00112233445566778899aabbccddeeff00112233 &&
	echo "ref: refs/heads/unborn" >common/worktrees/wt/HEAD &&
	test "$(cvmctl plan -f wt -o json | jq -r .tree.revision)" = null &&
	# a plan made in one checkout applies from another with the same content
	cvmctl plan -f repo --out repo.json >/dev/null &&
	cvmctl apply repo.json -f specs >out &&
	grep "0 created" out
'

test_expect_success 'what is not a plan this cvmctl reads is exit 3 and changes nothing' '
	records >records.before &&
	echo "not json" >bad.json &&
	test_expect_code 3 cvmctl apply bad.json 2>err &&
	grep "bad.json: not a JSON plan: line 1, column [0-9]*: .*; nothing was changed" err &&
	jq ".format_version = \"1.0\"" back1.json >v1.json &&
	test_expect_code 3 cvmctl apply v1.json 2>err &&
	grep "v1.json: plan format_version 1.0 is not supported: this cvmctl reads 2.x" err &&
	jq ".format_version = 1" back1.json >v1int.json &&
	test_expect_code 3 cvmctl apply v1int.json 2>err &&
	grep "plan format_version 1 is not supported" err &&
	jq "del(.flags)" back1.json >noflags.json &&
	test_expect_code 3 cvmctl apply noflags.json 2>err &&
	grep "not a usable cvmctl plan: flags must be an object" err &&
	test_expect_code 3 cvmctl apply missing.json 2>err &&
	grep "cannot read the plan missing.json" err &&
	test_expect_code 3 cvmctl apply 2>err &&
	grep "needs the file of a saved plan" err &&
	records >records.after && test_cmp records.before records.after
'

test_done
