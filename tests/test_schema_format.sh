#!/usr/bin/env bash
# test_schema_format.sh — the bundled model's own prompt format ("schema"):
# one renderer for its training rows and for the agent.
#   1. `schema --compact --budget N --tokens-of M --questions F` renders each
#      question's schema: kept tables whole, every column in schema order
#      (checked against SQLite's own table_info), keys and references, no
#      declared types or NOT NULL, within N tokens of M (counted by
#      `sqlassist tokenize`), tables dropped when the budget is small;
#      with --relevant, only the tables the question names and the tables
#      joining two of them, however large the budget (all when none is
#      named);
#   2. a tiny model trained on such rows with --prompt-format schema
#      --schema-tokens N says so in its GGUF, and `ask` on it builds exactly
#      the prompt `schema --relevant` renders (SQLASSIST_DUMP_PROMPT): the
#      training rows' style and budget, the tables cut to the question's;
#      one trained with --schema-values gets the value anchors `schema
#      --values` renders;
#   3. --init starts a run from a model's weights (GGUF) or a checkpoint:
#      its first loss is the first run's last, far below a fresh start;
#      a model of another shape is refused naming the tensor; one k times
#      as deep starts as exactly the GGUF's function (depth stacking);
#   4. usage errors exit 2.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" schema_format
TOK="$OUT/qwen-tokenizer.gguf"
[ -f "$TOK" ] || skip_all "no fixtures (tests/fixtures.sh)"
DB=examples/shop.sqlite

# ---- 1. rendering for training rows --------------------------------------------------------
cat > "$W/q.jsonl" <<'EOF'
{"question": "How many customers live in France?", "answer": "SELECT count(*) FROM customers WHERE country = 'France'"}
{"question": "Which product category has the most products?", "answer": "SELECT T1.name FROM categories AS T1 JOIN products AS T2 ON T1.category_id = T2.category_id GROUP BY T1.category_id ORDER BY count(*) DESC LIMIT 1"}
{"question": "What is the total quantity ordered per order?", "answer": "SELECT order_id, sum(quantity) FROM order_items GROUP BY order_id"}
EOF
for b in 1000 90; do
    "$SQLASSIST" schema --db "$DB" --compact --budget $b --tokens-of "$TOK" --questions "$W/q.jsonl" > "$W/r$b.jsonl" 2> "$W/r$b.err" \
        || bad "schema --questions (budget $b): $(cat "$W/r$b.err")"
done
if r=$($PY - "$W" "$DB" "$SQLASSIST" "$TOK" <<'EOF'
import json, re, sqlite3, subprocess, sys
w, db, exe, tok = sys.argv[1:]
con = sqlite3.connect(db)
tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
cols = {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in tables}
def ntok(text):
    out = subprocess.run([exe, "tokenize", "--model", tok, "--jsonl"], input=json.dumps(text) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return len(json.loads(out))
for budget in (1000, 90):
    rows = [json.loads(l) for l in open(f"{w}/r{budget}.jsonl")]
    assert len(rows) == 3 and all("answer" in r for r in rows), "each input object echoed with its fields"
    for r in rows:
        s = r["schema"]
        assert ntok(s) <= budget, f"{ntok(s)} tokens over the budget {budget}"
        kept = re.findall(r"^CREATE TABLE (\w+) \((.*)\);$", s, re.M)
        assert len(kept) == s.count("\n"), f"one statement per line: {s!r}"
        assert [t for t, _ in kept] == [t for t in tables if t in dict(kept)], "schema order"
        for t, body in kept:
            names = [re.split(r" ", c.strip())[0] for c in re.split(r", (?![^()]*\))", body) if not c.startswith("PRIMARY KEY")]
            assert names == cols[t], f"{t}: columns {names} != {cols[t]}"
        for bad in ("INTEGER", "TEXT", "REAL", "NOT NULL"):
            assert bad not in s, f"compact style has no {bad}"
        assert "REFERENCES" in s or len(kept) == 1 or budget == 90, "references kept"
        if budget == 1000:
            assert len(kept) == len(tables), "a large budget keeps every table"
        else:
            assert 0 < len(kept) < len(tables), f"budget 90 keeps some tables, not all ({len(kept)})"
    if budget == 90:
        assert "customers" in rows[0]["schema"], "the table the question names is kept first"
print(f"{len(tables)} tables; budget 1000 keeps all, 90 keeps the question's tables within 90 tokens")
EOF
); then ok "$r"; else bad "rendering: $r"; fi

# --relevant on the everyday library database (branches, authors, books, members, loans): the
# question's tables, the tables that join two of them, all when none is named
LIB=bench/everyday/databases/library/library.sqlite
relevant() {   # QUESTION: the tables `schema --relevant` keeps, on one line
    "$SQLASSIST" schema --db "$LIB" --compact --budget 1000 --tokens-of "$TOK" --relevant --question "$1" 2> /dev/null \
        | sed -n 's/^CREATE TABLE \([a-z_]*\) .*/\1/p' | tr '\n' ' '
}
for c in "Which members borrowed books?|books members loans " \
         "What is the weather like?|branches authors books members loans "; do
    q=${c%%|*} want=${c#*|}
    got=$(relevant "$q")
    [ "$got" = "$want" ] && ok "--relevant for '$q': $got" || bad "--relevant for '$q': got '$got', want '$want'"
done
"$SQLASSIST" schema --db "$LIB" --compact --relevant > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "--relevant without --budget: exit 2" || bad "--relevant without --budget: exit $rc"

# ---- 2. a model trained on it prompts the same way ----------------------------------------------
$PY - "$W/r90.jsonl" > "$W/train.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for i in range(40):
    r = rows[i % 3]
    print(json.dumps({"question": r["question"], "context": r["schema"], "answer": r["answer"]}))
EOF
TINY=(--mode full --tokenizer "$TOK" --vocab 1024 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192
      --seq-len 512 --batch 4 --lr 3e-3 --warmup 2 --val-mod 0 --quiet --threads 2)
"$SQLASSIST" train "${TINY[@]}" --prompt-format schema --schema-tokens 90 --data "$W/train.jsonl" --out "$W/a" \
    --steps 30 2> "$W/a.log" && ok "trained a tiny model on schema rows" || bad "training: $(tail -3 "$W/a.log")"
if r=$($PY - "$W/a/model.gguf" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
def val(key):
    k = key.encode(); i = b.find(struct.pack("<Q", len(k)) + k)
    assert i >= 0, f"no key {key}"
    i += 8 + len(k); t = struct.unpack_from("<I", b, i)[0]; i += 4
    if t == 8: n = struct.unpack_from("<Q", b, i)[0]; return b[i + 8:i + 8 + n].decode()
    if t == 4: return struct.unpack_from("<I", b, i)[0]
    raise AssertionError(f"{key}: type {t}")
assert val("sqlassist.prompt_format") == "schema", val("sqlassist.prompt_format")
assert val("sqlassist.schema_tokens") == 90, val("sqlassist.schema_tokens")
print("GGUF: sqlassist.prompt_format = schema, sqlassist.schema_tokens = 90")
EOF
); then ok "$r"; else bad "GGUF keys: $r"; fi
Q="Which product category has the most products?"
SQLASSIST_DUMP_PROMPT=1 "$SQLASSIST" ask --model "$W/a/model.gguf" --db "$DB" --max-attempts 1 --grammar off -n 8 "$Q" \
    > /dev/null 2> "$W/ask.err"
"$SQLASSIST" schema --db "$DB" --compact --budget 90 --tokens-of "$W/a/model.gguf" --relevant --question "$Q" > "$W/want_schema.txt" 2> /dev/null
if r=$($PY - "$W/ask.err" "$W/want_schema.txt" "$Q" <<'EOF'
import sys
err, schema, q = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
got = err.split("--- prompt\n", 1)[1].split("---\n", 1)[0] if "--- prompt\n" in err else None
want = "### Schema:\n" + schema + "### Question:\n" + q + "\n### SQL:\n"
assert got == want, f"agent prompt {got!r} != training prompt {want!r}"
print(f"the agent's prompt is the training rows' ({schema.count(chr(10))} tables)")
EOF
); then ok "$r"; else bad "agent prompt: $r"; fi

# 2b. --schema-values: the GGUF says so, and the agent's prompt shows the value anchors that
#     `schema --relevant --values` renders (the model above, trained without, gets none)
"$SQLASSIST" train "${TINY[@]}" --prompt-format schema --schema-tokens 300 --schema-values --data "$W/train.jsonl" \
    --out "$W/v" --steps 2 2> "$W/v.log" || bad "training with --schema-values: $(tail -3 "$W/v.log")"
Q="How many orders were delivered?"
for m in a v; do
    SQLASSIST_DUMP_PROMPT=1 "$SQLASSIST" ask --model "$W/$m/model.gguf" --db "$DB" --max-attempts 1 --grammar off -n 8 "$Q" \
        > /dev/null 2> "$W/ask-$m.err"
done
"$SQLASSIST" schema --db "$DB" --compact --budget 300 --tokens-of "$W/v/model.gguf" --relevant --values --question "$Q" \
    > "$W/want_values.txt" 2> /dev/null
if r=$($PY - "$W/ask-v.err" "$W/ask-a.err" "$W/want_values.txt" "$Q" <<'EOF'
import sys
def prompt(p):
    err = open(p).read()
    return err.split("--- prompt\n", 1)[1].split("---\n", 1)[0] if "--- prompt\n" in err else None
got, plain, schema, q = prompt(sys.argv[1]), prompt(sys.argv[2]), open(sys.argv[3]).read(), sys.argv[4]
assert "status ('delivered')" in schema, f"schema --values shows no anchor: {schema!r}"
want = "### Schema:\n" + schema + "### Question:\n" + q + "\n### SQL:\n"
assert got == want, f"agent prompt {got!r} != training prompt {want!r}"
assert plain is not None and "('" not in plain, f"a model trained without anchors got some: {plain!r}"
print("a model trained with value anchors is prompted with them (status ('delivered')), one trained without is not")
EOF
); then ok "$r"; else bad "value anchors: $r"; fi
"$SQLASSIST" schema --db "$DB" --compact --values > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "--values without --budget: exit 2" || bad "--values without --budget: exit $rc"

# ---- 3. --init -------------------------------------------------------------------------------------
"$SQLASSIST" train "${TINY[@]}" --init "$W/a/model.gguf" --prompt-format schema --data "$W/train.jsonl" --out "$W/b" \
    --steps 2 --lr 1e-6 2> "$W/b.log" || bad "--init from GGUF: $(tail -2 "$W/b.log")"
"$SQLASSIST" train "${TINY[@]}" --init "$W/a/checkpoint.safetensors" --prompt-format schema --data "$W/train.jsonl" \
    --out "$W/c" --steps 2 --lr 1e-6 2> "$W/c.log" || bad "--init from a checkpoint: $(tail -2 "$W/c.log")"
if r=$($PY - "$W" <<'EOF'
import json, sys
w = sys.argv[1]
first = lambda d: json.loads(open(f"{w}/{d}/metrics.jsonl").readline())["loss"]
rows = [json.loads(l) for l in open(f"{w}/a/metrics.jsonl")]
fresh, trained = rows[0]["loss"], sum(r["loss"] for r in rows[-5:]) / 5
for d in ("b", "c"):
    assert first(d) < fresh - 2 and abs(first(d) - trained) < 1.0, f"{d}: first loss {first(d):.3f}; fresh {fresh:.3f}, trained {trained:.3f}"
print(f"first loss from the GGUF {first('b'):.3f}, from the checkpoint {first('c'):.3f}; fresh start {fresh:.3f}, the run's end {trained:.3f}")
EOF
); then ok "$r"; else bad "--init losses: $r"; fi
"$SQLASSIST" train --mode full --tokenizer "$TOK" --vocab 1024 --hidden 32 --layers 2 --heads 4 --kv-heads 2 --ffn 192 \
    --init "$W/a/model.gguf" --data "$W/train.jsonl" --out "$W/d" --steps 1 --quiet 2> "$W/d.log"; rc=$?
[ $rc = 1 ] && grep -q "token_embd.weight.*another shape" "$W/d.log" && ok "--init of another shape: exit 1, $(tail -1 "$W/d.log")" \
    || bad "--init of another shape: exit $rc, $(tail -1 "$W/d.log")"
# depth stacking: a model twice as deep starts from the 2-layer GGUF (each layer followed by a copy
# whose output projections are zero), so before any update it computes what the GGUF does: the
# first step's loss over all 40 rows (one batch, so the order does not matter) is the same
STACK=(--mode full --tokenizer "$TOK" --vocab 1024 --hidden 64 --heads 4 --kv-heads 2 --ffn 192 --seq-len 512 --batch 40
       --lr 0 --steps 1 --val-mod 0 --quiet --threads 2 --prompt-format schema --init "$W/a/model.gguf"
       --data "$W/train.jsonl")
"$SQLASSIST" train "${STACK[@]}" --layers 2 --out "$W/s2" 2> "$W/s2.log" || bad "--init, same depth: $(tail -2 "$W/s2.log")"
"$SQLASSIST" train "${STACK[@]}" --layers 4 --out "$W/s4" 2> "$W/s4.log" || bad "--init, stacked: $(tail -2 "$W/s4.log")"
if r=$($PY - "$W" <<'EOF'
import json, sys
loss = lambda d: json.loads(open(f"{sys.argv[1]}/{d}/metrics.jsonl").readline())["loss"]
l2, l4 = loss("s2"), loss("s4")
assert abs(l2 - l4) <= 1e-6 * l2, f"first loss {l4} (4 layers) vs {l2} (2 layers)"
print(f"--init stacked to 4 layers computes the 2-layer model: first loss {l4} = {l2}")
EOF
) && grep -q "each of its 2 layers followed by 1 new one" "$W/s4.log"; then ok "$r"; else bad "--init stacked: $r"; fi
"$SQLASSIST" train "${STACK[@]}" --layers 3 --out "$W/s3" 2> "$W/s3.log"; rc=$?
[ $rc = 1 ] && grep -q "2 layers; the model being trained has 3" "$W/s3.log" && ok "--init into 3 layers from 2: exit 1, $(tail -1 "$W/s3.log")" \
    || bad "--init into 3 layers: exit $rc, $(tail -1 "$W/s3.log")"

# ---- 4. usage ----------------------------------------------------------------------------------------
"$SQLASSIST" train "${TINY[@]}" --prompt-format chat --data "$W/train.jsonl" --out "$W/x" 2> "$W/e.log"; rc=$?
[ $rc = 2 ] && grep -q "prompt-format 'chat'" "$W/e.log" && ok "--prompt-format chat: exit 2" || bad "--prompt-format chat: exit $rc"
"$SQLASSIST" schema --db "$DB" --tokens-of "$TOK" 2> "$W/e.log"; rc=$?
[ $rc = 2 ] && grep -q "needs --budget" "$W/e.log" && ok "schema --tokens-of without --budget: exit 2" || bad "schema --tokens-of: exit $rc"
echo '{"q": 1}' > "$W/badq.jsonl"
"$SQLASSIST" schema --db "$DB" --budget 100 --questions "$W/badq.jsonl" > /dev/null 2> "$W/e.log"; rc=$?
[ $rc = 1 ] && grep -q "badq.jsonl:1: .*'question'" "$W/e.log" && ok "schema --questions: a line without a question names the line" \
    || bad "schema --questions bad line: exit $rc $(cat "$W/e.log")"

finish
