# tests/emulators/common/testca-lib.sh: what both emulators' testca.sh make
# the same way. Sourced (POSIX sh, under set -eu) by arm/testca.sh and
# gce/testca.sh; openssl's chatter goes to /dev/null, its failure stops the
# script.

# testca_dir DIR: DIR made (mode 0700) and entered; files made from here on
# are private to the user.
testca_dir() {
	mkdir -p "$1"
	chmod 0700 "$1"
	umask 077
	cd "$1" || exit 1
}

# testca_ca CN: ca.pem and ca.key, a test CA named CN.
testca_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
		-subj "/CN=$1" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# testca_leaf NAME CN EXTENSIONS: NAME.pem and NAME.key, a certificate for
# CN signed by ca.pem with EXTENSIONS (printf format: lines of an openssl
# extension file).
testca_leaf() {
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	# shellcheck disable=SC2059 # the extensions are a format on purpose (\n)
	printf "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 30 \
		-extfile "$1.ext" 2>/dev/null
	rm -f "$1.csr" "$1.ext" ca.srl
}

# testca_server: server.pem and server.key, the emulator's certificate
# (SAN IP:127.0.0.1, DNS:localhost), signed by ca.pem.
testca_server() {
	testca_leaf server 127.0.0.1 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n'
}

# testca_other: other.pem, a second, unrelated CA (for wrong-CA tests).
testca_other() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 30 \
		-subj "/CN=some other CA" 2>/dev/null
	rm -f other.key
}

# testca_b64url: base64url without padding of stdin (for JWTs).
testca_b64url() {
	openssl base64 -A | tr '+/' '-_' | tr -d '='
}
