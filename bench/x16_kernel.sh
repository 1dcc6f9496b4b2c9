#!/usr/bin/env bash
# x16_kernel.sh — the q8_0 16-row panel dots of batched decode on one
# thread (bench/x16_kernel.c): 1, 2, 4 and 8 tokens against a 512-row matrix
# whose panels stay in cache (the kernel's arithmetic) and a 65,536-row one
# (107 MB, read from memory). To compare two builds, run it after building
# each (the tool links build/libsqlassist.a). Reports only.
#
#   bash bench/x16_kernel.sh          (after make)
set -eu
cd "$(dirname "$0")/.."
mkdir -p bench/out
[ -f build/libsqlassist.a ] || { echo "run make first"; exit 1; }
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Isrc -o bench/out/x16_kernel bench/x16_kernel.c build/libsqlassist.a -lm -pthread
bench/out/x16_kernel 512 300
bench/out/x16_kernel 65536 8
