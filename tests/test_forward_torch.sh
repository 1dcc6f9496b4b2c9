#!/usr/bin/env bash
# test_forward_torch.sh — the C engine's forward pass against an independent
# PyTorch implementation (tests/torch_ref.py), on the random-weight models of
# tests/gen_models.py in every stored layout and dtype.
#
# For each case (model x variant, see `compare_logits.py cases`):
#   - `$SQLASSIST logits --model P [--dtype bf16] --tokens "..." --out F` on a
#     fixed 64-token sequence; max|diff| / max|logit| against the oracle's
#     logits on the same file must be <= the class tolerance
#     (tests/compare_logits.py TOL, docs/testing.md);
#   - `$SQLASSIST generate --model P [--dtype bf16] --prompt-tokens "..." -n 64
#     --temp 0 --print-ids`: the greedy ids must equal the oracle's for the
#     f32 variants (a split at an oracle near-tie within the tolerance is
#     accepted); for the others the agreement is reported.
# And: the engine's logits for the GGUF f32 file and for the HF f32 directory
# of the same model must be bit-identical (compared by sha256).
#
# Needs: $SQLASSIST, /usr/bin/python3 with torch + numpy, the models made by
# tests/fixtures.sh in $OUT/models. Exit 0 = pass, 77 = skipped, else fail.
. "$(dirname "$0")/lib_test.sh" forward_torch
# The oracle multiplies dequantized weights by f32 activations; so does the
# engine's f32 GEMM path. The default int8 path for q8_0/q4_0 prompt
# processing rounds activations to 8 bits (as llama.cpp does): it is checked
# against exact sums in test_kernels and against llama.cpp in test_llamacpp.
export SQLASSIST_GEMM=f32
MODELS="${MODELS:-$OUT/models}"
CMP="$PY tests/compare_logits.py"

[ -x "$SQLASSIST" ] || die "no sqlassist binary at $SQLASSIST"
$PY -c 'import torch, numpy' 2>/dev/null || skip_all "$PY lacks torch/numpy (the oracle)"
[ -f "$MODELS/manifest.json" ] || die "no $MODELS/manifest.json (tests/fixtures.sh makes it)"
"$SQLASSIST" logits --help >/dev/null 2>&1 || die "this sqlassist has no 'logits' subcommand"

TMP="$OUT/forward_torch.tmp"
rm -rf "$TMP"; mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

echo "== oracle self-check"
$CMP selfcheck "$MODELS" && ok "the oracle agrees with itself" || die "the oracle itself is inconsistent; not testing the engine"

TOKENS="$($CMP tokens)"
n=0
declare -A LOGITS     # label -> sha256 of the engine's logits (files are 39 MB each)

echo "== engine vs oracle ($(echo $TOKENS | wc -w) tokens; greedy 64)"
while IFS=$'\t' read -r -u 3 label path dtype opath oround cls strict; do
    n=$((n+1))
    f="$TMP/$(echo "$label" | tr '/+' '__').bin"
    dflag=(); [ "$dtype" != "-" ] && dflag=(--dtype "$dtype")
    rflag=(); [ "$oround" != "-" ] && rflag=(--round "$oround")
    if ! "$SQLASSIST" logits --model "$path" "${dflag[@]}" --tokens "$TOKENS" --out "$f" \
            < /dev/null 2> "$TMP/err"; then
        sed 's/^/    /' "$TMP/err" | tail -5; bad "$label: sqlassist logits failed"; continue
    fi
    LOGITS[$label]="$(sha256sum < "$f" | cut -c1-64)"
    if ! ids="$("$SQLASSIST" generate --model "$path" "${dflag[@]}" --prompt-tokens "$TOKENS" \
                 -n 64 --temp 0 --print-ids < /dev/null 2> "$TMP/err")"; then
        sed 's/^/    /' "$TMP/err" | tail -5; bad "$label: sqlassist generate failed"; continue
    fi
    sflag=(); [ "$strict" = 1 ] && sflag=(--strict-greedy)
    $CMP check --model "$opath" "${rflag[@]}" --tokens "$TOKENS" --got "$f" --class "$cls" \
        --greedy-got "$ids" --greedy-n 64 "${sflag[@]}" --label "$label" < /dev/null && ok "$label: engine vs oracle" || bad "$label: engine vs oracle"
    rm -f "$f"
done 3< <($CMP cases "$MODELS/manifest.json")
[ "$n" -gt 0 ] || die "no cases"

echo "== bit-identical engine logits across layouts"
while IFS=$'\t' read -r -u 3 a b must; do
    ha="${LOGITS[$a]:-}"; hb="${LOGITS[$b]:-}"
    [ -n "$ha" ] && [ -n "$hb" ] || { echo "$a vs $b: missing logits (failed above)"; continue; }
    if [ "$ha" = "$hb" ] && [ "$must" = 1 ]; then ok "$a == $b: identical (sha256 ${ha:0:16})"
    elif [ "$ha" = "$hb" ]; then echo "$a == $b: identical (sha256 ${ha:0:16}; reported only)"
    elif [ "$must" = 1 ]; then bad "$a vs $b: DIFFER (must be bit-identical)"
    else echo "$a vs $b: differ (reported only)"
    fi
done 3< <($CMP identity "$MODELS/manifest.json")

echo "== $n cases"
finish
