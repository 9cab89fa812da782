#!/bin/bash
# The share a manager CVM reads its files from is the one its domain XML
# mounts, fixed at create (the record's handle, and our marker's share
# root). When the Provider's shareDir changes, deliveries go on reaching the
# running guest there until the CVM is replaced: never "updated" while the
# guest-visible file is stale. Deleting the CVM removes its shares at the
# old and the new root, keys included.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

A=$TRASH/share-a
B=$TRASH/share-b

# provider ROOT: the t1 Provider over host a, sharing into ROOT.
provider() {
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	sed -i "s|^  shareDir: .*|  shareDir: $1|" specs/providers.yaml
}

cvm() { # LOGLEVEL
	cat >specs/web-1.yaml <<-EOF
	apiVersion: cvmctl/v1
	kind: CVM
	metadata: {name: web-1}
	spec:
	  flavor: manager
	  vcpus: 2
	  memoryGiB: 4
	  agent: {logLevel: $1}
	EOF
}

# The directory the running domain mounts as certs_share.
mounted_certs() {
	virsh -c "$URI_a" dumpxml web-1 |
	sed -n "/<filesystem/,/<\/filesystem>/{s|.*<source dir=['\"]\([^'\"]*\)['\"]/>.*|\1|p}" |
	grep "/certs$"
}

test_expect_success 'a CVM created with shareDir A mounts its share under A' '
	libvirtd_start a &&
	provider "$A" && cvm info &&
	cvmctl reconcile -f specs --once >out &&
	grep "^created   web-1 " out &&
	id=$(record_field web-1 id) &&
	src=$(mounted_certs) && echo "mounted: $src" &&
	test "$src" = "$A/$id/certs" &&
	test_path_is_file "$src/key.pem" &&
	virsh -c "$URI_a" dumpxml web-1 | grep -F "<cvm:share-root>$A</cvm:share-root>"
'

test_expect_success 'shareDir becomes B (what plan makes of it is the spec engine'"'"'s)' '
	provider "$B" &&
	{ cvmctl plan -f specs >plan.out 2>&1 || :; } &&
	cat plan.out
'

test_expect_success 'cert renew delivers to the share the domain mounts (A), byte for byte' '
	cvmctl cert renew web-1 >renew.out 2>&1 &&
	cat renew.out &&
	test "$(mounted_certs)" = "$src" &&
	cvmctl cert download web-1 --dir d1 >/dev/null &&
	cmp d1/cert.pem "$src/cert.pem" &&
	cmp d1/key.pem "$src/key.pem" &&
	test_path_is_missing "$B/$id/certs/cert.pem"
'

test_expect_success 'an agent change reconciled in place reaches A too; never updated while stale' '
	cvm debug &&
	{ cvmctl reconcile -f specs --once >out 2>err && rc=0 || rc=$?; } &&
	cat out err &&
	env=$(dirname "$src")/env/environment &&
	if grep "^updated   web-1 " out; then
		grep "^AGENT_LOG_LEVEL=debug$" "$env"
	else
		# A replace (new domain, new share) or a refusal: whatever the
		# domain mounts now holds the settings it was given.
		echo "not updated in place (exit $rc)" &&
		now=$(mounted_certs) && test -n "$now" &&
		test_path_is_file "$(dirname "$now")/env/environment"
	fi &&
	cvmctl cert download web-1 --dir d2 >/dev/null &&
	now=$(mounted_certs) &&
	cmp d2/cert.pem "$now/cert.pem"
'

test_expect_success 'deleted: no key.pem remains under A or B' '
	rm specs/web-1.yaml &&
	cvmctl reconcile -f specs --once --allow-empty >out 2>err &&
	cat out err &&
	grep "^deleted   web-1 " out &&
	test "$(record_field web-1 status)" = Inactive &&
	find "$A" "$B" -name key.pem >keys 2>/dev/null || : &&
	test_must_be_empty keys &&
	test_path_is_missing "$A/$id" && test_path_is_missing "$B/$id"
'

test_done
