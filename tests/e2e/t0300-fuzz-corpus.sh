#!/bin/bash
# The spec loader's fuzz corpus, replayed once under the sanitizer build:
# every input gives a spec set or diagnostics, never a crash, a leak or
# undefined behaviour. (`make fuzz` grows the corpus with libFuzzer.)
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FUZZ=$(dirname "${CVMCTL:-$SRCDIR/build/san/cvmctl}")/tests/fuzz/fuzz_specs
if [ ! -x "$FUZZ" ]; then
	echo "1..1"
	echo "not ok 1 - $FUZZ is not built (make unit-bins)"
	exit 1
fi
exec "$FUZZ" "$SRCDIR"/tests/fuzz/corpus/specs/*
