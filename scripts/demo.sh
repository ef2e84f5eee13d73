#!/usr/bin/env bash
# Runs the demo: starts the simulated Canvas and ltigate on free loopback
# ports, launches My Media as an instructor and Media Gallery as a
# student, embeds a video through the editor button (deep linking), has a
# student take a video quiz whose score reaches the simulated gradebook,
# prints what each user sees, and stops both.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.demo"
ltigate="$build/ltigate"
ltisim="$build/ltisim"
rm -rf "$dir"
mkdir -p "$dir"

. "$top/scripts/loopback.sh"
pick_loopback_ports

"$ltigate" keygen --out "$dir/tool-key.pem" >"$dir/tool-key.jwk.json" 2>/dev/null
cp "$top/conf/catalog.json" "$dir/catalog.json"
sed -e "s|@TOOL_PORT@|$tool_port|g" -e "s|@PLATFORM_PORT@|$platform_port|g" -e "s|@DIR@|$dir|g" \
    "$top/conf/demo.yaml" > "$dir/demo.yaml"

echo "== starting the simulated Canvas on $platform"
"$ltisim" platform --listen "127.0.0.1:$platform_port" \
    --tool-login "$tool/hosted/index/oidc-login" \
    --tool-launch "$tool/hosted/index/oauth2-launch" \
    --tool-jwks "$tool/hosted/index/jwks" >"$dir/platform.out" 2>"$dir/platform.log" &
sim_pid=$!
# ltigate fetches the platform keys at start and retries a failed fetch
# only after a back-off, so the simulator must serve its keys first.
for _ in $(seq 1 100); do
    curl -fsS "$platform/api/lti/security/jwks" >/dev/null 2>&1 && break
    sleep 0.1
done
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
echo "== the Canvas developer key: 'ltigate canvas-json' prints the JSON to paste"
echo "   (saved in .demo/devkey.json); 'ltisim devkey' checks it as Canvas's form would"
"$ltigate" canvas-json --config "$dir/demo.yaml" >"$dir/devkey.json"
echo "redirect URIs: $("$ltigate" canvas-json --config "$dir/demo.yaml" --redirect-uris)"
"$ltisim" devkey "$dir/devkey.json"
echo
echo "== Jane Doe, instructor, opens My Media from Canvas's global navigation"
"$ltisim" launch --platform "$platform" --user jdoe --name "Jane Doe" \
    --email jdoe@example.edu --role instructor --placement global_navigation
echo
echo "== Ann Smith, student, opens Media Gallery in her course"
"$ltisim" launch --platform "$platform" --user asmith --name "Ann Smith" \
    --email asmith@example.edu --role student --placement course_navigation
echo
echo "== Jane Doe embeds a video with the editor button (deep linking): she picks"
echo "   1_ijkl9012 in ltigate's picker, and the simulated Canvas verifies the"
echo "   signed response against $tool/hosted/index/jwks"
"$ltisim" launch --platform "$platform" --user jdoe --name "Jane Doe" \
    --email jdoe@example.edu --role instructor --placement editor_button \
    --message-type LtiDeepLinkingRequest --pick 1_ijkl9012
echo
echo "== Ann Smith opens the embedded video: the resource link lands on the player"
"$ltisim" launch --platform "$platform" --user asmith --name "Ann Smith" \
    --email asmith@example.edu --role student --placement editor_button \
    --target "$tool/hosted/index/oauth2-launch?entry=1_ijkl9012"
echo
echo "== Ann Smith takes the video quiz of 1_abcd1234 from a Canvas assignment: ltigate"
echo "   grades her answers (2 of 3 right) and posts the score to the assignment's line"
echo "   item with a service token from the simulated Canvas"
"$ltisim" quiz --platform "$platform" --tool "$tool" --entry 1_abcd1234 \
    --answers q1=b,q2=a,q3=a --user asmith --name "Ann Smith"
echo
echo "== Ann Smith opens her course in headless Chromium with third-party cookies"
echo "   blocked: the course page on localhost frames ltigate on 127.0.0.1, which"
echo "   keeps its login state in Canvas's platform storage instead of a cookie"
if command -v node >/dev/null && [ -x /usr/bin/chromium ]; then
    course="http://localhost:$platform_port/sim/course?answer=1&user=asmith&role=student"
    course="$course&name=Ann+Smith&placement=course_navigation"
    opts="{\"chromium\":\"/usr/bin/chromium\",\"profile\":\"$dir/chromium-profile\","
    opts="$opts\"block3pc\":true,\"url\":\"$course\",\"screenshot\":\"$dir/browser-landing.png\","
    opts="$opts\"timeoutMs\":30000}"
    timeout 60 node "$top/tests/browser/cdp_launch.mjs" "$opts" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t = r.get("tool") or {}
print("messages the platform answered:", ", ".join(r.get("log", [])))
print("tool frame:", t.get("url"), "signed in as:", t.get("user"))
print("screenshot: .demo/browser-landing.png")'
    echo
    echo "== the same with every cookie of ltigate blocked, partitioned ones too: the"
    echo "   launch completes through platform storage, and a link on the landing page"
    echo "   keeps the session through a short-lived token in its URL"
    opts="{\"chromium\":\"/usr/bin/chromium\",\"profile\":\"$dir/chromium-profile-2\","
    opts="$opts\"block3pc\":true,\"blockCookiesFor\":\"$tool\",\"then\":\"follow-link\","
    opts="$opts\"url\":\"$course\",\"screenshot\":\"$dir/browser-no-cookies.png\","
    opts="$opts\"timeoutMs\":30000}"
    timeout 60 node "$top/tests/browser/cdp_launch.mjs" "$opts" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t = r.get("tool") or {}
sent = [q for q in r.get("requests", []) if q.get("cookie") is not None and "/hosted/" in q["url"]]
print("messages the platform answered:", ", ".join(r.get("log", [])))
print("tool frame:", (t.get("url") or "").split("?")[0], "entry:", t.get("entry"),
      "signed in as:", t.get("user"))
print("requests to ltigate with a Cookie header:", sum(1 for q in sent if q["cookie"]),
      "of", len(sent))
print("screenshot: .demo/browser-no-cookies.png")'
    grep -E 'session_source=token' "$dir/ltigate.log" | head -3 || true
else
    echo "   (skipped: install chromium and nodejs to see it)"
fi
echo
echo "== the launch log (one line per launch, reason codes on rejections)"
grep -E 'mod=(launch|deeplink)' "$dir/ltigate.log" || true
echo
echo "== the platform service calls (no tokens in the log)"
grep -E 'mod=(services|quiz)' "$dir/ltigate.log" || true
echo
echo "demo finished; stopping both programs"
