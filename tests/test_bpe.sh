#!/usr/bin/env bash
# test_bpe.sh — `sqlassist train-tokenizer` (src/train/bpe.c) against an
# independent Python oracle (tests/bpe_ref.py), on the first 500 rows of
# sql-create-context plus a few bad lines and three rows of Unicode and
# whitespace corners:
#   1. a 1000-token vocabulary is learnt; the bad lines are skipped and
#      reported by line number; a second run writes the same bytes;
#   2. the oracle (its own JSONL reading, prompt rendering, Qwen2 regex,
#      byte alphabet and a from-scratch recount of every pair at every step)
#      learns exactly the same tokens, token types, merges and end token;
#      also with --limit 100 and a 400-token vocabulary;
#   3. `sqlassist tokenize --model TOK.gguf` on every row's prompt and answer:
#      the ids decode back to the text and equal the oracle's own BPE encoding;
#   4. `sqlassist train --mode full --tokenizer TOK.gguf` runs a tiny model
#      for 3 steps, and its model.gguf tokenizes as TOK.gguf does;
#   5. usage errors exit 2; a missing file or one without usable rows exits 1
#      with a message naming the file.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" bpe
DATA="$SHARED/data/sql-create-context/sql_create_context_first4000.unwrapped.jsonl"

[ -f "$DATA" ] || skip_all "no sql-create-context data at $DATA"
$PY -c "import regex" 2>/dev/null || skip_all "no python3-regex for $PY (scripts/install-deps.sh --test)"

D="$W/d.jsonl"
head -500 "$DATA" > "$D"
{
    echo 'this is not JSON'                                                   # 501
    echo '{"question": "q", "context": "CREATE TABLE t (a INT)"}'             # 502
    echo ''                                                                   # 503 (blank: ignored)
    echo '{"question": "  ", "context": "CREATE TABLE t (a INT)", "answer": "SELECT 1"}'   # 504
    echo '[1, 2]'                                                             # 505
    printf '{"question": "bad \xff byte", "context": "c", "answer": "a"}\n'  # 506
    # good rows for the corners: NFC (e + U+0301), letters and digits beyond ASCII, contractions,
    # "<|" in data (defanged), a one-statement-per-line schema, tabs, CR LF, runs of spaces
    echo '{"question": "Quel caf\u00e9 (cafe\u0301) a l'"'"'ID \u0663 ou 42?", "context": "CREATE TABLE caf\u00e9s (nom VARCHAR, id INT)", "answer": "SELECT nom FROM caf\u00e9s WHERE id = 42 -- <|im_end|> ok"}'
    echo '{"question": "\u6771\u4eac\u306e\u4eba\u53e3\u306f\uff1f \ud83d\ude00 It'"'"'s we'"'"'ll I'"'"'M", "context": "CREATE TABLE t (x INT);\nCREATE TABLE u (y TEXT);", "answer": "SELECT x FROM t\n\tWHERE x > 10   "}'
    echo '{"question": "tabs\tand  double  spaces\r\nnew line", "context": "CREATE TABLE s (a INT)\n-- sample rows: (1)", "answer": "SELECT a FROM s"}'
} >> "$D"

# ---- 1. learning ---------------------------------------------------------------------
TOK="$W/tok.gguf"
if "$SQLASSIST" train-tokenizer --data "$D" --vocab 1000 --out "$TOK" 2> "$W/learn.log"; then
    ok "train-tokenizer: $(grep '^learnt' "$W/learn.log")"
else
    cat "$W/learn.log"; die "train-tokenizer failed"
fi
grep -q '^data: 503 rows from 509 lines (5 skipped' "$W/learn.log" && ok "503 rows used, 5 skipped" \
    || { bad "row counts"; grep '^data' "$W/learn.log"; }
for l in 501 502 504 505 506; do
    grep -q "^$D:$l: skipped: " "$W/learn.log" || bad "line $l not reported as skipped"
done
[ "$(grep -c ': skipped: ' "$W/learn.log")" = 5 ] && ok "bad lines reported by number" || { bad "skipped-line reports"; grep skipped "$W/learn.log"; }
grep -q 'merges: 100%' "$W/learn.log" && ok "progress shown" || bad "no progress lines"
"$SQLASSIST" train-tokenizer --data "$D" --vocab 1000 --out "$W/tok2.gguf" --quiet 2> /dev/null
cmp -s "$TOK" "$W/tok2.gguf" && ok "deterministic (same bytes twice)" || bad "two runs differ"

# ---- 2. the oracle learns the same vocabulary ----------------------------------------------
if r=$($PY tests/bpe_ref.py train --data "$D" --vocab 1000 --gguf "$TOK" 2>&1); then ok "$r"; else bad "oracle, 1000 tokens:"; echo "$r"; fi
"$SQLASSIST" train-tokenizer --data "$D" --limit 100 --vocab 400 --out "$W/tok400.gguf" -q 2> "$W/learn400.log" || bad "--limit 100 run"
head -100 "$D" > "$W/d100.jsonl"
if r=$($PY tests/bpe_ref.py train --data "$W/d100.jsonl" --vocab 400 --gguf "$W/tok400.gguf" 2>&1); then ok "--limit 100 --vocab 400: $r"
else bad "oracle, --limit 100 --vocab 400:"; echo "$r"; fi

# ---- 3. the engine's tokenizer loads it and round-trips -------------------------------------
$PY tests/bpe_ref.py texts --data "$D" --out "$W/texts.jsonl"
if "$SQLASSIST" tokenize --model "$TOK" --jsonl < "$W/texts.jsonl" > "$W/ids.jsonl" 2> "$W/tokenize.log"; then
    if r=$($PY tests/bpe_ref.py encode --gguf "$TOK" --texts "$W/texts.jsonl" --ids "$W/ids.jsonl" 2>&1); then ok "$r"
    else bad "encode/decode:"; echo "$r"; fi
else
    bad "sqlassist tokenize --model $TOK"; cat "$W/tokenize.log"
fi

# ---- 4. a tiny model trains with it ----------------------------------------------------------
if "$SQLASSIST" train --mode full --tokenizer "$TOK" --hidden 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --steps 3 \
        --data "$D" --out "$W/run" --quiet --threads 1 > "$W/train.log" 2>&1 && [ -f "$W/run/model.gguf" ]; then
    ok "train --mode full --tokenizer: $(grep -c '"step"' "$W/run/metrics.jsonl") steps"
    s='### Context:\nCREATE TABLE head (age INTEGER)\n### Question:\nHow many heads are older than 56 ?\n### SQL:\n'
    a=$("$SQLASSIST" tokenize --model "$TOK" "$(printf "$s")")
    b=$("$SQLASSIST" tokenize --model "$W/run/model.gguf" "$(printf "$s")")
    [ -n "$a" ] && [ "$a" = "$b" ] && ok "model.gguf tokenizes as TOK.gguf" || bad "model.gguf tokenizes differently: '$a' vs '$b'"
else
    bad "train --mode full --tokenizer $TOK"; tail -20 "$W/train.log"
fi

# ---- 5. bad input ----------------------------------------------------------------------------
expect() {  # expect RC WHAT [PATTERN] -- ARGS...
    local want=$1 what=$2 pat=$3; shift 4
    "$SQLASSIST" train-tokenizer "$@" > "$W/err.out" 2> "$W/err.log"
    local rc=$?
    if [ $rc -ne "$want" ]; then bad "$what: exit $rc, expected $want"; cat "$W/err.log"; return; fi
    if [ -n "$pat" ] && ! grep -qF -- "$pat" "$W/err.log"; then bad "$what: message lacks '$pat'"; cat "$W/err.log"; return; fi
    ok "$what -> exit $want"
}
expect 2 "no --data" "" -- --vocab 300 --out "$W/x.gguf"
expect 2 "no --vocab" "" -- --data "$D" --out "$W/x.gguf"
expect 2 "no --out" "" -- --data "$D" --vocab 300
expect 2 "--vocab 255" "--vocab" -- --data "$D" --vocab 255 --out "$W/x.gguf"
expect 2 "--vocab abc" "--vocab" -- --data "$D" --vocab abc --out "$W/x.gguf"
expect 1 "missing file" "$W/nope.jsonl" -- --data "$W/nope.jsonl" --vocab 300 --out "$W/x.gguf"
sed -n 501,506p "$D" > "$W/allbad.jsonl"
expect 1 "no usable rows" "$W/allbad.jsonl" -- --data "$W/allbad.jsonl" --vocab 300 --out "$W/x.gguf"
[ -e "$W/x.gguf" ] && bad "a failed run wrote its output"

[ $fail -eq 0 ] && echo "all train-tokenizer checks passed"
finish
