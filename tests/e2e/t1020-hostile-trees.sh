#!/bin/bash
# Hostile spec trees: what is not a plain, stable spec file is an error
# naming it (exit 3), found before any plan, so the pass changes nothing
# (fail closed: a path the loader could not read never looks like a
# deleted CVM). A FIFO does not hang the loader, a device does not fill
# memory.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

# What a user would look at to see that nothing changed: the records and
# each domain's XML.
snapshot() {
	cvmctl list -o json | jq "del(.[].updatedAt)" >"$1.records" &&
	for n in $(virsh_names "$URI_a"); do
		virsh -c "$URI_a" dumpxml "$n" || return 1
	done >"$1.domains"
}

unchanged() {
	snapshot after &&
	test_cmp before.records after.records &&
	test_cmp before.domains after.domains
}

test_expect_success 'a private host, a.yaml and b.yaml with a CVM each' '
	libvirtd_start a &&
	write_provider specs/a.yaml lab 48 "$URI_a" &&
	write_cvm specs/cvm-a.yaml app-a &&
	write_cvm specs/b.yaml app-b &&
	cvmctl reconcile -f specs --once >out &&
	grep "1 created\|2 created" out &&
	test "$(record_field app-b status)" = Running
'

test_expect_success 'a FIFO named b.yaml: exit 3 without hanging, nothing marked Inactive' '
	snapshot before &&
	mv specs/b.yaml b.yaml.saved &&
	mkfifo specs/b.yaml &&
	test_expect_code 3 timeout 20 "$CVMCTL" reconcile -f specs --once >out 2>err &&
	grep "^specs/b.yaml: a FIFO, not a regular file: only regular files are specs$" err &&
	grep "nothing was changed" err &&
	test_must_be_empty out &&
	test "$(record_field app-b status)" = Running &&
	unchanged &&
	test_expect_code 3 timeout 20 "$CVMCTL" validate -f specs 2>err &&
	grep "^specs/b.yaml: a FIFO" err
'

test_expect_success 'a UNIX socket named *.yml is refused the same way' '
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" specs/sock.yml &&
	test_expect_code 3 timeout 20 "$CVMCTL" validate -f specs 2>err &&
	grep "^specs/sock.yml: a socket, not a regular file" err &&
	rm specs/sock.yml
'

test_expect_success '-f of a FIFO or of /dev/zero: exit 3 naming it, nothing read' '
	test_expect_code 3 timeout 20 "$CVMCTL" reconcile -f specs/b.yaml --once >out 2>err &&
	grep "^specs/b.yaml: a FIFO, not a regular file or a directory$" err &&
	test_expect_code 3 timeout 20 "$CVMCTL" validate -f /dev/zero 2>err &&
	grep "^/dev/zero: a character device, not a regular file or a directory$" err &&
	unchanged
'

test_expect_success 'with the FIFO gone, the tree reconciles as before' '
	rm specs/b.yaml && mv b.yaml.saved specs/b.yaml &&
	cvmctl reconcile -f specs --once >out &&
	grep "2 up to date" out
'

# pair.yaml as an editor leaves it, and as a reader may catch it halfway.
write_pair() {
	write_cvm pair-c.tmp app-c && write_cvm pair-d.tmp app-d &&
	{ cat pair-c.tmp; echo ---; cat pair-d.tmp; } >full.yaml &&
	cp pair-c.tmp half.yaml && rm pair-c.tmp pair-d.tmp
}

test_expect_success 'a file rewritten while it is read is read again: nothing deleted' '
	write_pair && cp full.yaml specs/pair.yaml &&
	cvmctl reconcile -f specs --once >out &&
	test "$(record_field app-d status)" = Running &&
	snapshot before &&
	# The load reads the half-written file; the writer finishes it
	# before the check (first time only).
	cp half.yaml specs/pair.yaml &&
	CVMCTL_TEST_AFTER_SPEC_READ="case \$1 in *pair.yaml) test -e done || { cp full.yaml \$1; touch done; } ;; esac" \
		cvmctl reconcile -f specs --once >out 2>err &&
	grep "0 deleted" out && test_must_fail grep "deleted app-d\|app-d.*Inactive" out &&
	test "$(record_field app-d status)" = Running &&
	unchanged
'

test_expect_success 'a file that never holds still: exit 3 naming it, nothing changed' '
	CVMCTL_TEST_AFTER_SPEC_READ="case \$1 in *pair.yaml) cp half.yaml \$1.new && mv \$1.new \$1 ;; esac" \
		test_expect_code 3 cvmctl reconcile -f specs --once >out 2>err &&
	grep "^specs/pair.yaml: changed while it was being read, 3 times: not loaded" err &&
	test_must_be_empty out &&
	cp full.yaml specs/pair.yaml &&
	test "$(record_field app-d status)" = Running &&
	unchanged
'

test_expect_success 'a "\0" in a name is exit 3 naming file:line:col and field, nothing changed' '
	snapshot before &&
	cp specs/b.yaml b.yaml.saved &&
	sed -i "s/name: app-b}/name: \"app-b\\\\0; rm -rf \/\"}/" specs/b.yaml &&
	grep -F "app-b\\0" specs/b.yaml &&
	test_expect_code 3 cvmctl reconcile -f specs --once >out 2>err &&
	grep "^specs/b.yaml:3:[0-9]*: metadata.name: contains a NUL character (\"\\\\0\") at offset 5: not allowed in any string$" err &&
	test_must_be_empty out &&
	unchanged &&
	mv b.yaml.saved specs/b.yaml
'

test_expect_success 'a file name with a terminal escape in it is printed escaped' '
	esc=$(printf "\033]0;owned\007") &&
	printf "kind: [\n" >"specs/x${esc}.yaml" &&
	test_expect_code 3 cvmctl validate -f specs 2>err &&
	grep -F "specs/x\\x1b]0;owned\\x07.yaml:" err &&
	test_must_fail grep -q "$esc" err &&
	rm "specs/x${esc}.yaml"
'

test_expect_success '--log-format json: every spec diagnostic is one JSON object with file, line, column, field, msg' '
	printf "apiVersion: cvmctl/v1\nkind: CVM\nmetadata: {name: Bad_Name}\nspec: {flavor: manager, vcpus: x}\n" >specs/bad.yaml &&
	test_expect_code 3 cvmctl --log-format json reconcile -f specs --once >out 2>err &&
	test_must_be_empty out &&
	jq -c . err >objects &&
	test "$(wc -l <objects)" = "$(wc -l <err)" &&
	jq -s -e "map(select(.file == \"specs/bad.yaml\" and .line == 3 and .column == 18 and .field == \"metadata.name\" and .level == \"error\")) | .[0].msg | test(\"not a valid name\")" err &&
	jq -s -e "map(select(.field == \"spec.vcpus\")) | .[0].line == 4" err &&
	jq -s -e "map(select(.file == null) | .msg) | any(test(\"nothing was changed\"))" err &&
	rm specs/bad.yaml
'

test_done
