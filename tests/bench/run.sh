#!/bin/bash
# make bench: every benchmark under tests/bench, each reporting ratios
# against a baseline measured in the same run. SCALE_NS (default
# "100 1000 10000") shortens the longest one, tests/bench/scale.sh: its
# 10,000-CVM case takes minutes (e.g. SCALE_NS="100 1000" make bench).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
make -s -C "$SRC" build/tests/tools/bench_certs
echo "== certificates issued and durably recorded per second"
"$SRC/tests/bench/certs.sh" "$SRC/build/tests/tools/bench_certs"
echo
echo "== reconcile passes"
"$SRC/tests/bench/reconcile.sh" "$CVMCTL"
echo
echo "== creates: cvmctl against one virsh session"
"$SRC/tests/bench/creates.sh" "$CVMCTL"
echo
echo "== loading specs: 1M keys, 200k documents, a 50 MB file"
"$SRC/tests/bench/loader.sh" "$CVMCTL"
echo
echo "== scale: converged passes over growing fleets"
"$SRC/tests/bench/scale.sh" "$CVMCTL"
echo
echo "== gcp: creates submitted within a rate limit, then polled together"
"$SRC/tests/bench/gcp.sh" "$CVMCTL"
echo
echo "== watch: reaction latency of the daemon and its idle CPU"
"$SRC/tests/bench/watch.sh" "$CVMCTL"
