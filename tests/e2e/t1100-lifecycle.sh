#!/bin/bash
# The life of a CVM: created from a spec (libvirt domain UUID = CVM id, our
# markers in <metadata>), left alone by a second pass, deleted when its spec
# goes or says `state: inactive` (the record stays, Inactive, same id, with
# its history), and a new CVM with a new id when the name comes back. plan
# says what a pass would do, as text or JSON, and --detailed-exitcode tells.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

# The summary line of a pass without its timing.
summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

test_expect_success 'two private hosts and a tree of three CVMs' '
	libvirtd_start a b &&
	write_provider specs/providers.yaml lab 48 "$URI_a" "$URI_b" &&
	write_cvm specs/web-1.yaml web-1 &&
	write_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=8 &&
	write_cvm specs/web-3.yaml web-3
'

test_expect_code 2 'plan --detailed-exitcode: changes to make' '
	cvmctl plan -f specs --detailed-exitcode >plan.out &&
	grep "^  + create   web-1  (new CVM)$" plan.out &&
	grep "^  + create   web-2  (new CVM)$" plan.out &&
	grep "^  + create   web-3  (new CVM)$" plan.out &&
	grep "^Plan: 3 to create, .* 0 to delete; 0 unknown; 0 up to date.$" plan.out
'

test_expect_success 'plan changed nothing' '
	virsh_names "$URI_a" >a && virsh_names "$URI_b" >b &&
	echo test >expect && test_cmp expect a && test_cmp expect b &&
	cvmctl list -o json >list.json &&
	echo "[]" >expect && test_cmp expect list.json
'

test_expect_success 'reconcile --once creates the three CVMs' '
	cvmctl reconcile -f specs --once >out &&
	echo "default: 3 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	{ virsh_names "$URI_a" && virsh_names "$URI_b"; } | sort >names &&
	printf "test\ntest\nweb-1\nweb-2\nweb-3\n" >expect && test_cmp expect names
'

test_expect_success 'list shows NAME, ID, URL, BACKEND, STATUS: all Running' '
	cvmctl list >list.out 2>list.err &&
	head -n 1 list.out | tr -s " " >header &&
	echo "NAME ID URL BACKEND STATUS" >expect && test_cmp expect header &&
	cvmctl list -o json >list.json &&
	jq -r ".[] | [.name, .id] | @tsv" list.json | sort >ids &&
	test "$(wc -l <ids)" = 3 &&
	tail -n +2 list.out | awk "{ print \$1 \"\t\" \$2 }" | sort >table-ids &&
	test_cmp ids table-ids &&
	tail -n +2 list.out | awk "{ print \$4, \$5 }" | sort -u >backend-status &&
	echo "manager/lab Running" >expect && test_cmp expect backend-status &&
	tail -n +2 list.out | awk "{ print \$3 }" >urls &&
	! grep -v -E "^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:7002$" urls &&
	grep "recorded state" list.err
'

# check_domain NAME: the domain of NAME is on the host its record names
# (and only there), its UUID is the CVM id, and it carries our markers.
check_domain() {
	local name=$1 id host other hash
	id=$(record_field "$name" id) && host=$(record_field "$name" placement) &&
	hash=$(record_field "$name" specHash) || return 1
	test -n "$id" && test -n "$hash" || { echo "no record for $name" >&2; return 1; }
	case "$host" in
	"$URI_a") other=$URI_b ;;
	"$URI_b") other=$URI_a ;;
	*) echo "$name placed on unknown host '$host'" >&2; return 1 ;;
	esac
	virsh -c "$host" dumpxml "$name" >"$name.xml" &&
	! virsh_names "$other" | grep -x "$name" &&
	sed -n "s|^  <uuid>\(.*\)</uuid>$|\1|p" "$name.xml" >uuid &&
	echo "$id" >expect && test_cmp expect uuid &&
	grep -F "<cvm:managed-by>cvmctl</cvm:managed-by>" "$name.xml" &&
	grep -F "<cvm:id>$id</cvm:id>" "$name.xml" &&
	grep -F "<cvm:name>$name</cvm:name>" "$name.xml" &&
	grep -F "<cvm:scope>default</cvm:scope>" "$name.xml" &&
	grep -F "<cvm:spec-hash>$hash</cvm:spec-hash>" "$name.xml" &&
	grep -E "<cvm:installation>[0-9a-f-]{36}</cvm:installation>" "$name.xml"
}

test_expect_success 'each domain: UUID = the id in list -o json, our markers in <metadata>' '
	check_domain web-1 && check_domain web-2 && check_domain web-3 &&
	grep -F "<vcpu placement='\''static'\''>4</vcpu>" web-2.xml &&
	grep -F "<memory unit='\''KiB'\''>8388608</memory>" web-2.xml &&
	test "$(virsh -c "$(record_field web-2 placement)" domstate web-2)" = running &&
	# one installation id across the state
	cat web-*.xml | grep -o "<cvm:installation>[^<]*" | sort -u >inst &&
	test "$(wc -l <inst)" = 1
'

test_expect_success 'a second pass, in a new process, does nothing' '
	cat web-1.xml web-2.xml web-3.xml >before.xml &&
	cp "$(libvirtd_dir a)/events.log" events-a && cp "$(libvirtd_dir b)/events.log" events-b &&
	cvmctl reconcile -f specs --once >out &&
	echo "default: 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 3 up to date; 0 failed, 0 unknown, 0 refused." >expect &&
	summary out >actual && test_cmp expect actual &&
	test "$(wc -l <out)" = 1 &&
	for n in web-1 web-2 web-3; do
		virsh -c "$(record_field $n placement)" dumpxml $n || return 1
	done >after.xml &&
	test_cmp before.xml after.xml &&
	sleep 0.3 &&
	test_cmp events-a "$(libvirtd_dir a)/events.log" &&
	test_cmp events-b "$(libvirtd_dir b)/events.log" &&
	cvmctl plan -f specs --detailed-exitcode >plan.out &&
	echo "No changes. 3 CVMs up to date." >expect && test_cmp expect plan.out
'

test_expect_success 'remove a spec: plan -o json names the delete and its reason' '
	id3=$(record_field web-3 id) && host3=$(record_field web-3 placement) &&
	rm specs/web-3.yaml &&
	test_expect_code 2 cvmctl plan -f specs -o json --detailed-exitcode >plan.json &&
	jq . plan.json >/dev/null &&
	jq -r ".actions[] | [.name, .id, .action, .reason] | @tsv" plan.json | sort >actions &&
	printf "web-1\t%s\tnoop\tup to date\nweb-2\t%s\tnoop\tup to date\nweb-3\t%s\tdelete\tspec removed\n" \
		"$(record_field web-1 id)" "$(record_field web-2 id)" "$id3" >expect &&
	test_cmp expect actions &&
	test "$(jq .summary.delete plan.json)" = 1 &&
	test "$(jq .summary.changes plan.json)" = 1 &&
	test "$(jq .refused plan.json)" = false
'

test_expect_success 'reconcile deletes that domain; the record stays, Inactive, same id' '
	cvmctl reconcile -f specs --once >out &&
	grep "^deleted   web-3 *$id3 " out &&
	summary out | grep ": 0 created, .* 1 deleted, 2 up to date; 0 failed" &&
	! virsh_names "$host3" | grep -x web-3 &&
	cvmctl list >list.out 2>/dev/null &&
	grep -E "^web-3 +$id3 +- +manager/lab +Inactive$" list.out &&
	test "$(record_field web-3 status)" = Inactive &&
	test "$(record_field web-3 id)" = "$id3"
'

test_expect_success 'get NAME -o json shows its history' '
	cvmctl get web-3 -o json >get.json &&
	test "$(jq -r .id get.json)" = "$id3" &&
	test "$(jq -r .status get.json)" = Inactive &&
	jq -r ".history[] | [.event, .message] | @tsv" get.json >history &&
	grep "^created	new CVM on $host3$" history &&
	grep "^deleted	spec removed on $host3$" history &&
	jq -r ".history[].event" get.json | grep -n . >order &&
	test "$(grep -m1 ":created$" order | cut -d: -f1)" -lt "$(grep -m1 ":deleted$" order | cut -d: -f1)" &&
	# by id, and NAME before or after the flag
	cvmctl get -o json "$id3" >by-id.json && test_cmp get.json by-id.json
'

test_expect_success 'state: inactive does the same' '
	id2=$(record_field web-2 id) && host2=$(record_field web-2 placement) &&
	write_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=8 state=inactive &&
	cvmctl plan -f specs -o json >plan.json &&
	jq -r ".actions[] | select(.name == \"web-2\") | [.action, .reason] | @tsv" plan.json >action &&
	printf "delete\tspec says state: inactive\n" >expect && test_cmp expect action &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep ": 0 created, .* 1 deleted, 1 up to date; 0 failed" &&
	! virsh_names "$host2" | grep -x web-2 &&
	test "$(record_field web-2 status)" = Inactive &&
	test "$(record_field web-2 id)" = "$id2" &&
	cvmctl get web-2 -o json | jq -r ".history[-1] | [.event, .message] | @tsv" >last &&
	printf "deleted\tspec says state: inactive on %s\n" "$host2" >expect && test_cmp expect last &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep ": 0 created, .* 0 deleted, 1 up to date; 0 failed"
'

test_expect_success 'a spec that comes back under the same name is a new CVM with a new id' '
	write_cvm specs/web-3.yaml web-3 &&
	cvmctl plan -f specs >plan.out &&
	grep "^  + create   web-3  (new CVM)$" plan.out &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep ": 1 created, .* 0 deleted, 1 up to date; 0 failed" &&
	cvmctl list -o json >list.json &&
	jq -r ".[] | select(.name == \"web-3\") | [.id, .status] | @tsv" list.json | sort >web3 &&
	test "$(wc -l <web3)" = 2 &&
	grep "^$id3	Inactive$" web3 &&
	new3=$(record_field web-3 id) &&
	test "$new3" != "$id3" &&
	grep "^$new3	Running$" web3 &&
	check_domain web-3 &&
	# the name finds the active one; the old id still finds the old record
	test "$(cvmctl get web-3 -o json | jq -r .id)" = "$new3" &&
	test "$(cvmctl get "$id3" -o json | jq -r .status)" = Inactive
'

test_expect_success 'the same for web-2: state: active again is a new CVM' '
	write_cvm specs/web-2.yaml web-2 vcpus=4 memoryGiB=8 &&
	cvmctl reconcile -f specs --once >out &&
	new2=$(record_field web-2 id) &&
	test "$new2" != "$id2" &&
	check_domain web-2 &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_expect_success 'an unknown name or id is exit 1, a bad -o is exit 3' '
	test_expect_code 1 cvmctl get web-9 2>err &&
	grep "no CVM named or with id .web-9." err &&
	test_expect_code 3 cvmctl get web-1 -o bogus 2>err &&
	test_expect_code 3 cvmctl get 2>err
'

test_done
