#!/usr/bin/env bash
# candidates_at_once.sh — the agent's candidates written one at a time
# against at once (`--candidates-at-once off|on`), in one run: for each
# everyday set (and, when ../shared has Spider, dev questions 200-279),
# `sqlassist bench --no-server` with the bundled model, the two modes
# alternating ROUNDS times; prints the mean latency per question of each run,
# the ratio of the medians, and whether every answer's SQL, outcome and
# token count were the same in both modes.
#
#   bash bench/candidates_at_once.sh       (from the repository root, after make)
#
# Env: SQLASSIST (./sqlassist), MODEL (the bundled model), SHARED (../shared),
# ROUNDS (2), OUT (a temporary directory, removed at the end).
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:-models/sqlassist-sql.gguf}"
SHARED="${SHARED:-../shared}"
ROUNDS="${ROUNDS:-2}"
OUT="${OUT:-$(mktemp -d)}"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT
PY=/usr/bin/python3
sets="shop library"
if [ -f "$SHARED/data/spider/dev.json" ]; then
    $PY -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[200:280], open(sys.argv[2], "w"))' \
        "$SHARED/data/spider/dev.json" "$OUT/spider-200-279.json"
    sets="$sets spider-200-279"
fi
run() {   # SET MODE ROUND
    local args
    case $1 in
        spider-200-279) args=(--tasks "$OUT/spider-200-279.json" --db-dir "$SHARED/data/spider/database") ;;
        *) args=(--tasks "bench/everyday/$1.jsonl" --db-dir bench/everyday/databases) ;;
    esac
    "$SQLASSIST" bench --model "$MODEL" "${args[@]}" --no-server --candidates-at-once "$2" --out "$OUT/$1-$2-$3" > "$OUT/$1-$2-$3.log" 2>&1 \
        || { echo "bench $1 --candidates-at-once $2 failed: $(tail -2 "$OUT/$1-$2-$3.log")" >&2; exit 1; }
}
for s in $sets; do
    for r in $(seq "$ROUNDS"); do run "$s" off "$r"; run "$s" on "$r"; done
done
$PY - "$OUT" "$ROUNDS" $sets <<'EOF'
import json, os, statistics, sys
out, rounds, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
keys = ("sql", "ran", "execution_match", "attempts", "tokens_out")
print("| set | questions | mean latency, one at a time (ms) | at once (ms) | ratio of medians | same answers |")
print("|---|---|---|---|---|---|")
for s in sets:
    mean = lambda mode, r: json.load(open(os.path.join(out, f"{s}-{mode}-{r}", "summary.json")))["latency_ms"]["mean"]
    rows = lambda mode, r: [json.loads(l) for l in open(os.path.join(out, f"{s}-{mode}-{r}", "results.jsonl"))]
    off = [mean("off", r) for r in range(1, rounds + 1)]
    on = [mean("on", r) for r in range(1, rounds + 1)]
    a, b = rows("off", 1), rows("on", 1)
    same = len(a) == len(b) and all(all(x[k] == y[k] for k in keys) for x, y in zip(a, b))
    print(f"| {s} | {len(a)} | {' / '.join(f'{v:.0f}' for v in off)} | {' / '.join(f'{v:.0f}' for v in on)} | "
          f"{statistics.median(off) / statistics.median(on):.2f}x | {'yes' if same else 'NO'} |")
EOF
