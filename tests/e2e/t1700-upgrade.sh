#!/bin/bash
# Upgrading a real state of schema version 1 (tests/fixtures/state-v1, made
# by the cvmctl of commit 31ec882; its README says how): the first command
# of this cvmctl migrates it, and list, get and cert list show every CVM,
# its history and every certificate as they were. The clock is set to just
# after the fixture's last pass, so that the certificates show the statuses
# they had then. Reading needs no host: nothing here reaches a backend.

. "$(dirname "$0")/lib.sh"

FIXTURE=$SRCDIR/tests/fixtures/state-v1
STATE=$TRASH/state
OLD1=8ed7e52a-3d49-43ad-9498-1b7dda08b6bf
WEB1=afa66456-6c53-447d-ac94-ff7c78be7dcd
WEB2=c36b7b9b-3c5b-4603-9f14-951fd0585067
export CVMCTL_TEST_NOW=1767229300 # T0 + 3700 s

cv() {
	cvmctl --state-dir "$STATE" "$@"
}

test_expect_success 'a copy of the version 1 state, private as a state is' '
	mkdir -m 0700 "$STATE" &&
	cp -r "$FIXTURE/state.db" "$FIXTURE/ca" "$FIXTURE/keys" "$STATE/" &&
	find "$STATE" -type d -exec chmod 0700 {} + &&
	find "$STATE" -type f -exec chmod 0600 {} + &&
	test "$(sqlite3 "$STATE/state.db" "PRAGMA user_version")" = 1
'

test_expect_success 'list -o json: the three CVMs, Inactive one included' '
	cv list -o json >list.json &&
	jq -r ".[] | [.name, .id, .status, .provider, .createdAt] | @tsv" list.json >rows &&
	printf "%s\t%s\t%s\t%s\t%s\n" \
		old-1 $OLD1 Inactive lab-dev 2026-01-01T00:00:00Z \
		web-1 $WEB1 Running lab 2026-01-01T00:00:00Z \
		web-2 $WEB2 Running lab 2026-01-01T00:00:00Z >expect &&
	test_cmp expect rows &&
	test "$(jq -r ".[] | select(.name == \"web-1\") | .url" list.json)" = 192.168.122.23:7002 &&
	test "$(jq -r ".[] | select(.name == \"web-2\") | .vcpus, .memoryGiB" list.json | tr "\n" " ")" = "2 4 "
'

test_expect_success 'the first command migrated it' '
	test "$(sqlite3 "$STATE/state.db" "PRAGMA user_version")" -ge 2 &&
	test "$(sqlite3 "$STATE/state.db" "SELECT count(*) FROM settings WHERE key LIKE '\''delivered:%'\'' OR key LIKE '\''rotate-retry:%'\'' OR key LIKE '\''provider:%'\''")" = 0 &&
	test "$(sqlite3 "$STATE/state.db" "SELECT count(*) FROM providers")" = 3
'

test_expect_success 'get web-1 -o json: its spec, lastError, history and certificates' '
	cv get web-1 -o json >web1.json &&
	test "$(jq -r .id web1.json)" = $WEB1 &&
	test "$(jq -r .spec.certificates.validity web1.json)" = 7200 &&
	jq -r .lastError web1.json | grep "^certificate rotation failed (retrying with backoff): share directory " &&
	jq -r ".history[].event" web1.json >events &&
	printf "intent\ncreated\ncert-renewed\nfailed\n" >expect && test_cmp expect events &&
	jq -r ".certificates[].serial" web1.json >serials &&
	printf "4C65D19E7F2451DA05F5016C0A1B5BAA\n51D7FEE6744BC5079EA8804976621DAF\n" >expect &&
	test_cmp expect serials
'

test_expect_success 'get old-1 (by id) and web-2: history kept' '
	cv get $OLD1 -o json >old1.json &&
	test "$(jq -r .status old1.json)" = Inactive &&
	jq -r ".history[].event" old1.json >events &&
	printf "intent\ncreated\nintent\ndeleted\n" >expect && test_cmp expect events &&
	cv get web-2 -o json >web2.json &&
	jq -r ".history[] | .event + \" \" + .message" web2.json >history &&
	grep -x "cert-issued certificate 72612C70D32F4C19644F5F7457FB8A18 issued (renewal)" history &&
	grep -x "cert-published certificate 72612C70D32F4C19644F5F7457FB8A18 published" history &&
	grep -x "cert-issued extra certificate 08E46844196FE576C51F352D75FDA12B issued" history &&
	test "$(wc -l <history)" = 5
'

test_expect_success 'cert list: every certificate with the status it had' '
	for n in old-1 web-1 web-2; do
		cv cert list $n -o json | jq -r ".[] | [\"$n\", .serial, .status, .kind, .reason // \"-\"] | @tsv" ||
			return 1
	done >certs &&
	printf "%s\t%s\t%s\t%s\t%s\n" \
		old-1 57F75A89A47FBF0B0BFA89440D72BE9D revoked default cessationOfOperation \
		web-1 4C65D19E7F2451DA05F5016C0A1B5BAA superseded default - \
		web-1 51D7FEE6744BC5079EA8804976621DAF valid default - \
		web-2 4286980D66CEBBD748A6725D3F5A46FE superseded default - \
		web-2 72612C70D32F4C19644F5F7457FB8A18 valid default - \
		web-2 08E46844196FE576C51F352D75FDA12B valid extra - >expect &&
	test_cmp expect certs &&
	cv cert list web-2 >table &&
	head -n 1 table | tr -s " " >header &&
	echo "SERIAL NOT-BEFORE NOT-AFTER STATUS KIND" >expect && test_cmp expect header &&
	test "$(tail -n +2 table | wc -l)" = 3
'

test_expect_success 'the certificates are the ones version 1 issued, signed by its CA' '
	cv ca download --file ca.pem &&
	cmp ca.pem "$FIXTURE/ca/ca.pem" &&
	cv get web-2 -o json | jq -r ".certificates | length" >n && echo 3 >expect && test_cmp expect n &&
	sqlite3 "$STATE/state.db" "SELECT cert_pem FROM certs WHERE serial = '\''72612C70D32F4C19644F5F7457FB8A18'\''" >c.pem &&
	openssl verify -attime $CVMCTL_TEST_NOW -CAfile ca.pem c.pem
'

test_expect_success 'a second run changes nothing' '
	sqlite3 "$STATE/state.db" .dump >before.sql &&
	cv list -o json >list2.json && test_cmp list.json list2.json &&
	sqlite3 "$STATE/state.db" .dump >after.sql &&
	test_cmp before.sql after.sql
'

test_done
