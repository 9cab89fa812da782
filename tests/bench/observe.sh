#!/bin/bash
# tests/bench/observe.sh [BUILD_DIR] [N]: the system calls of one converged
# manager observe() of N (1000) domains on one private test-driver libvirtd,
# counted with strace -f -c. The first observe knows nothing (every marker
# is read); the second is handed what the first saw as `known`, as a pass
# after a converged one is: it should cost a few calls per host, not calls
# per domain. Prints the strace summary lines of both runs.
set -eu
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRCDIR/build/san}" && pwd)
N=${2:-1000}
TOOL=$BUILD/tests/tools/mgr_observe
command -v strace >/dev/null || { echo "observe.sh: strace missing" >&2; exit 1; }

# lib.sh gives a trash directory and cleans up the daemons at exit.
. "$SRCDIR/tests/e2e/lib.sh"
. "$SRCDIR/tests/e2e/libvirtd.sh"
libvirtd_start h >/dev/null
"$TOOL" populate "$URI_h" "$N"

count() { # LABEL STRACE_OUT: total, and the socket I/O that crosses to the daemon
	awk -v l="$1" '
		$NF == "write" || $NF == "writev" || $NF == "sendmsg" { w += $4 }
		$NF == "read" || $NF == "recvmsg" { r += $4 }
		$NF == "poll" || $NF == "ppoll" { p += $4 }
		$NF == "total" { t = $4 }
		END { printf "%-22s total %7d  writes %6d  reads %6d  polls %6d\n", l, t, w, r, p }' "$2"
}

run() { # LABEL KNOWN OUT
	strace -f -c -o "$TRASH/strace.$1" "$TOOL" observe "$URI_h" "$2" "$3" >"$TRASH/out.$1"
	count "$1 ($(cut -d' ' -f2 "$TRASH/out.$1") seen)" "$TRASH/strace.$1"
}

run cold "" "$TRASH/known.json"
run converged "$TRASH/known.json" "$TRASH/again.json"
test_done_called_=1
