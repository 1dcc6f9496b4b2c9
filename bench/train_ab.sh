#!/usr/bin/env bash
# train_ab.sh — two builds of `sqlassist train` on the same run, alternating:
# how much a change to the trainer speeds it up (or slows it down).
#
#   A=/path/to/old/sqlassist B=./sqlassist bash bench/train_ab.sh
#
# The run is the bundled stage-4 shape (hidden 256, 12 layers, 8 query / 4 KV
# heads, MLP 768, the 4096-token vocabulary of models/make-bundled.sh) on the
# stage-3 rows (OUT_BUNDLED/data/train_schema_mix.jsonl, made by
# models/make-bundled.sh), batch 32, sequences up to 512 tokens, rows of one
# schema trained as trees (--share-prefix 8), bf16 products where the CPU has
# them, from random weights. Each build runs STEPS steps, ROUNDS times,
# alternating; the figure per run is tokens/s at the step before the last
# (the last one also validates), and the medians are compared. Run it on a
# quiet machine: on 2 cores any other load shows in the figures.
#
# Env: A, B (builds to compare; B defaults to ./sqlassist), STEPS (8),
# ROUNDS (2), THREADS (2), OUT_BUNDLED (runs/bundled), BENCH_DIR ($TMPDIR or /tmp).
set -eu
cd "$(dirname "$0")/.."
A="${A:?A=path of the build to compare against}"
B="${B:-./sqlassist}"
STEPS="${STEPS:-8}"
ROUNDS="${ROUNDS:-2}"
THREADS="${THREADS:-2}"
OUT_BUNDLED="${OUT_BUNDLED:-runs/bundled}"
DATA="$OUT_BUNDLED/data/train_schema_mix.jsonl"
TOK="$OUT_BUNDLED/qwen-tokenizer.gguf"
[ -s "$DATA" ] && [ -s "$TOK" ] || { echo "train_ab.sh: $DATA or $TOK missing (run models/make-bundled.sh first)" >&2; exit 1; }
W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/train_ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
precision=()
"$B" train --help 2>&1 | grep -q -- --precision && grep -q avx512_bf16 /proc/cpuinfo && precision=(--precision bf16)
run() {  # BUILD NAME
    "$1" train --mode full --tokenizer "$TOK" --vocab 4096 --hidden 256 --layers 12 --heads 8 --kv-heads 4 \
        --ffn 768 --ctx 1024 --prompt-format schema --schema-tokens 320 --data "$DATA" --out "$W/$2" \
        --seq-len 512 --steps "$STEPS" --batch 32 --lr 6e-4 --warmup 2 --seed 4 "${precision[@]}" \
        --share-prefix 8 --save-every 100000 --val-every 100000 --val-max 10 --threads "$THREADS" --quiet \
        > "$W/$2.log" 2>&1 || { tail -3 "$W/$2.log" >&2; return 1; }
    /usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(r[-2]['tokens_per_s'])" "$W/$2/metrics.jsonl"
}
a=() b=()
for r in $(seq "$ROUNDS"); do
    a+=("$(run "$A" "a$r")")
    b+=("$(run "$B" "b$r")")
    echo "round $r: A ${a[-1]} tokens/s, B ${b[-1]} tokens/s"
done
/usr/bin/python3 - "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"median tokens/s: A {ma:.0f}, B {mb:.0f}: B/A = {mb / ma:.2f}x")
PY
