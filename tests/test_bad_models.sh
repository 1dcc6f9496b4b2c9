#!/usr/bin/env bash
# test_bad_models.sh — broken model files must fail cleanly.
#
# tests/make_bad_models.py writes ~200 mutated copies of the small m64 test
# model (GGUF q8_0 and the Hugging Face f32 directory, from tests/fixtures.sh)
# into $OUT/bad: truncated files, wrong magic/version/architecture, missing or
# mistyped keys, missing/misshapen/unsupported tensors, absurd counts, sizes
# and offsets, bad tokenizer metadata, broken config.json / safetensors /
# shard indexes, plus a few controls that must still load. Its cases.tsv says,
# per case, the expected exit code and the strings stderr must contain.
#
# For every case this runs both
#   $SQLASSIST logits   --model BAD --tokens "1 2 3" --out TMP
#   $SQLASSIST generate --model BAD --prompt hi -n 2
# each under `timeout 20`, and checks: the exit code is the expected one
# (1 for a bad file: never a signal, >= 128, nor a hang, 124), stderr is ONE
# line that contains the file's name and every expected key/tensor/reason
# ("a|b" = either), and no sanitizer report. Prints one PASS/FAIL line per
# case and exits 0 only if all pass.
#
# Env: SQLASSIST (the binary), OUT (tests/out); run from anywhere (it cds to
# the repository root). KEEP_BAD=1 keeps $OUT/bad after a passing run (it is
# removed then: ~600 MB of headers). ONLY=substring runs matching cases only.
. "$(dirname "$0")/lib_test.sh" bad
BAD="$W"
ONLY="${ONLY:-}"

[ -x "$SQLASSIST" ] || die "no binary at $SQLASSIST"
if [ ! -f "$OUT/models/m64/m64-q8_0.gguf" ] || [ ! -d "$OUT/models/m64/hf-f32" ]; then
    OUT="$OUT" bash tests/fixtures.sh || die "fixtures failed"
fi
$PY tests/make_bad_models.py --models "$OUT/models" --out "$BAD" || die "make_bad_models.py failed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()

# check NAME CMD EXPECTED_RCS PATTERNS... ; stderr is in $tmp/err, rc in $rc
check() {
    local name="$1" cmd="$2" want="$3"; shift 3
    local why="" nlines
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="hang (timeout, rc=$rc)"
    elif [ "$rc" -ge 128 ]; then why="crash (signal $((rc - 128)))"
    elif [[ "|$want|" != *"|$rc|"* ]]; then why="exit code $rc, expected $want"
    elif grep -qE 'Sanitizer|runtime error:' "$tmp/err"; then why="sanitizer report"
    elif [ "$rc" -ne 0 ]; then
        nlines=$(grep -c '' "$tmp/err")
        if [ "$nlines" -ne 1 ]; then why="$nlines lines on stderr, expected one"; fi
        local pat alt ok
        for pat in "$@"; do
            [ -n "$why" ] && break
            ok=0
            IFS='|' read -ra alts <<< "$pat"
            for alt in "${alts[@]}"; do
                if grep -qF -- "$alt" "$tmp/err"; then ok=1; break; fi
            done
            [ $ok -eq 1 ] || why="stderr lacks '$pat'"
        done
    fi
    local msg
    msg=$(head -c 400 "$tmp/err" | LC_ALL=C tr -c '[:print:]' ' ')
    if [ -z "$why" ]; then
        ok "$name [$cmd] rc=$rc: $msg"
    else
        failed+=("$name/$cmd"); bad "$name [$cmd]: $why: $msg"
    fi
}

t0=$SECONDS
while IFS=$'\t' read -r name path want pats; do
    [ -z "$name" ] && continue
    if [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]]; then continue; fi
    IFS=$'\t' read -ra patterns <<< "$pats"
    model="$BAD/$path"
    timeout -k 5 20 "$SQLASSIST" logits --model "$model" --tokens "1 2 3" --out "$tmp/logits" \
        > /dev/null 2> "$tmp/err" < /dev/null
    rc=$?
    check "$name" logits "$want" "${patterns[@]}"
    timeout -k 5 20 "$SQLASSIST" generate --model "$model" --prompt hi -n 2 \
        > /dev/null 2> "$tmp/err" < /dev/null
    rc=$?
    # a model that loads prints its timing lines: only the exit code counts then
    check "$name" generate "$want" "${patterns[@]}"
done < "$BAD/cases.tsv"

echo "bad models: $((SECONDS - t0)) s"
if [ $fail -gt 0 ]; then
    echo "failed: ${failed[*]}"
    finish
fi
[ "${KEEP_BAD:-0}" = 1 ] || rm -rf "$BAD"
finish
