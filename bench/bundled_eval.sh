#!/usr/bin/env bash
# bundled_eval.sh — the scores of models/sqlassist-sql.gguf reported in
# models/README.md and the README, all with `sqlassist bench` (greedy, up to
# 3 generate/execute/repair rounds, the model's own sql-create-context prompt):
#   * WikiSQL test (tables never seen in training), in the sql-create-context
#     format made by scripts/make_train_data.py: test-suite execution
#     accuracy and normalized exact match;
#   * WikiSQL test with all columns: every column known for each table, in
#     shuffled order (the layout that gives nothing away; "wikisql-test-allcols");
#   * WikiSQL dev, the same;
#   * the everyday sets of bench/everyday: shop (examples/shop.sqlite),
#     library and clinic (databases built for the test; no model trained on
#     any of them; clinic was written after the training data of stage 9, as a
#     check of wording learnt from the other two);
#   * Spider dev, on its real databases (full schemas, joins, nesting);
#     "spider-dev-200-499" (only when named in SETS): questions 200-499, the set
#     the agent's settings were chosen on;
#   * KaggleDBQA, every question on its databases present in ../shared (real,
#     messy Kaggle databases no model here trains on; "kaggledbqa");
#   * the default 50-task suite (bench/suite), with the HTTP throughput and
#     cold-start runs.
#
#   bash bench/bundled_eval.sh            (from the repository root, after make)
#
# Env: SQLASSIST (./sqlassist), MODEL (models/sqlassist-sql.gguf),
# SHARED (../shared), OUT (runs/bundled-eval), THREADS (default: all cores), LIMIT (questions per set; all),
# SETS (default "everyday-shop everyday-library everyday-clinic spider-dev kaggledbqa wikisql-test-allcols wikisql-test wikisql-dev suite"; two runs with
# different SETS may share OUT and run side by side).
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
MODEL="${MODEL:-models/sqlassist-sql.gguf}"
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-runs/bundled-eval}"
mkdir -p "$OUT"
[ -s "$OUT/data/wikisql_test.jsonl" ] || /usr/bin/python3 scripts/make_train_data.py "$SHARED/data" "$OUT/data" > /dev/null
run() {  # NAME TASKS [bench flags...]
    local name=$1 tasks=$2; shift 2
    echo "== $name"
    "$SQLASSIST" bench --model "$MODEL" --tasks "$tasks" --out "$OUT/$name" ${LIMIT:+--limit "$LIMIT"} \
        ${THREADS:+--threads "$THREADS"} "$@" \
        > "$OUT/$name.log" 2>&1 || { tail -5 "$OUT/$name.log"; return 1; }
    /usr/bin/python3 - "$OUT/$name/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def pct(k):
    v = s.get(k)
    return "—" if v is None else f"{100 * v:.1f}%"
print(f"  tasks {s['tasks']}: execution accuracy {pct('execution_accuracy')}, test-suite {pct('test_suite_accuracy')}"
      f" ({s['schema_only_tasks']} schema-only), on databases {pct('database_execution_accuracy')}"
      f" ({s['database_tasks']}), exact match {pct('exact_match')}, valid SQL {pct('valid_sql_rate')},"
      f" mean latency {s['latency_ms']['mean']:.0f} ms")
if s.get("throughput_by_concurrency"):
    print(f"  throughput {s['throughput_by_concurrency']} req/s, cold start {s['cold_start_ms']:.0f} ms,"
          f" peak RSS {s['peak_rss_mb']:.0f} MB")
PY
}
for set in ${SETS:-everyday-shop everyday-library everyday-clinic spider-dev kaggledbqa wikisql-test-allcols wikisql-test wikisql-dev suite}; do
    case $set in
    everyday-shop) run everyday-shop bench/everyday/shop.jsonl --db-dir bench/everyday/databases --no-server ;;
    everyday-library) run everyday-library bench/everyday/library.jsonl --db-dir bench/everyday/databases --no-server ;;
    everyday-clinic) run everyday-clinic bench/everyday/clinic.jsonl --db-dir bench/everyday/databases --no-server ;;
    wikisql-test-allcols) run wikisql-test-allcols "$OUT/data/wikisql_test_allcols.jsonl" --no-server ;;
    wikisql-test) run wikisql-test "$OUT/data/wikisql_test.jsonl" --no-server ;;
    wikisql-dev) run wikisql-dev "$OUT/data/wikisql_dev.jsonl" --no-server ;;
    spider-dev) run spider-dev "$SHARED/data/spider/dev.json" --db-dir "$SHARED/data/spider/database" --no-server ;;
    spider-dev-200-499)   # the questions the agent's relevant tables and plain style were chosen on (docs/agent.md)
        /usr/bin/python3 -c "import json, sys; json.dump(json.load(open(sys.argv[1]))[200:500], open(sys.argv[2], 'w'))" \
            "$SHARED/data/spider/dev.json" "$OUT/data/spider_dev_200_499.json"
        run spider-dev-200-499 "$OUT/data/spider_dev_200_499.json" --db-dir "$SHARED/data/spider/database" --no-server ;;
    suite) run suite bench/suite/tasks.jsonl --db-dir bench/suite/databases ;;
    kaggledbqa)   # every question on the KaggleDBQA databases present (fewshot and test: no model trains on them)
        [ -s "$OUT/data/kaggledbqa.json" ] || /usr/bin/python3 - "$SHARED/data/kaggledbqa" "$OUT/data/kaggledbqa.json" <<'PY'
import json, os, sys
src, out = sys.argv[1:]
rows = []
for db in sorted(os.listdir(f"{src}/databases")):
    if os.path.exists(f"{src}/databases/{db}/{db}.sqlite"):
        rows += json.load(open(f"{src}/examples/{db}.json"))
json.dump(rows, open(out, "w"))
PY
        run kaggledbqa "$OUT/data/kaggledbqa.json" --db-dir "$SHARED/data/kaggledbqa/databases" --no-server ;;
    *) echo "unknown set $set"; exit 2 ;;
    esac
done
