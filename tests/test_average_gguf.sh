#!/usr/bin/env bash
# test_average_gguf.sh — scripts/average_gguf.py, which made the shipped
# model as the mean of two trainings (models/make-bundled.sh):
#   1. A = the bundled model as f32, B = the same weights through bf16 (every
#      weight differs a little); their mean at t = 0.25, read back by the
#      independent GGUF reader of tests/torch_ref.py, is 0.75 A + 0.25 B in
#      every tensor (to f32 rounding), and not A or B;
#   2. t = 0 gives A's bytes exactly;
#   3. sqlassist loads the mean and answers with it;
#   4. refusals: a tensor not in f32, files whose tensors differ, t outside
#      0..1 — each a non-zero exit that says why.
# Env: SQLASSIST (binary), OUT (tests/out).
. "$(dirname "$0")/lib_test.sh" average-gguf
MODEL=models/sqlassist-sql.gguf
[ -f "$MODEL" ] || skip_all "no $MODEL"
$PY -c "import numpy, torch" 2>/dev/null || skip_all "no numpy/torch for the reference reader"
AVG="$PY scripts/average_gguf.py"

"$SQLASSIST" quantize "$MODEL" "$W/a.gguf" --type f32 > /dev/null 2>&1 &&
"$SQLASSIST" quantize "$MODEL" "$W/b16.gguf" --type bf16 > /dev/null 2>&1 &&
"$SQLASSIST" quantize "$W/b16.gguf" "$W/b.gguf" --type f32 > /dev/null 2>&1 || bad "quantize: could not make the f32 pair"

# ---- 1. the mean, checked with another reader -----------------------------------
if $AVG "$W/a.gguf" "$W/b.gguf" "$W/m.gguf" --t 0.25 > "$W/m.log" 2>&1; then
    if r=$($PY - "$W" 2>&1 <<'EOF'
import sys
import numpy as np
sys.path.insert(0, "tests")
from torch_ref import load_gguf
d = sys.argv[1]
_, a = load_gguf(d + "/a.gguf")
_, b = load_gguf(d + "/b.gguf")
_, m = load_gguf(d + "/m.gguf")
assert sorted(a) == sorted(m), "tensor names differ"
differ = 0
for k in a:
    x, y, z = (np.asarray(t[k], dtype=np.float64) for t in (a, b, m))
    want = 0.75 * x + 0.25 * y
    err = float(np.abs(z - want).max())
    tol = 1e-6 * max(1.0, float(np.abs(want).max()))
    assert err <= tol, f"{k}: off by {err}"
    differ += int(not (z == x).all() and not (z == y).all())
assert differ > len(a) // 2, f"only {differ} of {len(a)} tensors differ from both inputs"
print(f"{len(a)} tensors equal 0.75 A + 0.25 B; {differ} differ from both")
EOF
    ); then ok "mean at t=0.25: $r"; else bad "mean at t=0.25: $r"; fi
else
    bad "average_gguf.py: $(tail -2 "$W/m.log")"
fi

# ---- 2. t = 0 is A -------------------------------------------------------------
$AVG "$W/a.gguf" "$W/b.gguf" "$W/t0.gguf" --t 0 > /dev/null 2>&1 && cmp -s "$W/a.gguf" "$W/t0.gguf" \
    && ok "t=0 gives A's bytes" || bad "t=0 does not give A's bytes"

# ---- 3. the product loads it ----------------------------------------------------
if out=$("$SQLASSIST" ask --model "$W/m.gguf" --db examples/shop.sqlite --json "How many customers are there?" 2> "$W/ask.log") &&
   echo "$out" | $PY -c 'import json,sys; a=json.load(sys.stdin); assert a["sql"] and a["rows"] is not None' 2>/dev/null; then
    ok "sqlassist ask answers with the averaged model"
else
    bad "ask with the averaged model: $(tail -2 "$W/ask.log")"
fi

# ---- 4. refusals ----------------------------------------------------------------
refuses() {   # WHAT PATTERN ARGS...: a non-zero exit whose message matches PATTERN
    local what=$1 pat=$2 msg
    shift 2
    if msg=$($AVG "$@" 2>&1); then bad "$what: accepted"
    elif echo "$msg" | grep -q "$pat"; then ok "$what: refused ($(echo "$msg" | tail -1))"
    else bad "$what: message: $msg"; fi
}
refuses "an f16 tensor" "is type 1, not f32" "$MODEL" "$MODEL" "$W/x.gguf"
if [ -f "$OUT/qwen-tokenizer.gguf" ]; then   # tests/fixtures.sh: a GGUF with a tokenizer and no tensors
    refuses "a file with other tensors" "tensors differ" "$W/a.gguf" "$OUT/qwen-tokenizer.gguf" "$W/x.gguf"
else
    skip "no $OUT/qwen-tokenizer.gguf (tests/fixtures.sh) for the mismatch check"
fi
refuses "t outside 0..1" "must be between 0 and 1" "$W/a.gguf" "$W/b.gguf" "$W/x.gguf" --t 1.5
finish
