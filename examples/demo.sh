#!/usr/bin/env bash
# make demo: reconcile examples/lab against two private libvirtd daemons that
# run libvirt's test driver (no hardware, no cloud account, no system
# daemon), then show that a second pass has nothing to do; then the same for
# GCP SEV-SNP CVMs against the Compute Engine emulator (tests/emulators/gce),
# and for Azure confidential VMs against the Resource Manager emulator
# (tests/emulators/arm). Everything lives under /tmp/cvmctl-demo,
# build/demo-state, build/demo-state-gcp and build/demo-state-azure and is
# stopped on exit.
set -euo pipefail
CVMCTL=$(realpath "${1:-build/cvmctl}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUN=/tmp/cvmctl-demo
STATE="$SRC/build/demo-state"
GCP_STATE="$SRC/build/demo-state-gcp"
AZURE_STATE="$SRC/build/demo-state-azure"
GCE_EMU="$(dirname "$CVMCTL")/tests/emulators/gce-emu"
ARM_EMU="$(dirname "$CVMCTL")/tests/emulators/arm-emu"
pids=()

# The example's Provider names these sockets, so the directory is fixed; one
# left by another user (a root `make demo` on the same machine) cannot be
# reused, and that deserves one clear sentence rather than a page of errors.
if [ -e "$RUN" ] && [ ! -O "$RUN" ] && [ "$(id -u)" != 0 ]; then
	echo "demo: $RUN belongs to $(stat -c %U "$RUN"), left by their demo; remove it (as them or root) and rerun" >&2
	exit 1
fi

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -f "$RUN"/*/libvirtd.pid
}
trap cleanup EXIT

start_host() { # name
	local d="$RUN/$1"
	mkdir -p "$d"
	cat >"$d/libvirtd.conf" <<CONF
unix_sock_dir = "$d"
unix_sock_group = "$(id -gn)"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$d/libvirtd.log"
CONF
	# Only the test driver (built into libvirt) is needed; loading no driver
	# modules keeps the stateful drivers from taking host-wide locks, so two
	# daemons can run side by side, even as root.
	mkdir -p "$RUN/no-drivers"
	LIBVIRT_DRIVER_DIR="$RUN/no-drivers" /usr/sbin/libvirtd --config "$d/libvirtd.conf" \
		--pid-file "$d/libvirtd.pid" >/dev/null 2>&1 &
	pids+=($!)
	local uri="test+unix:///default?socket=$d/libvirt-sock"
	for _ in $(seq 100); do virsh -c "$uri" uri >/dev/null 2>&1 && break; sleep 0.1; done
	# The test driver forgets its domains when its last client leaves:
	# a holder connection keeps them for the demo's length.
	virsh -c "$uri" event --all --loop >"$d/events.log" 2>&1 &
	pids+=($!)
}

# A stale run (killed demo) may have left daemons behind: stop them by pid.
for f in "$RUN"/*/libvirtd.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
rm -rf "$RUN" "$STATE" "$GCP_STATE" "$AZURE_STATE"
start_host host-1
start_host host-2

run() { echo "\$ cvmctl $*"; "$CVMCTL" --state-dir "$STATE" "$@"; }

run validate -f "$SRC/examples/lab"
echo
run reconcile -f "$SRC/examples/lab" --once
echo
run list
echo
echo "# A second pass, in a new process, has nothing to do:"
run reconcile -f "$SRC/examples/lab" --once | tee "$RUN/second-pass.out"
if ! grep -q ": 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 3 up to date; 0 failed" \
	"$RUN/second-pass.out"; then
	echo "demo: the second pass was expected to do nothing" >&2
	exit 1
fi
echo
# set -e stops the demo here if plan finds anything to do (exit 2).
run plan -f "$SRC/examples/lab" --detailed-exitcode
echo "plan --detailed-exitcode exited 0: the world matches the specs."

echo
echo "# GCP: the same against a Compute Engine emulator on 127.0.0.1, reached the way a"
echo "# user reaches a private endpoint: endpoint, tokenURI and caBundleFile."
GCE="$RUN/gce"
"$SRC/tests/emulators/gce/testca.sh" "$GCE" >/dev/null
chmod 600 "$GCE/sa.json"
"$GCE_EMU" --tls-cert "$GCE/server.pem" --tls-key "$GCE/server.key" --service-account "$GCE/sa.json" \
	--ready-file "$GCE/port" >"$GCE/emu.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$GCE/port" ] && break; sleep 0.1; done
PORT=$(cat "$GCE/port")
mkdir -p "$RUN/gcp"
cat >"$RUN/gcp/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: gcp-demo}
spec:
  type: gcp
  project: cvmctl-test
  zones: [us-central1-a, us-central1-b]
  zone: us-central1-a
  credentialsFile: $GCE/sa.json
  endpoint: https://127.0.0.1:$PORT/compute/v1
  tokenURI: https://127.0.0.1:$PORT/token
  caBundleFile: $GCE/ca.pem
  controlPlaneURL: prism.example.com:7018
YAML
cat >"$RUN/gcp/cvms.yaml" <<YAML
apiVersion: cvmctl/v1
kind: CVM
metadata: {name: billing-1, labels: {team: finance}}
spec: {flavor: gcp, vcpus: 8, memoryGiB: 32}
---
apiVersion: cvmctl/v1
kind: CVM
metadata: {name: billing-2}
spec: {flavor: gcp, vcpus: 4, memoryGiB: 32}
YAML
grun() { echo "\$ cvmctl $*"; "$CVMCTL" --state-dir "$GCP_STATE" "$@"; }
grun reconcile -f "$RUN/gcp" --once
echo
grun list
echo
echo "# What the emulator holds: name, zone, machine type, status, confidential type, cvmctl-id"
curl -sS --cacert "$GCE/ca.pem" "https://127.0.0.1:$PORT/emulator/inventory" |
	jq -r '.instances[] | [.name, .zone, .machineType, .status,
		.resource.confidentialInstanceConfig.confidentialInstanceType, .labels["cvmctl-id"]] | @tsv'
echo
echo "# A second pass has nothing to do:"
grun reconcile -f "$RUN/gcp" --once | tee "$RUN/gcp-second-pass.out"
if ! grep -q ": 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 2 up to date; 0 failed" \
	"$RUN/gcp-second-pass.out"; then
	echo "demo: the second GCP pass was expected to do nothing" >&2
	exit 1
fi

echo
echo "# Azure: DCasv5 confidential VMs against a Resource Manager emulator on 127.0.0.1,"
echo "# reached by authorityHost, resourceManagerEndpoint and caBundleFile."
ARM="$RUN/arm"
"$SRC/tests/emulators/arm/testca.sh" "$ARM" >/dev/null
chmod 600 "$ARM/client-secret"
TENANT=0a1b2c3d-0000-4000-8000-00000000a2e0
CLIENT=5e3f0a11-0000-4000-8000-0000000c11e7
SUB=00000000-0000-4000-8000-00000000c0de
"$ARM_EMU" --tls-cert "$ARM/server.pem" --tls-key "$ARM/server.key" --ready-file "$ARM/port" \
	--tenant "$TENANT" --client-id "$CLIENT" --client-secret-file "$ARM/client-secret" \
	--subscription "$SUB" --resource-group "$SUB/cvm-rg@westeurope" >"$ARM/emu.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$ARM/port" ] && break; sleep 0.1; done
APORT=$(cat "$ARM/port")
mkdir -p "$RUN/azure"
cat >"$RUN/azure/providers.yaml" <<YAML
apiVersion: cvmctl/v1
kind: Provider
metadata: {name: azure-demo}
spec:
  type: azure
  subscription: $SUB
  resourceGroup: cvm-rg
  location: westeurope
  tenant: $TENANT
  clientId: $CLIENT
  clientSecretFile: $ARM/client-secret
  authorityHost: https://127.0.0.1:$APORT
  resourceManagerEndpoint: https://127.0.0.1:$APORT
  caBundleFile: $ARM/ca.pem
  controlPlaneURL: prism.example.com:7018
YAML
cat >"$RUN/azure/cvms.yaml" <<YAML
apiVersion: cvmctl/v1
kind: CVM
metadata: {name: ledger-1, labels: {team: finance}}
spec: {flavor: azure, vcpus: 4, memoryGiB: 16}
---
apiVersion: cvmctl/v1
kind: CVM
metadata: {name: ledger-2}
spec: {flavor: azure, vcpus: 2, memoryGiB: 8}
YAML
arun() { echo "\$ cvmctl $*"; "$CVMCTL" --state-dir "$AZURE_STATE" "$@"; }
arun reconcile -f "$RUN/azure" --once
echo
arun list
echo
echo "# What the emulator holds: each VM's name, size, security type, power state, cvmctl-id"
curl -sS --cacert "$ARM/ca.pem" "https://127.0.0.1:$APORT/emulator/inventory" |
	jq -r '.resources[] | select(.type == "Microsoft.Compute/virtualMachines") |
		[.name, .properties.hardwareProfile.vmSize, .properties.securityProfile.securityType,
		.powerState, .tags["cvmctl-id"]] | @tsv'
echo
echo "# A second pass has nothing to do:"
arun reconcile -f "$RUN/azure" --once | tee "$RUN/azure-second-pass.out"
if ! grep -q ": 0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 2 up to date; 0 failed" \
	"$RUN/azure-second-pass.out"; then
	echo "demo: the second Azure pass was expected to do nothing" >&2
	exit 1
fi
