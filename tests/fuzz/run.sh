#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each
# (tests/fuzz/README.md).  Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# Inputs found along the way go to BUILD_DIR/fuzz-corpus/<target> (kept
# between runs, never in the source tree); the seeds and the kept crash
# inputs in tests/fuzz/corpus/<target> are read first, so every past crash
# is replayed on each run.  A crash leaves BUILD_DIR/fuzz-crashes/<target>-*
# and makes this script fail: add the input to tests/fuzz/corpus/<target>/
# once fixed.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
mkdir -p "$build/fuzz-crashes"
status=0
for t in "${targets[@]}"; do
    bin="$build/$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is not built" >&2
        status=1
        continue
    fi
    work="$build/fuzz-corpus/$t"
    seeds="$here/corpus/$t"
    mkdir -p "$work" "$seeds"
    log="$build/fuzz-crashes/$t.log"
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 ${dict[@]+"${dict[@]}"} -artifact_prefix="$build/fuzz-crashes/$t-" \
        "$work" "$seeds" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $t: ok, ${runs:-?} runs in ${secs} s, ${cov:-cov: ?}"
    else
        echo "fuzz: $t: FAILED (log: $log)" >&2
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2
        status=1
    fi
done
exit $status
