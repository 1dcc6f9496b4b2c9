#!/usr/bin/env bash
# test_train.sh — `sqlassist train` end to end, on the first 200 rows of
# sql-create-context:
#   1. a tiny model trained from scratch (hidden 64, 2 layers, GQA 4/2, a
#      1024-token vocabulary cut from Qwen2.5's) for 120 steps: the training
#      loss (mean of the last 10 steps) must fall below 2.5 nats per answer
#      token and the validation loss below 3.0, from ln(1046) = 6.95;
#      metrics.jsonl has a line per step, loss.svg is well-formed SVG;
#   2. the GGUF it writes loads in this engine (logits = tests/torch_ref.py's
#      within 1e-4 of the logit scale) and in llama.cpp (next-token
#      probabilities equal ours within 1e-4; skipped without node-llama-cpp);
#   3. stopping at step 7 and resuming gives the uninterrupted run's
#      checkpoint and model bit for bit, as does 1 thread instead of 2;
#      resuming with other settings is refused;
#   4. bad data lines are skipped and reported with their line numbers;
#   5. LoRA on a random m64 base: a PEFT directory with the right config
#      and tensors, which `sqlassist logits --lora` loads and which gives
#      the logits of an independent merged PyTorch model (1e-4); also on a
#      q8_0 base;
#   6. usage errors exit 2, bad input exits 1 with a message.
# Env: SQLASSIST (binary), OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" train
DATA="$SHARED/data/sql-create-context/sql_create_context_first4000.unwrapped.jsonl"
TOK="$OUT/qwen-tokenizer.gguf"
M="$OUT/models"

[ -f "$DATA" ] || skip_all "no sql-create-context data at $DATA"
[ -f "$TOK" ] && [ -f "$M/manifest.json" ] || skip_all "no fixtures (tests/fixtures.sh)"
HAVE_TORCH=1
$PY -c "import torch" 2>/dev/null || HAVE_TORCH=0     # the oracle comparisons are skipped (failures under CI=true)
head -200 "$DATA" > "$W/d200.jsonl"

TINY=(--mode full --tokenizer "$TOK" --vocab 1024 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192
      --seq-len 320 --batch 8 --lr 3e-3 --warmup 10 --val-mod 10 --quiet)

# ---- 1. training from scratch ------------------------------------------------
t0=$SECONDS
if "$SQLASSIST" train "${TINY[@]}" --data "$W/d200.jsonl" --out "$W/full" --steps 120 --val-every 40 --threads 2 \
        2> "$W/full.log"; then
    ok "full training run ($((SECONDS - t0)) s): $(grep '^trained' "$W/full.log")"
    if r=$($PY - "$W/full/metrics.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == list(range(1, 121)), "one line per step 1..120"
for r in rows:
    for k in ("step", "lr", "loss", "val_loss", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"):
        assert k in r, f"missing {k}"
first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-10:]) / 10
val = [r["val_loss"] for r in rows if r["val_loss"] is not None]
assert len(val) == 3, val
assert first > 6.0, f"first loss {first}"
assert last < 2.5, f"loss of the last 10 steps {last:.3f} is not below 2.5"
assert val[-1] < 3.0, f"validation loss {val[-1]:.3f} is not below 3.0"
print(f"loss {first:.3f} -> {last:.3f} (mean of the last 10 steps, < 2.5), validation {val[0]:.3f} -> {val[-1]:.3f} (< 3.0)")
EOF
    ); then ok "$r"; else bad "loss check: $r"; fi
    if r=$($PY - "$W/full/loss.svg" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
lines = root.findall(f"{ns}polyline")
assert root.tag == f"{ns}svg" and len(lines) == 3, "3 polylines (raw, smoothed, validation)"
pts = [len(l.get("points").split()) for l in lines]
assert pts[0] == 120 and pts[2] == 3, pts
print(f"loss.svg: {pts[0]} training points, {pts[2]} validation points")
EOF
    ); then ok "$r"; else bad "loss.svg: $r"; fi
else
    bad "full training run failed: $(tail -3 "$W/full.log")"
fi

# ---- 2. the GGUF in this engine and in llama.cpp ------------------------------------
G="$W/full/model.gguf"
if [ -f "$G" ]; then
    PROMPT=$'### Context:\nCREATE TABLE head (age INTEGER)\n### Question:\nHow many heads of the departments are older than 56 ?\n### SQL:\n'
    IDS=$("$SQLASSIST" tokenize --model "$G" "${PROMPT}SELECT COUNT(*) FROM head WHERE age > 56" 2> /dev/null)
    if "$SQLASSIST" logits --model "$G" --tokens "$IDS" --out "$W/full.logits" 2> "$W/logits.err"; then
        if [ $HAVE_TORCH = 1 ]; then
            if $PY tests/torch_ref.py --model "$G" --tokens "$IDS" --logits-out "$W/full.ref" > /dev/null 2>&1 &&
               r=$($PY tests/torch_lora_ref.py cmp "$W/full.logits" "$W/full.ref" --tol 1e-4 2>&1); then ok "engine logits vs torch_ref on the trained GGUF: $r"
            else bad "engine vs torch_ref on the trained GGUF: $r"; fi
        else
            skip "engine logits vs torch_ref on the trained GGUF (no torch in $PY)"
        fi
        NLC=tests/llama/node_modules/node-llama-cpp
        if command -v node > /dev/null && [ -d "$NLC" ]; then
            V=$($PY -c "import os; print(os.path.getsize('$W/full.logits') // 4 // len('$IDS'.split()))")
            if node tests/llama/llama_probs.mjs --tokens "$IDS" --vocab "$V" --greedy 4 --model "$G" \
                    --probs-out "$W/full.llama" --greedy-out "$W/full.llama.ids" > "$W/llama.log" 2>&1 &&
               r=$($PY - "$W/full.logits" "$W/full.llama" "$V" <<'EOF'
import sys, numpy as np
V = int(sys.argv[3])
ours = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, V).astype(np.float64)
p = np.exp(ours - ours.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
ll = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, V)
d = np.abs(p - ll).max()
assert d <= 1e-4, f"max |p_ours - p_llama| = {d:.3g}"
print(f"llama.cpp loads the trained GGUF: next-token probabilities max|diff| {d:.2e} (<= 1e-4)")
EOF
               ); then ok "$r"; else bad "llama.cpp: ${r:-$(tail -3 "$W/llama.log")}"; fi
        else
            skip "llama.cpp check (no node or tests/llama/node_modules/node-llama-cpp)"
        fi
    else
        bad "sqlassist logits on the trained GGUF: $(tail -2 "$W/logits.err")"
    fi
    "$SQLASSIST" generate --model "$G" --prompt "$PROMPT" -n 24 --temp 0 > "$W/gen.txt" 2> /dev/null &&
        echo "note: greedy SQL from the tiny model: $(head -c 120 "$W/gen.txt" | tr '\n' ' ')"
fi

# ---- 3. resume = uninterrupted, bit for bit -------------------------------------------
R=(train "${TINY[@]}" --data "$W/d200.jsonl" --limit 80 --steps 16 --val-every 5 --save-every 4)
"$SQLASSIST" "${R[@]}" --out "$W/whole" --threads 2 2> "$W/whole.log" || bad "uninterrupted run failed: $(tail -2 "$W/whole.log")"
"$SQLASSIST" "${R[@]}" --out "$W/split" --threads 2 --stop-at 7 2> "$W/split1.log" || bad "run to --stop-at 7 failed"
grep -q "stopped at step 7" "$W/split1.log" || bad "--stop-at 7 did not say where it stopped"
"$SQLASSIST" "${R[@]}" --out "$W/split" --threads 2 --resume 2> "$W/split2.log" || bad "--resume failed: $(tail -2 "$W/split2.log")"
grep -q "resumed from .* at step 7" "$W/split2.log" || bad "--resume did not start at step 7"
if cmp -s "$W/whole/checkpoint.safetensors" "$W/split/checkpoint.safetensors" && cmp -s "$W/whole/model.gguf" "$W/split/model.gguf"; then
    ok "stop at 7 + resume = uninterrupted 16 steps: checkpoint and model.gguf byte-identical"
else
    bad "resumed run differs from the uninterrupted one"
fi
if $PY -c "
import json, sys
a = [json.loads(l)['loss'] for l in open('$W/whole/metrics.jsonl')]
b = [json.loads(l)['loss'] for l in open('$W/split/metrics.jsonl')]
sys.exit(0 if a == b and len(a) == 16 else 1)"; then ok "resumed metrics.jsonl: the same 16 losses"; else bad "resumed metrics.jsonl differs"; fi
"$SQLASSIST" "${R[@]}" --out "$W/one" --threads 1 2> "$W/one.log" || bad "1-thread run failed"
cmp -s "$W/whole/checkpoint.safetensors" "$W/one/checkpoint.safetensors" && ok "1 thread = 2 threads, byte for byte" ||
    bad "1 and 2 threads give different checkpoints"
if "$SQLASSIST" "${R[@]}" --out "$W/split" --lr 1e-3 --resume 2> "$W/mismatch.log"; then bad "--resume with another --lr was accepted"
elif grep -q "cannot resume with other settings: 'optimizer.lr'" "$W/mismatch.log"; then ok "resume with another --lr refused: $(tail -1 "$W/mismatch.log")"
else bad "resume mismatch message: $(tail -1 "$W/mismatch.log")"; fi
# a finished run taken further: another --steps is refused, unless --reschedule lays the
# cosine anew over the new total (lr at step s: floor + (lr - floor)(1 + cos(pi (s-w)/(T-w)))/2)
cp -r "$W/split" "$W/longer"
# (a finished run resumed as it was stays accepted: models/make-bundled.sh reruns its stages so)
"$SQLASSIST" "${R[@]}" --out "$W/longer" --resume 2> "$W/again.log" && ok "a finished run resumed with its own settings is accepted" ||
    bad "resuming a finished run: $(tail -1 "$W/again.log")"
cmp -s "$W/longer/checkpoint.safetensors" "$W/split/checkpoint.safetensors" && ok "... and its checkpoint left as it was" ||
    bad "resuming a finished run changed its checkpoint"
if "$SQLASSIST" "${R[@]}" --out "$W/longer" --steps 24 --resume 2> "$W/longer0.log"; then bad "--resume with another --steps was accepted"
elif grep -q "'optimizer.total_steps'" "$W/longer0.log"; then ok "resume with another --steps refused without --reschedule"
else bad "resume --steps mismatch message: $(tail -1 "$W/longer0.log")"; fi
"$SQLASSIST" "${R[@]}" --out "$W/longer" --steps 24 --reschedule 2> "$W/noresume.log"; rc=$?
[ $rc = 2 ] && grep -q -- "--reschedule needs --resume" "$W/noresume.log" && ok "--reschedule without --resume: exit 2, said why" ||
    bad "--reschedule without --resume: rc $rc: $(tail -1 "$W/noresume.log")"
if "$SQLASSIST" "${R[@]}" --out "$W/longer" --steps 16 --reschedule --resume 2> "$W/longer1.log"; then bad "--reschedule to the step reached was accepted"
else ok "--reschedule to no further step refused: $(tail -1 "$W/longer1.log")"; fi
if "$SQLASSIST" "${R[@]}" --out "$W/longer" --steps 24 --reschedule --resume 2> "$W/longer2.log" &&
   $PY -c "
import json, math, sys
rows = [json.loads(l) for l in open('$W/longer/metrics.jsonl')]
assert [r['step'] for r in rows] == list(range(1, 25)), [r['step'] for r in rows]
lr, floor, w = 3e-3, 3e-4, 10
want = lambda s, T: floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * (s - w) / (T - w)))
bad = [(r['step'], r['lr']) for r in rows[16:] if abs(r['lr'] - want(r['step'], 24)) > 1e-9]
assert not bad, bad
assert abs(rows[15]['lr'] - want(16, 16)) < 1e-9, rows[15]
" 2> "$W/longer.py"; then ok "--reschedule: 16 steps taken on to 24, learning rate on the new cosine from step 17"
else bad "--reschedule: $(tail -2 "$W/longer2.log") $(tail -2 "$W/longer.py")"; fi

# ---- 4. bad data ------------------------------------------------------------------------
B="$W/bad.jsonl"
{
    head -3 "$DATA"                                                              # lines 1-3 good
    echo '{"question": "How many?", "context": "CREATE TABLE t (a INT)"}'        # 4 missing answer
    echo '{"question": 7, "context": "CREATE TABLE t (a INT)", "answer": "SELECT 1"}'  # 5 not a string
    printf '{"question": "caf\xe9?", "context": "CREATE TABLE t (a INT)", "answer": "SELECT 1"}\n'  # 6 invalid UTF-8
    echo '{"question": "broken", "context": '                                    # 7 not JSON
    echo '["question", "context", "answer"]'                                     # 8 not an object
    echo ''                                                                      # 9 blank: ignored
    echo '{"question": "q", "context": "CREATE TABLE t (a INT)", "answer": "  "}'  # 10 empty answer
    $PY -c "import json; print(json.dumps({'question': 'long?', 'context': 'CREATE TABLE t (' + ', '.join(f'c{i} INT' for i in range(400)) + ')', 'answer': 'SELECT 1'}))"  # 11 too many tokens
    sed -n 4,10p "$DATA"                                                         # 12-18 good
} > "$B"
if "$SQLASSIST" train "${TINY[@]}" --data "$B" --out "$W/bad" --steps 2 --val-mod 0 2> "$W/bad.log"; then
    want=("$B:4: skipped: missing field 'answer'" "$B:5: skipped: field 'question' is not a string"
          "$B:6: skipped: invalid UTF-8 at byte" "$B:7: skipped: not valid JSON" "$B:8: skipped: not a JSON object"
          "$B:10: skipped: field 'answer' is empty" "$B:11: skipped: " "10 training rows, 0 validation rows, 7 skipped")
    miss=0
    for w in "${want[@]}"; do grep -qF -- "$w" "$W/bad.log" || { miss=1; bad "bad data: no line '$w'"; }; done
    [ $(grep -c "skipped:" "$W/bad.log") = 7 ] || { miss=1; bad "bad data: expected exactly 7 skipped lines"; }
    [ $miss = 0 ] && ok "bad data: 7 bad lines reported by number and kind, training went on ($(grep '^data:' "$W/bad.log" | cut -d: -f3-))"
else
    bad "training on a file with bad lines failed: $(tail -2 "$W/bad.log")"
fi
grep -v '"answer": "SELECT' "$B" | head -3 > "$W/allbad.jsonl"
"$SQLASSIST" train "${TINY[@]}" --data "$W/allbad.jsonl" --out "$W/allbad" --steps 1 2> "$W/allbad.log"; rc=$?
[ $rc = 1 ] && grep -q "no usable training rows" "$W/allbad.log" && ok "only bad rows: exit 1, 'no usable training rows'" ||
    bad "only bad rows: rc $rc, $(tail -1 "$W/allbad.log")"

# ---- 5. LoRA ------------------------------------------------------------------------------
head -40 "$DATA" > "$W/d40.jsonl"
L="$W/lora"
if "$SQLASSIST" train --mode lora --model "$M/m64/m64-f32.gguf" --data "$W/d40.jsonl" --out "$L" --rank 4 --alpha 8 \
        --steps 4 --batch 2 --lr 1e-2 --seq-len 200 --val-max 4 --threads 2 --quiet --base-name Qwen/m64-test 2> "$W/lora.log"; then
    ok "LoRA run: $(grep '^trained' "$W/lora.log")"
    if r=$($PY - "$L" <<'EOF'
import json, os, struct, sys
d = sys.argv[1]
c = json.load(open(os.path.join(d, "adapter_config.json")))
want = {"r": 4, "lora_alpha": 8.0, "use_rslora": False, "fan_in_fan_out": False, "bias": "none",
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "Qwen/m64-test"}
for k, v in want.items():
    assert c.get(k) == v, f"adapter_config.json: {k} = {c.get(k)!r}, want {v!r}"
assert sorted(c["target_modules"]) == sorted(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
f = open(os.path.join(d, "adapter_model.safetensors"), "rb")
h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
h.pop("__metadata__", None)
dims = {"q_proj": (256, 256), "k_proj": (128, 256), "v_proj": (128, 256), "o_proj": (256, 256),
        "gate_proj": (512, 256), "up_proj": (512, 256), "down_proj": (256, 512)}
for l in range(2):
    for p, (o, i) in dims.items():
        par = "mlp" if p in ("gate_proj", "up_proj", "down_proj") else "self_attn"
        a = h.pop(f"base_model.model.model.layers.{l}.{par}.{p}.lora_A.weight")
        b = h.pop(f"base_model.model.model.layers.{l}.{par}.{p}.lora_B.weight")
        assert a["dtype"] == "F32" and a["shape"] == [4, i] and b["shape"] == [o, 4], (p, a, b)
assert not h, f"unexpected tensors {list(h)[:3]}"
print("PEFT files: adapter_config.json fields and 28 lora_A [r, in] / lora_B [out, r] tensors as PEFT names them")
EOF
    ); then ok "$r"; else bad "PEFT files: $r"; fi
    LT="151644 872 198 3838 374 279 7075 1379 315 9625 30 151645 198 151644 77091 198"
    if "$SQLASSIST" logits --model "$M/m64/m64-f32.gguf" --tokens "$LT" --lora "$L" --out "$W/lora.bin" 2> "$W/lora-logits.err" &&
       "$SQLASSIST" logits --model "$M/m64/m64-f32.gguf" --tokens "$LT" --out "$W/base.bin" 2>/dev/null; then
        if [ $HAVE_TORCH = 1 ] && $PY tests/torch_lora_ref.py ref --model "$M/m64/m64-f32.gguf" --adapter "$L" --tokens "$LT" --out "$W/lora.ref" > /dev/null 2>&1; then
            if r=$($PY tests/torch_lora_ref.py cmp "$W/lora.bin" "$W/lora.ref" --tol 1e-4); then ok "sqlassist logits --lora on the trained adapter vs merged PyTorch: $r"
            else bad "trained adapter vs torch: $r"; fi
        elif [ $HAVE_TORCH = 0 ]; then
            skip "sqlassist logits --lora on the trained adapter vs merged PyTorch (no torch in $PY)"
        fi
        if $PY tests/torch_lora_ref.py cmp "$W/lora.bin" "$W/base.bin" --tol 1e-3 > /dev/null; then bad "the trained adapter does not change the logits"
        else ok "the trained adapter changes the logits"; fi
    else
        bad "sqlassist logits --lora on the trained adapter: $(tail -2 "$W/lora-logits.err")"
    fi
else
    bad "LoRA run failed: $(tail -3 "$W/lora.log")"
fi
if "$SQLASSIST" train --mode lora --model "$M/m64/m64-q8_0.gguf" --data "$W/d40.jsonl" --out "$W/lora-q8" --rank 2 \
        --targets q_proj,v_proj --steps 2 --batch 2 --seq-len 200 --val-max 2 --threads 2 --quiet 2> "$W/lora-q8.log" &&
   "$SQLASSIST" logits --model "$M/m64/m64-q8_0.gguf" --tokens "1 2 3" --lora "$W/lora-q8" --out "$W/q8.bin" 2> /dev/null; then
    ok "LoRA over a q8_0 base trains and loads"
else
    bad "LoRA over q8_0: $(tail -2 "$W/lora-q8.log")"
fi

# ---- 6. usage and input errors ----------------------------------------------------------------
expect() {
    local want="$1" name="$2"; shift 2
    "$SQLASSIST" train "$@" > /dev/null 2> "$W/err.log"; local rc=$?
    [ $rc = "$want" ] && ok "$name: exit $rc ($(head -1 "$W/err.log"))" || bad "$name: exit $rc, want $want"
}
expect 2 "no --mode" --data "$W/d40.jsonl" --out "$W/x"
expect 2 "unknown --targets" --mode lora --model "$M/m64/m64-f32.gguf" --data "$W/d40.jsonl" --out "$W/x" --targets q,bogus
expect 2 "--rank in full mode" --mode full --tokenizer "$TOK" --rank 4 --data "$W/d40.jsonl" --out "$W/x"
expect 2 "--hidden not a multiple of --heads" --mode full --tokenizer "$TOK" --hidden 50 --heads 4 --data "$W/d40.jsonl" --out "$W/x"
expect 1 "missing data file" --mode full --tokenizer "$TOK" --data "$W/nope.jsonl" --out "$W/x"
expect 1 "missing base model" --mode lora --model "$W/nope.gguf" --data "$W/d40.jsonl" --out "$W/x"

finish
