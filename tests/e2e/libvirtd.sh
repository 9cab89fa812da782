# tests/e2e/libvirtd.sh: private libvirtd daemons (test driver) for
# end-to-end tests. Source it after lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$E2E_DIR/libvirtd.sh"
#	libvirtd_start a b || test_skip_all 'cannot start libvirtd'
#	virsh -c "$URI_a" define dom.xml     # URI_<name> is exported
#	libvirtd_stop b                      # host b becomes unreachable
#	libvirtd_pause b; libvirtd_resume b  # SIGSTOP / SIGCONT: a hung host
#
# Each daemon lives in $TRASH/libvirtd-NAME (socket dir run/, libvirtd.conf,
# libvirtd.log, events.log) and serves test+unix:///default?socket=...
# The test driver keeps its state only while a client is connected, so a
# HOLDER (`virsh event --all --loop`, logging events to events.log) stays
# connected for the daemon's lifetime (keepalive off, `-k 0`, so that it
# outlives a long SIGSTOP of the daemon); that lets a domain defined by one
# process be seen by the next. Everything is stopped by PID (holder first)
# when the script exits; other tests' daemons are never touched.
#
# Call these functions from the script's own shell (a test body is fine,
# `$(...)` is not), so the daemons stay this shell's children.
#
# By default the daemon loads no driver modules (LIBVIRT_DRIVER_DIR points
# to an empty directory): the test driver is built into libvirt itself, and
# the stateful drivers (qemu, network, ...) would take per-host locks in
# /run/libvirt as root, so only one root daemon could run at a time.
# LIBVIRTD_ALL_DRIVERS=1 loads them (one daemon at a time as root; needs the
# libvirt-qemu user that scripts/deps.sh creates).

LIBVIRTD=${LIBVIRTD:-/usr/sbin/libvirtd}
libvirtd_names_=

# Upper bound on a daemon's life if this script is killed before its trap
# runs: the holder exits after this many seconds, the daemon 30 s later.
LIBVIRTD_MAX_LIFETIME=${LIBVIRTD_MAX_LIFETIME:-1800}

libvirtd_dir() {
	printf '%s\n' "$TRASH/libvirtd-$1"
}

libvirtd_uri() {
	printf 'test+unix:///default?socket=%s/run/libvirt-sock\n' "$(libvirtd_dir "$1")"
}

libvirtd_pid() {
	cat "$(libvirtd_dir "$1")/daemon.pid" 2>/dev/null
}

libvirtd_holder_pid() {
	cat "$(libvirtd_dir "$1")/holder.pid" 2>/dev/null
}

# True while PID runs (a zombie child counts as gone).
libvirtd_alive_() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# SIGTERM, up to 5 s grace, then SIGKILL; reaps the child if it is ours.
libvirtd_kill_() {
	local pid=$1 i=0
	[ -n "$pid" ] || return 0
	if libvirtd_alive_ "$pid"; then
		kill -CONT "$pid" 2>/dev/null # a paused daemon cannot act on TERM
		kill -TERM "$pid" 2>/dev/null
		while libvirtd_alive_ "$pid" && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if libvirtd_alive_ "$pid"; then
			kill -KILL "$pid" 2>/dev/null
			sleep 0.1
		fi
	fi
	wait "$pid" 2>/dev/null
	return 0
}

libvirtd_spawn_() {
	local name=$1 dir
	dir=$(libvirtd_dir "$name")
	case "$name" in
	*[!A-Za-z0-9_]*|"") echo "libvirtd_start: bad name '$name'" >&2; return 1 ;;
	esac
	if [ -e "$dir" ]; then
		echo "libvirtd_start: '$name' already started" >&2
		return 1
	fi
	mkdir -p "$dir/run" "$dir/no-drivers" "$dir/xdg-run" "$dir/xdg-config" "$dir/xdg-cache" || return 1
	chmod 0700 "$dir/xdg-run"
	cat >"$dir/libvirtd.conf" <<EOF
unix_sock_dir = "$dir/run"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$dir/libvirtd.log"
EOF
	local driver_dir=$dir/no-drivers
	if [ -n "${LIBVIRTD_ALL_DRIVERS:-}" ]; then
		driver_dir=
	fi
	# An unprivileged daemon keeps its own state under $HOME and the XDG
	# dirs: give each one its own.
	(
		[ -n "$driver_dir" ] && export LIBVIRT_DRIVER_DIR="$driver_dir"
		export HOME="$dir" XDG_RUNTIME_DIR="$dir/xdg-run" \
			XDG_CONFIG_HOME="$dir/xdg-config" XDG_CACHE_HOME="$dir/xdg-cache"
		exec "$LIBVIRTD" --config "$dir/libvirtd.conf" \
			--pid-file "$dir/libvirtd.pid" --timeout 30
	) </dev/null >"$dir/libvirtd.out" 2>&1 5>&- &
	echo $! >"$dir/daemon.pid"
	libvirtd_names_="$libvirtd_names_ $name"
	eval "URI_$name=\$(libvirtd_uri \"\$name\")"
	export "URI_$name"
}

libvirtd_fail_() {
	local name=$1 dir
	dir=$(libvirtd_dir "$name")
	echo "libvirtd '$name': $2" >&2
	tail -n 20 "$dir/libvirtd.out" "$dir/libvirtd.log" "$dir/events.log" 2>/dev/null >&2
	libvirtd_stop "$name"
	return 1
}

# Waits for the socket and starts the holder.
libvirtd_hold_() {
	local name=$1 dir pid tries=100
	dir=$(libvirtd_dir "$name")
	pid=$(libvirtd_pid "$name")
	until [ -S "$dir/run/libvirt-sock" ]; do
		libvirtd_alive_ "$pid" || { libvirtd_fail_ "$name" "daemon exited at start"; return 1; }
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { libvirtd_fail_ "$name" "no socket within 10 s"; return 1; }
		sleep 0.1
	done
	virsh -q -k 0 -c "$(libvirtd_uri "$name")" event --all --loop --timeout "$LIBVIRTD_MAX_LIFETIME" \
		</dev/null >"$dir/events.log" 2>&1 5>&- &
	echo $! >"$dir/holder.pid"
}

# Waits until the holder really holds the driver state: a network defined
# by one virsh process must still be there for the next one to undefine
# (networks, unlike domains, do not show up in the holder's event log).
libvirtd_ready_() {
	local name=$1 dir uri tries=100
	dir=$(libvirtd_dir "$name")
	uri=$(libvirtd_uri "$name")
	printf '<network><name>holder-probe</name></network>\n' >"$dir/probe.xml"
	until virsh -q -c "$uri" net-define "$dir/probe.xml" >/dev/null 2>&1 &&
		virsh -q -c "$uri" net-undefine holder-probe >/dev/null 2>&1; do
		libvirtd_alive_ "$(libvirtd_pid "$name")" ||
			{ libvirtd_fail_ "$name" "daemon exited"; return 1; }
		libvirtd_alive_ "$(libvirtd_holder_pid "$name")" ||
			{ libvirtd_fail_ "$name" "holder connection exited"; return 1; }
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { libvirtd_fail_ "$name" "not ready within 10 s"; return 1; }
		sleep 0.1
	done
	rm -f "$dir/probe.xml"
}

# libvirtd_start NAME...: start one daemon per NAME (in parallel), each with
# its holder; exports URI_NAME. Returns non-zero (daemon log on stderr) if
# any did not come up within 10 s.
libvirtd_start() {
	local name rc=0
	if [ ! -x "$LIBVIRTD" ] || ! command -v virsh >/dev/null 2>&1; then
		echo "libvirtd_start: $LIBVIRTD or virsh missing (run scripts/deps.sh --test)" >&2
		return 1
	fi
	for name in "$@"; do
		libvirtd_spawn_ "$name" || rc=1
	done
	[ "$rc" = 0 ] || return 1
	for name in "$@"; do
		libvirtd_hold_ "$name" || rc=1
	done
	[ "$rc" = 0 ] || return 1
	for name in "$@"; do
		libvirtd_ready_ "$name" || rc=1
	done
	return "$rc"
}

# libvirtd_stop NAME: stop the holder, then the daemon (a host that has
# become unreachable). Its socket disappears; URI_NAME stays set.
libvirtd_stop() {
	local dir
	dir=$(libvirtd_dir "$1")
	libvirtd_kill_ "$(libvirtd_holder_pid "$1")"
	libvirtd_kill_ "$(libvirtd_pid "$1")"
	rm -f "$dir/run/libvirt-sock" "$dir/run/libvirt-sock-ro" "$dir/run/libvirt-admin-sock"
	# pid_max is 32768 here: a stopped daemon's pid is soon another
	# process's, and the exit trap must not signal it.
	rm -f "$dir/daemon.pid" "$dir/holder.pid"
}

# libvirtd_pause NAME / libvirtd_resume NAME: SIGSTOP / SIGCONT the daemon:
# its socket still accepts connections, nothing answers (a hung host). The
# holder stays connected.
libvirtd_pause() {
	kill -STOP "$(libvirtd_pid "$1")"
}

libvirtd_resume() {
	kill -CONT "$(libvirtd_pid "$1")"
}

libvirtd_stop_all() {
	local name
	for name in $libvirtd_names_; do
		libvirtd_stop "$name"
	done
}

test_atexit libvirtd_stop_all
