/*
** test_eval.c — the benchmark's judging rules on hand-made cases: result
** comparison (order, duplicates, NULLs, floats, type affinity, column
** order), ORDER BY detection, exact-match normalization, test-suite
** accuracy on schema-only tasks, the task-file parser on malformed
** input, grading one task (eval/grade.h) and the written outputs
** (eval/report.h) — all without a model.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/compare.h"
#include "eval/grade.h"
#include "eval/report.h"
#include "eval/tasks.h"
#include "eval/testsuite.h"
#include "sql/sandbox.h"

#include "check.h"

static sandbox *db;

/* Runs both queries on the test database and compares. */
static bool same(const char *gold, const char *pred) {
    sb_result g, p;
    sa_err e;
    if (sb_run(db, gold, &g, &e)) { printf("gold failed: %s\n", e.msg); exit(1); }
    if (sb_run(db, pred, &p, &e)) { printf("pred failed: %s\n", e.msg); exit(1); }
    char why[256];
    bool r = ev_results_match(&g, &p, ev_has_top_level_order_by(gold), why, sizeof why);
    sb_result_free(&g);
    sb_result_free(&p);
    return r;
}

/* Grades pred as the agent would have left it: run on sb (NULL: nothing written). */
static void grade(const ev_task *t, sandbox *sb, const char *pred, ev_grade *g) {
    sb_result p = {0};
    sa_err e;
    bool ran = pred && sb_run(sb, pred, &p, &e) == 0;
    ev_grade_task(t, sb, pred ? pred : "", ran, &p, g);
    sb_result_free(&p);
}

/* The keys of a JSON object, in order, joined by ','. */
static void keys_of(json_t *o, char *buf, size_t cap) {
    const char *k;
    json_t *v;
    buf[0] = 0;
    json_object_foreach(o, k, v) {
        (void)v;
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", n ? "," : "", k);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static const char *CTX = "CREATE TABLE t (a INTEGER, b TEXT, c REAL);"
                         "INSERT INTO t VALUES (1, 'x', 1.5), (2, 'y', NULL), (2, 'y', 2.25), (3, NULL, 0.1);";

/* ev_grade_task on a context with rows (execution), an empty schema
** (test-suite), a failing gold query, a prediction that never ran. */
static void test_grade(void) {
    ev_task t = { .line = 1, .question = "which a?", .context = (char *)CTX, .gold = "SELECT a FROM t WHERE a > 1" };
    ev_grade g;
    grade(&t, db, "SELECT a FROM t WHERE a >= 2 ORDER BY a DESC", &g);
    CHECK(g.graded && !g.test_suite && g.match && !g.exact && !g.gold_failed, "another row order matches a gold query without ORDER BY");
    grade(&t, db, "select A from T where a>1;", &g);
    CHECK(g.match && g.exact, "normalized exact match");
    grade(&t, db, "SELECT a FROM t WHERE a > 2", &g);
    CHECK(g.graded && !g.match && !g.gold_failed && g.why[0], "different rows do not match (%s)", g.why);
    grade(&t, db, "SELECT a, b FROM t WHERE a > 1", &g);
    CHECK(!g.match && strstr(g.why, "columns"), "a different column count is the reason (%s)", g.why);
    t.gold = "SELECT a FROM t ORDER BY a";
    grade(&t, db, "SELECT a FROM t ORDER BY a DESC", &g);
    CHECK(!g.match && strstr(g.why, "order"), "an ordered gold query needs the order (%s)", g.why);
    t.gold = "SELECT nope FROM t";
    grade(&t, db, "SELECT a FROM t", &g);
    CHECK(g.graded && !g.match && g.gold_failed && !strncmp(g.why, "gold query fails: ", 18) && strstr(g.why, "nope"),
          "a failing gold query is reported as such (%s)", g.why);
    t.gold = "SELECT a FROM t";
    grade(&t, db, "SELECT nope FROM t", &g);
    CHECK(g.graded && !g.match && !g.gold_failed && !strcmp(g.why, "no attempt ran"), "a prediction that did not run (%s)", g.why);
    grade(&t, db, NULL, &g);
    CHECK(!g.match && !g.exact && !strcmp(g.why, "no attempt ran"), "no prediction at all");
    t.gold = NULL;
    grade(&t, db, "SELECT a FROM t", &g);
    CHECK(!g.graded && !g.match, "a task without gold SQL is not graded");

    /* schema-only: test-suite accuracy; the sandbox is the empty schema */
    sa_err err;
    ev_task s = { .line = 2, .question = "how many heads are older than 56?", .context = "CREATE TABLE head (age INTEGER, name VARCHAR)",
                  .gold = "SELECT COUNT(*) FROM head WHERE age > 56" };
    sandbox *empty = sb_open_context(s.context, NULL, &err);
    grade(&s, empty, "SELECT count(*) FROM head WHERE 56 < age", &g);
    CHECK(g.graded && g.test_suite && g.match && !g.exact, "schema-only: equivalent query matches on every random database (%s)", g.why);
    grade(&s, empty, "SELECT count(*) FROM head WHERE age >= 56", &g);
    CHECK(g.test_suite && !g.match && !g.gold_failed && strstr(g.why, "random database"), "schema-only: a different query (%s)", g.why);
    ev_grade g2;
    grade(&s, empty, "SELECT count(*) FROM head WHERE age >= 56", &g2);
    CHECK(!strcmp(g.why, g2.why), "the random databases are seeded from the question: the same verdict twice");
    s.gold = "SELECT nope FROM head";
    grade(&s, empty, "SELECT 1", &g);
    CHECK(g.test_suite && !g.match && g.gold_failed && g.why[0], "schema-only: a broken gold query is reported (%s)", g.why);
    sb_close(empty);
}

/* A task's databases, by db_id, opened once. */
static void test_dbs(void) {
    char path[256];
    ev_task_db_path(NULL, "x", path, sizeof path);
    CHECK(!strcmp(path, "./x/x.sqlite"), "db path %s", path);
    ev_dbs dbs = { .dir = "bench/suite/databases" };
    sa_err err = {{0}};
    const ev_db *a = ev_dbs_get(&dbs, "concert_singer", &err);
    CHECK(a && a->sb && a->schema.ntables > 0, "a suite database opens: %s", err.msg);
    CHECK(ev_dbs_get(&dbs, "concert_singer", &err) == a, "the same database is opened once");
    CHECK(!ev_dbs_get(&dbs, "no_such_db", &err) && strstr(err.msg, "no_such_db"), "a missing database is named: %s", err.msg);
    CHECK(!ev_dbs_get(&dbs, "no_such_db", &err), "and stays missing");
    ev_dbs_free(&dbs);
}

/* results.jsonl lines, the totals, summary.json and report.md. */
static void test_report(const char *dir) {
    ev_task t = { .line = 3, .question = "q", .db_id = "d", .gold = "SELECT 1" };
    ev_outcome skipped = { .error = "no database" };
    ev_outcome ans = { .answered = true, .sql = "SELECT 2", .ran = true, .attempts = 2, .prefill_ms = 1, .decode_ms = 2,
                       .execute_ms = 3, .total_ms = 10, .tokens_in = 100, .tokens_out = 20 };
    ans.grade = (ev_grade){ .graded = true, .match = false, .why = "rows differ" };
    FILE *f = tmpfile();
    ev_write_result_line(f, &t, &skipped);
    ev_write_result_line(f, &t, &ans);
    rewind(f);
    char line[4096], keys[512];
    json_error_t je;
    json_t *o = fgets(line, sizeof line, f) ? json_loads(line, 0, &je) : NULL;
    keys_of(o, keys, sizeof keys);
    CHECK(!strcmp(keys, "line,question,db_id,error"), "skipped task's keys: %s", keys);
    json_decref(o);
    o = fgets(line, sizeof line, f) ? json_loads(line, 0, &je) : NULL;
    keys_of(o, keys, sizeof keys);
    CHECK(!strcmp(keys, "line,question,db_id,sql,ran,attempts,latency_ms,tokens_in,tokens_out,gold,exact_match,metric,execution_match,mismatch"),
          "answered task's keys: %s", keys);
    CHECK(!strcmp(json_string_value(json_object_get(o, "metric")), "execution") &&
          !strcmp(json_string_value(json_object_get(o, "mismatch")), "rows differ"), "metric and mismatch");
    json_decref(o);
    fclose(f);

    ev_tally tl;
    CHECK(ev_tally_init(&tl, 4) == 0, "tally");
    ev_outcome ok = ans;
    ok.grade = (ev_grade){ .graded = true, .match = true, .exact = true };
    ev_outcome ts = ans;
    ts.total_ms = 30;
    ts.grade = (ev_grade){ .graded = true, .test_suite = true, .match = true };
    ev_tally_add(&tl, &skipped);
    ev_tally_add(&tl, &ans);
    ev_tally_add(&tl, &ok);
    ev_tally_add(&tl, &ts);
    CHECK(tl.tasks == 4 && tl.with_gold == 3 && tl.exec_match == 2 && tl.exact == 1 && tl.valid == 3 && tl.ts_tasks == 1 &&
          tl.ts_match == 1 && tl.db_tasks == 2 && tl.db_match == 1 && tl.tokens_in == 300 && tl.latency_ms[0] == 0 && tl.latency_ms[3] == 30,
          "totals");
    ev_load ld;
    ev_load_none(&ld);
    ev_summary sum = { .tally = &tl, .malformed_lines = 1, .load = &ld, .concurrency = 4, .requests = 16, .model = "m.gguf", .task_file = "t.jsonl" };
    sa_err err = {{0}};
    CHECK(ev_write_outputs(dir, &sum, NULL, &err) == 0, "outputs: %s", err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_t *s = json_load_file(path, 0, &je);
    CHECK(s && json_integer_value(json_object_get(s, "tasks")) == 4 && json_integer_value(json_object_get(s, "tasks_with_gold")) == 3 &&
          json_real_value(json_object_get(s, "test_suite_accuracy")) == 1.0 && json_real_value(json_object_get(s, "database_execution_accuracy")) == 0.5 &&
          json_is_null(json_object_get(s, "throughput_rps")) && json_is_null(json_object_get(s, "cold_start_ms")) &&
          json_real_value(json_object_get(json_object_get(s, "latency_ms"), "mean")) == 12.5, "summary.json");
    json_decref(s);
    snprintf(path, sizeof path, "%s/report.md", dir);
    const char *md = slurp(path);
    CHECK(md && strstr(md, "(4 tasks, 3 with gold SQL, 1 malformed lines skipped)") && strstr(md, "| execution accuracy | 66.7% |") &&
          strstr(md, "50.0% of 2") && !strstr(md, "throughput at") && !strstr(md, "cold start"), "report.md:\n%s", md ? md : "(none)");
    snprintf(path, sizeof path, "%s/chart.svg", dir);
    md = slurp(path);
    CHECK(md && strstr(md, "not measured"), "chart.svg without throughput");
    ld.n_conc = 2;
    ld.conc[0] = 1, ld.conc[1] = 4, ld.rps[0] = 0.5, ld.rps[1] = 1.25;
    ld.health_ms = 100;
    s = ev_summary_json(&sum);
    CHECK(json_real_value(json_object_get(s, "throughput_rps")) == 1.25 && json_object_size(json_object_get(s, "throughput_by_concurrency")) == 2,
          "throughput at the reported concurrency");
    json_decref(s);
    CHECK(ev_write_outputs("/nonexistent/dir", &sum, NULL, &err) != 0 && strstr(err.msg, "summary.json"), "an unwritable summary.json is an error");
    ev_tally_free(&tl);
}

int main(void) {
    sa_err err;
    db = sb_open_context(CTX, NULL, &err);
    if (!db) { printf("context: %s\n", err.msg); return 1; }

    /* order: ignored unless the gold query orders */
    CHECK(same("SELECT a FROM t", "SELECT a FROM t ORDER BY a DESC"), "unordered gold accepts any order");
    CHECK(!same("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a DESC"), "ordered gold requires the order");
    CHECK(same("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a, b"), "same order by other means");
    CHECK(same("SELECT a FROM (SELECT a FROM t ORDER BY a DESC)", "SELECT a FROM t"), "ORDER BY inside a subquery does not count");
    /* duplicates are a multiset */
    CHECK(!same("SELECT a FROM t", "SELECT DISTINCT a FROM t"), "duplicates matter");
    CHECK(!same("SELECT b FROM t WHERE a = 2", "SELECT b FROM t WHERE a = 2 LIMIT 1"), "row count matters");
    /* NULLs */
    CHECK(same("SELECT b FROM t", "SELECT b FROM t"), "NULL equals NULL");
    CHECK(!same("SELECT b FROM t", "SELECT coalesce(b, '') FROM t"), "NULL differs from ''");
    CHECK(!same("SELECT c FROM t WHERE a = 2", "SELECT coalesce(c, 0) FROM t WHERE a = 2"), "NULL differs from 0");
    /* numbers: integer vs real, float noise, numeric text */
    CHECK(same("SELECT 1", "SELECT 1.0"), "1 = 1.0");
    CHECK(same("SELECT 0.1 + 0.2", "SELECT 0.3"), "float noise within 1e-6");
    CHECK(!same("SELECT 0.3", "SELECT 0.31"), "different reals");
    CHECK(same("SELECT 42", "SELECT '42'"), "numeric text equals the number (type affinity)");
    CHECK(!same("SELECT 'abc'", "SELECT 'ABC'"), "text is case-sensitive");
    CHECK(same("SELECT avg(a) FROM t", "SELECT sum(a) * 1.0 / count(a) FROM t"), "equivalent aggregates");
    /* columns may be permuted, count must match */
    CHECK(same("SELECT a, b FROM t", "SELECT b, a FROM t"), "column order is free");
    CHECK(!same("SELECT a, b FROM t", "SELECT a FROM t"), "column count matters");
    CHECK(!same("SELECT a, b FROM t", "SELECT a, a FROM t"), "permutation must actually match");

    /* ORDER BY detection and normalization */
    CHECK(ev_has_top_level_order_by("select x from t order by x"), "order by");
    CHECK(!ev_has_top_level_order_by("select x from (select x from t order by x)"), "nested order by");
    CHECK(!ev_has_top_level_order_by("select 'order by' from t"), "order by in a literal");
    char *n1 = ev_normalize_sql("SELECT  COUNT(*) FROM \"Head\" WHERE age > 56;");
    char *n2 = ev_normalize_sql("select count ( * ) from head where AGE>56");
    CHECK(n1 && n2 && !strcmp(n1, n2), "normalized: [%s] vs [%s]", n1, n2);
    char *n3 = ev_normalize_sql("SELECT name FROM t WHERE name = 'Bob'");
    char *n4 = ev_normalize_sql("SELECT name FROM t WHERE name = 'bob'");
    CHECK(n3 && n4 && strcmp(n3, n4), "string literals keep their case");
    free(n1); free(n2); free(n3); free(n4);

    /* test-suite accuracy on an empty schema */
    const char *ctx = "CREATE TABLE head (age INTEGER, name VARCHAR)";
    char why[512];
    int r = ev_test_suite_match(ctx, "SELECT COUNT(*) FROM head WHERE age > 56", "SELECT count(*) FROM head WHERE 56 < age", 5, 1, why, sizeof why, &err);
    CHECK(r == 1, "equivalent queries match on every random database (%d: %s %s)", r, why, err.msg);
    r = ev_test_suite_match(ctx, "SELECT COUNT(*) FROM head WHERE age > 56", "SELECT count(*) FROM head WHERE age >= 56", 5, 1, why, sizeof why, &err);
    CHECK(r == 0, "> vs >= told apart by the literal's neighbours (%d)", r);
    r = ev_test_suite_match(ctx, "SELECT name FROM head WHERE name = 'Bob'", "SELECT name FROM head", 5, 2, why, sizeof why, &err);
    CHECK(r == 0, "a missing filter is caught (%d)", r);
    r = ev_test_suite_match(ctx, "SELECT name FROM head WHERE name = 'Bob'", "SELECT nme FROM head", 5, 2, why, sizeof why, &err);
    CHECK(r == 0 && strstr(why, "fails"), "a failing prediction is a mismatch (%d: %s)", r, why);
    /* sql-create-context writes values in double quotes: a wrong value must not match */
    const char *ctx2 = "CREATE TABLE table_1 (school VARCHAR, player VARCHAR)";
    for (uint64_t seed = 1; seed <= 20; seed++) {
        r = ev_test_suite_match(ctx2, "SELECT school FROM table_1 WHERE player = \"Dwight Howard\"",
                                "SELECT school FROM table_1 WHERE player = \"Kondard\"", 5, seed, why, sizeof why, &err);
        CHECK(r == 0, "double-quoted value: a wrong value matched (seed %llu)", (unsigned long long)seed);
        r = ev_test_suite_match(ctx2, "SELECT COUNT(school) FROM table_1 WHERE player = \"Dwight Howard\"",
                                "SELECT COUNT(school) FROM table_1 WHERE player = \"Jalen Rose\"", 5, seed, why, sizeof why, &err);
        CHECK(r == 0, "COUNT with a wrong value matched (seed %llu)", (unsigned long long)seed);
        r = ev_test_suite_match(ctx2, "SELECT school FROM table_1 WHERE player = \"Dwight Howard\"",
                                "SELECT school FROM table_1 WHERE player = 'Dwight Howard'", 5, seed, why, sizeof why, &err);
        CHECK(r == 1, "the same value in single quotes: %s (seed %llu)", why, (unsigned long long)seed);
    }
    r = ev_test_suite_match(ctx, "SELECT nope FROM head", "SELECT 1", 5, 2, why, sizeof why, &err);
    CHECK(r == -1, "a broken gold query is reported, not counted (%d)", r);

    /* task files: JSONL with malformed lines, a JSON array, an empty file */
    const char *dir = getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[512];
    snprintf(path, sizeof path, "%s/eval-tasks.jsonl", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"question\": \"q1\", \"context\": \"CREATE TABLE t (a INT)\", \"answer\": \"SELECT a FROM t\"}\n");
    fprintf(f, "{\"question\": 5, \"context\": \"x\"}\n");
    fprintf(f, "not json at all\n\n");
    fprintf(f, "{\"question\": \"q2\", \"db_id\": \"../etc\", \"query\": \"SELECT 1\"}\n");
    fprintf(f, "{\"question\": \"q3\", \"db_id\": \"concert_singer\", \"query\": \"SELECT 1\", \"extra\": [1,2]}\n");
    fprintf(f, "{\"question\": \"q4\"}\n");
    fclose(f);
    ev_tasks ts;
    FILE *warn = tmpfile();
    CHECK(ev_tasks_load(path, &ts, warn, &err) == 0, "load: %s", err.msg);
    CHECK(ts.n == 2 && ts.n_bad == 4, "2 tasks, 4 malformed (got %d, %d)", ts.n, ts.n_bad);
    if (ts.n == 2) {
        CHECK(ts.t[0].line == 1 && ts.t[1].line == 6 && ts.t[1].db_id && !strcmp(ts.t[1].gold, "SELECT 1"), "fields and line numbers");
        CHECK(ev_task_schema_only(&ts.t[0]), "schema-only detection");
    }
    rewind(warn);
    char wbuf[2048] = "";
    size_t wn = fread(wbuf, 1, sizeof wbuf - 1, warn);
    wbuf[wn] = 0;
    CHECK(strstr(wbuf, ":2: ") && strstr(wbuf, ":3: ") && strstr(wbuf, ":5: ") && strstr(wbuf, ":7: "), "line numbers reported:\n%s", wbuf);
    fclose(warn);
    ev_tasks_free(&ts);
    snprintf(path, sizeof path, "%s/eval-tasks.json", dir);
    f = fopen(path, "w");
    fprintf(f, "[{\"db_id\": \"a\", \"query\": \"SELECT 1\", \"question\": \"q\"}, 7]");
    fclose(f);
    CHECK(ev_tasks_load(path, &ts, NULL, &err) == 0 && ts.n == 1 && ts.n_bad == 1, "JSON array");
    ev_tasks_free(&ts);
    snprintf(path, sizeof path, "%s/eval-empty.jsonl", dir);
    f = fopen(path, "w");
    fclose(f);
    CHECK(ev_tasks_load(path, &ts, NULL, &err) != 0 && strstr(err.msg, "no valid task"), "empty file is an error");
    ev_tasks_free(&ts);
    CHECK(ev_tasks_load("/nonexistent/x.jsonl", &ts, NULL, &err) != 0 && strstr(err.msg, "x.jsonl"), "missing file named");

    test_grade();
    test_dbs();
    test_report(dir);

    sb_close(db);
    return check_done();
}
