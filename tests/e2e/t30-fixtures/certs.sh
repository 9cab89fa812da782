# tests/e2e/t30-fixtures/certs.sh: helpers shared by the t30xx certificate
# scripts (issue 3). Source after lib.sh (and libvirtd.sh). The `openssl`
# command is the oracle for every certificate, key and CRL cvmctl makes.
#
#	cvmctl ...                 as lib.sh's, but stdout and stderr of every
#	                           run are also appended to $CVMLOG
#	write_provider URI...      specs/providers.yaml: manager provider "lab"
#	write_cvm NAME [VALIDITY RENEWBEFORE]
#	                           specs/NAME.yaml (certificates block if given)
#	cvm_id NAME                the id of NAME's active record
#	share_of NAME              $TRASH/shares/<id of NAME>
#	epoch_of DATE              seconds since the epoch of an openssl date
#	cert_serial|cert_start|cert_end FILE
#	                           serial (upper-case hex), notBefore, notAfter
#	                           (epoch) of a PEM certificate
#	list_json NAME|ID          `cvmctl cert list -o json`
#	cert_field NAME SERIAL F   field F of one certificate in that list
#	crl_number FILE            the CRL number of a PEM CRL, in decimal
#	crl_reason FILE SERIAL     the reason openssl reads for SERIAL in it
#	check_share NAME DIR       the share of NAME holds byte for byte what
#	                           `cert download NAME --dir DIR --force` writes
#	check_no_secrets [LOG]     no private key in LOG (default $CVMLOG)
#	check_key_perms            key files 0600 in the 0700 keys/ directory

STATE=$XDG_STATE_HOME/cvmctl
. "$E2E_DIR/t1-fixtures/specs.sh"
SHARES=$TRASH/shares
CVMLOG=$TRASH/cvmctl.log
: >"$CVMLOG"

cvmctl() {
	local out err rc
	out=$(mktemp "$TRASH/.cvmctl-out.XXXXXX") && err=$(mktemp "$TRASH/.cvmctl-err.XXXXXX") || return 1
	"$CVMCTL" "$@" >"$out" 2>"$err" && rc=0 || rc=$?
	{
		printf '$ cvmctl %s  [exit %s]\n' "$*" "$rc"
		cat "$out" "$err"
	} >>"$CVMLOG"
	cat "$out"
	cat "$err" >&2
	rm -f "$out" "$err"
	return "$rc"
}

# The same Provider as the t1xxx scripts', named lab, over the given hosts,
# sharing into $SHARES.
write_provider() {
	manager_provider_yaml specs/providers.yaml lab 64 "$@"
}

write_cvm() {
	mkdir -p specs
	{
		cat <<-EOF
		apiVersion: cvmctl/v1
		kind: CVM
		metadata: {name: $1}
		spec:
		  flavor: manager
		  vcpus: 2
		  memoryGiB: 4
		EOF
		if [ $# -ge 3 ]; then
			printf '  certificates: {validity: %s, renewBefore: %s}\n' "$2" "$3"
		fi
	} >"specs/$1.yaml"
}

cvm_id() {
	cvmctl list -o json 2>/dev/null |
	jq -r --arg n "$1" '[.[] | select(.name == $n and .status != "Inactive")][0].id // empty'
}

share_of() {
	local id
	id=$(cvm_id "$1") && test -n "$id" && printf '%s/%s\n' "$SHARES" "$id"
}

epoch_of() {
	date -u -d "$1" +%s
}

cert_serial() {
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

cert_start() {
	epoch_of "$(openssl x509 -in "$1" -noout -startdate | sed 's/^notBefore=//')"
}

cert_end() {
	epoch_of "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')"
}

crl_number() {
	echo $((16#$(openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//')))
}

crl_reason() {
	openssl crl -in "$1" -noout -text |
	awk -v s="$2" '/Serial Number:/ { found = ($3 == s) }
		found && /CRL Reason Code:/ { getline; sub(/^ */, ""); print; exit }'
}

list_json() {
	cvmctl cert list "$1" -o json
}

cert_field() {
	list_json "$1" | jq -r --arg s "$2" --arg f "$3" '.[] | select(.serial == $s) | .[$f] // empty'
}

check_share() {
	local name=$1 dir=$2 share f
	share=$(share_of "$name") || { echo "no share for $name" >&2; return 1; }
	cvmctl cert download "$name" --dir "$dir" --force >/dev/null || return 1
	for f in cert.pem key.pem ca.pem; do
		cmp "$dir/$f" "$share/certs/$f" || { echo "$name: share's $f differs from the store" >&2; return 1; }
	done
}

# Chunks of a key's base64 that also occur in public material (a
# certificate carries the public half of its key, which PKCS#8 repeats) are
# not secret; every other 64-character chunk, and the whole DER, are.
public_b64_() {
	local f
	for f in "$STATE"/ca/ca.pem "$SHARES"/*/certs/cert.pem "$@"; do
		[ -f "$f" ] || continue
		grep -v -e '-----' "$f"
		openssl x509 -in "$f" -outform DER 2>/dev/null | base64 -w0
		echo
	done
}

# check_no_secrets [LOG] [EXTRA_KEY_FILE...]
check_no_secrets() {
	local log=${1:-$CVMLOG} k b64 chunk n=0 pub form hex
	[ $# -gt 0 ] && shift
	pub=$(mktemp "$TRASH/.public.XXXXXX") || return 1
	public_b64_ >"$pub"
	if grep -a -n "PRIVATE KEY" "$log"; then
		echo "a PEM private key header is in $log" >&2
		return 1
	fi
	for k in "$STATE"/keys/*.key "$STATE"/ca/ca.key "$@"; do
		[ -f "$k" ] || continue
		# `openssl pkey -outform DER` writes the traditional form (SEC1,
		# PKCS#1); key files and PEM output are PKCS#8: check both.
		for form in pkey pkcs8; do
			if [ $form = pkey ]; then
				b64=$(openssl pkey -in "$k" -outform DER | base64 -w0)
			else
				b64=$(openssl pkcs8 -topk8 -nocrypt -in "$k" -outform DER | base64 -w0)
			fi
			test -n "$b64" || return 1
			if grep -a -q -F -- "$b64" "$log"; then
				echo "the $form DER of $k is in $log" >&2
				return 1
			fi
			for chunk in $(printf '%s' "$b64" | fold -w 64); do
				grep -q -F -- "$chunk" "$pub" && continue
				n=$((n + 1))
				if grep -a -n -F -- "$chunk" "$log"; then
					echo "a 64-character chunk of the $form DER of $k is in $log" >&2
					return 1
				fi
			done
		done
		# and the private value itself, as openssl prints it in hex
		hex=$(openssl pkey -in "$k" -noout -text | awk '/^(priv|privateExponent):/ { on = 1; next }
			on && /^[a-zA-Z]/ { exit } on { gsub(/[ :]/, ""); printf "%s", $0 }')
		test "${#hex}" -ge 40 || { echo "cannot read the private value of $k" >&2; return 1; }
		hex=${hex#00}
		if grep -a -q -i -F -e "$hex" -e "$(printf '%s' "$hex" | sed 's/../&:/g; s/:$//')" "$log"; then
			echo "the private value of $k is in $log (hex)" >&2
			return 1
		fi
	done
	rm -f "$pub"
	echo "checked $n secret chunks"
	test "$n" -gt 0
}

# Mode of a path, octal (e.g. 600).
mode_of() {
	stat -c %a "$1"
}

check_key_perms() {
	local d f
	test "$(mode_of "$STATE")" = 700 &&
	test "$(mode_of "$STATE/ca")" = 700 &&
	test "$(mode_of "$STATE/ca/ca.key")" = 600 &&
	test "$(mode_of "$STATE/keys")" = 700 || { ls -la "$STATE" "$STATE/ca" >&2; return 1; }
	# One directory for every key: CVM-id.SERIAL.key
	for f in "$STATE"/keys/*; do
		test -f "$f" || { echo "$f is not a key file" >&2; return 1; }
		test "$(mode_of "$f")" = 600 || { echo "$f is $(mode_of "$f")" >&2; return 1; }
	done
	for d in "$SHARES"/*; do
		[ -d "$d" ] || continue
		for f in "$d" "$d/certs" "$d/env"; do
			test "$(mode_of "$f")" = 700 || { echo "$f is $(mode_of "$f")" >&2; return 1; }
		done
		for f in "$d"/certs/* "$d"/env/*; do
			test "$(mode_of "$f")" = 600 || { echo "$f is $(mode_of "$f")" >&2; return 1; }
		done
	done
}
