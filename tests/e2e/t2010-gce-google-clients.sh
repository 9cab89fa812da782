#!/bin/bash
# Google's own client library works against the GCE emulator with only the
# endpoint, the token URI (in the key file) and the CA changed, as a user
# would point it there: Debian's python3-google-auth (service-account token
# flow, AuthorizedSession for Compute calls, the refresh after a 401, a
# self-signed JWT, metadata-server credentials). The Node client
# (@google-cloud/compute) runs under `make check-sdk`.

. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/emulators/gce/lib.sh"

PY=$E2E_DIR/t2010/google_clients.py
# Debian's python3-google-auth belongs to Debian's interpreter, not to one
# that may come first in PATH.
python3() { /usr/bin/python3 "$@"; }

test_expect_success 'the emulator runs; the CA is the only trust change' '
	gce_start "$TRASH/gce" &&
	REQUESTS_CA_BUNDLE=$GCE_CA && export REQUESTS_CA_BUNDLE &&
	gce_ctl POST config "{\"polls_to_done\":2}" >/dev/null
'

test_expect_success 'service_account.Credentials gets a token from the key file'"'"'s token_uri' '
	python3 "$PY" token >out && grep -qx "ok token" out &&
	gce_ctl GET requests | jq -e "[.requests[] | select(.path == \"/token\" and .status == 200)] | length == 1"
'

test_expect_success 'AuthorizedSession: insert, wait, get, list with a filter, setMetadata (412 on a stale fingerprint), delete' '
	python3 "$PY" compute >out && grep -qx "ok compute" out &&
	gce_ctl GET requests >log.json &&
	jq -e "[.requests[] | select(.requestId == \"33333333-4444-4555-8666-777777777777\")] | length == 1" log.json &&
	test "$(gce_count_label made-by python)" = 0
'

test_expect_success 'after the token expires, the session refreshes once and goes on' '
	gce_ctl DELETE requests &&
	mkfifo go &&
	{ python3 "$PY" refresh <go >out 2>err & } && PYPID=$! &&
	exec 7>go &&
	test_wait_for 60 "grep -q \"ok first\" out" &&
	gce_ctl POST tokens/expire &&
	echo >&7 && exec 7>&- &&
	wait "$PYPID" && grep -qx "ok refresh" out &&
	gce_ctl GET requests | jq -r ".requests[] | select(.path | startswith(\"/compute/\")) | \"\(.bearer) \(.status)\"" >seen &&
	printf "valid 200\nexpired 401\nvalid 200\n" >expect &&
	test_cmp expect seen
'

test_expect_success 'jwt.Credentials: a self-signed JWT as the bearer' '
	python3 "$PY" jwt >out && grep -qx "ok jwt" out &&
	gce_ctl GET requests | jq -e "[.requests[] | select(.bearer == \"jwt\" and .status == 200)] | length == 1"
'

test_expect_success 'compute_engine.Credentials through the metadata server' '
	GCE_METADATA_ROOT=127.0.0.1:$GCE_MPORT python3 "$PY" metadata >out && grep -qx "ok metadata" out
'

test_done
