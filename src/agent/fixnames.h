/*
** fixnames.h — mends a misspelt table or column name in a failed query
** before the model is asked again.
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

/* Case-insensitive Levenshtein distance (exposed for tests). */
int fix_edit_distance(const char *a, const char *b);

#endif
