#!/bin/sh
# tests/emulators/gce/testca.sh DIR: the key material a test of the GCE
# emulator needs, made fresh in DIR (mode 0700):
#   ca.pem, ca.key          a test CA
#   server.pem, server.key  the emulator's certificate (SAN IP:127.0.0.1, DNS:localhost), signed by ca.pem
#   sa.json                 a service-account key file (project cvmctl-test); token_uri is a placeholder
#                           to be replaced with https://127.0.0.1:PORT/token once the port is known
#   sa-rogue.json           the same account with a different key: its JWTs fail the signature check
#   other.pem               a second, unrelated CA (for wrong-CA tests)
#   wrong-host.pem, .key    a certificate from ca.pem for another name only (DNS:not-this-host.invalid),
#                           for host-name checks: gce_start with GCE_TLS_CERT/GCE_TLS_KEY set to them
set -eu
[ $# = 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
chmod 0700 "$dir"
umask 077
cd "$dir"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
	-subj "/CN=cvmctl GCE emulator test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
	-extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout wrong-host.key -out wrong-host.csr -subj "/CN=not-this-host.invalid" 2>/dev/null
printf 'subjectAltName=DNS:not-this-host.invalid\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >wrong-host.ext
openssl x509 -req -in wrong-host.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out wrong-host.pem -days 30 \
	-extfile wrong-host.ext 2>/dev/null
rm -f server.csr server.ext wrong-host.csr wrong-host.ext ca.srl
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 30 \
	-subj "/CN=some other CA" 2>/dev/null
rm -f other.key

# sa.json: PKCS#8 RSA 2048, newlines escaped inside the JSON string.
sa_json() {
	key=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | awk '{printf "%s\\n", $0}')
	cat <<JSON
{
  "type": "service_account",
  "project_id": "cvmctl-test",
  "private_key_id": "$1",
  "private_key": "$key",
  "client_email": "cvmctl@cvmctl-test.iam.gserviceaccount.com",
  "client_id": "100000000000000000001",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://127.0.0.1/token",
  "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
  "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/cvmctl%40cvmctl-test.iam.gserviceaccount.com",
  "universe_domain": "googleapis.com"
}
JSON
}
sa_json 0123456789abcdef0123456789abcdef01234567 >sa.json
sa_json fedcba9876543210fedcba9876543210fedcba98 >sa-rogue.json
