/*
** test_error_hint.c — agent_error_hint: SQLite's messages as the repair
** prompt shows them. A small model copies what it sees into its next query
** ("SUM(T1.In offset ))"), so offsets, statement numbers and the "SQL
** error:" prefix must be gone while the substance stays, with a hint.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

#include "check.h"

static void expect(const char *error, const char *want) {
    char *h = agent_error_hint(error);
    CHECK(h && !strcmp(h, want), "hint of [%s]: [%s], want [%s]", error, h ? h : "(null)", want);
    CHECK(h && !strstr(h, "offset"), "offset left in [%s]", h ? h : "");
    free(h);
}

int main(void) {
    expect("SQL error: no such column: T1.In (at offset 12)",
           "no such column: T1.In Use only columns of the tables in the FROM clause.");
    expect("SQL error: no such table: clients (at offset 17)", "no such table: clients Use only tables of the schema.");
    expect("SQL error: near \"FROM\": syntax error (at offset 30)",
           "near \"FROM\": syntax error Write one complete SELECT statement.");
    expect("SQL error: ambiguous column name: id", "ambiguous column name: id Qualify the column with its table.");
    expect("SQL error: misuse of aggregate: count()",
           "misuse of aggregate: count() Move the aggregate to HAVING or the SELECT list.");
    expect("stopped: wall-time limit of 5000 ms exceeded", "stopped: wall-time limit of 5000 ms exceeded");
    expect("", "");
    return check_done();
}
