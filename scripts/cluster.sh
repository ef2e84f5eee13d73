#!/usr/bin/env bash
# Runs the scale-out topology natively, all on 127.0.0.1: redis-server (no
# persistence, its own directory), two ltigate instances sharing one tool
# key and one session secret, HAProxy round-robin in front of them, and the
# simulated Canvas pointed at HAProxy. docker/compose.yaml runs the same
# topology in containers.
#
# Usage: scripts/cluster.sh [BUILD_DIR] [--serve] [--load SECONDS]
#   default      two browser launches and a short `ltisim load` run through
#                HAProxy, then everything stops
#   --serve      keep everything running until Ctrl-C and print the URLs
#   --load S     length of the load run in seconds (default 5, 0 skips it)
# Files, including every log, stay in .cluster/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
serve=0
load_seconds=5
while [ $# -gt 0 ]; do
    case "$1" in
    --serve) serve=1 ;;
    --load) load_seconds=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) build=$1 ;;
    esac
    shift
done
dir="$top/.cluster"
ltigate="$build/ltigate"
ltisim="$build/ltisim"
redis_server=$(command -v redis-server || echo /usr/bin/redis-server)
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
for prog in "$ltigate" "$ltisim" "$redis_server" "$haproxy"; do
    if [ ! -x "$prog" ]; then
        echo "cluster: $prog not found; build first and run scripts/install-deps.sh" >&2
        exit 1
    fi
done
rm -rf "$dir"
mkdir -p "$dir/redis"

# Prints a TCP port on 127.0.0.1 that nothing listens on and that this
# script has not handed out yet.
used=" "
free_port() {
    while :; do
        port=$(( ($(od -An -N2 -tu2 /dev/urandom) % 20000) + 30000 ))
        case "$used" in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            used="$used$port "
            echo "$port"
            return
        fi
    done
}

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis_port=$(free_port); used="$used$redis_port "
port_a=$(free_port); used="$used$port_a "
port_b=$(free_port); used="$used$port_b "
lb_port=$(free_port); used="$used$lb_port "
platform_port=$(free_port); used="$used$platform_port "
lb="http://127.0.0.1:$lb_port"
platform="http://127.0.0.1:$platform_port"

# Shared by configuration: every instance reads the same tool key and the
# same session secret, so any instance verifies any session cookie.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/tool-key.pem" 2>/dev/null
head -c 32 /dev/urandom >"$dir/session-secret"
chmod 600 "$dir/tool-key.pem" "$dir/session-secret"

write_config() { # NAME PORT
    cat >"$dir/$1.yaml" <<EOF
server:
  listen: ["127.0.0.1:$2"]
  baseUrl: $lb
  threads: 2
  logFile: $dir/$1.log
  logLevel: info
hosted:
  authMethod: lti1.3
  lti13ServicePrivateKey: tool-key.pem
  sessionSecretFile: session-secret
  ltiUserIdAttribute: custom_canvas_user_login_id
store:
  backend: redis
  redisUrl: redis://127.0.0.1:$redis_port/0
  keyPrefix: "ltigate:"
  connectTimeout: 1000ms
  commandTimeout: 200ms
platforms:
  - name: Simulated Canvas
    issuer: https://canvas.instructure.com
    lti13ClientID: "170000000000123"
    lti13PlatformOidcAuthUrl: $platform/api/lti/authorize_redirect
    lti13AuthTokenUrl: $platform/login/oauth2/token
    lti13KeysUrl: $platform/api/lti/security/jwks
    selfHosted: true
    allowHttpLoopback: true
    deploymentIds: ["42:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"]
EOF
}
write_config a "$port_a"
write_config b "$port_b"

# /readyz takes an instance out of rotation while its Redis is unreachable.
cat >"$dir/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend lti
  bind 127.0.0.1:$lb_port
  default_backend ltigate
backend ltigate
  balance roundrobin
  option httpchk GET /readyz
  server a 127.0.0.1:$port_a check inter 1s fall 2 rise 1
  server b 127.0.0.1:$port_b check inter 1s fall 2 rise 1
EOF

echo "== redis-server on 127.0.0.1:$redis_port"
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir/redis" --protected-mode yes >"$dir/redis.log" 2>&1 &
pids+=($!)
echo "== simulated Canvas on $platform"
"$ltisim" platform --listen "127.0.0.1:$platform_port" --tool-base "$lb" \
    >"$dir/platform.out" 2>"$dir/platform.log" &
pids+=($!)
# The instances fetch the platform's key set at start, so the platform must
# be listening first.
for _ in $(seq 1 100); do
    curl -fsS "$platform/api/lti/security/jwks" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== ltigate A on 127.0.0.1:$port_a, B on 127.0.0.1:$port_b"
"$ltigate" --config "$dir/a.yaml" 2>"$dir/a.stderr" &
pids+=($!)
"$ltigate" --config "$dir/b.yaml" 2>"$dir/b.stderr" &
pids+=($!)

ready=0
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port_a/readyz" >/dev/null 2>&1 &&
        curl -fsS "http://127.0.0.1:$port_b/readyz" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "cluster: an instance, Redis or the simulator did not start; see $dir" >&2
    exit 1
fi
echo "== haproxy round-robin on $lb"
"$haproxy" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS "$lb/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

if [ "$serve" = 1 ]; then
    echo
    echo "load balancer: $lb   simulated Canvas: $platform"
    echo "try: $ltisim launch --platform $platform --user jdoe --role instructor"
    echo "Ctrl-C stops everything; files are in $dir"
    while :; do sleep 3600; done
fi

echo
echo "== two launches through the load balancer"
"$ltisim" launch --platform "$platform" --user jdoe --name "Jane Doe" --role instructor \
    --placement global_navigation
"$ltisim" launch --platform "$platform" --user asmith --name "Ann Smith" --role student \
    --placement course_navigation
echo
echo "== which instance served what (round robin)"
for n in a b; do
    printf '%s: %s logins, %s launches\n' "$n" \
        "$(grep -c 'outcome=redirect' "$dir/$n.log" || true)" \
        "$(grep -c 'outcome=launched' "$dir/$n.log" || true)"
done
if [ "$load_seconds" != 0 ]; then
    echo
    echo "== ltisim load through the load balancer for $load_seconds s"
    "$ltisim" load --tool "$lb" --platform "$platform" -c 8 -d "$load_seconds" --quiet
fi
echo
echo "cluster finished; stopping everything (files in $dir)"
