#!/usr/bin/env bash
# test_bundled_model.sh — the model in models/ and the data it was made from:
#   1. scripts/make_train_data.py converts WikiSQL as sql-create-context did
#      (known rows, column order and types, table names, value case) and
#      keeps WikiSQL dev/test and Spider dev questions out of train.jsonl;
#   2. the bundled model is the default: `sqlassist bench` with no --model on
#      the first 200 WikiSQL dev questions (never trained on) in the
#      all-columns layout (every column known for the table, shuffled: the
#      context gives nothing away) reaches the test-suite accuracy floor
#      below (the full figures are in models/README.md; a model with the same
#      shapes and random weights scores 0%);
#   3. `ask` with no --model prompts it in its own format (the schema as the
#      agent renders it) and answers questions on examples/shop.sqlite with
#      the rows of their reference queries.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" bundled
MODEL=models/sqlassist-sql.gguf
FLOOR=0.50          # test-suite accuracy, first 200 all-columns dev questions (measured: 0.660)
[ -f "$MODEL" ] || skip_all "no $MODEL"
[ -d "$SHARED/data/wikisql" ] || skip_all "no WikiSQL data in $SHARED/data"
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

# ---- 2. accuracy on WikiSQL dev (all columns), bundled model as the default -----------
if [ -f "$W/data/wikisql_dev_allcols.jsonl" ]; then
    head -200 "$W/data/wikisql_dev_allcols.jsonl" > "$W/dev200ac.jsonl"
    if "$SQLASSIST" bench --tasks "$W/dev200ac.jsonl" --no-server --out "$W/bench_ac" > "$W/bench_ac.log" 2>&1; then
        acc=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["test_suite_accuracy"])' "$W/bench_ac/summary.json")
        $PY -c "import sys; sys.exit(0 if float('$acc') >= $FLOOR else 1)" \
            && ok "bundled model (no --model), 200 WikiSQL dev questions, all columns: test-suite accuracy $acc >= $FLOOR" \
            || bad "bundled model: all-columns test-suite accuracy $acc < $FLOOR"
    else
        bad "bench with the bundled model: $(tail -3 "$W/bench_ac.log")"
    fi
fi

# ---- 3. the sample database, in the model's own prompt format ----------------------
ask_ref() {   # QUESTION REFERENCE_SQL [env...]: ask's rows equal the reference query's
    local q=$1 ref=$2 want got
    want=$("$SQLASSIST" sql --db examples/shop.sqlite --json "$ref" | $PY -c 'import json,sys; print(json.load(sys.stdin)["rows"])')
    got=$(SQLASSIST_DUMP_PROMPT=1 "$SQLASSIST" ask --db examples/shop.sqlite --json "$q" 2> "$W/ask.log" |
          $PY -c 'import json,sys; a=json.load(sys.stdin); print(a["rows"], "|", a["sql"])' 2>&1)
    if [ -n "$want" ] && [ "${got%% |*}" = "$want" ]; then
        ok "ask (bundled model) on examples/shop.sqlite: \"$q\" -> ${got#*| }"
    else
        bad "ask on examples/shop.sqlite: \"$q\": got $got, reference rows $want"
    fi
}
ask_ref "How many customers are there in each country?" "SELECT country, count(*) FROM customers GROUP BY country"
ask_ref "List the first and last names of customers from Lyon." "SELECT first_name, last_name FROM customers WHERE city = 'Lyon'"
ask_ref "List the company names of the suppliers." "SELECT company_name FROM suppliers"   # last: its prompt is checked below
grep -q "^### Schema:$" "$W/ask.log" && grep -q "^CREATE TABLE suppliers (supplier_id PRIMARY KEY, company_name, " "$W/ask.log" \
    && ok "the bundled model is prompted in its own format (### Schema:, compact CREATE TABLE)" \
    || bad "the bundled model's prompt: $(head -3 "$W/ask.log")"

# ---- 4. candidates written at once give the answers written one at a time --------
# (agent_config.parallel_candidates: one thread per candidate, their decode steps
# batched; each candidate keeps its own copy mask, grammar and sampling seed)
for mode in on off; do
    "$SQLASSIST" bench --tasks bench/everyday/shop.jsonl --db-dir bench/everyday/databases --no-server --limit 14 \
        --candidates-at-once $mode --out "$W/at_once_$mode" > "$W/at_once_$mode.log" 2>&1 \
        || bad "bench --candidates-at-once $mode: $(tail -2 "$W/at_once_$mode.log")"
done
if r=$($PY - "$W/at_once_on/results.jsonl" "$W/at_once_off/results.jsonl" <<'EOF'
import json, sys
on = [json.loads(l) for l in open(sys.argv[1])]
off = [json.loads(l) for l in open(sys.argv[2])]
assert len(on) == len(off) == 14, (len(on), len(off))
same = lambda a, b: all(a[k] == b[k] for k in ("sql", "ran", "execution_match", "attempts", "tokens_out"))
diff = [(a["question"], a["sql"], b["sql"]) for a, b in zip(on, off) if not same(a, b)]
assert not diff, diff
assert sum(a["attempts"] for a in on) >= 4 * 14, "fewer attempts than 4 candidates per question"
print(f"{len(on)} questions: the same SQL, outcome, attempts and tokens; {sum(a['attempts'] for a in on)} candidates written")
EOF
); then ok "candidates at once = one at a time: $r"; else bad "candidates at once differ: $r"; fi

finish
