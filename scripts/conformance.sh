#!/usr/bin/env bash
# Runs a directory of launch cases with `ltisim conformance`: starts the
# simulated platform and ltigate on free loopback ports with the registration
# of the 1EdTech certification payloads (conf/conformance.yaml), runs the
# cases, stops both and exits with the runner's status.
# Usage: scripts/conformance.sh BUILD_DIR CASES_DIR
set -euo pipefail
build=$(cd "${1:?usage: scripts/conformance.sh BUILD_DIR CASES_DIR}" && pwd)
cases=${2:-}
if [ -z "$cases" ] || [ ! -d "$cases" ]; then
    echo "conformance: CASES must name a directory of cases, e.g." \
        "make conformance CASES=../shared/cases/certification" >&2
    exit 2
fi
cases=$(cd "$cases" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.conformance"
rm -rf "$dir"
mkdir -p "$dir"

. "$top/scripts/loopback.sh"
pick_loopback_ports

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/tool-key.pem" 2>/dev/null
chmod 600 "$dir/tool-key.pem"
sed -e "s|@TOOL_PORT@|$tool_port|g" -e "s|@PLATFORM_PORT@|$platform_port|g" -e "s|@DIR@|$dir|g" \
    "$top/conf/conformance.yaml" > "$dir/ltigate.yaml"

"$build/ltisim" platform --listen "127.0.0.1:$platform_port" \
    --issuer https://ltiadvantagevalidator.imsglobal.org --client-id imstester_3dfad6d \
    --deployment-id testdeploy --tool-base "$tool" >"$dir/platform.out" 2>"$dir/platform.log" &
sim_pid=$!

# ltigate fetches the platform's keys at start; starting it only once the
# simulator serves them keeps the first cases from meeting jwks_unavailable.
wait_for() {
    for _ in $(seq 1 100); do
        if "$@"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}
fail_start() {
    echo "conformance: $1; see $dir/ltigate.stderr, $dir/ltigate.log and $dir/platform.log" >&2
    exit 2
}
wait_for curl -fs -o /dev/null "$platform/api/lti/security/jwks" ||
    fail_start "the simulator did not start"
"$build/ltigate" --config "$dir/ltigate.yaml" 2>"$dir/ltigate.stderr" &
tool_pid=$!
wait_for curl -fs -o /dev/null "$tool/healthz" || fail_start "ltigate did not start"
wait_for grep -q 'key set fetched' "$dir/ltigate.log" ||
    fail_start "ltigate did not fetch the platform's keys"

echo "== $cases against ltigate on $tool (log: .conformance/ltigate.log)"
status=0
"$build/ltisim" conformance "$cases" --platform "$platform" --tool "$tool" || status=$?
exit "$status"
