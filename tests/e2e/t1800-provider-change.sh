#!/bin/bash
# A change to a Provider reaches its CVMs as the backend's schema says: a
# new kernel cannot reach a running SEV-SNP guest (it is measured at
# launch), so every CVM of that provider is planned as a replace naming
# provider.kernel, refused without --allow-replace (exit 4, nothing
# changed) and, with it, recreated under the same id with the new kernel.
# A change that only later calls see (capacity) touches no CVM.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

kernel_of() {
	virsh -c "$URI_a" dumpxml "$1" | sed -n "s|^ *<kernel>\(.*\)</kernel>$|\1|p"
}

test_expect_success 'one private host and two CVMs on it' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 48 "$URI_a" &&
	write_cvm specs/web-1.yaml web-1 &&
	write_cvm specs/web-2.yaml web-2 &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 2 created, .* 0 deleted, 0 up to date; 0 failed" &&
	test "$(kernel_of web-1)" = /srv/cvm-guest/bzImage &&
	test "$(kernel_of web-2)" = /srv/cvm-guest/bzImage &&
	id1=$(record_field web-1 id) && id2=$(record_field web-2 id) &&
	test -n "$id1" && test -n "$id2" &&
	echo "$id1" >id1 && echo "$id2" >id2
'

test_expect_success 'a new capacity is a Provider change no CVM sees' '
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode >plan.out &&
	grep "^No changes" plan.out
'

test_expect_success 'a new kernel: plan lists a replace of each CVM, naming provider.kernel' '
	id1=$(cat id1) && id2=$(cat id2) &&
	sed -i "s|kernel: /srv/cvm-guest/bzImage$|kernel: /srv/cvm-guest/bzImage-6.8|" specs/providers.yaml &&
	grep -x "  kernel: /srv/cvm-guest/bzImage-6.8" specs/providers.yaml &&
	cvmctl validate -f specs &&
	test_expect_code 4 cvmctl plan -f specs >plan.out &&
	grep "^-/+ replace  web-1  ${id1%%-*}.*\[provider.kernel\].*REFUSED: replacing needs --allow-replace$" plan.out &&
	grep "^-/+ replace  web-2  ${id2%%-*}.*\[provider.kernel\].*REFUSED: replacing needs --allow-replace$" plan.out &&
	test_expect_code 4 cvmctl plan -f specs -o json >plan.json &&
	jq -c "[.actions[] | [.name, .action, .fields, .refused]]" plan.json >actions &&
	echo "[[\"web-1\",\"replace\",[\"provider.kernel\"],true],[\"web-2\",\"replace\",[\"provider.kernel\"],true]]" >expect &&
	test_cmp expect actions
'

test_expect_success 'reconcile without --allow-replace refuses (exit 4) and changes nothing' '
	virsh -c "$URI_a" dumpxml web-1 >web-1.before &&
	virsh -c "$URI_a" dumpxml web-2 >web-2.before &&
	test_expect_code 4 cvmctl reconcile -f specs --once >out 2>err &&
	grep "replace web-1: refused: replacing needs --allow-replace" err &&
	grep "replace web-2: refused: replacing needs --allow-replace" err &&
	summary out | grep "^default: 0 created, .* 0 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 2 refused.$" &&
	virsh -c "$URI_a" dumpxml web-1 >web-1.after && test_cmp web-1.before web-1.after &&
	virsh -c "$URI_a" dumpxml web-2 >web-2.after && test_cmp web-2.before web-2.after
'

test_expect_success 'with --allow-replace the domains are recreated under the same ids with the new kernel' '
	id1=$(cat id1) && id2=$(cat id2) &&
	cvmctl reconcile -f specs --once --allow-replace >out &&
	grep "^replaced  web-1 *$id1 " out &&
	grep "^replaced  web-2 *$id2 " out &&
	summary out | grep "^default: 0 created, .* 2 replaced, 0 deleted, 0 up to date; 0 failed, 0 unknown, 0 refused.$" &&
	test "$(virsh -c "$URI_a" domuuid web-1 | sed "/^$/d")" = "$id1" &&
	test "$(virsh -c "$URI_a" domuuid web-2 | sed "/^$/d")" = "$id2" &&
	test "$(kernel_of web-1)" = /srv/cvm-guest/bzImage-6.8 &&
	test "$(kernel_of web-2)" = /srv/cvm-guest/bzImage-6.8 &&
	test "$(record_field web-1 status)" = Running &&
	test "$(record_field web-2 status)" = Running
'

test_expect_success 'a second pass does nothing' '
	test_expect_code 0 cvmctl plan -f specs --detailed-exitcode >plan.out &&
	cvmctl reconcile -f specs --once >out &&
	summary out | grep "^default: 0 created, .* 0 replaced, 0 deleted, 2 up to date; 0 failed, 0 unknown, 0 refused.$"
'

test_done
