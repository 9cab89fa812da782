#!/bin/bash
# The state directory is trusted only when it deserves it: the directory,
# ca/, keys/, state.db and every key are the running user's and nobody
# else may write them. Our own loosened modes are tightened with one
# warning; another user's file or directory is refused (exit 3) naming the
# path and the owner, root included. A lost database beside a CA is
# corruption, not a new installation. Run as root (chown to nobody).

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

test "$(id -u)" = 0 && test_set_prereq ROOT
ST=$TRASH/state
export CVMCTL_STATE_DIR=$ST

domains() {
	virsh_names "$URI_a" | grep -v "^test$"
}

test_expect_success 'a host and a state with one CVM' '
	libvirtd_start a &&
	write_provider specs/p.yaml lab 64 "$URI_a" &&
	write_cvm specs/web.yaml web &&
	cvmctl reconcile -f specs --once >out &&
	test "$(record_field web status)" = Running &&
	domains >doms.before
'

test_expect_success 'our own ca/, keys/ and key files loosened by hand are tightened, one warning each' '
	chmod 0755 "$ST/ca" "$ST/keys" &&
	chmod 0644 "$ST/ca/ca.key" "$ST"/keys/*.key &&
	cvmctl reconcile -f specs --once >out 2>err &&
	grep "^cvmctl: warn: $ST/ca had mode 0755: tightened to 0700" err &&
	grep "^cvmctl: warn: $ST/keys had mode 0755: tightened to 0700" err &&
	grep "^cvmctl: warn: $ST/ca/ca.key had mode 0644: tightened to 0600" err &&
	grep "^cvmctl: warn: 1 key file in $ST/keys was open to others: tightened to 0600$" err &&
	test "$(stat -c %a "$ST/ca" "$ST/keys" | sort -u)" = 700 &&
	test "$(stat -c %a "$ST/ca/ca.key" "$ST"/keys/*.key | sort -u)" = 600 &&
	cvmctl reconcile -f specs --once >out 2>err &&
	test_must_fail grep "tightened" err
'

test_expect_success ROOT 'a state directory owned by another user is refused by root: exit 3, nothing created' '
	write_cvm specs/db.yaml db &&
	chown nobody "$ST" &&
	test_expect_code 3 cvmctl reconcile -f specs --once >out 2>err &&
	grep "$ST is owned by nobody (uid [0-9]*), not by root (uid 0) who runs cvmctl: refusing to trust it" err &&
	test_expect_code 3 cvmctl list 2>err &&
	grep "owned by nobody" err &&
	domains >doms && test_cmp doms.before doms &&
	chown root "$ST"
'

test_expect_success ROOT 'another user ca/ (their own CA put in its place) is refused' '
	mv "$ST/ca" "$TRASH/ca.ours" &&
	cvmctl --state-dir "$TRASH/theirs" ca init >/dev/null &&
	mv "$TRASH/theirs/ca" "$ST/ca" && chown -R nobody "$ST/ca" &&
	test_expect_code 3 cvmctl reconcile -f specs --once >out 2>err &&
	grep "$ST/ca is owned by nobody" err &&
	domains >doms && test_cmp doms.before doms &&
	rm -rf "$ST/ca" && mv "$TRASH/ca.ours" "$ST/ca"
'

test_expect_success ROOT 'a ca.key symlinked to another user file is refused' '
	mv "$ST/ca/ca.key" "$TRASH/ca.key.ours" &&
	cp "$TRASH/ca.key.ours" "$TRASH/ca.key.theirs" && chown nobody "$TRASH/ca.key.theirs" &&
	ln -s "$TRASH/ca.key.theirs" "$ST/ca/ca.key" &&
	test_expect_code 1 cvmctl cert renew web >out 2>err &&
	grep "ca.key is a symbolic link: a key is never read through one" err &&
	rm "$ST/ca/ca.key" && mv "$TRASH/ca.key.ours" "$ST/ca/ca.key"
'

test_expect_success ROOT 'a key file of another user in keys/ is refused before anything is read' '
	key=$(ls "$ST"/keys/*.key | head -1) &&
	chown nobody "$key" &&
	test_when_finished "chown root $key" &&
	test_expect_code 3 cvmctl cert download web --dir dl 2>err &&
	grep "$key is owned by nobody" err &&
	test_path_is_missing dl/key.pem &&
	test_expect_code 3 cvmctl reconcile -f specs --once 2>err &&
	grep "$key is owned by nobody" err
'

test_expect_success '--state-dir that is not a directory: exit 3' '
	test_expect_code 3 cvmctl --state-dir /dev/null list 2>err &&
	grep "^cvmctl: error: cannot read the state in /dev/null: /dev/null is not a directory$" err &&
	test_expect_code 3 cvmctl --state-dir /dev/null reconcile -f specs --once 2>err &&
	grep "/dev/null is not a directory" err
'

test_expect_success 'an empty state.db beside the CA is corruption, not a new installation' '
	cp -a "$ST" "$TRASH/backup" &&
	: >"$ST/state.db" && rm -f "$ST/state.db-wal" "$ST/state.db-shm" &&
	test_expect_code 3 cvmctl reconcile -f specs --once >out 2>err &&
	grep "$ST/state.db is empty, but $ST/ca/ca.key is there: the state was lost or damaged" err &&
	grep -- "--installation-id" err && grep "backup" err &&
	test_must_be_empty out &&
	domains >doms && test_cmp doms.before doms &&
	rm "$ST/state.db" &&
	test_expect_code 3 cvmctl list 2>err &&
	grep "$ST/state.db is missing" err
'

test_expect_success 'the recovery path named: --installation-id adopts what the old state made' '
	n=$(domains | head -1) &&
	inst=$(virsh -c "$URI_a" dumpxml "$n" | grep -o "<cvm:installation>[^<]*" | sed "s/.*>//") &&
	test -n "$inst" &&
	cvmctl --installation-id "$inst" reconcile -f specs --once >out 2>err &&
	test "$(record_field web status)" = Running &&
	domains | grep -c . >n && test "$(cat n)" = 2
'

test_done
