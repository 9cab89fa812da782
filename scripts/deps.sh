#!/bin/sh
# scripts/deps.sh [--test] [--fuzz] [--clang] [--vm] [--sdk]: make sure the Debian packages that the
# build (and, with --test, the tests; with --vm, the real-VM test; with --sdk, the cloud SDK tests)
# need are present.
#
# It runs on every `make`, so the common case (all present) stays silent and
# costs only a few stat(2)s and one pkg-config call. When something is
# missing: as root it installs the exact packages; otherwise it names them
# once and fails.
set -u

want_test=0
want_fuzz=0
want_clang=0
want_vm=0
want_sdk=0
for arg in "$@"; do
	case "$arg" in
	--test) want_test=1 ;;
	--fuzz) want_fuzz=1 ;;
	--clang) want_clang=1 ;;
	--vm) want_vm=1 ;;
	--sdk) want_sdk=1 ;;
	*) echo "usage: $0 [--test] [--fuzz] [--clang] [--vm] [--sdk]" >&2; exit 2 ;;
	esac
done

missing=""
need() {
	case " $missing " in
	*" $1 "*) ;;
	*) missing="${missing:+$missing }$1" ;;
	esac
}

have_cmd() {
	command -v "$1" >/dev/null 2>&1
}

# Build: compiler, make, pkg-config and the libraries' .pc files.
have_cmd cc || need build-essential
have_cmd make || need build-essential
if have_cmd pkg-config; then
	# gnutls: the ARM emulator's (tests/emulators/arm) TLS and assertion checks.
	if ! pkg-config --exists yaml-0.1 libcurl jansson openssl libvirt sqlite3 libmicrohttpd gnutls; then
		# Slow path only: find out which module is missing.
		for mod in yaml-0.1:libyaml-dev libcurl:libcurl4-openssl-dev \
			jansson:libjansson-dev openssl:libssl-dev libvirt:libvirt-dev \
			sqlite3:libsqlite3-dev libmicrohttpd:libmicrohttpd-dev gnutls:libgnutls28-dev; do
			pkg-config --exists "${mod%%:*}" || need "${mod#*:}"
		done
	fi
else
	need pkg-config
	need libyaml-dev; need libcurl4-openssl-dev; need libjansson-dev
	need libssl-dev; need libvirt-dev; need libsqlite3-dev; need libmicrohttpd-dev
	need libgnutls28-dev
fi

# libinotifytools ships no .pc: look for the header and the linker's .so
# where Debian puts them (a glob, not a compiler run: this is the fast path).
if [ ! -f /usr/include/inotifytools/inotifytools.h ]; then
	need libinotifytools0-dev
else
	found=
	for f in /usr/lib/*/libinotifytools.so /usr/lib/libinotifytools.so; do
		[ -e "$f" ] && found=1
	done
	[ -n "$found" ] || need libinotifytools0-dev
fi

# Runtime parts of the demo and the end-to-end tests: a private libvirtd
# (test driver) and virsh for the holder connection.
[ -x /usr/sbin/libvirtd ] || need libvirt-daemon
have_cmd virsh || need libvirt-clients
# The demo's GCP flow: test key material for the Compute Engine emulator
# (tests/emulators/gce/testca.sh), and a look at its inventory.
have_cmd openssl || need openssl
have_cmd curl || need curl
have_cmd jq || need jq

if [ "$want_clang" = 1 ]; then
	have_cmd clang || need clang
fi

if [ "$want_fuzz" = 1 ]; then
	# make fuzz: clang with its libFuzzer runtime.
	have_cmd clang || need clang
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need libclang-rt-14-dev
fi

if [ "$want_test" = 1 ]; then
	[ -f /usr/include/cmocka.h ] || need libcmocka-dev
	have_cmd prove || need perl
	have_cmd openssl || need openssl
	have_cmd hyperfine || need hyperfine
	have_cmd sqlite3 || need sqlite3
	# The end-to-end tests read cvmctl's JSON output with jq, and show
	# with strace that validate opens no connection; the benchmarks use bc;
	# the cloud-init test lints the guest refresher with shellcheck.
	have_cmd jq || need jq
	# The emulator tests (tests/emulators) talk to their emulators with curl.
	have_cmd curl || need curl
	have_cmd strace || need strace
	have_cmd bc || need bc
	# tests/bench/scale.sh reads peak RSS with GNU time (/usr/bin/time -f %M).
	[ -x /usr/bin/time ] || need time
	# tests/bench/loader.sh's baseline: libyaml through Python's yaml module.
	python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null || need python3-yaml
	have_cmd shellcheck || need shellcheck
	# t1620-watch-daemon checks /metrics with promtool (Debian's prometheus,
	# about 19 MB) and the --once textfile with a real node_exporter.
	have_cmd promtool || need prometheus
	have_cmd prometheus-node-exporter || need prometheus-node-exporter
	have_cmd timeout || need coreutils
	# The GCE emulator's tests: curl drives it from the shell (and
	# tests/emulators/gce/lib.sh), and Google's own Python client
	# (google-auth with requests) must work against it.
	have_cmd curl || need curl
	[ -f /usr/lib/python3/dist-packages/google/auth/__init__.py ] || need python3-google-auth
	[ -d /usr/lib/python3/dist-packages/requests ] || need python3-requests
	# t2130 takes the GCP refresher out of the rendered cloud-config.
	[ -d /usr/lib/python3/dist-packages/yaml ] || need python3-yaml
fi

if [ "$want_sdk" = 1 ]; then
	# make check-sdk (tests/sdk): Node and npm for Google's Node client, and
	# Microsoft's Python SDK for Resource Manager,
	# run by Debian's own python3 (/usr/bin/python3, whatever else is on PATH).
	have_cmd node || need nodejs
	have_cmd npm || need npm
	[ -x /usr/bin/python3 ] || need python3
	[ -f /usr/lib/python3/dist-packages/azure/mgmt/compute/__init__.py ] &&
		[ -f /usr/lib/python3/dist-packages/azure/identity/__init__.py ] || need python3-azure
fi

if [ "$want_vm" = 1 ]; then
	# make check-vm (tests/vm): QEMU and libvirt's driver for it, the
	# guest's kernel and busybox (tests/vm/build-guest.sh takes them from
	# the installed packages), and dnsmasq for the libvirt network's DHCP.
	have_cmd qemu-system-x86_64 || need qemu-system-x86
	ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1 ||
		need libvirt-daemon-driver-qemu
	dpkg-query -W -f '${Status}' linux-image-amd64 2>/dev/null | grep -q "ok installed" ||
		need linux-image-amd64
	if ! [ -x /bin/busybox ] || ! /bin/busybox --list 2>/dev/null | grep -qx cpio; then
		need busybox-static
	fi
	have_cmd dnsmasq || [ -x /usr/sbin/dnsmasq ] || need dnsmasq-base
	have_cmd flock || need util-linux
fi

# Debian's libvirtd (as root) aborts at start unless the QEMU driver's
# compiled-in user exists; libvirt-daemon-system would create it, but we
# install only libvirt-daemon. An unprivileged libvirtd does not need it.
uid=$(id -u)
need_user=0
if [ "$uid" = 0 ] && ! getent passwd libvirt-qemu >/dev/null 2>&1; then
	need_user=1
fi

# libvirt trusts its cached QEMU capabilities only while QEMU's user can
# open /dev/kvm; otherwise every define probes QEMU again (over a minute
# here). libvirt-daemon-system puts libvirt-qemu in the kvm group.
need_kvm_group=0
if [ "$want_vm" = 1 ] && [ "$uid" = 0 ] && [ -e /dev/kvm ] && getent group kvm >/dev/null 2>&1 &&
	! id -nG libvirt-qemu 2>/dev/null | tr ' ' '\n' | grep -qx kvm; then
	need_kvm_group=1
fi

[ -z "$missing" ] && [ "$need_user" = 0 ] && [ "$need_kvm_group" = 0 ] && exit 0

if [ "$uid" != 0 ]; then
	echo "cvmctl: missing Debian packages: $missing" >&2
	echo "  install them with: sudo apt-get install --no-install-recommends $missing" >&2
	echo "  (or run: sudo make deps)" >&2
	exit 1
fi

if [ -n "$missing" ]; then
	echo "deps.sh: installing $missing" >&2
	# Wait for a dpkg lock another installer holds (unattended upgrades, a
	# second make) instead of failing at once.
	apt-get -o DPkg::Lock::Timeout=300 update -q || exit 1
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing || exit 1
fi
if ! getent passwd libvirt-qemu >/dev/null 2>&1; then
	echo "deps.sh: creating system user libvirt-qemu (libvirtd needs it)" >&2
	useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu || exit 1
fi
if [ "$want_vm" = 1 ] && [ -e /dev/kvm ] && getent group kvm >/dev/null 2>&1 &&
	! id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm; then
	echo "deps.sh: adding libvirt-qemu to the kvm group (as libvirt-daemon-system does)" >&2
	usermod -a -G kvm libvirt-qemu || exit 1
fi
exit 0
