# tests/emulators/common/lib-common.sh: what arm/lib.sh and gce/lib.sh do
# the same way (sourced by them): where the emulator binary is, starting it
# with test_atexit, waiting for its ready file, stopping it, control calls.

# emu_bin NAME LIBDIR: the emulator NAME (gce-emu, arm-emu) next to $TOOLS
# (BUILD/tests/tools), else in build/san of the tree LIBDIR is in.
emu_bin() {
	if [ -n "${TOOLS:-}" ]; then
		echo "$(dirname "$TOOLS")/emulators/$1"
	else
		echo "$2/../../../build/san/tests/emulators/$1"
	fi
}

# emu_atexit GUARD FUNC: FUNC run when the test exits (tests/e2e/lib.sh's
# test_atexit, when there is one), registered once whatever the number of
# starts: the shell variable GUARD remembers it.
emu_atexit() {
	if command -v test_atexit >/dev/null 2>&1 && eval "[ -z \"\${$1:-}\" ]"; then
		eval "$1=1"
		test_atexit "$2"
	fi
}

# emu_wait_ready WHO PIDVAR DIR: waits (20 s at most) for the ready file
# DIR/port of the emulator whose process id is in the variable PIDVAR. 0
# once it serves; 1 when it does not in time, or when it exited (then its
# output, DIR/emu.out, is shown and PIDVAR emptied: nothing is left to stop).
emu_wait_ready() {
	local tries=200 pid
	eval "pid=\$$2"
	while [ ! -s "$3/port" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$1: the emulator exited:" >&2
			cat "$3/emu.out" >&2
			eval "$2="
			return 1
		fi
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { echo "$1: no ready file after 20 s" >&2; return 1; }
		sleep 0.1
	done
}

# emu_kill PID: SIGTERM to the emulator PID (if any), and wait for it.
emu_kill() {
	if [ -n "$1" ]; then
		kill "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
	return 0
}

# emu_ctl CA URL METHOD PATH [JSON]: a control call to the emulator at URL
# (https://127.0.0.1:PORT), PATH relative to /emulator/; prints the answer;
# fails on a status other than 2xx.
emu_ctl() {
	local path=${4#/}
	path=${path#emulator/}
	curl -sS --fail-with-body --cacert "$1" -X "$3" -H 'Content-Type: application/json' \
		${5:+--data-binary "$5"} "$2/emulator/$path"
}
