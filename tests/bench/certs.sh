#!/bin/sh
# tests/bench/certs.sh [BENCH_CERTS_BINARY]
#
# Certificates issued and durably recorded per second, key generation
# included, against the same work done with the openssl command (one
# `openssl req -new` plus one `openssl x509 -req -CA` per certificate, same
# key type, subject, SAN, EKU and key usage), with the in-process pki_issue
# loop (no durability) as the floor. All three run in this one invocation,
# so the ratios compare like with like on this machine. The create path of
# apply (one wave: minted in two threads, keys made durable together, one
# commit) runs FLOOR_N certificates, with one syncfs() and with an fsync
# per file.
#
# Environment: N (certificates per durable/openssl run, default 50),
# FLOOR_N (default 500), KEY_TYPE (ecdsa-p256 | rsa-2048 | rsa-3072 |
# rsa-4096, default ecdsa-p256), BENCH_DIR (parent of the scratch
# directory; put it on the file system the state lives on, since fsync
# cost is part of what is measured; default $TMPDIR or /tmp).
#
# The openssl baseline writes its key and certificate files without fsync
# and records nothing: it is given the benefit of the doubt.
set -eu

N=${N:-50}
FLOOR_N=${FLOOR_N:-500}
KEY_TYPE=${KEY_TYPE:-ecdsa-p256}
BIN=${1:-build/tests/tools/bench_certs}

if [ ! -x "$BIN" ]; then
	make -s "$BIN" >&2 || { echo "certs.sh: cannot build $BIN" >&2; exit 1; }
fi

case "$KEY_TYPE" in
ecdsa-p256) NEWKEY="-newkey ec -pkeyopt ec_paramgen_curve:P-256" KU="digitalSignature" ;;
rsa-*) NEWKEY="-newkey rsa:${KEY_TYPE#rsa-}" KU="digitalSignature,keyEncipherment" ;;
*) echo "certs.sh: unknown KEY_TYPE $KEY_TYPE" >&2; exit 2 ;;
esac

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

now() { date +%s.%N; }

# --- openssl commands: a CA made once (not timed), then N req + x509 ---
o="$work/openssl"
mkdir -p "$o"
# shellcheck disable=SC2086
openssl req -x509 $NEWKEY -nodes -keyout "$o/ca.key" -out "$o/ca.pem" -subj "/CN=bench CA" -days 3650 \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>/dev/null
uuid=3f2c9a64-7d1e-4b7a-9c55-0f1e2d3c4b5a
t0=$(now)
i=0
while [ "$i" -lt "$N" ]; do
	# shellcheck disable=SC2086
	openssl req -new $NEWKEY -nodes -keyout "$o/$i.key" -out "$o/$i.csr" \
		-subj "/CN=web-$i/serialNumber=$uuid" \
		-addext "subjectAltName=DNS:web-$i.example.com,URI:urn:uuid:$uuid" \
		-addext "extendedKeyUsage=serverAuth,clientAuth" \
		-addext "keyUsage=critical,$KU" -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
	openssl x509 -req -in "$o/$i.csr" -CA "$o/ca.pem" -CAkey "$o/ca.key" -days 30 \
		-copy_extensions copy -out "$o/$i.pem" 2>/dev/null
	i=$((i + 1))
done
t1=$(now)
# The baseline must have produced what we claim it did.
openssl verify -CAfile "$o/ca.pem" "$o/$((N - 1)).pem" >/dev/null

durable=$("$BIN" durable "$work/durable" "$N" "$KEY_TYPE")
batch=$("$BIN" batch "$work/batch" "$FLOOR_N" "$KEY_TYPE")
batchf=$("$BIN" batch-fsync "$work/batch-fsync" "$FLOOR_N" "$KEY_TYPE")
floor=$("$BIN" floor "$work/floor" "$FLOOR_N" "$KEY_TYPE")

awk -v n="$N" -v t0="$t0" -v t1="$t1" -v d="$durable" -v f="$floor" -v b="$batch" -v bf="$batchf" -v kt="$KEY_TYPE" 'BEGIN {
	secs = t1 - t0; base = n / secs
	split(d, D, " "); split(f, F, " "); split(b, B, " "); split(bf, BF, " ")
	printf "certificates, key type %s (rates measured in this run)\n", kt
	printf "%-50s %6s %9s %10s %10s\n", "method", "certs", "seconds", "certs/s", "vs openssl"
	printf "%-50s %6d %9.3f %10.1f %9.2fx\n", "openssl req -new + openssl x509 -req (commands)", n, secs, base, 1
	printf "%-50s %6d %9.3f %10.1f %9.2fx\n", "cvmctl certs_issue: key fsynced, SQLite commit", D[2], D[3], D[4], D[4] / base
	printf "%-50s %6d %9.3f %10.1f %9.2fx\n", "apply create path: 2 threads, syncfs, 1 commit", B[2], B[3], B[4], B[4] / base
	printf "%-50s %6d %9.3f %10.1f %9.2fx\n", "apply create path: 2 threads, fsync each, 1 commit", BF[2], BF[3], BF[4], BF[4] / base
	printf "%-50s %6d %9.3f %10.1f %9.2fx\n", "pki_issue in-process, nothing recorded (floor)", F[2], F[3], F[4], F[4] / base
}'
