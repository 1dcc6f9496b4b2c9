/*
** test_fixnames.c — mending misspelt names in a failed query
** (src/agent/fixnames.c), against SQLite's own error messages from the
** sandbox: the mended query must run, and names that are ambiguous or too
** far off must be left alone.
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

static int runs(const char *sql) {
    sb_result r;
    sa_err e = {{0}};
    int ok = sql && sb_run(sb, sql, &r, &e) == 0;
    if (sql) sb_result_free(&r);
    return ok;
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
    return check_done();
}
