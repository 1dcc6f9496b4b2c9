#!/usr/bin/env bash
# setup.sh — installs the npm packages of tests/web (exactly those of
# package-lock.json, with `npm ci`) for the server tests; does nothing when
# they are already installed from the same lock file. Exits 77 when node or
# npm is missing (scripts/install-deps.sh --test installs them).
set -u
cd "$(dirname "$0")"
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "node/npm not installed (scripts/install-deps.sh --test installs them)"
    exit 77
fi
want=$(sha256sum package-lock.json | cut -c1-16)
[ "$(cat node_modules/.lock-stamp 2>/dev/null)" = "$want" ] && exit 0
rm -rf node_modules
npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed in tests/web"; exit 1; }
echo "$want" > node_modules/.lock-stamp
