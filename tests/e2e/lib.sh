# tests/e2e/lib.sh: a tiny TAP library for end-to-end tests that read like a
# user session (after git's t/test-lib.sh). Source it first:
#
#	#!/bin/bash
#	. "$(dirname "$0")/lib.sh"
#	test_expect_success 'plan shows the new CVM' '
#		cvmctl plan -f specs >out &&
#		grep "create cvm/a" out
#	'
#	test_expect_code 2 'plan --detailed-exitcode reports changes' '
#		cvmctl plan -f specs --detailed-exitcode
#	'
#	test_done
#
# Each test body is eval'ed in the script's own shell (so variables and
# started daemons carry over to later tests); its output goes to a file and
# is shown, prefixed with "# ", only when the test fails or with -v. A
# failing test never stops the others. The plan "1..N" is printed by
# test_done.
#
# Inside a body:  test_must_fail CMD..., test_expect_code N CMD...,
# test_cmp EXPECTED ACTUAL, test_path_is_file/_dir/_missing PATH,
# test_must_be_empty FILE, test_when_finished 'CMD'.
# Prerequisites:  test_set_prereq NAME; test_expect_success NAME 'desc' 'body'
# skips the test unless NAME (comma-separated list) is set.
#
# Environment given to every script: a fresh $TRASH (cwd, HOME,
# XDG_STATE_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_RUNTIME_DIR inside it),
# TZ=UTC, LANG=C; $SRCDIR (repo root), $E2E_DIR (this directory), $CVMCTL (binary, default
# $SRCDIR/build/san/cvmctl), $TOOLS (helper programs). $TRASH is removed at
# exit unless a test failed and KEEP_TRASH=1. Stop at the first failure
# with IMMEDIATE=1.

# The library must work under `set -u` in the caller.

test_name_=$(basename "$0" .sh)
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CVMCTL=${CVMCTL:-$SRCDIR/build/san/cvmctl}
TOOLS=${TOOLS:-$SRCDIR/build/san/tests/tools}
export SRCDIR CVMCTL TOOLS

TEST_VERBOSE=${TEST_VERBOSE:-}
for arg_ in "$@"; do
	case "$arg_" in
	-v|--verbose) TEST_VERBOSE=1 ;;
	-i|--immediate) IMMEDIATE=1 ;;
	esac
done
unset arg_

TZ=UTC LANG=C LC_ALL=C
export TZ LANG LC_ALL
unset LIBVIRT_DEFAULT_URI VIRSH_DEFAULT_CONNECT_URI CDPATH

TRASH=$(mktemp -d "${TMPDIR:-/tmp}/cvmctl-$test_name_.XXXXXX") || {
	echo "Bail out! cannot create a trash directory"
	exit 1
}
export TRASH
HOME=$TRASH
XDG_STATE_HOME=$TRASH/.local/state
XDG_CONFIG_HOME=$TRASH/.config
XDG_CACHE_HOME=$TRASH/.cache
XDG_RUNTIME_DIR=$TRASH/.run
export HOME XDG_STATE_HOME XDG_CONFIG_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR
mkdir -p "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"

# TAP goes to fd 5, a copy of the original stdout; bodies and the
# processes they start get fd 5 closed, so a daemon left behind cannot keep
# prove's pipe open.
exec 5>&1
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
tap_target_=$(readlink "/proc/$$/fd/5" 2>/dev/null)

test_count_=0
test_failed_=0
test_skipped_=0
test_in_body_=
test_desc_=
test_done_called_=
test_atexit_cmds_=
test_finished_cmds_=
test_prereqs_=,

cvmctl() {
	"$CVMCTL" "$@"
}

say_() {
	printf '%s\n' "$*" >&5
}

# Comment lines go to stderr as well as TAP: prove shows a test's stderr
# even without --verbose, so a failure explains itself in the CI log.
diag_() {
	sed 's/^/# /' >&2
}

test_set_prereq() {
	test_prereqs_="$test_prereqs_$1,"
}

test_have_prereq() {
	local p rest=$1
	while [ -n "$rest" ]; do
		p=${rest%%,*}
		case "$rest" in *,*) rest=${rest#*,} ;; *) rest= ;; esac
		case "$test_prereqs_" in *",$p,"*) ;; *) return 1 ;; esac
	done
	return 0
}

# test_atexit 'CMD': run CMD when the script exits (last registered first),
# before the trash directory is removed. Used by libvirtd.sh.
test_atexit() {
	test_atexit_cmds_="$1
$test_atexit_cmds_"
}

# test_when_finished 'CMD': inside a body, run CMD after the body, whether it
# passed or not; a failing CMD fails the test.
test_when_finished() {
	test_finished_cmds_="$1 && $test_finished_cmds_"
}

test_run_body_() {
	local out=$1 body=$2 rc
	test_finished_cmds_=
	test_in_body_=1
	eval "$body" >"$out" 2>&1 5>&- && rc=0 || rc=$?
	if [ -n "$test_finished_cmds_" ]; then
		eval "${test_finished_cmds_}:" >>"$out" 2>&1 5>&- || {
			echo "test_when_finished commands failed" >>"$out"
			[ "$rc" = 0 ] && rc=1
		}
	fi
	test_in_body_=
	return "$rc"
}

test_report_() {
	local ok=$1 body=$2 out=$3 why=${4:-}
	if [ "$ok" = 0 ]; then
		say_ "ok $test_count_ - $test_desc_"
		if [ -n "$TEST_VERBOSE" ]; then
			sed 's/^/# /' "$out" >&5
		fi
	else
		test_failed_=$((test_failed_ + 1))
		say_ "not ok $test_count_ - $test_desc_"
		{
			echo "$test_name_: test $test_count_ failed: $test_desc_${why:+ ($why)}"
			printf '%s\n' "$body" | sed 's/^/	/'
			echo "--- output:"
			cat "$out"
		} | diag_
		if [ -n "${IMMEDIATE:-}" ]; then
			test_done
		fi
	fi
	rm -f "$out"
}

# test_expect_success [PREREQ] 'desc' 'body'
test_expect_success() {
	local prereq=
	if [ $# = 3 ]; then prereq=$1; shift; fi
	if [ $# != 2 ]; then
		echo "Bail out! bug in $test_name_: test_expect_success needs 'desc' 'body'"
		exit 1
	fi
	test_count_=$((test_count_ + 1))
	test_desc_=$1
	if [ -n "$prereq" ] && ! test_have_prereq "$prereq"; then
		test_skip_ "missing prerequisite $prereq"
		return 0
	fi
	local out="$TRASH/.test-$test_count_.out" rc
	test_run_body_ "$out" "$2" && rc=0 || rc=$?
	test_report_ "$rc" "$2" "$out"
}

# Outside a body: test_expect_code N [PREREQ] 'desc' 'body' (a test whose
# body must exit with N).
# Inside a body: test_expect_code N CMD... (CMD must exit with N).
test_expect_code() {
	local want=$1 rc
	shift
	if [ -n "$test_in_body_" ]; then
		"$@" && rc=0 || rc=$?
		if [ "$rc" = "$want" ]; then
			return 0
		fi
		echo "test_expect_code: command exited with $rc, wanted $want: $*" >&2
		return 1
	fi
	local prereq=
	if [ $# = 3 ]; then prereq=$1; shift; fi
	if [ $# != 2 ]; then
		echo "Bail out! bug in $test_name_: test_expect_code N 'desc' 'body'"
		exit 1
	fi
	test_count_=$((test_count_ + 1))
	test_desc_=$1
	if [ -n "$prereq" ] && ! test_have_prereq "$prereq"; then
		test_skip_ "missing prerequisite $prereq"
		return 0
	fi
	local out="$TRASH/.test-$test_count_.out"
	test_run_body_ "$out" "$2" && rc=0 || rc=$?
	if [ "$rc" = "$want" ]; then
		test_report_ 0 "$2" "$out"
	else
		test_report_ 1 "$2" "$out" "exit code $rc, wanted $want"
	fi
}

test_skip_() {
	test_skipped_=$((test_skipped_ + 1))
	say_ "ok $test_count_ # SKIP $test_desc_ ($1)"
}

# test_skip 'desc' 'reason': record a test that cannot run here. Under
# CI=true the runner counts it as a failure.
test_skip() {
	test_count_=$((test_count_ + 1))
	test_desc_=$1
	test_skip_ "$2"
}

# test_skip_all 'reason': the whole script cannot run here; call it before
# any test.
test_skip_all() {
	say_ "1..0 # SKIP $1"
	test_done_called_=1
	exit 0
}

# test_must_fail CMD...: CMD must exit non-zero, but not by a signal, a
# sanitizer abort or "command not found".
test_must_fail() {
	local rc
	"$@" && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ "$rc" -gt 128 ] && [ "$rc" -le 192 ]; then
		echo "test_must_fail: command died by signal $((rc - 128)): $*" >&2
		return 1
	elif [ "$rc" = 127 ] || [ "$rc" = 126 ]; then
		echo "test_must_fail: command not found or not executable: $*" >&2
		return 1
	fi
	return 0
}

test_cmp() {
	diff -u "$1" "$2"
}

test_path_is_file() {
	[ -f "$1" ] || { echo "not a file: $1" >&2; return 1; }
}

test_path_is_dir() {
	[ -d "$1" ] || { echo "not a directory: $1" >&2; return 1; }
}

test_path_is_missing() {
	[ ! -e "$1" ] || { echo "exists but should not: $1" >&2; return 1; }
}

test_must_be_empty() {
	if [ -s "$1" ]; then
		echo "'$1' is not empty, it contains:" >&2
		cat "$1" >&2
		return 1
	fi
	[ -e "$1" ] || { echo "missing: $1" >&2; return 1; }
}

# test_wait_for SECONDS 'CMD': poll CMD every 0.1 s until it succeeds.
test_wait_for() {
	local tries=$(($1 * 10))
	while [ "$tries" -gt 0 ]; do
		eval "$2" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	echo "timed out after $1 s waiting for: $2" >&2
	return 1
}

test_done() {
	test_done_called_=1
	say_ "1..$test_count_"
	if [ "$test_failed_" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

test_exit_() {
	local rc=$? cmd
	trap - EXIT
	# Exiting from inside a body leaves its redirections in place, fd 5
	# closed; bash keeps the saved copy at a high fd: find it by target.
	if ! { true >&5; } 2>/dev/null && [ -n "$tap_target_" ]; then
		for fd_ in /proc/$$/fd/*; do
			if [ "$(readlink "$fd_")" = "$tap_target_" ]; then
				exec 5>>"$fd_"
				break
			fi
		done
	fi
	if [ -z "$test_done_called_" ]; then
		# A body called exit, or `set -u`/`set -e` killed the shell.
		if [ -n "$test_in_body_" ]; then
			say_ "not ok $test_count_ - $test_desc_"
			echo "$test_name_: the body of test $test_count_ exited the shell (status $rc)" | diag_
			[ -f "$TRASH/.test-$test_count_.out" ] && diag_ <"$TRASH/.test-$test_count_.out"
		else
			test_count_=$((test_count_ + 1))
			say_ "not ok $test_count_ - $test_name_ exited (status $rc) before test_done"
		fi
		test_failed_=$((test_failed_ + 1))
		say_ "1..$test_count_"
		[ "$rc" = 0 ] && rc=1
	fi
	test_in_body_=
	while IFS= read -r cmd; do
		[ -n "$cmd" ] && eval "$cmd" >/dev/null 2>&1 5>&-
	done <<EOF
$test_atexit_cmds_
EOF
	cd / || :
	if [ "$test_failed_" -gt 0 ] && [ -n "${KEEP_TRASH:-}" ]; then
		echo "# $test_name_: trash directory kept: $TRASH" >&2
	else
		rm -rf "$TRASH"
	fi
	exit "$rc"
}

trap test_exit_ EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cd "$TRASH" || exit 1
