#!/usr/bin/env bash
# Builds ltigate, ltisim and the tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (LTIGATE_SANITIZE=ON) in BUILD_DIR, runs the
# unit and integration tests there with leak checking, and fails on any
# sanitizer report from any process, including the ltigate processes that
# integration tests start (they write to the same log_path).
# Usage: scripts/sanitize.sh BUILD_DIR JOBS
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-asan}
jobs=${2:-2}

# Warnings are enforced by the normal build. With sanitizer instrumentation
# GCC 12 reports false -Wstringop-overread warnings, so they stay warnings here.
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLTIGATE_SANITIZE=ON \
    -DLTIGATE_BUILD_TESTS=ON -DLTIGATE_WERROR=OFF >/dev/null
cmake --build "$build" -j "$jobs"

reports="$(cd "$build" && pwd)/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# Slow unwinding on malloc gives leak stacks through h2o (built without frame
# pointers), so the suppressions can name our own functions.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:fast_unwind_on_malloc=0:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$top/scripts/sanitize-lsan.supp:print_suppressions=0"

status=0
# The unit and integration labels only: the browser tests drive an external
# Chromium against the same handlers and stay in the normal pass.
(cd "$build" && ctest --output-on-failure -j "$jobs" -L "unit|integration") || status=$?
found=$(grep -l -E "ERROR: |runtime error: " "$reports"/* 2>/dev/null || true)
if [ -n "$found" ]; then
    echo "sanitize: sanitizer reports were written:" >&2
    for f in $found; do
        echo "== $f" >&2
        head -n 40 "$f" >&2
    done
    status=1
fi
if [ "$status" = 0 ]; then
    echo "sanitize: all tests passed under ASan, UBSan and LeakSanitizer with no reports"
fi
exit "$status"
