#!/usr/bin/env bash
# train_precision.sh — `sqlassist train --precision f32` against
# `--precision bf16` on the bundled model's shape (hidden 256, 6 layers,
# 8 query / 4 KV heads, MLP 768, a 4096-token vocabulary cut from Qwen2.5's,
# tied head; sequences up to 512 tokens, batches of 16 sql-create-context
# rows), from the same seed on the same data.
#
#   bash bench/train_precision.sh        (from the repository root, after make)
#
# Speed: STEPS steps per run, f32 and bf16 alternating ROUNDS times (on a
# shared machine the load drifts; alternating keeps the two under the same
# conditions), medians compared. Two figures per run: tokens/s (wall clock,
# metrics.jsonl at the step before the last, which also validates) and
# tokens per CPU-second (user + system time of the whole process,
# setup included), which a competing process disturbs less.
# Loss: one LOSS_STEPS run each, the training loss of every step and the
# final validation loss compared (the largest |f32 - bf16| of the losses,
# and of their means over windows of 10 steps).
# Needs a CPU with AVX512_BF16 (exits 77 otherwise).
#
# Measured (AMD EPYC Zen 5, 2 cores shared with another training run, so
# relative figures only): two sessions of 3 rounds x 20 steps, bf16/f32
# 1.75 and 1.49 in tokens/s, 1.56 and 1.42 in tokens per CPU-second; 100
# steps: loss 8.332 -> 2.546 (f32) and -> 2.547 (bf16), 10-step means
# within 0.011, validation 2.448 and 2.451. The products alone (one
# thread, CPU time): ~75 GFLOP/s f32, ~130 GFLOP/s bf16.
#
# Env: SQLASSIST (./sqlassist), THREADS (2), STEPS (20), ROUNDS (3),
# LOSS_STEPS (100; 0 skips the loss runs), SHARED (../shared), OUT
# (tests/out: the tokenizer GGUF of tests/fixtures.sh), BENCH_DIR ($TMPDIR or /tmp).
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-tests/out}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-20}"
ROUNDS="${ROUNDS:-3}"
LOSS_STEPS="${LOSS_STEPS:-100}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/sqlassist-bench}/precision"
PY=/usr/bin/python3
DATA="$SHARED/data/sql-create-context/sql_create_context_first4000.unwrapped.jsonl"
TOK="$OUT/qwen-tokenizer.gguf"
[ -f "$TOK" ] || bash tests/fixtures.sh > /dev/null
rm -rf "$BENCH_DIR"; mkdir -p "$BENCH_DIR"
head -2000 "$DATA" > "$BENCH_DIR/data.jsonl"

CFG=(--mode full --tokenizer "$TOK" --vocab 4096 --hidden 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768
     --seq-len 512 --batch 16 --lr 1e-3 --save-every 0 --val-max 64 --threads "$THREADS" --quiet
     --data "$BENCH_DIR/data.jsonl")
if ! "$SQLASSIST" train "${CFG[@]}" --steps 1 --val-every 0 --out "$BENCH_DIR/probe" --precision bf16 \
        > "$BENCH_DIR/probe.log" 2>&1; then
    echo "SKIP: $(tail -1 "$BENCH_DIR/probe.log")"
    exit 77
fi

# run PRECISION STEPS NAME: prints "tokens/s tokens-per-cpu-second"
run() {
    rm -rf "$BENCH_DIR/$3"
    /usr/bin/time -f "%U %S" -o "$BENCH_DIR/$3.time" "$SQLASSIST" train "${CFG[@]}" --steps "$2" --val-every 0 \
        --precision "$1" --out "$BENCH_DIR/$3" 2> "$BENCH_DIR/$3.log"
    $PY - "$BENCH_DIR/$3" <<'PYEOF'
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
u, s = (float(x) for x in open(d + ".time").read().split()[-2:])
print(f"{rows[-2]['tokens_per_s']:.1f} {rows[-1]['tokens'] / (u + s):.1f}")
PYEOF
}

grep -E '^(model|run):' "$BENCH_DIR/probe.log"
fw=(); fc=(); bw=(); bc=()
for r in $(seq 1 "$ROUNDS"); do
    read -r a b <<< "$(run f32 "$STEPS" f32)"
    read -r c d <<< "$(run bf16 "$STEPS" bf16)"
    echo "round $r: f32 $a tokens/s ($b per CPU-s), bf16 $c tokens/s ($d per CPU-s)"
    fw+=("$a"); fc+=("$b"); bw+=("$c"); bc+=("$d")
done
$PY - "${fw[*]}" "${fc[*]}" "${bw[*]}" "${bc[*]}" "$THREADS" <<'PYEOF'
import statistics, sys
fw, fc, bw, bc = (statistics.median(float(x) for x in a.split()) for a in sys.argv[1:5])
print(f"median over rounds, {sys.argv[5]} threads: f32 {fw:.0f} tokens/s ({fc:.0f} per CPU-s), "
      f"bf16 {bw:.0f} tokens/s ({bc:.0f} per CPU-s); bf16/f32 {bw / fw:.2f} (wall), {bc / fc:.2f} (CPU)")
PYEOF

[ "$LOSS_STEPS" -gt 0 ] || exit 0
for p in f32 bf16; do
    rm -rf "$BENCH_DIR/loss-$p"
    "$SQLASSIST" train "${CFG[@]}" --steps "$LOSS_STEPS" --val-every "$LOSS_STEPS" --precision "$p" \
        --out "$BENCH_DIR/loss-$p" 2> "$BENCH_DIR/loss-$p.log"
done
$PY - "$BENCH_DIR/loss-f32/metrics.jsonl" "$BENCH_DIR/loss-bf16/metrics.jsonl" <<'PYEOF'
import json, sys
f, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
lf, lb = [r["loss"] for r in f], [r["loss"] for r in b]
d = max(abs(x - y) for x, y in zip(lf, lb))
w = [(sum(lf[i:i + 10]) / 10, sum(lb[i:i + 10]) / 10) for i in range(0, len(lf) - 9, 10)]
dw = max(abs(x - y) for x, y in w)
print(f"loss over {len(lf)} steps: f32 {lf[0]:.4f} -> {lf[-1]:.4f}, bf16 {lb[0]:.4f} -> {lb[-1]:.4f}; "
      f"largest |f32 - bf16| {d:.4f} per step, {dw:.4f} over 10-step means; "
      f"validation f32 {f[-1]['val_loss']:.4f} bf16 {b[-1]['val_loss']:.4f}")
print("10-step means (f32 / bf16): " + ", ".join(f"{x:.3f}/{y:.3f}" for x, y in w))
PYEOF
