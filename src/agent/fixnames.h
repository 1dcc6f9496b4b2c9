/*
** fixnames.h — mends a misspelt table or column name in a failed query
** before the model is asked again, and a column compared with a value it
** does not hold.
**
** Small models copy long identifiers badly ("table_10975034_2" comes out as
** "table_10945034_2", "Customer" for "customers"). When SQLite answers "no
** such table: X" or "no such column: X" and exactly one name of the schema is
** closest to X and close enough (case-insensitive edit distance at most a
** quarter of X's length, at least 1), the name is swapped in — every
** occurrence of X as a whole identifier outside string literals — and the
** query is run again. A name that fits no better than another, or fits
** nothing, is left to the model's next attempt.
*/
#ifndef SA_FIXNAMES_H
#define SA_FIXNAMES_H

#include "../sql/schema.h"

/* A malloc'd copy of sql with the unknown name of error replaced, or NULL
** when error names no unknown table/column or no name is close enough. */
char *fix_unknown_name(const char *sql, const char *error, const sc_schema *s);

/* Looks text up in table.col ignoring case: 1 and *stored (malloc'd) = text
** itself when a row holds it as written, else the first stored spelling
** that equals it ignoring case; 0 when none does (or the lookup failed). */
typedef int (*fix_value_lookup)(void *ctx, const char *table, const char *col, const char *text, char **stored);

/* Mends the comparisons `col = 'text'` (col bare or qualified by a table or
** alias of the query) whose text the column does not hold as written:
**   - the column holds it in another case ('mystery' for 'Mystery'): the
**     literal takes the stored spelling (SQLite's = is case-sensitive);
**   - else exactly one other column of the same table holds it (ignoring
**     case; at most FIX_VALUE_MAX_COLS text columns are looked at): that
**     column replaces col, qualifier kept ("city = 'France'" becomes
**     "country = 'France'" when only customers.country holds France).
** A text no column holds, or several do, is left alone. Returns a malloc'd
** mended copy and the number of comparisons mended in *n, or NULL when
** nothing changed. */
#define FIX_VALUE_MAX_COLS 16
char *fix_value_columns(const char *sql, const sc_schema *s, fix_value_lookup lookup, void *ctx, int *n);

/* Does table.col hold dates written as text ('2023-05-14', '2023-05-14
** 10:00')? */
typedef int (*fix_date_probe)(void *ctx, const char *table, const char *col);

/* Mends a year compared with a date column, which SQLite compares as text
** against a number ('2023-05-14' > 2020 is true for every date):
**   - [q .] col op Y, with Y a year (1000-2999, bare or quoted) and op one of
**     = == != <> < > <= >=, where col holds dates: strftime('%Y', [q .] col)
**     op 'Y' ("hired after 2020": hire_date > 2020);
**   - strftime('%Y', [q .] col) op Y: a bare Y is quoted (strftime gives
**     text, never equal to a number), and a col holding no dates is
**     replaced by the first text column of its table that does
**     (strftime('%Y', email) for "signed up in 2022"): over a column of no
**     dates the comparison is never true, and a table's first date is
**     usually its own (order_date before shipped_date).
** Returns a malloc'd mended copy and the number of comparisons mended in
** *n, or NULL when nothing changed. */
char *fix_year_dates(const char *sql, const sc_schema *s, fix_date_probe holds_dates, void *ctx, int *n);

/* Case-insensitive Levenshtein distance (exposed for tests). */
int fix_edit_distance(const char *a, const char *b);

#endif
