#!/bin/bash
# Writes seed inputs for fuzz_ca_import into tests/fuzz/corpus/ca (run from
# anywhere; needs openssl): CAs of several key types that pass, and the
# ways an import fails (not a CA, may not sign CRLs, no subjectKeyIdentifier,
# a key of another certificate, an encrypted key, traditional key formats,
# truncated and corrupt PEM). Each input is certificate text, a NUL byte and
# key text, or both in one text. Names are SHA-1 of the content, as
# libFuzzer names what it finds.
set -eu
out=$(cd "$(dirname "$0")" && pwd)/corpus/ca
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

ca_ext='basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash'

key() { # NAME ALGORITHM OPTIONS...
	local n=$1 alg=$2
	shift 2
	openssl genpkey -algorithm "$alg" "$@" -out "$n.key" 2>/dev/null
}

cert() { # NAME KEY EXTENSIONS
	printf '%s\n' "$3" >"$1.ext"
	openssl req -new -x509 -key "$2.key" -subj "/CN=$1" -days 3650 -extfile "$1.ext" \
		-config /dev/null -out "$1.pem" 2>/dev/null ||
	openssl req -new -x509 -key "$2.key" -subj "/CN=$1" -days 3650 -addext "$(echo "$3" | head -1)" \
		-out "$1.pem" 2>/dev/null
}

# x509 with extensions from a file, signed by itself.
selfsign() { # NAME KEY EXTENSIONS
	printf '[e]\n%s\n' "$3" >"$1.cnf"
	openssl req -new -key "$2.key" -subj "/CN=$1" -config /dev/null -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -signkey "$2.key" -days 3650 -extfile "$1.cnf" -extensions e \
		-out "$1.pem" 2>/dev/null
}

emit() { # FILE...: one input, the files concatenated
	local f
	f=$(mktemp "$tmp/in.XXXXXX")
	for part in "$@"; do
		if [ "$part" = NUL ]; then printf '\0' >>"$f"; else cat "$part" >>"$f"; fi
	done
	mv "$f" "$out/$(sha1sum "$f" | cut -c1-40)"
}

key p256 EC -pkeyopt ec_paramgen_curve:P-256
key p384 EC -pkeyopt ec_paramgen_curve:P-384
key rsa2048 RSA -pkeyopt rsa_keygen_bits:2048
key ed25519 ED25519
for k in p256 p384 rsa2048 ed25519; do
	selfsign "ca-$k" "$k" "$ca_ext"
	emit "ca-$k.pem" NUL "$k.key"   # passes
	emit "ca-$k.pem" "$k.key"       # both in one text
done

# a chain: the CA, then the root that would sign it
emit ca-p256.pem ca-rsa2048.pem NUL p256.key
# not a CA
selfsign leaf p256 'basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash'
emit leaf.pem NUL p256.key
# may sign certificates but not CRLs
selfsign nocrl p256 'basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign
subjectKeyIdentifier=hash'
emit nocrl.pem NUL p256.key
# no subjectKeyIdentifier
selfsign noski p256 'basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=none'
emit noski.pem NUL p256.key
# the key of another certificate
emit ca-p256.pem NUL p384.key
emit ca-rsa2048.pem NUL ed25519.key
# an encrypted key
openssl pkey -in p256.key -aes-256-cbc -passout pass:secret -out p256-enc.key 2>/dev/null
emit ca-p256.pem NUL p256-enc.key
# traditional formats
openssl ec -in p256.key -traditional -out p256-trad.key 2>/dev/null || openssl ec -in p256.key -out p256-trad.key 2>/dev/null
emit ca-p256.pem NUL p256-trad.key
openssl rsa -in rsa2048.key -traditional -out rsa-trad.key 2>/dev/null
emit ca-rsa2048.pem NUL rsa-trad.key
# truncated, corrupt, empty, nothing
head -c 300 ca-p256.pem >trunc.pem
emit trunc.pem NUL p256.key
head -c 100 p256.key >trunc.key
emit ca-p256.pem NUL trunc.key
sed '3s/./#/3' ca-p256.pem >corrupt.pem
emit corrupt.pem NUL p256.key
printf -- '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n' >empty.pem
emit empty.pem NUL p256.key
: >nothing
emit nothing NUL nothing
# a DER certificate, not PEM
openssl x509 -in ca-p256.pem -outform DER -out ca.der
emit ca.der NUL p256.key
