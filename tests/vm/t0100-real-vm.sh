#!/bin/bash
# A real VM end to end (issue 10): the manager backend boots a guest under
# QEMU (TCG: this machine's KVM runs no guests) through a root libvirtd, and
# the guest reads its certificates. The guest (tests/vm/build-guest.sh) is a
# Debian kernel and a busybox initramfs whose /init mounts the product's 9p
# shares, takes a DHCP lease on a private isolated libvirt network, serves
# the agent port and prints the SHA-256 of every delivered file on its
# serial console, which the product's own domain XML logs to
# <shareDir>/<id>/console.log. The digests the guest must show come from
# `cvmctl cert download` and `cvmctl get -o json`, never from the share.
#
# Needs root, the test build (CVMCTL_TEST_NOW, CVMCTL_TEST_AFTER_DEFINE) and
# scripts/deps.sh --test --vm. Run by `make check-vm`, with its wall time
# bounded (TEST_TIMEOUT).

. "$(dirname "$0")/../e2e/lib.sh"
# lib.sh names this script's directory; the fixtures live with the e2e tests.
VM_DIR=$E2E_DIR
E2E_DIR=$SRCDIR/tests/e2e
. "$VM_DIR/qemu-host.sh"
. "$E2E_DIR/t30-fixtures/certs.sh"

# shellcheck disable=SC2034 # used in the test bodies
started=$(date +%s)
T0=$(($(date +%s) / 3600 * 3600))
# shellcheck disable=SC2034
R=$((T0 + 7200 - 3600)) # notAfter - renewBefore of e2e-vm-1's first certificate
NET=cvmctl-e2e
NET_PREFIX=10.213.77 # an unusual private /24, made and destroyed here
GUEST=$TRASH/guest
# shellcheck disable=SC2034
GOLDEN=$SRCDIR/tests/golden/domain

# QEMU runs as the host's hypervisor user and must reach the shares and
# the guest images: the trash directory is traversable, not readable.
chmod 0711 "$TRASH"

at() {
	local t=$1
	shift
	CVMCTL_TEST_NOW=$t "$@"
}

# The Provider: this host in insecureNoSEV mode (TCG, EPYC-Milan), the
# guest on the private network, its console on ttyS0.
write_vm_provider() {
	mkdir -p specs
	cat >specs/provider.yaml <<-EOF
	apiVersion: cvmctl/v1
	kind: Provider
	metadata: {name: lab}
	spec:
	  type: manager
	  hosts: ["$QEMU_URI"]
	  kernel: $GUEST/vmlinuz
	  initrd: $GUEST/initrd.cpio
	  cmdline: console=ttyS0 quiet panic=-1
	  domainType: qemu
	  cpuModel: EPYC-Milan
	  network: $NET
	  shareDir: $SHARES
	  insecureNoSEV: true
	EOF
}

# write_vm_cvm NAME [VALIDITY RENEWBEFORE]: 1 vCPU, 1 GiB (the smallest
# spec), agent settings the guest's environment file must carry.
write_vm_cvm() {
	{
		cat <<-EOF
		apiVersion: cvmctl/v1
		kind: CVM
		metadata: {name: $1}
		spec:
		  flavor: manager
		  vcpus: 1
		  memoryGiB: 1
		  agent: {logLevel: debug, port: 7002, controlPlaneURL: "$NET_PREFIX.1:7018"}
		EOF
		if [ $# -ge 3 ]; then
			printf '  certificates: {validity: %s, renewBefore: %s}\n' "$2" "$3"
		fi
	} >"specs/$1.yaml"
}

console_of() {
	printf '%s/console.log\n' "$(share_of "$1")"
}

# The files the guest must see, as "sha256 DIGEST PATH" lines sorted: the
# certificate, key and CA that `cert download` gives, and the environment
# file made from what `get -o json` says of the CVM (its id and agent
# settings) in the agent's format (reference/cocos.md).
expected_digests() {
	local name=$1 dir=$TRASH/expect-$1 f
	rm -rf "$dir"
	cvmctl cert download "$name" --dir "$dir" >/dev/null || return 1
	cvmctl get "$name" -o json >"$dir.json" || return 1
	jq -r '"AGENT_LOG_LEVEL=\(.spec.agent.logLevel)",
		"AGENT_CVM_ID=\(.id)",
		"AGENT_CVM_GRPC_URL=\(.spec.agent.controlPlaneURL)",
		"AGENT_CVM_GRPC_CLIENT_CERT=/etc/certs/cert.pem",
		"AGENT_CVM_GRPC_CLIENT_KEY=/etc/certs/key.pem",
		"AGENT_CVM_GRPC_SERVER_CA_CERTS=/etc/certs/ca.pem"' "$dir.json" >"$dir/environment" || return 1
	for f in ca.pem cert.pem key.pem; do
		printf 'sha256 %s /etc/certs/%s\n' "$(sha256sum <"$dir/$f" | cut -d" " -f1)" "$f"
	done
	printf 'sha256 %s /etc/cocos/environment\n' "$(sha256sum <"$dir/environment" | cut -d" " -f1)"
}

# The last complete block of digests on NAME's console, sorted.
guest_digests() {
	local log
	log=$(console_of "$1") || return 1
	tr -d '\r' <"$log" 2>/dev/null | awk '
		/^cvm-guest: digests [0-9]+ begin$/ { cur = ""; open = 1; next }
		/^cvm-guest: digests [0-9]+ end$/ { if (open) last = cur; open = 0; next }
		open && /^cvm-guest: sha256 / { sub(/^cvm-guest: /, ""); cur = cur $0 "\n" }
		END { printf "%s", last }' | sort -k3
}

# check_guest NAME: the guest's latest block is exactly what the store
# holds; otherwise "mismatch" and the difference.
check_guest() {
	expected_digests "$1" | sort -k3 >"$TRASH/want.$1" || return 1
	guest_digests "$1" >"$TRASH/got.$1"
	if ! cmp -s "$TRASH/want.$1" "$TRASH/got.$1"; then
		echo "$1: mismatch between the store and what the guest read:"
		diff -u "$TRASH/want.$1" "$TRASH/got.$1"
		return 1
	fi
}

# wait_guest SECONDS NAME: until the guest shows what the store holds.
wait_guest() {
	test_wait_for "$1" "check_guest $2 >/dev/null" || {
		check_guest "$2"
		tail -n 30 "$(console_of "$2")"
		return 1
	}
}

# The hook of the negative control (CVMCTL_TEST_AFTER_DEFINE, run between
# define and start with the CVM's share directory as $1): one byte of the
# certificate changed in place.
cat >flip.sh <<'EOF'
f=$1/certs/cert.pem
b=$(dd if="$f" bs=1 skip=100 count=1 2>/dev/null)
if [ "$b" = A ]; then b=B; else b=A; fi
printf %s "$b" | dd of="$f" bs=1 seek=100 count=1 conv=notrunc 2>/dev/null
EOF

# The agent URL of NAME as `cvmctl list --refresh` shows it, if any.
agent_url() {
	at $((T0 + 60)) cvmctl list --refresh -o json |
	jq -r --arg n "$1" '.[] | select(.name == $n) | .url // empty'
}

test_expect_success 'the scripts of the guest and of this test are shellcheck-clean' '
	shellcheck -S warning -x -e SC1090,SC1091 "$VM_DIR"/*.sh &&
	shellcheck -S warning -s sh "$VM_DIR/init" "$VM_DIR/udhcpc.script"
'

test_expect_success 'the guest is built from Debian packages: kernel, busybox-static, its cpio' '
	"$VM_DIR/build-guest.sh" "$GUEST" >out &&
	grep "^guest: kernel " out &&
	test_path_is_file "$GUEST/vmlinuz" && test_path_is_file "$GUEST/initrd.cpio" &&
	busybox cpio -t <"$GUEST/initrd.cpio" 2>/dev/null >files &&
	grep -x init files && grep -x bin/busybox files && grep -x lib/modules/9p.ko files &&
	grep -x lib/modules/virtio_net.ko files
'

test_expect_success 'a root libvirtd with the QEMU driver and a private isolated network' '
	qemu_host_start &&
	grep "Running hypervisor: QEMU" "$qemu_host_dir/version" &&
	qemu_net_create $NET cvme2e0 $NET_PREFIX &&
	qemu_virsh net-info $NET | grep -E "^Active: +yes" &&
	echo "daemon ready after $(($(date +%s) - started)) s"
'
# shellcheck disable=SC2034
probed=$(date +%s)

test_expect_success 'reconcile --once defines and starts e2e-vm-1 with the product'\''s XML' '
	write_vm_provider &&
	write_vm_cvm e2e-vm-1 2h 1h &&
	CVMCTL_TEST_AFTER_DEFINE="cat >\"\$TRASH/defined-\$2.xml\"" \
		at $T0 cvmctl reconcile -f specs --once >out 2>err &&
	grep "^created   e2e-vm-1 " out && grep "1 created, .*0 failed" out &&
	grep "WITHOUT SEV-SNP" err &&
	id1=$(cvm_id e2e-vm-1) && test -n "$id1" &&
	qemu_virsh domstate e2e-vm-1 >state && echo running >expect && test_cmp expect state &&
	test_path_is_file "$TRASH/defined-e2e-vm-1.xml"
'

test_expect_success 'the shares belong to the user of the host'\''s DAC label, 0700 directories and 0600 files' '
	qemu_virsh capabilities >caps.xml &&
	sed -n "/<model>dac<\/model>/,/<\/secmodel>/p" caps.xml |
		sed -n "s|.*<baselabel type=.qemu.>+\([0-9]*\):+\([0-9]*\)</baselabel>.*|\1:\2|p" >label &&
	test -s label &&
	share=$(share_of e2e-vm-1) &&
	for f in "$share" "$share/certs" "$share/env" "$share"/certs/* "$share"/env/*; do
		test "$(stat -c %u:%g "$f")" = "$(cat label)" || { echo "$f: $(stat -c %u:%g "$f")"; return 1; }
	done &&
	check_key_perms
'

test_expect_success 'e2e-vm-1 read exactly the certificate, key, CA and agent settings the store holds' '
	wait_guest 90 e2e-vm-1 &&
	cat "$TRASH/got.e2e-vm-1" &&
	test "$(wc -l <"$TRASH/got.e2e-vm-1")" = 4 &&
	grep "^cvm-guest: shares mounted" "$(console_of e2e-vm-1)" &&
	echo "guest verified $(($(date +%s) - probed)) s after the daemon was ready"
'

test_expect_success 'negative control: a byte flipped in the share between define and start is reported' '
	write_vm_cvm e2e-vm-2 &&
	CVMCTL_TEST_AFTER_DEFINE="sh \"\$TRASH/flip.sh\" \"\$1\"" \
		at $((T0 + 60)) cvmctl reconcile -f specs --once >out &&
	grep "^created   e2e-vm-2 " out && grep "1 created, .*0 failed" out
'

test_expect_success 'the URL that cvmctl list shows reaches the guest'\''s agent port' '
	test_wait_for 60 "agent_url e2e-vm-1 >url && test -s url" &&
	url=$(cat url) &&
	echo "url: $url" &&
	case "$url" in $NET_PREFIX.*:7002) ;; *) false ;; esac &&
	at $((T0 + 60)) cvmctl list --refresh >table && grep "^e2e-vm-1 .*$url" table &&
	timeout 10 bash -c "exec 3<>/dev/tcp/${url%:*}/${url##*:} && cat <&3" >agent &&
	echo "cvm-agent $id1" >expect && test_cmp expect agent
'

test_expect_success 'the booted domain XML is the SNP golden file without its SNP-specific parts' '
	share=$(share_of e2e-vm-1) &&
	spec_hash=$(qemu_virsh dumpxml e2e-vm-1 | sed -n "s|.*<cvm:spec-hash>\(.*\)</cvm:spec-hash>.*|\1|p") &&
	attempt=$(qemu_virsh dumpxml e2e-vm-1 | sed -n "s|.*<cvm:attempt>\(.*\)</cvm:attempt>.*|\1|p") &&
	inst=$(qemu_virsh dumpxml e2e-vm-1 | sed -n "s|.*<cvm:installation>\(.*\)</cvm:installation>.*|\1|p") &&
	test -n "$spec_hash" && test -n "$attempt" && test -n "$inst" &&
	# the golden SNP document with this CVM'\''s values (the golden'\''s parameters
	# name no share root), minus the SNP firmware and launchSecurity
	sed -e "/<loader /d" -e "/<launchSecurity /,/<\/launchSecurity>/d" \
		-e "s|analytics-01|e2e-vm-1|g" -e "s|5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11|$id1|g" \
		-e "s|0d1e2f30-4152-4637-8899-aabbccddeeff|$inst|" \
		-e "s|<cvm:spec-hash>.*<|<cvm:spec-hash>$spec_hash<|" -e "s|<cvm:attempt>.*<|<cvm:attempt>$attempt<|" \
		-e "/<cvm:attempt>/a\\      <cvm:share-root>$SHARES</cvm:share-root>" \
		-e "s|/var/lib/cvmctl/shares|$SHARES|g" -e "s|/srv/cvm-guest/bzImage|$GUEST/vmlinuz|" \
		-e "s|/srv/cvm-guest/rootfs.cpio.gz|$GUEST/initrd.cpio|" \
		-e "s|<cmdline>.*<|<cmdline>console=ttyS0 quiet panic=-1<|" \
		-e "s|<domain type=.kvm.>|<domain type='\''qemu'\''>|" \
		-e "s|<cvm:vcpus>8<|<cvm:vcpus>1<|" -e "s|<cvm:memory-gib>16<|<cvm:memory-gib>1<|" \
		-e "s|<memory unit=.GiB.>16<|<memory unit='\''GiB'\''>1<|" -e "s|static.>8<|static'\''>1<|" \
		-e "s|<source network=.default./>|<source network='\''$NET'\''/>|" \
		"$GOLDEN/snp-native.xml" >expect.xml &&
	# the booted one minus what insecureNoSEV adds
	sed -e "/<!-- insecureNoSEV/d" -e "/<cvm:insecure-no-sev>/d" "$TRASH/defined-e2e-vm-1.xml" >booted.xml &&
	test_cmp expect.xml booted.xml &&
	# and libvirt runs that document: its shares, console log and marker
	qemu_virsh dumpxml e2e-vm-1 >live.xml &&
	grep -F "<source dir='\''$share/certs'\''/>" live.xml &&
	grep -F "<source dir='\''$share/env'\''/>" live.xml &&
	grep -F "<log file='\''$share/console.log'\'' append='\''on'\''/>" live.xml &&
	grep -F "<uuid>$id1</uuid>" live.xml
'

test_expect_success 'a rotation on the test clock reaches the running guest: new digests on its console' '
	cp "$TRASH/got.e2e-vm-1" digests.before &&
	at $((R + 1)) cvmctl reconcile -f specs --once >out &&
	grep "^rotated   e2e-vm-1 " out && test "$(grep -c "^rotated" out)" = 1 &&
	wait_guest 60 e2e-vm-1 &&
	! cmp -s digests.before "$TRASH/got.e2e-vm-1" &&
	# a new certificate and key, the same CA and environment
	grep -v -e /etc/certs/cert.pem -e /etc/certs/key.pem digests.before >same.before &&
	grep -v -e /etc/certs/cert.pem -e /etc/certs/key.pem "$TRASH/got.e2e-vm-1" >same.after &&
	test_cmp same.before same.after &&
	! grep -F -f "$TRASH/got.e2e-vm-1" digests.before | grep -e cert.pem -e key.pem
'

test_expect_success 'negative control: the guest with the flipped byte shows a mismatch in cert.pem' '
	test_wait_for 90 "test -n \"\$(guest_digests e2e-vm-2)\"" &&
	test_must_fail check_guest e2e-vm-2 >report &&
	cat report &&
	grep "^e2e-vm-2: mismatch" report &&
	grep "^-sha256 .* /etc/certs/cert.pem$" report && grep "^+sha256 .* /etc/certs/cert.pem$" report &&
	test "$(grep -c "^[-+]sha256" report)" = 2
'

test_expect_success 'a removed spec destroys e2e-vm-2 and its share; e2e-vm-1 keeps running' '
	id2=$(cvm_id e2e-vm-2) && share2=$(share_of e2e-vm-2) &&
	rm specs/e2e-vm-2.yaml &&
	at $((R + 2)) cvmctl reconcile -f specs --once >out &&
	grep "^deleted   e2e-vm-2 " out &&
	test_must_fail qemu_virsh domstate e2e-vm-2 &&
	test_path_is_missing "$share2" &&
	qemu_virsh domstate e2e-vm-1 >state && echo running >expect && test_cmp expect state
'

test_expect_success 'the qemu:commandline fallback form is accepted by the real QEMU driver at define time' '
	mkdir -p snp/specs && : >"$GUEST/OVMF.amdsev.fd" &&
	sed -e "/insecureNoSEV/d" -e "s|^  domainType: qemu|  firmware: $GUEST/OVMF.amdsev.fd\n  domainType: qemu|" \
		specs/provider.yaml >snp/specs/provider.yaml &&
	write_vm_cvm e2e-snp-1 && mv specs/e2e-snp-1.yaml snp/specs/ &&
	test_must_fail cvmctl --state-dir "$TRASH/snp/state" reconcile -f snp/specs --once >out 2>err &&
	cat out err &&
	! grep "cannot define domain" out err &&
	grep "cannot start domain e2e-snp-1" out err &&
	grep "sev-snp-guest" out err &&
	qemu_virsh dumpxml e2e-snp-1 >snp.xml &&
	grep -F "<qemu:arg value='\''sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on'\''/>" snp.xml &&
	grep -F "<qemu:arg value='\''confidential-guest-support=sev0'\''/>" snp.xml &&
	! grep "<launchSecurity" snp.xml
'

test_expect_success 'host check: this host fails the SEV-SNP preflight, naming what to install' '
	test_expect_code 1 cvmctl host check "$QEMU_URI" >check.out &&
	cat check.out &&
	grep "^FAIL  libvirt 9\.0\.0 .*10\.5" check.out &&
	grep "^FAIL  QEMU 7\.2\..* 9\.1" check.out &&
	grep "^FAIL  .*sev_snp" check.out &&
	grep "^FAIL  .*firmware" check.out &&
	grep "^FAIL  .*domain capabilities" check.out &&
	grep "bookworm-backports" check.out &&
	test_expect_code 3 cvmctl host check &&
	test_expect_code 3 cvmctl host check "$QEMU_URI" extra
'

test_expect_success 'the whole run took under 3 minutes after the capability probe' '
	now=$(date +%s) &&
	echo "total $((now - started)) s, after the daemon was ready $((now - probed)) s" &&
	test $((now - probed)) -lt 180
'

test_done
