#!/usr/bin/env bash
# test_default_model.sh — what `ask`, `serve` and `bench` use when no
# --model or --format is given:
#   1. the model: $SQLASSIST_MODEL, else models/sqlassist-sql.gguf beside
#      the executable or one level up, else ../share/sqlassist/ from it; with none of them
#      the command exits 2 naming the places it looked;
#   2. the prompt: a model written by `sqlassist train --mode full` carries
#      `sqlassist.prompt_format = sql-create-context` and is prompted that
#      way by default (its prompt has as many tokens as with
#      --format sql-create-context and fewer than with --format chatml);
#      a model without the key gets chatml; `quantize` keeps the key.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" default-model
TOK="$OUT/qwen-tokenizer.gguf"
DATA="$SHARED/data/sql-create-context/sql_create_context_first4000.unwrapped.jsonl"
[ -f "$TOK" ] && [ -f "$DATA" ] || skip_all "no fixtures (tests/fixtures.sh) or data"

CTX="CREATE TABLE head (name VARCHAR, age INTEGER)"
Q="How many heads are older than 56?"
unset SQLASSIST_MODEL

# a tiny model trained from scratch (carries the prompt-format key)
head -40 "$DATA" > "$W/d.jsonl"
if ! "$SQLASSIST" train --mode full --tokenizer "$TOK" --vocab 512 --hidden 32 --layers 1 --heads 2 --kv-heads 1 \
        --ffn 64 --steps 2 --batch 4 --data "$W/d.jsonl" --out "$W/run" --quiet 2> "$W/train.log"; then
    die "tiny training run: $(tail -2 "$W/train.log")"
fi
TRAINED="$W/run/model.gguf"

prompt_tokens() {  # MODEL [ask flags...] -> prompt tokens of the first attempt
    local m=$1; shift
    "$SQLASSIST" ask --model "$m" --context "$CTX" --json --max-attempts 1 -n 4 "$@" "$Q" 2> /dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["attempts"][0]["prompt_tokens"])' 2> /dev/null
}

# ---- 2. prompt format --------------------------------------------------------
def=$(prompt_tokens "$TRAINED"); scc=$(prompt_tokens "$TRAINED" --format sql-create-context)
chat=$(prompt_tokens "$TRAINED" --format chatml)
if [ -n "$def" ] && [ "$def" = "$scc" ] && [ -n "$chat" ] && [ "$chat" -gt "$def" ]; then
    ok "trained model defaults to sql-create-context ($def prompt tokens; chatml $chat)"
else
    bad "trained model's default prompt: $def tokens, sql-create-context $scc, chatml $chat"
fi
"$SQLASSIST" quantize "$TRAINED" "$W/q8.gguf" --type q8_0 > /dev/null 2>&1
dq=$(prompt_tokens "$W/q8.gguf")
[ -n "$dq" ] && [ "$dq" = "$scc" ] && ok "quantize keeps the prompt format ($dq tokens)" ||
    bad "quantized copy's default prompt: $dq tokens, expected $scc"
PLAIN="$OUT/models/m64/m64-f32.gguf"
if [ -f "$PLAIN" ]; then
    pd=$(prompt_tokens "$PLAIN"); pc=$(prompt_tokens "$PLAIN" --format chatml)
    [ -n "$pd" ] && [ "$pd" = "$pc" ] && ok "a model without the key gets chatml ($pd tokens)" ||
        bad "model without the key: default $pd tokens, chatml $pc"
fi

# ---- 1. where the model comes from --------------------------------------------
mkdir -p "$W/bin/models" "$W/inst/bin" "$W/inst/share/sqlassist" "$W/none"
cp "$SQLASSIST" "$W/bin/sqlassist"; cp "$SQLASSIST" "$W/inst/bin/sqlassist"; cp "$SQLASSIST" "$W/none/sqlassist"
cp "$TRAINED" "$W/bin/models/sqlassist-sql.gguf"
cp "$TRAINED" "$W/inst/share/sqlassist/sqlassist-sql.gguf"
for b in "$W/bin/sqlassist" "$W/inst/bin/sqlassist"; do
    if out=$("$b" ask --context "$CTX" --json --max-attempts 1 -n 4 "$Q" 2>&1); [ $? -le 1 ] &&
        echo "$out" | grep -q '"attempts"'; then
        ok "no --model: $b finds the bundled model"
    else
        bad "no --model with a bundled model beside $b: $out"
    fi
done
out=$("$W/none/sqlassist" ask --context "$CTX" "$Q" 2>&1); rc=$?
if [ $rc = 2 ] && echo "$out" | grep -q "no bundled model found (looked for .*none/models/sqlassist-sql.gguf"; then
    ok "no --model and no bundled model: exit 2 naming where it looked"
else
    bad "no bundled model: rc $rc: $out"
fi
out=$(SQLASSIST_MODEL="$TRAINED" "$W/none/sqlassist" ask --context "$CTX" --json --max-attempts 1 -n 4 "$Q" 2>&1); rc=$?
[ $rc -le 1 ] && echo "$out" | grep -q '"attempts"' && ok "SQLASSIST_MODEL names the default model" ||
    bad "SQLASSIST_MODEL: rc $rc: $out"
out=$(SQLASSIST_MODEL="$W/missing.gguf" "$W/none/sqlassist" ask --context "$CTX" "$Q" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "missing.gguf" && ok "a missing SQLASSIST_MODEL file: exit 1 naming it" ||
    bad "missing SQLASSIST_MODEL: rc $rc: $out"
out=$("$W/none/sqlassist" serve --db "$W/none.db" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "no bundled model found" && ok "serve without a model: exit 2" ||
    bad "serve without a model: rc $rc: $out"
out=$("$W/none/sqlassist" bench --tasks "$W/d.jsonl" --no-server 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "no bundled model found" && ok "bench without a model: exit 2" ||
    bad "bench without a model: rc $rc: $out"

finish
