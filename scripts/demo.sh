#!/usr/bin/env bash
# Runs the demo: starts the simulated Canvas and ltigate on free loopback
# ports, launches My Media as an instructor and Media Gallery as a
# student, prints what each user sees, and stops both.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.demo"
ltigate="$build/ltigate"
ltisim="$build/ltisim"
rm -rf "$dir"
mkdir -p "$dir"

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    while :; do
        port=$(( ($(od -An -N2 -tu2 /dev/urandom) % 20000) + 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

cleanup() {
    [ -n "${tool_pid:-}" ] && kill "$tool_pid" 2>/dev/null || true
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

tool_port=$(free_port)
platform_port=$(free_port)
while [ "$platform_port" = "$tool_port" ]; do platform_port=$(free_port); done
tool="http://127.0.0.1:$tool_port"
platform="http://127.0.0.1:$platform_port"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/tool-key.pem" 2>/dev/null
chmod 600 "$dir/tool-key.pem"
sed -e "s|@TOOL_PORT@|$tool_port|g" -e "s|@PLATFORM_PORT@|$platform_port|g" -e "s|@DIR@|$dir|g" \
    "$top/conf/demo.yaml" > "$dir/demo.yaml"

echo "== starting the simulated Canvas on $platform"
"$ltisim" platform --listen "127.0.0.1:$platform_port" \
    --tool-login "$tool/hosted/index/oidc-login" \
    --tool-launch "$tool/hosted/index/oauth2-launch" >"$dir/platform.out" 2>"$dir/platform.log" &
sim_pid=$!
echo "== starting ltigate on $tool (log: .demo/ltigate.log)"
"$ltigate" --config "$dir/demo.yaml" 2>"$dir/ltigate.stderr" &
tool_pid=$!

ready=0
for _ in $(seq 1 100); do
    if curl -fsS "$tool/healthz" >/dev/null 2>&1 && curl -fsS "$platform/api/lti/security/jwks" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "demo: ltigate or the simulator did not start; see $dir/ltigate.stderr and $dir/platform.log" >&2
    cat "$dir/ltigate.stderr" >&2
    exit 1
fi

echo
echo "== Jane Doe, instructor, opens My Media from Canvas's global navigation"
"$ltisim" launch --platform "$platform" --user jdoe --name "Jane Doe" \
    --email jdoe@example.edu --role instructor --placement global_navigation
echo
echo "== Ann Smith, student, opens Media Gallery in her course"
"$ltisim" launch --platform "$platform" --user asmith --name "Ann Smith" \
    --email asmith@example.edu --role student --placement course_navigation
echo
echo "== the launch log (one line per launch, reason codes on rejections)"
grep 'mod=launch' "$dir/ltigate.log" || true
echo
echo "demo finished; stopping both programs"
