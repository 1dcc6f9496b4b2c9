#!/usr/bin/env bash
# shared_pass.sh — decode rows beside a prompt chunk, in two passes or in
# one (bench/shared_pass.c; the batcher takes one where model_rows_exact):
# 3 rows beside chunks of 16 and 64 tokens, and 7 rows beside 16, on the
# model given. Reports only.
#
#   MODEL=path/to/q8_0.gguf bash bench/shared_pass.sh      (after make)
#
# Env: MODEL (required: a q8_0 or q4_0 GGUF, e.g. the Qwen2.5-1.5B shape
# from ../shared/anchors), REPS (7).
set -eu
cd "$(dirname "$0")/.."
MODEL="${MODEL:?set MODEL to a q8_0 or q4_0 GGUF file}"
mkdir -p bench/out
[ -f build/libsqlassist.a ] || { echo "run make first"; exit 1; }
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Isrc -o bench/out/shared_pass bench/shared_pass.c build/libsqlassist.a \
    -lpcre2-8 -lutf8proc -ljansson -lsqlite3 -lm -pthread
for rc in "3 16" "3 64" "7 16"; do
    set -- $rc
    bench/out/shared_pass "$MODEL" "$1" "$2" "${REPS:-7}"
done
