#!/usr/bin/env bash
# prefix_cache.sh — how much prefill a second question on the same database
# saves: starts `sqlassist serve` on the sample database, asks two different
# questions, and prints each answer's prompt tokens, cached tokens and prefill
# time, and the ratio first/second.
#
#   MODEL=path/to/model.gguf bash bench/prefix_cache.sh      (default: the small test model)
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:-tests/out/models/m64/m64-q8_0.gguf}"
DB="${DB:-examples/shop.sqlite}"
[ -f "$MODEL" ] || { echo "no model at $MODEL (run tests/fixtures.sh or set MODEL)"; exit 1; }
PORT=$((20000 + RANDOM % 20000))
LOG=$(mktemp)
"$SQLASSIST" serve --model "$MODEL" --db "$DB" --port "$PORT" --max-attempts 1 -n "${N:-16}" 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/health" 2>/dev/null | grep -q ready && break; sleep 0.2; done
ask() { curl -s -X POST "http://127.0.0.1:$PORT/api/ask" -H 'Content-Type: application/json' -d "{\"question\": \"$1\"}"; }
a1=$(ask "How many customers are there in each country?")
a2=$(ask "Which five products sold the most units in 2023?")
/usr/bin/python3 - "$a1" "$a2" <<'PYEOF'
import json, sys
rows = []
for i, s in enumerate(sys.argv[1:3], 1):
    a = json.loads(s)
    t = a["attempts"][0]
    rows.append((i, t["prompt_tokens"], t["cached_tokens"], t["prefill_ms"]))
print("| question | prompt tokens | reused from cache | prefill ms |")
print("|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} |")
print(f"prefill ratio first/second: {rows[0][3] / max(rows[1][3], 1e-9):.1f}x")
PYEOF
