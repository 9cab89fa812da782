#!/bin/bash
# make demo's script, run as a newcomer would, twice: it shows the CVMs it
# created (NAME, ID, URL, BACKEND, STATUS) on the libvirt hosts, on the
# Compute Engine emulator and on the Resource Manager emulator, a second pass in a new process does nothing,
# plan --detailed-exitcode exits 0, and the second run gives the same
# result (same CVMs, same placement, all Running).

. "$(dirname "$0")/lib.sh"

# The demo's fixed paths (/tmp/cvmctl-demo, build/demo-state) are its own;
# no other test uses them.
summary() { # the table without the ids (new ones every run)
	sed -n "/^\$ cvmctl list\$/,/^\$/p" "$1" | awk "NF >= 5 { print \$1, \$3 ~ /:7002\$/ ? \"url\" : \$3, \$4, \$5 }"
}

test_expect_success 'the demo runs' '
	"$SRCDIR/examples/demo.sh" "$CVMCTL" >run1.out 2>run1.err
'

test_expect_success 'it prints the CVMs it created: NAME, ID, URL, BACKEND, STATUS' '
	summary run1.out >table1 &&
	cat >expect <<-\EOF &&
	NAME URL BACKEND STATUS
	analytics-01 url manager/lab Running
	analytics-02 url manager/lab Running
	inference-01 url manager/lab Running
	NAME URL BACKEND STATUS
	billing-1 url gcp/gcp-demo Running
	billing-2 url gcp/gcp-demo Running
	NAME URL BACKEND STATUS
	ledger-1 url azure/azure-demo Running
	ledger-2 url azure/azure-demo Running
	EOF
	test_cmp expect table1 &&
	grep -c "^created " run1.out >n && echo 7 >expect && test_cmp expect n &&
	grep -c "	RUNNING	SEV_SNP	" run1.out >n && echo 2 >expect && test_cmp expect n &&
	grep -c "	ConfidentialVM	PowerState/running	" run1.out >n && echo 2 >expect && test_cmp expect n
'

test_expect_success 'the second pass did nothing and plan found nothing' '
	grep -q "0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 3 up to date; 0 failed, 0 unknown, 0 refused." run1.out &&
	grep -q "^No changes. 3 CVMs up to date.$" run1.out &&
	grep -c "0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 2 up to date; 0 failed, 0 unknown, 0 refused." run1.out >n &&
	echo 2 >expect && test_cmp expect n
'

test_expect_success 'a second run gives the same result' '
	"$SRCDIR/examples/demo.sh" "$CVMCTL" >run2.out 2>run2.err &&
	summary run2.out >table2 &&
	test_cmp table1 table2 &&
	grep "^created " run1.out | awk "{ print \$1, \$2, \$4 }" >placed1 &&
	grep "^created " run2.out | awk "{ print \$1, \$2, \$4 }" >placed2 &&
	test_cmp placed1 placed2
'

test_expect_success 'the demo leaves no daemon behind' '
	! pgrep -f "/tmp/cvmctl-demo/host-[12]/libvirtd.conf" &&
	! pgrep -f "socket=/tmp/cvmctl-demo/host-[12]/libvirt-sock" &&
	! pgrep -f "gce-emu --tls-cert /tmp/cvmctl-demo/gce/" &&
	! pgrep -f "arm-emu --tls-cert /tmp/cvmctl-demo/arm/"
'

test_done
