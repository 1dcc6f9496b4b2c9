#!/usr/bin/env bash
# test_server_batch.sh — continuous batching in `sqlassist serve`: with
# --parallel 4, questions and completions sent at once are answered at once
# (their decode steps share passes over the weights, /metrics shows passes
# of several rows), and every answer is exactly the one a --parallel 1
# server gives the same request alone: the SQL of every attempt, the rows,
# the chat completion text. The bundled model on examples/shop.sqlite, grammar
# on and off, drafts on for some requests; then the same as q8_0, whose
# panels let decode rows ride in prompt passes where the CPU has VNNI
# (/metrics: sqlassist_batch_fused_passes_total). Loopback only.
. "$(dirname "$0")/lib_test.sh" server-batch
BUNDLED=${BUNDLED:-models/sqlassist-sql.gguf}
[ -f "$BUNDLED" ] || die "missing $BUNDLED"
"$SQLASSIST" quantize "$BUNDLED" "$W/bundled-q8_0.gguf" --type q8_0 > "$W/quantize.log" 2>&1 || { cat "$W/quantize.log"; die "quantize"; }

for MODEL in "$BUNDLED" "$W/bundled-q8_0.gguf"; do
echo "== $MODEL"
start() {  # NAME ARGS...
    local name=$1; shift
    "$SQLASSIST" serve --model "$MODEL" --db examples/shop.sqlite --port 0 --threads 2 "$@" 2> "$W/$name.log" &
    eval "pid_$name=$!"
    for _ in $(seq 600); do grep -q '"event":"ready"' "$W/$name.log" && break; sleep 0.1; done
    grep -q '"event":"ready"' "$W/$name.log" || { cat "$W/$name.log"; die "server $name did not start"; }
    eval "port_$name=$(grep -o '"port":[0-9]*' "$W/$name.log" | head -1 | cut -d: -f2)"
}
start one --parallel 1
start many --parallel 4 --queue 32
trap 'kill -9 $pid_one $pid_many 2>/dev/null' EXIT
grep -q '"parallel":4' "$W/many.log" && ok "--parallel 4 reported at start" || bad "--parallel in the ready event"

# fused passes expected: the q8_0 copy on a CPU with AVX-512 VNNI (its panels), no override
expect=0
[ "$MODEL" != "$BUNDLED" ] && grep -qw avx512_vnni /proc/cpuinfo && [ "${SQLASSIST_X16:-1}" != 0 ] &&
    [ "${SQLASSIST_FUSE:-1}" != 0 ] && [ "${SQLASSIST_GEMM:-}" != f32 ] && expect=1
sub "batched answers against alone" timeout 600 $PY - "$port_one" "$port_many" "$expect" <<'PYEOF'
import json, sys, threading, time, urllib.request
P1, PN, expect_fused = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
fail = 0
def check(name, cond, detail=""):
    global fail
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    fail |= not cond
def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.status, json.loads(r.read())
def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

questions = ["How many customers are there?", "How many orders were delivered?",
             "List the names of all categories.", "Which country has the most customers?",
             "What is the average unit price of products?", "How many products are discontinued?",
             "List the first and last names of customers from Lyon.", "Which customers have never placed an order?"]
reqs = []
for i, q in enumerate(questions):
    reqs.append(("/api/ask", {"question": q, "grammar": i % 2 == 0, "max_attempts": 2}))
with urllib.request.urlopen(f"http://127.0.0.1:{PN}/v1/models", timeout=30) as r:
    base = [m["id"] for m in json.loads(r.read())["data"] if m["id"] != "sql-agent"][0]
prompts = ["SELECT name FROM", "The customers table has", "Name three SQL keywords.", "count the orders"]
for i, p in enumerate(prompts):
    reqs.append(("/v1/chat/completions", {"model": base, "messages": [{"role": "user", "content": p}],
                                          "max_tokens": 24, "temperature": 0}))
reqs.append(("/v1/chat/completions", {"model": "sql-agent", "messages": [{"role": "user", "content": questions[1]}]}))

def key(path, r):
    if path == "/api/ask":
        if isinstance(r.get("result"), dict): r["result"].pop("elapsed_ms", None)
        return json.dumps({"sql": r.get("sql"), "ok": r.get("ok"), "result": r.get("result"),
                           "attempts": [(a.get("sql"), a.get("error")) for a in r.get("attempts", [])]}, sort_keys=True)
    return json.dumps([(c.get("message") or {}).get("content") for c in r["choices"]])

alone = [key(p, post(P1, p, b)[1]) for p, b in reqs]
before = metrics(PN)
t_rounds = time.monotonic()
got = [None] * len(reqs)
def run(i):
    try:
        st, r = post(PN, reqs[i][0], reqs[i][1])
        got[i] = key(reqs[i][0], r) if st == 200 else f"status {st}"
    except Exception as e:
        got[i] = f"error {e}"
for rnd in range(2):
    ths = [threading.Thread(target=run, args=(i,)) for i in range(len(reqs))]
    for t in ths: t.start()
    for t in ths: t.join(300)
    differ = [i for i in range(len(reqs)) if got[i] != alone[i]]
    check(f"round {rnd + 1}: {len(reqs)} requests at once, each answer equal to the --parallel 1 answer",
          not differ, [(reqs[i][1], alone[i][:300], (got[i] or "")[:300]) for i in differ[:2]])
after = metrics(PN)
wall = time.monotonic() - t_rounds
phase = {k: after.get(f'sqlassist_batch_seconds_total{{phase="{k}"}}', -1) - before.get(f'sqlassist_batch_seconds_total{{phase="{k}"}}', 0)
         for k in ("decode", "prompt", "linger", "fused")}
check("/metrics: the batcher's seconds by phase grew (decode and prompt passes ran, alone or together) and fit in the rounds' wall time",
      phase["decode"] > 0 and phase["prompt"] + phase["fused"] > 0 and phase["linger"] >= 0 and phase["fused"] >= 0
      and sum(phase.values()) <= wall, (phase, wall))
passes = after["sqlassist_batch_decode_passes_total"] - before.get("sqlassist_batch_decode_passes_total", 0)
rows = after["sqlassist_batch_decode_rows_total"] - before.get("sqlassist_batch_decode_rows_total", 0)
check("decode passes were shared (more rows than passes, a pass of 2+ rows)",
      passes > 0 and rows > passes * 1.2 and after["sqlassist_batch_max_rows"] >= 2, (passes, rows, after.get("sqlassist_batch_max_rows")))
check("/metrics: 4 workers", after.get("sqlassist_workers") == 4, after.get("sqlassist_workers"))
print(f"batching: {int(passes)} decode passes for {int(rows)} rows ({rows / max(passes, 1):.2f} per pass)")
check("--parallel 1 has no batcher", "sqlassist_batch_decode_passes_total" not in metrics(P1))
fused = after.get("sqlassist_batch_fused_passes_total", -1) - before.get("sqlassist_batch_fused_passes_total", 0)
print(f"passes of decode rows and prompt chunks together: {int(fused)}")
if expect_fused:
    check("decode rows rode in prompt passes (q8_0 panels)", fused > 0, fused)
else:
    check("/metrics: no passes of decode rows and prompt chunks together where the rows are not exact (or not on this CPU)",
          fused == 0, fused)
sys.exit(fail)
PYEOF

for name in one many; do
    eval "p=\$pid_$name"
    kill -TERM "$p"
    timeout 30 tail --pid="$p" -f /dev/null
    wait "$p"; rc=$?
    [ $rc -eq 0 ] && ok "server $name exits 0 on SIGTERM" || bad "server $name exit status $rc"
done
trap - EXIT
done
finish
