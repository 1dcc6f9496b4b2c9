#!/usr/bin/env bash
# test_bench.sh — `sqlassist bench` end to end on a small generated model over a
# few tasks of the default suite (database tasks and schema-only tasks), through
# the real HTTP server: every field of summary.json is checked, and so are the
# other outputs; the answers are nonsense (random weights), the machinery is not.
# The figures of summary.json and report.md are recomputed from results.jsonl.
. "$(dirname "$0")/lib_test.sh" bench
MODEL="$OUT/models/m64/m64-q8_0.gguf"
[ -f "$MODEL" ] || die "missing $MODEL (tests/fixtures.sh makes it)"
# 3 database tasks + 3 schema-only tasks + 2 malformed lines
{ head -3 bench/suite/tasks.jsonl; tail -3 bench/suite/tasks.jsonl; echo '{"question": 1}'; echo 'garbage'; } > "$W/tasks.jsonl"
sums_before=$(sha256sum bench/suite/databases/*/*.sqlite)
timeout 600 "$SQLASSIST" bench --model "$MODEL" --tasks "$W/tasks.jsonl" --db-dir bench/suite/databases \
    --out "$W/out" -n 12 --max-attempts 2 --requests 4 --concurrency 3 > "$W/stdout.json" 2> "$W/stderr.txt"
rc=$?
[ $rc -eq 0 ] || { tail -20 "$W/stderr.txt"; die "bench exited $rc"; }
ok "bench exits 0"
grep -q "tasks.jsonl:7:" "$W/stderr.txt" && grep -q "tasks.jsonl:8:" "$W/stderr.txt" && ok "malformed lines reported with line numbers" ||
    { cat "$W/stderr.txt"; bad "malformed lines not reported with line numbers"; }
[ "$sums_before" = "$(sha256sum bench/suite/databases/*/*.sqlite)" ] && ok "the suite databases are unchanged" || bad "a suite database changed"
$PY - "$W/out" <<'PYEOF' && ok "summary.json, results.jsonl, report.md and chart.svg have every field" || bad "bench outputs (fields)"
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
assert "execution accuracy" in rep
svg = open(os.path.join(d, "chart.svg")).read()
assert svg.startswith("<svg") and "polyline" in svg
print("summary fields ok:", {k: s[k] for k in ["tasks", "execution_accuracy", "valid_sql_rate", "throughput_rps", "cold_start_ms"]})
PYEOF

# the figures, recomputed from the per-task rows (results.jsonl)
sub "bench figures recomputed from results.jsonl" $PY - "$W/out" <<'PYEOF'
import json, math, os, sys
d = sys.argv[1]
s = json.load(open(os.path.join(d, "summary.json")))
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl"))]
rep = open(os.path.join(d, "report.md")).read()
def check(name, cond, detail=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
def ratio(a, b):
    return a / b if b else 0.0
gold = [r for r in rows if "execution_match" in r]
ts = [r for r in gold if r["metric"] == "test-suite"]
db = [r for r in gold if r["metric"] == "execution"]
want = {
    "tasks": len(rows),
    "tasks_with_gold": len(gold),
    "execution_accuracy": ratio(sum(r["execution_match"] for r in gold), len(gold)),
    "exact_match": ratio(sum(r["exact_match"] for r in gold), len(gold)),
    "valid_sql_rate": ratio(sum(bool(r.get("ran")) for r in rows), len(rows)),
    "schema_only_tasks": len(ts),
    "test_suite_accuracy": ratio(sum(r["execution_match"] for r in ts), len(ts)) if ts else None,
    "database_tasks": len(db),
    "database_execution_accuracy": ratio(sum(r["execution_match"] for r in db), len(db)) if db else None,
    "tokens_in": sum(r.get("tokens_in", 0) for r in rows),
    "tokens_out": sum(r.get("tokens_out", 0) for r in rows),
}
for k, v in want.items():
    check(f"summary {k} = {v} from results.jsonl", s[k] == v, f"summary.json has {s[k]}")
# latency: the total of every task (0 for one not answered), percentiles interpolated as ev_percentile does
lat = sorted(r["latency_ms"]["total"] if "latency_ms" in r else 0.0 for r in rows)
def pct(p):
    pos = p / 100.0 * (len(lat) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return lat[lo] + (lat[hi] - lat[lo]) * (pos - lo)
got = s["latency_ms"]
want_lat = {"mean": sum(lat) / len(lat), "p50": pct(50), "p90": pct(90), "p99": pct(99)}
for k, v in want_lat.items():
    check(f"summary latency {k} = {v:.3f} ms from results.jsonl", math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-9), f"summary.json has {got[k]}")
# report.md shows the same figures
pc = lambda x: f"{100.0 * x:.1f}%"
lines = {
    "execution accuracy": f"| execution accuracy | {pc(want['execution_accuracy'])} |",
    "exact match": f"| exact match (normalized) | {pc(want['exact_match'])} |",
    "valid SQL": f"| valid SQL | {pc(want['valid_sql_rate'])} |",
    "latency": "| latency mean / p50 / p90 / p99 | " + " / ".join(f"{want_lat[k]:.0f}" for k in ["mean", "p50", "p90", "p99"]) + " ms |",
    "throughput": f"| throughput at concurrency {s['concurrency']} | {s['throughput_rps']:.2f} requests/s |",
    "header": f"({want['tasks']} tasks, {want['tasks_with_gold']} with gold SQL, {s['malformed_lines']} malformed lines skipped)",
}
if ts:
    lines["schema-only"] = f"| — of which schema-only tasks (test-suite accuracy) | {pc(want['test_suite_accuracy'])} of {len(ts)} |"
if db:
    lines["database"] = f"| — of which database tasks (execution match) | {pc(want['database_execution_accuracy'])} of {len(db)} |"
for k, line in lines.items():
    check(f"report.md {k}: {line}", line in rep, "not in report.md")
PYEOF
finish
