# shellcheck shell=bash
# tests/vm/qemu-host.sh: a root libvirtd with the QEMU and network drivers
# for the real-VM tests. Source it after tests/e2e/lib.sh:
#
#	qemu_host_start || exit      # exports QEMU_URI (a private socket)
#	qemu_net_create NAME BRIDGE PREFIX    # isolated network PREFIX.0/24
#	qemu_host_stop               # also run at exit
#
# Unlike the test-driver daemons of tests/e2e/libvirtd.sh, this one owns
# host-wide state: the QEMU driver keeps domains in /etc/libvirt/qemu and
# /run/libvirt/qemu and takes a lock there, the network driver makes a
# bridge and runs dnsmasq. So only one such daemon runs at a time: the
# caller waits for a lock (QEMU_HOST_LOCK) that every user of this file
# takes, and a daemon left behind by a killed run is stopped by the pid it
# recorded. Teardown destroys and undefines the domains whose names start
# with QEMU_HOST_PREFIX (and only those), kills their QEMU by pid if it
# outlives that, destroys the network, then stops the daemons by pid.
#
# QEMU's capabilities stay cached in /var/cache/libvirt/qemu between runs:
# the first probe after an install or upgrade of QEMU or libvirt takes from
# a few seconds to a minute. The probe is only trusted while the user QEMU
# runs as can open /dev/kvm; scripts/deps.sh --vm puts libvirt-qemu in the
# kvm group, as libvirt-daemon-system would, or every define probes again.

QEMU_HOST_LOCK=${QEMU_HOST_LOCK:-/run/lock/cvmctl-qemu-host.lock}
QEMU_HOST_PIDS=${QEMU_HOST_LOCK%.lock}.pids
QEMU_HOST_PREFIX=${QEMU_HOST_PREFIX:-e2e-}
qemu_host_dir=$TRASH/qemu-host
qemu_host_nets=

# True while PID runs and is the program named (a reused pid is not ours).
qemu_host_is_() {
	local pid=$1 prog=$2 s
	[ -n "$pid" ] || return 1
	s=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$s" in "$prog"*) ;; *) return 1 ;; esac
	s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# SIGTERM, 10 s grace, SIGKILL: PID only if it still is PROG.
qemu_host_kill_() {
	local pid=$1 prog=$2 i=0
	qemu_host_is_ "$pid" "$prog" || return 0
	kill -TERM "$pid" 2>/dev/null
	while qemu_host_is_ "$pid" "$prog" && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	qemu_host_is_ "$pid" "$prog" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

qemu_virsh() {
	virsh -q -c "$QEMU_URI" "$@"
}

# The domains of this run's kind (by name prefix), shut or running.
qemu_host_domains_() {
	qemu_virsh list --all --name 2>/dev/null | grep "^$QEMU_HOST_PREFIX" || :
}

# Destroys and undefines our domains; a QEMU that outlives its destroy is
# killed by the pid libvirt recorded.
qemu_host_clean_domains_() {
	local d pid
	for d in $(qemu_host_domains_); do
		pid=$(cat "/run/libvirt/qemu/$d.pid" 2>/dev/null)
		qemu_virsh destroy "$d" >/dev/null 2>&1
		qemu_virsh undefine --nvram "$d" >/dev/null 2>&1 || qemu_virsh undefine "$d" >/dev/null 2>&1
		qemu_host_kill_ "$pid" /usr/bin/qemu-system
		rm -f "/var/log/libvirt/qemu/$d.log"
	done
}

qemu_host_start() {
	local tries pid
	mkdir -p "$qemu_host_dir/run" "$(dirname "$QEMU_HOST_LOCK")" || return 1
	if [ "$(id -u)" != 0 ]; then
		echo "qemu_host_start: needs root (a libvirt network makes a bridge)" >&2
		return 1
	fi
	# fd 7 holds the lock for the life of this shell; the daemons do not
	# inherit it (7>&- below), so a daemon left behind never holds it.
	exec 7>>"$QEMU_HOST_LOCK" || return 1
	if ! flock -w 600 7; then
		echo "qemu_host_start: $QEMU_HOST_LOCK still held after 600 s" >&2
		return 1
	fi
	# A run killed before its teardown: its daemons, by the pids it wrote.
	if [ -f "$QEMU_HOST_PIDS" ]; then
		while read -r pid; do
			qemu_host_kill_ "$pid" /usr/sbin/libvirtd
			qemu_host_kill_ "$pid" /usr/sbin/virtlogd
		done <"$QEMU_HOST_PIDS"
		rm -f "$QEMU_HOST_PIDS"
	fi
	: >"$QEMU_HOST_PIDS"
	test_atexit qemu_host_stop

	# QEMU writes its log and the serial console through virtlogd. One
	# already serving the well-known socket (a host's own) is used as it is.
	if [ -S /run/libvirt/virtlogd-sock ] && ! pgrep -x virtlogd >/dev/null; then
		rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock # a killed one's
	fi
	if ! [ -S /run/libvirt/virtlogd-sock ]; then
		/usr/sbin/virtlogd --pid-file "$qemu_host_dir/virtlogd.pid" \
			</dev/null >"$qemu_host_dir/virtlogd.out" 2>&1 5>&- 7>&- &
		echo $! >"$qemu_host_dir/virtlogd.cpid"
		echo $! >>"$QEMU_HOST_PIDS"
	fi
	cat >"$qemu_host_dir/libvirtd.conf" <<-EOF
	unix_sock_dir = "$qemu_host_dir/run"
	unix_sock_rw_perms = "0700"
	auth_unix_rw = "none"
	auth_unix_ro = "none"
	log_outputs = "3:file:$qemu_host_dir/libvirtd.log"
	EOF
	/usr/sbin/libvirtd --config "$qemu_host_dir/libvirtd.conf" --pid-file "$qemu_host_dir/libvirtd.pid" \
		</dev/null >"$qemu_host_dir/libvirtd.out" 2>&1 5>&- 7>&- &
	echo $! >"$qemu_host_dir/libvirtd.cpid"
	echo $! >>"$QEMU_HOST_PIDS"
	QEMU_URI="qemu+unix:///system?socket=$qemu_host_dir/run/libvirt-sock"
	export QEMU_URI
	tries=300
	until [ -S "$qemu_host_dir/run/libvirt-sock" ] && [ -S /run/libvirt/virtlogd-sock ]; do
		if ! qemu_host_is_ "$(cat "$qemu_host_dir/libvirtd.cpid")" /usr/sbin/libvirtd; then
			echo "qemu_host_start: libvirtd exited:" >&2
			tail -n 20 "$qemu_host_dir/libvirtd.out" "$qemu_host_dir/libvirtd.log" >&2
			return 1
		fi
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { echo "qemu_host_start: no sockets within 30 s" >&2; return 1; }
		sleep 0.1
	done
	# The first QEMU-driver call probes QEMU's capabilities (cached).
	qemu_virsh version >"$qemu_host_dir/version" || {
		tail -n 20 "$qemu_host_dir/libvirtd.log" >&2
		return 1
	}
	# What a killed run left: domains of our prefix.
	qemu_host_clean_domains_
}

# qemu_net_create NAME BRIDGE PREFIX: an isolated network PREFIX.0/24 with
# DHCP from PREFIX.10: forward mode 'open' adds no firewall rules (libvirt
# 9.0 would need iptables for mode-less isolation), and with the host's
# ip_forward off nothing is routed anywhere: the guest reaches the host's
# bridge address and nothing else.
qemu_net_create() {
	local name=$1 bridge=$2 prefix=$3
	qemu_virsh net-destroy "$name" >/dev/null 2>&1 # a killed run's
	if ip -4 addr show | grep -q "inet $prefix\."; then
		echo "qemu_net_create: $prefix.0/24 is in use on this host" >&2
		return 1
	fi
	if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 0 ]; then
		echo "qemu_net_create: note: ip_forward is on; $name has no NAT, its addresses are private" >&2
	fi
	cat >"$qemu_host_dir/net-$name.xml" <<-EOF
	<network>
	  <name>$name</name>
	  <forward mode='open'/>
	  <bridge name='$bridge' stp='off' delay='0'/>
	  <ip address='$prefix.1' netmask='255.255.255.0'>
	    <dhcp>
	      <range start='$prefix.10' end='$prefix.60'/>
	    </dhcp>
	  </ip>
	</network>
	EOF
	qemu_virsh net-create "$qemu_host_dir/net-$name.xml" >/dev/null || return 1
	qemu_host_nets="$qemu_host_nets $name"
}

qemu_host_stop() {
	local n
	[ -n "${QEMU_URI:-}" ] || return 0
	if [ -S "$qemu_host_dir/run/libvirt-sock" ]; then
		qemu_host_clean_domains_
		for n in $qemu_host_nets; do
			qemu_virsh net-destroy "$n" >/dev/null 2>&1
		done
	fi
	qemu_host_kill_ "$(cat "$qemu_host_dir/libvirtd.cpid" 2>/dev/null)" /usr/sbin/libvirtd
	qemu_host_kill_ "$(cat "$qemu_host_dir/virtlogd.cpid" 2>/dev/null)" /usr/sbin/virtlogd
	rm -f "$qemu_host_dir/libvirtd.cpid" "$qemu_host_dir/virtlogd.cpid" "$QEMU_HOST_PIDS"
	QEMU_URI=
	flock -u 7 2>/dev/null
	return 0
}
