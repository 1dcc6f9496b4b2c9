#!/usr/bin/env bash
# test_bench.sh — `sqlassist bench` end to end on a small generated model over a
# few tasks of the default suite (database tasks and schema-only tasks), through
# the real HTTP server: every field of summary.json is checked, and so are the
# other outputs; the answers are nonsense (random weights), the machinery is not.
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
OUT="${OUT:-tests/out}"
MODEL="$OUT/models/m64/m64-q8_0.gguf"
W="$OUT/bench"; rm -rf "$W"; mkdir -p "$W"
# 3 database tasks + 3 schema-only tasks + 2 malformed lines
{ head -3 bench/suite/tasks.jsonl; tail -3 bench/suite/tasks.jsonl; echo '{"question": 1}'; echo 'garbage'; } > "$W/tasks.jsonl"
sums_before=$(sha256sum bench/suite/databases/*/*.sqlite)
timeout 600 "$SQLASSIST" bench --model "$MODEL" --tasks "$W/tasks.jsonl" --db-dir bench/suite/databases \
    --out "$W/out" -n 12 --max-attempts 2 --requests 4 --concurrency 3 > "$W/stdout.json" 2> "$W/stderr.txt"
rc=$?
[ $rc -eq 0 ] || { echo "bench exited $rc"; tail -20 "$W/stderr.txt"; exit 1; }
grep -q "tasks.jsonl:7:" "$W/stderr.txt" && grep -q "tasks.jsonl:8:" "$W/stderr.txt" || { echo "malformed lines not reported with line numbers"; cat "$W/stderr.txt"; exit 1; }
[ "$sums_before" = "$(sha256sum bench/suite/databases/*/*.sqlite)" ] || { echo "a suite database changed"; exit 1; }
/usr/bin/python3 - "$W/out" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
s = json.load(open(os.path.join(d, "summary.json")))
def num(k, lo=0, hi=None):
    v = s[k]
    assert isinstance(v, (int, float)), (k, v)
    assert v >= lo and (hi is None or v <= hi), (k, v)
assert s["tasks"] == 6, s["tasks"]
assert s["tasks_with_gold"] == 6 and s["malformed_lines"] == 2
for k in ["execution_accuracy", "exact_match", "valid_sql_rate", "test_suite_accuracy", "database_execution_accuracy"]:
    num(k, 0, 1)
assert s["schema_only_tasks"] == 3 and s["database_tasks"] == 3
assert "test-suite" in s["schema_only_metric"]
lat = s["latency_ms"]
for k in ["mean", "p50", "p90", "p99"]:
    assert lat[k] > 0, (k, lat)
assert lat["p50"] <= lat["p90"] <= lat["p99"]
num("throughput_rps", 1e-9)
tp = s["throughput_by_concurrency"]
assert set(tp) == {"1", "2", "3", "4", "8"}, tp
assert all(v > 0 for v in tp.values()), tp
assert s["throughput_rps"] == tp["3"]
assert s["http_errors"] == 0, s["http_errors"]
num("cold_start_ms", 1); num("cold_start_health_ready_ms", 1); num("peak_rss_mb", 1); num("model_load_ms", 0)
assert s["tokens_in"] > 0 and s["tokens_out"] > 0
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl"))]
assert len(rows) == 6
for r in rows:
    for k in ["question", "sql", "ran", "attempts", "latency_ms", "tokens_in", "tokens_out", "exact_match", "execution_match", "metric", "gold"]:
        assert k in r, (k, r)
    for k in ["queue", "prefill", "decode", "execution", "total"]:
        assert k in r["latency_ms"], k
    assert r["metric"] in ("execution", "test-suite")
assert sum(r["metric"] == "test-suite" for r in rows) == 3
rep = open(os.path.join(d, "report.md")).read()
assert "2800–5100 ms" in rep and "execution accuracy" in rep
svg = open(os.path.join(d, "chart.svg")).read()
assert svg.startswith("<svg") and "polyline" in svg
print("summary fields ok:", {k: s[k] for k in ["tasks", "execution_accuracy", "valid_sql_rate", "throughput_rps", "cold_start_ms"]})
PYEOF
