#!/usr/bin/env bash
# train_speed.sh — training throughput of `sqlassist train` against PyTorch
# fp32 on the same small Qwen2 model, the same batches and the same number
# of threads.
#
#   bash bench/train_speed.sh            (from the repository root, after make)
#
# The model is trained from scratch (--mode full): hidden 256, 4 layers,
# 4 query / 2 KV heads, MLP 768, a 4096-token vocabulary cut from Qwen2.5's
# (+ its 22 special tokens), tied head; batches of 8 sql-create-context rows
# (prompt + answer, loss on the answer), AdamW, clipping. One step =
# forward + backward + clip + AdamW. Tokens/s counts input tokens.
#
# sqlassist: STEPS steps; its tokens/s is read from metrics.jsonl at the
# step before the last (the last one also runs validation). PyTorch
# (tests/torch_train_ref.py bench, float32, the same architecture written
# with plain torch ops, autograd, torch.optim.AdamW): the batches of the first
# 4 steps of the same run (dumped by sqlassist --dump-grads) cycled after one
# warm-up step, twice: with the linear layers' products run by oneDNN (a
# custom autograd function; STEPS steps), and as shipped, where Debian's
# python3-torch sends float32 matmuls to the reference BLAS (BLAS_STEPS
# steps: it is far slower). The runs alternate ROUNDS times (this machine's
# load drifts) and the medians are compared. PyTorch runs with
# OMP_WAIT_POLICY=PASSIVE unless the environment sets it: with OpenMP's
# default spin-waiting, any other load on a 2-core machine makes its
# threads wait on each other and it runs ~10x slower (measured 169 against
# 1962 tokens/s), which would flatter sqlassist (its pool sleeps on a
# condition variable).
#
# Env: SQLASSIST (default ./sqlassist), THREADS (2), STEPS (20), BLAS_STEPS (3),
# ROUNDS (3), SHARED (default ../shared), OUT (default tests/out: the
# tokenizer GGUF of tests/fixtures.sh), BENCH_DIR (default $TMPDIR or /tmp).
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-tests/out}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-20}"
BLAS_STEPS="${BLAS_STEPS:-3}"
ROUNDS="${ROUNDS:-3}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/sqlassist-bench}/train"
PY=/usr/bin/python3
DATA="$SHARED/data/sql-create-context/sql_create_context_first4000.unwrapped.jsonl"
TOK="$OUT/qwen-tokenizer.gguf"
[ -f "$TOK" ] || bash tests/fixtures.sh > /dev/null
rm -rf "$BENCH_DIR"; mkdir -p "$BENCH_DIR"
head -400 "$DATA" > "$BENCH_DIR/data.jsonl"

CFG=(--mode full --tokenizer "$TOK" --vocab 4096 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 768
     --seq-len 384 --batch 8 --lr 1e-3 --val-every 0 --save-every 0 --val-max 8 --threads "$THREADS" --quiet
     --data "$BENCH_DIR/data.jsonl")
"$SQLASSIST" train "${CFG[@]}" --steps 4 --out "$BENCH_DIR/dump-run" --dump-grads "$BENCH_DIR/dump" 2> "$BENCH_DIR/dump.log"
grep -E '^(model|run):' "$BENCH_DIR/dump.log"

c_speed() {
    rm -rf "$BENCH_DIR/run"
    "$SQLASSIST" train "${CFG[@]}" --steps "$STEPS" --out "$BENCH_DIR/run" 2> "$BENCH_DIR/run.log"
    $PY -c "
import json
rows = [json.loads(l) for l in open('$BENCH_DIR/run/metrics.jsonl')]
print(f\"{rows[-2]['tokens_per_s']:.1f}\")"
}
# t_speed MM STEPS
t_speed() {
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" $PY tests/torch_train_ref.py bench --dump "$BENCH_DIR/dump" \
        --steps "$2" --threads "$THREADS" --mm "$1" > "$BENCH_DIR/torch-$1.log"
    awk '/^tokens_per_s/ {print $2}' "$BENCH_DIR/torch-$1.log"
}

cs=(); ds=(); bs=()
for r in $(seq 1 "$ROUNDS"); do
    c=$(c_speed); d=$(t_speed dnnl "$STEPS"); b=$(t_speed torch "$BLAS_STEPS")
    echo "round $r: sqlassist $c tokens/s, PyTorch+oneDNN $d tokens/s, PyTorch as shipped $b tokens/s"
    cs+=("$c"); ds+=("$d"); bs+=("$b")
done
head -1 "$BENCH_DIR/torch-dnnl.log"
head -1 "$BENCH_DIR/torch-torch.log"
$PY - "${cs[*]}" "${ds[*]}" "${bs[*]}" "$THREADS" <<'PYEOF'
import statistics, sys
c, d, b = (statistics.median(float(x) for x in a.split()) for a in sys.argv[1:4])
print(f"median over rounds, {sys.argv[4]} threads: sqlassist {c:.0f} tokens/s; PyTorch fp32 with oneDNN matmuls "
      f"{d:.0f} tokens/s (sqlassist/PyTorch {c / d:.2f}); PyTorch fp32 as shipped (reference BLAS) {b:.0f} tokens/s "
      f"(sqlassist/PyTorch {c / b:.2f})")
PYEOF
