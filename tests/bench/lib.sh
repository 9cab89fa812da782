# tests/bench/lib.sh: what the libvirt benchmarks share. Source it after
# setting SRC (the source tree) and, optionally, LIBVIRTD_MAX_LIFETIME:
#
#	bench_scratch NAME   TRASH: a scratch directory under BENCH_DIR, $TMPDIR
#	                     or /tmp, removed on exit (kept with KEEP=1), with
#	                     the daemons of tests/e2e/libvirtd.sh stopped first
#	now, elapsed T0 T1   wall clock in seconds, and the difference
#	median V..., max V...
# shellcheck shell=bash

atexit_cmds=""
test_atexit() { atexit_cmds="$1; $atexit_cmds"; }

bench_scratch() {
	TRASH=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cvmctl-$1.XXXXXX")
	# set +e: a daemon that is already gone must not stop the others' cleanup.
	trap 'set +e; eval "$atexit_cmds"; [ -n "${KEEP:-}" ] || rm -rf "$TRASH"' EXIT
}

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# shellcheck source=tests/e2e/libvirtd.sh
. "$SRC/tests/e2e/libvirtd.sh"
