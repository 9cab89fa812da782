#!/bin/bash
# The test harness itself: lib.sh reports what it should, and libvirtd.sh
# gives each test private daemons whose state outlives a single client and
# that are gone when the script ends.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"

# A child test script, run like prove would; its trash goes under ./tmp.
# KEEP=1 sets its KEEP_TRASH (the one of this script is not passed on).
run_child() {
	mkdir -p tmp &&
	KEEP_TRASH=${KEEP:-} TMPDIR=$PWD/tmp "$@"
}

test_expect_success 'a failing test does not stop the others; the plan comes last' '
	cat >child.sh <<-\EOF &&
	#!/bin/bash
	. "$SRCDIR/tests/e2e/lib.sh"
	test_expect_success "passes" "true"
	test_expect_success "fails" "echo some output; false"
	test_expect_code 3 "exits with 3" "(exit 3)"
	test_expect_success "helpers" "
		test_must_fail false &&
		test_expect_code 4 sh -c \"exit 4\" &&
		! test_must_fail true &&
		! test_must_fail sh -c \"kill -TERM \\\$\\\$\" &&
		echo a >x && echo a >y && test_cmp x y &&
		echo b >y && ! test_cmp x y
	"
	test_expect_success NOPE "needs a prerequisite" "false"
	test_done
	EOF
	chmod +x child.sh &&
	test_expect_code 1 run_child ./child.sh >out 2>err &&
	cat >expect <<-\EOF &&
	ok 1 - passes
	not ok 2 - fails
	ok 3 - exits with 3
	ok 4 - helpers
	ok 5 # SKIP needs a prerequisite (missing prerequisite NOPE)
	1..5
	EOF
	test_cmp expect out &&
	grep "^# some output" err &&
	grep "test 2 failed: fails" err
'

test_expect_success 'the environment is private and deterministic' '
	cat >child.sh <<-\EOF &&
	#!/bin/bash
	. "$SRCDIR/tests/e2e/lib.sh"
	test_expect_success "env" "
		test \"\$PWD\" = \"\$TRASH\" &&
		test \"\$HOME\" = \"\$TRASH\" &&
		test \"\$XDG_STATE_HOME\" = \"\$TRASH/.local/state\" &&
		test -d \"\$XDG_STATE_HOME\" &&
		test \"\$TZ\" = UTC && test \"\$LANG\" = C &&
		test -n \"\$CVMCTL\" && test -n \"\$SRCDIR\"
	"
	test_done
	EOF
	run_child ./child.sh >out 2>err &&
	printf "ok 1 - env\n1..1\n" >expect &&
	test_cmp expect out
'

test_expect_success 'trash is removed, or kept for a failed script with KEEP_TRASH=1' '
	rm -rf tmp &&
	printf "%s\n" "#!/bin/bash" ". \"\$SRCDIR/tests/e2e/lib.sh\"" \
		"test_expect_success pass true" "test_done" >pass.sh &&
	printf "%s\n" "#!/bin/bash" ". \"\$SRCDIR/tests/e2e/lib.sh\"" \
		"test_expect_success fail false" "test_done" >fail.sh &&
	chmod +x pass.sh fail.sh &&
	KEEP=1 run_child ./pass.sh >out 2>&1 &&
	test_must_fail run_child ./fail.sh >out 2>&1 &&
	test -z "$(ls tmp)" &&
	KEEP=1 test_must_fail run_child ./fail.sh >out 2>&1 &&
	test "$(ls tmp | wc -l)" = 1 &&
	grep "trash directory kept" out
'

test_expect_success 'a body that kills the shell (set -u) is still a reported failure' '
	printf "%s\n" "#!/bin/bash" ". \"\$SRCDIR/tests/e2e/lib.sh\"" "set -u" \
		"test_expect_success one true" \
		"test_expect_success two \"echo \\\$no_such_var\"" \
		"test_expect_success three true" "test_done" >abort.sh &&
	chmod +x abort.sh &&
	test_must_fail run_child ./abort.sh >out 2>err &&
	printf "ok 1 - one\nnot ok 2 - two\n1..2\n" >expect &&
	test_cmp expect out
'

test_expect_success 'two private daemons start' '
	libvirtd_start a b &&
	test -S "$(libvirtd_dir a)/run/libvirt-sock" &&
	test -S "$(libvirtd_dir b)/run/libvirt-sock" &&
	test "$URI_a" = "test+unix:///default?socket=$TRASH/libvirtd-a/run/libvirt-sock" &&
	test "$(cat "$(libvirtd_dir a)/libvirtd.pid")" = "$(libvirtd_pid a)" &&
	virsh -c "$URI_a" list --all --name >list &&
	printf "test\n\n" >expect &&
	test_cmp expect list
'

cat >dom.xml <<EOF
<domain type='test'>
  <name>harness-cvm</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
EOF

test_expect_success 'a domain defined by one process is seen by the next (holder)' '
	virsh -c "$URI_a" define dom.xml &&
	virsh -c "$URI_a" list --all --name >list &&
	grep -x harness-cvm list &&
	virsh -c "$URI_a" domstate harness-cvm >state &&
	echo "shut off" >expect && sed "/^$/d" state >actual && test_cmp expect actual &&
	test_wait_for 5 "grep -q \"harness-cvm.*Defined\" \"$(libvirtd_dir a)/events.log\""
'

test_expect_success 'host b has its own state' '
	virsh -c "$URI_b" list --all --name >list &&
	! grep -x harness-cvm list &&
	grep -x test list
'

test_expect_success 'a stopped host is unreachable, the other still works' '
	pid=$(libvirtd_pid b) && holder=$(libvirtd_holder_pid b) &&
	libvirtd_stop b &&
	test_must_fail virsh -c "$URI_b" list --all &&
	! libvirtd_alive_ "$pid" && ! libvirtd_alive_ "$holder" &&
	virsh -c "$URI_a" list --all --name >list &&
	grep -x harness-cvm list
'

# The cleanup check runs a child script whose daemons are left running on
# purpose, then looks for them after the child is gone.
cat >daemons.sh <<\EOF
#!/bin/bash
. "$SRCDIR/tests/e2e/lib.sh"
. "$SRCDIR/tests/e2e/libvirtd.sh"
test_expect_success "start" '
	libvirtd_start x y &&
	for n in x y; do
		echo "$(libvirtd_pid $n) $(libvirtd_holder_pid $n) $(libvirtd_dir $n)"
	done >"$PIDS.tmp"
'
if [ -n "${HANG:-}" ]; then
	# wait, unlike a foreground command, lets the TERM trap run at once.
	sleep 60 &
	test_atexit "kill $!"
	# Only now tell the parent: bash can lose a trap that fires while
	# it parses a $(...) in a body.
	mv "$PIDS.tmp" "$PIDS"
	wait $!
fi
mv "$PIDS.tmp" "$PIDS" 2>/dev/null
test_done
EOF
chmod +x daemons.sh

test_daemons_gone() {
	test -s "$1" &&
	while read -r pid holder dir; do
		! libvirtd_alive_ "$pid" && ! libvirtd_alive_ "$holder" &&
		test ! -e "$dir" || { echo "left behind: $pid $holder $dir"; return 1; }
	done <"$1"
}

test_expect_success 'the exit trap stops every daemon and holder' '
	PIDS=$PWD/pids run_child ./daemons.sh >out 2>&1 &&
	printf "ok 1 - start\n1..1\n" >expect && test_cmp expect out &&
	test_daemons_gone pids
'

test_expect_success 'so does SIGTERM (the runner timeout)' '
	PIDS=$PWD/pids2 HANG=1 KEEP_TRASH= TMPDIR=$PWD/tmp ./daemons.sh >out 2>&1 &
	child=$! &&
	test_wait_for 15 "test -s pids2" &&
	kill -TERM "$child" &&
	test_expect_code 143 wait "$child" &&
	test_daemons_gone pids2 ||
	{ cat out; false; }
'

test_done
