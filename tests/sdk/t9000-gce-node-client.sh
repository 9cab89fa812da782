#!/bin/bash
# Google's Node client, @google-cloud/compute (REST transport), works
# against the GCE emulator with only apiEndpoint/port, the key file and
# the CA (NODE_EXTRA_CA_CERTS) changed. Run by `make check-sdk`, which
# installs the package into build/sdk first; not part of `make check`.

. "$(dirname "$0")/../e2e/lib.sh"
. "$SRCDIR/tests/emulators/gce/lib.sh"

NODE_PATH=$SRCDIR/build/sdk/node_modules
export NODE_PATH

if [ ! -d "$NODE_PATH/@google-cloud/compute" ]; then
	# Only under make check-sdk, which installs it; a missing package there
	# is a failure, not a skip.
	test_expect_success 'the Node client is installed (make check-sdk)' 'false'
	test_done
fi

test_expect_success 'the emulator runs; the CA is the only trust change' '
	gce_start "$TRASH/gce" &&
	NODE_EXTRA_CA_CERTS=$GCE_CA && export NODE_EXTRA_CA_CERTS
'

test_expect_success 'image, insert, wait, get, list, setMetadata (412), 404, delete' '
	node "$SRCDIR/tests/sdk/node_compute.js" >out 2>err || { cat out err; false; } &&
	printf "ok %s\n" image insert get list setMetadata notFound delete >expect &&
	test_cmp expect out
'

test_expect_success 'the requestId reached the emulator, and the instance is gone' '
	gce_ctl GET requests >log.json &&
	jq -e "[.requests[] | select(.requestId == \"44444444-5555-4666-8777-888888888888\")] | length == 1" log.json &&
	test "$(gce_count_label made-by node)" = 0
'

test_expect_success 'which bearer the Node client used (a token or a self-signed JWT), never none' '
	jq -r "[.requests[] | select(.path | startswith(\"/compute/\")) | .bearer] | unique | join(\",\")" log.json >bearers &&
	cat bearers && ! grep -q -e none -e invalid -e expired bearers
'

test_done
