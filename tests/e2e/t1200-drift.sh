#!/bin/bash
# Drift behind cvmctl's back: a domain that disappears is recreated under
# the same id (a new create attempt), one found shut off is started again,
# both recorded as events. Domains cvmctl does not own (no markers, the
# test driver's own `test` domain, or markers of another installation) are
# never touched, even when one carries the name of a desired CVM: that
# create fails, naming it, exit 1.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

# foreign_domain NAME [UUID]: a small domain defined with virsh, no markers.
foreign_domain() {
	cat >"$1.def.xml" <<-EOF &&
	<domain type='test'>
	  <name>$1</name>
	  ${2:+<uuid>$2</uuid>}
	  <memory unit='MiB'>256</memory>
	  <vcpu>1</vcpu>
	  <os><type arch='x86_64'>hvm</type></os>
	</domain>
	EOF
	virsh -q -c "$URI_a" define "$1.def.xml"
}

attempt_of() {
	sed -n "s|.*<cvm:attempt>\(.*\)</cvm:attempt>.*|\1|p" "$1"
}

test_expect_success 'one private host, three CVMs, and domains cvmctl does not own' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 48 "$URI_a" &&
	write_cvm specs/web-1.yaml web-1 &&
	write_cvm specs/web-2.yaml web-2 &&
	write_cvm specs/web-3.yaml web-3 &&
	foreign_domain legacy-db &&
	virsh -q -c "$URI_a" start legacy-db &&
	foreign_domain legacy-batch &&
	virsh -c "$URI_a" dumpxml test >test.before &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.before &&
	virsh -c "$URI_a" dumpxml legacy-batch >legacy-batch.before &&
	grep "<domain type=.test. id=" test.before &&
	! grep "cvm:" test.before
'

test_expect_success 'reconcile creates the CVMs and leaves the foreign domains alone' '
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 3 created, .* 0 deleted, 0 up to date; 0 failed" &&
	virsh_names "$URI_a" >names &&
	printf "legacy-batch\nlegacy-db\ntest\nweb-1\nweb-2\nweb-3\n" >expect && test_cmp expect names &&
	cvmctl list -o json | jq -r ".[].name" | sort >records &&
	printf "web-1\nweb-2\nweb-3\n" >expect && test_cmp expect records
'

test_expect_success 'a domain undefined behind our back is recreated under the same id' '
	id1=$(record_field web-1 id) &&
	virsh -c "$URI_a" dumpxml web-1 >web-1.before &&
	virsh -q -c "$URI_a" destroy web-1 && virsh -q -c "$URI_a" undefine web-1 &&
	! virsh_names "$URI_a" | grep -x web-1 &&
	cvmctl plan -f specs >plan.out &&
	grep "^  + create   web-1  ${id1%%-*}.*(its resource disappeared; recreating it under the same id)$" plan.out &&
	cvmctl reconcile -f specs --once >out &&
	grep "^recreated web-1 *$id1 " out &&
	summary out | grep "^default: 1 created, 0 adopted, 0 started, .* 0 deleted, 2 up to date; 0 failed" &&
	virsh -c "$URI_a" dumpxml web-1 >web-1.after &&
	sed -n "s|^  <uuid>\(.*\)</uuid>$|\1|p" web-1.after >uuid &&
	echo "$id1" >expect && test_cmp expect uuid &&
	grep -F "<cvm:id>$id1</cvm:id>" web-1.after &&
	test "$(virsh -c "$URI_a" domstate web-1 | sed "/^$/d")" = running &&
	test "$(record_field web-1 id)" = "$id1" &&
	test "$(record_field web-1 status)" = Running
'

test_expect_success 'the recreate is a new create attempt, and on record' '
	old=$(attempt_of web-1.before) && new=$(attempt_of web-1.after) &&
	test -n "$old" && test -n "$new" && test "$old" != "$new" &&
	cvmctl get web-1 -o json >get.json &&
	jq -r ".history[] | [.event, .message] | @tsv" get.json >history &&
	grep "^recreated	its resource disappeared; recreating it under the same id on $URI_a$" history &&
	grep "^intent	create on $URI_a (attempt $new): its resource disappeared" history &&
	grep "^intent	create on $URI_a (attempt $old): new CVM$" history
'

test_expect_success 'a domain shut off behind our back is started again' '
	id2=$(record_field web-2 id) &&
	virsh -q -c "$URI_a" destroy web-2 &&
	test "$(virsh -c "$URI_a" domstate web-2 | sed "/^$/d")" = "shut off" &&
	cvmctl plan -f specs >plan.out &&
	grep "^  > start    web-2  ${id2%%-*}.*(found shut off)$" plan.out &&
	cvmctl reconcile -f specs --once >out &&
	grep "^started   web-2 *$id2 " out &&
	summary out | grep "^default: 0 created, 0 adopted, 1 started, .* 0 deleted, 2 up to date; 0 failed" &&
	test "$(virsh -c "$URI_a" domstate web-2 | sed "/^$/d")" = running &&
	test "$(virsh -c "$URI_a" domuuid web-2 | sed "/^$/d")" = "$id2" &&
	cvmctl get web-2 -o json | jq -r ".history[-1] | [.event, .message] | @tsv" >last &&
	printf "started\tfound shut off on %s\n" "$URI_a" >expect && test_cmp expect last &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode
'

test_expect_success 'a delete pass leaves the foreign domains alone too' '
	rm specs/web-3.yaml &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 0 created, .* 1 deleted, 2 up to date; 0 failed" &&
	virsh_names "$URI_a" >names &&
	printf "legacy-batch\nlegacy-db\ntest\nweb-1\nweb-2\n" >expect && test_cmp expect names &&
	virsh -c "$URI_a" dumpxml test >test.after && test_cmp test.before test.after &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.after && test_cmp legacy-db.before legacy-db.after &&
	virsh -c "$URI_a" dumpxml legacy-batch >legacy-batch.after && test_cmp legacy-batch.before legacy-batch.after &&
	! cvmctl list -o json | jq -r ".[].name" | grep -x -e test -e "legacy-.*"
'

test_expect_success 'an empty-looking spec tree with --allow-empty still spares them' '
	mkdir empty && cp specs/providers.yaml empty/ &&
	cvmctl reconcile -f empty --once --allow-empty >out &&
	summary out | grep "^default: 0 created, .* 2 deleted, 0 up to date; 0 failed" &&
	virsh_names "$URI_a" >names &&
	printf "legacy-batch\nlegacy-db\ntest\n" >expect && test_cmp expect names &&
	virsh -c "$URI_a" dumpxml test >test.after && test_cmp test.before test.after &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.after && test_cmp legacy-db.before legacy-db.after &&
	virsh -c "$URI_a" dumpxml legacy-batch >legacy-batch.after && test_cmp legacy-batch.before legacy-batch.after
'

test_expect_success 'a foreign domain with the name of a desired CVM is never touched' '
	write_cvm specs/legacy-db.yaml legacy-db &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "create legacy-db (.*): a domain named legacy-db that cvmctl does not own already exists on $URI_a" err &&
	summary out | grep "^default: 2 created, .* 0 deleted, 0 up to date; 1 failed" &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.after && test_cmp legacy-db.before legacy-db.after &&
	test "$(virsh -c "$URI_a" domstate legacy-db | sed "/^$/d")" = running &&
	test "$(record_field legacy-db status)" = Failed
'

test_expect_success 'nor on the next pass, and plan does not claim it' '
	cvmctl plan -f specs -o json >plan.json &&
	jq -r ".actions[] | select(.name == \"legacy-db\") | .action" plan.json >action &&
	echo create >expect && test_cmp expect action &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "a domain named legacy-db that cvmctl does not own already exists" err &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.after && test_cmp legacy-db.before legacy-db.after &&
	cvmctl get legacy-db -o json | jq -r .lastError >lasterr &&
	grep "does not own" lasterr
'

test_expect_success 'once the spec is gone, the failed record is retired and the domain still stands' '
	rm specs/legacy-db.yaml &&
	cvmctl reconcile -f specs --once >out 2>err &&
	virsh -c "$URI_a" dumpxml legacy-db >legacy-db.after && test_cmp legacy-db.before legacy-db.after &&
	test "$(record_field legacy-db status)" = Inactive
'

test_expect_success 'a domain with our markers from another installation is not ours either' '
	virsh -c "$URI_a" dumpxml web-1 >web-1.now &&
	other=$(cat /proc/sys/kernel/random/uuid) && uuid=$(cat /proc/sys/kernel/random/uuid) &&
	sed -e "s|<cvm:installation>[^<]*<|<cvm:installation>$other<|" \
	    -e "s|<uuid>[^<]*<|<uuid>$uuid<|" -e "s|<cvm:id>[^<]*<|<cvm:id>$uuid<|" \
	    -e "s|<name>web-1<|<name>web-9<|" -e "s|<cvm:name>web-1<|<cvm:name>web-9<|" \
	    -e "/<domain /s/ id=.[0-9]*.//" web-1.now >web-9.def.xml &&
	virsh -q -c "$URI_a" define web-9.def.xml &&
	virsh -c "$URI_a" dumpxml web-9 >web-9.before &&
	write_cvm specs/web-9.yaml web-9 &&
	test_expect_code 1 cvmctl reconcile -f specs --once >out 2>err &&
	grep "create web-9 (.*): a domain named web-9 already exists on $URI_a (cvmctl CVM $uuid)$" err &&
	virsh -c "$URI_a" dumpxml web-9 >web-9.after && test_cmp web-9.before web-9.after &&
	test "$(record_field web-9 status)" = Failed &&
	! cvmctl list -o json | jq -r ".[].id" | grep -x "$uuid"
'

test_done
