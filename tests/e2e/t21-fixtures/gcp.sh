# Shared by tests/e2e/t21xx-gcp-*.sh: a Compute Engine emulator
# (tests/emulators/gce) and spec trees for the gcp backend pointed at it
# by endpoint, tokenURI and caBundleFile alone, as a user would.
#
#	gcp_emu_start [ARGS...]           the emulator, in $TRASH/gce (lib.sh's gce_start)
#	write_gcp_provider FILE NAME [k=v...]  a Provider; k=v: project= zone= zones= ca=
#	                                  credentialsFile= page= (extra YAML lines: extra=)
#	write_gcp_cvm FILE NAME [k=v...]  a CVM; vcpus= memoryGiB= state= provider=
#	inv                               the emulator's inventory (JSON)
#	inst_field NAME JQ                a jq expression on instance NAME
#	mutating_calls                    insert/delete/start/set* calls logged since the last clear
#	record_attempt NAME               the create attempt the state recorded for NAME

. "$SRCDIR/tests/emulators/gce/lib.sh"

gcp_emu_start() {
	gce_start "$TRASH/gce" "$@" || return 1
	chmod 600 "$GCE_SA" "$GCE_DIR/sa-rogue.json"
}

write_gcp_provider() {
	local file=$1 name=$2 kv project=cvmctl-test zone=us-central1-a zones='' ca=$GCE_CA cred=$GCE_SA extra=
	shift 2
	for kv in "$@"; do
		case "$kv" in
		project=*) project=${kv#*=} ;;
		zone=*) zone=${kv#*=} ;;
		zones=*) zones=${kv#*=} ;;
		ca=*) ca=${kv#*=} ;;
		credentialsFile=*) cred=${kv#*=} ;;
		extra=*) extra=${kv#*=} ;;
		*) echo "write_gcp_provider: unknown $kv" >&2; return 1 ;;
		esac
	done
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<-EOT
	apiVersion: cvmctl/v1
	kind: Provider
	metadata: {name: $name}
	spec:
	  type: gcp
	  project: $project
	  zone: $zone${zones:+
	  zones: [$zones]}
	  credentialsFile: $cred
	  endpoint: $GCE_URL
	  tokenURI: $GCE_TOKEN_URI
	  caBundleFile: $ca
	  connectTimeout: 5s
	  callTimeout: 10s
	  controlPlaneURL: cp.example.org:7018${extra:+
	  $extra}
	EOT
}

write_gcp_cvm() {
	local file=$1 name=$2 kv vcpus=2 mem=8 state=active provider=
	shift 2
	for kv in "$@"; do
		case "$kv" in
		vcpus=*) vcpus=${kv#*=} ;;
		memoryGiB=*) mem=${kv#*=} ;;
		state=*) state=${kv#*=} ;;
		provider=*) provider=${kv#*=} ;;
		*) echo "write_gcp_cvm: unknown $kv" >&2; return 1 ;;
		esac
	done
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<-EOT
	apiVersion: cvmctl/v1
	kind: CVM
	metadata: {name: $name}
	spec:
	  flavor: gcp${provider:+
	  provider: $provider}
	  vcpus: $vcpus
	  memoryGiB: $mem
	  state: $state
	EOT
}

inv() {
	gce_ctl GET inventory
}

inst_field() {
	inv | jq -r --arg n "$1" "[.instances[] | select(.name == \$n)][0] | $2"
}

mutating_calls() {
	gce_ctl GET requests | jq -r '.requests[] | select(.method != "GET") |
		select(.path | test("/compute/v1/")) | "\(.method) \(.path)"'
}

# The record of NAME that is not Inactive, else the newest one.
record_field() {
	cvmctl list -o json |
	jq -r --arg n "$1" --arg f "$2" '
		[.[] | select(.name == $n)] as $all |
		(([$all[] | select(.status != "Inactive")] + $all) | .[0][$f]) // ""'
}

record_attempt() {
	local id
	id=$(record_field "$1" id) || return 1
	sqlite3 "${STATE_DIR:-$XDG_STATE_HOME/cvmctl}/state.db" "select attempt from cvms where id = '$id'"
}

# The summary line of a pass without its timing.
summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

# ctl METHOD PATH [JSON]: a control call whose answer is not needed.
ctl() {
	gce_ctl "$@" >/dev/null
}
