/*
** compare.h — deciding whether a predicted query is right: result sets
** compared the way Spider's and sql-eval's harnesses do (rules in
** docs/bench.md), and a normalized exact match of the SQL text.
*/
#ifndef SA_COMPARE_H
#define SA_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "sql/sandbox.h"

/* True when the two results hold the same rows: as multisets, or as
** sequences when order_matters; columns may be permuted (up to 6 columns;
** wider results must keep column order). Values: NULL only equals NULL;
** integers and reals compare as numbers within 1e-6 relative; text that is
** entirely a number compares as that number; other text byte for byte;
** blobs byte for byte. why (optional) receives the first reason on a miss. */
bool ev_results_match(const sb_result *gold, const sb_result *pred, bool order_matters, char *why, size_t why_cap);

/* True when sql has an ORDER BY at its top level (not inside parentheses). */
bool ev_has_top_level_order_by(const char *sql);

/* The SQL normalized for exact match: keywords and identifiers lower-cased
** and unquoted, string literals kept, whitespace collapsed to one space
** between tokens, a trailing ';' dropped. malloc'd. */
char *ev_normalize_sql(const char *sql);

/* Literals of a query: string literals (without quotes; "double-quoted"
** words too, which SQLite reads as strings when they name no column) and numbers, for
** seeding test-suite databases. Fills up to cap pointers (malloc'd strings,
** numbers prefixed with '#'), returns the count. */
int ev_sql_literals(const char *sql, char **out, int cap);

#endif
