#!/bin/bash
# cvmctl validate: every mistake of a tree is named with file:line:column,
# all together, exit 3; a valid tree exits 0; specs can come from stdin;
# usage errors exit 3; global flags go before or after the command. And
# validate is offline: it opens no connection to any backend (checked with
# strace against a live daemon the Provider points at) and creates no state.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

STATE=$XDG_STATE_HOME/cvmctl
SOCK=$(libvirtd_dir a)/run/libvirt-sock

# strace stops LeakSanitizer from working (it exits 1 and says so): the
# leak check is done by the same commands run without strace.
traced() {
	local out=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -e trace=connect -o "$out" "$CVMCTL" "$@"
}

test_expect_success 'a private host the Provider points at' '
	libvirtd_start a &&
	test -S "$SOCK"
'

test_expect_success 'setup: a tree with six mistakes in three files, and a valid tree' '
	cp -R "$E2E_DIR/t1000/bad" bad &&
	write_provider bad/lab.yaml lab 48 "$URI_a" &&
	write_provider good/providers.yaml lab 48 "$URI_a" &&
	write_cvm good/cvms/web-01.yaml web-01 &&
	write_cvm good/cvms/web-02.yaml web-02 vcpus=8 memoryGiB=16
'

test_expect_success 'validate names every mistake with file:line:column and exits 3' '
	test_expect_code 3 cvmctl validate -f bad >out 2>err &&
	test_must_be_empty out &&
	test_cmp "$E2E_DIR/t1000/bad.expect" err
'

test_expect_success 'validate opened no connection and created no state' '
	test_expect_code 3 traced trace.txt validate -f bad >out 2>err &&
	test_cmp "$E2E_DIR/t1000/bad.expect" err &&
	grep "+++ exited with 3 +++" trace.txt &&
	! grep "connect(" trace.txt &&
	! grep -F "$SOCK" trace.txt &&
	test_path_is_missing "$STATE"
'

test_expect_success 'the check sees a connection when there is one (plan observes the host)' '
	traced trace-plan.txt --state-dir "$TRASH/plan-state" plan -f good >out 2>err &&
	grep "connect(.*AF_UNIX.*$SOCK" trace-plan.txt &&
	grep "create" out
'

test_expect_success 'once the syntax error is fixed, the unknown provider is named too' '
	# While a file does not parse, a provider it might define is not
	# reported missing: the parse error is the one to fix first.
	! grep -F "nowhere" err &&
	sed -i "s/{name: db-01$/{name: db-01}/" bad/db/db.yaml &&
	test_expect_code 3 cvmctl validate -f bad >out 2>err &&
	cat >expect <<-\EOF &&
	bad/cvms.yaml:7:10: spec.vcpus: vcpus 100 is above the manager maximum of 64
	bad/cvms.yaml:17:3: spec.colour: unknown field
	bad/cvms.yaml:19:15: spec.certificates.validity: '\''30 days'\'' is not a duration (integer+unit runs, units s m h d: 720h, 30d, 1h30m)
	bad/cvms.yaml:26:13: spec.provider: provider '\''nowhere'\'' is not defined
	bad/cvms.yaml:27:21: spec.agent.logLevel: unknown log level '\''loud'\'' (expected debug, info, warn or error)
	bad/providers.yaml:5:9: spec.type: unknown provider type '\''openstack'\'' (expected gcp, azure or manager)
	6 problems found
	EOF
	test_cmp expect err
'

test_expect_success 'a valid tree exits 0, offline too' '
	cvmctl validate -f good >out 2>err &&
	echo "ok: 1 provider, 2 CVMs" >expect &&
	test_cmp expect out &&
	test_must_be_empty err &&
	traced trace-good.txt validate -f good >out &&
	test_cmp expect out &&
	! grep "connect(" trace-good.txt &&
	test_path_is_missing "$STATE"
'

test_expect_success 'specs from standard input with -f -' '
	{ cat good/cvms/web-01.yaml && echo --- && cat good/cvms/web-02.yaml; } |
	cvmctl validate -f - -f good/providers.yaml >out &&
	test_cmp expect out &&
	cat bad/cvms.yaml | test_expect_code 3 cvmctl validate -f - -f good/providers.yaml 2>err &&
	grep "^<stdin>:7:10: spec.vcpus: vcpus 100 is above" err &&
	grep "^<stdin>:26:13: spec.provider: provider '\''nowhere'\'' is not defined" err &&
	tail -n 1 err >last && echo "5 problems found" >expect-last && test_cmp expect-last last
'

test_expect_success 'usage errors exit 3: no -f, an unknown flag, a stray argument' '
	test_expect_code 3 cvmctl validate >out 2>err &&
	test_must_be_empty out &&
	grep "no specs given" err &&
	test_expect_code 3 cvmctl validate -f good --frobnicate >out 2>err &&
	grep -- "--frobnicate" err &&
	test_expect_code 3 cvmctl validate good >out 2>err &&
	grep "unexpected argument .good." err &&
	test_expect_code 3 cvmctl validate -f >out 2>err &&
	test_expect_code 3 cvmctl frobnicate -f good >out 2>err &&
	grep "not a cvmctl command" err &&
	test_path_is_missing "$STATE"
'

test_expect_success 'global flags work before and after the command' '
	echo "ok: 1 provider, 2 CVMs" >expect &&
	cvmctl --state-dir "$TRASH/sd1" --scope team-a validate -f good >out &&
	test_cmp expect out &&
	cvmctl validate -f good --state-dir "$TRASH/sd2" --scope team-a -q >out &&
	test_cmp expect out &&
	cvmctl --log-format=json validate -v -f good >out &&
	test_cmp expect out &&
	test_path_is_missing "$TRASH/sd1" &&
	test_path_is_missing "$TRASH/sd2" &&
	# ...and are checked wherever they are
	test_expect_code 3 cvmctl validate -f good --log-format yaml 2>err &&
	grep "log-format must be text or json" err &&
	test_expect_code 3 cvmctl --log-format yaml validate -f good 2>err &&
	grep "log-format must be text or json" err &&
	test_expect_code 3 cvmctl validate -f good --state-dir 2>err &&
	grep "state-dir needs a directory" err
'

test_expect_success 'nothing in this script created a state by the default path' '
	test_path_is_missing "$STATE" &&
	test_path_is_missing "$TRASH/.local/state/cvmctl"
'

test_done
