/*
** test_fixnames.c — mending misspelt names in a failed query
** (src/agent/fixnames.c), against SQLite's own error messages from the
** sandbox: the mended query must run, and names that are ambiguous or too
** far off must be left alone. Also the comparisons whose column does not
** hold the value compared (fix_value_columns) on a small filled database.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fixnames.h"
#include "sql/sandbox.h"
#include "sql/schema.h"

#include "check.h"

static sandbox *sb;
static sc_schema schema;

/* Runs sql; on an error, mends once and returns the mended text (or NULL). */
static char *mend(const char *sql, char *err_out, size_t cap) {
    sb_result r;
    sa_err e = {{0}};
    if (sb_run(sb, sql, &r, &e) == 0) { sb_result_free(&r); snprintf(err_out, cap, "ran"); return NULL; }
    sb_result_free(&r);
    snprintf(err_out, cap, "%s", e.msg);
    return fix_unknown_name(sql, e.msg, &schema);
}

static int runs_on(sandbox *x, const char *sql) {
    sb_result r;
    sa_err e = {{0}};
    int ok = sql && sb_run(x, sql, &r, &e) == 0;
    if (sql) sb_result_free(&r);
    return ok;
}

static int runs(const char *sql) {
    sb_result r;
    sa_err e = {{0}};
    int ok = sql && sb_run(sb, sql, &r, &e) == 0;
    if (sql) sb_result_free(&r);
    return ok;
}

/* fix_value_lookup over a sandbox, as the agent's: the first stored
** spelling of text in table.col, ignoring case; counts the lookups. */
static int lookups;
static int lookup(void *ctx, const char *table, const char *col, const char *text, char **stored) {
    char sql[512];
    lookups++;
    snprintf(sql, sizeof sql, "SELECT \"%s\" FROM \"%s\" WHERE \"%s\" = '%s' COLLATE NOCASE ORDER BY \"%s\" = '%s' DESC LIMIT 1",
             col, table, col, text, col, text);
    sb_result r;
    sa_err e = {{0}};
    int found = 0;
    if (sb_run(ctx, sql, &r, &e) == 0 && r.nrows == 1 && r.cells[0].type == SB_TEXT) {
        *stored = strdup(r.cells[0].bytes);
        found = 1;
    }
    sb_result_free(&r);
    return found;
}

/* fix_value_columns: "city = 'France'" where only country holds France. */
static void value_columns(void) {
    sa_err err = {{0}};
    sandbox *v = sb_open_context(
        "CREATE TABLE customers (id INTEGER, name TEXT, city TEXT, country TEXT, note TEXT, age INTEGER);"
        "INSERT INTO customers VALUES (1, 'Ann', 'Lyon', 'France', 'Paris trip', 30), (2, 'Bo', 'Paris', 'France', NULL, 41),"
        " (3, 'Cy', 'Berlin', 'Germany', 'x', 25);"
        "CREATE TABLE books (id INTEGER, title TEXT, genre TEXT, author_id INTEGER);"
        "INSERT INTO books VALUES (1, 'Beloved', 'Literary Fiction', 1), (2, 'Emma', 'Mystery', 2), (3, 'Persuasion', 'romance', 2),"
        " (4, 'Jazz', 'Romance', 1);"
        "CREATE TABLE authors (id INTEGER, name TEXT, country TEXT);"
        "INSERT INTO authors VALUES (1, 'Toni Morrison', 'USA'), (2, 'Jane Austen', 'England');", NULL, &err);
    sc_schema s = {0};
    if (!v || sc_introspect(v, 0, &s, &err)) { CHECK_FAIL("setup: %s", err.msg); return; }
    static const struct { const char *in, *want, *why; int n; } cases[] = {
        { "SELECT count(*) FROM customers WHERE city = 'France'",
          "SELECT count(*) FROM customers WHERE \"country\" = 'France'", "the one column holding the value", 1 },
        { "SELECT T1.name FROM customers AS T1 WHERE T1.city = 'germany'",
          "SELECT T1.name FROM customers AS T1 WHERE T1.\"country\" = 'Germany'", "qualified, and the stored case", 1 },
        { "SELECT title FROM books WHERE genre = 'mystery'",
          "SELECT title FROM books WHERE genre = 'Mystery'", "the same column in another case: the literal", 1 },
        { "SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.id WHERE T2.name = 'England'",
          "SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.id WHERE T2.\"country\" = 'England'",
          "an alias of a joined table", 1 },
        { "SELECT name FROM customers WHERE city = 'Paris'", NULL, "the column holds it: unchanged", 0 },
        { "SELECT title FROM books WHERE genre = 'romance'", NULL, "held as written and in another case: unchanged", 0 },
        { "SELECT title FROM books WHERE genre = 'Romance'", NULL, "the other spelling, also held: unchanged", 0 },
        { "SELECT name FROM customers WHERE city = 'Atlantis'", NULL, "no column holds it: unchanged", 0 },
        { "SELECT name FROM customers WHERE note = 'Lyon'", NULL, "only city holds Lyon, but note... no: city holds it once", -1 },
        { "SELECT name FROM customers WHERE name = 'city = ''France'''", NULL, "text inside a literal is not a comparison", 0 },
        { "SELECT title FROM books WHERE 'Emma' = title", NULL, "literal first: left alone", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = -7;
        char *got = fix_value_columns(cases[i].in, &s, lookup, v, &n);
        if (cases[i].n < 0) {   /* note = 'Lyon': city holds Lyon, the one other text column that does */
            CHECK(got && strstr(got, "\"city\" = 'Lyon'") && n == 1, "%s: %s", cases[i].in, got ? got : "(null)");
        } else if (!cases[i].want) {
            CHECK(!got && n == 0, "%s (%s): got %s", cases[i].in, cases[i].why, got ? got : "(null)");
        } else {
            CHECK(got && !strcmp(got, cases[i].want) && n == cases[i].n, "%s (%s): got %s, n %d", cases[i].in, cases[i].why,
                  got ? got : "(null)", n);
            CHECK(got && runs_on(v, got), "mended query runs: %s", got ? got : "(null)");
        }
        free(got);
    }
    /* ambiguous: 'France' in two other columns -> left alone */
    sandbox *w = sb_open_context("CREATE TABLE t (a TEXT, b TEXT, c TEXT); INSERT INTO t VALUES ('x', 'France', 'France');", NULL, &err);
    sc_schema s2 = {0};
    if (w && !sc_introspect(w, 0, &s2, &err)) {
        int n = -7;
        char *got = fix_value_columns("SELECT count(*) FROM t WHERE a = 'France'", &s2, lookup, w, &n);
        CHECK(!got && n == 0, "two other columns hold it: no guess, got %s", got ? got : "(null)");
        free(got);
        /* numbers are not looked up: only string literals */
        lookups = 0;
        got = fix_value_columns("SELECT count(*) FROM t WHERE a = 3", &s2, lookup, w, &n);
        CHECK(!got && lookups == 0, "a number literal is not looked up (%d lookups)", lookups);
        free(got);
    } else CHECK_FAIL("setup 2: %s", err.msg);
    sc_free(&s2);
    sb_close(w);
    sc_free(&s);
    sb_close(v);
}

/* fix_date_probe over a sandbox: a text value shaped YYYY-MM in table.col. */
static int dates(void *ctx, const char *table, const char *col) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT 1 FROM \"%s\" WHERE typeof(\"%s\") = 'text' AND \"%s\" GLOB '[12][0-9][0-9][0-9]-[01][0-9]*' LIMIT 1",
             table, col, col);
    sb_result r;
    sa_err e = {{0}};
    int found = sb_run(ctx, sql, &r, &e) == 0 && r.nrows == 1;
    sb_result_free(&r);
    return found;
}

/* The single integer a query returns, or -1. */
static long long count_of(sandbox *x, const char *sql) {
    sb_result r;
    sa_err e = {{0}};
    long long v = -1;
    if (sql && sb_run(x, sql, &r, &e) == 0 && r.nrows == 1 && r.cells[0].type == SB_INTEGER) v = r.cells[0].i;
    if (sql) sb_result_free(&r);
    return v;
}

/* fix_year_dates: a year compared with a date column. */
static void year_dates(void) {
    sa_err err = {{0}};
    sandbox *v = sb_open_context(
        "CREATE TABLE staff (id INTEGER, email TEXT, hire_date TEXT, born INTEGER, left_on DATE);"
        "INSERT INTO staff VALUES (1, 'a@x', '2019-03-01', 1980, NULL), (2, 'b@x', '2020-12-31', 1990, '2022-01-05'),"
        " (3, 'c@x', '2021-01-02', 1975, NULL), (4, 'd@x', '2023-07-15 09:30', 2001, NULL);", NULL, &err);
    sc_schema s = {0};
    if (!v || sc_introspect(v, 0, &s, &err)) { CHECK_FAIL("setup: %s", err.msg); return; }
    static const struct { const char *in, *want, *why; int n; long long count; } cases[] = {
        { "SELECT count(*) FROM staff WHERE hire_date > 2020", "SELECT count(*) FROM staff WHERE strftime('%Y', hire_date) > '2020'",
          "a bare year against dates (as text, 2020-12-31 > 2020)", 1, 2 },
        { "SELECT count(*) FROM staff AS T1 WHERE T1.hire_date >= '2020'",
          "SELECT count(*) FROM staff AS T1 WHERE strftime('%Y', T1.hire_date) >= '2020'", "qualified, quoted, two-character operator", 1, 3 },
        { "SELECT count(*) FROM staff WHERE hire_date = 2023 AND born < 1985",
          "SELECT count(*) FROM staff WHERE strftime('%Y', hire_date) = '2023' AND born < 1985", "a year column is left alone", 1, 0 },
        { "SELECT count(*) FROM staff WHERE strftime('%Y', email) = '2019'",
          "SELECT count(*) FROM staff WHERE strftime('%Y', \"hire_date\") = '2019'", "strftime over no dates: the first date column", 1, 1 },
        { "SELECT count(*) FROM staff WHERE strftime('%Y', hire_date) = 2021",
          "SELECT count(*) FROM staff WHERE strftime('%Y', hire_date) = '2021'", "a bare year against strftime's text", 1, 1 },
        { "SELECT count(*) FROM staff WHERE strftime('%Y', hire_date) = '2021'", NULL, "already right: unchanged", 0, 1 },
        { "SELECT count(*) FROM staff WHERE born > 1979", NULL, "an integer column: unchanged", 0, 3 },
        { "SELECT count(*) FROM staff WHERE hire_date > '2020-06-01'", NULL, "a whole date: unchanged", 0, 3 },
        { "SELECT count(*) FROM staff WHERE hire_date > 20200", NULL, "not a year: unchanged", 0, 2 },
        { "SELECT count(*) FROM staff WHERE email = 'hire_date > 2020'", NULL, "inside a literal: unchanged", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = -7;
        char *got = fix_year_dates(cases[i].in, &s, dates, v, &n);
        if (!cases[i].want) {
            CHECK(!got && n == 0, "%s (%s): got %s", cases[i].in, cases[i].why, got ? got : "(null)");
        } else {
            CHECK(got && !strcmp(got, cases[i].want) && n == cases[i].n, "%s (%s): got %s, n %d", cases[i].in, cases[i].why,
                  got ? got : "(null)", n);
        }
        long long c = count_of(v, got ? got : cases[i].in);
        CHECK(c == cases[i].count, "%s: %lld rows counted, want %lld", got ? got : cases[i].in, c, cases[i].count);
        free(got);
    }
    sc_free(&s);
    sb_close(v);
}

int main(void) {
    sa_err err = {{0}};
    sb = sb_open_context("CREATE TABLE table_10975034_2 (position VARCHAR, player VARCHAR);"
                         "CREATE TABLE customers (customer_id INTEGER, last_name VARCHAR, country VARCHAR);"
                         "CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, status VARCHAR);"
                         "CREATE TABLE cat (a INTEGER); CREATE TABLE car (b INTEGER)", NULL, &err);
    if (!sb || sc_introspect(sb, 0, &schema, &err)) { printf("setup: %s\n", err.msg); return 1; }
    char e[1100];
    char *f;

    f = mend("SELECT position FROM table_10945034_2 WHERE player = 'x'", e, sizeof e);
    CHECK(f && !strcmp(f, "SELECT position FROM table_10975034_2 WHERE player = 'x'") && runs(f),
          "copied digits: %s -> %s", e, f ? f : "(null)");
    free(f);
    f = mend("SELECT COUNT(*) FROM Customer WHERE country = 'Customer'", e, sizeof e);
    CHECK(f && !strcmp(f, "SELECT COUNT(*) FROM customers WHERE country = 'Customer'") && runs(f),
          "table name, literal untouched: %s -> %s", e, f ? f : "(null)");
    free(f);
    f = mend("SELECT T1.lastname FROM customers AS T1", e, sizeof e);
    CHECK(f && !strcmp(f, "SELECT T1.last_name FROM customers AS T1") && runs(f), "qualified column: %s -> %s", e,
          f ? f : "(null)");
    free(f);
    f = mend("SELECT statuss FROM orders", e, sizeof e);
    CHECK(f && !strcmp(f, "SELECT status FROM orders") && runs(f), "column: %s -> %s", e, f ? f : "(null)");
    free(f);
    f = mend("SELECT a FROM cax", e, sizeof e);
    CHECK(!f, "two tables equally close (cat, car): no guess, got %s", f ? f : "(null)");
    free(f);
    f = mend("SELECT nationality FROM orders", e, sizeof e);
    CHECK(!f, "no close name: no guess, got %s", f ? f : "(null)");
    free(f);
    f = mend("SELECT status FROM orders WHERE", e, sizeof e);
    CHECK(!f, "a syntax error is not a name: got %s", f ? f : "(null)");
    free(f);
    CHECK(fix_edit_distance("Kitten", "sitting") == 3 && fix_edit_distance("", "abc") == 3 &&
              fix_edit_distance("ABC", "abc") == 0, "edit distance");

    sc_free(&schema);
    sb_close(sb);
    value_columns();
    year_dates();
    return check_done();
}
