#!/bin/sh
# tests/emulators/arm/testca.sh DIR: the key material a test of the ARM
# emulator needs, made fresh in DIR (mode 0700):
#   ca.pem, ca.key            a test CA
#   server.pem, server.key    the emulator's certificate (SAN IP:127.0.0.1, DNS:localhost), signed by ca.pem
#   client-secret             the application's client secret (one line)
#   client.pem, client.key    the application's certificate (RSA 2048, self-signed) for assertions
#   client-both.pem           client.key then client.pem (what the Azure SDKs take as a certificate path)
#   federated-token           a workload-identity token (a JWT from "a CI's OIDC"), accepted as an assertion
#   other.pem                 a second, unrelated CA (for wrong-CA tests)
set -eu
[ $# = 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
. "$(dirname "$0")/../common/testca-lib.sh"
testca_dir "$1"
testca_ca "cvmctl ARM emulator test CA"
testca_server
testca_other

openssl req -x509 -newkey rsa:2048 -nodes -keyout client.key -out client.pem -days 30 \
	-subj "/CN=cvmctl test application" 2>/dev/null
cat client.key client.pem >client-both.pem

# A secret shaped like Entra's (40 characters with a '~').
printf '%s~%s\n' "$(openssl rand -hex 8)" "$(openssl rand -base64 24 | tr -d '=+/' | cut -c1-31)" >client-secret

# The federated token: an RS256 JWT from an issuer the emulator does not
# know; it accepts exactly this string as the assertion.
now=$(date +%s)
hdr=$(printf '{"alg":"RS256","typ":"JWT","kid":"ci"}' | testca_b64url)
pay=$(printf '{"iss":"https://token.actions.example.invalid","sub":"repo:cvmctl/cvmctl:ref:refs/heads/main","aud":"api://AzureADTokenExchange","iat":%s,"exp":%s}' \
	"$now" "$((now + 3600))" | testca_b64url)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out issuer.key 2>/dev/null
sig=$(printf '%s.%s' "$hdr" "$pay" | openssl dgst -sha256 -sign issuer.key -binary | testca_b64url)
rm -f issuer.key
# no newline at the end, like the token files Kubernetes and CI runners write
printf '%s.%s.%s' "$hdr" "$pay" "$sig" >federated-token
