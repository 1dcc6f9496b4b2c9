#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages sqlassist needs to build and
# test, skipping those already present. Safe to run repeatedly; needs root
# (or sudo) only when something is missing.
set -eu
BUILD_PKGS="gcc make pkg-config libsqlite3-dev sqlite3 libpcre2-dev libutf8proc-dev libjansson-dev libedit-dev libmicrohttpd-dev"
TEST_PKGS="tmux python3 python3-numpy python3-regex python3-torch clang libclang-rt-14-dev nginx chromium nodejs curl"
# npm ships inside some nodejs builds (which then conflict with Debian's npm package)
command -v npm >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS npm"
want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$BUILD_PKGS $TEST_PKGS"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
