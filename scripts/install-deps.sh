#!/bin/sh
# Installs the Debian 12 packages that building and testing ltigate need,
# skipping those already present. Needs root (or sudo) only when something
# is missing.
set -eu
PKGS="build-essential cmake pkg-config libh2o-evloop-dev libssl-dev libcurl4-openssl-dev
libjansson-dev libjwt-dev libyaml-dev libcmocka-dev libhiredis-dev openssl curl
redis-server haproxy python3 gnuplot-nox chromium nodejs"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
