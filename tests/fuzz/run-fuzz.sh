#!/bin/sh
# run-fuzz.sh: run each libFuzzer target (tests/fuzz/<target>-libfuzzer,
# built by ./configure CC=clang --enable-fuzzing) for FUZZ_SECONDS seconds
# on a scratch copy of its seed corpus, under ASan and UBSan, with bounded
# memory and input size. Called by `make fuzz`; top_srcdir and top_builddir
# come from the Makefile. Every target runs; the script fails when any of
# them crashed, leaked, hit undefined behaviour, timed out or ran out of
# memory, and names the artifact that reproduces it (replay it with
# tests/fuzz/<target> ARTIFACT, or add it to corpus/<target>/ once the bug
# is fixed). Scratch corpora and logs stay in tests/fuzz/work/<target>/.
# Usage: run-fuzz.sh [TARGET...]   (default: every corpus/<target>/)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
seconds=${FUZZ_SECONDS:-60}
corpora=$top_srcdir/tests/fuzz/corpus
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS

# Longest input worth trying: a little past each parser's own limit.
max_len()
{
    case $1 in
    fuzz_token) echo 17000 ;;      # SB_TOKEN_MAX 16384
    fuzz_doorbell) echo 8200 ;;    # SB_NOTIFY_PAYLOAD_MAX 7999
    fuzz_envelope | fuzz_batch) echo 16384 ;;
    fuzz_channel) echo 512 ;;      # SB_CHANNEL_MAX 161, twice, and more
    *) echo 4096 ;;
    esac
}

# JSON tokens and switchboard's keys for the targets that parse JSON.
dict()
{
    case $1 in
    fuzz_envelope | fuzz_batch | fuzz_token | fuzz_doorbell)
        echo "-dict=$top_srcdir/tests/fuzz/json.dict" ;;
    esac
}

if [ $# -eq 0 ]; then
    for d in "$corpora"/*/; do
        set -- "$@" "$(basename "$d")"
    done
fi

failed=0
for t in "$@"; do
    bin=$top_builddir/tests/fuzz/$t-libfuzzer
    work=$top_builddir/tests/fuzz/work/$t
    if [ ! -x "$bin" ]; then
        echo "FAIL: $t: $bin not built (./configure CC=clang --enable-fuzzing)"
        failed=1
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp "$corpora/$t"/* "$work/corpus/"
    echo "fuzz: $t for ${seconds}s"
    # shellcheck disable=SC2046
    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
        -max_len="$(max_len "$t")" $(dict "$t") -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus" >"$work/fuzz.log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
    cov=$(printf '%s\n' "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s\n' "$done_line" | sed -n 's/.*corp: \([0-9/a-zA-Z]*\).*/\1/p')
    if [ $rc -eq 0 ]; then
        echo "PASS: $t: ${execs:-?} runs, ${speed:-?} exec/s, cov: ${cov:-?}" \
            "ft: ${ft:-?} corp: ${corp:-?}"
    else
        tail -n 60 "$work/fuzz.log"
        echo "FAIL: $t (exit $rc): log $work/fuzz.log"
        for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
            "$work"/oom-* "$work"/slow-unit-*; do
            [ -e "$a" ] && echo "  artifact: $a"
        done
        failed=1
    fi
done
exit $failed
