#!/bin/bash
# tests/bench/scale.sh [CVMCTL]: does a converged pass cost grow with the
# work or with the fleet? For each N in SCALE_NS (default "100 1000 10000"):
#
#   create     one `cvmctl reconcile --once` creating N CVMs across two
#              test-driver hosts (a default certificate each, every intent
#              and outcome durable), wall time and peak RSS;
#   converged  `cvmctl reconcile --once` again with nothing to do, median
#              wall time of RUNS (3) passes, their peak RSS, and the split
#              of the median pass (CVMCTL_TIMINGS=1: load, store, observe,
#              plan, apply);
#   baseline   the least a script must do to check the same fleet for
#              drift, done well: per host one `virsh list --all --uuid`,
#              then ONE virsh session (commands on its stdin) running
#              `dumpxml` for every domain listed. Median of RUNS, same
#              daemons, same run.
#
# Both sides talk to private test-driver libvirtd daemons
# (tests/e2e/libvirtd.sh), so the numbers are cvmctl's own cost, not a
# hypervisor's. Nothing is asserted: the tables are for people. The last
# column of the first table is converged / baseline (lower is better).
#
# Environment: SCALE_NS, RUNS (3), BENCH_DIR (parent of the scratch
# directory, default $TMPDIR or /tmp), KEEP=1 keeps it.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
SCALE_NS=${SCALE_NS:-100 1000 10000}
RUNS=${RUNS:-3}
PER_FILE=1000 # CVM documents per spec file
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
	echo "scale.sh: $TIME missing (Debian package 'time'; scripts/deps.sh --test installs it)" >&2
	exit 1
fi
# The daemons' life bound (if this script is killed before its trap runs):
# enough for a 10,000-CVM run on a slow machine.
LIBVIRTD_MAX_LIFETIME=${LIBVIRTD_MAX_LIFETIME:-7200}
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"
bench_scratch scale

write_tree() { # dir n uri-a uri-b
	local dir=$1 n=$2 i
	mkdir -p "$dir"
	cat >"$dir/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: manager
  hosts: [$3, $4]
  firmware: /usr/share/ovmf/OVMF.amdsev.fd
  kernel: /srv/cvm-guest/bzImage
  initrd: /srv/cvm-guest/rootfs.cpio.gz
  capacity: {vcpus: $n, memoryGiB: $n}
  shareDir: $TRASH/shares-$n
YAML
	for ((i = 0; i < n; i++)); do
		if ((i % PER_FILE == 0)); then exec 3>"$dir/cvms-$((i / PER_FILE)).yaml"; fi
		printf -- '---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: bench-%06d}\nspec: {flavor: manager, vcpus: 1, memoryGiB: 1}\n' "$i" >&3
	done
	exec 3>&-
}

# run_timed OUT RSS ERR CMD...: wall seconds into $OUT's file, peak RSS (KiB)
# into RSS's, stdout+stderr of CMD into ERR.
# Returns CMD's status.
run_timed() {
	local out=$1 rss=$2 err=$3 t0 t1 rc=0
	shift 3
	t0=$(now)
	"$TIME" -f %M -o "$rss" "$@" >"$err" 2>&1 || rc=$?
	t1=$(now)
	elapsed "$t0" "$t1" >"$out"
	return "$rc"
}

# The baseline's drift check: list each host, then dump every domain's XML
# in one virsh session per host.
virsh_check() {
	local uri
	for uri in "$@"; do
		virsh -q -c "$uri" list --all --uuid | awk 'NF { print "dumpxml " $1 }' | virsh -q -c "$uri" >/dev/null
	done
}

rows=() splits=()
for n in $SCALE_NS; do
	libvirtd_start "a$n" "b$n" >/dev/null || { echo "scale.sh: cannot start libvirtd" >&2; exit 1; }
	ua=$(libvirtd_uri "a$n") ub=$(libvirtd_uri "b$n")
	write_tree "$TRASH/specs-$n" "$n" "$ua" "$ub"
	state=$TRASH/state-$n
	pass=("$CVMCTL" --state-dir "$state" -q reconcile -f "$TRASH/specs-$n" --once)

	run_timed "$TRASH/t" "$TRASH/rss" "$TRASH/create-$n.log" "${pass[@]}" ||
		{ echo "scale.sh: creating $n CVMs failed:" >&2; tail -n 20 "$TRASH/create-$n.log" >&2; exit 1; }
	t_create=$(cat "$TRASH/t") rss_create=$(tail -n 1 "$TRASH/rss")
	grep -q " $n created" "$TRASH/create-$n.log" ||
		{ echo "scale.sh: the create pass did not create $n CVMs:" >&2; cat "$TRASH/create-$n.log" >&2; exit 1; }
	# (each test-driver host also starts with its own domain "test")
	got=$(virsh -q -c "$ua" list --all --name | grep -c '^bench-' || true)
	got=$((got + $(virsh -q -c "$ub" list --all --name | grep -c '^bench-' || true)))
	[ "$got" = "$n" ] || { echo "scale.sh: $got domains on the hosts, not $n" >&2; exit 1; }

	walls=() rsss=() vwalls=()
	for r in $(seq "$RUNS"); do
		CVMCTL_TIMINGS=1 run_timed "$TRASH/t" "$TRASH/rss" "$TRASH/noop-$n-$r.log" "${pass[@]}" ||
			{ echo "scale.sh: converged pass failed:" >&2; tail -n 20 "$TRASH/noop-$n-$r.log" >&2; exit 1; }
		grep -q " 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, $n up to date" \
			"$TRASH/noop-$n-$r.log" ||
			{ echo "scale.sh: the second pass was not a no-op:" >&2; cat "$TRASH/noop-$n-$r.log" >&2; exit 1; }
		walls+=("$(cat "$TRASH/t")") rsss+=("$(tail -n 1 "$TRASH/rss")")

		t0=$(now)
		virsh_check "$ua" "$ub"
		t1=$(now)
		vwalls+=("$(elapsed "$t0" "$t1")")
	done
	t_noop=$(median "${walls[@]}") t_virsh=$(median "${vwalls[@]}") rss_noop=$(max "${rsss[@]}")
	for r in $(seq "$RUNS"); do
		[ "${walls[r - 1]}" = "$t_noop" ] && break
	done
	split=$(grep '^timings:' "$TRASH/noop-$n-$r.log" | sed 's/^timings: //')
	rows+=("$(printf '| %6d | %8.2f | %14.0f | %11.3f | %17.0f | %13.3f | %16.1fx |' "$n" "$t_create" \
		"$(echo "$rss_create / 1024" | bc -l)" "$t_noop" "$(echo "$rss_noop / 1024" | bc -l)" "$t_virsh" \
		"$(echo "$t_noop / $t_virsh" | bc -l)")")
	splits+=("$(printf '| %6d | %s |' "$n" "$split")")
	# (|| true: the library's functions are not written for set -e)
	libvirtd_stop "a$n" || true
	libvirtd_stop "b$n" || true
done

cat <<EOF

scale benchmark: N CVMs on two test-driver hosts; converged = median of $RUNS no-op passes

|      N | create s | create RSS MiB | converged s | converged RSS MiB | virsh check s | converged / virsh |
|-------:|---------:|---------------:|------------:|------------------:|--------------:|------------------:|
EOF
printf '%s\n' "${rows[@]}"
cat <<EOF

virsh check (baseline) = per host one \`virsh list --all --uuid\`, then one virsh
session reading \`dumpxml UUID\` for every domain on its stdin. RSS = peak
resident set of the cvmctl process (/usr/bin/time %M); for the converged
pass, the largest of the $RUNS.

where the median converged pass spends its time (CVMCTL_TIMINGS=1):

|      N | phases |
|-------:|--------|
EOF
printf '%s\n' "${splits[@]}"
