#!/bin/bash
# reconcile --watch: a daemon that converges on every change under the spec
# tree (inotify), holds the state lock only during a pass (so other
# commands work beside it), and stops cleanly on SIGTERM.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

# Waits up to 20 s for a command to succeed (the daemon works on its own
# time; this polls its effect, it does not time the daemon).
wait_for() {
	local i
	for i in $(seq 200); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

running_names() {
	cvmctl --lock-timeout 10s list -o json | jq -r '.[] | select(.status == "Running") | .name' | sort | tr '\n' ' '
}

test_expect_success 'a host and a tree of one CVM' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	write_cvm specs/one.yaml one
'

test_expect_success 'the daemon starts and converges the tree' '
	{ "$CVMCTL" reconcile -f specs --watch --resync 1h --debounce 200ms --prune-delay 1s >watch.log 2>&1 & } &&
	watch_pid=$! &&
	test_atexit "kill $watch_pid 2>/dev/null || true" &&
	wait_for "test \"\$(running_names)\" = \"one \""
'

test_expect_success 'a new spec file is picked up without a restart' '
	write_cvm specs/two.yaml two &&
	wait_for "test \"\$(running_names)\" = \"one two \"" &&
	virsh_names "$URI_a" >names &&
	printf "one\ntest\ntwo\n" >expect && test_cmp expect names
'

test_expect_success 'a new directory is watched too' '
	mkdir specs/team &&
	write_cvm specs/team/three.yaml three &&
	wait_for "test \"\$(running_names)\" = \"one three two \""
'

test_expect_success 'other commands run beside the daemon (the lock is per pass)' '
	cvmctl --lock-timeout 10s cert list one >certs &&
	grep -q "default" certs &&
	cvmctl --lock-timeout 10s cert issue one >issued &&
	grep -q "^issued " issued
'

test_expect_success 'a removed spec deletes its CVM, keeping the record Inactive' '
	rm specs/two.yaml &&
	wait_for "cvmctl list -o json | jq -e \".[] | select(.name == \\\"two\\\" and .status == \\\"Inactive\\\")\" >/dev/null" &&
	virsh_names "$URI_a" >names &&
	printf "one\ntest\nthree\n" >expect && test_cmp expect names
'

test_expect_success 'a broken file changes nothing while the daemon keeps running' '
	printf "apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: [\n" >specs/broken.yaml &&
	wait_for "grep -q \"broken.yaml:\" watch.log" &&
	kill -0 $watch_pid &&
	test "$(running_names)" = "one three " &&
	rm specs/broken.yaml
'

test_expect_success 'SIGTERM stops the daemon with exit 0' '
	kill -TERM $watch_pid &&
	wait $watch_pid &&
	grep -q "stopping on signal" watch.log
'

test_expect_success 'list --refresh observes live with the recorded provider settings' '
	virsh -q -c "$URI_a" destroy one >/dev/null &&
	cvmctl list -o json | jq -r ".[] | select(.name == \"one\") | .status" >recorded &&
	echo Running >expect && test_cmp expect recorded &&
	cvmctl list --refresh -o json | jq -r ".[] | select(.name == \"one\") | .status" >live &&
	echo Stopped >expect && test_cmp expect live &&
	cvmctl list --refresh -f specs -o json | jq -r ".[] | select(.name == \"one\") | .status" >live-f &&
	test_cmp expect live-f
'

test_expect_success 'list --refresh marks the CVMs of an unreachable host Unknown' '
	libvirtd_stop a &&
	cvmctl list --refresh -o json 2>err | jq -r ".[] | select(.status != \"Inactive\") | .status" | sort -u >live &&
	echo Unknown >expect && test_cmp expect live &&
	grep -q "cannot be observed" err
'

test_done
