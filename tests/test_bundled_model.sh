#!/usr/bin/env bash
# test_bundled_model.sh — the model in models/ and the data it was made from:
#   1. scripts/make_train_data.py converts WikiSQL as sql-create-context did
#      (known rows, column order and types, table names, value case) and
#      keeps WikiSQL dev/test and Spider dev questions out of train.jsonl;
#   2. the bundled model is the default: `sqlassist bench` with no --model on
#      the first 200 WikiSQL dev questions (never trained on) reaches the
#      test-suite accuracy floor below (the full figures are in
#      models/README.md), and its test-suite accuracy is far above a
#      model with the same shapes and random weights (0%);
#   3. `ask` with no --model answers a single-table question on
#      examples/shop.sqlite with the rows of the reference query;
#   4. the next bundled model, models/sqlassist-sql-6m-schema.gguf (trained on
#      real schemas in its own format; see models/README.md): on the first
#      200 WikiSQL dev questions in the all-columns layout (every column
#      known for the table, shuffled: the context gives nothing away) it
#      reaches the floor below, and `ask` prompts it in its own format (the
#      schema as the agent renders it) and answers a filter question on
#      examples/shop.sqlite with the reference rows.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" bundled
MODEL=models/sqlassist-sql-6m.gguf
FLOOR=0.70          # test-suite accuracy on the first 200 dev questions (measured: 0.82)
[ -f "$MODEL" ] || { echo "no $MODEL"; exit 77; }
[ -d "$SHARED/data/wikisql" ] || { echo "no WikiSQL data in $SHARED/data"; exit 77; }
unset SQLASSIST_MODEL

# ---- 1. the data conversion ------------------------------------------------------
if ! $PY scripts/make_train_data.py "$SHARED/data" "$W/data" > "$W/data.log" 2>&1; then
    bad "make_train_data.py: $(tail -2 "$W/data.log")"
elif r=$($PY - "$W/data" "$SHARED/data" <<'EOF'
import json, sys, os
d, shared = sys.argv[1], sys.argv[2]
rows = lambda f: [json.loads(l) for l in open(os.path.join(d, f))]
train, dev, test = rows("train.jsonl"), rows("wikisql_dev.jsonl"), rows("wikisql_test.jsonl")
first = train[0]
assert first == {"question": "Tell me what the notes are for South Australia",
                 "context": "CREATE TABLE table_1000181_1 (notes VARCHAR, current_slogan VARCHAR)",
                 "answer": 'SELECT notes FROM table_1000181_1 WHERE current_slogan = "SOUTH AUSTRALIA"'}, first
agg = [r for r in train if r["answer"].startswith("SELECT COUNT(fleet_series__quantity_)")][0]
assert agg["context"] == "CREATE TABLE table_10007452_3 (fleet_series__quantity_ VARCHAR, fuel_propulsion VARCHAR)", agg
# 2-... tables: table_name_N and lower-cased string values
t2 = [r for r in train if r["context"].startswith("CREATE TABLE table_name_")]
assert len(t2) > 20000, len(t2)
for r in t2[:2000]:
    for part in r["answer"].split('"')[1::2]:
        assert part == part.lower(), r
# INTEGER for MIN/MAX/SUM/AVG columns and for < / > comparisons
for r in t2[:5000]:
    a, c = r["answer"], r["context"]
    if a.startswith("SELECT MAX(") or a.startswith("SELECT SUM("):
        col = a.split("(", 1)[1].split(")", 1)[0]
        assert f"({col} INTEGER" in c, r
norm = lambda q: " ".join(q.lower().split())
held = {norm(r["question"]) for r in dev + test}
assert not any(norm(r["question"]) in held for r in train), "a WikiSQL dev/test question in train"
spider_dev = {norm(r["question"]) for r in json.load(open(os.path.join(shared, "spider/dev.json")))}
assert not any(norm(r["question"]) in spider_dev for r in train), "a Spider dev question in train"
assert len(train) > 55000 and len(dev) > 8000 and len(test) > 14000, (len(train), len(dev), len(test))
print(f"train {len(train)}, WikiSQL dev {len(dev)}, test {len(test)}; held-out questions absent from train")
EOF
); then ok "data: $r"; else bad "data: $r"; fi

# ---- 2. accuracy on WikiSQL dev, bundled model as the default --------------------
if [ -f "$W/data/wikisql_dev.jsonl" ]; then
    head -200 "$W/data/wikisql_dev.jsonl" > "$W/dev200.jsonl"
    if "$SQLASSIST" bench --tasks "$W/dev200.jsonl" --no-server --out "$W/bench" > "$W/bench.log" 2>&1; then
        acc=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["test_suite_accuracy"])' "$W/bench/summary.json")
        if $PY -c "import sys; sys.exit(0 if float('$acc') >= $FLOOR else 1)"; then
            ok "bundled model (no --model), 200 WikiSQL dev questions: test-suite accuracy $acc >= $FLOOR"
        else
            bad "bundled model: test-suite accuracy $acc < $FLOOR"
        fi
    else
        bad "bench with the bundled model: $(tail -3 "$W/bench.log")"
    fi
fi

# ---- 3. the sample database ------------------------------------------------------
Q="Which city is the supplier Golden Foods in?"
REF="SELECT city FROM suppliers WHERE company_name = 'Golden Foods'"
want=$("$SQLASSIST" sql --db examples/shop.sqlite --json "$REF" | $PY -c 'import json,sys; print(json.load(sys.stdin)["rows"])')
got=$("$SQLASSIST" ask --db examples/shop.sqlite --json "$Q" 2> "$W/ask.log" |
      $PY -c 'import json,sys; a=json.load(sys.stdin); print(a["rows"], "|", a["sql"])' 2>&1)
if [ -n "$want" ] && [ "${got%% |*}" = "$want" ]; then
    ok "ask (bundled model) on examples/shop.sqlite: \"$Q\" -> ${got#*| } = $want"
else
    bad "ask on examples/shop.sqlite: \"$Q\": got $got, reference rows $want"
fi

# ---- 4. the schema-format model -----------------------------------------------------
SCHEMA_MODEL=models/sqlassist-sql-6m-schema.gguf
SCHEMA_FLOOR=0.45   # test-suite accuracy, first 200 all-columns dev questions (measured: 0.575)
if [ -f "$W/data/wikisql_dev_allcols.jsonl" ] && [ -f "$SCHEMA_MODEL" ]; then
    head -200 "$W/data/wikisql_dev_allcols.jsonl" > "$W/dev200ac.jsonl"
    if "$SQLASSIST" bench --model "$SCHEMA_MODEL" --tasks "$W/dev200ac.jsonl" --no-server --out "$W/bench_ac" > "$W/bench_ac.log" 2>&1; then
        acc=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["test_suite_accuracy"])' "$W/bench_ac/summary.json")
        $PY -c "import sys; sys.exit(0 if float('$acc') >= $SCHEMA_FLOOR else 1)" \
            && ok "$SCHEMA_MODEL, 200 WikiSQL dev questions, all columns: test-suite accuracy $acc >= $SCHEMA_FLOOR" \
            || bad "$SCHEMA_MODEL: all-columns test-suite accuracy $acc < $SCHEMA_FLOOR"
    else
        bad "bench with $SCHEMA_MODEL: $(tail -3 "$W/bench_ac.log")"
    fi
    Q="What are the company names of suppliers in Germany?"
    REF="SELECT company_name FROM suppliers WHERE country = 'Germany'"
    want=$("$SQLASSIST" sql --db examples/shop.sqlite --json "$REF" | $PY -c 'import json,sys; print(json.load(sys.stdin)["rows"])')
    got=$(SQLASSIST_DUMP_PROMPT=1 "$SQLASSIST" ask --model "$SCHEMA_MODEL" --db examples/shop.sqlite --json "$Q" 2> "$W/ask_s.log" |
          $PY -c 'import json,sys; a=json.load(sys.stdin); print(a["rows"], "|", a["sql"])' 2>&1)
    [ -n "$want" ] && [ "${got%% |*}" = "$want" ] && ok "$SCHEMA_MODEL on examples/shop.sqlite: \"$Q\" -> ${got#*| }" \
        || bad "$SCHEMA_MODEL on examples/shop.sqlite: \"$Q\": got $got, reference rows $want"
    grep -q "^### Schema:$" "$W/ask_s.log" && grep -q "^CREATE TABLE suppliers (supplier_id PRIMARY KEY, company_name, " "$W/ask_s.log" \
        && ok "$SCHEMA_MODEL is prompted in its own format (### Schema:, compact CREATE TABLE)" \
        || bad "$SCHEMA_MODEL's prompt: $(head -3 "$W/ask_s.log")"
fi

echo "$npass passed"
exit $fail
