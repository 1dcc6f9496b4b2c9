#!/usr/bin/env bash
# server_burst.sh — N questions sent at once to a freshly started server
# (every prompt uncached), as when several users open a database together:
# the wall time until the last answer, and the batcher's counters
# (decode rows per pass, prompt chunks that shared a pass). With BASE set
# to another build's binary, the two alternate, ROUNDS times each, in one
# run, and the ratio of medians is printed.
#
#   MODEL=path/to/model.gguf [BASE=other/sqlassist] bash bench/server_burst.sh
#
# Env: SQLASSIST (./sqlassist), MODEL (required), DB (the concert_singer
# database of bench/suite), N (4 questions), ROUNDS (2), THREADS (2).
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:?set MODEL to a GGUF file (e.g. the Qwen2.5-1.5B shape from ../shared/anchors)}"
DB="${DB:-bench/suite/databases/concert_singer/concert_singer.sqlite}"
N="${N:-4}"
ROUNDS="${ROUNDS:-2}"
QS=("Show the stadium name and the number of concerts in each stadium."
    "For each stadium, how many concerts play there?"
    "Show the stadium name and capacity with most number of concerts in year 2014 or after."
    "What is the name and capacity of the stadium with the most concerts after 2013?")
one() {   # BIN -> "seconds rows_per_pass joined_chunks"
    local bin=$1 port=$((20000 + RANDOM % 20000)) log
    log=$(mktemp)
    "$bin" serve --model "$MODEL" --db "$DB" --port "$port" --threads "${THREADS:-2}" --slots "$N" --parallel "$N" \
        --max-attempts 1 -n 32 2>"$log" &
    local pid=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | grep -q ready && break; sleep 0.2; done
    local t0 t1
    t0=$(date +%s.%N)
    for ((i = 0; i < N; i++)); do
        curl -s -X POST "http://127.0.0.1:$port/api/ask" -H 'Content-Type: application/json' \
            -d "{\"question\": \"${QS[$((i % ${#QS[@]}))]}\"}" -o /dev/null &
    done
    wait $(jobs -p | grep -v "^$pid$")
    t1=$(date +%s.%N)
    local metrics
    metrics=$(curl -s "http://127.0.0.1:$port/metrics")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
    /usr/bin/python3 - "$t0" "$t1" "$metrics" <<'PY'
import sys
t0, t1, text = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
m = {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l and not l.startswith("#")}
passes = m.get("sqlassist_batch_decode_passes_total", 0)
rows = m.get("sqlassist_batch_decode_rows_total", 0)
print(f"{t1 - t0:.2f} {rows / passes if passes else 0:.2f} {m.get('sqlassist_batch_prompt_chunks_joined_total', 0):.0f}")
PY
}
echo "| build | round | seconds to the last answer | decode rows per pass | prompt chunks sharing a pass |"
echo "|---|---|---|---|---|"
results=$(mktemp)
for r in $(seq "$ROUNDS"); do
    for bin in "$SQLASSIST" ${BASE:+"$BASE"}; do
        read -r s rpp j <<<"$(one "$bin")"
        echo "| $bin | $r | $s | $rpp | $j |"
        echo "$bin $s" >>"$results"
    done
done
if [ -n "${BASE:-}" ]; then
    /usr/bin/python3 - "$results" "$SQLASSIST" "$BASE" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {b: statistics.median(float(s) for x, s in rows if x == b) for b in sys.argv[2:4]}
print(f"median seconds: {med[sys.argv[2]]:.2f} against {med[sys.argv[3]]:.2f} (ratio {med[sys.argv[3]] / med[sys.argv[2]]:.2f}x)")
PY
fi
rm -f "$results"
