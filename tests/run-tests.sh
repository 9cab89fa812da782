#!/bin/bash
# tests/run-tests.sh BUILD_DIR [TEST...]: run the cmocka unit binaries
# (BUILD_DIR/tests/test_*) and the end-to-end scripts (tests/e2e/t[0-9]*.sh)
# under prove, or only the TESTs named.
#
# Every process inherits sanitizer options that write reports to files in
# BUILD_DIR/test-logs/run.*, so a report from a cvmctl started in the background by
# an e2e test fails the suite just like one from a unit binary. The last line
# is the count of TAP test points: "N passed, N failed[, N skipped]".
#
# Environment: CI=true counts skipped tests as failures; PROVE_JOBS (2);
# TEST_TIMEOUT per test file in seconds (300); PROVE_OPTS extra prove options.
set -u

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
SELF=$SRCDIR/tests/run-tests.sh

# prove runs every test through this script (--exec), which keeps a copy of
# its TAP and its exit status for the summary.
if [ "${1:-}" = --exec-tee ]; then
	t=$2
	name=${t#"$SRCDIR"/}
	name=${name#"$BUILD_DIR"/}
	name=${name//\//_}
	# A file, not a pipe: a child the test leaves behind with our stdout
	# must not hold up the run until it exits.
	timeout -k 10 "${TEST_TIMEOUT:-300}" "$t" >"$TAPDIR/$name.tap"
	rc=$?
	echo "$rc" >"$TAPDIR/$name.rc"
	cat "$TAPDIR/$name.tap"
	if [ "$rc" = 124 ]; then
		echo "# $t: killed after ${TEST_TIMEOUT:-300} s" >&2
	fi
	exit "$rc"
fi

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR [TEST...]" >&2
	exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
shift

# One directory per run: two runs over the same build must not share
# report files. Kept when something failed.
mkdir -p "$BUILD_DIR/test-logs" &&
LOGDIR=$(mktemp -d "$BUILD_DIR/test-logs/run.XXXXXX") || exit 1
TAPDIR=$LOGDIR/tap
mkdir "$TAPDIR" || exit 1

ASAN_OPTIONS=log_path=$LOGDIR/asan:abort_on_error=0:detect_leaks=1
UBSAN_OPTIONS=print_stacktrace=1:log_path=$LOGDIR/ubsan:halt_on_error=1
if [ -f "$SRCDIR/tests/lsan.supp" ]; then
	# print_suppressions=0: a matched suppression alone must not leave a
	# non-empty report file.
	LSAN_OPTIONS=suppressions=$SRCDIR/tests/lsan.supp:print_suppressions=0
	export LSAN_OPTIONS
fi
CMOCKA_MESSAGE_OUTPUT=TAP
CVMCTL=$BUILD_DIR/cvmctl
TOOLS=$BUILD_DIR/tests/tools
export ASAN_OPTIONS UBSAN_OPTIONS CMOCKA_MESSAGE_OUTPUT CVMCTL TOOLS SRCDIR BUILD_DIR TAPDIR

tests=()
# Shell tests drive $CVMCTL: without it they would only fail, some of them
# in loops that fill the disk with the same error. Say so once instead.
need_cvmctl() {
	[ -x "$CVMCTL" ] && return 0
	echo "$0: $CVMCTL is missing: build it first (make O=${BUILD_DIR#"$SRCDIR"/} SAN=1 ${BUILD_DIR#"$SRCDIR"/}/cvmctl)" >&2
	exit 2
}
if [ $# -gt 0 ]; then
	for t in "$@"; do
		case "$t" in /*) ;; *) t=$PWD/$t ;; esac
		tests+=("$t")
	done
else
	for t in "$BUILD_DIR"/tests/test_* "$SRCDIR"/tests/e2e/t[0-9]*.sh; do
		[ -f "$t" ] && [ -x "$t" ] && tests+=("$t")
	done
fi
for t in "${tests[@]}"; do
	case "$t" in *.sh) need_cvmctl ;; esac
done
if [ ${#tests[@]} = 0 ]; then
	echo "run-tests.sh: no tests found" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

cd "$SRCDIR" || exit 1
# shellcheck disable=SC2086 # PROVE_OPTS is a list of options
prove --jobs "${PROVE_JOBS:-2}" ${PROVE_OPTS:-} --exec "$SELF --exec-tee" "${tests[@]}"
prove_rc=$?

# Count test points from the saved TAP, the way prove judges them: "not ok"
# (even with # SKIP) fails, "ok # SKIP" skips, tests missing from the plan
# and a non-zero exit without a failing point each count as one failure.
summary=$(CI=${CI:-} PROVE_RC=$prove_rc perl -MTAP::Parser -e '
	my ($pass, $fail, $skip) = (0, 0, 0);
	my (@failed, @skipped);
	for my $tap (sort glob("$ENV{TAPDIR}/*.tap")) {
		(my $name = $tap) =~ s{.*/|\.tap$}{}g;
		open(my $fh, "<", $tap) or die "$tap: $!";
		my $text = do { local $/; <$fh> };
		my $rc = "?";
		if (open(my $rcfh, "<", "$ENV{TAPDIR}/$name.rc")) { chomp($rc = <$rcfh> // "?"); }
		my $p = TAP::Parser->new({ tap => $text });
		my ($f, $seen) = (0, 0);
		while (my $r = $p->next) {
			next unless $r->is_test;
			$seen++;
			if (!$r->is_ok) { $fail++; $f++; push @failed, "$name: " . $r->as_string; }
			elsif ($r->has_skip) { $skip++; push @skipped, "$name: " . $r->as_string; }
			else { $pass++; }
		}
		if (defined $p->skip_all) {
			$skip++; push @skipped, "$name: skipped entirely: " . $p->skip_all;
		}
		my $planned = $p->tests_planned;
		if (defined $planned && $planned > $seen && !defined $p->skip_all) {
			my $n = $planned - $seen;
			$fail += $n; $f += $n;
			push @failed, "$name: $n planned test(s) did not run";
		}
		if (!$f && ($rc ne "0" || $p->parse_errors)) {
			$fail++;
			push @failed, "$name: exit status $rc" .
				join("", map { "; $_" } $p->parse_errors);
		}
	}
	if ($ENV{PROVE_RC} ne "0" && !$fail) {
		$fail++; push @failed, "prove exited with status $ENV{PROVE_RC}";
	}
	if (($ENV{CI} // "") eq "true" && $skip) {
		print STDERR "CI=true: skipped tests count as failures\n";
		$fail += $skip; push @failed, @skipped; @skipped = (); $skip = 0;
	}
	print STDERR "FAILED: $_\n" for @failed;
	print STDERR "SKIPPED: $_\n" for @skipped;
	print "$pass $fail $skip\n";
')
read -r passed failed skipped <<<"$summary"
if [ -z "${skipped:-}" ]; then
	echo "run-tests.sh: could not count the TAP results" >&2
	passed=${passed:-0} failed=1 skipped=0
fi

for report in "$LOGDIR"/asan* "$LOGDIR"/ubsan*; do
	[ -s "$report" ] || continue
	echo "==== sanitizer report $report:" >&2
	cat "$report" >&2
	failed=$((failed + 1))
done

line="$passed passed, $failed failed"
if [ "$skipped" -gt 0 ]; then
	line="$line, $skipped skipped"
fi
if [ "$failed" = 0 ]; then
	rm -rf "$LOGDIR"
else
	echo "test logs: $LOGDIR" >&2
fi
echo "$line"
[ "$failed" = 0 ]
