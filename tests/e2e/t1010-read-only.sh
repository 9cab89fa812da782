#!/bin/bash
# Commands that only read (plan, list, get, cert list, cert download, ca
# download) never create a state: where there is none yet, they read an
# empty one and leave nothing behind.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

STATE=$TRASH/no-state

test_must_be_empty_dir_() {
	test -z "$(ls -A "$1")" || { echo "left in $1:"; ls -A "$1"; return 1; }
}

test_expect_success 'a host and a tree of one CVM' '
	libvirtd_start a &&
	write_provider specs/providers.yaml lab 64 "$URI_a" &&
	write_cvm specs/one.yaml one
'

# The empty state of a reading command is made under $TMPDIR: a private
# one shows that nothing is left behind.
mkdir "$TRASH/tmp" && export TMPDIR=$TRASH/tmp

test_expect_code 2 'plan against no state: everything to create' '
	cvmctl --state-dir "$STATE" plan -f specs --detailed-exitcode >out &&
	grep -q "create   one" out
'

test_expect_success 'list, get, cert and ca read an empty state' '
	cvmctl --state-dir "$STATE" list -o json >list.json &&
	echo "[]" >expect && test_cmp expect list.json &&
	test_expect_code 1 cvmctl --state-dir "$STATE" get one &&
	test_expect_code 1 cvmctl --state-dir "$STATE" cert list one &&
	test_expect_code 1 cvmctl --state-dir "$STATE" cert download one --dir dl &&
	test_expect_code 1 cvmctl --state-dir "$STATE" ca download
'

test_expect_success 'and none of them created it, nor left a temporary one' '
	test_path_is_missing "$STATE" &&
	test_path_is_missing dl &&
	test_must_be_empty_dir_ "$TMPDIR" &&
	virsh_names "$URI_a" >names && echo test >expect && test_cmp expect names
'

test_expect_success 'reconcile creates the state, and plan then reads it' '
	cvmctl --state-dir "$STATE" reconcile -f specs --once >out &&
	test_path_is_dir "$STATE" &&
	cvmctl --state-dir "$STATE" plan -f specs --detailed-exitcode
'

test_done
