/*
** test_eval.c — the benchmark's judging rules on hand-made cases: result
** comparison (order, duplicates, NULLs, floats, type affinity, column
** order), ORDER BY detection, exact-match normalization, test-suite
** accuracy on schema-only tasks, and the task-file parser on malformed
** input.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/compare.h"
#include "eval/tasks.h"
#include "eval/testsuite.h"
#include "sql/sandbox.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

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

int main(void) {
    sa_err err;
    db = sb_open_context("CREATE TABLE t (a INTEGER, b TEXT, c REAL);"
                         "INSERT INTO t VALUES (1, 'x', 1.5), (2, 'y', NULL), (2, 'y', 2.25), (3, NULL, 0.1);", NULL, &err);
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

    sb_close(db);
    printf("%s\n", failures ? "FAILED" : "all eval checks passed");
    return failures ? 1 : 0;
}
