#!/bin/bash
# tests/bench/loader.sh [CVMCTL]: does loading a spec tree stay linear in
# its size? `cvmctl validate -f` (load, walk, cross-document checks; no
# state, no backend) of three generated inputs, wall time and peak RSS:
#
#   keys   one mapping of KEYS (1,000,000) keys: a CVM's metadata.labels
#          (over the 64-label limit, so validate exits 3 after the whole
#          walk: every key is parsed, indexed and checked);
#   docs   DOCS (200,000) CVM documents and their Provider, 1000 per file;
#   big    one file of BIG_MB (50) MB of CVM documents (labelled), read
#          with CVMCTL_MAX_SPEC_BYTES raised above it.
#
# Baseline, measured in the same run on the same files: Python's yaml
# module over libyaml (CSafeLoader) parsing the same text into objects,
# the least any loader of that YAML does. The ratio column is cvmctl /
# baseline (lower is better). Nothing is asserted: the table is for people.
#
# Environment: KEYS, DOCS, BIG_MB, BENCH_DIR (parent of the scratch
# directory), KEEP=1 keeps it.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
KEYS=${KEYS:-1000000}
DOCS=${DOCS:-200000}
BIG_MB=${BIG_MB:-50}
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
	echo "loader.sh: $TIME missing (Debian package 'time'; scripts/deps.sh --test installs it)" >&2
	exit 1
fi
if ! python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null; then
	echo "loader.sh: Python's yaml module with libyaml missing (Debian package python3-yaml; scripts/deps.sh --test)" >&2
	exit 1
fi
TRASH=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cvmctl-loader.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$TRASH"' EXIT

provider() {
	cat <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: manager
  hosts: [test:///default]
  firmware: /usr/share/ovmf/OVMF.amdsev.fd
  kernel: /srv/cvm-guest/bzImage
  initrd: /srv/cvm-guest/rootfs.cpio.gz
YAML
}

# keys: one CVM whose labels mapping has KEYS keys.
mkdir -p "$TRASH/keys"
{
	provider
	printf -- '---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata:\n  name: many-labels\n  labels:\n'
	awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) printf "    k%07d: v\n", i }'
	printf 'spec: {flavor: manager}\n'
} >"$TRASH/keys/cvm.yaml"

# docs: DOCS CVM documents, 1000 per file.
mkdir -p "$TRASH/docs"
provider >"$TRASH/docs/providers.yaml"
awk -v n="$DOCS" -v dir="$TRASH/docs" 'BEGIN {
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0) { if (f) close(f); f = sprintf("%s/cvms-%04d.yaml", dir, i / 1000) }
		printf "---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: bench-%07d}\nspec: {flavor: manager, vcpus: 1, memoryGiB: 1}\n", i > f
	}
}'

# big: one file of BIG_MB MB.
mkdir -p "$TRASH/big"
{
	provider
	awk -v bytes="$((BIG_MB * 1000000))" 'BEGIN {
		for (i = 0; total < bytes; i++) {
			s = sprintf("---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata:\n  name: big-%07d\n  labels: {team: infra, env: prod, tier: web, zone: a%d, shard: s%d}\nspec: {flavor: manager, vcpus: 2, memoryGiB: 4, certificates: {validity: 30d, renewBefore: 7d}}\n", i, i % 7, i % 31)
			printf "%s", s; total += length(s)
		}
	}'
} >"$TRASH/big/big.yaml"
BIG_BYTES=$(stat -c %s "$TRASH/big/big.yaml")

# run NAME DIR EXPECT_RC ENV...: cvmctl validate of DIR; "seconds rss_kb".
run_cvmctl() {
	local dir=$1 want=$2 rc=0
	shift 2
	env "$@" "$TIME" -f '%e %M' -o "$TRASH/time" "$CVMCTL" validate -f "$dir" >"$TRASH/out" 2>"$TRASH/err" || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "loader.sh: validate -f $dir exited $rc, not $want:" >&2
		head -5 "$TRASH/err" >&2
		exit 1
	fi
	tail -1 "$TRASH/time"
}

run_baseline() {
	"$TIME" -f '%e %M' -o "$TRASH/time" python3 -c '
import os, sys, yaml
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        with open(os.path.join(root, f), "rb") as fh:
            n += sum(1 for _ in yaml.load_all(fh, Loader=yaml.CSafeLoader))
print(n)' "$1" >/dev/null
	tail -1 "$TRASH/time"
}

printf '| input | size | cvmctl validate (s) | peak RSS (MB) | libyaml via Python (s) | its RSS (MB) | ratio |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
row() {
	local name=$1 size=$2 c b
	c=$3 b=$4
	read -r ct cr <<<"$c"
	read -r bt br <<<"$b"
	printf '| %s | %s | %.2f | %.0f | %.2f | %.0f | %.2fx |\n' "$name" "$size" "$ct" "$(echo "$cr / 1024" | bc -l)" \
		"$bt" "$(echo "$br / 1024" | bc -l)" "$(echo "$ct / $bt" | bc -l)"
}
row "$KEYS keys in one mapping" "$(du -m "$TRASH/keys/cvm.yaml" | cut -f1) MB" \
	"$(run_cvmctl "$TRASH/keys" 3 CVMCTL_MAX_SPEC_BYTES=$((64 << 20)))" "$(run_baseline "$TRASH/keys")"
row "$DOCS CVM documents (1000 a file)" "$(du -sm "$TRASH/docs" | cut -f1) MB" \
	"$(run_cvmctl "$TRASH/docs" 0)" "$(run_baseline "$TRASH/docs")"
row "one file of $((BIG_BYTES / 1000000)) MB" "$(du -m "$TRASH/big/big.yaml" | cut -f1) MB" \
	"$(run_cvmctl "$TRASH/big" 0 CVMCTL_MAX_SPEC_BYTES=$((BIG_BYTES + 1)))" "$(run_baseline "$TRASH/big")"
