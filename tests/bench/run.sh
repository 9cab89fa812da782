#!/bin/bash
# make bench: every benchmark under tests/bench, each reporting ratios
# against a baseline measured in the same run.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
make -s -C "$SRC" build/tests/tools/bench_certs
echo "== certificates issued and durably recorded per second"
"$SRC/tests/bench/certs.sh" "$SRC/build/tests/tools/bench_certs"
echo
echo "== reconcile passes"
"$SRC/tests/bench/reconcile.sh" "$CVMCTL"
