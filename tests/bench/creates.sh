#!/bin/bash
# tests/bench/creates.sh [CVMCTL]: what creating a CVM costs cvmctl beyond
# what libvirt itself needs, measured in the same run on the same machine.
#
#   cvmctl  one `cvmctl reconcile --once` creating N (200) CVMs on one
#           test-driver host: per CVM a durable create intent, a default
#           certificate (ECDSA P-256 key generated, key file and record
#           durable), its host share, the define and the start, the outcome
#           recorded;
#   virsh   ONE virsh session on a fresh test-driver host reading N `define`
#           + `start` command pairs on its stdin, for the same domain XML
#           (a cvmctl-made domain's `virsh dumpxml --inactive`, with a new
#           name and UUID per copy, written out before the clock starts).
#           It records nothing and issues no certificate: it is the floor.
#
# The ratio is cvmctl / virsh (lower is better; the target is 2x or less).
# Median of RUNS (3), each on fresh daemons and a fresh state. Nothing is
# asserted. Environment: N, RUNS, BENCH_DIR (parent of the scratch
# directory: put it on the file system the state lives on, since fsync cost
# is part of what is measured; default $TMPDIR or /tmp), KEEP=1.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
N=${N:-200}
RUNS=${RUNS:-3}
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"
bench_scratch creates

write_tree() { # dir uri
	local i
	mkdir -p "$1"
	cat >"$1/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: manager
  hosts: [$2]
  firmware: /usr/share/ovmf/OVMF.amdsev.fd
  kernel: /srv/cvm-guest/bzImage
  initrd: /srv/cvm-guest/rootfs.cpio.gz
  capacity: {vcpus: $N, memoryGiB: $N}
  shareDir: $TRASH/shares-$run
YAML
	for ((i = 0; i < N; i++)); do
		printf -- '---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: bench-%04d}\nspec: {flavor: manager, vcpus: 1, memoryGiB: 1}\n' "$i"
	done >"$1/cvms.yaml"
}

# N copies of one domain's XML, each with its own name and UUID, and the
# virsh command file that defines and starts them.
write_copies() { # domain.xml dir
	local i uuid
	mkdir -p "$2"
	for ((i = 0; i < N; i++)); do
		uuid=$(printf '00000000-0000-4000-8000-%012d' "$i")
		sed -e "s|<name>[^<]*</name>|<name>copy-$i</name>|" -e "s|<uuid>[^<]*</uuid>|<uuid>$uuid</uuid>|" \
			"$1" >"$2/copy-$i.xml"
		printf 'define %s\nstart copy-%d\n' "$2/copy-$i.xml" "$i"
	done >"$2/commands"
}

count_running() { virsh -q -c "$1" list --name | grep -c "^$2" || true; }

t_cvmctl=() t_virsh=()
for run in $(seq "$RUNS"); do
	libvirtd_start "c$run" "v$run" >/dev/null || { echo "creates.sh: cannot start libvirtd" >&2; exit 1; }
	uc=$(libvirtd_uri "c$run") uv=$(libvirtd_uri "v$run")
	write_tree "$TRASH/specs-$run" "$uc"

	t0=$(now)
	"$CVMCTL" --state-dir "$TRASH/state-$run" -q reconcile -f "$TRASH/specs-$run" --once >"$TRASH/cvmctl-$run.log" 2>"$TRASH/cvmctl-$run.err"
	if [ -n "${CVMCTL_TIMINGS:-}" ]; then grep "^timings" "$TRASH/cvmctl-$run.err" >&2 || true; fi
	t1=$(now)
	t_cvmctl+=("$(elapsed "$t0" "$t1")")
	[ "$(count_running "$uc" bench-)" = "$N" ] || { echo "creates.sh: cvmctl did not start $N domains" >&2; exit 1; }

	virsh -q -c "$uc" dumpxml --inactive bench-0000 >"$TRASH/domain.xml"
	write_copies "$TRASH/domain.xml" "$TRASH/copies-$run"
	t0=$(now)
	virsh -q -c "$uv" <"$TRASH/copies-$run/commands" >"$TRASH/virsh-$run.log"
	t1=$(now)
	t_virsh+=("$(elapsed "$t0" "$t1")")
	[ "$(count_running "$uv" copy-)" = "$N" ] || { echo "creates.sh: virsh did not start $N domains" >&2; exit 1; }
	# (|| true: the library's functions are not written for set -e)
	libvirtd_stop "c$run" || true
	libvirtd_stop "v$run" || true
done

mc=$(median "${t_cvmctl[@]}") mv=$(median "${t_virsh[@]}")
printf '\ncreates benchmark: %d CVMs on one test-driver host, median of %d runs\n\n' "$N" "$RUNS"
printf '%-62s %9s %9s %9s\n' "method" "seconds" "ms/CVM" "vs virsh"
printf '%-62s %9.3f %9.2f %8.2fx\n' "one virsh session: define + start per domain (baseline)" "$mv" \
	"$(echo "$mv * 1000 / $N" | bc -l)" 1
printf '%-62s %9.3f %9.2f %8.2fx\n' "cvmctl reconcile --once: intents, certificates, shares, domains" "$mc" \
	"$(echo "$mc * 1000 / $N" | bc -l)" "$(echo "$mc / $mv" | bc -l)"
printf '\nvs virsh = cvmctl time / virsh time (target: 2x or less). The virsh session\nrecords nothing and issues no certificate.\n'
