#!/bin/bash
# What the process guards for itself: a crash leaves no core file (the CA
# key would be in it), standard output is checked at exit as git checks it
# (a full disk or a closed descriptor is exit 1 with a message, a reader
# that went away is quiet), and durations that would overflow are usage
# errors rather than short waits.

. "$(dirname "$0")/lib.sh"

test_expect_success 'a SIGSEGV while the CA key is in memory leaves no core file' '
	mkdir crash && (
		cd crash &&
		ulimit -c 65536 &&
		# ASan would catch the signal and turn dumps off itself: let the
		# kernel see the crash as a release build would.
		ASAN_OPTIONS=handle_segv=0:disable_coredump=0 CVMCTL_CRASH_AT=pki-ca-key-written \
			CVMCTL_CRASH_SIGNAL=SEGV "$CVMCTL" --state-dir "$TRASH/st" ca init 2>err
		test $? = 139 &&
		grep "raising SIGSEGV (dumpable 0, core limit 0)" err
	) &&
	ls -A crash >files &&
	echo err >expect &&
	test_cmp expect files
'

test_expect_success 'list -o json to a full disk: exit 1 and one message' '
	test_expect_code 1 cvmctl list -o json >/dev/full 2>err &&
	grep "^cvmctl: error: cannot write the output (flush): No space left on device$" err &&
	test "$(wc -l <err)" = 1
'

test_expect_success 'plan -o json with standard output closed: exit 1 and a message' '
	mkdir specs &&
	test_expect_code 1 cvmctl plan -f specs -o json >&- 2>err &&
	grep "cannot write the output: standard output is closed" err
'

test_expect_success 'a closed standard output is not lent to the state database' '
	test_expect_code 1 cvmctl --state-dir "$TRASH/st2" ca init >&- 2>err &&
	grep "standard output is closed" err &&
	cvmctl --state-dir "$TRASH/st2" list -o json >out &&
	echo "[]" >expect && test_cmp expect out &&
	cvmctl --state-dir "$TRASH/st2" ca download >ca.pem &&
	grep "BEGIN CERTIFICATE" ca.pem
'

test_expect_success 'a reader that stops early: no message' '
	cvmctl --help | head -1 >out 2>err &&
	test_must_be_empty err &&
	grep "^usage: cvmctl" out
'

test_expect_success '--lock-timeout beyond what the lock can wait: usage error (exit 3)' '
	test_expect_code 3 cvmctl --lock-timeout 4294968s list 2>err &&
	grep "longer than the maximum of 24d" err &&
	test_expect_code 3 cvmctl --lock-timeout 999999999999d list 2>err &&
	grep "longer than the maximum of 24d" err &&
	cvmctl --lock-timeout 24d list >/dev/null
'

test_expect_success '--log-format json: a usage error is a JSON object too; as text an argument is escaped' '
	test_expect_code 3 cvmctl --log-format json validate --bogus 2>err &&
	jq -e ".level == \"error\" and (.msg | test(\"unknown or incomplete flag\"))" err &&
	esc=$(printf "x\033[31m") &&
	test_expect_code 3 cvmctl validate "$esc" 2>err &&
	grep -F "unexpected argument '"'"'x\x1b[31m'"'"'" err &&
	test_must_fail grep -q "$esc" err
'

test_done
