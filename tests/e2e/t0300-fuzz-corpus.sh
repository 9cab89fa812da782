#!/bin/bash
# Every fuzz target's corpus, replayed once under the sanitizer build: the
# spec loader (specs), the saved-plan reader (plan) and the CA import
# (ca) turn each input into a result or an error, never a crash, a leak or
# undefined behaviour. (`make fuzz` grows the corpora with libFuzzer.)
# One test per target; a failing one shows the replayer's output.
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=$(dirname "${CVMCTL:-$SRCDIR/build/san/cvmctl}")/tests/fuzz
CORPUS=$SRCDIR/tests/fuzz/corpus
targets="specs:fuzz_specs plan:fuzz_plan ca:fuzz_ca_import"

echo "1..3"
n=0
for t in $targets; do
	n=$((n + 1))
	dir=${t%%:*} fuzz=$BIN/${t#*:}
	if [ ! -x "$fuzz" ]; then
		echo "not ok $n - $fuzz is not built (make unit-bins)"
		continue
	fi
	set -- "$CORPUS/$dir"/*
	if [ ! -e "$1" ]; then
		echo "not ok $n - $CORPUS/$dir holds no inputs"
		continue
	fi
	out=$("$fuzz" "$@" 2>&1) && rc=0 || rc=$?
	good=$(printf '%s\n' "$out" | grep -c '^ok ')
	if [ "$rc" = 0 ] && [ "$good" = $# ]; then
		echo "ok $n - ${t#*:}: $# inputs of corpus/$dir"
	else
		echo "not ok $n - ${t#*:} on corpus/$dir: exit $rc, $good of $# inputs replayed"
		printf '%s\n' "$out" | grep -v '^ok ' | tail -n 40 | sed 's/^/# /'
	fi
done
