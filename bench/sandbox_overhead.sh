#!/usr/bin/env bash
# sandbox_overhead.sh [BUILD_DIR] [DB] — builds bench/sandbox_overhead.c
# against BUILD_DIR/libsqlassist.a (default build; run `make` first) and
# prints the cost of sb_run next to a plain sqlite3 prepare/step/finalize of
# the same statements, as ratios. Reports only; asserts nothing.
set -eu
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
DB="${2:-examples/shop.sqlite}"
mkdir -p bench/out
[ -f "$BUILD/libsqlassist.a" ] || { echo "no $BUILD/libsqlassist.a: run make first"; exit 1; }
PKGS="libpcre2-8 libutf8proc jansson sqlite3"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags $PKGS) -o bench/out/sandbox_overhead \
    bench/sandbox_overhead.c "$BUILD/libsqlassist.a" $(pkg-config --libs $PKGS) -lm -pthread
bench/out/sandbox_overhead "$DB"
