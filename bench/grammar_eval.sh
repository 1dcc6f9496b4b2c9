#!/usr/bin/env bash
# grammar_eval.sh — execution accuracy of a model with and without
# constrained decoding (--grammar) and with 1, 4 and 8 candidates, with
# `sqlassist bench` (greedy first candidate, up to 3 rounds), on:
#   wikisql     WikiSQL test, sql-create-context's layout (the context lists
#               the gold query's columns), first $LIMIT questions;
#   wikisql-all WikiSQL test, every column known for the table in a shuffled
#               order (scripts/make_train_data.py), first $LIMIT questions;
#   spider      Spider dev on its databases;
#   everyday    bench/everyday/shop.jsonl on examples/shop.sqlite;
#   library     bench/everyday/library.jsonl on a library database no model
#               was trained on.
# Prints one Markdown table row per run.
#
#   bash bench/grammar_eval.sh           (after make; MODEL=... for another model)
# Env: SQLASSIST (./sqlassist), MODEL (the bundled model), SHARED (../shared),
# OUT (runs/grammar-eval), LIMIT (1000; WikiSQL), SPIDER_LIMIT (all 770), CONFIGS ("off:1 on:1 on:4 on:8"), SETS.
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:-models/sqlassist-sql.gguf}"
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-runs/grammar-eval}"
LIMIT="${LIMIT:-1000}"
mkdir -p "$OUT"
[ -s "$OUT/data/wikisql_test_allcols.jsonl" ] || /usr/bin/python3 scripts/make_train_data.py "$SHARED/data" "$OUT/data" > /dev/null
echo "| set | grammar | candidates | execution accuracy | valid SQL | mean latency |"
echo "|---|---|---|---|---|---|"
for set in ${SETS:-everyday library wikisql wikisql-all spider}; do
    case $set in
    wikisql) args=(--tasks "$OUT/data/wikisql_test.jsonl" --limit "$LIMIT") ;;
    wikisql-all) args=(--tasks "$OUT/data/wikisql_test_allcols.jsonl" --limit "$LIMIT") ;;
    spider) args=(--tasks "$SHARED/data/spider/dev.json" --db-dir "$SHARED/data/spider/database" ${SPIDER_LIMIT:+--limit "$SPIDER_LIMIT"}) ;;
    everyday) args=(--tasks bench/everyday/shop.jsonl --db-dir bench/everyday/databases) ;;
    library) args=(--tasks bench/everyday/library.jsonl --db-dir bench/everyday/databases) ;;
    *) echo "unknown set $set"; exit 2 ;;
    esac
    for cfg in ${CONFIGS:-off:1 on:1 on:4 on:8}; do
        g=${cfg%%:*} c=${cfg##*:} dir="$OUT/$set-$g-$c"
        if [ ! -s "$dir/summary.json" ]; then
            "$SQLASSIST" bench --model "$MODEL" "${args[@]}" --out "$dir" --no-server --grammar "$g" --candidates "$c" \
                > "$dir.log" 2>&1 || { echo "| $set | $g | $c | failed: $(tail -1 "$dir.log") |"; continue; }
        fi
        /usr/bin/python3 - "$dir/summary.json" "$set" "$g" "$c" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
acc = s.get("test_suite_accuracy") if s.get("schema_only_tasks") else s.get("execution_accuracy")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {100 * acc:.1f}% | {100 * s['valid_sql_rate']:.1f}% |"
      f" {s['latency_ms']['mean']:.0f} ms |")
EOF
    done
done
