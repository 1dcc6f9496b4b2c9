#!/usr/bin/env bash
# test_speculative_cli.sh — the --draft flags (speculative decoding from the
# prompt): `ask --json` answers the same with --draft 0 and --draft 6 and
# reports drafted/accepted tokens (accepted > 0 on a question whose SQL
# repeats schema names); it is on by default (4 drafts) and $SQLASSIST_DRAFT=0
# turns it off; `generate --draft` prints the same ids as plain greedy decoding, with
# drafts accepted, and with a LoRA adapter; bad values are usage
# errors (exit 2). Exactness in depth: tests/test_speculative.c.
. "$(dirname "$0")/lib_test.sh" speculative-cli
. tests/lib_adapters.sh
DB=examples/shop.sqlite
Q="Which customers have never placed an order? Give their emails."   # its SQL repeats names: drafts hold

"$SQLASSIST" ask --json --db $DB --draft 0 "$Q" > "$W/off.json" 2> "$W/off.err"
"$SQLASSIST" ask --json --db $DB --draft 6 "$Q" > "$W/on.json" 2> "$W/on.err"
$PY - "$W/off.json" "$W/on.json" <<'PY' && ok "ask --draft 6: the same answer, drafts accepted" || bad "ask --draft 6: the same answer, drafts accepted"
import json, sys
off, on = (json.load(open(p)) for p in sys.argv[1:3])
assert [a["reply"] for a in off["attempts"]] == [a["reply"] for a in on["attempts"]], (off["attempts"], on["attempts"])
assert off["sql"] == on["sql"] and off["tokens"]["generated"] == on["tokens"]["generated"]
assert off["tokens"]["drafted"] == 0 and off["tokens"]["accepted"] == 0, off["tokens"]
t = on["tokens"]
assert t["drafted"] > 0 and 0 < t["accepted"] <= t["drafted"] and t["verify_passes"] > 0, t
assert on["attempts"][0]["accepted_tokens"] > 0
print("drafted", t["drafted"], "accepted", t["accepted"], "passes", t["verify_passes"])
PY
env -u SQLASSIST_DRAFT "$SQLASSIST" ask --json --db $DB "$Q" > "$W/default.json" 2>&1
SQLASSIST_DRAFT=0 "$SQLASSIST" ask --json --db $DB "$Q" > "$W/env.json" 2>&1
$PY - "$W/default.json" "$W/env.json" "$W/off.json" <<'PY' && ok "on by default; SQLASSIST_DRAFT=0 turns it off" || bad "on by default; SQLASSIST_DRAFT=0 turns it off"
import json, sys
d, e, off = (json.load(open(p)) for p in sys.argv[1:4])
assert d["tokens"]["accepted"] > 0 and d["sql"] == off["sql"], d["tokens"]
assert e["tokens"]["drafted"] == 0 and e["sql"] == off["sql"], e["tokens"]
PY
"$SQLASSIST" ask -v --draft 4 --db $DB "$Q" > /dev/null 2> "$W/v.err"
grep -q "^speculative decoding: [0-9]* of [0-9]* drafted tokens accepted" "$W/v.err" \
    && ok "-v reports the acceptance" || { bad "-v reports the acceptance"; cat "$W/v.err"; }

# generate: a prompt that repeats itself, so drafts hold on a random model
M64="$OUT/models/m64/m64-f32.gguf"
AD="$(find_adapters)"
P="SELECT name FROM products WHERE price > 10; SELECT name FROM products WHERE price > 10; SELECT name FROM"
if [ ! -f "$M64" ]; then
    skip "generate --draft (no test models: tests/fixtures.sh)"
else
    [ -n "$AD" ] || skip "generate --draft with a LoRA adapter (no test adapters: tests/fixtures.sh)"
    for lora in "" ${AD:+"--lora $AD/m64/all-r8.gguf"}; do
        # shellcheck disable=SC2086
        "$SQLASSIST" generate -m "$M64" -p "$P" -n 40 --print-ids $lora > "$W/g0" 2> /dev/null
        # shellcheck disable=SC2086
        "$SQLASSIST" generate -m "$M64" -p "$P" -n 40 --print-ids --draft 5 $lora > "$W/g5" 2> "$W/g5.err"
        # without the adapter the output repeats the prompt: drafts are made (with it, maybe not)
        [ -s "$W/g0" ] && cmp -s "$W/g0" "$W/g5" && { [ -n "$lora" ] || grep -q "^speculative: [0-9]* drafted, [1-9]" "$W/g5.err"; } \
            && ok "generate --draft 5 ${lora:+with a LoRA adapter }prints the same ids" \
            || { bad "generate --draft 5 ${lora:+with a LoRA adapter }prints the same ids"; cat "$W/g0" "$W/g5" "$W/g5.err"; }
    done
fi

for args in "--draft -1" "--draft 17" "--draft x"; do
    # shellcheck disable=SC2086
    "$SQLASSIST" ask --db $DB $args "$Q" > /dev/null 2> "$W/e"; rc=$?
    [ $rc -eq 2 ] && grep -q -- "--draft" "$W/e" && ok "ask $args: usage error" || { bad "ask $args: usage error (rc $rc)"; cat "$W/e"; }
done
finish
