#!/bin/sh
# run-corpus.sh: replay each fuzz target's seed corpus through its
# standalone driver build (tests/fuzz/<target>, linked with driver.c).
# A make check test: top_srcdir and top_builddir come from the Makefile's
# AM_TESTS_ENVIRONMENT; run by hand, they default to this script's tree and
# the current directory. Under --enable-sanitizers the replay runs under
# ASan and UBSan, so a crash, a leak or undefined behaviour on any seed
# (including the crash inputs added after a fix) fails the test.
# Usage: run-corpus.sh [TARGET...]   (default: every corpus/<target>/)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
corpora=$top_srcdir/tests/fuzz/corpus
# Fail on the first report and print UBSan's stack, as ASan does.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS

if [ $# -eq 0 ]; then
    for d in "$corpora"/*/; do
        set -- "$@" "$(basename "$d")"
    done
fi

failed=0
for t in "$@"; do
    bin=$top_builddir/tests/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "FAIL: $t: $bin not built"
        failed=1
    elif out=$("$bin" "$corpora/$t" 2>&1); then
        echo "PASS: $t: $(printf '%s\n' "$out" | tail -n 1)"
    else
        rc=$?
        printf '%s\n' "$out"
        echo "FAIL: $t (exit $rc)"
        failed=1
    fi
done
exit $failed
