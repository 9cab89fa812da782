#!/bin/bash
# The README and the man page stay true: every command and every long flag
# that cvmctl's own --help output names is documented in cvmctl(1), and
# every command appears in the README.

. "$(dirname "$0")/lib.sh"

MAN=$SRCDIR/doc/cvmctl.1
README=$SRCDIR/README.md

# The man page's text with groff escapes for "-" undone.
man_text() { sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN"; }

test_expect_success 'the commands cvmctl knows' '
	cvmctl --help >help &&
	sed -n "s/^  \([a-z]*\)  .*/\1/p" help | sort >commands &&
	printf "apply\nca\ncert\ndiff\nget\nhost\nlist\nplan\nreconcile\nresume\nstatus\nsuspend\nvalidate\n" >expect &&
	test_cmp expect commands
'

test_expect_success 'every command is in the man page and the README' '
	man_text >man.txt &&
	for c in $(cat commands); do
		grep -q "^\.B $c" man.txt || { echo "man page lacks $c"; exit 1; }
		grep -q "cvmctl $c" "$README" || { echo "README lacks $c"; exit 1; }
	done
'

test_expect_success 'every long flag of every command is in the man page' '
	{
		cvmctl --help
		for c in validate plan apply reconcile diff status suspend resume list get; do cvmctl $c --help; done
		for s in list download revoke renew issue; do cvmctl cert $s --help; done
		for s in init download crl import; do cvmctl ca $s --help; done
		cvmctl host check --help
	} >all-help &&
	grep -o -- "--[a-z][a-z-]*" all-help | sort -u >flags &&
	test "$(wc -l <flags)" -gt 20 &&
	missing= &&
	for f in $(cat flags); do
		grep -q -- "$f" man.txt || missing="$missing $f"
	done &&
	{ test -z "$missing" || { echo "undocumented:$missing"; false; }; }
'

test_expect_success 'the exit codes in the man page are the ones in common/exitcode.h' '
	for code in 0 1 2 3 4; do
		grep -q "^\.B $code\$" man.txt || { echo "man page lacks exit code $code"; exit 1; }
	done &&
	grep -q "EXIT_INVALID = 3" "$SRCDIR/common/exitcode.h" &&
	grep -q "EXIT_REFUSED = 4" "$SRCDIR/common/exitcode.h" &&
	grep -q "EXIT_CHANGES = 2" "$SRCDIR/common/exitcode.h"
'

test_expect_success 'every example tree is valid as it stands' '
	for d in "$SRCDIR"/examples/*/; do
		cvmctl validate -f "$d" >out || { echo "$d does not validate"; exit 1; }
	done
'

test_done
