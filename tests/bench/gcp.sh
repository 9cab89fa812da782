#!/bin/bash
# tests/bench/gcp.sh [CVMCTL]: submit-then-poll on GCP. N (20) creates
# against the Compute Engine emulator (tests/emulators/gce), each operation
# taking L (LATENCY_MS, 3000) of wall time, with the Provider's mutating
# requests limited to K (10) per second (K < N): were the creates awaited one
# by one the pass would take N x L; submitted within the limit and then
# polled together it takes about N/K + L.
#
# Reported: the pass's wall time over L (the target is under 2), and the
# serial bound N x L for scale. Median of RUNS (3), each on a fresh emulator
# and state. Nothing is asserted. Environment: N, K, LATENCY_MS, RUNS, KEEP=1.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
N=${N:-20}
K=${K:-10}
LATENCY_MS=${LATENCY_MS:-3000}
RUNS=${RUNS:-3}
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"
bench_scratch gcp
BUILD=$(dirname "$CVMCTL")
make -s -C "$SRC" O="${BUILD#"$SRC"/}" "${BUILD#"$SRC"/}/tests/emulators/gce-emu" >/dev/null
GCE_EMU=$BUILD/tests/emulators/gce-emu
export GCE_EMU
# shellcheck source=tests/emulators/gce/lib.sh
. "$SRC/tests/emulators/gce/lib.sh"
test_atexit gce_stop

ratios=()
for ((run = 1; run <= RUNS; run++)); do
	gce_stop
	rm -rf "$TRASH/gce" "$TRASH/state" "$TRASH/specs"
	gce_start "$TRASH/gce" >/dev/null
	chmod 600 "$GCE_SA"
	gce_ctl POST config "{\"op_latency_ms\":$LATENCY_MS,\"polls_to_done\":1}" >/dev/null
	mkdir -p "$TRASH/specs"
	cat >"$TRASH/specs/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: gcp
  project: cvmctl-test
  zone: us-central1-a
  credentialsFile: $GCE_SA
  endpoint: $GCE_URL
  tokenURI: $GCE_TOKEN_URI
  caBundleFile: $GCE_CA
  controlPlaneURL: cp.example.org:7018
  requestsPerSecond: $K
  concurrency: $N
YAML
	for ((i = 0; i < N; i++)); do
		printf -- '---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: bench-%04d}\nspec: {flavor: gcp, vcpus: 2}\n' "$i"
	done >"$TRASH/specs/cvms.yaml"
	t0=$(now)
	"$CVMCTL" --state-dir "$TRASH/state" reconcile -f "$TRASH/specs" --once >"$TRASH/out" 2>&1 ||
		{ cat "$TRASH/out"; exit 1; }
	t1=$(now)
	made=$(gce_ctl GET inventory | jq '[.instances[] | select(.status == "RUNNING")] | length')
	[ "$made" = "$N" ] || { echo "run $run: $made of $N instances running" >&2; exit 1; }
	e=$(elapsed "$t0" "$t1")
	r=$(echo "$e * 1000 / $LATENCY_MS" | bc -l)
	printf 'run %d: %d creates in %.2f s = %.2f x L (L = %d ms, %d mutating requests/s)\n' \
		"$run" "$N" "$e" "$r" "$LATENCY_MS" "$K"
	ratios+=("$r")
done
printf 'gcp creates: median %.2f x L (target < 2; one by one would be %d x L)\n' "$(median "${ratios[@]}")" "$N"
