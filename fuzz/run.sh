#!/usr/bin/env bash
# Runs each libFuzzer harness for a fixed time on a corpus seeded from
# fuzz/seeds and the test cases, and prints executions and findings.
# Crash inputs land in BUILD_DIR/crashes/. Exit status 1 when any harness
# found a crash, leak or sanitizer report.
# Usage: fuzz/run.sh BUILD_DIR SECONDS_PER_HARNESS
set -euo pipefail
build=$(cd "${1:?usage: fuzz/run.sh BUILD_DIR SECONDS}" && pwd)
seconds=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
shared="$top/../shared/cases/certification"

# Copies the files found by `find ARGS...` into DIR, named by content hash
# (the test case folders have spaces in their names).
seed() {
    local dir=$1
    shift
    find "$@" -type f -print0 2>/dev/null | while IFS= read -r -d '' f; do
        cp "$f" "$dir/$(sha1sum "$f" | cut -c1-16)"
    done
}

status=0
mkdir -p "$build/crashes"
for name in token form jwks config session; do
    corpus="$build/corpus/$name"
    mkdir -p "$corpus"
    case $name in
    token)
        seed "$corpus" "$top/fuzz/seeds/token" "$top/tests/data/launch"
        seed "$corpus" "$top/tests/catalog" -name payload.raw
        seed "$corpus" "$top/tests/catalog" -name claims.json
        [ -d "$shared" ] && seed "$corpus" "$shared" -name payload.json
        max_len=20000 ;;
    form)
        seed "$corpus" "$top/fuzz/seeds/form"
        max_len=70000 ;;
    jwks)
        seed "$corpus" "$top/fuzz/seeds/jwks"
        max_len=70000 ;;
    config)
        seed "$corpus" "$top/tests/data/config" "$top/conf" -name '*.yaml'
        max_len=16384 ;;
    session)
        seed "$corpus" "$top/fuzz/seeds/session"
        max_len=8192 ;;
    esac
    log="$build/fuzz_$name.log"
    echo "== fuzz_$name for ${seconds}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
    if ! "$build/fuzz_$name" -max_total_time="$seconds" -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="$build/crashes/$name-" "$corpus" >"$log" 2>&1; then
        status=1
        echo "fuzz_$name FOUND A PROBLEM; see $log and $build/crashes/"
        grep -E "ERROR|SUMMARY" "$log" | head -5 || true
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz_$name: $runs executions, $cov, corpus $(ls "$corpus" | wc -l)"
done
exit "$status"
