# tests/emulators/gce/lib.sh: start, drive and stop the GCE emulator from a
# shell test. Source it (after tests/e2e/lib.sh, whose test_atexit it uses
# when present):
#
#	. "$SRCDIR/tests/emulators/gce/lib.sh"
#	gce_start "$TRASH/gce"        # exports GCE_PORT GCE_MPORT GCE_URL GCE_TOKEN_URI GCE_CA GCE_SA
#	gce_ctl POST config '{"polls_to_done":1}'
#	gce_count_label cvmctl-id abc  # instances whose label cvmctl-id is abc
#	gce_stop
#
# The emulator binary is $GCE_EMU, by default BUILD/tests/emulators/gce-emu
# next to $TOOLS (BUILD/tests/tools). Extra arguments to gce_start go to it.
# Needs curl and jq.

GCE_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE:-$0}")" && pwd)
if [ -z "${GCE_EMU:-}" ]; then
	if [ -n "${TOOLS:-}" ]; then
		GCE_EMU=$(dirname "$TOOLS")/emulators/gce-emu
	else
		GCE_EMU=$GCE_LIB_DIR/../../../build/san/tests/emulators/gce-emu
	fi
fi
GCE_PID=

# gce_start DIR [ARGS...]: key material in DIR (made by testca.sh unless
# DIR/sa.json exists), the emulator started in the background; returns
# once it serves. sa.json's token_uri is rewritten to the emulator's.
# GCE_TLS_CERT / GCE_TLS_KEY replace DIR/server.pem / server.key (e.g.
# DIR/wrong-host.pem for a host-name check).
gce_start() {
	GCE_DIR=$1
	shift
	if [ ! -f "$GCE_DIR/sa.json" ]; then
		"$GCE_LIB_DIR/testca.sh" "$GCE_DIR" || return 1
	fi
	rm -f "$GCE_DIR/port" "$GCE_DIR/mport"
	"$GCE_EMU" --tls-cert "${GCE_TLS_CERT:-$GCE_DIR/server.pem}" --tls-key "${GCE_TLS_KEY:-$GCE_DIR/server.key}" \
		--service-account "$GCE_DIR/sa.json" --ready-file "$GCE_DIR/port" \
		--metadata-ready-file "$GCE_DIR/mport" --log "$GCE_DIR/emu.log" "$@" \
		</dev/null >>"$GCE_DIR/emu.out" 2>&1 5>&- &
	GCE_PID=$!
	if command -v test_atexit >/dev/null 2>&1 && [ -z "${GCE_ATEXIT_:-}" ]; then
		GCE_ATEXIT_=1
		test_atexit gce_stop
	fi
	local tries=200
	while [ ! -s "$GCE_DIR/port" ]; do
		if ! kill -0 "$GCE_PID" 2>/dev/null; then
			echo "gce_start: the emulator exited:" >&2
			cat "$GCE_DIR/emu.out" >&2
			GCE_PID=
			return 1
		fi
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { echo "gce_start: no ready file after 20 s" >&2; return 1; }
		sleep 0.1
	done
	GCE_PORT=$(cat "$GCE_DIR/port")
	GCE_MPORT=$(cat "$GCE_DIR/mport")
	GCE_URL=https://127.0.0.1:$GCE_PORT/compute/v1
	GCE_TOKEN_URI=https://127.0.0.1:$GCE_PORT/token
	GCE_CA=$GCE_DIR/ca.pem
	GCE_SA=$GCE_DIR/sa.json
	sed -i "s|\"token_uri\": \"[^\"]*\"|\"token_uri\": \"$GCE_TOKEN_URI\"|" "$GCE_SA" "$GCE_DIR/sa-rogue.json"
	export GCE_PORT GCE_MPORT GCE_URL GCE_TOKEN_URI GCE_CA GCE_SA GCE_DIR
}

# gce_stop: SIGTERM, and wait for the emulator to exit.
gce_stop() {
	if [ -n "${GCE_PID:-}" ]; then
		kill "$GCE_PID" 2>/dev/null
		wait "$GCE_PID" 2>/dev/null
		GCE_PID=
	fi
	return 0
}

# gce_ctl METHOD PATH [JSON]: a control call (PATH relative to /emulator/);
# prints the answer; fails on a status other than 2xx.
gce_ctl() {
	local path=${2#/}
	path=${path#emulator/}
	curl -sS --fail-with-body --cacert "$GCE_CA" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "https://127.0.0.1:$GCE_PORT/emulator/$path"
}

# gce_count_label KEY VALUE: how many instances carry label KEY=VALUE.
gce_count_label() {
	gce_ctl GET inventory | jq --arg k "$1" --arg v "$2" '[.instances[] | select(.labels[$k] == $v)] | length'
}

# gce_count_instances [ZONE]: how many instances (in ZONE) the emulator holds.
gce_count_instances() {
	gce_ctl GET inventory | jq --arg z "${1:-}" '[.instances[] | select($z == "" or .zone == $z)] | length'
}

# gce_b64url: base64url without padding of stdin.
gce_b64url() {
	openssl base64 -A | tr '+/' '-_' | tr -d '='
}

# gce_jwt KEYFILE [AUD] [LIFETIME] [IAT_OFFSET] [EXTRA_CLAIMS]: an RS256 JWT-bearer
# assertion signed with KEYFILE's private key (a service-account JSON).
gce_jwt() {
	local sa=$1 aud=${2:-$GCE_TOKEN_URI} life=${3:-3600} off=${4:-0} extra=${5:-}
	local now iss kid h c key
	now=$(($(date +%s) + off))
	iss=$(jq -r .client_email "$sa")
	kid=$(jq -r .private_key_id "$sa")
	key=$(mktemp)
	jq -r .private_key "$sa" >"$key"
	h=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$kid" | gce_b64url)
	c=$(printf '{"iss":"%s","scope":"https://www.googleapis.com/auth/cloud-platform","aud":"%s","iat":%d,"exp":%d%s}' \
		"$iss" "$aud" "$now" "$((now + life))" "$extra" | gce_b64url)
	printf '%s.%s.%s' "$h" "$c" "$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$key" -binary | gce_b64url)"
	rm -f "$key"
}

# gce_token [KEYFILE]: an access token from the emulator's token endpoint.
gce_token() {
	curl -sS --fail-with-body --cacert "$GCE_CA" \
		--data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer' \
		--data-urlencode "assertion=$(gce_jwt "${1:-$GCE_SA}")" "$GCE_TOKEN_URI" | jq -r .access_token
}

# gce_api TOKEN METHOD PATH [JSON]: a Compute call (PATH after /compute/v1/);
# prints the body, then a last line "HTTP <status>". The body goes through a
# file: a metadata value may be larger than one command-line argument.
gce_api() {
	local data= rc
	if [ $# -ge 4 ]; then
		data=$(mktemp) || return 1
		printf '%s' "$4" >"$data"
	fi
	curl -sS --cacert "$GCE_CA" -X "$2" ${1:+-H "Authorization: Bearer $1"} -H 'Content-Type: application/json' \
		${data:+--data-binary "@$data"} -w '\nHTTP %{http_code}\n' "$GCE_URL/${3#/}"
	rc=$?
	[ -n "$data" ] && rm -f "$data"
	return $rc
}
