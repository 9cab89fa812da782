# tests/emulators/arm/lib.sh: start, drive and stop the ARM emulator from a
# shell test. Source it (after tests/e2e/lib.sh, whose test_atexit it uses
# when present):
#
#	. "$SRCDIR/tests/emulators/arm/lib.sh"
#	arm_start "$TRASH/arm"        # exports ARM_PORT ARM_IPORT ARM_URL ARM_AUTHORITY ARM_CA ARM_TENANT ...
#	arm_ctl PUT config '{"pollsToDone":1}'
#	tok=$(arm_token)
#	arm_api "$tok" PUT "subscriptions/$ARM_SUB/resourcegroups/rg?api-version=2021-04-01" '{"location":"eastus"}'
#	arm_stop
#
# The emulator binary is $ARM_EMU, by default BUILD/tests/emulators/arm-emu
# next to $TOOLS (BUILD/tests/tools). Extra arguments to arm_start go to it
# (after the defaults: --tenant, --client-id, --client-secret-file,
# --client-cert, --federated-token-file). Needs curl and jq.

ARM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE:-$0}")" && pwd)
. "$ARM_LIB_DIR/../common/lib-common.sh"
ARM_EMU=${ARM_EMU:-$(emu_bin arm-emu "$ARM_LIB_DIR")}
ARM_PID=
ARM_TENANT=${ARM_TENANT:-0a1b2c3d-0000-4000-8000-00000000a2e0}
ARM_CLIENT_ID=${ARM_CLIENT_ID:-5e3f0a11-0000-4000-8000-0000000c11e7}
ARM_SUB=${ARM_SUB:-00000000-0000-4000-8000-00000000c0de}

# arm_start DIR [ARGS...]: key material in DIR (made by testca.sh unless
# DIR/ca.pem exists), the emulator started in the background; returns once
# it serves.
arm_start() {
	ARM_DIR=$1
	shift
	if [ ! -f "$ARM_DIR/ca.pem" ]; then
		"$ARM_LIB_DIR/testca.sh" "$ARM_DIR" || return 1
	fi
	rm -f "$ARM_DIR/port" "$ARM_DIR/iport"
	"$ARM_EMU" --tls-cert "$ARM_DIR/server.pem" --tls-key "$ARM_DIR/server.key" \
		--ready-file "$ARM_DIR/port" --imds-ready-file "$ARM_DIR/iport" \
		--tenant "$ARM_TENANT" --client-id "$ARM_CLIENT_ID" \
		--client-secret-file "$ARM_DIR/client-secret" --client-cert "$ARM_DIR/client.pem" \
		--federated-token-file "$ARM_DIR/federated-token" --log "$ARM_DIR/emu.log" "$@" \
		</dev/null >>"$ARM_DIR/emu.out" 2>&1 5>&- &
	ARM_PID=$!
	emu_atexit ARM_ATEXIT_ arm_stop
	emu_wait_ready arm_start ARM_PID "$ARM_DIR" || return 1
	ARM_PORT=$(cat "$ARM_DIR/port")
	ARM_IPORT=$(cat "$ARM_DIR/iport")
	ARM_URL=https://127.0.0.1:$ARM_PORT
	ARM_AUTHORITY=https://127.0.0.1:$ARM_PORT/
	ARM_IMDS=http://127.0.0.1:$ARM_IPORT
	ARM_CA=$ARM_DIR/ca.pem
	export ARM_PORT ARM_IPORT ARM_URL ARM_AUTHORITY ARM_IMDS ARM_CA ARM_DIR ARM_TENANT ARM_CLIENT_ID ARM_SUB
}

# arm_stop: SIGTERM, and wait for the emulator to exit.
arm_stop() {
	emu_kill "${ARM_PID:-}"
	ARM_PID=
}

# arm_ctl METHOD PATH [JSON]: a control call (PATH relative to /emulator/);
# prints the answer; fails on a status other than 2xx.
arm_ctl() {
	emu_ctl "$ARM_CA" "$ARM_URL" "$@"
}

# arm_token: an access token for the client secret, from the emulator's
# v2.0 token endpoint.
arm_token() {
	curl -sS --fail-with-body --cacert "$ARM_CA" \
		--data-urlencode grant_type=client_credentials --data-urlencode "client_id=$ARM_CLIENT_ID" \
		--data-urlencode "client_secret=$(cat "$ARM_DIR/client-secret")" \
		--data-urlencode scope=https://management.azure.com/.default \
		"$ARM_URL/$ARM_TENANT/oauth2/v2.0/token" | jq -r .access_token
}

# arm_api TOKEN METHOD PATH [JSON [HEADER...]]: a Resource Manager call (PATH
# after the host, with its query); prints the body, then a last line
# "HTTP <status>". An empty TOKEN sends no Authorization header.
arm_api() {
	local tok=$1 method=$2 path=${3#/} data='' rc
	shift 3
	if [ $# -ge 1 ]; then
		data=$(mktemp) || return 1
		printf '%s' "$1" >"$data"
		shift
	fi
	local hdr=()
	for h in "$@"; do hdr+=(-H "$h"); done
	curl -sS -g --cacert "$ARM_CA" -X "$method" ${tok:+-H "Authorization: Bearer $tok"} \
		-H 'Content-Type: application/json' "${hdr[@]}" ${data:+--data-binary "@$data"} \
		-w '\nHTTP %{http_code}\n' "$ARM_URL/$path"
	rc=$?
	[ -n "$data" ] && rm -f "$data"
	return $rc
}

# arm_count TYPE [TAG VALUE]: how many resources of TYPE (e.g.
# Microsoft.Compute/virtualMachines) the emulator holds (with tag TAG=VALUE).
arm_count() {
	arm_ctl GET inventory | jq --arg t "$1" --arg k "${2:-}" --arg v "${3:-}" \
		'[.resources[] | select((.type | ascii_downcase) == ($t | ascii_downcase)) |
		  select($k == "" or .tags[$k] == $v)] | length'
}
