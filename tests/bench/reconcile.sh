#!/bin/bash
# tests/bench/reconcile.sh [CVMCTL]: how fast a pass is, against doing the
# same by hand with virsh, measured in the same run on the same daemons.
#
#   create   cvmctl reconcile --once creating N CVMs across two hosts (with a
#            default certificate each, every intent and outcome durable)
#            vs  one `virsh define` + `virsh start` per domain (same XML,
#            nothing recorded, no certificates)
#   no-op    a second cvmctl pass (observe both hosts, plan, nothing to do)
#            vs  `virsh list` per host + `virsh dumpxml` per domain, the least
#            a script must do to check drift
#
# Both sides talk to private test-driver libvirtd daemons, so the numbers
# measure cvmctl's own overhead, not a hypervisor. N (default 40), RUNS (3).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CVMCTL=$(realpath "${1:-$SRC/build/cvmctl}")
N=${N:-40}
RUNS=${RUNS:-3}
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"
bench_scratch bench

write_tree() { # dir uri-a uri-b
	mkdir -p "$1"
	cat >"$1/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: bench}
spec:
  type: manager
  hosts: [$2, $3]
  firmware: /usr/share/ovmf/OVMF.amdsev.fd
  kernel: /srv/cvm-guest/bzImage
  initrd: /srv/cvm-guest/rootfs.cpio.gz
  network: default
  capacity: {vcpus: 512, memoryGiB: 512}
  shareDir: $TRASH/shares
YAML
	for i in $(seq -w "$N"); do
		printf -- '---\napiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: bench-%s}\nspec: {flavor: manager, vcpus: 1, memoryGiB: 1}\n' "$i"
	done >"$1/cvms.yaml"
}

declare -a t_create t_noop t_vcreate t_vnoop
for run in $(seq "$RUNS"); do
	libvirtd_start "a$run" "b$run" >/dev/null
	ua=$(libvirtd_uri "a$run") ub=$(libvirtd_uri "b$run")
	write_tree "$TRASH/specs$run" "$ua" "$ub"
	state="$TRASH/state$run"

	t0=$(now)
	"$CVMCTL" --state-dir "$state" -q reconcile -f "$TRASH/specs$run" --once >/dev/null
	t1=$(now)
	"$CVMCTL" --state-dir "$state" -q reconcile -f "$TRASH/specs$run" --once >/dev/null
	t2=$(now)
	t_create+=("$(elapsed "$t0" "$t1")")
	t_noop+=("$(elapsed "$t1" "$t2")")

	# The baseline defines the very same domain XML on fresh daemons.
	mkdir -p "$TRASH/xml$run"
	for uri in "$ua" "$ub"; do
		for d in $(virsh -q -c "$uri" list --all --name | grep '^bench-'); do
			virsh -q -c "$uri" dumpxml --inactive "$d" >"$TRASH/xml$run/$d.xml"
		done
	done
	libvirtd_start "c$run" "d$run" >/dev/null
	uc=$(libvirtd_uri "c$run") ud=$(libvirtd_uri "d$run")
	t0=$(now)
	k=0
	for x in "$TRASH/xml$run"/*.xml; do
		uri=$uc; [ $((k++ % 2)) = 1 ] && uri=$ud
		virsh -q -c "$uri" define "$x" >/dev/null
		virsh -q -c "$uri" start "$(basename "$x" .xml)" >/dev/null
	done
	t1=$(now)
	for uri in "$uc" "$ud"; do
		for d in $(virsh -q -c "$uri" list --all --name); do
			virsh -q -c "$uri" dumpxml "$d" >/dev/null
		done
	done
	t2=$(now)
	t_vcreate+=("$(elapsed "$t0" "$t1")")
	t_vnoop+=("$(elapsed "$t1" "$t2")")
	libvirtd_stop_all || true
done

mc=$(median "${t_create[@]}") mn=$(median "${t_noop[@]}")
vc=$(median "${t_vcreate[@]}") vn=$(median "${t_vnoop[@]}")
printf '\nreconcile benchmark: %d CVMs on two test-driver hosts, median of %d runs\n\n' "$N" "$RUNS"
printf '%-34s %10s %10s %12s\n' "work" "cvmctl s" "virsh s" "virsh/cvmctl"
printf '%-34s %10.3f %10.3f %11.1fx\n' "create all (define+start)" "$mc" "$vc" "$(echo "$vc / $mc" | bc -l)"
printf '%-34s %10.3f %10.3f %11.1fx\n' "converged pass / drift check" "$mn" "$vn" "$(echo "$vn / $mn" | bc -l)"
printf '\ncvmctl also issues %d certificates and records every intent and outcome durably;\nthe virsh baseline records nothing.\n' "$N"
