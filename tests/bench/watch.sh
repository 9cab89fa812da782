#!/bin/bash
# tests/bench/watch.sh [CVMCTL]: how quickly the watch daemon reacts, and
# what it costs while idle.
#
#   latency   from a new spec file's close (the writer's timestamp, taken
#             right after the write returns) to the backend creating the
#             domain (the timestamp virsh's event client prints for the
#             Defined event of a private test-driver libvirtd: the first
#             mutating request of the pass), p50 and p95 over RUNS (20)
#             files, each written once the previous one's pass ended. The
#             daemon's --debounce (DEBOUNCE, default 100ms) is part of it and
#             is printed beside it: latency minus debounce is cvmctl's share.
#   idle CPU  the daemon's utime+stime from /proc/PID/stat over IDLE seconds
#             (60) with nothing changing, as a percentage of one core.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
RUNS=${RUNS:-20}
IDLE=${IDLE:-60}
DEBOUNCE=${DEBOUNCE:-100ms}
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"
bench_scratch bench-watch
cd "$TRASH"

libvirtd_start w >/dev/null || { echo "watch.sh: cannot start libvirtd" >&2; exit 1; }
mkdir specs
cat >specs/providers.yaml <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: manager
  hosts: [$URI_w]
  firmware: /usr/share/ovmf/OVMF.amdsev.fd
  kernel: /srv/cvm-guest/bzImage
  initrd: /srv/cvm-guest/rootfs.cpio.gz
  capacity: {vcpus: 256, memoryGiB: 256}
  shareDir: $TRASH/shares
YAML

virsh -q -c "$URI_w" event --all --loop --timestamp --timeout 3600 >events.log 2>&1 &
ev_pid=$!
test_atexit "kill $ev_pid 2>/dev/null || true"
"$CVMCTL" --state-dir "$TRASH/state" reconcile -f specs --watch --resync 1h --debounce "$DEBOUNCE" \
	>daemon.out 2>daemon.log &
pid=$!
test_atexit "kill $pid 2>/dev/null || true"

wait_for() { # seconds command
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		eval "$2" && return 0
		sleep 0.05
	done
	echo "watch.sh: timed out waiting for: $2" >&2
	return 1
}
passes() { grep -c "^pass [0-9]* end:" daemon.log || true; }
wait_for 60 '[ "$(passes)" -ge 1 ]'

lat=()
for ((i = 0; i < RUNS; i++)); do
	n=$(passes)
	name=$(printf 'w-%03d' "$i")
	printf 'apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: %s}\nspec: {flavor: manager, vcpus: 1, memoryGiB: 1}\n' \
		"$name" >"specs/$name.yaml"
	t0=$(now)
	wait_for 60 "[ \$(passes) -gt $n ]"
	wait_for 10 "grep -q \"for domain '$name': Defined\" events.log"
	# "2026-12-02 01:23:45.678+0000: event 'lifecycle' for domain 'w-000': Defined Added"
	ts=$(grep "for domain '$name': Defined" events.log | head -1 | cut -d: -f1-3 | sed 's/+0000$//')
	t1=$(date -u -d "$ts" +%s.%N)
	lat+=("$(elapsed "$t0" "$t1")")
done
p50=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
p95=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{ a[NR] = $1 } END { i = int(NR * 0.95 + 0.999); print a[i] }')
printf 'watch latency (file close -> backend Defined), %d runs, --debounce %s: p50 %.3fs p95 %.3fs\n' \
	"$RUNS" "$DEBOUNCE" "$p50" "$p95"

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks)
sleep "$IDLE"
c1=$(ticks)
printf 'watch idle CPU over %ds: %d ticks (%s Hz) = %.3f%% of one core\n' "$IDLE" "$((c1 - c0))" "$hz" \
	"$(echo "100 * ($c1 - $c0) / $hz / $IDLE" | bc -l)"
kill -TERM "$pid"
wait "$pid"
